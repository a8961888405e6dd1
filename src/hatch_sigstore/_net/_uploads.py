"""Uploads, whatever the registry: streamed bodies checked as they go, and the send loop that
asks the registry what it holds after an ambiguous failure.

* :func:`checked_chunks`: a file's bytes, the last chunk held back until size and sha256 are
  confirmed, so a file that changed on disk is never completely sent (the server sees a short
  body and stores nothing); each chunk is hashed while the one before it is sent.
  :func:`multipart_body` wraps it in a multipart form (twine's upload protocol) with a
  precomputed ``Content-Length``.
* :func:`upload_loop`: send until the registry answers for good. After an *ambiguous* failure
  (the body may have been stored: a timeout, a reset, a 5xx) it asks ``check`` before sending
  again: the same sha256 → ``EXISTS_SAME``, absent → send again; ``check`` raises when the
  registry holds different bytes. Each client supplies how it reads its registry's answers.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import httpx

from hatch_sigstore._files import NotRegularFileError, open_regular
from hatch_sigstore._net._http import SourceChangedError, is_ambiguous
from hatch_sigstore._net._outcomes import UploadOutcome
from hatch_sigstore._net._retry import Retry, RetryPolicy, is_retryable_status, retrying
from hatch_sigstore.errors import ConfigError, RegistryError

__all__ = [
    "ProgressCallback",
    "State",
    "checked_chunks",
    "file_size",
    "multipart_body",
    "source_changed",
    "upload_loop",
]

ProgressCallback = Callable[[int], None]
State = Literal["same", "absent"]  # what the registry holds of a file we are about to send


def file_size(path: Path) -> int:
    """The size of a regular file; :class:`ConfigError` when it cannot be read, is a symbolic
    link or is not a regular file (only the file itself is ever uploaded, never a link's
    target: :func:`checked_chunks` opens it without following links too)."""
    try:
        st = path.lstat()
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if stat.S_ISLNK(st.st_mode):
        raise ConfigError(
            f"{path} is a symbolic link (to {_link_target(path)!r}); only regular files are "
            "uploaded. Nothing of it was sent.",
            remediation=f"Replace the link with the file itself; do not modify {path.parent} "
            "while publishing.",
        )
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{path} is not a regular file. Nothing of it was sent.")
    return st.st_size


def _link_target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def checked_chunks(
    path: Path,
    size: int,
    sha256: str,
    progress: ProgressCallback | None,
    chunk_size: int,
) -> Iterator[bytes]:
    """The file's bytes; the last chunk is held back until size and sha256 are confirmed.

    The file is opened without following a symbolic link (:func:`open_regular`): a link put
    in its place after it was checked is refused before a byte of its target is read.

    Each chunk is read and hashed on a worker thread while the one before it is being sent:
    file reads, hashlib (for more than 2 KiB) and socket writes all release the GIL, so the
    re-check runs beside the upload on a second core instead of before each send. At most
    three chunks are in memory: the one being sent, the one held back, the one being read.
    """
    digest = hashlib.sha256()
    sent = 0
    total = 0
    pending: bytes | None = None
    try:
        opened = open_regular(path)
    except NotRegularFileError as exc:
        target = f" (to {_link_target(path)!r})" if path.is_symlink() else ""
        raise SourceChangedError(
            f"{path.name} was replaced after it was checked{target}: {exc.strerror}"
        ) from None
    except OSError as exc:
        raise SourceChangedError(
            f"{path.name} cannot be read any more ({exc.strerror or exc})"
        ) from None
    with (
        opened as fh,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="hatch-sigstore-read") as reader,
    ):

        def read_next() -> bytes:
            block = fh.read(chunk_size)
            digest.update(block)  # in file order: the next read starts after this one ends
            return block

        ahead: Future[bytes] = reader.submit(read_next)
        while True:
            block = ahead.result()
            if not block:
                break
            total += len(block)
            if total > size:
                raise SourceChangedError(f"{path.name} grew while it was being uploaded")
            ahead = reader.submit(read_next)  # read and hashed while `pending` is sent
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


def source_changed(action: str, exc: BaseException) -> RegistryError:
    return RegistryError(
        f"Stopped {action}: {exc}. Nothing complete was sent.",
        remediation="Rebuild and re-sign the file, and do not modify dist/ while publishing.",
    )


def upload_loop(
    *,
    action: str,
    send: Callable[[], tuple[httpx.Response, bytes]],
    check: Callable[[], State],
    on_response: Callable[[httpx.Response, bytes], UploadOutcome],
    retry_status: Callable[[httpx.Response, bytes], Retry],
    retry_transport: Callable[[httpx.TransportError], Retry],
    failed: Callable[[Retry, int], Exception],
    policy: RetryPolicy,
    sleep: Callable[[float], None],
) -> UploadOutcome:
    """Send until the registry answers for good; ask ``check`` after an ambiguous failure.

    ``retry_status`` and ``retry_transport`` turn a transient answer or transport failure into
    a :class:`Retry` (with the registry's own error); ``failed`` is the error to raise when
    retrying stops.
    """
    ambiguous = False  # may the last failed attempt have stored the file?

    def attempt() -> UploadOutcome:
        nonlocal ambiguous
        if ambiguous:
            if check() == "same":
                return UploadOutcome.EXISTS_SAME
            ambiguous = False
        try:
            response, body = send()
        except SourceChangedError as exc:
            raise source_changed(action, exc) from None
        except httpx.TransportError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, SourceChangedError):
                raise source_changed(action, cause) from None
            ambiguous = ambiguous or is_ambiguous(exc)
            raise retry_transport(exc) from None
        status = response.status_code
        if is_retryable_status(status):
            if status != 429:
                ambiguous = True  # a 5xx may come after the file was stored
            raise retry_status(response, body)
        return on_response(response, body)

    def give_up(retry: Retry, tries: int) -> UploadOutcome:
        # A registry that kept failing may still have stored the file on one attempt.
        if retry.exc is None and ambiguous and check() == "same":
            return UploadOutcome.EXISTS_SAME
        raise failed(retry, tries) from None

    return retrying(policy, attempt, give_up, sleep=sleep)
