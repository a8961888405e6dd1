"""RegistryClient against the GitLab stand-in over real HTTP (and a tiny hostile server).

Covers: uploads (PyPI multipart, generic PUT), idempotency (exists-same / refuse different),
retries with fault injection (5xx, resets mid-body, stored-then-502, 429 + Retry-After, timeouts),
error messages (GitLab's words + what to do, never a token), safe downloads (size cap, deadline,
redirects, hash check, atomic placement) and constant-memory streaming.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from hatch_sigstore.errors import ConfigError, RegistryError
from hatch_sigstore.gitlab import Credentials, IndexFile, RegistryClient, RetryPolicy
from hatch_sigstore.gitlab._errors import error_from_response

if TYPE_CHECKING:
    from hatch_sigstore.sandbox.gitlab import GitLabRegistry, Project

FAST = RetryPolicy(retries=6, base_delay=0.01, max_delay=0.05, total_time=60.0, seed=7)


@pytest.fixture
def registry(gitlab_registry: GitLabRegistry) -> Iterator[GitLabRegistry]:
    gitlab_registry.faults.clear()
    yield gitlab_registry
    gitlab_registry.faults.clear()
    # a request the client gave up on (timeouts, late stores) must not land in the next test
    assert gitlab_registry.wait_idle()


class Env:
    """A fresh project with a job token, and helpers to make files and clients."""

    def __init__(self, registry: GitLabRegistry, tmp_path: Path) -> None:
        self.registry = registry
        self.project: Project = registry.create_project("group/client-test")
        self.token = registry.job_token(self.project)
        self.creds = Credentials("job", self.token, source="CI_JOB_TOKEN")
        self.tmp = tmp_path
        self.sleeps: list[float] = []
        self.prefix = f"/api/v4/projects/{self.project.id}/"

    def client(self, creds: Credentials | None = None, **kwargs: Any) -> RegistryClient:
        kwargs.setdefault("retry_policy", FAST)
        kwargs.setdefault("sleep", self.sleeps.append)
        return RegistryClient(
            self.registry.api_url, str(self.project.id), creds or self.creds, **kwargs
        )

    def file(self, name: str, data: bytes | None = None) -> tuple[Path, str]:
        data = data if data is not None else f"contents of {name}".encode() * 100
        path = self.tmp / "dist" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path, hashlib.sha256(data).hexdigest()

    def requests(self, method: str | None = None, contains: str = "") -> list[Any]:
        # The stand-in logs each request before its answer goes out: no settling needed.
        return [
            r
            for r in self.registry.requests
            if r.path.startswith(self.prefix)
            and (method is None or r.method == method)
            and contains in r.path
        ]


@pytest.fixture
def env(registry: GitLabRegistry, tmp_path: Path) -> Env:
    return Env(registry, tmp_path)


def assert_no_token(text: str, *tokens: str) -> None:
    for token in tokens:
        assert token not in text


# -- happy paths ----------------------------------------------------------------------------


def test_pypi_upload_index_download_roundtrip(env: Env) -> None:
    path, sha = env.file("my_pkg-1.0-py3-none-any.whl")
    progress: list[int] = []
    with env.client() as client:
        outcome = client.pypi_upload(
            path,
            name="my_pkg",
            version="1.0",
            sha256=sha,
            metadata={"requires_python": ">=3.9", "summary": "s"},
            progress=progress.append,
        )
        assert outcome == "uploaded"
        files = client.pypi_simple_files("My.Pkg")
        assert [(f.filename, f.sha256, f.requires_python) for f in files] == [
            (path.name, sha, ">=3.9")
        ]
        out = env.tmp / "out"
        out.mkdir()
        got = client.pypi_download(files[0], out, max_bytes=10**6)
    assert got == out / path.name
    assert got.read_bytes() == path.read_bytes()
    assert progress[-1] == path.stat().st_size
    assert progress == sorted(progress)
    assert env.registry.pypi_files(env.project) == [("my_pkg", "1.0", path.name, sha)]
    assert list(out.iterdir()) == [got]  # no temp files left


def test_generic_upload_and_download(env: Env) -> None:
    path, sha = env.file("my_pkg-1.0.tar.gz.sigstore.json", b'{"bundle": 1}')
    with env.client() as client:
        assert client.generic_file_sha256("my_pkg", "1.0", path.name) is None
        assert client.generic_upload("my_pkg", "1.0", path, sha256=sha) == "uploaded"
        assert client.generic_file_sha256("my_pkg", "1.0", path.name) == sha
        dest = env.tmp / "x.json"
        assert client.generic_download("my_pkg", "1.0", path.name, dest, max_bytes=100) == dest
        assert dest.read_bytes() == path.read_bytes()
        with pytest.raises(RegistryError) as info:
            client.generic_download("my_pkg", "1.0", "absent.sig", env.tmp, max_bytes=100)
    assert info.value.status == 404
    assert [r[2:4] for r in env.registry.generic_files(env.project)] == [(path.name, sha)]


@pytest.mark.parametrize("kind", ["job", "personal", "deploy"])
def test_every_credential_kind_uploads_to_both_registries(env: Env, kind: str) -> None:
    if kind == "job":
        creds = env.creds
    elif kind == "personal":
        creds = Credentials(
            "personal", env.registry.personal_token(project=env.project, role="developer")
        )
    else:
        user, token = env.registry.deploy_token(env.project)
        creds = Credentials("deploy", token, username=user)
    path, sha = env.file(f"p_{kind}-1.0-py3-none-any.whl")
    with env.client(creds) as client:
        assert client.pypi_upload(path, name=f"p_{kind}", version="1.0", sha256=sha) == "uploaded"
        assert client.generic_upload(f"p_{kind}", "1.0", path, sha256=sha) == "uploaded"


def test_project_by_path_and_public_anonymous_read(
    registry: GitLabRegistry, tmp_path: Path
) -> None:
    project = registry.create_project("group/sub-group/public-one", visibility="public")
    token = registry.personal_token(project=project, role="developer")
    data = b"wheel bytes"
    path = tmp_path / "pub-2.0-py3-none-any.whl"
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    with RegistryClient(registry.api_url, project.path, Credentials("personal", token)) as c:
        assert c.pypi_upload(path, name="pub", version="2.0", sha256=sha) == "uploaded"
    with RegistryClient(registry.api_url, project.path, Credentials.anonymous()) as anon:
        [entry] = anon.pypi_simple_files("pub")
        assert anon.pypi_download(entry, tmp_path / "dl.whl", max_bytes=100).read_bytes() == data
        assert anon.pypi_simple_files("not-there") == []  # 302 to pypi.org is "absent"


# -- idempotency ----------------------------------------------------------------------------


def test_pypi_reupload_same_is_exists_same_and_different_is_refused(env: Env) -> None:
    path, sha = env.file("dup-1.0.tar.gz")
    with env.client() as client:
        assert client.pypi_upload(path, name="dup", version="1.0", sha256=sha) == "uploaded"
        assert client.pypi_upload(path, name="dup", version="1.0", sha256=sha) == "exists-same"
        other, other_sha = env.file("dup-1.0.tar.gz", b"different bytes")
        with pytest.raises(RegistryError, match="different contents") as info:
            client.pypi_upload(other, name="dup", version="1.0", sha256=other_sha)
    assert "Refusing to overwrite" in str(info.value)
    assert env.registry.pypi_files(env.project) == [("dup", "1.0", "dup-1.0.tar.gz", sha)]


def test_generic_reupload_same_is_skipped_and_different_is_refused(env: Env) -> None:
    path, sha = env.file("g-1.0.whl.sig", b"sig-1")
    with env.client() as client:
        assert client.generic_upload("g", "1.0", path, sha256=sha) == "uploaded"
        puts = len(env.requests("PUT"))
        assert client.generic_upload("g", "1.0", path, sha256=sha) == "exists-same"
        assert len(env.requests("PUT")) == puts  # nothing sent: GitLab would add a duplicate
        other, other_sha = env.file("g-1.0.whl.sig", b"sig-2")
        with pytest.raises(RegistryError, match="different contents"):
            client.generic_upload("g", "1.0", other, sha256=other_sha)
    assert [r.sha256 for r in env.registry.generic_files(env.project)] == [sha]


def test_generic_duplicates_disallowed_setting(env: Env) -> None:
    path, sha = env.file("nd-1.0.whl.sig", b"sig")
    env.registry.settings.allow_generic_duplicates = False
    try:
        with env.client() as client:
            assert client.generic_upload("nd", "1.0", path, sha256=sha) == "uploaded"
            assert client.generic_upload("nd", "1.0", path, sha256=sha) == "exists-same"
    finally:
        env.registry.settings.allow_generic_duplicates = True


def test_local_file_not_matching_its_sha256_is_never_completely_sent(env: Env) -> None:
    path, _ = env.file("chg-1.0-py3-none-any.whl", os.urandom(3 * 1024 * 1024))
    wrong = hashlib.sha256(b"something else").hexdigest()
    with env.client(chunk_size=256 * 1024) as client:
        with pytest.raises(RegistryError, match="does not match the sha256"):
            client.pypi_upload(path, name="chg", version="1.0", sha256=wrong)
        with pytest.raises(RegistryError, match="does not match the sha256"):
            client.generic_upload("chg", "1.0", path, sha256=wrong)
    assert env.registry.pypi_files(env.project) == []
    assert env.registry.generic_files(env.project) == []


# -- faults ---------------------------------------------------------------------------------

FAULTS = [
    pytest.param({"kind": "status", "status": 502}, id="502-before-store"),
    pytest.param({"kind": "status", "status": 500}, id="500"),
    pytest.param({"kind": "status", "status": 503, "retry_after": "0"}, id="503"),
    pytest.param({"kind": "status", "status": 429, "retry_after": "0"}, id="429"),
    pytest.param({"kind": "reset"}, id="reset-mid-body"),
    pytest.param({"kind": "reset", "after_bytes": 0}, id="reset-at-once"),
    pytest.param({"kind": "stored_then_502"}, id="stored-then-502"),
    pytest.param({"kind": "stored_then_502", "times": 3}, id="stored-then-502-x3"),
    pytest.param({"kind": "status", "status": 502, "times": 4}, id="502-x4"),
]


@pytest.mark.parametrize("registry_kind", ["pypi", "generic"])
@pytest.mark.parametrize("fault", FAULTS)
def test_upload_survives_fault_exactly_once(
    env: Env, registry_kind: str, fault: dict[str, Any]
) -> None:
    method = "POST" if registry_kind == "pypi" else "PUT"
    env.registry.faults.plan(**fault, method=method, path_contains=env.prefix)
    path, sha = env.file("flt-1.0-py3-none-any.whl", os.urandom(300_000))
    with env.client() as client:
        if registry_kind == "pypi":
            outcome = client.pypi_upload(path, name="flt", version="1.0", sha256=sha)
            stored = [(f.filename, f.sha256) for f in env.registry.pypi_files(env.project)]
            # the index says the same as the bytes on disk
            assert [f.sha256 for f in client.pypi_simple_files("flt")] == [sha]
        else:
            outcome = client.generic_upload("flt", "1.0", path, sha256=sha)
            stored = [(f.filename, f.sha256) for f in env.registry.generic_files(env.project)]
    assert stored == [(path.name, sha)]
    if fault["kind"] == "stored_then_502":
        assert outcome == "exists-same"  # the registry was asked before sending again
        assert len(env.requests(method)) == 1
    else:
        assert outcome == "uploaded"
        assert len(env.requests(method)) == fault.get("times", 1) + 1


SLOW_STORES = [
    # our read times out while GitLab is still busy with the upload
    pytest.param({"kind": "latency", "seconds": 0.8}, {"timeout": 0.3}, id="read-timeout"),
    # the proxy answers 502 while GitLab is still storing the upload
    pytest.param({"kind": "store_after_502", "seconds": 0.8}, {}, id="proxy-502-while-storing"),
]


@pytest.mark.parametrize(("fault", "client_kwargs"), SLOW_STORES)
def test_generic_slow_store_is_waited_for_not_sent_twice(
    env: Env, fault: dict[str, Any], client_kwargs: dict[str, Any]
) -> None:
    # GitLab keeps every duplicate generic file: a re-send while the first copy is still being
    # stored would leave two records. The client keeps asking for a while instead.
    env.registry.faults.plan(**fault, method="PUT", path_contains=env.prefix)
    path, sha = env.file("slow-1.0-py3-none-any.whl.sigstore.json", os.urandom(50_000))
    sent: list[int] = []
    with env.client(sleep=time.sleep, **client_kwargs) as client:
        outcome = client.generic_upload("slow", "1.0", path, sha256=sha, progress=sent.append)
    assert outcome == "exists-same"
    assert sent == [path.stat().st_size]  # the body went out exactly once
    assert env.registry.wait_idle()
    assert len(env.requests("PUT")) == 1
    stored = [(f.filename, f.sha256) for f in env.registry.generic_files(env.project)]
    assert stored == [(path.name, sha)]


@pytest.mark.parametrize(
    ("fault", "settles"),
    [
        # nginx's HTML 502: GitLab may still be storing it, so ask again for a while
        pytest.param({"kind": "status", "status": 502}, True, id="proxy-502"),
        # GitLab's own JSON 500: the request is over, one check is enough
        pytest.param({"kind": "status", "status": 500}, False, id="gitlab-500"),
        # the body never got through: nothing can have been stored
        pytest.param({"kind": "reset", "after_bytes": 1000}, False, id="reset-mid-body"),
    ],
)
def test_generic_settle_wait_is_bounded_and_only_when_a_store_may_be_pending(
    env: Env, fault: dict[str, Any], settles: bool
) -> None:
    env.registry.faults.plan(**fault, method="PUT", path_contains=env.prefix)
    path, sha = env.file("st-1.0-py3-none-any.whl", os.urandom(8 << 20))
    with env.client(settle_time=2.0) as client:
        assert client.generic_upload("st", "1.0", path, sha256=sha) == "uploaded"
    settle = [s for s in env.sleeps if s > FAST.max_delay]  # longer than any retry backoff
    gets = len(env.requests("GET"))
    if settles:
        assert settle == [0.25, 0.5, 1.0, 0.25]  # backoff, capped at settle_time in total
        assert gets == 2 + len(settle)  # the first check, then one after each wait
    else:
        assert settle == []
        assert gets == 2
    assert len(env.requests("PUT")) == 2
    stored = [(f.filename, f.sha256) for f in env.registry.generic_files(env.project)]
    assert stored == [(path.name, sha)]


def test_retry_after_is_honoured(env: Env) -> None:
    env.registry.faults.plan(
        "status", status=429, retry_after=3, method="POST", path_contains=env.prefix
    )
    path, sha = env.file("ra-1.0-py3-none-any.whl")
    with env.client(retry_policy=RetryPolicy(retries=3, base_delay=0.01, seed=1)) as client:
        assert client.pypi_upload(path, name="ra", version="1.0", sha256=sha) == "uploaded"
    assert len(env.sleeps) == 1
    assert 3.0 <= env.sleeps[0] <= 3.1


def test_retry_after_too_long_gives_up_with_gitlab_words(env: Env) -> None:
    env.registry.faults.plan(
        "status", status=429, retry_after=3600, method="POST", path_contains=env.prefix
    )
    path, sha = env.file("rb-1.0-py3-none-any.whl")
    with env.client() as client, pytest.raises(RegistryError) as info:
        client.pypi_upload(path, name="rb", version="1.0", sha256=sha)
    assert info.value.status == 429
    assert "rate-limiting" in str(info.value)
    assert env.sleeps == []


def test_persistent_5xx_gives_up_after_bounded_attempts(env: Env) -> None:
    env.registry.faults.plan(
        "status", status=502, times=None, method="PUT", path_contains=env.prefix
    )
    path, sha = env.file("gu-1.0.whl.sig")
    policy = RetryPolicy(retries=3, base_delay=0.01, max_delay=0.01)
    with env.client(retry_policy=policy) as client, pytest.raises(RegistryError) as info:
        client.generic_upload("gu", "1.0", path, sha256=sha)
    text = str(info.value)
    assert "HTTP 502" in text
    assert "after 4 attempt(s)" in text
    assert "HTML page" in text
    assert_no_token(text, env.token)
    assert len(env.requests("PUT")) == 4
    backoff = [s for s in env.sleeps if s <= policy.max_delay]
    assert len(backoff) == 3
    # after each proxy 502 the client asked again for a while (bounded) before re-sending
    settle = [s for s in env.sleeps if s > policy.max_delay]
    assert sum(settle) == pytest.approx(4 * 4.0)


def test_read_timeout_is_ambiguous_and_checked_before_resending(env: Env) -> None:
    # The server sleeps, then stores the upload; the client times out first, waits, asks the
    # index (which by then lists the file) and does not send it again.
    env.registry.faults.plan("latency", seconds=0.6, method="POST", path_contains=env.prefix)
    path, sha = env.file("to-1.0-py3-none-any.whl")
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        assert env.registry.wait_idle()  # the slow request has been stored by now

    with env.client(timeout=0.2, sleep=sleep) as client:
        outcome = client.pypi_upload(path, name="to", version="1.0", sha256=sha)
    assert outcome == "exists-same"
    assert len(waits) == 1  # one backoff after the timeout, then the index had it
    assert len(env.requests("POST")) == 1
    assert env.registry.pypi_files(env.project) == [("to", "1.0", path.name, sha)]


def test_thirty_percent_random_faults_many_files_each_stored_once(env: Env) -> None:
    env.registry.faults.random(rate=0.3, seed=20260501, path_contains=env.prefix, retry_after="0")
    policy = RetryPolicy(retries=12, base_delay=0.001, max_delay=0.002, total_time=120, seed=3)
    expected_pypi: list[tuple[str, str, str, str]] = []
    expected_generic: list[tuple[str, str]] = []
    outcomes: dict[str, int] = {}
    with env.client(retry_policy=policy) as client:
        for i in range(12):
            name = f"many{i}"
            wheel, wsha = env.file(f"{name}-1.0-py3-none-any.whl", os.urandom(20_000 + i))
            sig, ssha = env.file(f"{name}-1.0-py3-none-any.whl.sigstore.json", os.urandom(500))
            for outcome in (
                client.generic_upload(name, "1.0", sig, sha256=ssha),
                client.pypi_upload(wheel, name=name, version="1.0", sha256=wsha),
            ):
                outcomes[outcome.value] = outcomes.get(outcome.value, 0) + 1
            expected_pypi.append((name, "1.0", wheel.name, wsha))
            expected_generic.append((sig.name, ssha))
    injected = [f for f in env.registry.faults.injected if f.path.startswith(env.prefix)]
    assert len(injected) >= 10, "the fault injector did not fire"
    assert sorted(env.registry.pypi_files(env.project)) == sorted(expected_pypi)
    generic = [(f.filename, f.sha256) for f in env.registry.generic_files(env.project)]
    assert sorted(generic) == sorted(expected_generic)  # each exactly once: no duplicates
    assert sum(outcomes.values()) == 24
    for name, _, filename, wsha in expected_pypi:  # and the stored bytes are right
        blob = env.registry.pypi_file_path(env.project, filename)
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == wsha, name


# -- errors ---------------------------------------------------------------------------------


def _error_cases(
    env: Env,
) -> list[tuple[str, Callable[[RegistryClient], object], Credentials, int, list[str]]]:
    reg = env.registry
    path, sha = env.file("err-1.0-py3-none-any.whl")
    guest = Credentials("job", reg.job_token(env.project, role="guest"))
    ro_user, ro_token = reg.deploy_token(env.project, scopes=("read_package_registry",))
    read_only = Credentials("deploy", ro_token, username=ro_user)
    wrong = Credentials("personal", "glpat-" + "x" * 20, source="GITLAB_TOKEN")
    noscope = Credentials(
        "personal", reg.personal_token(project=env.project, scopes=("read_api",), role="developer")
    )

    def pypi(c: RegistryClient) -> object:
        return c.pypi_upload(path, name="err", version="1.0", sha256=sha)

    def generic(c: RegistryClient) -> object:
        return c.generic_upload("err", "1.0", path, sha256=sha)

    return [
        ("wrong-token", pypi, wrong, 401, ["401 Unauthorized", "GITLAB_TOKEN"]),
        ("anonymous-upload", pypi, Credentials.anonymous(), 401, ["No token was sent"]),
        ("guest-role", pypi, guest, 403, ["403 Forbidden", "Developer role"]),
        ("read-only-deploy", generic, read_only, 403, ["403 Forbidden", "write_package_registry"]),
        ("read-api-scope", pypi, noscope, 403, ["api"]),
    ]


@pytest.mark.parametrize("case", range(5))
def test_error_messages_quote_gitlab_and_say_what_to_do(env: Env, case: int) -> None:
    name, call, creds, status, needles = _error_cases(env)[case]
    with env.client(creds) as client, pytest.raises(RegistryError) as info:
        call(client)
    text = str(info.value)
    assert info.value.status == status, (name, text)
    for needle in needles:
        assert needle in text, (name, text)
    assert "GitLab said" in text
    assert_no_token(text, env.token, *(creds.secrets))


def test_unknown_project_404(env: Env) -> None:
    path, sha = env.file("np-1.0-py3-none-any.whl")
    client = RegistryClient(env.registry.api_url, "nobody/nothing", env.creds, retry_policy=FAST)
    with client, pytest.raises(RegistryError) as info:
        client.pypi_upload(path, name="np", version="1.0", sha256=sha)
    assert info.value.status == 404
    assert "nobody/nothing" in str(info.value)
    assert "404" in str(info.value)


def test_too_large(env: Env) -> None:
    path, sha = env.file("big-1.0-py3-none-any.whl", b"x" * 5000)
    old = env.registry.settings.max_pypi_file_size
    env.registry.settings.max_pypi_file_size = 1000
    try:
        with env.client() as client, pytest.raises(RegistryError) as info:
            client.pypi_upload(path, name="big", version="1.0", sha256=sha)
    finally:
        env.registry.settings.max_pypi_file_size = old
    assert "too large" in str(info.value).lower()
    assert "size limit" in str(info.value)


def test_invalid_version_quotes_gitlab(env: Env) -> None:
    path, sha = env.file("bad-1.0-py3-none-any.whl")
    with env.client() as client, pytest.raises(RegistryError) as info:
        client.pypi_upload(path, name="bad", version="1.0~x", sha256=sha)
    assert "Version is invalid" in str(info.value)


def test_web_url_is_taken_as_the_api_root(env: Env) -> None:
    client = RegistryClient(env.registry.url, str(env.project.id), env.creds, retry_policy=FAST)
    assert client.api_url == env.registry.api_url
    path, sha = env.file("w-1.0-py3-none-any.whl")
    with client:
        assert client.pypi_upload(path, name="w", version="1.0", sha256=sha) == "uploaded"


@pytest.mark.parametrize(
    ("status", "body", "ctype", "needles"),
    [
        (
            401,
            b'{"message":"401 Unauthorized"}',
            "application/json",
            ["401 Unauthorized", "CI_JOB_TOKEN"],
        ),
        (
            401,
            b'{"error":"invalid_token","error_description":"Token is expired."}',
            "application/json",
            ["invalid_token: Token is expired.", "expired"],
        ),
        (
            403,
            b'{"message":"403 Forbidden - Package protected."}',
            "application/json",
            ["Package protected", "protection rule"],
        ),
        (
            403,
            b'{"error":"insufficient_scope","error_description":"needs api","scope":"api"}',
            "application/json",
            ["insufficient_scope", "write_package_registry"],
        ),
        (
            403,
            b'{"message":"403 Forbidden - Insufficient permissions to access this resource in '
            b'project g/p. The following token permission is required: admin_packages."}',
            "application/json",
            ["admin_packages", "allowlist"],
        ),
        (404, b'{"message":"404 Project Not Found"}', "application/json", ["project id or path"]),
        (
            404,
            b"<html><body>Sign in</body></html>",
            "text/html",
            ["HTML page", "project id", "not a GitLab API v4 URL"],
        ),
        (404, b"nothing here", "text/plain", ["not GitLab's JSON", "API v4"]),
        (
            400,
            b'{"message":"400 Bad request - Validation failed: File name has already been taken"}',
            "application/json",
            ["already been taken", "already exists"],
        ),
        (
            400,
            b'{"message":"400 Bad request - Duplicate package is not allowed"}',
            "application/json",
            ["Duplicate package", "disallows duplicate"],
        ),
        (
            400,
            b'{"message":"400 Bad request - File is too large"}',
            "application/json",
            ["File is too large", "size limit"],
        ),
        (413, b"Request Entity Too Large", "text/plain", ["size limit"]),
        (
            400,
            b'{"error":"name is missing, version is missing"}',
            "application/json",
            ["name is missing"],
        ),
        (
            429,
            b'{"message":{"error":"This endpoint has been requested too many times."}}',
            "application/json",
            ["requested too many times", "rate-limiting"],
        ),
        (500, b"", "", ["no body", "server error"]),
        (302, b"", "", ["redirected"]),
    ],
)
def test_error_mapping_table(status: int, body: bytes, ctype: str, needles: list[str]) -> None:
    creds = Credentials("job", "glcbt-0000_secretsecretsecret", source="CI_JOB_TOKEN")
    err = error_from_response(
        status,
        {"content-type": ctype, "location": "https://pypi.org/simple/x/"},
        body,
        action="uploading x.whl",
        url="https://gitlab.example.com/api/v4/projects/1/packages/pypi",
        project="g/p",
        credentials=creds,
    )
    text = str(err)
    assert err.status == status
    assert text.startswith(f"GitLab refused uploading x.whl with HTTP {status}.")
    for needle in needles:
        assert needle in text
    assert "secretsecret" not in text


def test_error_body_echoing_the_token_is_redacted() -> None:
    token = "glpat-abcdefghijklmnopqrst"
    err = error_from_response(
        401,
        {"content-type": "application/json"},
        json.dumps({"message": f"bad token {token}"}).encode(),
        action="x",
        url="u",
        project="p",
        credentials=Credentials("personal", token),
    )
    assert token not in str(err)


@pytest.mark.parametrize(
    ("api_url", "project"),
    [
        ("gitlab.example.com/api/v4", "1"),
        ("ftp://gitlab.example.com/api/v4", "1"),
        ("https://__token__:glpat-xxxxxxxxxxxxxxxx@gitlab.example.com/api/v4", "1"),
        ("https://gitlab.example.com/api/v4?private_token=x", "1"),
        ("https://gitlab.example.com/api/v4", " "),
    ],
)
def test_bad_configuration(api_url: str, project: str) -> None:
    with pytest.raises(ConfigError) as info:
        RegistryClient(api_url, project, Credentials.anonymous())
    assert "glpat-xxxx" not in str(info.value)


@pytest.mark.parametrize(
    ("package", "version", "filename"),
    [
        ("a/b", "1", "f"),
        ("a", "1..2", "f"),
        ("a", "1", "../f"),
        ("a", "1", "f g"),
        ("a", "1!2", "f"),
        ("a", "1", ".f"),
        ("", "1", "f"),
    ],
)
def test_generic_coordinates_validated_locally(package: str, version: str, filename: str) -> None:
    client = RegistryClient("https://gitlab.example.com/api/v4", "1", Credentials.anonymous())
    with client, pytest.raises(ConfigError):
        client.generic_url(package, version, filename)


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


def test_cross_host_redirect_refused_by_default(hostile: Hostile, tmp_path: Path) -> None:
    other = Hostile("127.0.0.1")
    try:
        other.routes["/b.whl"] = _send(200, GOOD)
        hostile.routes["/a.whl"] = _redirect(other.url + "/b.whl")
        with _client_for(hostile) as client, pytest.raises(RegistryError, match="another host"):
            client.download(hostile.url + "/a.whl", tmp_path / "a.whl", max_bytes=100)
        assert other.seen == []
        # Explicitly allowed: followed, but without credentials.
        with _client_for(hostile, allow_cross_host_redirects=True) as client:
            got = client.download(hostile.url + "/a.whl", tmp_path / "a.whl", max_bytes=100)
        assert got.path.read_bytes() == GOOD
        assert len(other.seen) == 1
        headers = other.seen[0][1]
        assert "authorization" not in headers
        assert not any("token" in k for k in headers)
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
        (_redirect("file:///etc/passwd"), {"max_bytes": 100}, "non-HTTP"),
        (_redirect("/loop.whl"), {"max_bytes": 100}, "Too many redirects"),
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


def test_ca_bundle_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CA bundle"):
        RegistryClient("https://h/api/v4", "1", Credentials.anonymous(), verify=str(tmp_path / "x"))


def test_concurrent_uploads_share_one_client(env: Env) -> None:
    from concurrent.futures import ThreadPoolExecutor

    env.registry.faults.random(rate=0.2, seed=5, path_contains=env.prefix, retry_after="0")
    files = [env.file(f"cc-1.0.tar.gz.part{i}.sig", os.urandom(2000)) for i in range(16)]
    policy = RetryPolicy(retries=10, base_delay=0.001, max_delay=0.002, seed=2)
    with env.client(retry_policy=policy) as client, ThreadPoolExecutor(8) as pool:
        first_path, first_sha = files[0]  # GitLab: the first file of a new version alone
        assert client.generic_upload("cc", "1.0", first_path, sha256=first_sha) == "uploaded"
        outcomes = list(
            pool.map(lambda f: client.generic_upload("cc", "1.0", f[0], sha256=f[1]), files[1:])
        )
    assert set(outcomes) <= {"uploaded", "exists-same"}
    stored = sorted((f.filename, f.sha256) for f in env.registry.generic_files(env.project))
    assert stored == sorted((p.name, sha) for p, sha in files)


# -- memory ---------------------------------------------------------------------------------

MEMORY_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, resource, sys
    from pathlib import Path
    from hatch_sigstore.gitlab import Credentials, RegistryClient

    api, project, token, path, kind = sys.argv[1:6]
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    sha = digest.hexdigest()

    def rss_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    client = RegistryClient(api, project, Credentials("job", token))
    peak = {"rss": rss_kib()}
    base = peak["rss"]
    def progress(n):
        peak["rss"] = max(peak["rss"], rss_kib())
    if kind == "pypi":
        out = client.pypi_upload(path, name="big", version="1.0", sha256=sha, progress=progress)
    else:
        out = client.generic_upload("big", "1.0", path, sha256=sha, progress=progress)
    client.close()
    print(json.dumps({"outcome": out.value, "base_kib": base, "peak_kib": peak["rss"],
                      "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    """
)


