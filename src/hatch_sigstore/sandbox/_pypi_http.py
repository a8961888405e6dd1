"""HTTP plumbing of the PyPI stand-in: request and response types, warehouse's error answers,
and the request handler (routing is the owner's; fault injection as in the GitLab stand-in).

Warehouse answers errors with Pyramid ``HTTPException`` pages whose *reason phrase* carries the
message (``warehouse/forklift/utils.py`` ``_exc_with_message``): ``HTTP/1.1 400 File already
exists (…)``. twine and pip print that phrase, so it is modelled exactly; the body follows
Pyramid's default templates (``pyramid/httpexceptions.py``), chosen by ``Accept``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import struct
import tempfile
import threading
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import NamedTuple, Protocol
from urllib.parse import parse_qsl, urlsplit

from hatch_sigstore.sandbox._gitlab_body import BodyError, BodyReader
from hatch_sigstore.sandbox._gitlab_faults import DEFAULT_STORE_DELAY, Fault, FaultInjector
from hatch_sigstore.sandbox._pypi_store import Store

__all__ = [
    "HTTPError",
    "Request",
    "RequestRecord",
    "Response",
    "json_response",
    "pyramid_response",
]


class Owner(Protocol):
    """What the handler needs of the index that owns its server (``Owner``), named here so
    this module does not import the index back."""

    faults: FaultInjector
    store: Store
    _stopping: threading.Event

    def _busy(self, delta: int) -> None: ...

    def _record(self, record: RequestRecord, auth: str, fault: Fault | None) -> None: ...

    def _route(self, req: Request) -> Response: ...


# (title, explanation) of the Pyramid HTTPException classes warehouse raises
_PYRAMID = {
    200: ("OK", ""),
    308: ("Permanent Redirect", "The resource has been moved to"),
    400: (
        "Bad Request",
        "The server could not comply with the request since it is either malformed or "
        "otherwise incorrect.",
    ),
    403: ("Forbidden", "Access was denied to this resource."),
    404: ("Not Found", "The resource could not be found."),
    405: ("Method Not Allowed", "The method is not allowed for this resource."),
    406: ("Not Acceptable", "The server could not accept the request."),
    410: ("Gone", "This resource is no longer available.  No forwarding address is given."),
    422: ("Unprocessable Entity", "Unable to process the contained instructions"),
    429: (
        "Too Many Requests",
        "The action could not be performed because there were too many requests by the client.",
    ),
    500: (
        "Internal Server Error",
        "The server has either erred or is incapable of performing the requested operation.",
    ),
}
DRAIN_LIMIT = 64 << 20


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: BodyReader
    auth: str = "-"  # for the log: anonymous | user | oidc | invalid


@dataclass
class Response:
    status: int
    reason: str | None = None  # None: the standard phrase
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: Path | None = None  # streamed from disk instead of ``body``


class RequestRecord(NamedTuple):
    """``(method, path, status)``; status 0 = no answer (reset)."""

    method: str
    path: str
    status: int


class HTTPError(Exception):
    """Ends a request with a Pyramid HTTPException; ``with_reason`` puts ``detail`` in the
    status line as ``_exc_with_message`` does."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        with_reason: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail
        self.with_reason = with_reason
        self.headers = headers or {}


def status_phrase(message: str) -> str:
    """``_exc_with_message``'s reason phrase: ISO-8859-1 with ``?`` for the rest (and no line
    breaks, which would end the status line)."""
    text = message.encode("iso-8859-1", "replace").decode("iso-8859-1")
    return text.replace("\r", " ").replace("\n", " ")


def _accepts(accept: str, offer: str) -> float:
    """The quality the ``Accept`` header gives ``offer`` (most specific range wins)."""
    best: tuple[int, float] = (-1, 0.0)
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";")]
        mtype = parts[0].lower()
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                with contextlib.suppress(ValueError):
                    q = float(value)
        if mtype == offer:
            specificity = 2
        elif mtype.endswith("/*") and offer.startswith(mtype[:-1]):
            specificity = 1
        elif mtype == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best[0]:
            best = (specificity, q)
    return best[1]


def negotiate(accept: str | None, offers: list[str]) -> list[str]:
    """WebOb's ``acceptable_offers``: the offers with q > 0, best first, ties in offer
    order. No (or an empty) ``Accept`` header accepts every offer."""
    if not accept or not accept.strip():
        return list(offers)
    scored = [(o, _accepts(accept, o)) for o in offers]
    ranked = sorted((s for s in scored if s[1] > 0), key=lambda s: -s[1])
    return [o for o, _ in ranked]


