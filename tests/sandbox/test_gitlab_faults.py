"""Fault injection of the GitLab stand-in: status, reset mid-body, stored-then-502,
store-after-502, latency; scripted and seeded-random (issue 4: flaky-network tests).

Also the server plumbing the fault tests rely on: the request log is complete by the time a
client has the answer (no settling sleeps), and expected disconnects stay quiet on stderr while
real internal errors stay visible (``.errors`` and stderr)."""

from __future__ import annotations

import hashlib
import socket
import struct
import time

import httpx
import pytest

from hatch_sigstore.sandbox.gitlab import GitLabRegistry, Project


def put(client: httpx.Client, url: str, job: str, data: bytes = b"data") -> httpx.Response:
    return client.put(url, content=data, headers={"JOB-TOKEN": job})


@pytest.mark.parametrize(
    ("status", "ctype", "body_part", "retry_after"),
    [
        (500, "application/json", b'{"message":"500 Internal Server Error"}', None),
        (502, "text/html", b"<title>502 Bad Gateway</title>", None),
        (503, "text/html", b"503 Service Unavailable", "1"),
        (504, "text/html", b"504 Gateway Timeout", None),
        (429, "text/plain", b"Retry later", "1"),
    ],
)
def test_status_fault_does_nothing_and_answers(
    gl: GitLabRegistry,
    project: Project,
    job: str,
    client: httpx.Client,
    status: int,
    ctype: str,
    body_part: bytes,
    retry_after: str | None,
) -> None:
    gl.faults.plan("status", status=status, method="PUT")
    url = gl.generic_url(project, "pkg", "1.0", "f")
    r = put(client, url, job)
    assert r.status_code == status
    assert r.headers["content-type"] == ctype
    assert body_part in r.content
    assert r.headers.get("retry-after") == retry_after
    assert gl.generic_files(project) == []  # nothing stored
    assert put(client, url, job).status_code == 201  # times=1: the next one goes through
    assert gl.faults.pending == 0


