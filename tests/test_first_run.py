"""A first run from the wheel, as a new user has it: fresh venvs, our wheel, nothing else.

``pip install "hatch-sigstore[all]"`` then ``hatch-sigstore sandbox demo`` in an empty folder
must work (the example project ships inside the wheel); a base install must name the missing
extra at once. The venvs are installed offline from the wheelhouse ``tools/dev.py setup``
downloaded, with pip's configuration and every ``PIP_*`` variable removed, so a dependency
missing from our extras fails here instead of being found somewhere else.
"""

from __future__ import annotations

import json
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from dev_cache import ROOT, build_our_wheel, make_venv, offline_env

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "example-project"
PACKAGED = "hatch_sigstore/sandbox/_example/"
_NOT_SHIPPED = {"dist", "build", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache"}


@pytest.fixture(scope="module")
def our_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_our_wheel(tmp_path_factory.mktemp("our-wheel"))


def _example_files() -> set[str]:
    files = set()
    for path in EXAMPLE.rglob("*"):
        parts = path.relative_to(EXAMPLE).parts
        if path.is_file() and not _NOT_SHIPPED.intersection(parts) and path.suffix != ".pyc":
            files.add("/".join(parts))
    return files


def test_the_wheel_ships_the_example_project_file_for_file(our_wheel: Path) -> None:
    with zipfile.ZipFile(our_wheel) as wheel:
        shipped = {
            name.removeprefix(PACKAGED): wheel.read(name)
            for name in wheel.namelist()
            if name.startswith(PACKAGED)
        }
    # Every file of example-project/ (pyproject.toml lists them one by one), byte for byte.
    assert set(shipped) == _example_files()
    for name, data in shipped.items():
        assert data == (EXAMPLE / name).read_bytes(), name


def _run(
    bin_dir: Path, argv: list[str], cwd: Path, state: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "hatch-sigstore"), *argv],
        cwd=cwd,
        env=offline_env({"HATCH_SIGSTORE_STATE_HOME": str(state), "NO_COLOR": "1"}),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_pip_install_all_then_sandbox_demo_works_from_an_empty_folder(
    our_wheel: Path, tmp_path: Path
) -> None:
    bin_dir = make_venv(tmp_path / "venv", [f"hatch-sigstore[all] @ {our_wheel.as_uri()}"])
    empty = tmp_path / "anywhere"
    empty.mkdir()
    done = _run(bin_dir, ["sandbox", "demo"], empty, tmp_path / "state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all stages passed" in done.stdout
    assert "example_project-0.1.0-py3-none-any.whl" in done.stdout
    assert list(empty.iterdir()) == []  # the demo works in a temporary folder of its own


@pytest.fixture(scope="module")
def base_install(our_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with hatch-sigstore and no extra: what a build environment has."""
    bin_dir = make_venv(tmp_path_factory.mktemp("base") / "venv", [str(our_wheel)])
    check = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            "import importlib.util as u; print(u.find_spec('sigstore'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == "None"
    return bin_dir


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["verify", "pkg-1.0.tar.gz", "--gitlab", "group/project"], "sign"),
        (["sign", "pkg-1.0.tar.gz"], "sign"),
        (
            [
                "download",
                "pkg==1.0",
                "--url",
                "http://127.0.0.1:9/api/v4",
                "--project",
                "1",
                "-d",
                "v",
            ],
            "publish",
        ),
        (["sandbox", "up"], "sandbox"),
        (["sandbox", "demo"], "sandbox"),
        (["sandbox", "serve"], "sandbox"),
    ],
)
def test_a_base_install_names_the_missing_extra_at_once(
    argv: list[str], extra: str, base_install: Path, tmp_path: Path
) -> None:
    start = time.monotonic()
    done = _run(base_install, argv, tmp_path, tmp_path / "state")
    seconds = time.monotonic() - start
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"needs the '{extra}' extra" in done.stderr
    assert f'-m pip install "hatch-sigstore[{extra}]"' in done.stderr
    assert "Traceback" not in done.stderr
    assert "trust" not in done.stderr.lower()  # not blamed on the trust config
    assert seconds < 20  # at once: no 30 s wait for services that cannot start
    assert not (tmp_path / "state").exists()


def test_a_base_install_says_it_in_json_too(base_install: Path, tmp_path: Path) -> None:
    done = _run(base_install, ["verify", "x", "--gitlab", "g/p", "--json"], tmp_path, tmp_path)
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["ok"] is False
    assert "hatch-sigstore[sign]" in document["error"]


def test_a_base_install_still_runs_what_needs_no_extra(base_install: Path, tmp_path: Path) -> None:
    for argv in (["--version"], ["sandbox", "down"], ["sandbox", "status"]):
        done = _run(base_install, argv, tmp_path, tmp_path / "state")
        assert done.returncode in (0, 3), done.stderr
        assert "extra" not in done.stderr
