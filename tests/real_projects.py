"""Real hatchling projects from PyPI, as fresh git checkouts, for tests that build them.

iniconfig 2.0.0 (hatch-vcs), attrs 26.1.0 (hatch-vcs + hatch-fancy-pypi-readme, no sdist
include list) and httpx 0.29.0 (``[tool.hatch.version] path`` + hatch-fancy-pypi-readme): their
sdists, pinned by hash in ``tests/fixtures/real-projects/requirements.txt``, are downloaded by
``python3 tools/dev.py setup``. :func:`checkout` turns one into what a clone of the project's
repository looks like: no ``PKG-INFO``, no files the project's ``.gitignore`` ignores (such as
hatch-vcs' generated version file), everything committed on ``main`` and the release tagged, so
hatch-vcs computes the version from git exactly as in the project's own CI.

Use the ``real_project`` fixture (import it into the test module), parametrized indirectly
with a project name::

    from real_projects import real_project  # noqa: F401

    @pytest.mark.parametrize("real_project", ["attrs"], indirect=True)
    def test_x(real_project: Checkout) -> None:
        add_tables(real_project, SIGSTORE_TABLES)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from dev_cache import ROOT, cache_dir, dev_script, require

__all__ = [
    "PROJECTS",
    "Checkout",
    "RealProject",
    "add_tables",
    "checkout",
    "git",
    "real_project",
]

LOCK = ROOT / "tests" / "fixtures" / "real-projects" / "requirements.txt"  # see tools/dev.py


@dataclass(frozen=True)
class RealProject:
    name: str
    version: str
    tag: str  # the project's own release tag for that version
    package: str  # the distribution name in file names
    version_source: str  # what [tool.hatch.version] uses: "vcs" or "path"
    fancy_readme: bool

    @property
    def sdist(self) -> str:
        return f"{self.name}-{self.version}.tar.gz"


PROJECTS = {
    p.name: p
    for p in (
        RealProject("iniconfig", "2.0.0", "v2.0.0", "iniconfig", "vcs", fancy_readme=False),
        RealProject("attrs", "26.1.0", "26.1.0", "attrs", "vcs", fancy_readme=True),
        RealProject("httpx", "0.29.0", "0.29.0", "httpx", "path", fancy_readme=True),
    )
}


@dataclass(frozen=True)
class Checkout:
    project: RealProject
    root: Path

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"


# A fixed identity and clock: commits (and so hatch-vcs' versions) do not depend on the machine.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Release Manager",
    "GIT_AUTHOR_EMAIL": "release@example.invalid",
    "GIT_COMMITTER_NAME": "Release Manager",
    "GIT_COMMITTER_EMAIL": "release@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=root,
        env={**os.environ, **_GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {root}: {done.stderr.strip()}")
    return done.stdout.strip()


def checkout(name: str, dest: Path) -> Checkout:
    """A fresh git checkout of project ``name`` at its release tag, in ``dest``/``name``."""
    project = PROJECTS[name]
    sdist = require(cache_dir() / "real-projects" / project.sdist, f"The sdist of {project.name}")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    locked: dict[str, str] = dev_script().locked_sdists()
    if digest != locked[project.sdist]:
        pytest.fail(
            f"{sdist} does not have the sha256 pinned in {LOCK} ({digest}): delete it and run "
            "`python3 tools/dev.py setup`.",
            pytrace=False,
        )
    root = dest / name
    with tarfile.open(sdist) as archive:
        top = f"{project.name}-{project.version}"
        members = [m for m in archive.getmembers() if m.name.startswith(f"{top}/")]
        archive.extractall(dest, members=members, filter="data")
    (dest / top).rename(root)
    # What only an sdist has: the generated metadata.
    (root / "PKG-INFO").unlink()
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", f"Release {project.version}")
    git(root, "tag", "--annotate", project.tag, "--message", project.tag)
    # Files the project's .gitignore ignores are not in a clone (iniconfig's _version.py).
    git(root, "clean", "-d", "--force", "-X", "--quiet")
    return Checkout(project, root)


def add_tables(
    project: Checkout, toml: str, *, message: str = "Sign releases with Sigstore"
) -> str:
    """Append ``toml`` to pyproject.toml, commit, and move the release tag onto that commit.

    That is what a maintainer adopting hatch-sigstore does before tagging: hatch-vcs then still
    sees a clean tree at the release tag. Returns the new commit's sha.
    """
    text = project.pyproject.read_text(encoding="utf-8")
    project.pyproject.write_text(text.rstrip("\n") + "\n\n" + toml.strip("\n") + "\n", "utf-8")
    git(project.root, "commit", "--quiet", "--all", "--message", message)
    tag = project.project.tag
    git(project.root, "tag", "--force", "--annotate", tag, "--message", tag)
    return git(project.root, "rev-parse", "HEAD")


@pytest.fixture
def real_project(request: pytest.FixtureRequest, tmp_path: Path) -> Checkout:
    """A fresh checkout of the project named by the (indirect) parameter; our tables not added."""
    if shutil.which("git") is None:
        pytest.fail("git is needed to make the real projects' checkouts.", pytrace=False)
    name = str(request.param)
    return checkout(name, tmp_path / "checkouts")
