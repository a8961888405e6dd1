"""Three real projects from PyPI, with only our tables added, released through the sandbox.

iniconfig (hatch-vcs, a ``version-file``), attrs (hatch-vcs + hatch-fancy-pypi-readme, listed
before our tables) and httpx (a ``path`` version source + hatch-fancy-pypi-readme, static
``[project.urls]``) each build, sign, publish and verify as a tag pipeline and as a branch
pipeline of the component's jobs (example-project/.gitlab-ci.yml), against the local Sigstore
and the registry stand-in; nothing is fetched.

Two of the six runs go through the whole runner (tests/ci_runner.py: every script line, each
job installing its tools into the runner's Python, the consumer installing the release with its
dependencies from the registry). The other four run the same jobs with the ``pip install``
lines left out and this environment's hatch and hatch-sigstore on PATH: the same build, sign,
publish and verify commands, a third of the time.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from build_helpers import sdist_pkg_info, wheel_metadata
from ci_runner import JobResult
from dev_cache import offline_env, wheelhouse
from hatch_sigstore.sandbox.rehearsal import Pipeline
from real_projects import PROJECTS, Checkout, add_tables, git, real_project
from test_pipeline import all_jobs_passed, links, registry, run_example_pipeline, runner_bin

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore

__all__ = ["links", "real_project", "registry", "runner_bin"]  # fixtures, imported for pytest

pytestmark = [
    pytest.mark.slow,
    # hatch-vcs 0.5 calls setuptools-scm's dump_version the way setuptools-scm 10 deprecates
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

# What a maintainer adds, and nothing else: the plugin in build-system.requires, and our tables.
TABLES = """
[tool.hatch.metadata.hooks.sigstore]

