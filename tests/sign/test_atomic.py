"""Atomic writes: whole files or nothing, no temporary files left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hatch_sigstore._files import file_mode
from hatch_sigstore.sign._atomic import atomic_write_bytes, atomic_write_group, atomic_write_text


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("existing", [None, b"old content that is longer than the new"])
def test_write_bytes_replaces_whole_file(tmp_path: Path, existing: bytes | None) -> None:
    target = tmp_path / "f.sig"
    if existing is not None:
        target.write_bytes(existing)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert _listing(tmp_path) == ["f.sig"]
    assert stat.S_IMODE(target.stat().st_mode) == file_mode()


def test_write_text_no_newline_translation(tmp_path: Path) -> None:
    target = tmp_path / "f.crt"
    atomic_write_text(target, "a\nb\r\n")
    assert target.read_bytes() == b"a\nb\r\n"


def test_failed_replace_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "inside").write_text("x")
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"data")
    assert _listing(tmp_path) == ["occupied"]


def test_missing_folder_raises_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "no" / "such" / "file", b"x")
    assert _listing(tmp_path) == []


def test_group_all_land(tmp_path: Path) -> None:
    files = {tmp_path / f"a.{n}": f"content {n}".encode() for n in range(3)}
    atomic_write_group(files)
    for path, data in files.items():
        assert path.read_bytes() == data
    assert len(_listing(tmp_path)) == 3


@pytest.mark.parametrize("failing", [0, 1, 2])
def test_group_failure_removes_what_it_placed(tmp_path: Path, failing: int) -> None:
    names = ["x.sigstore.json", "x.sig", "x.crt"]
    blocker = tmp_path / names[failing]
    blocker.mkdir()  # os.replace(file, non-empty dir) fails
    (blocker / "keep").write_text("k")
    with pytest.raises(OSError):
        atomic_write_group({tmp_path / n: b"data" for n in names})
    # only the obstacle remains: no sidecar of the group, no temporary file
    assert _listing(tmp_path) == [names[failing]]


def test_explicit_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    atomic_write_bytes(target, b"x", mode=0o600)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
