"""A threaded HTTP server on loopback, run in a background thread: the base of every stand-in."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TypeVar

__all__ = ["LoopbackServer", "QuietHandler", "Running"]

_R = TypeVar("_R", bound="Running")


class Running:
    """Something started and stopped: usable as a context manager (``with X() as x:``)."""

    def start(self: _R) -> _R:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _R) -> _R:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no stderr log, every method to :meth:`dispatch`. For stand-ins
    that keep their own request log."""

    protocol_version = "HTTP/1.1"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle + delayed ACK
        # add ~40 ms to every small response
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the owner keeps its own log, without credentials

    def dispatch(self) -> None:
        raise NotImplementedError

    def do_GET(self) -> None:
        self.dispatch()

    def do_HEAD(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def do_PUT(self) -> None:
        self.dispatch()

    def do_DELETE(self) -> None:
        self.dispatch()

    def do_PATCH(self) -> None:
        self.dispatch()

    def do_OPTIONS(self) -> None:
        self.dispatch()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that goes away (reset, broken pipe, timeout) is routine for a test server:
        no traceback on stderr. Anything else is a bug: the owner's ``_server_error(text)``
        keeps it (and shows it), else socketserver prints it as usual."""
        exc = sys.exc_info()[1]
        owner = getattr(self, "owner", None)
        if isinstance(exc, (ConnectionError, TimeoutError)):
            hook = getattr(owner, "_client_disconnected", None)
            if hook is not None:
                hook()
            return
        hook = getattr(owner, "_server_error", None)
        if hook is None:
            super().handle_error(request, client_address)  # type: ignore[arg-type]
            return
        hook(traceback.format_exc())


class LoopbackServer(Running):
    """Serve ``handler`` on ``host:port`` (port 0: any free one) until :meth:`stop`.

    Usable as a context manager. The handler class may read ``self.server.owner`` to reach the
    object that owns the service state.
    """

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        owner: object,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._httpd = _Server((host, port), handler)
        self._httpd.owner = owner  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else host
        return f"http://{host_text}:{port}"

    def start(self) -> LoopbackServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"loopback-{self.url}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread (the ``sandbox serve`` process) until interrupted."""
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._httpd.server_close()