def test_status_fault_custom_retry_after_and_body(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    gl.faults.plan("status", status=429, retry_after=7, body=b"slow down", content_type="text/x")
    r = client.get(gl.generic_url(project, "pkg", "1.0", "f"), headers={"JOB-TOKEN": job})
    assert (r.status_code, r.headers["retry-after"], r.content) == (429, "7", b"slow down")


def test_reset_mid_body_stores_nothing(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    gl.faults.plan("reset", path_contains="/generic/", after_bytes=1000)
    url = gl.generic_url(project, "pkg", "1.0", "big")
    data = b"x" * (4 << 20)
    with pytest.raises(httpx.TransportError):
        put(client, url, job, data)
    info = gl.request_log[-1]
    assert (info.status, info.fault, info.bytes_in) == (0, "reset", 1000)
    assert gl.generic_files(project) == []
    assert put(client, url, job, data).status_code == 201  # the retry succeeds
    assert gl.generic_files(project)[0].sha256 == hashlib.sha256(data).hexdigest()


def test_reset_is_a_tcp_reset_without_answer(gl: GitLabRegistry, project: Project) -> None:
    gl.faults.plan("reset")
    host, port = gl.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /api/v4/x HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        with pytest.raises(ConnectionResetError):
            received += sock.recv(1024)
        assert received == b""


def test_reset_mid_pypi_upload(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    gl.faults.plan("reset", method="POST")
    data = {"name": "pkg", "version": "1.0", "sha256_digest": "0" * 64}
    files = {"content": ("pkg-1.0.tar.gz", b"y" * (1 << 20))}
    with pytest.raises(httpx.TransportError):
        client.post(gl.pypi_url(project), data=data, files=files, auth=("gitlab-ci-token", job))
    assert gl.pypi_files(project) == []
    assert list(gl.state_dir.joinpath("tmp").iterdir()) == []


def test_stored_then_502(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    gl.faults.plan("stored_then_502", times=2)
    url = gl.generic_url(project, "pkg", "1.0", "f")
    r = put(client, url, job, b"stored")
    assert r.status_code == 502
    assert [f.sha256 for f in gl.generic_files(project)] == [hashlib.sha256(b"stored").hexdigest()]
    # PyPI: stored, then a re-upload is the duplicate error
    data = {"name": "pkg", "version": "1.0", "sha256_digest": "0" * 64}
    files = {"content": ("pkg-1.0.tar.gz", b"z")}
    auth = ("gitlab-ci-token", job)
    r = client.post(gl.pypi_url(project), data=data, files=files, auth=auth)
    assert r.status_code == 502
    assert len(gl.pypi_files(project)) == 1
    r = client.post(gl.pypi_url(project), data=data, files=files, auth=auth)
    assert r.status_code == 400
    assert "already been taken" in r.text


def test_latency(gl: GitLabRegistry, project: Project, job: str, client: httpx.Client) -> None:
    gl.faults.plan("latency", seconds=0.3, times=None, path_contains="/generic/")
    url = gl.generic_url(project, "pkg", "1.0", "f")
    started = time.monotonic()
    assert put(client, url, job).status_code == 201
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    client.get(f"{gl.pypi_url(project)}/simple", auth=("gitlab-ci-token", job))
    assert time.monotonic() - started < 0.3  # path filter
    gl.faults.plan("status", status=503)
    started = time.monotonic()
    assert put(client, url, job).status_code == 503  # latency combines with a terminal fault
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        client.get(url, headers={"JOB-TOKEN": job}, timeout=0.1)  # for client timeout tests


def test_plan_filters_and_counts(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    gl.faults.plan("status", status=500, times=2, method="GET", path_contains="/files/")
    gl.faults.plan("status", status=503, times=None, path_contains="nothing-matches")
    url = gl.generic_url(project, "pkg", "1.0", "f")
    assert put(client, url, job).status_code == 201  # method filter
    assert client.get(url, headers={"JOB-TOKEN": job}).status_code == 200  # path filter
    assert gl.faults.pending == 3
    files = f"{gl.pypi_url(project)}/files/{'0' * 64}/x.whl"
    statuses = [client.get(files, auth=("gitlab-ci-token", job)).status_code for _ in range(3)]
    assert statuses == [500, 500, 404]
    assert [(f.kind, f.status) for f in gl.faults.injected[-2:]] == [("status", 500)] * 2
    gl.faults.clear()
    assert gl.faults.pending == 0


def test_store_after_502_answers_first_and_stores_later(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    # a proxy gives up on a slow upstream (502) while GitLab goes on storing the upload
    gl.faults.plan("store_after_502", seconds=0.5, method="PUT")
    url = gl.generic_url(project, "pkg", "1.0", "late")
    log_before = gl.request_log
    started = time.monotonic()
    r = put(client, url, job, b"late bytes")
    assert r.status_code == 502
    assert b"502 Bad Gateway" in r.content
    assert gl.generic_files(project) == []  # not yet
    info = gl.request_log[-1]
    assert (info.status, info.fault, info.bytes_in) == (502, "store_after_502", 10)
    assert gl.wait_idle()
    assert time.monotonic() - started >= 0.5
    stored = [f.sha256 for f in gl.generic_files(project)]
    assert stored == [hashlib.sha256(b"late bytes").hexdigest()]
    assert len(gl.request_log) == len(log_before) + 1  # the late store is not a new request


@pytest.mark.parametrize("bad", [{"kind": "explode"}, {"kind": "latency"}])
def test_plan_rejects_bad_arguments(gl: GitLabRegistry, bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"kind|seconds"):
        gl.faults.plan(bad["kind"])


def test_random_is_seeded_and_reproducible(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    url = gl.generic_url(project, "pkg", "1.0", "f")
    put(client, url, job)

    def run(seed: int) -> list[int]:
        gl.faults.random(rate=0.3, seed=seed, kinds=("status",), retry_after="0")
        out = [client.get(url, headers={"JOB-TOKEN": job}).status_code for _ in range(60)]
        gl.faults.clear()
        return out

    first, again, other = run(1), run(1), run(2)
    assert first == again
    assert first != other
    failures = sum(s != 200 for s in first)
    assert 8 <= failures <= 30  # ~30% of 60
    assert {s for s in first if s != 200} <= {500, 502, 503, 429}


def test_random_with_resets_eventually_stores_everything(
    gl: GitLabRegistry, project: Project, job: str
) -> None:
    """The shape of the publisher's flaky-network test: retry until each file is there."""
    gl.faults.random(rate=0.5, seed=7)
    sent = {f"f{i}": bytes([i]) * 5000 for i in range(10)}
    attempts = 0
    with httpx.Client(timeout=5) as c:
        for name, data in sent.items():
            url = gl.generic_url(project, "pkg", "1.0", name)
            while True:
                attempts += 1
                try:
                    if put(c, url, job, data).status_code == 201:
                        break
                except httpx.TransportError:
                    pass
    gl.faults.clear()
    stored = {f.filename: f.sha256 for f in gl.generic_files(project)}
    assert stored == {n: hashlib.sha256(d).hexdigest() for n, d in sent.items()}
    assert attempts > len(sent)
    kinds = {f.kind for f in gl.faults.injected}
    assert {"status", "reset", "stored_then_502"} <= kinds
    # stored_then_502 leaves duplicates behind: the client cannot know without asking
    assert len(gl.generic_files(project)) >= len(sent)


@pytest.mark.parametrize(("rate", "expected"), [(0.0, 0), (1.0, 10)])
def test_random_rate_bounds(
    gl: GitLabRegistry,
    project: Project,
    job: str,
    client: httpx.Client,
    rate: float,
    expected: int,
) -> None:
    gl.faults.random(rate=rate, seed=3, kinds=("status",))
    url = gl.generic_url(project, "pkg", "1.0", "f")
    codes = [client.get(url, headers={"JOB-TOKEN": job}).status_code for _ in range(10)]
    assert sum(c != 404 for c in codes) == expected
    with pytest.raises(ValueError, match="rate"):
        gl.faults.random(rate=1.5)


# -- the request log and disconnects ------------------------------------------------------


ROUNDS = 150  # before the fix, one of these rounds saw the answer before the log entry


@pytest.mark.parametrize("kind", ["json", "file", "head", "status_fault", "stored_then_502"])
def test_request_is_logged_before_the_client_has_the_answer(
    gl: GitLabRegistry, project: Project, job: str, kind: str
) -> None:
    url = gl.generic_url(project, "pkg", "1.0", "f")
    headers = {"JOB-TOKEN": job}
    with httpx.Client(timeout=10) as c:
        assert c.put(url, content=b"payload", headers=headers).status_code == 201
        if kind == "status_fault":
            gl.faults.plan("status", status=503, times=None, method="GET", retry_after="0")
        if kind == "stored_then_502":
            gl.faults.plan("stored_then_502", times=None, method="PUT")
        for i in range(ROUNDS):
            before = len(gl.requests)
            if kind == "json":
                r = c.put(url, content=b"x", headers=headers)
                expected = 201
            elif kind == "file":
                r = c.get(url, headers=headers)
                expected = 200
            elif kind == "head":
                r = c.head(url, headers=headers)
                expected = 200
            elif kind == "status_fault":
                r = c.get(url, headers=headers)
                expected = 503
            else:
                r = c.put(url, content=b"x", headers=headers)
                expected = 502
            assert r.status_code == expected
            log = gl.requests
            assert len(log) == before + 1, f"round {i}: the answer came before the log entry"
            assert log[-1].status == expected


def test_reset_is_logged_before_the_client_sees_it(gl: GitLabRegistry, project: Project) -> None:
    gl.faults.plan("reset", times=None, method="PUT")
    url = gl.generic_url(project, "pkg", "1.0", "f")
    for i in range(40):
        before = len(gl.requests)
        # a fresh connection per round: a reset one cannot be reused
        with httpx.Client(timeout=10) as c, pytest.raises(httpx.TransportError):
            c.put(url, content=b"y" * 20_000, headers={"JOB-TOKEN": "x"})
        log = gl.request_log
        assert len(log) == before + 1, f"round {i}: the reset came before the log entry"
        assert (log[-1].status, log[-1].fault) == (0, "reset")


def _address(gl: GitLabRegistry) -> tuple[str, int]:
    host, port = gl.url.removeprefix("http://").split(":")
    return host, int(port)


def _rst(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a client that gives up abruptly does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_client_resets_are_not_printed(
    gl: GitLabRegistry, project: Project, capfd: pytest.CaptureFixture[str]
) -> None:
    before = gl.disconnects
    # an idle keep-alive connection reset while the server waits for the next request line
    with socket.create_connection(_address(gl), timeout=5) as sock:
        sock.sendall(b"GET /api/v4/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 404")
        _rst(sock)
    assert gl.wait_for_disconnects(before + 1), "the server never noticed the reset"
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert "ConnectionResetError" not in err
    assert gl.errors == []


def test_unexpected_handler_errors_are_kept_and_shown(
    gl: GitLabRegistry, capfd: pytest.CaptureFixture[str]
) -> None:
    # a bug outside the routes (here: the log itself breaks) escapes the handler: it must not
    # be silenced like a disconnect
    class BoomError(Exception):
        pass

    def broken(info: object) -> None:
        raise BoomError("log is broken")

    gl._record = broken  # type: ignore[method-assign]
    try:
        with httpx.Client(timeout=5) as c, pytest.raises(httpx.TransportError):
            c.get(f"{gl.api_url}/nothing")
    finally:
        del gl._record
    assert any("BoomError: log is broken" in e for e in gl.errors)
    assert "BoomError: log is broken" in capfd.readouterr().err
    gl.errors.clear()
