"""The GitLab stand-in with object storage, over raw HTTP: downloads answer 302/303 to a
pre-signed URL on a second listener (lib/api/helpers.rb present_carrierwave_file!), the store
answers as S3 does, and with proxy_download GitLab streams the object itself."""

from __future__ import annotations

import functools
import hashlib
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
import pytest
from gitlab_stand_in_helpers import (
    BIN,
    CURL,
    VERSION,
    build_dists,
    clean_env,
    generic_put,
    pypi_upload,
    run,
    sha,
)

from hatch_sigstore.sandbox.gitlab import GitLabRegistry, Project, Settings

JOB_USER = "gitlab-ci-token"
DATA = bytes(range(256)) * 40  # 10 KiB
SETTINGS = functools.partial(Settings.offline, object_storage=True)  # pip reads it


def _generic(gl: GitLabRegistry, project: Project, job: str, client: httpx.Client) -> str:
    url = gl.generic_url(project, "pkg", "1.0", "pkg-1.0.tar.gz.sig")
    assert generic_put(client, url, {"JOB-TOKEN": job}, DATA).status_code == 201
    return url


def _pypi(gl: GitLabRegistry, project: Project, job: str, client: httpx.Client) -> str:
    name = "demo_pkg-1.0.0-py3-none-any.whl"
    r = pypi_upload(client, gl.pypi_url(project), auth=(JOB_USER, job), filename=name, content=DATA)
    assert r.status_code == 201
    return f"{gl.pypi_url(project)}/files/{sha(DATA)}/{name}"


def _location(r: httpx.Response) -> str:
    assert r.status_code in (302, 303), r.text
    return r.headers["location"]


