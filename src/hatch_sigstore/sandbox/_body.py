"""Request bodies for the registry stand-ins: a bounded reader and a streaming multipart parser.

Nothing here holds a whole body in memory: file parts go to a sink (a temp file in the state
dir) in chunks, the other fields are small and kept (bounded by ``max_field``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Protocol

__all__ = [
    "BodyError",
    "BodyReader",
    "FilePart",
    "MultipartResult",
    "boundary_of",
    "parse_multipart",
]

CHUNK = 1 << 20


class BodyError(Exception):
    """The body is malformed or ended early (the client went away)."""


class _Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...

    def readline(self, limit: int, /) -> bytes: ...


class BodyReader:
    """Reads exactly one request body: ``Content-Length`` bytes, or a chunked body."""

    def __init__(self, rfile: _Readable, *, length: int | None, chunked: bool) -> None:
        self._rfile = rfile
        self._chunked = chunked
        self._remaining = length if length is not None else (None if chunked else 0)
        self._chunk_left = 0
        self._done = not chunked and not self._remaining
        self.consumed = 0

    @property
    def length(self) -> int | None:
        return None if self._chunked else (self._remaining or 0) + self.consumed

    @property
    def done(self) -> bool:
        return self._done

    def read(self, n: int = CHUNK) -> bytes:
        if self._done or n <= 0:
            return b""
        data = self._read_chunked(n) if self._chunked else self._read_plain(n)
        self.consumed += len(data)
        return data

    def _read_plain(self, n: int) -> bytes:
        assert self._remaining is not None
        data = self._rfile.read(min(n, self._remaining))
        if not data:
            raise BodyError("the client closed the connection before the body was complete")
        self._remaining -= len(data)
        if self._remaining == 0:
            self._done = True
        return data

    def _read_chunked(self, n: int) -> bytes:
        if self._chunk_left == 0:
            line = self._rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise BodyError("truncated chunk header")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise BodyError("bad chunk header") from exc
            if size == 0:
                while self._rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._done = True
                return b""
            self._chunk_left = size
        data = self._rfile.read(min(n, self._chunk_left))
        if not data:
            raise BodyError("the client closed the connection before the body was complete")
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and self._rfile.readline(1024) not in (b"\r\n", b"\n"):
            raise BodyError("bad chunk terminator")
        return data

    def drain(self, limit: int) -> bool:
        """Read and discard the rest, up to ``limit`` bytes; True if the body is now done."""
        read = 0
        while not self._done and read <= limit:
            data = self.read(CHUNK)
            if not data and not self._done:
                break
            read += len(data)
        return self._done


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass
class FilePart:
    name: str
    filename: str
    content_type: str | None
    size: int = 0
    sha256: str = ""


@dataclass
class MultipartResult:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, FilePart] = field(default_factory=dict)
    # every value of every non-file field, in order (``fields`` keeps the last, as Rack does)
    values: dict[str, list[str]] = field(default_factory=dict)
    file_names: list[str] = field(default_factory=list)  # names of all file parts, in order


def boundary_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    msg = Message()
    msg["content-type"] = content_type
    if msg.get_content_type() != "multipart/form-data":
        return None
    boundary = msg.get_param("boundary")
    return boundary if isinstance(boundary, str) and boundary else None


def _disposition(headers: Message) -> tuple[str | None, str | None]:
    if headers.get("content-disposition") is None:
        return None, None
    name = headers.get_param("name", header="content-disposition")
    filename = headers.get_param("filename", header="content-disposition")
    return (
        name if isinstance(name, str) else None,
        filename if isinstance(filename, str) else None,
    )


class _PartSink:
    """Where one part's bytes go: a file sink (hashed) or a bounded in-memory value."""

    def __init__(self, part: FilePart | None, max_field: int) -> None:
        self.part = part
        self.sink: Sink | None = None
        self.value = bytearray()
        self.max_field = max_field
        self.sha256 = hashlib.sha256()

    def emit(self, data: bytes) -> None:
        if not data:
            return
        if self.part is not None and self.sink is not None:
            self.part.size += len(data)
            self.sha256.update(data)
            self.sink.write(data)
        else:
            if len(self.value) + len(data) > self.max_field:
                raise BodyError("multipart field too large")
            self.value.extend(data)


def parse_multipart(
    reader: BodyReader,
    boundary: str,
    *,
    open_sink: Callable[[str, str], Sink],
    max_field: int = 1 << 24,
    max_header: int = 1 << 16,
    chunk: int = CHUNK,
) -> MultipartResult:
    """Parse ``multipart/form-data`` from ``reader``.

    Parts with a ``filename`` are streamed to ``open_sink(field_name, filename)`` (hashing
    sha256 on the way); other parts become ``fields``. A repeated field keeps its last
    value, as Rack does. Raises BodyError.
    """
    delim = b"\r\n--" + boundary.encode("latin-1")
    result = MultipartResult()
    buf = bytearray(b"\r\n")
    eof = False

    def fill() -> bool:
        nonlocal eof
        if eof:
            return False
        data = reader.read(chunk)
        if not data:
            eof = True
            return False
        buf.extend(data)
        return True

    # Preamble up to and including the first delimiter.
    while True:
        idx = buf.find(delim)
        if idx >= 0:
            del buf[: idx + len(delim)]
            break
        keep = len(delim)
        if len(buf) > keep:
            del buf[: len(buf) - keep]
        if not fill():
            raise BodyError("multipart boundary not found")

    while True:
        # after a delimiter: "--" (the end) or transport padding + CRLF (another part)
        while len(buf) < 2 and fill():
            pass
        if buf[:2] == b"--":
            reader.drain(1 << 20)  # epilogue
            return result
        while (crlf := buf.find(b"\r\n")) < 0:
            if len(buf) > max_header or not fill():
                raise BodyError("malformed multipart delimiter line")
        if buf[:crlf].strip(b" \t"):
            raise BodyError("malformed multipart delimiter line")
        del buf[: crlf + 2]
        # headers up to a blank line
        if buf[:2] == b"\r\n":
            raw_headers = b""
            del buf[:2]
        else:
            while True:
                end = buf.find(b"\r\n\r\n")
                if end >= 0:
                    break
                if len(buf) > max_header:
                    raise BodyError("multipart part headers too large")
                if not fill():
                    raise BodyError("truncated multipart part headers")
            raw_headers = bytes(buf[:end])
            del buf[: end + 4]
        headers = BytesHeaderParser().parsebytes(raw_headers + b"\r\n\r\n")
        name, filename = _disposition(headers)
        target = _PartSink(
            FilePart(name, filename, headers.get_content_type())
            if name is not None and filename is not None
            else None,
            max_field,
        )
        if target.part is not None:
            target.sink = open_sink(target.part.name, target.part.filename)
        while True:
            idx = buf.find(delim)
            if idx >= 0:
                target.emit(bytes(memoryview(buf)[:idx]))
                del buf[: idx + len(delim)]
                break
            safe = len(buf) - len(delim)
            if safe > 0:
                target.emit(bytes(memoryview(buf)[:safe]))
                del buf[:safe]
            if not fill():
                raise BodyError("truncated multipart body")
        if target.part is not None:
            target.part.sha256 = target.sha256.hexdigest()
            result.files[target.part.name] = target.part
            result.file_names.append(target.part.name)
        elif name is not None:
            result.fields[name] = target.value.decode("utf-8", "replace")
            result.values.setdefault(name, []).append(result.fields[name])
