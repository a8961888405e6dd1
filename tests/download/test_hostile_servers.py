"""Whole downloads over real HTTP against a small hostile server defined here, for what a
faithful GitLab never does: links to other hosts, odd names, wrong hashes, oversized or endless
answers, redirects, tokens in the wrong place.

It serves the real-world release (an sdist built and attested in GitLab CI on gitlab.com; the
PEP 740 attestation verifies offline against the production root) exactly as GitLab lays it out,
and each test bends one route.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from download_helpers import Run, clear_download_env, run_download
from hatch_sigstore.download import (
    download,
)
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.gitlab import Credentials, RetryPolicy
from hatch_sigstore.sandbox._http import LoopbackServer
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import Policy

REAL_SDIST = "gitlab_oidc_project-0.0.3.tar.gz"
REAL_NAME, REAL_VERSION = "gitlab-oidc-project", "0.0.3"
REAL_POLICY = ["--gitlab", "facutuesca/gitlab-oidc-project"]
PROJECT = "7"

Route = Callable[[BaseHTTPRequestHandler], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        owner: Hostile = self.server.owner  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        owner.requests.append((path, dict(self.headers)))
        route = owner.routes.get(path)
        if route is None:
            send(self, 404, b'{"error":"404 Not Found"}')
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    *,
    length: bool = True,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    if length:
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    else:  # no length, no chunking: the body ends when the connection closes
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = True


@dataclass
class Hostile:
    url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def api(self) -> str:
        return f"{self.url}/api/v4"

    def files_path(self, sha: str, filename: str) -> str:
        return f"/api/v4/projects/{PROJECT}/packages/pypi/files/{sha}/{filename}"

    def simple_path(self, name: str) -> str:
        return f"/api/v4/projects/{PROJECT}/packages/pypi/simple/{name}"

    def generic_path(self, package: str, version: str, filename: str) -> str:
        return f"/api/v4/projects/{PROJECT}/packages/generic/{package}/{version}/{filename}"

    def index(self, name: str, hrefs: list[tuple[str, str]]) -> None:
        """GitLab's page (``simple_package_versions_presenter.rb``): one anchor per (href, text)."""
        anchors = "".join(
            f'<a href="{href}" data-requires-python="">{text}</a>' for href, text in hrefs
        )
        page = (
            f"<!DOCTYPE html>\n<html>\n  <head>\n    <title>Links for {name}</title>\n  </head>\n"
            f"  <body>\n    <h1>Links for {name}</h1>\n    {anchors}\n  </body>\n</html>\n"
        ).encode()
        self.routes[self.simple_path(name)] = lambda h: send(
            h, 200, page, "text/html; charset=utf-8"
        )

    def blob(self, path: str, data: bytes) -> None:
        self.routes[path] = lambda h: send(
            h, 200, data, "application/octet-stream", {"X-Checksum-SHA256": sha256(data)}
        )

    def publish_real(self, real_world: Path) -> str:
        """The real-world release, laid out as GitLab does; returns the sdist's file route."""
        data = (real_world / REAL_SDIST).read_bytes()
        sha = sha256(data)
        path = self.files_path(sha, REAL_SDIST)
        self.index(REAL_NAME, [(f"{self.url}{path}#sha256={sha}", REAL_SDIST)])
        self.blob(path, data)
        attestation = (real_world / f"{REAL_SDIST}.publish.attestation").read_bytes()
        self.blob(
            self.generic_path(REAL_NAME, REAL_VERSION, f"{REAL_SDIST}.publish.attestation"),
            attestation,
        )
        return path


def sha256(data: bytes) -> str:

    return hashlib.sha256(data).hexdigest()


def _serve() -> Iterator[Hostile]:
    hostile = Hostile()
    server = LoopbackServer(_Handler, owner=hostile)
    hostile.url = server.url
    with server:
        yield hostile
        hostile.stop.set()


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    yield from _serve()


@pytest.fixture
def elsewhere() -> Iterator[Hostile]:
    """Another server (another port is another origin) that must never be contacted."""
    yield from _serve()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_download_env(monkeypatch)


def download_cli(
    capsys: pytest.CaptureFixture[str],
    api: str,
    dest: Path,
    *extra: str,
    requirement: str = f"{REAL_NAME}=={REAL_VERSION}",
    project: str = PROJECT,
) -> Run:
    return run_download(
        capsys, requirement, "--url", api, "--project", project, "-d", str(dest), *extra
    )


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


