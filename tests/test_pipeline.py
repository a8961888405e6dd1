"""The example pipeline's jobs, run for real against the sandbox, as a tag and a branch pipeline.

Every line of ``script`` in example-project/.gitlab-ci.yml (the component's jobs) runs in bash
as a GitLab runner would run it: ``pip install hatch``, ``hatch build`` (signing with the ID
token GitLab would mint for the job), ``hatch publish -p gitlab``, ``hatch-sigstore download``
and the consumer's ``pip install``. The runner's "package index" is the registry stand-in's
PyPI simple index, where the release's dependency lives; everything else comes from the
wheelhouse and a wheel of this checkout through ``PIP_FIND_LINKS`` / ``UV_FIND_LINKS``. That
folder list also holds a tampered build of the release: the consumer job must install the
verified file and nothing else.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from ci_runner import EXAMPLE_CI, JobResult, run_pipeline, runner_env
from dev_cache import ROOT, build_our_wheel, make_venv, offline_env, wheelhouse
from hatch_sigstore.sandbox.rehearsal import Pipeline

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore, PyPIIndex

pytestmark = pytest.mark.slow

MARKER = "built by the pipeline"


def _project(dest: Path, name: str, version: str, body: str, extra: str = "") -> Path:
    """A plain hatchling project with one module (for the dependency and the tampered build)."""
    (dest / "src" / name).mkdir(parents=True)
    (dest / "src" / name / "__init__.py").write_text(body)
    (dest / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"
            [project]
            name = "{name}"
            version = "{version}"
            {extra}
            [tool.hatch.build.targets.wheel]
            packages = ["src/{name}"]
            """
        )
    )
    return dest


def _wheel(project: Path, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=project,
        check=True,
        capture_output=True,
    )
    return next(out.glob("*.whl"))


@pytest.fixture(scope="module")
def links(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("links")
    ours = root / "ours"
    build_our_wheel(ours)
    # A build of the release that no pipeline signed, where find-links would find it.
    evil = root / "evil"
    for version in ("0.1.0", "0.1.0.dev7"):
        src = _project(root / f"evil-{version}", "consumer_app", version, "TAMPERED = True\n")
        _wheel(src, evil)
    return {"wheelhouse": wheelhouse(), "ours": ours, "evil": evil}


@pytest.fixture(scope="module")
def runner_bin(tmp_path_factory: pytest.TempPathFactory, links: dict[str, Path]) -> Path:
    """The runner image's Python: a bare venv (the jobs install what they need)."""
    return make_venv(tmp_path_factory.mktemp("runner") / "python", ["pip"])


@pytest.fixture(scope="module")
def registry() -> Iterator[GitLabRegistry]:
    """The runner's package index. GitLab forwards unknown names to pypi.org (a 302) by
    default; here that is off, so nothing can reach the network."""
    from hatch_sigstore.sandbox.gitlab import GitLabRegistry, Settings

    with GitLabRegistry(settings=Settings(pypi_forwarding=False)) as running:
        yield running


@pytest.fixture
def project(tmp_path: Path, registry: GitLabRegistry, links: dict[str, Path]) -> dict[str, Any]:
    """A registry project holding the release's dependency, and the checkout to release."""
    path = f"pipelines-{time.monotonic_ns()}/consumer-app"
    registry_project = registry.create_project(path, visibility="private")
    token = registry.personal_token(project=registry_project)
    dependency = _wheel(
        _project(tmp_path / "dep", "dep_lib", "1.4.0", "def answer() -> int:\n    return 42\n"),
        tmp_path / "dep-dist",
    )
    subprocess.run(
        [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
         "--repository-url", registry.pypi_url(registry_project),
         "-u", "__token__", "-p", token, str(dependency)],
        env=offline_env(), check=True, capture_output=True,
    )  # fmt: skip
    checkout = tmp_path / "consumer-app"
    shutil.copytree(ROOT / "example-project", checkout, ignore=shutil.ignore_patterns("dist"))
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'requires-python = ">=3.10"',
            'requires-python = ">=3.10"\ndependencies = ["dep-lib>=1.4"]',
        )
    )
    init = checkout / "src" / "my_package" / "__init__.py"
    init.write_text(init.read_text() + f"\nBUILT = {MARKER!r}\n")
    return {"project": registry_project, "token": token, "path": path, "checkout": checkout}


