"""RegistryClient against the GitLab stand-in over real HTTP: uploads (PyPI multipart, generic
PUT), idempotency (exists-same / refuse different), retries with the stand-in's fault injection
(5xx, resets mid-body, stored-then-502, 429 + Retry-After, timeouts) and error messages
(GitLab's words + what to do, never a token)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hatch_sigstore.errors import RegistryError
from hatch_sigstore.gitlab import Credentials, RegistryClient, RetryPolicy

if TYPE_CHECKING:
    from hatch_sigstore.sandbox.gitlab import GitLabRegistry

from registry_helpers import FAST, Env, assert_no_token

# -- happy paths ----------------------------------------------------------------------------


def test_pypi_upload_index_download_roundtrip(standin: Env) -> None:
    path, sha = standin.file("my_pkg-1.0-py3-none-any.whl")
    progress: list[int] = []
    with standin.client() as client:
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
        out = standin.tmp / "out"
        out.mkdir()
        got = client.pypi_download(files[0], out, max_bytes=10**6)
    assert got == out / path.name
    assert got.read_bytes() == path.read_bytes()
    assert progress[-1] == path.stat().st_size
    assert progress == sorted(progress)
    assert standin.registry.pypi_files(standin.project) == [("my_pkg", "1.0", path.name, sha)]
    assert list(out.iterdir()) == [got]  # no temp files left


def test_generic_upload_and_download(standin: Env) -> None:
    path, sha = standin.file("my_pkg-1.0.tar.gz.sigstore.json", b'{"bundle": 1}')
    with standin.client() as client:
        assert client.generic_file_sha256("my_pkg", "1.0", path.name) is None
        assert client.generic_upload("my_pkg", "1.0", path, sha256=sha) == "uploaded"
        assert client.generic_file_sha256("my_pkg", "1.0", path.name) == sha
        dest = standin.tmp / "x.json"
        assert client.generic_download("my_pkg", "1.0", path.name, dest, max_bytes=100) == dest
        assert dest.read_bytes() == path.read_bytes()
        with pytest.raises(RegistryError) as info:
            client.generic_download("my_pkg", "1.0", "absent.sig", standin.tmp, max_bytes=100)
    assert info.value.status == 404
    assert [r[2:4] for r in standin.registry.generic_files(standin.project)] == [(path.name, sha)]


@pytest.mark.parametrize("kind", ["job", "personal", "deploy"])
def test_every_credential_kind_uploads_to_both_registries(standin: Env, kind: str) -> None:
    if kind == "job":
        creds = standin.creds
    elif kind == "personal":
        creds = Credentials(
            "personal", standin.registry.personal_token(project=standin.project, role="developer")
        )
    else:
        user, token = standin.registry.deploy_token(standin.project)
        creds = Credentials("deploy", token, username=user)
    path, sha = standin.file(f"p_{kind}-1.0-py3-none-any.whl")
    with standin.client(creds) as client:
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


def test_pypi_reupload_same_is_exists_same_and_different_is_refused(standin: Env) -> None:
    path, sha = standin.file("dup-1.0.tar.gz")
    with standin.client() as client:
        assert client.pypi_upload(path, name="dup", version="1.0", sha256=sha) == "uploaded"
        assert client.pypi_upload(path, name="dup", version="1.0", sha256=sha) == "exists-same"
        other, other_sha = standin.file("dup-1.0.tar.gz", b"different bytes")
        with pytest.raises(RegistryError, match="different contents") as info:
            client.pypi_upload(other, name="dup", version="1.0", sha256=other_sha)
    assert "Refusing to overwrite" in str(info.value)
    assert standin.registry.pypi_files(standin.project) == [("dup", "1.0", "dup-1.0.tar.gz", sha)]


def test_generic_reupload_same_is_skipped_and_different_is_refused(standin: Env) -> None:
    path, sha = standin.file("g-1.0.whl.sig", b"sig-1")
    with standin.client() as client:
        assert client.generic_upload("g", "1.0", path, sha256=sha) == "uploaded"
        puts = len(standin.requests("PUT"))
        assert client.generic_upload("g", "1.0", path, sha256=sha) == "exists-same"
        assert len(standin.requests("PUT")) == puts  # nothing sent: GitLab would add a duplicate
        other, other_sha = standin.file("g-1.0.whl.sig", b"sig-2")
        with pytest.raises(RegistryError, match="different contents"):
            client.generic_upload("g", "1.0", other, sha256=other_sha)
    assert [r.sha256 for r in standin.registry.generic_files(standin.project)] == [sha]


def test_generic_duplicates_disallowed_setting(standin: Env) -> None:
    path, sha = standin.file("nd-1.0.whl.sig", b"sig")
    standin.registry.settings.allow_generic_duplicates = False
    try:
        with standin.client() as client:
            assert client.generic_upload("nd", "1.0", path, sha256=sha) == "uploaded"
            assert client.generic_upload("nd", "1.0", path, sha256=sha) == "exists-same"
    finally:
        standin.registry.settings.allow_generic_duplicates = True


def test_local_file_not_matching_its_sha256_is_never_completely_sent(standin: Env) -> None:
    path, _ = standin.file("chg-1.0-py3-none-any.whl", os.urandom(3 * 1024 * 1024))
    wrong = hashlib.sha256(b"something else").hexdigest()
    with standin.client(chunk_size=256 * 1024) as client:
        with pytest.raises(RegistryError, match="does not match the sha256"):
            client.pypi_upload(path, name="chg", version="1.0", sha256=wrong)
        with pytest.raises(RegistryError, match="does not match the sha256"):
            client.generic_upload("chg", "1.0", path, sha256=wrong)
    assert standin.registry.pypi_files(standin.project) == []
    assert standin.registry.generic_files(standin.project) == []


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
    standin: Env, registry_kind: str, fault: dict[str, Any]
) -> None:
    method = "POST" if registry_kind == "pypi" else "PUT"
    standin.registry.faults.plan(**fault, method=method, path_contains=standin.prefix)
    path, sha = standin.file("flt-1.0-py3-none-any.whl", os.urandom(300_000))
    with standin.client() as client:
        if registry_kind == "pypi":
            outcome = client.pypi_upload(path, name="flt", version="1.0", sha256=sha)
            stored = [(f.filename, f.sha256) for f in standin.registry.pypi_files(standin.project)]
            # the index says the same as the bytes on disk
            assert [f.sha256 for f in client.pypi_simple_files("flt")] == [sha]
        else:
            outcome = client.generic_upload("flt", "1.0", path, sha256=sha)
            stored = [
                (f.filename, f.sha256) for f in standin.registry.generic_files(standin.project)
            ]
    assert stored == [(path.name, sha)]
    if fault["kind"] == "stored_then_502":
        assert outcome == "exists-same"  # the registry was asked before sending again
        assert len(standin.requests(method)) == 1
    else:
        assert outcome == "uploaded"
        assert len(standin.requests(method)) == fault.get("times", 1) + 1


SLOW_STORES = [
    # our read times out while GitLab is still busy with the upload
    pytest.param({"kind": "latency", "seconds": 0.8}, {"timeout": 0.3}, id="read-timeout"),
    # the proxy answers 502 while GitLab is still storing the upload
    pytest.param({"kind": "store_after_502", "seconds": 0.8}, {}, id="proxy-502-while-storing"),
]


@pytest.mark.parametrize(("fault", "client_kwargs"), SLOW_STORES)
def test_generic_slow_store_is_waited_for_not_sent_twice(
    standin: Env, fault: dict[str, Any], client_kwargs: dict[str, Any]
) -> None:
    # GitLab keeps every duplicate generic file: a re-send while the first copy is still being
    # stored would leave two records. The client keeps asking for a while instead.
    standin.registry.faults.plan(**fault, method="PUT", path_contains=standin.prefix)
    path, sha = standin.file("slow-1.0-py3-none-any.whl.sigstore.json", os.urandom(50_000))
    sent: list[int] = []
    with standin.client(sleep=time.sleep, **client_kwargs) as client:
        outcome = client.generic_upload("slow", "1.0", path, sha256=sha, progress=sent.append)
    assert outcome == "exists-same"
    assert sent == [path.stat().st_size]  # the body went out exactly once
    assert standin.registry.wait_idle()
    assert len(standin.requests("PUT")) == 1
    stored = [(f.filename, f.sha256) for f in standin.registry.generic_files(standin.project)]
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
    standin: Env, fault: dict[str, Any], settles: bool
) -> None:
    standin.registry.faults.plan(**fault, method="PUT", path_contains=standin.prefix)
    path, sha = standin.file("st-1.0-py3-none-any.whl", os.urandom(8 << 20))
    with standin.client(settle_time=2.0) as client:
        assert client.generic_upload("st", "1.0", path, sha256=sha) == "uploaded"
    settle = [s for s in standin.sleeps if s > FAST.max_delay]  # longer than any retry backoff
    gets = len(standin.requests("GET"))
    if settles:
        assert settle == [0.25, 0.5, 1.0, 0.25]  # backoff, capped at settle_time in total
        assert gets == 2 + len(settle)  # the first check, then one after each wait
    else:
        assert settle == []
        assert gets == 2
    assert len(standin.requests("PUT")) == 2
    stored = [(f.filename, f.sha256) for f in standin.registry.generic_files(standin.project)]
    assert stored == [(path.name, sha)]


def test_retry_after_is_honoured(standin: Env) -> None:
    standin.registry.faults.plan(
        "status", status=429, retry_after=3, method="POST", path_contains=standin.prefix
    )
    path, sha = standin.file("ra-1.0-py3-none-any.whl")
    with standin.client(retry_policy=RetryPolicy(retries=3, base_delay=0.01, seed=1)) as client:
        assert client.pypi_upload(path, name="ra", version="1.0", sha256=sha) == "uploaded"
    assert len(standin.sleeps) == 1
    assert 3.0 <= standin.sleeps[0] <= 3.1


def test_retry_after_too_long_gives_up_with_gitlab_words(standin: Env) -> None:
    standin.registry.faults.plan(
        "status", status=429, retry_after=3600, method="POST", path_contains=standin.prefix
    )
    path, sha = standin.file("rb-1.0-py3-none-any.whl")
    with standin.client() as client, pytest.raises(RegistryError) as info:
        client.pypi_upload(path, name="rb", version="1.0", sha256=sha)
    assert info.value.status == 429
    assert "rate-limiting" in str(info.value)
    assert standin.sleeps == []


def test_persistent_5xx_gives_up_after_bounded_attempts(standin: Env) -> None:
    standin.registry.faults.plan(
        "status", status=502, times=None, method="PUT", path_contains=standin.prefix
    )
    path, sha = standin.file("gu-1.0.whl.sig")
    policy = RetryPolicy(retries=3, base_delay=0.01, max_delay=0.01)
    with standin.client(retry_policy=policy) as client, pytest.raises(RegistryError) as info:
        client.generic_upload("gu", "1.0", path, sha256=sha)
    text = str(info.value)
    assert "HTTP 502" in text
    assert "after 4 attempt(s)" in text
    assert "HTML page" in text
    assert_no_token(text, standin.token)
    assert len(standin.requests("PUT")) == 4
    backoff = [s for s in standin.sleeps if s <= policy.max_delay]
    assert len(backoff) == 3
    # after each proxy 502 the client asked again for a while (bounded) before re-sending
    settle = [s for s in standin.sleeps if s > policy.max_delay]
    assert sum(settle) == pytest.approx(4 * 4.0)


def test_read_timeout_is_ambiguous_and_checked_before_resending(standin: Env) -> None:
    # The server sleeps, then stores the upload; the client times out first, waits, asks the
    # index (which by then lists the file) and does not send it again.
    standin.registry.faults.plan(
        "latency", seconds=0.6, method="POST", path_contains=standin.prefix
    )
    path, sha = standin.file("to-1.0-py3-none-any.whl")
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        assert standin.registry.wait_idle()  # the slow request has been stored by now

    with standin.client(timeout=0.2, sleep=sleep) as client:
        outcome = client.pypi_upload(path, name="to", version="1.0", sha256=sha)
    assert outcome == "exists-same"
    assert len(waits) == 1  # one backoff after the timeout, then the index had it
    assert len(standin.requests("POST")) == 1
    assert standin.registry.pypi_files(standin.project) == [("to", "1.0", path.name, sha)]


def test_thirty_percent_random_faults_many_files_each_stored_once(standin: Env) -> None:
    standin.registry.faults.random(
        rate=0.3, seed=20260501, path_contains=standin.prefix, retry_after="0"
    )
    policy = RetryPolicy(retries=12, base_delay=0.001, max_delay=0.002, total_time=120, seed=3)
    expected_pypi: list[tuple[str, str, str, str]] = []
    expected_generic: list[tuple[str, str]] = []
    outcomes: dict[str, int] = {}
    with standin.client(retry_policy=policy) as client:
        for i in range(12):
            name = f"many{i}"
            wheel, wsha = standin.file(f"{name}-1.0-py3-none-any.whl", os.urandom(20_000 + i))
            sig, ssha = standin.file(f"{name}-1.0-py3-none-any.whl.sigstore.json", os.urandom(500))
            for outcome in (
                client.generic_upload(name, "1.0", sig, sha256=ssha),
                client.pypi_upload(wheel, name=name, version="1.0", sha256=wsha),
            ):
                outcomes[outcome.value] = outcomes.get(outcome.value, 0) + 1
            expected_pypi.append((name, "1.0", wheel.name, wsha))
            expected_generic.append((sig.name, ssha))
    injected = [f for f in standin.registry.faults.injected if f.path.startswith(standin.prefix)]
    assert len(injected) >= 10, "the fault injector did not fire"
    assert sorted(standin.registry.pypi_files(standin.project)) == sorted(expected_pypi)
    generic = [(f.filename, f.sha256) for f in standin.registry.generic_files(standin.project)]
    assert sorted(generic) == sorted(expected_generic)  # each exactly once: no duplicates
    assert sum(outcomes.values()) == 24
    for name, _, filename, wsha in expected_pypi:  # and the stored bytes are right
        blob = standin.registry.pypi_file_path(standin.project, filename)
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == wsha, name


# -- errors ---------------------------------------------------------------------------------


def _error_cases(
    standin: Env,
) -> list[tuple[str, Callable[[RegistryClient], object], Credentials, int, list[str]]]:
    reg = standin.registry
    path, sha = standin.file("err-1.0-py3-none-any.whl")
    guest = Credentials("job", reg.job_token(standin.project, role="guest"))
    ro_user, ro_token = reg.deploy_token(standin.project, scopes=("read_package_registry",))
    read_only = Credentials("deploy", ro_token, username=ro_user)
    wrong = Credentials("personal", "glpat-" + "x" * 20, source="GITLAB_TOKEN")
    noscope = Credentials(
        "personal",
        reg.personal_token(project=standin.project, scopes=("read_api",), role="developer"),
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
def test_error_messages_quote_gitlab_and_say_what_to_do(standin: Env, case: int) -> None:
    name, call, creds, status, needles = _error_cases(standin)[case]
    with standin.client(creds) as client, pytest.raises(RegistryError) as info:
        call(client)
    text = str(info.value)
    assert info.value.status == status, (name, text)
    for needle in needles:
        assert needle in text, (name, text)
    assert "GitLab said" in text
    assert_no_token(text, standin.token, *(creds.secrets))


def test_unknown_project_404(standin: Env) -> None:
    path, sha = standin.file("np-1.0-py3-none-any.whl")
    client = RegistryClient(
        standin.registry.api_url, "nobody/nothing", standin.creds, retry_policy=FAST
    )
    with client, pytest.raises(RegistryError) as info:
        client.pypi_upload(path, name="np", version="1.0", sha256=sha)
    assert info.value.status == 404
    assert "nobody/nothing" in str(info.value)
    assert "404" in str(info.value)


def test_too_large(standin: Env) -> None:
    path, sha = standin.file("big-1.0-py3-none-any.whl", b"x" * 5000)
    old = standin.registry.settings.max_pypi_file_size
    standin.registry.settings.max_pypi_file_size = 1000
    try:
        with standin.client() as client, pytest.raises(RegistryError) as info:
            client.pypi_upload(path, name="big", version="1.0", sha256=sha)
    finally:
        standin.registry.settings.max_pypi_file_size = old
    assert "too large" in str(info.value).lower()
    assert "size limit" in str(info.value)


def test_invalid_version_quotes_gitlab(standin: Env) -> None:
    path, sha = standin.file("bad-1.0-py3-none-any.whl")
    with standin.client() as client, pytest.raises(RegistryError) as info:
        client.pypi_upload(path, name="bad", version="1.0~x", sha256=sha)
    assert "Version is invalid" in str(info.value)


def test_web_url_is_taken_as_the_api_root(standin: Env) -> None:
    client = RegistryClient(
        standin.registry.url, str(standin.project.id), standin.creds, retry_policy=FAST
    )
    assert client.api_url == standin.registry.api_url
    path, sha = standin.file("w-1.0-py3-none-any.whl")
    with client:
        assert client.pypi_upload(path, name="w", version="1.0", sha256=sha) == "uploaded"


def test_concurrent_uploads_share_one_client(standin: Env) -> None:
    from concurrent.futures import ThreadPoolExecutor

    standin.registry.faults.random(rate=0.2, seed=5, path_contains=standin.prefix, retry_after="0")
    files = [standin.file(f"cc-1.0.tar.gz.part{i}.sig", os.urandom(2000)) for i in range(16)]
    policy = RetryPolicy(retries=10, base_delay=0.001, max_delay=0.002, seed=2)
    with standin.client(retry_policy=policy) as client, ThreadPoolExecutor(8) as pool:
        first_path, first_sha = files[0]  # GitLab: the first file of a new version alone
        assert client.generic_upload("cc", "1.0", first_path, sha256=first_sha) == "uploaded"
        outcomes = list(
            pool.map(lambda f: client.generic_upload("cc", "1.0", f[0], sha256=f[1]), files[1:])
        )
    assert set(outcomes) <= {"uploaded", "exists-same"}
    stored = sorted((f.filename, f.sha256) for f in standin.registry.generic_files(standin.project))
    assert stored == sorted((p.name, sha) for p, sha in files)