[tool.hatch.build.hooks.sigstore]
"""
BRANCH_VERSION = "0.1.0.dev242"  # the component's default, 0.1.0.dev${CI_PIPELINE_IID}
# the runtime dependencies of the releases, for the consumer's `pip install` (from the index)
DEPENDENCIES = {"httpx": ("httpcore", "h11", "anyio", "idna", "typing_extensions", "certifi")}


def adopt(checkout: Checkout) -> None:
    """Add hatch-sigstore to build-system.requires and append our tables; commit and re-tag."""
    text = checkout.pyproject.read_text(encoding="utf-8")
    new, count = re.subn(r"(\[build-system\][^[]*?requires = \[)", r'\1"hatch-sigstore", ', text)
    assert count == 1, "build-system.requires not found"
    checkout.pyproject.write_text(new, encoding="utf-8")
    add_tables(checkout, TABLES, message="Sign releases with Sigstore")


def _upload_dependencies(
    registry: GitLabRegistry, registry_project: Any, token: str, name: str
) -> None:
    wheels = [next(wheelhouse().glob(f"{dep}-*.whl")) for dep in DEPENDENCIES.get(name, ())]
    if not wheels:
        return
    subprocess.run(
        [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
         "--repository-url", registry.pypi_url(registry_project),
         "-u", "__token__", "-p", token, *map(str, wheels)],
        env=offline_env(), check=True, capture_output=True,
    )  # fmt: skip


def release(
    checkout: Checkout,
    pipeline: Pipeline,
    *,
    full: bool,
    sigstore: LocalSigstore,
    registry: GitLabRegistry,
    links: dict[str, Path],
    runner_bin: Path,
    home: Path,
) -> tuple[list[JobResult], Any]:
    name = checkout.project.name
    path = f"real-{time.monotonic_ns()}/{name}"
    registry_project = registry.create_project(path, visibility="private")
    token = registry.personal_token(project=registry_project)
    if full:
        _upload_dependencies(registry, registry_project, token, name)
    project = {"project": registry_project, "token": token, "path": path, "checkout": checkout.root}
    results = run_example_pipeline(
        pipeline,
        project=project,
        sigstore=sigstore,
        registry=registry,
        links=links,
        runner_bin=runner_bin,
        home=home,
        light=not full,
    )
    return results, registry_project


CASES = [
    # (project, pipeline kind, through the whole runner?)
    ("iniconfig", "tag", False),
    ("iniconfig", "branch", False),
    ("attrs", "tag", True),
    ("attrs", "branch", False),
    ("httpx", "tag", False),
    ("httpx", "branch", True),
]


@pytest.mark.parametrize(
    ("real_project", "kind", "full"),
    CASES,
    indirect=["real_project"],
    ids=[f"{p}-{k}-{'full' if f else 'light'}" for p, k, f in CASES],
)
def test_real_project_releases_through_the_sandbox(
    real_project: Checkout,
    kind: str,
    full: bool,
    local_sigstore: LocalSigstore,
    registry: GitLabRegistry,
    links: dict[str, Path],
    runner_bin: Path,
    tmp_path: Path,
) -> None:
    local_sigstore.clear_faults()
    project = real_project.project
    adopt(real_project)
    pipeline = Pipeline.of(tag=project.tag) if kind == "tag" else Pipeline.of(branch="main")
    version = project.version if kind == "tag" else BRANCH_VERSION
    results, registry_project = release(
        real_project,
        pipeline,
        full=full,
        sigstore=local_sigstore,
        registry=registry,
        links=links,
        runner_bin=runner_bin,
        home=tmp_path / "home",
    )
    log = all_jobs_passed(results)
    assert results[0].variables == {"RELEASE_NAME": project.name, "RELEASE_VERSION": version}
    assert "eyJ" not in log  # no ID token reached a log

    # the build job said which version replaced which (hatch-vcs / path source)
    if kind == "branch":
        source = "vcs" if project.version_source == "vcs" else "regex"
        assert (
            f"version {BRANCH_VERSION} (from PACKAGE_VERSION) replaces {project.version} "
            f"from the [tool.hatch.version] source `{source}`"
        ) in results[0].output, log

    root = real_project.root
    stem = f"{project.package}-{version}"
    wheel, sdist = root / "dist" / f"{stem}-py3-none-any.whl", root / "dist" / f"{stem}.tar.gz"
    for meta in (wheel_metadata(wheel), sdist_pkg_info(sdist)):
        assert (meta["Name"], meta["Version"]) == (project.name, version)
        urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
        assert urls["Homepage"].endswith(registry_project.path), urls  # CI_PROJECT_URL
    readme = wheel_metadata(wheel).get_payload()
    assert isinstance(readme, str)
    if project.name == "attrs":  # fancy-pypi-readme's $HFPR_VERSION links carry the version
        assert "attrs.org/en//" not in readme
        assert f"https://www.attrs.org/en/{version}/_static/sponsors" in readme
    if project.name == "iniconfig":  # hatch-vcs' version-file carries the CI version
        with zipfile.ZipFile(wheel) as zf:
            assert version in zf.read("iniconfig/_version.py").decode()
    verified = sorted(p.name for p in (root / "verified").iterdir())
    assert wheel.name in verified
    assert f"{sdist.name}.sigstore.json" in verified
    names = {f.filename for f in registry.pypi_files(registry_project)}
    assert {wheel.name, sdist.name} <= names
    # the working tree: nothing but the build's outputs (and hatch-vcs' ignored version file)
    status = git(root, "status", "--porcelain")
    assert all(line[3:].split("/")[0] in {"dist", "verified", "release.env"} for line in
               status.splitlines()), status  # fmt: skip
    if full:
        python = str(runner_bin / "python")
        check = subprocess.run(
            [python, "-m", "pip", "show", project.name], capture_output=True, text=True, check=False
        )
        assert f"Version: {version}" in check.stdout, check.stderr


@pytest.mark.parametrize("real_project", list(PROJECTS), indirect=True)
def test_with_our_tables_a_local_build_keeps_the_projects_own_version(
    real_project: Checkout,
) -> None:
    """Outside CI nothing changes: the version source's version, nothing signed."""
    from test_real_projects import build_no_isolation

    adopt(real_project)
    project = real_project.project
    artifacts = build_no_isolation(real_project.root)
    stem = f"{project.package}-{project.version}"
    assert [p.name for p in artifacts] == [f"{stem}-py3-none-any.whl", f"{stem}.tar.gz"]
    for meta in (wheel_metadata(artifacts[0]), sdist_pkg_info(artifacts[1])):
        assert (meta["Name"], meta["Version"]) == (project.name, project.version)
