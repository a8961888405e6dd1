"""Run the jobs of a GitLab CI file locally, as a shell-executor runner would, against the sandbox.

Enough of GitLab's semantics for hatch-sigstore's own pipeline (templates/release.yml and
example-project/.gitlab-ci.yml), and no more: component inputs (``$[[ inputs.X ]]``, defaults
or given), ``rules: if`` with ``$VAR`` and ``$A == $B``, job and rule ``variables`` (expanded
like GitLab, ``$VAR`` and ``${VAR}``), ``id_tokens`` (minted by the local Sigstore with the
job's audience), ``needs`` with dotenv reports, and ``script`` run by bash with ``set -eo
pipefail`` in one shared project folder (where a real runner would hand artifacts over).
Anything else in a job makes it refuse to run rather than pretend.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPONENT = ROOT / "templates" / "release.yml"
EXAMPLE_CI = ROOT / "example-project" / ".gitlab-ci.yml"

_INPUT = re.compile(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
# Keys of a job this runner understands (the rest are for GitLab's scheduler or are refused).
_UNDERSTOOD = {
    "stage", "image", "rules", "id_tokens", "variables", "script", "artifacts", "needs", "cache",
}  # fmt: skip
_TOP_LEVEL = {"stages", "include", "workflow", "default", "variables", "spec"}


def component_parts(text: str) -> tuple[dict[str, Any], str]:
    """The ``spec`` header and the body text of a component file."""
    header, separator, body = text.partition("\n---\n")
    assert separator, "a component has a spec header, then ---"
    spec = yaml.safe_load(header)
    assert isinstance(spec, dict)
    return spec, body


def interpolate(body: str, spec: Mapping[str, Any], inputs: Mapping[str, str] | None = None) -> str:
    """``$[[ inputs.X ]]`` replaced by the given input, else its default; unknown ones refused."""
    declared = spec["spec"]["inputs"]
    given = dict(inputs or {})
    unknown = set(given) - set(declared)
    assert not unknown, f"inputs not declared in spec:inputs: {sorted(unknown)}"

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in declared, f"$[[ inputs.{name} ]] is not declared"
        if name in given:
            return given[name]
        assert "default" in declared[name], f"input {name} has no default and was not given"
        return str(declared[name]["default"])

    return _INPUT.sub(value, body)


def component_jobs(inputs: Mapping[str, str] | None = None) -> dict[str, Any]:
    spec, body = component_parts(COMPONENT.read_text(encoding="utf-8"))
    jobs = yaml.safe_load(interpolate(body, spec, inputs))
    assert isinstance(jobs, dict)
    return jobs


def jobs_of(pipeline: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in pipeline.items() if k not in _TOP_LEVEL and not k.startswith(".")}


def expand(value: str, env: Mapping[str, str]) -> str:
    """GitLab's variable expansion in ``variables:`` values: unknown variables become ''."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)


def _operand(text: str, env: Mapping[str, str]) -> str | None:
    text = text.strip()
    if text.startswith("$"):
        return env.get(text[1:].strip("{}")) or None
    return text.strip("\"'")


def rule_matches(condition: str, env: Mapping[str, str]) -> bool:
    """``$VAR`` (set and non-empty) and ``$A == $B``, as GitLab evaluates them, joined by
    ``&&``."""
    if "&&" in condition:
        return all(rule_matches(part, env) for part in condition.split("&&"))
    if "==" in condition:
        left, right = condition.split("==", 1)
        return _operand(left, env) == _operand(right, env)
    assert re.fullmatch(r"\s*\$\w+\s*", condition), f"unsupported rule: {condition}"
    return _operand(condition, env) is not None


@dataclass
class JobResult:
    name: str
    returncode: int
    output: str
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _selected(job: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str] | None:
    """The variables of the first matching rule, or None when the job does not run."""
    for rule in job.get("rules", [{}]):
        if "if" not in rule or rule_matches(rule["if"], env):
            if rule.get("when") == "never":
                return None
            return {k: str(v) for k, v in (rule.get("variables") or {}).items()}
    return None


def run_pipeline(
    pipeline: Mapping[str, Any],
    *,
    workdir: Path,
    env: Mapping[str, str],
    mint_id_token: Callable[[str], str],
    timeout: float = 600,
) -> list[JobResult]:
    """Run the jobs stage by stage; stop after the first failing job (as ``needs`` would)."""
    stages = pipeline.get("stages") or ["build", "test", "deploy"]
    jobs = jobs_of(pipeline)
    order = sorted(jobs, key=lambda name: stages.index(jobs[name]["stage"]))
    results: dict[str, JobResult] = {}
    for name in order:
        job = jobs[name]
        refused = set(job) - _UNDERSTOOD
        assert not refused, f"job {name}: this runner does not model {sorted(refused)}"
        rule_variables = _selected(job, env)
        if rule_variables is None:
            continue
        job_env = dict(env)
        for need in job.get("needs", []):
            job_env.update(results[need].variables)  # dotenv reports of the needed jobs
        for key, value in {**(job.get("variables") or {}), **rule_variables}.items():
            job_env[key] = expand(str(value), job_env)
        for variable, token in (job.get("id_tokens") or {}).items():
            job_env[variable] = mint_id_token(str(token["aud"]))
        script = "\n".join(["set -eo pipefail", *job["script"]])
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=workdir,
            env=job_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = JobResult(name, done.returncode, done.stdout + done.stderr)
        dotenv = ((job.get("artifacts") or {}).get("reports") or {}).get("dotenv")
        if done.returncode == 0 and dotenv:
            for line in (workdir / dotenv).read_text(encoding="utf-8").splitlines():
                key, _, value = line.partition("=")
                if key:
                    result.variables[key] = value
        results[name] = result
        if not result.ok:
            break
    return list(results.values())


def runner_env(path_first: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """A runner's environment: no CI or installer variables of ours, ``path_first`` on PATH."""
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR", "SSL_CERT_FILE", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = f"{path_first}{os.pathsep}{os.environ.get('PATH', '')}"
    env.update(extra)
    return env
