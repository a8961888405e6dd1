"""Where ``hatch-sigstore sandbox up`` keeps its state, and how its env file is recognised.

The state (the env file with its tokens, the registry's blobs, the trust config, the pid and the
log) lives in a per-user folder, one per project, never inside the project: a build of the
project (an sdist without an include list takes everything) must not be able to pick it up.
The folder is keyed by the project's root (the nearest folder upwards holding a
``pyproject.toml``, else a ``.git``), so ``sandbox down`` finds it from anywhere in the project.

Stdlib only: the build hook may import :data:`ENV_FILE_NAME` and :data:`ENV_FILE_MARKER` to
refuse an artifact that contains a sandbox env file.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

__all__ = [
    "ENV_FILE_MARKER",
    "ENV_FILE_NAME",
    "STATE_HOME_VARIABLE",
    "default_state_dir",
    "is_sandbox_env",
    "project_root",
    "state_home",
]

# The env file ``sandbox up`` writes: always this name, and always this first line, so a tool
# can tell it from any other ``.env`` file without reading further (it holds tokens).
ENV_FILE_NAME = "sandbox.env"
ENV_FILE_MARKER = "# hatch-sigstore-sandbox-env"
# Overrides every platform default (tests point it at a temporary folder).
STATE_HOME_VARIABLE = "HATCH_SIGSTORE_STATE_HOME"

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def state_home() -> Path:
    """The per-user folder for hatch-sigstore's state.

    ``$HATCH_SIGSTORE_STATE_HOME``; else ``$XDG_STATE_HOME/hatch-sigstore`` (default
    ``~/.local/state``) on Linux and other Unix systems, ``~/Library/Application
    Support/hatch-sigstore`` on macOS and ``%LOCALAPPDATA%\\hatch-sigstore`` on Windows
    (the folders platformdirs picks for user state).
    """
    override = os.environ.get(STATE_HOME_VARIABLE, "").strip()
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA", "").strip()
        return (Path(base) if base else Path.home() / "AppData" / "Local") / "hatch-sigstore"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "hatch-sigstore"
    xdg = os.environ.get("XDG_STATE_HOME", "").strip()
    # The XDG spec: a relative path is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base / "hatch-sigstore"


def project_root(start: Path | None = None) -> Path:
    """The project ``start`` (default: the current folder) is in.

    The nearest folder upwards with a ``pyproject.toml``; else the nearest with a ``.git``;
    else ``start`` itself.
    """
    here = (start or Path.cwd()).resolve()
    chain = [here, *here.parents]
    for marker in ("pyproject.toml", ".git"):
        for folder in chain:
            if (folder / marker).exists():
                return folder
    return here


def default_state_dir(project: Path) -> Path:
    """``STATE_HOME/sandbox/<folder name>-<hash of the full path>``: one folder per project."""
    project = project.resolve()
    digest = hashlib.sha256(str(project).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    name = _SLUG.sub("-", project.name).strip("-.")[:40] or "root"
    return state_home() / "sandbox" / f"{name}-{digest}"


def is_sandbox_env(first_line: str | bytes) -> bool:
    """Whether a file starting with ``first_line`` is a sandbox env file."""
    if isinstance(first_line, bytes):
        first_line = first_line.decode("utf-8", "replace")
    return first_line.lstrip("\ufeff").startswith(ENV_FILE_MARKER)
