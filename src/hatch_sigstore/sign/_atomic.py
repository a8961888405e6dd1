"""Atomic file writes: a reader sees the old file or the whole new one, never half of it.

Each write goes to a temporary file in the target's own folder (same filesystem), is flushed to
disk, and is moved into place with :func:`os.replace`. A failure removes the temporary file.
:func:`atomic_write_group` writes several files that belong together (the sidecars of one
artifact): either all of them land, or the ones it already placed are removed again.

Standard library only; safe to import from anywhere.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from hatch_sigstore._files import file_mode

__all__ = ["atomic_write_bytes", "atomic_write_group", "atomic_write_text"]


def _write_temp(path: Path, data: bytes, mode: int | None) -> Path:
    """Write ``data`` to a new temporary file beside ``path``; return its path."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_path, file_mode() if mode is None else mode)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    return tmp_path


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, mode: int | None = None
) -> None:
    """Replace ``path`` with ``data`` atomically (default permissions: umask applied)."""
    target = Path(path)
    tmp = _write_temp(target, data, mode)
    try:
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8", mode: int | None = None
) -> None:
    """Replace ``path`` with ``text`` atomically (no newline translation)."""
    atomic_write_bytes(path, text.encode(encoding), mode=mode)


def atomic_write_group(files: Mapping[Path, bytes], *, mode: int | None = None) -> None:
    """Write several files as one unit: all land, or none of them is left behind.

    Every temporary file is written first; only then are they moved into place. If a move
    fails, the files this call already placed are removed (a previous version of them is not
    restored: the caller asked for all of them to be replaced), and the error is re-raised.
    """
    temps: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for target, data in files.items():
            temps.append((_write_temp(Path(target), data, mode), Path(target)))
        for tmp, target in temps:
            os.replace(tmp, target)
            placed.append(target)
    except BaseException:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                tmp.unlink()
        for target in placed:
            with contextlib.suppress(OSError):
                target.unlink()
        raise
