"""The whole release pipeline, locally: ``hatch-sigstore sandbox demo``. NEVER for production.

Starts the local Sigstore and the GitLab registry stand-in, then runs the three jobs a real
GitLab pipeline runs (see ``example-project/.gitlab-ci.yml``) as real subprocesses, under a
GitLab-CI-like environment:

1. ``hatch build``: the metadata hook rewrites name/version/Homepage, the build hook signs each
   artifact and verifies it against the pipeline's identity;
2. ``hatch publish -p gitlab``: preflight verification, signatures to the generic registry,
   then packages to the PyPI registry;
3. ``hatch-sigstore download``: a consumer fetches the release and keeps only what verified.

With ``pypi=True`` (``sandbox demo --pypi``) the tag pipeline also runs the ``publish_pypi`` job
against the PyPI stand-in (``hatch publish -p pypi``: the job's ``PYPI_ID_TOKEN`` exchanged for
an upload token, each dist with its PEP 740 attestation, which the stand-in verifies as PyPI
does), and a second consumer verifies the release from the stand-in's simple index
(``download --index-url``). PyPI attests only releases signed by ``https://gitlab.com``, so
then the sandbox's issuer calls itself that (the GitLab registry stand-in is unchanged).

Nothing is fetched from the network: hatch's build environment is pointed at the running
interpreter's environment, where hatchling and hatch-sigstore are already installed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from hatch_sigstore.errors import ConfigError, redact

__all__ = ["DemoResult", "StageResult", "find_example_project", "run_demo"]

PROJECT_PATH = "demo-group/example-project"
TAG = "v0.1.0"
_IGNORED = shutil.ignore_patterns("dist", "build", "__pycache__", "*.egg-info", ".venv")


@dataclass
class StageResult:
    name: str
    command: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class DemoResult:
    stages: list[StageResult] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    verified_pypi: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.stages) and all(stage.ok for stage in self.stages)


# The copy inside the installed package (pyproject.toml force-includes example-project/ there).
PACKAGED_EXAMPLE = Path(__file__).resolve().parent / "_example"
# A source checkout (editable installs import from src/, where no packaged copy exists).
CHECKOUT_EXAMPLE = Path(__file__).resolve().parents[3] / "example-project"


def find_example_project(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The project to release: ``explicit``, else the packaged example, else the checkout's."""
    candidates = [Path(explicit)] if explicit else [PACKAGED_EXAMPLE, CHECKOUT_EXAMPLE]
    for candidate in candidates:
        if (candidate / "pyproject.toml").is_file():
            return candidate.resolve()
    if explicit:
        raise ConfigError(
            f"--example {explicit}: no pyproject.toml there.",
            remediation="Pass --example DIR with the folder of a project (its pyproject.toml).",
        )
    raise ConfigError(
        "The example project is missing from this installation of hatch-sigstore (looked at "
        + " and ".join(str(c) for c in candidates)
        + ").",
        remediation='Reinstall it (pip install --force-reinstall "hatch-sigstore[all]"), or '
        "pass --example DIR with a project to release.",
    )


def _prepare_workspace(example: Path, root: Path) -> Path:
    workspace = root / "example-project"
    shutil.copytree(example, workspace, ignore=_IGNORED)
    # hatch builds in its internal `hatch-build` environment; pointing it at this interpreter's
    # environment (which has hatchling and hatch-sigstore) means nothing is installed from an index.
    hatch_toml = workspace / "hatch.toml"
    existing = hatch_toml.read_text(encoding="utf-8") if hatch_toml.exists() else ""
    hatch_toml.write_text(
        existing + f'\n[envs.hatch-build]\npath = "{Path(sys.prefix).as_posix()}"\n',
        encoding="utf-8",
    )
    return workspace


def _hatch_env(root: Path) -> dict[str, str]:
    """Keep hatch's config, data and cache out of the user's home."""
    config = root / "hatch-config.toml"
    config.touch()
    return {
        "HATCH_CONFIG": str(config),
        "HATCH_DATA_DIR": str(root / "hatch-data"),
        "HATCH_CACHE_DIR": str(root / "hatch-cache"),
        "NO_COLOR": "1",
    }


