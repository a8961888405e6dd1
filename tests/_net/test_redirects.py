"""One redirect policy for both registry clients (``hatch_sigstore._net._redirects``), against
small servers defined here: a registry over plain http on loopback (the sandbox case) or over
TLS, and an object store or file host over TLS with a test CA that only the client's CA setting
trusts. Every file GET of the GitLab client and of the PyPI client goes through the same rules:
https targets only (plain http only from a loopback http registry to loopback), a few hops, no
loops, no cookies, no credential beyond the registry's origin, and the bytes still checked.
The rules both clients share are tested on both (``registry``); GitLab's object-storage
answers on the GitLab client."""

from __future__ import annotations

import contextlib
import hashlib
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from hatch_sigstore.errors import ConfigError, RegistryError
from hatch_sigstore.gitlab import Credentials, RegistryClient, RetryPolicy
from hatch_sigstore.pypi import IndexClient, IndexURLs

Route = Callable[[BaseHTTPRequestHandler], None]
CREDENTIAL_HEADERS = {"authorization", "job-token", "private-token", "deploy-token", "cookie"}
DATA = b"the bytes of a signature file" * 10
SHA = hashlib.sha256(DATA).hexdigest()
TOKEN = "glpat-redirect0secret0value0123"
GENERIC = "/api/v4/projects/1/packages/generic/pkg/1.0/pkg-1.0.tar.gz.sigstore.json"


def generic(filename: str) -> str:
    return f"/api/v4/projects/1/packages/generic/pkg/1.0/{filename}"