def pyramid_response(
    status: int,
    detail: str = "",
    *,
    accept: str | None,
    reason: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A Pyramid HTTPException's default page (``HTTPException.prepare``)."""
    title, explanation = _PYRAMID.get(status, ("Error", ""))
    status_line = f"{status} {reason if reason is not None else title}"
    # no Accept header: WebOb reads "" (no acceptable type), so the plain-text page
    offers = negotiate(accept, ["text/html", "application/json"]) if accept else []
    match = offers[0] if offers else "text/plain"
    if match == "text/html":
        import html

        body = f"{html.escape(explanation)}<br/><br/>\n{html.escape(detail)}\n\n"
        page = (
            f"<html>\n <head>\n  <title>{status_line}</title>\n </head>\n <body>\n"
            f"  <h1>{status_line}</h1>\n  {body}\n </body>\n</html>"
        ).encode()
        ctype = "text/html; charset=UTF-8"
    elif match == "application/json":
        body = f"{explanation}\n\n\n{detail}\n\n"
        page = json.dumps({"message": body, "code": status_line, "title": title}).encode()
        ctype = "application/json"
    else:
        body = f"{explanation}\n\n\n{detail}\n\n"
        page = f"{status_line}\n\n{body}".encode()
        ctype = "text/plain; charset=UTF-8"
    return Response(status, reason, {"Content-Type": ctype, **(headers or {})}, page)


def json_response(
    status: int, payload: object, *, headers: dict[str, str] | None = None, newline: bool = False
) -> Response:
    """Pyramid's ``json`` renderer (``json-with-newline`` adds a final newline)."""
    body = json.dumps(payload).encode() + (b"\n" if newline else b"")
    return Response(status, None, {"Content-Type": "application/json", **(headers or {})}, body)


class Handler(BaseHTTPRequestHandler):
    """Reads one request, applies the planned fault, asks ``owner._route``, answers."""

    protocol_version = "HTTP/1.1"
    server_version = "hatch-sigstore-pypi-sandbox"
    sys_version = ""
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass  # the index keeps its own log, without credentials

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        index: Owner = self.server.owner  # type: ignore[attr-defined]
        index._busy(+1)
        try:
            self._handle(index)
        finally:
            index._busy(-1)

    def _handle(self, index: Owner) -> None:
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        try:
            length = None if chunked else int(headers.get("content-length", "0") or 0)
        except ValueError:
            length = 0
        reader = BodyReader(self.rfile, length=length, chunked=chunked)
        req = Request(
            self.command,
            self.path,
            split.path,
            dict(parse_qsl(split.query, keep_blank_values=True)),
            headers,
            reader,
        )
        latency, fault = index.faults.pick(self.command, split.path)
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                index._record(RequestRecord(self.command, split.path, status), req.auth, fault)

        if latency:
            index._stopping.wait(latency)
        try:
            if fault is not None and fault.kind == "reset":
                self._reset(reader, fault, record)
                return
            if fault is not None and fault.kind == "store_after_502":
                self._late(index, req, fault, record)
                return
            if fault is not None and fault.kind == "status":
                status, fault_headers, body = fault.response()
                response = Response(status, None, fault_headers, body)
            else:
                response = index._route(req)
                if fault is not None and fault.kind == "stored_then_502":
                    status, fault_headers, body = fault.response()
                    response = Response(status, None, fault_headers, body)
            if not reader.done and not reader.drain(DRAIN_LIMIT):
                self.close_connection = True
                response.headers["Connection"] = "close"
            record(response.status)
            self._send(response)
        except (BodyError, ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away mid-request
        finally:
            record(0)

    def _late(self, index: Owner, req: Request, fault: Fault, record: object) -> None:
        """``store_after_502``: take the whole body, answer 502 and close (a proxy that gave
        up), then handle the request for real ``fault.seconds`` later, the answer going
        nowhere: warehouse finishing an upload the client saw fail."""
        spool = tempfile.TemporaryFile(dir=index.store.spool_dir)  # noqa: SIM115
        size = 0
        while not req.body.done:
            data = req.body.read()
            if not data:
                break
            spool.write(data)
            size += len(data)
        spool.seek(0)
        status, headers, body = fault.response()
        headers["Connection"] = "close"
        self.close_connection = True
        record(status)  # type: ignore[operator]
        with contextlib.suppress(OSError):
            self._send(Response(status, None, headers, body))
            self.connection.shutdown(socket.SHUT_WR)
        late = replace(req, body=BodyReader(spool, length=size, chunked=False))

        def finish() -> None:
            with spool:
                delay = fault.seconds if fault.seconds > 0 else DEFAULT_STORE_DELAY
                if not index._stopping.wait(delay):
                    index._route(late)
            index._busy(-1)

        index._busy(+1)
        threading.Thread(target=finish, name="pypi-late-store", daemon=True).start()

    def _reset(self, reader: BodyReader, fault: Fault, record: object) -> None:
        """Read part of the body (``after_bytes``, default half), then abort with RST."""
        length = reader.length
        after = fault.after_bytes if fault.after_bytes is not None else (length or 0) // 2
        if length is not None:
            after = min(after, max(length - 1, 0))
        with contextlib.suppress(BodyError, OSError):
            while reader.consumed < after and reader.read(min(1 << 16, after - reader.consumed)):
                pass
        self.close_connection = True
        record(0)  # type: ignore[operator]
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _send(self, response: Response) -> None:
        if response.reason is not None:
            self.send_response(response.status, status_phrase(response.reason))
        else:
            self.send_response(response.status)
        fh = response.file.open("rb") if response.file is not None else None
        size = response.file.stat().st_size if response.file is not None else len(response.body)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            if fh is not None:
                fh.close()
            return
        if fh is None:
            self.wfile.write(response.body)
            return
        with fh:
            shutil.copyfileobj(fh, self.wfile, 1 << 20)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
