"""Real frontends in subprocesses: isolated ``python -m build``, ``hatch build``, ``uv build``.

hatch-sigstore is on no index: a wheel of this checkout is built once per session into a
"wheelhouse" folder, and the frontends find it through ``PIP_FIND_LINKS`` / ``UV_FIND_LINKS``
(the README documents the same for example-project). Everything else in the build environments
(hatchling, sigstore) comes from the configured package index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from build_helpers import (
    CI_METADATA,
    CI_VARIABLES,
    sdist_member,
    sdist_pkg_info,
    urls_of,
    wheel_metadata,
)
from hatch_sigstore._files import sidecars_of
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import Policy, verify_files

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example-project"
BIN = Path(sys.executable).parent
NAME = "my_ci_project-1.2.3"
HOMEPAGE = CI_METADATA["CI_PROJECT_URL"]


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(folder)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return folder


@pytest.fixture(scope="session")
def hatch_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hatch-home")


def frontend_env(
    wheelhouse: Path, hatch_home: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    env["PIP_FIND_LINKS"] = " ".join(filter(None, [env.get("PIP_FIND_LINKS"), str(wheelhouse)]))
    env["UV_FIND_LINKS"] = str(wheelhouse)
    env["HATCH_DATA_DIR"] = str(hatch_home / "data")
    env["HATCH_CACHE_DIR"] = str(hatch_home / "cache")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def example(tmp_path: Path) -> Path:
    root = tmp_path / "example-project"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("dist", ".gitlab-ci.yml"))
    return root


COMMANDS = {
    "python -m build": [sys.executable, "-m", "build", "."],
    "hatch build": [str(BIN / "hatch"), "build"],
    "uv build": [str(BIN / "uv"), "build", "--no-progress", "."],
}


def run(name: str, root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        COMMANDS[name],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def check_artifacts(dist: Path, local_sigstore: LocalSigstore) -> None:
    sdist, wheel = dist / f"{NAME}.tar.gz", dist / f"{NAME}-py3-none-any.whl"
    expected = {sdist.name, wheel.name}
    for artifact in (sdist, wheel):
        expected |= {
            artifact.name + s for s in (".sigstore.json", ".sig", ".crt", ".publish.attestation")
        }
    # uv also writes dist/.gitignore
    assert {p.name for p in dist.iterdir() if not p.name.startswith(".")} == expected
    for meta in (wheel_metadata(wheel), sdist_pkg_info(sdist)):
        assert (meta["Name"], meta["Version"]) == ("my_ci_project", "1.2.3")
        assert urls_of(meta) == {"Homepage": HOMEPAGE}
    project = tomllib.loads(sdist_member(sdist, "pyproject.toml"))["project"]
    assert (project["name"], project["version"], project["urls"]) == (
        "my_ci_project",
        "1.2.3",
        {"Homepage": HOMEPAGE},
    )
    trust = TrustChoice.resolve(trust_config=local_sigstore.trust_config_path)
    results = verify_files([sdist, wheel], Policy.gitlab(local_sigstore.expected_identity()), trust)
    assert [r.ok for r in results] == [True, True], [r.reason for r in results]


@pytest.mark.parametrize("frontend", list(COMMANDS))
def test_frontend_builds_rewrites_and_signs(
    frontend: str,
    tmp_path: Path,
    wheelhouse: Path,
    hatch_home: Path,
    local_sigstore: LocalSigstore,
) -> None:
    local_sigstore.clear_faults()
    env = frontend_env(
        wheelhouse,
        hatch_home,
        {**local_sigstore.ci_env(), **CI_METADATA, "HATCH_SIGSTORE_SIGN": "required"},
    )
    root = example(tmp_path)
    local_sigstore.reset_stats()
    done = run(frontend, root, env)
    assert done.returncode == 0, done.stdout + done.stderr
    stats = local_sigstore.stats
    check_artifacts(root / "dist", local_sigstore)
    assert "signed and verified" in done.stdout + done.stderr
    assert env["SIGSTORE_ID_TOKEN"] not in done.stdout + done.stderr
    # one log entry per signature: the bundle's and the PEP 740 attestation's, per artifact
    assert stats["rekor_create"] == 2 * 2
    if frontend == "hatch build":  # two build processes, one certificate (hatch._agent)
        assert stats["fulcio"] == 1


@pytest.mark.parametrize("frontend", list(COMMANDS))
def test_frontend_shows_one_clear_error(
    frontend: str, tmp_path: Path, wheelhouse: Path, hatch_home: Path
) -> None:
    env = frontend_env(wheelhouse, hatch_home, {"PACKAGE_VERSION": "not-a-version"})
    root = example(tmp_path)
    done = run(frontend, root, env)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert (
        "hatch-sigstore: error: The CI variable PACKAGE_VERSION is 'not-a-version', which is "
        "not a PEP 440 version" in output
    )
    assert "Traceback" not in output
    dist = root / "dist"
    assert not dist.exists() or not [p for p in dist.iterdir() if not p.name.startswith(".")]


def test_without_ci_nothing_changes_and_nothing_is_signed(
    tmp_path: Path, wheelhouse: Path, hatch_home: Path
) -> None:
    root = example(tmp_path)
    done = run("python -m build", root, frontend_env(wheelhouse, hatch_home))
    assert done.returncode == 0, done.stdout + done.stderr
    names = sorted(p.name for p in (root / "dist").iterdir() if not p.name.startswith("."))
    assert names == ["my_package-0.0.0-py3-none-any.whl", "my_package-0.0.0.tar.gz"]
    assert "not signing: no Sigstore identity token" in done.stderr
    assert (
        sdist_member(root / "dist" / names[1], "pyproject.toml")
        == (root / "pyproject.toml").read_text()
    )
    assert all(sidecars_of(root / "dist" / n) == {} for n in names)


def test_build_metadata_reports_rewritten_values(
    tmp_path: Path, wheelhouse: Path, hatch_home: Path
) -> None:
    root = example(tmp_path)
    env = frontend_env(wheelhouse, hatch_home, dict(CI_METADATA))
    done = subprocess.run(
        [sys.executable, "-m", "build", "--metadata", "."],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    meta = json.loads(done.stdout)
    assert (meta["name"], meta["version"]) == ("my_ci_project", "1.2.3")
    assert meta["project_urls"] == {"Homepage": HOMEPAGE}