def _run_stage(
    name: str,
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    secrets: Sequence[str],
    out: TextIO,
) -> StageResult:
    shown = " ".join(argv[2:] if argv[:2] == [sys.executable, "-m"] else argv)
    print(f"\n==> {name}: {shown}", file=out, flush=True)
    start = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    text = redact(proc.stdout.strip(), secrets)
    for line in text.splitlines():
        print(f"    {line}", file=out)
    last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
    detail = "" if proc.returncode == 0 else f"exit {proc.returncode}: {last.strip()}"
    return StageResult(name, shown, proc.returncode == 0, seconds, detail)


@contextlib.contextmanager
def _services(
    state: Path, *, object_storage: bool = False, pypi: bool = False
) -> Iterator[tuple[object, object, object]]:
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore, PyPIIndex
    from hatch_sigstore.sandbox.gitlab import Settings

    settings = Settings.offline(object_storage=object_storage)  # no 302 to pypi.org
    with contextlib.ExitStack() as stack:
        registry = stack.enter_context(
            GitLabRegistry(state_dir=state / "registry", settings=settings)
        )
        # PyPI verifies attestations only from gitlab.com: with the PyPI stand-in the issuer
        # says it is gitlab.com; else it is the registry stand-in's own URL (self-managed)
        issuer = "https://gitlab.com" if pypi else registry.url
        sigstore = stack.enter_context(
            LocalSigstore(state_dir=state / "sigstore", gitlab_url=issuer)
        )
        index = None
        if pypi:
            index = stack.enter_context(PyPIIndex(state_dir=state / "pypi"))
            index.trust_sigstore(sigstore)
        yield registry, sigstore, index


def run_demo(
    *,
    example: str | os.PathLike[str] | None = None,
    keep: str | os.PathLike[str] | None = None,
    out: TextIO = sys.stdout,
    object_storage: bool = True,
    pypi: bool = False,
) -> DemoResult:
    """Run the three jobs (five with ``pypi``); every stage's output is printed, and a table
    at the end."""
    example_dir = find_example_project(example)
    result = DemoResult()
    with contextlib.ExitStack() as stack:
        if keep:
            root = Path(keep).resolve()
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hs-demo-")))
        registry, sigstore, index = stack.enter_context(
            _services(root / "services", object_storage=object_storage, pypi=pypi)
        )
        _run_pipeline(
            example_dir,
            root,
            registry=registry,
            sigstore=sigstore,
            index=index,
            result=result,
            out=out,
        )
    _print_table(result, out)
    return result


