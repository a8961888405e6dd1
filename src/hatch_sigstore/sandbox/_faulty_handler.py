"""The request handler of the registry stand-ins: read, inject the planned fault, route, answer.

One request: counted busy while handled; read into a :class:`Request` carrying the owner's
context; the owner's :class:`FaultInjector` picks latency and at most one terminal fault,
applied as

* ``reset``: read part of the body (``after_bytes``, default half), log status 0, abort the
  connection with a TCP reset, no answer;
* ``store_after_502``: take the whole body, answer 502 and close (a proxy giving up on a slow
  upstream), then route the request for real ``seconds`` later (default 1), as the service
  finishes storing it; that late answer goes nowhere;
* ``status``: answer the fault's status without routing;
* ``stored_then_502``: route for real (the upload is stored), then answer 502 instead;

and otherwise the owner routes it. A body the route left unread is drained (up to 64 MiB, else
the connection closes), the request is logged *before* its answer goes out (a client holding an
answer always finds its request in the log), and a client that goes away mid-request only
closes its connection. Routing, error pages and reason phrases are the owner's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from hatch_sigstore.sandbox._body import BodyError, BodyReader
from hatch_sigstore.sandbox._faults import DEFAULT_STORE_DELAY, Fault, FaultInjector
from hatch_sigstore.sandbox._http import QuietHandler
from hatch_sigstore.sandbox._wire import (
    CREDENTIAL_HEADERS,
    Request,
    RequestInfo,
    Response,
    redacted_target,
    status_phrase,
)

__all__ = ["DRAIN_LIMIT", "FaultyHandler", "Owner"]

DRAIN_LIMIT = 64 << 20  # a refused upload larger than this gets its connection closed instead
_CHUNK = 1 << 20


class Owner(Protocol):
    """What the handler needs of the stand-in that owns its server (``server.owner``)."""

    faults: FaultInjector
    service: str  # the log's name for it
    server_header: str  # the ``Server`` header it answers with
    _stopping: threading.Event

    @property
    def spool_dir(self) -> Path: ...

    def _busy(self, delta: int) -> None: ...

    def _record(self, info: RequestInfo) -> None: ...

    def _context(self) -> object: ...

    def _answer(self, req: Request[Any]) -> Response: ...


class FaultyHandler(QuietHandler):
    """Serves one connection of a registry stand-in (see the module's docstring)."""

    @property
    def owner(self) -> Owner:
        owner: Owner = self.server.owner  # type: ignore[attr-defined]
        return owner

    def version_string(self) -> str:
        return self.owner.server_header

    def dispatch(self) -> None:
        owner = self.owner
        owner._busy(+1)
        try:
            self._handle(owner)
        finally:
            owner._busy(-1)

    def _handle(self, owner: Owner) -> None:
        started = time.monotonic()
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        try:
            length = None if chunked else int(headers.get("content-length", "0") or 0)
        except ValueError:
            length = 0
        reader = BodyReader(self.rfile, length=length, chunked=chunked)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        req = Request(
            self.command,
            self.path,
            split.path,
            query,
            headers,
            reader,
            owner._context(),
            http_version=self.request_version,
        )
        latency, fault = owner.faults.pick(self.command, split.path)
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True  # first: a log that fails must not be asked again
            owner._record(
                RequestInfo(
                    method=self.command,
                    target=redacted_target(split.path, split.query),
                    path=split.path,
                    status=status,
                    auth=req.auth,
                    fault=None if fault is None else fault.kind,
                    bytes_in=reader.consumed,
                    seconds=time.monotonic() - started,
                    service=owner.service,
                    credentials=tuple(h for h in CREDENTIAL_HEADERS if h in headers),
                )
            )

        if latency:
            owner._stopping.wait(latency)
        try:
            if fault is not None and fault.kind == "reset":
                self._reset(reader, fault, record)
                return
            if fault is not None and fault.kind == "store_after_502":
                self._store_after_502(owner, req, fault, record)
                return
            if fault is not None and fault.kind == "status":
                response = _fault_response(fault)
            else:
                response = owner._answer(req)
                if fault is not None and fault.kind == "stored_then_502":
                    response = _fault_response(fault)
            if not reader.done and not reader.drain(DRAIN_LIMIT):
                self.close_connection = True
                response.headers["Connection"] = "close"
            record(response.status)
            self._send(response)
        except (BodyError, ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away mid-request
        finally:
            record(0)

    def _store_after_502(
        self, owner: Owner, req: Request[Any], fault: Fault, record: Callable[[int], None]
    ) -> None:
        with tempfile.TemporaryFile(dir=owner.spool_dir) as spool:
            while not req.body.done:
                data = req.body.read()
                if not data:
                    break
                spool.write(data)
            size = spool.tell()
            spool.seek(0)
            response = _fault_response(fault)
            response.headers["Connection"] = "close"
            self.close_connection = True
            record(response.status)
            with contextlib.suppress(OSError):
                self._send(response)
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_WR)
            if owner._stopping.wait(fault.seconds if fault.seconds > 0 else DEFAULT_STORE_DELAY):
                return  # shutting down: the state dir is going away
            late = BodyReader(spool, length=size, chunked=False)
            owner._answer(dataclasses.replace(req, body=late))  # the answer goes nowhere

    def _reset(self, reader: BodyReader, fault: Fault, record: Callable[[int], None]) -> None:
        length = reader.length
        after = fault.after_bytes if fault.after_bytes is not None else (length or 0) // 2
        if length is not None:
            after = min(after, max(length - 1, 0))
        with contextlib.suppress(BodyError, OSError):
            while reader.consumed < after and reader.read(min(1 << 16, after - reader.consumed)):
                pass
        self.close_connection = True
        record(0)
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _send(self, response: Response) -> None:
        if response.stream is not None:
            self._send_stream(response)
            return
        reason = None if response.reason is None else status_phrase(response.reason)
        self.send_response(response.status, reason)
        # a file's size on disk now, not a recorded one: tests may tamper with stored blobs
        fh = response.file.open("rb") if response.file is not None else None
        size = os.fstat(fh.fileno()).st_size if fh is not None else len(response.body)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(size))
        if fh is None:
            body = b"" if self.command == "HEAD" else response.body
            self._headers_buffer.append(b"\r\n" + body)  # type: ignore[attr-defined]
            self.flush_headers()  # headers and body in one write
            return
        with fh:
            self.end_headers()
            if self.command != "HEAD":
                shutil.copyfileobj(fh, self.wfile, _CHUNK)

    def _send_stream(self, response: Response) -> None:
        """An answer proxied from another server (Workhorse send-url)."""
        stream = response.stream
        assert stream is not None
        try:
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            if response.stream_length is None:
                self.close_connection = True
                self.send_header("Connection", "close")
            else:
                self.send_header("Content-Length", str(response.stream_length))
            self.end_headers()
            if self.command != "HEAD":
                shutil.copyfileobj(stream, self.wfile, _CHUNK)
        finally:
            stream.close()


def _fault_response(fault: Fault) -> Response:
    status, headers, body = fault.response()
    return Response(status, headers, body)