def without_installs(pipeline: dict[str, Any]) -> dict[str, Any]:
    """The jobs without their ``pip install`` lines (they then use the tools on PATH)."""
    return {
        name: {**job, "script": [line for line in job["script"] if "pip install" not in line]}
        if isinstance(job, dict) and "script" in job
        else job
        for name, job in pipeline.items()
    }


def run_example_pipeline(
    pipeline: Pipeline,
    *,
    project: dict[str, Any],
    sigstore: LocalSigstore,
    registry: GitLabRegistry,
    links: dict[str, Path],
    runner_bin: Path,
    home: Path,
    light: bool = False,
    extra: dict[str, str] | None = None,
) -> list[JobResult]:
    """Run the example's jobs; ``light``: without installs, this environment's tools on PATH."""
    registry_project = project["project"]
    coordinates = {
        "project_path": project["path"],
        "ref": pipeline.ref,
        "ref_type": pipeline.ref_type,
        "project_id": str(registry_project.id),
    }
    ci = sigstore.ci_env(**pipeline.job(**coordinates, pipeline_id=4242))
    del ci["SIGSTORE_ID_TOKEN"]  # only jobs with id_tokens get one
    find_links = " ".join(str(links[k]) for k in ("wheelhouse", "ours", "evil"))
    ci.update(
        {
            "CI_PROJECT_DIR": str(project["checkout"]),
            "CI_API_V4_URL": registry.api_url,
            "CI_JOB_TOKEN": registry.job_token(registry_project),
            # The runner's package index, and folders it also finds packages in.
            "PIP_INDEX_URL": registry.simple_url(registry_project, token=project["token"]),
            "PIP_FIND_LINKS": find_links,
            "PIP_CONFIG_FILE": "/dev/null",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            # hatch builds in an environment of its own, installed with uv.
            "UV_FIND_LINKS": ",".join(str(links[k]) for k in ("wheelhouse", "ours")),
            "UV_NO_INDEX": "1",
            "UV_CACHE_DIR": str(home / "uv-cache"),
            "HATCH_DATA_DIR": str(home / "hatch-data"),
            "HATCH_CACHE_DIR": str(home / "hatch-cache"),
            "NO_COLOR": "1",
            **(extra or {}),
        }
    )
    example = yaml.safe_load(EXAMPLE_CI.read_text(encoding="utf-8"))

    def mint(audience: str) -> str:
        return sigstore.mint_token(**coordinates, audience=audience, expires_in=900)

    return run_pipeline(
        without_installs(example) if light else example,
        workdir=project["checkout"],
        env=runner_env(Path(sys.executable).parent if light else runner_bin, ci),
        mint_id_token=mint,
    )


def all_jobs_passed(results: list[JobResult]) -> str:
    """Assert that the three jobs ran and passed; the pipeline's log."""
    log = "\n".join(f"== {r.name} (exit {r.returncode})\n{r.output}" for r in results)
    assert [(r.name, r.ok) for r in results] == [
        ("build", True),
        ("publish", True),
        ("consumer_verification", True),
    ], log
    return log


