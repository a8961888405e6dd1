"""Streamed upload bodies: a file's bytes checked against its sha256 as they go, and a
multipart form (twine's upload protocol) around them, with a precomputed ``Content-Length``.

The last chunk is held back until size and sha256 are confirmed, so a file that changed on disk
is never completely sent: the server sees a short body and stores nothing. No httpx here.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from hatch_sigstore._net._http import SourceChangedError
from hatch_sigstore.errors import ConfigError

__all__ = ["ProgressCallback", "checked_chunks", "file_size", "multipart_body"]

ProgressCallback = Callable[[int], None]


def file_size(path: Path) -> int:
    """The size of a regular file; :class:`ConfigError` when it cannot be read."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if not path.is_file():
        raise ConfigError(f"{path} is not a regular file.")
    return st.st_size


def checked_chunks(
    path: Path,
    size: int,
    sha256: str,
    progress: ProgressCallback | None,
    chunk_size: int,
) -> Iterator[bytes]:
    """The file's bytes; the last chunk is held back until size and sha256 are confirmed."""
    digest = hashlib.sha256()
    sent = 0
    total = 0
    pending: bytes | None = None
    with path.open("rb") as fh:
        while True:
            block = fh.read(chunk_size)
            if not block:
                break
            total += len(block)
            if total > size:
                raise SourceChangedError(f"{path.name} grew while it was being uploaded")
            digest.update(block)
            if pending is not None:
                yield pending
                sent += len(pending)
                if progress is not None:
                    progress(sent)
            pending = block
    if total != size:
        raise SourceChangedError(f"{path.name} shrank while it was being uploaded")
    if digest.hexdigest() != sha256:
        raise SourceChangedError(
            f"{path.name} does not match the sha256 it was signed/declared with "
            f"({digest.hexdigest()} on disk, {sha256} expected)"
        )
    if pending is not None:
        yield pending
        sent += len(pending)
        if progress is not None:
            progress(sent)


def multipart_body(
    fields: Sequence[tuple[str, str]],
    path: Path,
    size: int,
    sha256: str,
    progress: ProgressCallback | None,
    *,
    chunk_size: int,
) -> tuple[str, int, Iterator[bytes]]:
    """``(boundary, Content-Length, chunks)`` of a form of ``fields`` and the file as
    ``content`` (last, as twine sends it); the file streams through :func:`checked_chunks`."""
    while True:
        boundary = "hatch-sigstore-" + secrets.token_hex(16)
        if not any(boundary in value for _, value in fields):
            break
    head = bytearray()
    for key, value in fields:
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode()
            + value.encode("utf-8")
            + b"\r\n"
        )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
        f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + size + len(tail)

    def chunks() -> Iterator[bytes]:
        yield bytes(head)
        yield from checked_chunks(path, size, sha256, progress, chunk_size)
        yield tail

    return boundary, length, chunks()