def _run_pipeline(
    example_dir: Path,
    root: Path,
    *,
    registry: object,
    sigstore: object,
    index: object = None,
    result: DemoResult,
    out: TextIO,
) -> None:
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore, PyPIIndex

    assert isinstance(registry, GitLabRegistry)
    assert isinstance(sigstore, LocalSigstore)
    assert index is None or isinstance(index, PyPIIndex)
    project = registry.create_project(PROJECT_PATH, visibility="private")
    job_token = registry.job_token(project)
    ci_env = sigstore.ci_env(
        project_path=PROJECT_PATH, ref=TAG, ref_type="tag", project_id=str(project.id)
    )
    identity = sigstore.expected_identity(
        project_path=PROJECT_PATH, ref=TAG, ref_type="tag", project_id=str(project.id)
    )
    print(f"local Sigstore:           {sigstore.url}", file=out)
    print(f"GitLab registry stand-in: {registry.url} ({PROJECT_PATH}, id {project.id})", file=out)
    if index is not None:
        print(f"PyPI stand-in:            {index.url} (upload {index.upload_url})", file=out)
    print(f"pipeline:                 tag {TAG}, signing identity {identity.san}", file=out)

    workspace = _prepare_workspace(example_dir, root)
    env = {**os.environ, **_hatch_env(root), **ci_env}
    env.update(
        {
            "CI_API_V4_URL": registry.api_url,
            "CI_JOB_TOKEN": job_token,
            "HATCH_SIGSTORE_SIGN": "required",
        }
    )
    secrets = [job_token, ci_env.get("SIGSTORE_ID_TOKEN", "")]
    hatch = [sys.executable, "-m", "hatch"]

    build = _run_stage("build", [*hatch, "build"], cwd=workspace, env=env, secrets=secrets, out=out)
    result.stages.append(build)
    if not build.ok:
        return
    publish = _run_stage(
        "publish",
        [*hatch, "publish", "-p", "gitlab"],
        cwd=workspace,
        env=env,
        secrets=secrets,
        out=out,
    )
    result.stages.append(publish)
    if not publish.ok:
        return

    name, version = _release_of(workspace / "dist")
    if index is not None:
        pypi = _publish_pypi(
            index, sigstore, name, workspace=workspace, env=env, secrets=secrets, out=out
        )
        result.stages.append(pypi)
        if not pypi.ok:
            return
    downloads = root / "downloaded"
    consumer = _run_stage(
        "consumer verification",
        [
            sys.executable,
            "-m",
            "hatch_sigstore",
            "download",
            f"{name}=={version}",
            "--url",
            registry.api_url,
            "--project",
            str(project.id),
            "--gitlab",
            PROJECT_PATH,
            "--server",
            sigstore.gitlab_url,
            "--ref",
            f"refs/tags/{TAG}",
            "--trust-config",
            str(sigstore.trust_config_path),
            "-d",
            str(downloads),
        ],
        cwd=root,
        env=env,
        secrets=secrets,
        out=out,
    )
    result.stages.append(consumer)
    if consumer.ok and downloads.is_dir():
        result.verified = sorted(p.name for p in downloads.iterdir() if p.is_file())
    if index is None or not consumer.ok:
        return
    from_pypi = root / "downloaded-from-pypi"
    pypi_consumer = _run_stage(
        "consumer verification (PyPI)",
        [
            sys.executable,
            "-m",
            "hatch_sigstore",
            "download",
            f"{name}=={version}",
            "--index-url",
            index.simple_url,
            "--gitlab",
            PROJECT_PATH,
            "--ref",
            f"refs/tags/{TAG}",
            "--trust-config",
            str(sigstore.trust_config_path),
            "-d",
            str(from_pypi),
        ],
        cwd=root,
        env=env,
        secrets=secrets,
        out=out,
    )
    result.stages.append(pypi_consumer)
    if pypi_consumer.ok:
        result.verified_pypi = sorted(p.name for p in from_pypi.iterdir() if p.is_file())


def _publish_pypi(
    index: object,
    sigstore: object,
    name: str,
    *,
    workspace: Path,
    env: Mapping[str, str],
    secrets: list[str],
    out: TextIO,
) -> StageResult:
    """The publish_pypi job: the project on the PyPI stand-in with this pipeline as its
    trusted publisher, then ``hatch publish -p pypi`` with the job's ID token (aud: pypi)."""
    from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex

    assert isinstance(index, PyPIIndex)
    assert isinstance(sigstore, LocalSigstore)
    index.create_project(name)
    index.add_gitlab_publisher(name, PROJECT_PATH)
    id_token = sigstore.mint_token(
        project_path=PROJECT_PATH,
        ref=TAG,
        ref_type="tag",
        project_id=env.get("CI_PROJECT_ID", "42"),
        audience="pypi",
    )
    secrets.append(id_token)
    return _run_stage(
        "publish (PyPI)",
        [sys.executable, "-m", "hatch", "publish", "-p", "pypi", "-o", f"url={index.upload_url}"],
        cwd=workspace,
        env={**env, "PYPI_ID_TOKEN": id_token},
        secrets=secrets,
        out=out,
    )


def _release_of(dist: Path) -> tuple[str, str]:
    from packaging.utils import parse_wheel_filename

    wheels = sorted(dist.glob("*.whl"))
    if not wheels:
        raise ConfigError(f"The build stage wrote no wheel into {dist}.")
    name, version, _, _ = parse_wheel_filename(wheels[0].name)
    return str(name), str(version)


def _print_table(result: DemoResult, out: TextIO) -> None:
    rows = [("stage", "result", "seconds", "detail")]
    rows += [
        (s.name, "ok" if s.ok else "FAILED", f"{s.seconds:.1f}", s.detail) for s in result.stages
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print(file=out)
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip(), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)
    if result.verified:
        print(f"\nverified and kept: {', '.join(result.verified)}", file=out)
    if result.verified_pypi:
        print(f"verified from PyPI: {', '.join(result.verified_pypi)}", file=out)
    print("\nall stages passed" if result.ok else "\nthe pipeline FAILED", file=out)
