"""IndexClient against the PyPI stand-in (real HTTP on loopback) and a hostile server.

The stand-in models warehouse: trusted publishing, the upload with PEP 740 attestations, the
JSON, simple and integrity APIs, and faults in its HTTP handling. The hostile server answers
what a broken or malicious index could: echoed tokens, redirects, HTML instead of JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hatch_sigstore._net._retry import RetryPolicy
from hatch_sigstore.errors import ConfigError, RegistryError
from hatch_sigstore.gitlab import UploadOutcome
from hatch_sigstore.pypi import IDToken, IndexClient, IndexURLs, UploadToken, form_fields
from hostile_index import Hostile, answer
from pypi_helpers import REPO, attest, dists, id_token, unique

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex

FAST = RetryPolicy(retries=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture(autouse=True)
def _no_faults(pypi_index: PyPIIndex) -> Iterator[None]:
    pypi_index.faults.clear()
    yield
    pypi_index.faults.clear()


@pytest.fixture
def project(pypi_index: PyPIIndex) -> str:
    name = unique("client")
    pypi_index.create_project(name)
    pypi_index.add_gitlab_publisher(name, REPO)
    return name


def client_for(index: PyPIIndex, **kwargs: object) -> IndexClient:
    return IndexClient(
        IndexURLs.resolve(index.upload_url, "url"),
        retry_policy=FAST,
        **kwargs,  # type: ignore[arg-type]
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fields_of(path: Path) -> list[tuple[str, str]]:
    from hatch_sigstore.verify import read_release

    return form_fields(read_release(path).metadata.as_bytes(), path.name)


def att_text(path: Path) -> list[str]:
    return [json.dumps(json.loads(Path(f"{path}.publish.attestation").read_text()))]


def upload(client: IndexClient, name: str, path: Path, *, attested: bool = True) -> UploadOutcome:
    return client.upload(
        path,
        name=name,
        version="1.0.0",
        sha256=sha(path),
        metadata=fields_of(path),
        attestations=att_text(path) if attested else (),
    )


def test_exchange_upload_and_read_back(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, project: str, tmp_path: Path
) -> None:
    wheel, sdist = dists(tmp_path, project)
    attest(pypi_sigstore, [wheel, sdist])
    with client_for(pypi_index) as client:
        token = client.exchange(IDToken.parse(id_token(pypi_sigstore), "PYPI_ID_TOKEN"))
        assert token.kind == "trusted-publishing"
        assert token.value not in repr(client)
        assert token.value not in repr(token)
        assert client.release_files(project, "1.0.0") is None
        assert upload(client, project, wheel) is UploadOutcome.UPLOADED
        assert upload(client, project, sdist) is UploadOutcome.UPLOADED
        assert client.release_files(project, "1.0.0") == {
            wheel.name: sha(wheel),
            sdist.name: sha(sdist),
        }
        listed = {f.filename: f for f in client.project_files(project) or []}
        assert listed[wheel.name].sha256 == sha(wheel)
        assert listed[wheel.name].provenance
        raw = client.provenance(listed[wheel.name].provenance or "", wheel.name)
        assert raw is not None
        assert json.loads(raw)["attestation_bundles"][0]["publisher"]["repository"] == REPO
        got = client.download(
            listed[sdist.name].url, tmp_path / "copy.tar.gz", max_bytes=1 << 20, deadline=30
        )
        assert got.sha256 == sha(sdist)
        assert client.project_files("no-such-project-anywhere") is None
    assert [f.has_provenance for f in pypi_index.files(project)] == [True, True]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_downloads_get_the_mode_the_umask_gives(
    pypi_index: PyPIIndex,
    pypi_sigstore: LocalSigstore,
    project: str,
    tmp_path: Path,
    umask: int,
    mode: int,
) -> None:
    """As open() would make it, as the GitLab client does: a private umask keeps it private."""
    wheel, _ = dists(tmp_path, project)
    with client_for(pypi_index) as client:
        client.exchange(IDToken.parse(id_token(pypi_sigstore), "PYPI_ID_TOKEN"))
        assert upload(client, project, wheel, attested=False) is UploadOutcome.UPLOADED
        [listed] = client.project_files(project) or []
        old = os.umask(umask)
        try:
            got = client.download(listed.url, tmp_path / "copy.whl", max_bytes=1 << 20, deadline=30)
        finally:
            os.umask(old)
    assert got.sha256 == sha(wheel)
    assert stat.S_IMODE(got.path.stat().st_mode) == mode


@pytest.mark.parametrize("kind", ["reset", "stored_then_502", "store_after_502", "status"])
def test_ambiguous_failures_never_store_twice(
    pypi_index: PyPIIndex,
    pypi_sigstore: LocalSigstore,
    project: str,
    tmp_path: Path,
    kind: str,
) -> None:
    wheel, _ = dists(tmp_path, project)
    attest(pypi_sigstore, [wheel])
    with client_for(pypi_index) as client:
        client.exchange(IDToken.parse(id_token(pypi_sigstore), "PYPI_ID_TOKEN"))
        pypi_index.faults.plan(kind, path_contains="/legacy/", method="POST", status=503)
        outcome = upload(client, project, wheel)
    pypi_index.wait_idle()
    assert outcome in (UploadOutcome.UPLOADED, UploadOutcome.EXISTS_SAME)
    stored = pypi_index.files(project)
    assert [(f.filename, f.sha256, f.has_provenance) for f in stored] == [
        (wheel.name, sha(wheel), True)
    ]
    if kind == "stored_then_502":  # the index stored it, then the answer was lost
        assert outcome is UploadOutcome.EXISTS_SAME
        posts = [r for r in pypi_index.requests if r.method == "POST" and r.path == "/legacy/"]
        assert posts[-1].status == 502  # it asked the JSON API instead of sending again


def test_expired_upload_token(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, project: str, tmp_path: Path
) -> None:
    wheel, _ = dists(tmp_path, project)
    attest(pypi_sigstore, [wheel])
    with client_for(pypi_index) as client:
        token = client.exchange(IDToken.parse(id_token(pypi_sigstore), "PYPI_ID_TOKEN"))
        pypi_index.expire_token(token.value)
        with pytest.raises(RegistryError) as caught:
            upload(client, project, wheel)
    text = str(caught.value)
    assert "Invalid API Token: token is expired" in text
    assert "lives 900 seconds" in text
    assert token.value not in text


def test_attestations_with_an_api_token_are_refused_by_the_index(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, project: str, tmp_path: Path
) -> None:
    wheel, _ = dists(tmp_path, project)
    attest(pypi_sigstore, [wheel])
    api = pypi_index.api_token(project=project)
    with client_for(pypi_index) as client:
        client.token = UploadToken(api, "api-token", "PYPI_API_TOKEN")
        with pytest.raises(RegistryError) as caught:
            upload(client, project, wheel)
        assert "Attestations are only supported when using Trusted Publishing" in str(caught.value)
        assert api not in str(caught.value)
        assert upload(client, project, wheel, attested=False) is UploadOutcome.UPLOADED


def test_a_file_changing_while_sent_is_never_stored(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, project: str, tmp_path: Path
) -> None:
    wheel, _ = dists(tmp_path, project)
    attest(pypi_sigstore, [wheel])
    with client_for(pypi_index) as client:
        client.exchange(IDToken.parse(id_token(pypi_sigstore), "PYPI_ID_TOKEN"))
        declared = sha(wheel)
        wheel.write_bytes(wheel.read_bytes() + b"\0")
        with pytest.raises(RegistryError, match="Nothing complete was sent"):
            client.upload(
                wheel, name=project, version="1.0.0", sha256=declared, metadata=fields_of(wheel)
            )
    assert pypi_index.files(project) == []


# -- a hostile index -------------------------------------------------------------------------


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    yield server
    server.close()


def _jwt(claims: dict[str, object]) -> str:
    import base64

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_an_echoed_token_is_redacted(hostile: Hostile, tmp_path: Path) -> None:
    token = _jwt({"iss": "https://gitlab.com", "aud": "pypi", "exp": 4_000_000_000})
    hostile.routes[("GET", "/_/oidc/audience")] = answer(200, b'{"audience": "pypi"}')
    minted = "pypi-AgEIcHlwaS5vcmcEchoedSecretValue0123456789"
    hostile.routes[("POST", "/_/oidc/mint-token")] = answer(
        200, json.dumps({"success": True, "token": minted, "expires": 1}).encode()
    )
    hostile.routes[("POST", "/legacy/")] = answer(
        400, f"bad token {minted} from {token}".encode(), reason=f"Echo {minted}"
    )
    wheel, _ = dists(tmp_path, "echo-pkg")
    with IndexClient(IndexURLs.resolve(f"{hostile.url}/legacy/", "url"), retry_policy=FAST) as c:
        c.exchange(IDToken.parse(token, "PYPI_ID_TOKEN"))
        with pytest.raises(RegistryError) as caught:
            c.upload(wheel, name="echo-pkg", version="1.0.0", sha256=sha(wheel), metadata=[])
    text = str(caught.value)
    assert minted not in text
    assert token not in text
    assert "***" in text
    # the token went only where it belongs: the Basic header of the upload
    sent = [h.get("authorization", "") for method, path, h in hostile.seen if method == "POST"]
    assert sent[0] == ""  # the exchange carries the ID token in its body, no header
    assert sent[1].startswith("Basic ")


def test_uploads_never_follow_redirects(hostile: Hostile, tmp_path: Path) -> None:
    hostile.routes[("POST", "/legacy/")] = answer(308, b"", {"Location": "http://evil.test/x"})
    wheel, _ = dists(tmp_path, "redirected")
    with IndexClient(IndexURLs.resolve(f"{hostile.url}/legacy/", "url"), retry_policy=FAST) as c:
        c.token = UploadToken("pypi-AgEsecretsecretsecret", "api-token", "PYPI_API_TOKEN")
        with pytest.raises(RegistryError) as caught:
            c.upload(wheel, name="redirected", version="1.0.0", sha256=sha(wheel), metadata=[])
    assert caught.value.status == 308
    assert [p for m, p, _ in hostile.seen] == ["/legacy/"]


def test_a_web_page_is_not_an_upload(hostile: Hostile, tmp_path: Path) -> None:
    page = b"<!DOCTYPE html><html><body>Welcome</body></html>"
    hostile.routes[("POST", "/legacy/")] = answer(200, page, {"Content-Type": "text/html"})
    wheel, _ = dists(tmp_path, "page")
    with IndexClient(IndexURLs.resolve(f"{hostile.url}/legacy/", "url"), retry_policy=FAST) as c:
        c.token = UploadToken("pypi-AgEsecretsecretsecret", "api-token", "PYPI_API_TOKEN")
        with pytest.raises(RegistryError, match="not an upload endpoint"):
            c.upload(wheel, name="page", version="1.0.0", sha256=sha(wheel), metadata=[])


def test_json_api_answering_a_page(hostile: Hostile) -> None:
    hostile.routes[("GET", "/pypi/pkg/1.0/json")] = answer(
        200, b"<html>login</html>", {"Content-Type": "text/html"}
    )
    urls = IndexURLs.resolve(f"{hostile.url}/legacy/", "url")
    with IndexClient(urls, retry_policy=FAST) as c, pytest.raises(RegistryError, match="HTTP 200"):
        c.release_files("pkg", "1.0")


def test_a_page_linking_another_scheme_is_refused(hostile: Hostile) -> None:
    hostile.routes[("GET", "/simple/pkg/")] = answer(
        200,
        json.dumps(
            {"files": [{"filename": "pkg-1.0.tar.gz", "url": "ftp://x/pkg-1.0.tar.gz"}]}
        ).encode(),
        {"Content-Type": "application/vnd.pypi.simple.v1+json"},
    )
    urls = IndexURLs.from_simple_url(f"{hostile.url}/simple/", "--index-url")
    with IndexClient(urls, retry_policy=FAST) as c, pytest.raises(RegistryError, match="'ftp'"):
        c.project_files("pkg")


# -- reading a private index: credentials to its origin only, files from the hosts allowed --


def _page(hostile: Hostile, *files: dict[str, object]) -> None:
    hostile.routes[("GET", "/simple/pkg/")] = answer(
        200,
        json.dumps({"meta": {"api-version": "1.1"}, "files": list(files)}).encode(),
        {"Content-Type": "application/vnd.pypi.simple.v1+json"},
    )


def _entry(url: str, filename: str = "pkg-1.0.tar.gz") -> dict[str, object]:
    return {"filename": filename, "url": url, "hashes": {"sha256": "ab" * 32}}


def test_read_credentials_go_to_the_index_only(hostile: Hostile, tmp_path: Path) -> None:
    other = Hostile()
    try:
        _page(hostile, _entry(f"{other.url}/files/pkg-1.0.tar.gz"))
        other.routes[("GET", "/files/pkg-1.0.tar.gz")] = answer(200, b"bytes")
        hostile.routes[("GET", "/files/moved.tar.gz")] = answer(
            302, b"", {"Location": f"{hostile.url}/files/here.tar.gz"}
        )
        hostile.routes[("GET", "/files/here.tar.gz")] = answer(200, b"here")
        urls = IndexURLs.from_simple_url(f"{hostile.url}/simple/", "--index-url")
        token = "pypi-read0secret0value0123456"
        with IndexClient(urls, retry_policy=FAST, read_auth=("__token__", token)) as c:
            [entry] = c.project_files("pkg") or []
            c.download(entry.url, tmp_path / entry.filename, max_bytes=100, deadline=30)
            c.download(f"{hostile.url}/files/moved.tar.gz", tmp_path / "x", max_bytes=100,
                       deadline=30)  # fmt: skip
            assert token in c.secrets
    finally:
        other.close()
    assert [h.get("authorization", "").startswith("Basic ") for _m, _p, h in hostile.seen] == [
        True
    ] * 3  # the page, and both hops of the redirect on its own origin
    assert "authorization" not in other.seen[0][2]  # the file host: no token


def test_a_read_token_is_never_sent_over_plain_http() -> None:
    urls = IndexURLs.from_simple_url("http://index.example.com/simple/", "--index-url")
    with pytest.raises(ConfigError, match="over plain http"):
        IndexClient(urls, read_auth=("__token__", "secret-token-value"))


def test_file_hosts_limit_where_reads_go(hostile: Hostile, tmp_path: Path) -> None:
    """With ``file_hosts`` a read reaches only the index's origin and the hosts named: a link
    elsewhere is refused (on its own, or the page with it), and so is a redirect there."""
    other = Hostile()
    try:
        offsite = _entry(f"{other.url}/files/pkg-1.0.tar.gz")
        own = _entry(f"{hostile.url}/files/pkg-1.1.tar.gz", "pkg-1.1.tar.gz")
        _page(hostile, offsite, own)
        hostile.routes[("GET", "/files/pkg-1.1.tar.gz")] = answer(
            302, b"", {"Location": f"{other.url}/files/pkg-1.1.tar.gz"}
        )
        urls = IndexURLs.from_simple_url(f"{hostile.url}/simple/", "--index-url")
        with IndexClient(urls, retry_policy=FAST, file_hosts=(), file_hosts_key="hosts") as c:
            with pytest.raises(RegistryError, match="not named in hosts"):
                c.project_files("pkg")
            first, second = c.project_files("pkg", strict=False) or []
            assert first.problem is not None
            assert "another host" in first.problem
            assert second.problem is None
            with pytest.raises(RegistryError, match="not named in hosts"):
                c.download(first.url, tmp_path / "a", max_bytes=100, deadline=30)
            with pytest.raises(RegistryError, match="refusing to follow"):
                c.download(second.url, tmp_path / "b", max_bytes=100, deadline=30)
        assert other.seen == []
        name = other.url.removeprefix("http://")
        with IndexClient(urls, retry_policy=FAST, file_hosts=(name,)) as c:
            assert all(f.problem is None for f in c.project_files("pkg", strict=False) or [])
    finally:
        other.close()
