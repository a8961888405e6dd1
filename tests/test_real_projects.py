"""The real-project fixtures: each checkout looks like a clone and builds as the project does.

No hatch-sigstore table is added here: this proves the fixtures are faithful (hatch-vcs reads
the version from the tag, fancy-pypi-readme assembles the README), so that a test adding our
tables (``add_tables``) and failing points at our hooks, not at the fixture.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from build_helpers import CI_VARIABLES, sdist_member, sdist_pkg_info, wheel_metadata
from dev_cache import offline_env
from real_projects import PROJECTS, Checkout, add_tables, git, real_project

__all__ = ["real_project"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow


def build_no_isolation(root: Path) -> list[Path]:
    """``python -m build --no-isolation``: the sdist, then the wheel from the sdist."""
    env = offline_env()
    for name in CI_VARIABLES:
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", "dist", "."],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return sorted((root / "dist").iterdir())


@pytest.mark.parametrize("real_project", list(PROJECTS), indirect=True)
def test_checkout_looks_like_a_clone_at_the_release_tag(real_project: Checkout) -> None:
    root, project = real_project.root, real_project.project
    assert not (root / "PKG-INFO").exists()
    assert git(root, "status", "--porcelain", "--ignored") == ""
    assert git(root, "describe", "--tags", "--exact-match") == project.tag
    assert git(root, "branch", "--show-current") == "main"
    assert "[tool.hatch.version]" in real_project.pyproject.read_text(encoding="utf-8")
    assert "sigstore" not in real_project.pyproject.read_text(encoding="utf-8")
    if project.name == "iniconfig":  # hatch-vcs writes it at build time; a clone has none
        assert not (root / "src" / "iniconfig" / "_version.py").exists()


@pytest.mark.parametrize("real_project", list(PROJECTS), indirect=True)
def test_checkout_builds_with_its_own_version(real_project: Checkout) -> None:
    project = real_project.project
    artifacts = build_no_isolation(real_project.root)
    stem = f"{project.package}-{project.version}"
    assert [p.name for p in artifacts] == [f"{stem}-py3-none-any.whl", f"{stem}.tar.gz"]
    wheel, sdist = artifacts
    for meta in (wheel_metadata(wheel), sdist_pkg_info(sdist)):
        assert (meta["Name"], meta["Version"]) == (project.name, project.version)
    readme = wheel_metadata(wheel).get_payload()
    assert isinstance(readme, str)
    if project.fancy_readme:  # hatch-fancy-pypi-readme ran: its fragments are in the README
        assert "Release Information" in readme
    # The sdist carries the project's own pyproject.toml, unchanged.
    assert sdist_member(sdist, "pyproject.toml") == real_project.pyproject.read_text("utf-8")


@pytest.mark.parametrize("real_project", ["iniconfig"], indirect=True)
def test_add_tables_commits_and_keeps_the_release_tag_on_the_new_commit(
    real_project: Checkout,
) -> None:
    head = add_tables(real_project, '[tool.hatch.build.hooks.custom]\npath = "hook.py"\n')
    root = real_project.root
    assert git(root, "status", "--porcelain") == ""
    assert git(root, "rev-list", "-n", "1", real_project.project.tag) == head
    text = real_project.pyproject.read_text(encoding="utf-8")
    assert text.endswith('[tool.hatch.build.hooks.custom]\npath = "hook.py"\n')
    assert git(root, "rev-list", "--count", "HEAD") == "2"


def test_a_missing_cache_fails_and_names_the_setup_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from real_projects import checkout

    monkeypatch.setenv("HATCH_SIGSTORE_DEV_CACHE", str(tmp_path / "empty"))
    with pytest.raises(pytest.fail.Exception, match=r"python3 tools/dev\.py setup"):
        checkout("attrs", tmp_path)


def test_a_tampered_sdist_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from real_projects import checkout

    cache = tmp_path / "cache"
    (cache / "real-projects").mkdir(parents=True)
    (cache / "real-projects" / PROJECTS["httpx"].sdist).write_bytes(b"not the sdist")
    monkeypatch.setenv("HATCH_SIGSTORE_DEV_CACHE", str(cache))
    with pytest.raises(pytest.fail.Exception, match="does not have the sha256 pinned"):
        checkout("httpx", tmp_path / "out")
