"""Files on disk: :func:`open_regular` reads only the file itself, never a link's target."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from hatch_sigstore._files import NotRegularFileError, file_mode, open_regular, sha256_file


def test_a_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "f.whl"
    path.write_bytes(b"wheel bytes")
    with open_regular(path) as handle:
        assert handle.read() == b"wheel bytes"
    assert sha256_file(path, follow_symlinks=False) == hashlib.sha256(b"wheel bytes").hexdigest()


@pytest.mark.parametrize("kind", ["link", "dangling-link", "fifo", "directory"])
def test_anything_but_the_regular_file_itself_is_refused(tmp_path: Path, kind: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    path = tmp_path / "f.whl"
    if kind == "link":
        os.symlink(secret, path)
    elif kind == "dangling-link":
        os.symlink(tmp_path / "gone", path)
    elif kind == "fifo":
        os.mkfifo(path)  # never blocks: opened non-blocking, then refused
    else:
        path.mkdir()
    with pytest.raises(NotRegularFileError) as info:
        open_regular(path)
    assert ("symbolic link" if "link" in kind else "not a regular file") in str(info.value.strerror)
    with pytest.raises(OSError, match="symbolic link" if "link" in kind else "not a regular"):
        sha256_file(path, follow_symlinks=False)
    if kind == "link":  # the default (signing, verifying what a user names) follows links
        assert sha256_file(path) == hashlib.sha256(b"TOP-SECRET").hexdigest()


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077, 0o002])
def test_file_mode_is_what_open_gives_a_new_file(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        mode = file_mode()
        (tmp_path / "plain").write_bytes(b"")
    finally:
        os.umask(old)
    assert mode == stat.S_IMODE((tmp_path / "plain").stat().st_mode)
