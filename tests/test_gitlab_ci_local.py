"""gitlab-ci-local runs example-project/.gitlab-ci.yml against ``hatch-sigstore sandbox up``.

A third-party implementation of GitLab CI's semantics (rules, needs, dotenv reports, artifacts,
its own schema check) runs our example pipeline, shell executor, with the variables of the
env file ``sandbox up --tag``/``--branch`` wrote: the rehearsal a user would do by hand.
gitlab-ci-local does not mint ``id_tokens``, so the sandbox's ``SIGSTORE_ID_TOKEN`` is passed
in as a variable. The jobs install from the wheelhouse and a wheel of this checkout; the
"package index" is a closed port, so nothing reaches the network.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from dev_cache import ROOT, SETUP_COMMAND, build_our_wheel, cache_dir, make_venv, wheelhouse
from hatch_sigstore.cli import main
from hatch_sigstore.sandbox._state import STATE_HOME_VARIABLE
from hatch_sigstore.sandbox.rehearsal import Pipeline, up
from real_projects import git

pytestmark = pytest.mark.slow

PROJECT = "demo/consumer-app"


def _gitlab_ci_local() -> Path:
    tool = cache_dir() / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
    missing = [n for n in ("node", "rsync") if shutil.which(n) is None]
    if not tool.exists() or missing:
        reason = (
            f"gitlab-ci-local needs {', '.join(missing)} (Debian: apt-get install nodejs npm rsync)"
            if missing
            else f"gitlab-ci-local is not installed in {tool.parent}: run `{SETUP_COMMAND}`"
        )
        if os.environ.get("CI"):  # CI installs all of it: a missing piece there is a failure
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return tool


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "consumer-app"
    shutil.copytree(ROOT / "example-project", root, ignore=shutil.ignore_patterns("dist"))
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "init")
    git(root, "remote", "add", "origin", f"https://gitlab.example.com/{PROJECT}.git")
    monkeypatch.setenv(STATE_HOME_VARIABLE, str(tmp_path / "state"))
    return root


def _variables(env_file: Path) -> dict[str, str]:
    out = {}
    for line in env_file.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            out[key] = shlex.split(value)[0]
    return out


@pytest.mark.parametrize(
    ("flags", "version"),
    [(["--tag", "v0.1.0"], "0.1.0"), (["--branch", "main"], None)],
    ids=["tag", "branch"],
)
def test_gitlab_ci_local_runs_the_example_pipeline_against_sandbox_up(
    flags: list[str], version: str | None, checkout: Path, tmp_path: Path
) -> None:
    tool = _gitlab_ci_local()
    ours = tmp_path / "ours"
    build_our_wheel(ours)
    runner = make_venv(tmp_path / "runner", ["pip"])
    state = tmp_path / "state-dir"
    tag = flags[1] if flags[0] == "--tag" else None
    branch = flags[1] if flags[0] == "--branch" else None
    env_file = up(
        state,
        project_path=PROJECT,
        pipeline=Pipeline.of(tag=tag, branch=branch),
        project_root=checkout,
    )
    variables = _variables(env_file)
    version = version or f"0.1.0.dev{variables['CI_PIPELINE_IID']}"

    argv = [str(tool), "--force-shell-executor", "--home", str(tmp_path / "gcl-home")]
    for key, value in variables.items():
        argv += ["--variable", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "CI"))}
    env.update(
        {
            "PATH": f"{runner}{os.pathsep}{env['PATH']}",
            "GCL_IGNORE_PREDEFINED_VARS": ",".join(variables),
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_INDEX_URL": "http://127.0.0.1:9/simple",  # closed: nothing from the network
            "PIP_FIND_LINKS": f"{wheelhouse()} {ours}",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "UV_NO_INDEX": "1",
            "UV_FIND_LINKS": f"{wheelhouse()},{ours}",
            "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
            "HATCH_DATA_DIR": str(tmp_path / "hatch-data"),
            "HATCH_CACHE_DIR": str(tmp_path / "hatch-cache"),
            "NO_COLOR": "1",
        }
    )
    try:
        done = subprocess.run(
            argv, cwd=checkout, env=env, capture_output=True, text=True, timeout=600, check=False
        )
    finally:
        assert main(["sandbox", "down", "--state-dir", str(state)]) == 0
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for job in ("build", "publish", "consumer_verification"):
        assert f"PASS  {job}" in output, output
    assert f"OK: every file of consumer-app=={version} verified" in output, output
    assert f"Successfully installed consumer-app-{version}" in output, output
    ref = f"refs/tags/{tag}" if tag else f"refs/heads/{branch}"
    assert f"/{PROJECT}//.gitlab-ci.yml@{ref}" in output
    assert variables["SIGSTORE_ID_TOKEN"] not in output
    assert variables["CI_JOB_TOKEN"] not in output
