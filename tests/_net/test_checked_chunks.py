"""Streamed upload bodies: every byte sent is the file's, the last chunk only once it checked out.

:func:`hatch_sigstore._net._uploads.checked_chunks` reads and hashes each chunk on a worker
thread while the one before it is sent; these tests hold it to its contract directly (the
registry round trips are in tests/gitlab/ and tests/pypi/).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Generator
from pathlib import Path

import pytest

from hatch_sigstore._net import _uploads
from hatch_sigstore._net._http import SourceChangedError
from hatch_sigstore._net._uploads import checked_chunks, file_size, multipart_body
from hatch_sigstore.errors import ConfigError

CHUNK = 64 * 1024


def write(tmp_path: Path, size: int) -> tuple[Path, str]:
    path = tmp_path / "f.whl"
    data = os.urandom(size)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def reader_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("hatch-sigstore-read")}


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 5 * CHUNK + 7])
def test_the_bytes_sent_are_the_files(tmp_path: Path, size: int) -> None:
    path, sha = write(tmp_path, size)
    before = reader_threads()
    seen: list[int] = []
    body = b"".join(checked_chunks(path, size, sha, seen.append, CHUNK))
    assert body == path.read_bytes()
    assert seen == sorted(seen)
    assert seen[-1:] == ([size] if size else [])
    assert reader_threads() <= before


def test_a_file_that_does_not_match_its_sha256_is_never_completely_sent(tmp_path: Path) -> None:
    path, _ = write(tmp_path, 5 * CHUNK + 3)
    sent = bytearray()

    def send() -> None:
        for chunk in checked_chunks(path, 5 * CHUNK + 3, "0" * 64, None, CHUNK):
            sent.extend(chunk)

    with pytest.raises(SourceChangedError, match="does not match the sha256"):
        send()
    assert len(sent) < 5 * CHUNK + 3  # the last chunk was held back
    assert bytes(sent) == path.read_bytes()[: len(sent)]


@pytest.mark.parametrize("change", ["grew", "shrank"])
def test_a_file_changed_while_it_is_sent_stops_the_upload(tmp_path: Path, change: str) -> None:
    size = 8 * CHUNK
    path, sha = write(tmp_path, size)
    before = reader_threads()
    sent: list[bytes] = []

    def send() -> None:
        for chunk in checked_chunks(path, size, sha, None, CHUNK):
            if not sent:
                with path.open("r+b") as fh:
                    if change == "grew":
                        fh.seek(0, os.SEEK_END)
                        fh.write(os.urandom(4 * CHUNK))
                    else:
                        fh.truncate(4 * CHUNK)
            sent.append(chunk)

    with pytest.raises(SourceChangedError, match=f"{change} while it was being uploaded"):
        send()
    assert sum(map(len, sent)) < size
    assert reader_threads() <= before


def test_a_body_abandoned_midway_leaves_no_reader_behind(tmp_path: Path) -> None:
    """The upload failed (a reset, a timeout): httpx closes the body; its reader stops."""
    path, sha = write(tmp_path, 10 * CHUNK)
    before = reader_threads()
    chunks = checked_chunks(path, 10 * CHUNK, sha, None, CHUNK)
    assert isinstance(chunks, Generator)
    next(chunks)
    assert reader_threads() - before  # reading ahead
    chunks.close()
    assert reader_threads() <= before


def test_the_next_chunk_is_read_while_the_one_before_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the sender holds a chunk (the generator waits at ``yield``), the reader has gone
    on to read (and hash) the next one, on its own thread: not one after the other."""
    reads: list[str] = []
    more = threading.Condition()

    class Recording(io.FileIO):
        def read(self, size: int | None = -1, /) -> bytes:
            block = super().read(size)
            with more:
                reads.append(threading.current_thread().name)
                more.notify_all()
            return block

    def watched(path: Path) -> Recording:
        return Recording(str(path), "rb")

    monkeypatch.setattr(_uploads, "open_regular", watched)
    path, sha = write(tmp_path, 6 * CHUNK)
    chunks = checked_chunks(path, 6 * CHUNK, sha, None, CHUNK)
    first = next(chunks)  # chunk 0 is out, chunk 1 held back: chunk 2 is read meanwhile
    with more:
        assert more.wait_for(lambda: len(reads) >= 3, timeout=10), reads
    rest = b"".join(chunks)
    assert first + rest == path.read_bytes()
    assert all(name.startswith("hatch-sigstore-read") for name in reads)


def test_multipart_body_length_is_exact(tmp_path: Path) -> None:
    path, sha = write(tmp_path, 3 * CHUNK + 5)
    fields = [("name", "f"), ("version", "1.0"), ("sha256_digest", sha)]
    size = 3 * CHUNK + 5
    boundary, length, chunks = multipart_body(fields, path, size, sha, None, chunk_size=CHUNK)
    body = b"".join(chunks)
    assert len(body) == length
    assert body.endswith(f"\r\n--{boundary}--\r\n".encode())
    assert path.read_bytes() in body


def test_a_file_swapped_for_a_link_after_its_check_is_refused_unread(tmp_path: Path) -> None:
    """The link points at identical bytes: only refusing links stops it (sha256 would match)."""
    path, sha = write(tmp_path, 3 * CHUNK)
    copy = tmp_path / "elsewhere.whl"
    copy.write_bytes(path.read_bytes())
    path.unlink()
    os.symlink(copy, path)
    sent: list[bytes] = []
    with pytest.raises(SourceChangedError, match=r"replaced after it was checked.*symbolic link"):
        sent.extend(checked_chunks(path, 3 * CHUNK, sha, None, CHUNK))
    assert sent == []
    with pytest.raises(ConfigError, match="is a symbolic link"):
        file_size(path)


def test_a_file_gone_after_its_check_stops_the_upload(tmp_path: Path) -> None:
    path, sha = write(tmp_path, CHUNK)
    path.unlink()
    with pytest.raises(SourceChangedError, match="cannot be read any more"):
        list(checked_chunks(path, CHUNK, sha, None, CHUNK))