@pytest.mark.parametrize("kind", ["pypi", "generic"])
def test_streaming_upload_memory_is_constant(env: Env, kind: str) -> None:
    size = 200 * 1024 * 1024
    path = env.tmp / "big-1.0-py3-none-any.whl"
    with path.open("wb") as fh:
        fh.truncate(size)  # sparse: costs no disk
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MEMORY_SCRIPT,
            env.registry.api_url,
            str(env.project.id),
            env.token,
            str(path),
            kind,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    data = json.loads(result.stdout)
    growth_mib = (data["peak_kib"] - data["base_kib"]) / 1024
    print(
        f"{kind}: 200 MiB upload, RSS growth {growth_mib:.1f} MiB, "
        f"peak RSS {data['maxrss_kib'] / 1024:.1f} MiB, {elapsed:.1f} s"
    )
    assert data["outcome"] == "uploaded"
    assert growth_mib < 25, data
    if kind == "pypi":
        assert [f.filename for f in env.registry.pypi_files(env.project)] == [path.name]
    else:
        assert [f.filename for f in env.registry.generic_files(env.project)] == [path.name]


# The index's reader of PyPI-compatible indexes is a registry client too; it moves to the
# pypi/ client package when that exists.
_OTHER_CLIENTS = ("index/_pypi.py",)


def test_httpx_is_only_imported_by_the_gitlab_package() -> None:
    root = Path(__file__).resolve().parents[2] / "src" / "hatch_sigstore"
    offenders = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if "import httpx" in p.read_text()
        and p.parent.name not in ("gitlab", "sandbox")
        and p.relative_to(root).as_posix() not in _OTHER_CLIENTS
    ]
    assert offenders == []
    assert httpx is not None