def test_generic_get_redirects_without_gitlab_headers(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    url = _generic(gl, project, job, client)
    r = client.get(url, headers={"JOB-TOKEN": job})
    location = _location(r)
    assert r.status_code == 302
    assert r.headers["content-type"] == "text/plain"
    assert r.text == f"This resource has been moved temporarily to {location}."
    # the extra headers are the object store's business now
    assert "x-checksum-sha256" not in r.headers
    assert "content-disposition" not in r.headers
    assert location.startswith(gl.object_store.url + f"/{gl.object_store.bucket}/")
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "600"
    assert query["X-Amz-SignedHeaders"] == "host"
    assert query["response-content-disposition"].startswith('attachment; filename="pkg-1.0')
    got = client.get(location)
    assert got.status_code == 200
    assert got.content == DATA
    assert got.headers["content-disposition"] == query["response-content-disposition"]
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["etag"] == f'"{hashlib.md5(DATA, usedforsecurity=False).hexdigest()}"'
    assert got.headers["server"] == "AmazonS3"


def test_pypi_file_redirects_too(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    url = _pypi(gl, project, job, client)
    location = _location(client.get(url, auth=(JOB_USER, job)))
    query = dict(parse_qsl(urlsplit(location).query))
    assert "response-content-disposition" not in query  # the PyPI route passes none
    got = client.get(location)
    assert (got.status_code, got.content) == (200, DATA)
    assert "content-disposition" not in got.headers


def test_head_is_303_to_a_url_signed_for_head(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    url = _generic(gl, project, job, client)
    r = client.head(url, headers={"JOB-TOKEN": job})
    assert r.status_code == 303  # Grape: not a GET on HTTP/1.1
    location = r.headers["location"]
    head = client.head(location)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(DATA))
    # the signature covers the method: that URL is no good for a GET
    assert client.get(location).status_code == 403


def _xml_code(r: httpx.Response) -> str:
    assert r.headers["content-type"] == "application/xml"
    return r.text.split("<Code>", 1)[1].split("</Code>", 1)[0]


@pytest.mark.parametrize(
    ("header", "value", "argument"),
    [
        ("Authorization", "Basic Z2l0bGFiLWNpLXRva2VuOnNlY3JldA==", "Authorization"),
        ("Authorization", "Bearer glpat-secret", "Authorization"),
        ("JOB-TOKEN", "glcbt-secret", "job-token"),
        ("PRIVATE-TOKEN", "glpat-secret", "private-token"),
        ("DEPLOY-TOKEN", "gldt-secret", "deploy-token"),
        ("Cookie", "_gitlab_session=secret", "cookie"),
    ],
)
def test_store_refuses_any_credential(
    gl: GitLabRegistry,
    project: Project,
    job: str,
    client: httpx.Client,
    header: str,
    value: str,
    argument: str,
) -> None:
    location = _location(client.get(_generic(gl, project, job, client), headers={"JOB-TOKEN": job}))
    gl.clear_requests()
    r = client.get(location, headers={header: value})
    assert r.status_code == 400
    assert _xml_code(r) == "InvalidArgument"
    assert "Only one auth mechanism allowed" in r.text
    assert f"<ArgumentName>{argument}</ArgumentName>" in r.text
    # S3 echoes the header: a client must never print such a body as it is
    assert value in r.text
    (logged,) = gl.object_store_requests()
    assert logged.credentials == (argument.lower(),)
    assert value not in logged.target
    assert "X-Amz-Signature=[MASKED]" in logged.target


def _tamper(url: str, key: str, value: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query[key] = value
    return urlunsplit(parts._replace(query=str(httpx.QueryParams(query))))


def test_store_refuses_tampered_expired_and_unsigned_urls(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    location = _location(client.get(_generic(gl, project, job, client), headers={"JOB-TOKEN": job}))
    signature = dict(parse_qsl(urlsplit(location).query))["X-Amz-Signature"]
    forged = _tamper(location, "X-Amz-Signature", signature[::-1])
    r = client.get(forged)
    assert (r.status_code, _xml_code(r)) == (403, "SignatureDoesNotMatch")
    longer = _tamper(location, "X-Amz-Expires", "604800")
    assert _xml_code(client.get(longer)) == "SignatureDoesNotMatch"
    other_key = location.replace("/files/", "/filez/", 1)
    assert client.get(other_key).status_code == 403
    unsigned = location.split("?", 1)[0]
    r = client.get(unsigned)
    assert (r.status_code, _xml_code(r)) == (403, "AccessDenied")
    assert client.get(location).status_code == 200
    gl.object_store.advance_clock(601)
    try:
        r = client.get(location)
        assert (r.status_code, _xml_code(r)) == (403, "AccessDenied")
        assert "<Message>Request has expired</Message>" in r.text
        assert "<X-Amz-Expires>600</X-Amz-Expires>" in r.text
        # a fresh redirect works again
        fresh = _location(client.get(location_of(gl, project), headers={"JOB-TOKEN": job}))
        assert client.get(fresh).status_code == 200
    finally:
        gl.object_store.advance_clock(-601)


def location_of(gl: GitLabRegistry, project: Project) -> str:
    return gl.generic_url(project, "pkg", "1.0", "pkg-1.0.tar.gz.sig")


def test_expiry_follows_the_setting(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    url = _generic(gl, project, job, client)
    gl.settings.object_store_url_expiry = 30
    location = _location(client.get(url, headers={"JOB-TOKEN": job}))
    assert dict(parse_qsl(urlsplit(location).query))["X-Amz-Expires"] == "30"
    gl.object_store.advance_clock(31)
    try:
        assert client.get(location).status_code == 403
    finally:
        gl.object_store.advance_clock(-31)


@pytest.mark.parametrize(
    ("range_", "status", "first", "last"),
    [
        ("bytes=0-9", 206, 0, 9),
        ("bytes=100-", 206, 100, len(DATA) - 1),
        ("bytes=-16", 206, len(DATA) - 16, len(DATA) - 1),
        ("bytes=10-99999", 206, 10, len(DATA) - 1),
        ("bytes=0-1,5-6", 200, 0, len(DATA) - 1),  # S3 ignores multi-range requests
        ("lines=1-2", 200, 0, len(DATA) - 1),
    ],
)
def test_store_serves_ranges(
    gl: GitLabRegistry,
    project: Project,
    job: str,
    client: httpx.Client,
    range_: str,
    status: int,
    first: int,
    last: int,
) -> None:
    location = _location(client.get(_generic(gl, project, job, client), headers={"JOB-TOKEN": job}))
    r = client.get(location, headers={"Range": range_})
    assert r.status_code == status
    assert r.content == DATA[first : last + 1]
    if status == 206:
        assert r.headers["content-range"] == f"bytes {first}-{last}/{len(DATA)}"


def test_store_unsatisfiable_range_and_missing_key(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    location = _location(client.get(_generic(gl, project, job, client), headers={"JOB-TOKEN": job}))
    r = client.get(location, headers={"Range": f"bytes={len(DATA)}-"})
    assert (r.status_code, _xml_code(r)) == (416, "InvalidRange")
    missing = gl.object_store.presign("GET", "no/such/key", expires=60)
    r = client.get(missing)
    assert (r.status_code, _xml_code(r)) == (404, "NoSuchKey")


def test_proxy_download_streams_with_gitlab_headers(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    url = _generic(gl, project, job, client)
    gl.settings.proxy_download = True
    gl.clear_requests()
    r = client.get(url, headers={"JOB-TOKEN": job})
    assert (r.status_code, r.content) == (200, DATA)
    assert r.headers["x-checksum-sha256"] == sha(DATA)
    assert r.headers["content-disposition"].startswith('attachment; filename="pkg-1.0.tar.gz.sig"')
    assert r.headers["etag"]  # the object store's headers come through
    # Workhorse fetched the object with a fresh pre-signed URL and no credential
    (fetch,) = gl.object_store_requests()
    assert (fetch.method, fetch.status, fetch.credentials) == ("GET", 200, ())
    ranged = client.get(url, headers={"JOB-TOKEN": job, "Range": "bytes=5-9"})
    assert (ranged.status_code, ranged.content) == (206, DATA[5:10])
    head = client.head(url, headers={"JOB-TOKEN": job})
    assert (head.status_code, head.headers["content-length"], head.content) == (
        200,
        str(len(DATA)),
        b"",
    )
    # the PyPI route sends no Content-Disposition of its own
    pypi = client.get(_pypi(gl, project, job, client), auth=(JOB_USER, job))
    assert (pypi.status_code, pypi.content) == (200, DATA)
    assert "content-disposition" not in pypi.headers


def test_select_package_file_shows_remote_store(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    url = gl.generic_url(project, "pkg", "1.0", "f.bin") + "?select=package_file"
    r = generic_put(client, url, {"JOB-TOKEN": job}, DATA)
    body = r.json()
    assert (r.status_code, body["file_store"], body["file_sha256"]) == (200, 2, sha(DATA))
    signed = body["file"]["url"]
    assert signed.startswith(gl.object_store.url)
    assert client.get(signed).content == DATA


def test_files_keep_their_store_and_migrate(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    gl.settings = Settings()  # local storage first
    url = _generic(gl, project, job, client)
    gl.settings = Settings(object_storage=True)
    local = client.get(url, headers={"JOB-TOKEN": job})
    assert (local.status_code, local.content) == (200, DATA)  # file_store 1 stays local
    assert local.headers["x-checksum-sha256"] == sha(DATA)
    assert gl.migrate_to_object_storage(project) == 1
    location = _location(client.get(url, headers={"JOB-TOKEN": job}))
    assert client.get(location).content == DATA
    # the test helpers find the bytes where they live now
    assert gl.generic_file_path(project, "pkg", "1.0", "pkg-1.0.tar.gz.sig").read_bytes() == DATA


def test_uploads_are_unchanged_and_errors_still_json(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    url = _pypi(gl, project, job, client)
    # a missing file is still GitLab's 404, not a redirect
    missing = url.replace("demo_pkg-1.0.0", "demo_pkg-9.9.9")
    r = client.get(missing, auth=(JOB_USER, job))
    assert (r.status_code, r.json()) == (404, {"message": "404 Package Not Found"})
    # auth is checked before any redirect
    assert client.get(url).status_code == 401
    assert not [i for i in gl.object_store_requests() if i.credentials]


# real clients ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_twine_upload_then_pip_download_through_the_redirect(
    gl: GitLabRegistry, project: Project, tmp_path: Path
) -> None:
    dists = build_dists(tmp_path / "dist")
    job = gl.job_token(project)
    cmd: list[str | Path] = [BIN / "twine", "upload", "--non-interactive"]
    cmd += ["--disable-progress-bar", "--repository-url", gl.pypi_url(project)]
    up = run([*cmd, "-u", JOB_USER, "-p", job, *dists], env=clean_env(tmp_path))
    assert up.returncode == 0, up.stdout + up.stderr
    pat = gl.personal_token(scopes=("read_api",), role="reporter", project=project)
    gl.clear_requests()
    dest = tmp_path / "dl"
    pip: list[str | Path] = [sys.executable, "-m", "pip", "download", "--isolated", "--no-deps"]
    pip += ["--no-cache-dir", "--disable-pip-version-check", "--only-binary", ":all:", "--no-input"]
    pip += ["--index-url", gl.simple_url(project, token=pat), f"demo-pkg=={VERSION}", "-d", dest]
    got = run(pip, env=clean_env(tmp_path))
    assert got.returncode == 0, got.stdout + got.stderr
    assert (dest / dists[0].name).read_bytes() == dists[0].read_bytes()
    # pip followed GitLab's 302 to the store and left the credentials behind
    fetches = gl.object_store_requests()
    assert [(i.method, i.status, i.credentials) for i in fetches] == [("GET", 200, ())]
    assert pat not in got.stdout + got.stderr
    # the store serves what it holds: pip's #sha256= check still catches a corrupted object
    stored = gl.pypi_file_path(project, dists[0].name)
    stored.write_bytes(bytes(b ^ 1 for b in stored.read_bytes()))
    bad = run([*pip[:-2], "-d", tmp_path / "dl2"], env=clean_env(tmp_path))
    assert bad.returncode != 0
    assert "HASH" in (bad.stdout + bad.stderr).upper()


@pytest.mark.slow
@pytest.mark.skipif(CURL is None, reason="curl is not installed on this machine")
def test_curl_location_forwards_job_token_header(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client, tmp_path: Path
) -> None:
    """The tutorial's ``curl --header "JOB-TOKEN: ..." --location``: curl sends custom headers
    to the redirect target too, so the job token reaches the object store (S3 would ignore it
    and serve the file; this store refuses it). ``--user`` is dropped on the origin change."""
    assert CURL is not None
    url = _generic(gl, project, job, client)
    out = tmp_path / "got"
    gl.clear_requests()
    header = run([CURL, "-sS", "--fail", "-L", "-H", f"JOB-TOKEN: {job}", "-o", out, url])
    assert header.returncode == 22
    (leak,) = gl.object_store_requests()
    assert (leak.status, leak.credentials) == (400, ("job-token",))
    gl.clear_requests()
    basic = run([CURL, "-sS", "--fail", "-L", "-u", f"{JOB_USER}:{job}", "-o", out, url])
    assert basic.returncode == 0, basic.stderr
    assert out.read_bytes() == DATA
    (fetch,) = gl.object_store_requests()
    assert (fetch.status, fetch.credentials) == (200, ())


def test_httpx_follow_redirects_keeps_custom_token_headers(
    gl: GitLabRegistry, project: Project, job: str
) -> None:
    """httpx drops ``Authorization`` on a cross-origin redirect but keeps other headers: a
    client must follow GitLab's redirect itself, without its token headers."""
    url = location_of(gl, project)
    with httpx.Client(timeout=10, follow_redirects=True) as follow:
        assert generic_put(follow, url, {"JOB-TOKEN": job}, DATA).status_code == 201
        leaked = follow.get(url, headers={"JOB-TOKEN": job})
        assert leaked.status_code == 400
        assert "<ArgumentName>job-token</ArgumentName>" in leaked.text
        basic = follow.get(url, auth=(JOB_USER, job))
        assert (basic.status_code, basic.content) == (200, DATA)
