"""RegistryClient against a tiny hostile server defined here: redirects, endless and trickling
bodies, login pages, garbage answers, refused connections, TLS to a plain server. Downloads
must be safe (size cap, deadline, hash check, atomic placement) and leave nothing behind."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hatch_sigstore.errors import RegistryError
from hatch_sigstore.gitlab import Credentials, IndexFile, RegistryClient, RetryPolicy

if TYPE_CHECKING:
    pass


# -- downloads from a hostile server --------------------------------------------------------


class Hostile:
    """A loopback server whose routes are plain functions writing raw responses."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = outer.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with contextlib.suppress(OSError):  # the client hung up: expected here
                    route(self)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://{host}:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    yield server
    server.close()


def _send(
    status: int, body: bytes, headers: dict[str, str] | None = None
) -> Callable[[BaseHTTPRequestHandler], None]:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return route


def _redirect(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
    return _send(302, b"", {"Location": location})


def _endless(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", str(10**12))
    h.end_headers()
    while True:
        h.wfile.write(b"x" * 65536)
        time.sleep(0.01)


def _trickle(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    while True:
        h.wfile.write(b"1\r\nx\r\n")
        h.wfile.flush()
        time.sleep(0.05)


def _client_for(server: Hostile, **kwargs: Any) -> RegistryClient:
    kwargs.setdefault("retry_policy", RetryPolicy(retries=1, base_delay=0.01))
    creds = Credentials("personal", "glpat-hostilehostilehostile")
    return RegistryClient(server.url + "/api/v4", "1", creds, **kwargs)


GOOD = b"good file bytes"
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


def test_download_follows_same_host_redirect_with_credentials(
    hostile: Hostile, tmp_path: Path
) -> None:
    hostile.routes["/a.whl"] = _redirect("/b.whl")
    hostile.routes["/b.whl"] = _send(200, GOOD)
    with _client_for(hostile) as client:
        got = client.download(
            hostile.url + "/a.whl", tmp_path / "a.whl", max_bytes=100, sha256=GOOD_SHA
        )
    assert got.path.read_bytes() == GOOD
    assert got.sha256 == GOOD_SHA
    assert all("authorization" in headers for _, headers in hostile.seen)


def test_redirect_to_another_origin_is_followed_without_credentials(
    hostile: Hostile, tmp_path: Path
) -> None:
    """GitLab with object storage: a redirect to another origin (here another loopback port:
    the API URL is plain http on loopback, a sandbox) is followed, and nothing that says who
    we are goes there. https targets: tests/_net/test_redirects.py."""
    other = Hostile("127.0.0.1")
    try:
        other.routes["/b.whl"] = _send(200, GOOD)
        hostile.routes["/a.whl"] = _redirect(other.url + "/b.whl")
        with _client_for(hostile) as client:
            got = client.download(
                hostile.url + "/a.whl", tmp_path / "a.whl", max_bytes=100, sha256=GOOD_SHA
            )
        assert got.path.read_bytes() == GOOD
        assert [path for path, _ in other.seen] == ["/b.whl"]
        headers = other.seen[0][1]
        assert not {"authorization", "private-token", "job-token", "deploy-token", "cookie"} & set(
            headers
        )
        assert "authorization" in hostile.seen[0][1]  # GitLab itself got the token
    finally:
        other.close()
    assert list(tmp_path.iterdir()) == [tmp_path / "a.whl"]


@pytest.mark.parametrize(
    ("route", "kwargs", "match"),
    [
        (_send(200, b"x" * 5000), {"max_bytes": 1000}, "limit|more than"),
        (_send(200, b"x" * 5000, {"Content-Length": "5000"}), {"max_bytes": 1000}, "announces"),
        (_endless, {"max_bytes": 1_000_000}, "more than"),
        (_trickle, {"max_bytes": 10**9, "deadline": 0.5}, "time limit"),
        (_send(200, b"tampered"), {"max_bytes": 100, "sha256": GOOD_SHA}, "expected"),
        (_redirect("file:///etc/passwd"), {"max_bytes": 100}, "a file URL"),
        (_redirect("/loop.whl"), {"max_bytes": 100}, "redirect loop"),
        (
            _send(404, b'{"message":"404 Not found"}', {"Content-Type": "application/json"}),
            {"max_bytes": 100},
            "404 Not found",
        ),
        (
            _send(403, b"<html>login</html>", {"Content-Type": "text/html"}),
            {"max_bytes": 100},
            "HTML page",
        ),
    ],
)
def test_hostile_downloads_leave_nothing_behind(
    hostile: Hostile,
    tmp_path: Path,
    route: Callable[[BaseHTTPRequestHandler], None],
    kwargs: dict[str, Any],
    match: str,
) -> None:
    hostile.routes["/loop.whl"] = route
    dest = tmp_path / "f.whl"
    started = time.monotonic()
    with (
        _client_for(hostile, timeout=5) as client,
        pytest.raises(RegistryError, match=match) as info,
    ):
        client.download(hostile.url + "/loop.whl", dest, **kwargs)
    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []
    assert "glpat-hostile" not in str(info.value)


def test_download_retries_transient_5xx(hostile: Hostile, tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(h: BaseHTTPRequestHandler) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            _send(503, b"busy", {"Retry-After": "0"})(h)
        else:
            _send(200, GOOD)(h)

    hostile.routes["/f.whl"] = flaky
    with _client_for(hostile, sleep=lambda s: None) as client:
        got = client.download(hostile.url + "/f.whl", tmp_path / "f.whl", max_bytes=100)
    assert got.path.read_bytes() == GOOD
    assert calls["n"] == 2


def test_download_from_other_origin_refused(hostile: Hostile, tmp_path: Path) -> None:
    with _client_for(hostile) as client, pytest.raises(RegistryError, match="not on the registry"):
        client.download("http://localhost:1/x.whl", tmp_path / "x.whl", max_bytes=10)
    entry = IndexFile("x.whl", "http://localhost:1/x.whl", GOOD_SHA)
    with _client_for(hostile) as client, pytest.raises(RegistryError, match="not on the registry"):
        client.pypi_download(entry, tmp_path, max_bytes=10)


def test_index_answering_json_or_garbage_is_not_gitlab(hostile: Hostile) -> None:
    page = "/api/v4/projects/1/packages/pypi/simple/x"
    hostile.routes[page] = _send(200, b'{"a": 1}', {"Content-Type": "application/json"})
    with _client_for(hostile) as client, pytest.raises(RegistryError, match="API v4"):
        client.pypi_simple_files("x")
    hostile.routes[page] = _send(
        200,
        b'<a href="https://evil.example.com/x-1.whl#sha256=' + b"a" * 64 + b'">x</a>',
        {"Content-Type": "text/html"},
    )
    with _client_for(hostile) as client, pytest.raises(RegistryError, match="another host"):
        client.pypi_simple_files("x")


def test_generic_upload_reply_garbage_is_not_gitlab(hostile: Hostile, tmp_path: Path) -> None:
    # The pre-check GET gets a non-JSON 404: the URL is not GitLab's API.
    path = tmp_path / "f.sig"
    path.write_bytes(GOOD)
    with _client_for(hostile) as client, pytest.raises(RegistryError, match="API v4"):
        client.generic_upload("p", "1", path, sha256=GOOD_SHA)


LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Sign in - GitLab</title></head></html>"
GENERIC_PATH = "/api/v4/projects/1/packages/generic/p/1/f.sig"


@pytest.mark.parametrize(
    "routes",
    [
        pytest.param(
            {GENERIC_PATH: _send(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})},
            id="200-login-page",
        ),
        pytest.param(
            {
                GENERIC_PATH: _redirect("/users/sign_in"),
                "/users/sign_in": _send(200, LOGIN_PAGE, {"Content-Type": "text/html"}),
            },
            id="302-to-login-page",
        ),
    ],
)
def test_generic_login_page_is_not_an_existing_file(
    hostile: Hostile, tmp_path: Path, routes: dict[str, Callable[[BaseHTTPRequestHandler], None]]
) -> None:
    # A login page answering 200 must not be hashed and reported as "already exists with
    # different contents": the URL is not GitLab's API.
    hostile.routes.update(routes)
    path = tmp_path / "f.sig"
    path.write_bytes(GOOD)
    with _client_for(hostile) as client:
        with pytest.raises(RegistryError) as info:
            client.generic_upload("p", "1", path, sha256=GOOD_SHA)
        with pytest.raises(RegistryError, match="HTML page"):
            client.generic_file_sha256("p", "1", "f.sig")
        with pytest.raises(RegistryError, match="HTML page"):
            client.generic_download("p", "1", "f.sig", tmp_path / "out.sig", max_bytes=10**6)
    text = str(info.value)
    assert "different contents" not in text
    assert "HTML page" in text
    assert "not a GitLab API v4 URL" in text
    assert "glpat-hostile" not in text
    assert not (tmp_path / "out.sig").exists()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            {"Content-Type": "text/html", "X-Checksum-SHA256": GOOD_SHA}, id="with-checksum"
        ),
        pytest.param(
            {"Content-Type": "text/html", "Content-Disposition": 'attachment; filename="f.sig"'},
            id="attachment",
        ),
    ],
)
def test_generic_html_file_served_by_gitlab_is_a_file(
    hostile: Hostile, headers: dict[str, str]
) -> None:
    # newer GitLab may guess a content type, but then sends the checksum and/or an attachment
    hostile.routes[GENERIC_PATH] = _send(200, GOOD, headers)
    with _client_for(hostile) as client:
        assert client.generic_file_sha256("p", "1", "f.sig") == GOOD_SHA


def test_connection_refused_is_reported_after_retries(tmp_path: Path) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    sleeps: list[float] = []
    client = RegistryClient(
        f"http://127.0.0.1:{port}/api/v4",
        "1",
        Credentials("job", "glcbt-refusedrefused"),
        retry_policy=RetryPolicy(retries=2, base_delay=0.01),
        sleep=sleeps.append,
    )
    with client, pytest.raises(RegistryError, match="after 3 attempt") as info:
        client.pypi_simple_files("x")
    assert "ConnectError" in str(info.value)
    assert len(sleeps) == 2


def test_tls_failures_are_not_retried(hostile: Hostile) -> None:
    sleeps: list[float] = []
    url = hostile.url.replace("http://", "https://") + "/api/v4"  # TLS to a plain-HTTP server
    client = RegistryClient(url, "1", Credentials.anonymous(), sleep=sleeps.append)
    with client, pytest.raises(RegistryError, match="after 1 attempt"):
        client.pypi_simple_files("x")
    assert sleeps == []