class Server:
    """A loopback server whose routes write raw answers; TLS with ``cert`` (a test CA's)."""

    def __init__(self, cert: trustme.LeafCert | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.puts: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_PUT(self) -> None:
                outer.puts.append(self.path)
                send(500, b"", "text/plain")(self)

            def do_GET(self) -> None:
                outer.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = outer.routes.get(self.path.split("?")[0])
                with contextlib.suppress(OSError):
                    if route is None:
                        send(404, b'{"message":"404 Not found"}', "application/json")(self)
                    else:
                        route(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(context)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        # "localhost" for TLS: the name the test certificate is issued for
        host = "localhost" if cert is not None else "127.0.0.1"
        self.url = f"{scheme}://{host}:{self.server.server_address[1]}"

    def paths(self) -> list[str]:
        return [path.split("?")[0] for path, _ in self.seen]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def send(
    status: int, body: bytes, ctype: str = "application/octet-stream", **headers: str
) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            h.send_header(key.replace("_", "-"), value)
        h.end_headers()
        h.wfile.write(body)

    return route


def redirect(location: str, status: int = 302) -> Route:
    body = f"This resource has been moved temporarily to {location}.".encode()
    return send(status, body, "text/plain", Location=location)


def s3_error(status: int, code: str, message: str) -> Route:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return send(status, xml.encode(), "application/xml")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trust(ca: trustme.CA) -> ssl.SSLContext:
    """The client's CA setting: the test CA and nothing else (no check is weakened)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def api() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


@pytest.fixture
def store(ca: trustme.CA) -> Iterator[Server]:
    server = Server(ca.issue_cert("localhost", "127.0.0.1"))
    yield server
    server.close()


@pytest.fixture
def tls_api(ca: trustme.CA) -> Iterator[Server]:
    server = Server(ca.issue_cert("localhost", "127.0.0.1"))
    yield server
    server.close()


CREDENTIALS = {
    "job": Credentials("job", "glcbt-redirect0secret0value0123"),
    "personal": Credentials("personal", TOKEN),
    "deploy": Credentials("deploy", "gldt-redirect0secret0value0123", username="gitlab+deploy-1"),
}


def client(server: Server, trust: ssl.SSLContext | None = None, **kwargs: Any) -> RegistryClient:
    kwargs.setdefault("retry_policy", FAST)
    kwargs.setdefault("credentials", CREDENTIALS["personal"])
    creds = kwargs.pop("credentials")
    return RegistryClient(server.url + "/api/v4", "1", creds, verify=trust or True, **kwargs)


def no_credentials(server: Server) -> bool:
    return all(not (CREDENTIAL_HEADERS & set(headers)) for _, headers in server.seen)


FAST = RetryPolicy(retries=2, base_delay=0.01, max_delay=0.02)
PYPI_TOKEN = "pypi-AgEIcHlwaS5vcmcredirect0secret0value"
# the registry clients: GitLab's with each kind of token, and the PyPI client reading a private
# index with a token (Basic credentials), all following redirects by the same rules
REGISTRIES = [*(f"gitlab-{kind}" for kind in sorted(CREDENTIALS)), "pypi"]


class Registry:
    """One registry client of ``kind`` against ``server``: ``fetch`` downloads a path of it."""

    def __init__(self, kind: str, server: Server, trust: ssl.SSLContext | None) -> None:
        self.kind = kind
        self.gitlab: RegistryClient | None = None
        self.pypi: IndexClient | None = None
        if kind == "pypi":
            urls = IndexURLs.from_simple_url(f"{server.url}/simple/", "--index-url")
            self.pypi = IndexClient(
                urls, retry_policy=FAST, verify=trust or True, read_auth=("__token__", PYPI_TOKEN)
            )
        else:
            credentials = CREDENTIALS[kind.removeprefix("gitlab-")]
            self.gitlab = client(server, trust, credentials=credentials)
        self.url = server.url

    def fetch(self, path: str, dest: Path) -> Path:
        if self.pypi is not None:
            return self.pypi.download(self.url + path, dest, max_bytes=10_000, deadline=30).path
        assert self.gitlab is not None
        return self.gitlab.download(self.url + path, dest, max_bytes=10_000, route="generic").path

    def close(self) -> None:
        for each in (self.gitlab, self.pypi):
            if each is not None:
                each.close()


@contextlib.contextmanager
def registry(kind: str, server: Server, trust: ssl.SSLContext | None = None) -> Iterator[Registry]:
    opened = Registry(kind, server, trust)
    try:
        yield opened
    finally:
        opened.close()


# -- followed ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", REGISTRIES)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_https_redirect_is_followed_without_credentials(
    api: Server, store: Server, trust: ssl.SSLContext, tmp_path: Path, kind: str, status: int
) -> None:
    signed = f"{store.url}/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab12"
    api.routes[GENERIC] = redirect(signed, status)
    store.routes["/bucket/key"] = send(200, DATA)
    with registry(kind, api, trust) as r:
        got = r.fetch(GENERIC, tmp_path / "pkg-1.0.tar.gz.sigstore.json")
    assert got.read_bytes() == DATA
    assert store.seen[0][0] == signed.removeprefix(store.url)  # the signed URL untouched
    assert no_credentials(store)
    assert CREDENTIAL_HEADERS & set(api.seen[0][1])  # the registry itself did get the token


def test_pypi_file_through_the_redirect(
    api: Server, store: Server, trust: ssl.SSLContext, tmp_path: Path
) -> None:
    files = f"/api/v4/projects/1/packages/pypi/files/{SHA}/pkg-1.0.tar.gz"
    api.routes[files] = redirect(f"{store.url}/bucket/pkg")
    store.routes["/bucket/pkg"] = send(200, DATA)
    with client(api, trust) as c:
        got = c.download(api.url + files, tmp_path / "pkg-1.0.tar.gz", max_bytes=10_000,
                         sha256=SHA)  # fmt: skip
    assert got.sha256 == SHA
    assert api.seen[0][1]["authorization"].startswith("Basic ")
    assert no_credentials(store)


def test_wrong_bytes_behind_a_redirect_are_refused(
    api: Server, store: Server, trust: ssl.SSLContext, tmp_path: Path
) -> None:
    """Following gives up nothing: the sha256 the caller knows still decides."""
    api.routes[GENERIC] = redirect(f"{store.url}/bucket/key")
    store.routes["/bucket/key"] = send(200, b"other bytes")
    with client(api, trust) as c, pytest.raises(RegistryError, match="was expected"):
        c.generic_download("pkg", "1.0", "pkg-1.0.tar.gz.sigstore.json", tmp_path,
                           max_bytes=10_000, sha256=SHA)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", REGISTRIES)
def test_credentials_never_come_back_along_the_chain(
    api: Server, store: Server, trust: ssl.SSLContext, tmp_path: Path, kind: str
) -> None:
    """A store that sends the request back to the registry does not get our token sent there
    on its say-so: once a chain left the registry, it carries no credential."""
    api.routes[GENERIC] = redirect(f"{store.url}/bucket/key")
    store.routes["/bucket/key"] = redirect(f"{api.url}/api/v4/elsewhere")
    api.routes["/api/v4/elsewhere"] = send(200, DATA)
    with registry(kind, api, trust) as r:
        r.fetch(GENERIC, tmp_path / "a.json")
    assert api.paths() == [GENERIC, "/api/v4/elsewhere"]
    assert CREDENTIAL_HEADERS & set(api.seen[0][1])
    assert not CREDENTIAL_HEADERS & set(api.seen[1][1])


@pytest.mark.parametrize("kind", REGISTRIES)
def test_cookies_are_never_kept_or_sent(
    api: Server, store: Server, trust: ssl.SSLContext, tmp_path: Path, kind: str
) -> None:
    location = f"{store.url}/bucket/key"
    api.routes[GENERIC] = lambda h: _with_cookie(h, location)
    store.routes["/bucket/key"] = send(200, DATA)
    with registry(kind, api, trust) as r:
        for _ in range(2):
            r.fetch(GENERIC, tmp_path / "a.json")
    assert all("cookie" not in headers for _, headers in api.seen + store.seen)


def _with_cookie(h: BaseHTTPRequestHandler, location: str) -> None:
    h.send_response(302)
    h.send_header("Location", location)
    h.send_header("Set-Cookie", "_gitlab_session=secret; Path=/")
    h.send_header("Content-Length", "0")
    h.end_headers()


@pytest.mark.parametrize("kind", REGISTRIES)
def test_five_hops_are_followed_six_are_not(
    api: Server, store: Server, trust: ssl.SSLContext, tmp_path: Path, kind: str
) -> None:
    api.routes[generic("a.json")] = api.routes[generic("b.json")] = redirect(f"{store.url}/hop/1")
    for n in range(1, 7):
        store.routes[f"/hop/{n}"] = redirect(f"{store.url}/hop/{n + 1}")
    store.routes["/hop/5"] = send(200, DATA)
    with registry(kind, api, trust) as r:  # the registry's hop, then four in the store: five
        assert r.fetch(generic("a.json"), tmp_path / "a.json").read_bytes() == DATA
        store.routes["/hop/5"] = redirect(f"{store.url}/hop/6")
        store.seen.clear()
        with pytest.raises(RegistryError, match="Too many redirects") as info:
            r.fetch(generic("b.json"), tmp_path / "b.json")
    assert "more than 5 hops" in str(info.value)
    assert store.paths() == [f"/hop/{n}" for n in range(1, 6)]  # the sixth never asked
    assert not (tmp_path / "b.json").exists()


@pytest.mark.parametrize("kind", REGISTRIES)
def test_a_redirect_loop_is_named(
    api: Server, store: Server, trust: ssl.SSLContext, tmp_path: Path, kind: str
) -> None:
    api.routes[generic("a.json")] = redirect(f"{store.url}/a")
    store.routes["/a"] = redirect(f"{store.url}/b")
    store.routes["/b"] = redirect(f"{store.url}/a")
    with registry(kind, api, trust) as r, pytest.raises(RegistryError, match="redirect loop") as i:
        r.fetch(generic("a.json"), tmp_path / "a.json")
    assert store.url in str(i.value)
    assert store.paths() == ["/a", "/b"]


# -- refused -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("http://storage.example.com/bucket/key", "plain http"),  # not loopback: never followed
        ("file:///etc/passwd", "a file URL"),
        ("ftp://127.0.0.1/key", "a ftp URL"),
        ("data:text/plain,hello", "not a usable URL"),  # httpx cannot even parse it
        ("javascript:alert(1)", "not a usable URL"),
        ("gopher://127.0.0.1:70/", "a gopher URL"),
        ("https://user:password@localhost/key", "credentials in it"),
    ],
)
@pytest.mark.parametrize("kind", REGISTRIES)
def test_refused_targets_are_never_contacted(
    api: Server, tmp_path: Path, target: str, why: str, kind: str
) -> None:
    api.routes[generic("a.json")] = redirect(target)
    with registry(kind, api) as r, pytest.raises(RegistryError, match=why) as info:
        r.fetch(generic("a.json"), tmp_path / "a.json")
    assert "refusing to follow" in str(info.value)
    assert "password" not in str(info.value)
    assert len(api.seen) == 1  # refused at once: not retried, nothing else asked
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", REGISTRIES)
def test_https_api_never_follows_plain_http(
    tls_api: Server, api: Server, trust: ssl.SSLContext, tmp_path: Path, kind: str
) -> None:
    """Plain http is followed only while the registry itself is plain http on loopback: from
    an https registry not even a loopback http target is."""
    api.routes["/bucket/key"] = send(200, DATA)
    tls_api.routes[generic("a.json")] = redirect(f"{api.url}/bucket/key")
    with registry(kind, tls_api, trust) as r, pytest.raises(RegistryError, match="plain http"):
        r.fetch(generic("a.json"), tmp_path / "a.json")
    assert api.seen == []


@pytest.mark.parametrize("kind", REGISTRIES)
def test_the_store_certificate_is_checked(
    api: Server, store: Server, tmp_path: Path, kind: str
) -> None:
    """Without the test CA the store's certificate is refused: nothing is weakened for
    redirects."""
    api.routes[generic("a.json")] = redirect(f"{store.url}/bucket/key")
    store.routes["/bucket/key"] = send(200, DATA)
    with registry(kind, api) as r, pytest.raises(RegistryError, match="CERTIFICATE_VERIFY_FAILED"):
        r.fetch(generic("a.json"), tmp_path / "a.json")


# -- what the store answers ----------------------------------------------------------------------


def test_an_expired_link_is_fetched_again(
    api: Server, store: Server, trust: ssl.SSLContext, tmp_path: Path
) -> None:
    """A link can expire between GitLab's answer and ours (a slow client, a clock off by
    minutes): the next attempt asks GitLab for a fresh one."""
    answers = [s3_error(403, "AccessDenied", "Request has expired"), send(200, DATA)]
    api.routes[generic("a.json")] = redirect(f"{store.url}/bucket/key")
    store.routes["/bucket/key"] = lambda h: answers.pop(0)(h)  # noqa: PLW0108 (per call)
    with client(api, trust, sleep=lambda _s: None) as c:
        c.generic_download("pkg", "1.0", "a.json", tmp_path, max_bytes=10_000, sha256=SHA)
    assert api.paths() == [generic("a.json")] * 2


@pytest.mark.parametrize(
    ("code", "message", "status", "hint"),
    [
        ("NoSuchKey", "The specified key does not exist.", 404, "does not hold it"),
        ("SignatureDoesNotMatch", "The request signature we calculated", 403, "clock"),
        ("InvalidArgument", "Only one auth mechanism allowed", 400, "proxy"),
    ],
)
def test_store_refusals_are_explained_and_never_read_as_absent(
    api: Server,
    store: Server,
    trust: ssl.SSLContext,
    tmp_path: Path,
    code: str,
    message: str,
    status: int,
    hint: str,
) -> None:
    """A store's 404 is not GitLab's "not found": the existence check must not conclude the
    file is absent (a re-upload would duplicate it)."""
    api.routes[GENERIC] = redirect(f"{store.url}/bucket/key")
    # S3 echoes a refused Authorization header; a hostile store echoes whatever it likes
    echoed = f"{message} (Authorization: Bearer {TOKEN})"
    store.routes["/bucket/key"] = s3_error(status, code, echoed)
    path = tmp_path / "pkg-1.0.tar.gz.sigstore.json"
    path.write_bytes(DATA)
    with client(api, trust) as c:
        with pytest.raises(RegistryError) as checked:
            c.generic_file_sha256("pkg", "1.0", path.name)
        with pytest.raises(RegistryError) as uploaded:
            c.generic_upload("pkg", "1.0", path, sha256=SHA)
    for info in (checked, uploaded):
        text = str(info.value)
        assert f"answered HTTP {status}" in text
        assert code in text
        assert hint in text
        assert TOKEN[:8] not in text
        assert info.value.status is None
    assert api.puts == []  # nothing was sent


def test_the_existence_check_streams_when_the_packages_api_cannot_answer(
    api: Server, store: Server, trust: ssl.SSLContext
) -> None:
    """GitLab with object storage sends no X-Checksum-SHA256: the Packages API's file_sha256
    answers when it can (here it cannot: 404), else the file is hashed through the redirect."""
    api.routes[GENERIC] = redirect(f"{store.url}/bucket/key")
    store.routes["/bucket/key"] = send(200, DATA)
    with client(api, trust, credentials=CREDENTIALS["job"]) as c:
        assert c.generic_file_sha256("pkg", "1.0", "pkg-1.0.tar.gz.sigstore.json") == SHA
    assert api.paths() == [GENERIC, "/api/v4/projects/1/packages", GENERIC]
    assert no_credentials(store)


def test_a_token_over_plain_http_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ConfigError, match="over plain http") as info:
        RegistryClient("http://gitlab.example.com/api/v4", "1", CREDENTIALS["personal"])
    assert "loopback" in str(info.value)
    # anonymous reads of a public project may use plain http (nothing to steal)
    RegistryClient("http://gitlab.example.com/api/v4", "1", Credentials.anonymous()).close()