@pytest.mark.parametrize(
    ("pipeline", "version"),
    [(Pipeline.of(tag="v0.1.0"), "0.1.0"), (Pipeline.of(branch="main"), "0.1.0.dev242")],
    ids=["tag", "branch"],
)
def test_example_pipeline_runs_against_the_sandbox(
    pipeline: Pipeline,
    version: str,
    project: dict[str, Any],
    local_sigstore: LocalSigstore,
    registry: GitLabRegistry,
    links: dict[str, Path],
    runner_bin: Path,
    tmp_path: Path,
) -> None:
    local_sigstore.clear_faults()
    results = run_example_pipeline(
        pipeline,
        project=project,
        sigstore=local_sigstore,
        registry=registry,
        links=links,
        runner_bin=runner_bin,
        home=tmp_path / "home",
    )
    log = all_jobs_passed(results)
    assert results[0].variables == {"RELEASE_NAME": "consumer-app", "RELEASE_VERSION": version}

    checkout = project["checkout"]
    stem = f"consumer_app-{version}"
    verified = sorted(p.name for p in (checkout / "verified").iterdir())
    assert f"{stem}-py3-none-any.whl" in verified
    assert f"{stem}.tar.gz.sigstore.json" in verified
    names = {f.filename for f in registry.pypi_files(project["project"])}
    assert {f"{stem}-py3-none-any.whl", f"{stem}.tar.gz"} <= names

    # The consumer installed the verified release (not the tampered one find-links offered)
    # and its dependency from the index (the registry), though nothing put it in verified/.
    python = str(runner_bin / "python")
    check = subprocess.run(
        [python, "-c", "import my_package, dep_lib; print(my_package.BUILT, dep_lib.answer())"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.stdout.strip() == f"{MARKER} 42", check.stderr
    assert not any(name.startswith("dep_lib") for name in verified)
    shown = subprocess.run(
        [python, "-m", "pip", "show", "consumer_app"], capture_output=True, text=True, check=True
    ).stdout
    assert f"Version: {version}" in shown
    # No ID token reached a log.
    assert "eyJ" not in log


def test_tag_pipeline_also_publishes_to_the_pypi_stand_in(
    project: dict[str, Any],
    pypi_sigstore: LocalSigstore,
    pypi_index: PyPIIndex,
    registry: GitLabRegistry,
    links: dict[str, Path],
    runner_bin: Path,
    tmp_path: Path,
) -> None:
    """The publish_pypi job, opted in with HATCH_SIGSTORE_PYPI: trusted publishing with the
    job's PYPI_ID_TOKEN, each dist with its attestation, which the stand-in verifies at upload
    and ``download --index-url`` verifies again. The sandbox issuer says it is gitlab.com, the
    only GitLab issuer PyPI attests."""
    from hatch_sigstore.download import download_from_index
    from hatch_sigstore.identity import ExpectedIdentity
    from hatch_sigstore.trust import TrustChoice
    from hatch_sigstore.verify import Policy

    pypi_index.create_project("consumer-app")
    pypi_index.add_gitlab_publisher("consumer-app", project["path"])
    results = run_example_pipeline(
        Pipeline.of(tag="v0.1.0"),
        project=project,
        sigstore=pypi_sigstore,
        registry=registry,
        links=links,
        runner_bin=runner_bin,
        home=tmp_path / "home",
        extra={"HATCH_SIGSTORE_PYPI": pypi_index.upload_url},
    )
    log = "\n".join(f"== {r.name} (exit {r.returncode})\n{r.output}" for r in results)
    assert [(r.name, r.ok) for r in results] == [
        ("build", True),
        ("publish", True),
        ("publish_pypi", True),
        ("consumer_verification", True),
    ], log
    stored = pypi_index.files("consumer-app")
    assert {(f.filename, f.has_provenance) for f in stored} == {
        ("consumer_app-0.1.0-py3-none-any.whl", True),
        ("consumer_app-0.1.0.tar.gz", True),
    }
    identity = ExpectedIdentity("https://gitlab.com", project["path"], ref="refs/tags/v0.1.0")
    report = download_from_index(
        "consumer-app==0.1.0",
        index_url=pypi_index.simple_url,
        directory=tmp_path / "from-pypi",
        policy=Policy.gitlab(identity),
        trust=TrustChoice.resolve(trust_config=pypi_sigstore.trust_config_path),
        max_bytes=1 << 26,
        deadline=120,
        workers=2,
    )
    assert report.ok, [f.reason for f in report.files]
    assert "eyJ" not in log
    assert "pypi-AgE" not in log
