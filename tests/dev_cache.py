"""What ``python3 tools/dev.py setup`` downloads for the tests, and fresh venvs made from it.

The tests fetch nothing: the real projects' sdists and the wheels of our dependencies are
downloaded once, by the setup step of the README's test command, into the git-ignored
``.cache/`` (``HATCH_SIGSTORE_DEV_CACHE`` points elsewhere). A test that needs them and finds
them missing fails and names the setup command; it never skips.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP_COMMAND = "python3 tools/dev.py setup"
# Variables that would let pip or uv reach an index or a folder we did not choose.
_INSTALLER_PREFIXES = ("PIP_", "UV_")


@cache
def dev_script() -> ModuleType:
    """``tools/dev.py`` as a module (the setup step the tests rely on)."""
    spec = importlib.util.spec_from_file_location("hatch_sigstore_dev", ROOT / "tools" / "dev.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cache_dir() -> Path:
    return Path(os.environ.get("HATCH_SIGSTORE_DEV_CACHE") or ROOT / ".cache")


def require(path: Path, what: str) -> Path:
    """``path``, or fail the test naming the setup command (tests fetch nothing themselves)."""
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        pytest.fail(
            f"{what} is missing ({path}). The tests fetch nothing at test time: run "
            f"`{SETUP_COMMAND}` first (`python3 tools/dev.py test` runs it for you).",
            pytrace=False,
        )
    return path


def wheelhouse() -> Path:
    """Wheels of every dependency of ``hatch-sigstore[all]`` (not of hatch-sigstore itself)."""
    return require(cache_dir() / "wheelhouse", "The wheelhouse of our dependencies")


def offline_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without pip/uv settings, with pip's config files off and no index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INSTALLER_PREFIXES)}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_NO_INDEX"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra or {})
    return env


def venv_bin(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin")


def make_venv(venv: Path, requirements: Iterable[str], find_links: Iterable[Path] = ()) -> Path:
    """A new virtual environment with ``requirements`` installed offline; its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    links = [wheelhouse(), *find_links]
    argv = [str(venv_bin(venv) / "python"), "-m", "pip", "install", "--quiet", "--no-index"]
    for link in links:
        argv += ["--find-links", str(link)]
    done = subprocess.run(
        [*argv, *requirements], env=offline_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"Installing {list(requirements)} offline failed; if a dependency is missing, the "
            f"wheelhouse is older than pyproject.toml: run `{SETUP_COMMAND}`.\n{done.stderr}",
            pytrace=False,
        )
    return venv_bin(venv)


def build_our_wheel(dest: Path) -> Path:
    """A wheel of this checkout (hatchling from the running environment, no build isolation)."""
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(dest)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = dest.glob("hatch_sigstore-*.whl")
    return wheel
