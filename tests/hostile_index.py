"""A tiny hostile (or merely odd) index on loopback: routes by method and path, raw answers.

For the PyPI client's and the index download's tests: echoed tokens, redirects, web pages where
JSON belongs, an HTML-only index whose files live on another host.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[BaseHTTPRequestHandler], None]


class Hostile:
    """A loopback server whose routes (method, path) write raw answers."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.seen.append((self.command, self.path, headers))
                route = outer.routes.get((self.command, self.path.split("?")[0]))
                if route is None:
                    route = answer(404, b"")
                with contextlib.suppress(OSError):
                    route(self)

            do_GET = _any  # noqa: N815 - http.server's names
            do_POST = _any  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def answer(
    status: int, body: bytes, headers: dict[str, str] | None = None, reason: str | None = None
) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status, reason)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return route
