"""The index's HTTP server: routes, content negotiation, files from the cache.

stdlib ``ThreadingHTTPServer`` with HTTP/1.1 keep-alive: one thread per connection (pip opens
a handful, uv a few dozen), idle connections closed after ``IDLE_TIMEOUT``; verification runs in
the catalog's bounded worker pool, not in these threads. Routes are matched strictly; a path
that is not exactly one of them (``..``, encoded slashes, odd names) gets 404, never a file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from hatch_sigstore.__about__ import __version__
from hatch_sigstore._names import is_safe_filename
from hatch_sigstore._urls import is_loopback_host
from hatch_sigstore.errors import redact
from hatch_sigstore.index._cache import Cache
from hatch_sigstore.index._catalog import Catalog, UpstreamError
from hatch_sigstore.index._names import valid_project
from hatch_sigstore.index._simple import (
    V1_JSON,
    choose_content_type,
    content_type_header,
    render_index,
    render_project,
)
from hatch_sigstore.index._status import Status
from hatch_sigstore.index.config import IndexConfig

__all__ = ["IndexServer", "default_cache_dir"]

LOG = logging.getLogger("hatch_sigstore.index")
IDLE_TIMEOUT = 120.0
_SHA = frozenset("0123456789abcdef")


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if env is None else env
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hatch-sigstore" / "index"


class _Response:
    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
        file: Path | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = {"Content-Type": content_type, **(headers or {})}
        self.file = file


def _text(status: int, message: str, **headers: str) -> _Response:
    return _Response(status, (message.rstrip() + "\n").encode(), headers=headers)


def _redirect(location: str, status: int = 301) -> _Response:
    return _text(status, f"moved to {location}", Location=location)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    index: IndexServer

    def handle_error(self, request: object, client_address: object) -> None:
        LOG.debug("connection error from %s", client_address, exc_info=True)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"hatch-sigstore-index/{__version__}"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # headers and body leave in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive response
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def _not_allowed(self) -> None:
        self.close_connection = True  # the body, if any, is not read
        self._send(_text(405, "the index is read-only", Allow="GET, HEAD"), head=False)

    def do_POST(self) -> None:
        self._not_allowed()

    def do_PUT(self) -> None:
        self._not_allowed()

    def do_DELETE(self) -> None:
        self._not_allowed()

    def _handle(self, *, head: bool) -> None:
        if self.headers.get("Content-Length", "0") not in ("", "0"):
            self.close_connection = True  # a GET with a body: not read, so not kept alive
        index = self.server.index
        try:
            response = index.route(urlsplit(self.path).path, self.headers.get("Accept"))
        except UpstreamError as exc:
            message = redact(str(exc), index.catalog.secrets)
            response = _text(502, f"the upstream failed, nothing can be listed: {message}")
        except Exception:
            LOG.exception("internal error serving %r", self.path[:200])
            response = _text(500, "internal error; see the index's log")
        self._send(response, head=head)

    def _send(self, response: _Response, *, head: bool) -> None:
        stream = response.file.open("rb") if response.file is not None else None
        try:
            size = os.fstat(stream.fileno()).st_size if stream else len(response.body)
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if head:
                return
            if stream is not None:
                shutil.copyfileobj(stream, self.wfile, 1 << 20)
            else:
                self.wfile.write(response.body)
        finally:
            if stream is not None:
                stream.close()


class IndexServer:
    """A verifying simple index on ``host:port`` (0: any free port).

    ``start()`` serves in a background thread, ``serve_forever()`` in the calling one; usable as
    a context manager. ``url`` is the simple-index URL to give pip and uv.
    """

    def __init__(
        self,
        config: IndexConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cache_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if env is None else env
        self.config = config
        config.trust.verifier(offline=True)  # a broken trust config fails now, not per file
        self.cache = Cache(cache_dir or config.cache_dir or default_cache_dir(environ))
        self.status = Status()
        self.catalog = Catalog(config, self.cache, self.status, environ)
        self.status.add_secrets(self.catalog.secrets)
        server_class = _HTTPServer6 if ":" in host else _HTTPServer
        try:
            self._httpd = server_class((host, port), _Handler)
        except OSError as exc:
            self.catalog.close()
            from hatch_sigstore.errors import ConfigError

            raise ConfigError(
                f"Cannot listen on {host} port {port}: {exc.strerror or exc}.",
                remediation="Pick another --port (0 takes any free one) or --host.",
            ) from None
        self._httpd.index = self
        self._thread: threading.Thread | None = None
        if not is_loopback_host(host):
            LOG.warning(
                "listening on %s: anyone who can reach it can download what the upstreams "
                "serve with the index's credentials; prefer 127.0.0.1",
                host,
            )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        if ":" in text:
            text = f"[{text}]"
        return f"http://{text}:{port}/simple/"

    def start(self) -> IndexServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="hatch-sigstore-index",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """Stop ``serve_forever`` (from another thread or a signal handler's thread)."""
        self._httpd.shutdown()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()
        self.catalog.close()

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- routes -------------------------------------------------------------------------------

    def route(self, path: str, accept: str | None) -> _Response:
        parts = path.split("/")[1:]
        if path in ("", "/"):
            return _redirect("/simple/", 302)
        if parts[0] == "simple":
            return self._simple(parts[1:], accept)
        if parts[0] in ("files", "provenance") and len(parts) == 3:
            return self._file(parts[0], unquote(parts[1]), unquote(parts[2]))
        if parts == ["-", "status"]:
            if choose_json(accept):
                return _Response(200, self.status.render_json(), "application/json")
            return _Response(200, self.status.render_html(), "text/html; charset=utf-8")
        if parts == ["-", "status.json"]:
            return _Response(200, self.status.render_json(), "application/json")
        return _text(404, "not found")

    def _simple(self, rest: list[str], accept: str | None) -> _Response:
        content_type = choose_content_type(accept)
        headers = {"Vary": "Accept", "Cache-Control": "max-age=0, must-revalidate"}
        if not rest:
            return _redirect("/simple/")
        if rest == [""]:
            names = {r.pattern for r in self.config.rules if not r.is_glob} | self.catalog.seen
            body = render_index(names, content_type)
            return _Response(200, body, content_type_header(content_type), headers)
        raw = unquote(rest[0])
        if len(rest) > 2 or (len(rest) == 2 and rest[1] != "") or len(raw) > 200:
            return _text(404, "not found")
        name = canonicalize_name(raw)
        if not valid_project(name) or not raw.isascii() or not raw.isprintable():
            return _text(404, "not a project name")
        if name != rest[0] or len(rest) == 1:
            return _redirect(f"/simple/{name}/")  # as PyPI: one spelling, with the slash
        page = self.catalog.page(name)
        if page is None:
            return _text(404, f"{name}: not served by this index (see /-/status)", **headers)
        sizes = {}
        for served in page.files:
            cached = self.cache.file_path(served.sha256)
            with contextlib.suppress(OSError):
                sizes[served.sha256] = cached.stat().st_size
        body = render_project(page, content_type, sizes)
        return _Response(200, body, content_type_header(content_type), headers)

    def _file(self, kind: str, sha256: str, filename: str) -> _Response:
        if len(sha256) != 64 or not set(sha256) <= _SHA or not is_safe_filename(filename):
            return _text(404, "not found")
        if kind == "provenance":
            found = self.catalog.provenance(sha256, filename)
            if found is None:
                return _text(404, "no provenance for this file")
            return _Response(200, content_type="application/json", file=found)
        path = self.catalog.verified_file(sha256, filename)
        if path is None:
            path = self.catalog.passed_file(sha256, filename)
        if path is None:
            return _text(404, "not a file this index verified or passes through")
        headers = {"Cache-Control": "public, max-age=31536000, immutable"}
        return _Response(200, content_type="application/octet-stream", headers=headers, file=path)


def choose_json(accept: str | None) -> bool:
    """``/-/status`` as JSON when the first media range asked for is JSON."""
    first = (accept or "").split(",")[0].split(";")[0].strip().lower()
    return first in ("application/json", V1_JSON)