pytestmark_e2e = pytest.mark.usefixtures("clean_env")


@pytest.mark.usefixtures("clean_env")
def test_honest_server_real_world_release_verifies(
    hostile: Hostile, real_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The baseline every hostile variant bends: the real attested sdist, production root."""
    hostile.publish_real(real_world)
    run = download_cli(capsys, hostile.api, tmp_path / "out", *REAL_POLICY, "--json")
    assert run.code == 0, run.out + run.err
    assert run.json["ok"] is True
    (entry,) = run.json["files"]
    assert entry["sidecar"] == "attestation"
    assert entry["identity"] == (
        "https://gitlab.com/facutuesca/gitlab-oidc-project//.gitlab-ci.yml@refs/heads/main"
    )
    assert listing(tmp_path / "out") == [REAL_SDIST, f"{REAL_SDIST}.publish.attestation"]
    assert (tmp_path / "out" / REAL_SDIST).read_bytes() == (real_world / REAL_SDIST).read_bytes()


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("policy", "why"),
    [
        (["--gitlab", "facutuesca/another-project"], "facutuesca/another-project"),
        (["--gitlab", "facutuesca/gitlab-oidc-project", "--ref", "refs/tags/v0.0.3"], "ref"),
        (
            [
                "--gitlab",
                "facutuesca/gitlab-oidc-project",
                "--server",
                "https://gitlab.example.com",
            ],
            "issuer",
        ),
    ],
)
def test_real_world_release_with_another_policy_is_deleted(
    hostile: Hostile,
    real_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    policy: list[str],
    why: str,
) -> None:
    hostile.publish_real(real_world)
    out = tmp_path / "out"
    run = download_cli(capsys, hostile.api, out, *policy)
    assert run.code == 1
    assert listing(out) == []
    assert "FAILED" in run.out
    assert "did not verify and were deleted" in run.out
    assert why.lower() in run.out.lower()


@pytest.mark.usefixtures("clean_env")
def test_link_to_another_host_is_refused_and_never_followed(
    hostile: Hostile,
    elsewhere: Hostile,
    real_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = (real_world / REAL_SDIST).read_bytes()
    path = elsewhere.files_path(sha256(data), REAL_SDIST)
    elsewhere.blob(path, data)
    hostile.index(REAL_NAME, [(f"{elsewhere.url}{path}#sha256={sha256(data)}", REAL_SDIST)])
    run = download_cli(capsys, hostile.api, tmp_path / "out", *REAL_POLICY)
    assert run.code == 1
    assert "another host" in run.err
    assert "Traceback" not in run.err
    assert elsewhere.requests == []
    assert listing(tmp_path / "out") == []


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    "href_name",
    [
        "..%2F..%2F" + REAL_SDIST,
        "%2E%2E/" + REAL_SDIST,
        "..%5C" + REAL_SDIST,
        REAL_SDIST + "%00.whl",
        "gitlab_oidc_project-0.0.3 .tar.gz",
        "gitlab_oidc_project-0.0.3.tar.gz%0A",
        "gitlab_oidc_proj%C3%A9ct-0.0.3.tar.gz",
        ".hidden-0.0.3.tar.gz",
    ],
)
def test_odd_or_traversing_file_names_are_refused(
    hostile: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str], href_name: str
) -> None:
    sha = "0" * 64
    href = f"{hostile.url}/api/v4/projects/{PROJECT}/packages/pypi/files/{sha}/{href_name}"
    hostile.index(REAL_NAME, [(f"{href}#sha256={sha}", href_name)])
    out = tmp_path / "deep" / "out"
    run = download_cli(capsys, hostile.api, out, *REAL_POLICY)
    assert run.code == 1
    assert "Refusing" in run.err or "refusing" in run.err
    assert not any("files/" in path for path, _ in hostile.requests)  # nothing fetched
    assert listing(out) == []
    assert listing(tmp_path) == ["deep"]  # nothing written beside or above DIR
    assert listing(tmp_path / "deep") == ["out"]


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("where", ["index", "bytes"])
def test_hash_mismatch_is_refused_and_deleted(
    hostile: Hostile,
    real_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    data = (real_world / REAL_SDIST).read_bytes()
    path = hostile.publish_real(real_world)
    if where == "index":  # the index lists another hash
        wrong = sha256(b"something else")
        hostile.index(REAL_NAME, [(f"{hostile.url}{path}#sha256={wrong}", REAL_SDIST)])
    else:  # the registry serves other bytes than its index lists
        hostile.blob(path, data[:-1] + bytes([data[-1] ^ 1]))
    out = tmp_path / "out"
    run = download_cli(capsys, hostile.api, out, *REAL_POLICY, "--json")
    assert run.code == 1
    (entry,) = run.json["files"]
    assert entry["hash_ok"] is False
    assert "sha256 mismatch" in entry["reason"]
    assert entry["path"] is None
    assert listing(out) == []
    # the signature files were never fetched for a file whose bytes are wrong
    assert not any("generic" in p for p, _ in hostile.requests)


def _big(handler: BaseHTTPRequestHandler, *, length: bool, size: int = 3 << 20) -> None:
    send(handler, 200, b"\0" * size, "application/octet-stream", length=length)


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("length", [True, False], ids=["content-length", "until-close"])
@pytest.mark.parametrize("what", ["dist", "sidecar"])
def test_oversized_responses_are_cut_off(
    hostile: Hostile,
    real_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    length: bool,
    what: str,
) -> None:
    path = hostile.publish_real(real_world)
    if what == "dist":
        # a 3 MiB "sdist", listed with its true hash: only the size cap stops it
        hostile.index(
            REAL_NAME, [(f"{hostile.url}{path}#sha256={sha256(bytes(3 << 20))}", REAL_SDIST)]
        )
        hostile.routes[path] = lambda h: _big(h, length=length)
    else:  # sidecars are capped far lower (4 MiB): a 5 MiB attestation is refused
        att = hostile.generic_path(REAL_NAME, REAL_VERSION, f"{REAL_SDIST}.publish.attestation")
        hostile.routes[att] = lambda h: _big(h, length=length, size=5 << 20)
    out = tmp_path / "out"
    run = download_cli(capsys, hostile.api, out, *REAL_POLICY, "--max-size", "1M", "--json")
    assert run.code == 1
    (entry,) = run.json["files"]
    assert "bytes" in entry["reason"]
    assert "limit" in entry["reason"] or "more than" in entry["reason"]
    assert listing(out) == []  # no partial file either


def _drip(handler: BaseHTTPRequestHandler, owner: Hostile, content_type: str) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Connection", "close")  # no length: the body ends when the server says
    handler.end_headers()
    handler.close_connection = True
    if content_type.startswith("text/html"):
        handler.wfile.write(b"<!DOCTYPE html><html><body>")
    deadline = time.monotonic() + 30
    while not owner.stop.is_set() and time.monotonic() < deadline:
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.05)


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("what", ["index", "dist", "sidecar"])
def test_a_response_that_never_ends_hits_the_deadline(
    hostile: Hostile,
    real_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    what: str,
) -> None:
    path = hostile.publish_real(real_world)
    target = {
        "index": hostile.simple_path(REAL_NAME),
        "dist": path,
        "sidecar": hostile.generic_path(
            REAL_NAME, REAL_VERSION, f"{REAL_SDIST}.publish.attestation"
        ),
    }[what]
    kind = "text/html; charset=utf-8" if what == "index" else "application/octet-stream"
    hostile.routes[target] = lambda h: _drip(h, hostile, kind)
    out = tmp_path / "out"
    started = time.monotonic()
    run = download_cli(capsys, hostile.api, out, *REAL_POLICY, "--timeout", "2")
    elapsed = time.monotonic() - started
    assert run.code == 1
    assert elapsed < 10, elapsed
    text = (run.out + run.err).lower()
    assert "time" in text or "deadline" in text, run.out + run.err
    assert listing(out) == []


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("status", "body", "content_type", "expect"),
    [
        (200, b'{"message":"hello"}', "application/json", "instead of an HTML index"),
        (
            403,
            b"<!DOCTYPE html><html><body>Sign in to continue</body></html>",
            "text/html",
            "403",
        ),
        (401, b'{"message":"401 Unauthorized"}', "application/json", "401 Unauthorized"),
        (403, b'{"message":"403 Forbidden"}', "application/json", "403 Forbidden"),
        (404, b'{"message":"404 Project Not Found"}', "application/json", "404 Project Not Found"),
    ],
)
def test_index_refusals_are_clear(
    hostile: Hostile,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: bytes,
    content_type: str,
    expect: str,
) -> None:
    headers = (
        {"WWW-Authenticate": 'Basic realm="GitLab Packages Registry"'} if status == 401 else {}
    )
    hostile.routes[hostile.simple_path(REAL_NAME)] = lambda h: send(
        h, status, body, content_type, headers
    )
    run = download_cli(capsys, hostile.api, tmp_path / "out", *REAL_POLICY)
    assert run.code == 1
    assert run.err.startswith("error: ")
    assert expect in run.err
    assert "Traceback" not in run.err
    assert listing(tmp_path / "out") == []


@pytest.mark.usefixtures("clean_env")
def test_html_instead_of_a_json_sidecar_fails_verification(
    hostile: Hostile, real_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile.publish_real(real_world)
    att = hostile.generic_path(REAL_NAME, REAL_VERSION, f"{REAL_SDIST}.publish.attestation")
    hostile.routes[att] = lambda h: send(
        h, 200, b"<!DOCTYPE html><html>Sign in</html>", "text/html"
    )
    run = download_cli(capsys, hostile.api, tmp_path / "out", *REAL_POLICY, "--json")
    assert run.code == 1
    (entry,) = run.json["files"]
    assert entry["verified"] is False
    assert entry["reason"]
    assert listing(tmp_path / "out") == []


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("what", ["dist", "sidecar"])
def test_redirect_to_another_host_is_followed_without_the_token(
    hostile: Hostile,
    elsewhere: Hostile,
    real_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    what: str,
) -> None:
    """GitLab with object storage redirects every file download to another host: followed
    (the API URL is plain http on loopback, so plain http to loopback is too), the token
    never goes there, and the bytes are still checked and verified."""
    token = "glpat-SECRETsecret0123456789"
    monkeypatch.setenv("MY_TOKEN", token)
    path = hostile.publish_real(real_world)
    att = hostile.generic_path(REAL_NAME, REAL_VERSION, f"{REAL_SDIST}.publish.attestation")
    source = path if what == "dist" else att
    elsewhere.routes[source] = hostile.routes[source]
    hostile.routes[source] = lambda h: send(
        h, 302, b"", headers={"Location": elsewhere.url + source + "?X-Amz-Signature=abc"}
    )
    run = download_cli(
        capsys, hostile.api, tmp_path / "out", *REAL_POLICY, "--token-env", "MY_TOKEN", "--json"
    )
    assert run.code == 0, run.out + run.err
    assert [p for p, _ in elsewhere.requests] == [source]
    sent = {k.lower(): v for k, v in elsewhere.requests[0][1].items()}
    assert not {"authorization", "private-token", "job-token", "deploy-token", "cookie"} & set(sent)
    assert token not in str(elsewhere.requests)
    assert listing(tmp_path / "out") == [REAL_SDIST, f"{REAL_SDIST}.publish.attestation"]


@pytest.mark.usefixtures("clean_env")
def test_redirect_to_bytes_that_do_not_match_the_index_is_refused(
    hostile: Hostile,
    elsewhere: Hostile,
    real_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Following a redirect gives up nothing: the index's sha256 still decides."""
    path = hostile.publish_real(real_world)
    elsewhere.blob(path, b"not the release")
    hostile.routes[path] = lambda h: send(h, 302, b"", headers={"Location": elsewhere.url + path})
    run = download_cli(capsys, hostile.api, tmp_path / "out", *REAL_POLICY, "--json")
    assert run.code == 1
    (entry,) = run.json["files"]
    assert entry["hash_ok"] is False
    assert "sha256 mismatch" in entry["reason"]
    assert listing(tmp_path / "out") == []


@pytest.mark.usefixtures("clean_env")
def test_same_host_redirect_is_followed(
    hostile: Hostile, real_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hostile.publish_real(real_world)
    hostile.routes["/storage/blob"] = hostile.routes[path]
    hostile.routes[path] = lambda h: send(h, 302, b"", headers={"Location": "/storage/blob"})
    run = download_cli(capsys, hostile.api, tmp_path / "out", *REAL_POLICY)
    assert run.code == 0, run.out + run.err


@pytest.mark.usefixtures("clean_env")
def test_token_goes_in_headers_never_in_urls_or_output(
    hostile: Hostile,
    real_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "glpat-SECRETsecret0123456789"
    monkeypatch.setenv("MY_TOKEN", token)
    path = hostile.publish_real(real_world)
    hostile.routes[path] = lambda h: send(
        h, 403, json.dumps({"message": f"403 Forbidden - token {token} lacks scope"}).encode()
    )
    run = download_cli(
        capsys, hostile.api, tmp_path / "out", *REAL_POLICY, "--token-env", "MY_TOKEN"
    )
    assert run.code == 1
    assert token not in run.out + run.err
    assert "403 Forbidden" in run.out
    assert all(token not in p for p, _ in hostile.requests)
    index_headers = next(h for p, h in hostile.requests if "simple" in p)
    assert index_headers["Authorization"].startswith("Basic ")  # PyPI routes: Basic
    generic = [h for p, h in hostile.requests if "generic" in p]
    assert generic == []  # the file failed before its signatures were fetched


@pytest.mark.usefixtures("clean_env")
def test_missing_signature_files_fail_the_file(
    hostile: Hostile, real_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile.publish_real(real_world)
    att = hostile.generic_path(REAL_NAME, REAL_VERSION, f"{REAL_SDIST}.publish.attestation")
    del hostile.routes[att]
    hostile.routes[att.replace("/generic/", "/generic-x/")] = lambda h: None
    run = download_cli(capsys, hostile.api, tmp_path / "out", *REAL_POLICY, "--json")
    assert run.code == 1
    assert "no signature files" in run.json["files"][0]["reason"]
    asked = {p.rsplit(".tar.gz", 1)[1] for p, _ in hostile.requests if "generic" in p}
    assert asked == {".sigstore.json", ".publish.attestation", ".sig"}
    assert listing(tmp_path / "out") == []


def test_a_download_folder_that_is_a_file_is_refused_cleanly(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="download folder") as info:
        download(
            "pkg==1.0",
            api_url="http://127.0.0.1:9/api/v4",
            project="1",
            credentials=Credentials.anonymous(),
            directory=blocker / "sub",
            policy=Policy.cosign(cert_identity="x", cert_oidc_issuer="y"),
            trust=TrustChoice(),
        )
    assert "-d" in str(info.value)


# -- issue 10: tokens stay at home, safe text -------------------------------------------------

JOB_TOKEN = "glcbt-64_JoBtOkEnJoBtOkEnJoBtOkEn012"  # 36 characters, as GitLab mints them


@pytest.mark.usefixtures("clean_env")
def test_the_job_token_never_goes_to_another_instance(
    hostile: Hostile,
    real_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A consumer job downloads from another GitLab than its own: the job token it would pick
    up stays home, and nothing at all is sent until the user names a token for that host."""
    hostile.publish_real(real_world)
    monkeypatch.setenv("CI_JOB_TOKEN", JOB_TOKEN)
    monkeypatch.setenv("CI_API_V4_URL", "https://gitlab.example.com/api/v4")
    monkeypatch.setenv("CI_SERVER_URL", "https://gitlab.example.com")
    run = download_cli(capsys, hostile.api, tmp_path / "out", *REAL_POLICY)
    assert run.code == 1
    assert hostile.requests == []
    assert "sent only to this job's own GitLab (https://gitlab.example.com" in run.err
    assert "--token-env" in run.err
    assert JOB_TOKEN not in run.out + run.err
    # a public project there: anonymous works, and still carries no token
    anonymous = download_cli(
        capsys, hostile.api, tmp_path / "anon", *REAL_POLICY, "--token-kind", "anonymous"
    )
    assert anonymous.code == 0, anonymous.out + anonymous.err
    assert all(JOB_TOKEN not in str(headers) for _, headers in hostile.requests)
    # naming the variable sends it there on purpose
    hostile.requests.clear()
    named = download_cli(
        capsys, hostile.api, tmp_path / "named", *REAL_POLICY, "--token-env", "CI_JOB_TOKEN"
    )
    assert named.code == 0, named.out + named.err
    assert any("Authorization" in headers for _, headers in hostile.requests)


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://gitlab.example.com/api/v4", "over plain http"),
        ("https://gitlab.example.com/api/v4?private_token=glpat-INQUERYsecret0123", "query"),
        ("https://gitlab.example.com/api/v4?job_token=glcbt-INQUERYsecret0123", "query"),
        ("https://gitlab.example.com/api/v4?access_token=INQUERYsecret0123", "query"),
        ("https://oauth2:INQUERYsecret0123@gitlab.example.com/api/v4", "credentials"),
    ],
)
def test_urls_that_would_expose_a_token_are_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    why: str,
) -> None:
    """Refused before any connection (these hosts do not exist; nothing is resolved)."""
    monkeypatch.setenv("MY_TOKEN", "glpat-MYTOKENsecret0123456789")
    run = download_cli(capsys, url, tmp_path / "out", *REAL_POLICY, "--token-env", "MY_TOKEN")
    assert run.code == 1
    assert why in run.err
    assert "INQUERYsecret" not in run.out + run.err
    assert "MYTOKENsecret" not in run.out + run.err
    assert "Traceback" not in run.err


def _stall(handler: BaseHTTPRequestHandler, owner: Hostile, data: bytes) -> None:
    """Headers and the first bytes, then nothing: a server holding the connection open."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/octet-stream")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data[:100])
    handler.wfile.flush()
    owner.stop.wait(30)


@pytest.mark.usefixtures("clean_env")
def test_a_stalled_body_is_cut_by_the_idle_timeout_long_before_the_deadline(
    hostile: Hostile, real_world: Path, tmp_path: Path
) -> None:
    """The deadline bounds a whole response; the idle timeout (the client's ``timeout``)
    bounds each wait for the next byte, so a server that stops sending does not keep the job
    and its token alive until the deadline."""
    path = hostile.publish_real(real_world)
    data = (real_world / REAL_SDIST).read_bytes()
    hostile.routes[path] = lambda h: _stall(h, hostile, data)
    started = time.monotonic()
    report = download(
        f"{REAL_NAME}=={REAL_VERSION}",
        api_url=hostile.api,
        project=PROJECT,
        credentials=Credentials.anonymous(),
        directory=tmp_path / "out",
        policy=Policy.cosign(cert_identity="x", cert_oidc_issuer="y"),  # never reached
        trust=TrustChoice(),
        deadline=120,
        client_options={"timeout": 2.0, "retry_policy": RetryPolicy(retries=1, base_delay=0.01)},
    )
    elapsed = time.monotonic() - started
    assert elapsed < 20, elapsed
    (entry,) = report.files
    assert not entry.ok
    assert "ReadTimeout" in (entry.reason or "")
    assert listing(tmp_path / "out") == []


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("as_json", [False, True])
@pytest.mark.parametrize(
    ("shape", "cut"), [("gitlab-json", 300), ("plain-text", 200), ("basic-echo", 300)]
)
def test_an_echoed_token_is_redacted_before_it_is_cut(
    hostile: Hostile,
    real_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    shape: str,
    cut: int,
    as_json: bool,
) -> None:
    """A hostile server echoes the token (or the Basic header it came in) right across the
    cut of the quoted text: 34 of 36 characters used to show. Now not even 8 do."""
    monkeypatch.setenv("CI_JOB_TOKEN", JOB_TOKEN)
    monkeypatch.setenv("CI_API_V4_URL", hostile.api)
    path = hostile.publish_real(real_world)
    basic = base64.b64encode(f"gitlab-ci-token:{JOB_TOKEN}".encode()).decode()
    secret = basic if shape == "basic-echo" else JOB_TOKEN
    text = "y" * (cut - len(secret) // 2) + secret + " and more"
    if shape == "plain-text":
        answer = (text.encode(), "text/plain")
    else:
        answer = (json.dumps({"message": text}).encode(), "application/json")
    hostile.routes[path] = lambda h: send(h, 403, answer[0], answer[1])
    extra = ["--json"] if as_json else []
    run = download_cli(capsys, hostile.api, tmp_path / "out", *REAL_POLICY, *extra)
    assert run.code == 1
    shown = run.out + run.err
    assert "403" in shown
    for start in range(len(secret) - 7):
        assert secret[start : start + 8] not in shown, start
    assert "y***" in shown


@pytest.mark.usefixtures("clean_env")
def test_escape_sequences_and_fake_rows_from_the_server_are_not_printed(
    hostile: Hostile, real_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server's words go through the table: no escape sequence, no newline, no carriage
    return, no bidi override may reach the terminal; a row cannot be faked."""
    path = hostile.publish_real(real_world)
    fake = (
        "\x1b[2J\x1b[H\x1b]0;owned\x07\x9b31m\nevil.whl  wheel  ok  attestation  verified  "
        "https://gitlab.com/you\r\u202eok\x00"
    )
    body = json.dumps({"message": f"403 Forbidden{fake}"}).encode()
    hostile.routes[path] = lambda h: send(h, 403, body)
    run = download_cli(capsys, hostile.api, tmp_path / "out", *REAL_POLICY)
    assert run.code == 1
    assert "403 Forbidden" in run.out
    for bad in ("\x1b", "\x07", "\x9b", "\r", "\u202e", "\x00"):
        assert bad not in run.out + run.err
    assert not [line for line in run.out.splitlines() if line.startswith("evil.whl")]
