"""RegistryClient against the GitLab stand-in's deployment variants, over real HTTP: object
storage (redirects to pre-signed URLs, no checksum header; proxy_download), Workhorse's 413,
package protection rules, the generic file-name rule, and an API URL that is an alias of the
instance's external_url. Each variant: what the client does, and what it says."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hatch_sigstore.errors import ConfigError, RegistryError
from hatch_sigstore.gitlab import Credentials, RegistryClient, RetryPolicy
from hatch_sigstore.sandbox.gitlab import GitLabRegistry, Project, Settings

FAST = RetryPolicy(retries=3, base_delay=0.01, max_delay=0.02, seed=3)
WHEEL = "demo_pkg-1.0.0-py3-none-any.whl"
BUNDLE = f"{WHEEL}.sigstore.json"
CREDENTIAL_KINDS = ("job", "personal", "deploy")


@pytest.fixture(scope="module")
def gl() -> Iterator[GitLabRegistry]:
    with GitLabRegistry() as registry:
        yield registry


@pytest.fixture(autouse=True)
def _settings(gl: GitLabRegistry) -> Iterator[None]:
    gl.settings = Settings(object_storage=True)
    yield
    gl.settings = Settings()
    assert [i for i in gl.object_store_requests() if i.credentials] == []


@pytest.fixture
def project(gl: GitLabRegistry) -> Project:
    return gl.create_project("deploy/client")


def credentials(gl: GitLabRegistry, project: Project, kind: str) -> Credentials:
    if kind == "job":
        return Credentials("job", gl.job_token(project))
    if kind == "personal":
        return Credentials("personal", gl.personal_token(project=project))
    user, token = gl.deploy_token(
        project, scopes=("read_package_registry", "write_package_registry")
    )
    return Credentials("deploy", token, username=user)


def connect(
    gl: GitLabRegistry, project: Project, creds: Credentials, **kwargs: Any
) -> RegistryClient:
    kwargs.setdefault("retry_policy", FAST)
    kwargs.setdefault("sleep", lambda _s: None)
    api = kwargs.pop("api_url", gl.api_url)
    return RegistryClient(api, str(project.id), creds, **kwargs)


def make(tmp_path: Path, name: str, data: bytes | None = None) -> tuple[Path, str]:
    data = data if data is not None else f"bytes of {name}".encode() * 50
    path = tmp_path / "dist" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


# -- object storage ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CREDENTIAL_KINDS)
def test_roundtrip_through_object_storage(
    gl: GitLabRegistry, project: Project, tmp_path: Path, kind: str
) -> None:
    wheel, wheel_sha = make(tmp_path, WHEEL)
    bundle, bundle_sha = make(tmp_path, BUNDLE)
    gl.clear_requests()
    with connect(gl, project, credentials(gl, project, kind)) as client:
        assert client.generic_upload("demo-pkg", "1.0.0", bundle, sha256=bundle_sha) == "uploaded"
        assert client.pypi_upload(wheel, name="demo-pkg", version="1.0.0", sha256=wheel_sha) == (
            "uploaded"
        )
        out = tmp_path / "out"
        out.mkdir()
        (entry,) = client.pypi_simple_files("demo-pkg")
        assert client.pypi_download(entry, out, max_bytes=10**6).read_bytes() == wheel.read_bytes()
        got = client.generic_download("demo-pkg", "1.0.0", BUNDLE, out, max_bytes=10**6,
                                      sha256=bundle_sha)  # fmt: skip
        assert got.read_bytes() == bundle.read_bytes()
        # a re-run: both files are recognised, nothing is sent again
        assert client.generic_upload("demo-pkg", "1.0.0", bundle, sha256=bundle_sha) == (
            "exists-same"
        )
        assert client.pypi_file_states("demo-pkg", {WHEEL: wheel_sha})[WHEEL].held == "same"
    store = gl.object_store_requests()
    assert {i.method for i in store} == {"GET"}
    assert store
    assert all(i.status == 200 for i in store)
    assert len(gl.generic_files(project)) == 1


@pytest.mark.parametrize(
    ("kind", "asks_the_api", "streams"),
    [("job", True, False), ("personal", True, False), ("deploy", False, True)],
)
def test_the_existence_check_under_object_storage(
    gl: GitLabRegistry,
    project: Project,
    tmp_path: Path,
    kind: str,
    asks_the_api: bool,
    streams: bool,
) -> None:
    """No X-Checksum-SHA256 behind a redirect: the Packages API's file_sha256 (computed by
    GitLab for generic files) answers without downloading; deploy tokens are anonymous there
    (404 on a private project), so for them the file is hashed through the redirect."""
    bundle, sha = make(tmp_path, BUNDLE)
    creds = credentials(gl, project, kind)
    with connect(gl, project, creds) as client:
        client.generic_upload("demo-pkg", "1.0.0", bundle, sha256=sha)
        gl.clear_requests()
        assert client.generic_file_sha256("demo-pkg", "1.0.0", BUNDLE) == sha
    paths = [r.path for r in gl.request_log if r.service == "gitlab"]
    prefix = f"/api/v4/projects/{project.id}/packages"
    assert (f"{prefix}" in paths) is asks_the_api
    assert any(p.endswith("/package_files") for p in paths) is asks_the_api
    assert bool(gl.object_store_requests()) is streams


def test_the_check_reports_the_newest_duplicate(gl: GitLabRegistry, project: Project) -> None:
    """GitLab keeps generic duplicates and serves the newest: the Packages API answer must be
    that one's sha256, not the first listed."""
    job = gl.job_token(project)
    url = gl.generic_url(project, "demo-pkg", "1.0.0", BUNDLE)
    for data in (b"old bytes", b"new bytes"):
        assert httpx.put(url, content=data, headers={"JOB-TOKEN": job}).status_code == 201
    gl.clear_requests()
    with connect(gl, project, Credentials("job", job)) as client:
        assert client.generic_file_sha256("demo-pkg", "1.0.0", BUNDLE) == (
            hashlib.sha256(b"new bytes").hexdigest()
        )
    assert gl.object_store_requests() == []  # answered by the Packages API


def test_proxy_download_sends_the_checksum_header(
    gl: GitLabRegistry, project: Project, tmp_path: Path
) -> None:
    gl.settings.proxy_download = True
    bundle, sha = make(tmp_path, BUNDLE)
    with connect(gl, project, credentials(gl, project, "job")) as client:
        client.generic_upload("demo-pkg", "1.0.0", bundle, sha256=sha)
        gl.clear_requests()
        assert client.generic_file_sha256("demo-pkg", "1.0.0", BUNDLE) == sha
    assert [r.path for r in gl.request_log if r.service == "gitlab"] == [
        f"/api/v4/projects/{project.id}/packages/generic/demo-pkg/1.0.0/{BUNDLE}"
    ]


def test_a_claimed_digest_is_checked_against_the_bytes(
    gl: GitLabRegistry, project: Project, tmp_path: Path
) -> None:
    """GitLab stores a PyPI upload's sha256_digest unchecked, and its index lists that claim.
    Someone who may push uploads other bytes under our name and digest first: the client must
    not report "the same bytes, skipped"."""
    wheel, sha = make(tmp_path, WHEEL)
    job = gl.job_token(project)
    response = httpx.post(
        gl.pypi_url(project),
        auth=("gitlab-ci-token", job),
        data={"name": "demo-pkg", "version": "1.0.0", "sha256_digest": sha},
        files={"content": (WHEEL, b"impostor bytes")},
    )
    assert response.status_code == 201, response.text
    with connect(gl, project, Credentials("job", job)) as client:
        state = client.pypi_file_states("demo-pkg", {WHEEL: sha})[WHEEL]
        assert (state.held, state.claimed) == ("other", sha)
        assert state.sha256 == hashlib.sha256(b"impostor bytes").hexdigest()
        with pytest.raises(RegistryError, match="Refusing to overwrite") as info:
            client.pypi_upload(wheel, name="demo-pkg", version="1.0.0", sha256=sha)
    text = str(info.value)
    assert "index claims sha256" in text
    assert "Bump the version" in text
    assert "delete the package demo-pkg" in text


# -- Workhorse's 413 -----------------------------------------------------------------------------


def test_workhorse_413_is_explained_and_not_retried(
    gl: GitLabRegistry, project: Project, tmp_path: Path
) -> None:
    gl.settings.workhorse_maximum_size = True
    gl.settings.max_pypi_file_size = 100
    wheel, sha = make(tmp_path, WHEEL, b"x" * 5000)
    gl.clear_requests()
    with (
        connect(gl, project, credentials(gl, project, "job")) as client,
        pytest.raises(RegistryError) as info,
    ):
        client.pypi_upload(wheel, name="demo-pkg", version="1.0.0", sha256=sha)
    text = str(info.value)
    assert "HTTP 413" in text
    assert "Workhorse" in text
    assert '"Request Entity Too Large"' in text
    assert "pypi_max_file_size" in text
    assert [r.method for r in gl.request_log if r.path.endswith("/packages/pypi")] == ["POST"]
    assert gl.pypi_files(project) == []


# -- package protection --------------------------------------------------------------------------


def upload(client: RegistryClient, package_type: str, path: Path) -> None:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    if package_type == "generic":
        client.generic_upload("demo-pkg", "1.0.0", path, sha256=sha)
    else:
        client.pypi_upload(path, name="demo-pkg", version="1.0.0", sha256=sha)


@pytest.mark.parametrize("package_type", ["generic", "pypi"])
def test_package_protection_names_the_rule_to_check(
    gl: GitLabRegistry, project: Project, tmp_path: Path, package_type: str
) -> None:
    gl.protect_package(project, "demo-*", package_type=package_type)
    bundle, _ = make(tmp_path, BUNDLE)
    wheel, _ = make(tmp_path, WHEEL)
    with (
        connect(gl, project, credentials(gl, project, "job")) as client,
        pytest.raises(RegistryError) as info,
    ):
        upload(client, package_type, bundle if package_type == "generic" else wheel)
    text = str(info.value)
    assert "HTTP 403" in text
    assert "Package protected" in text
    assert f"a {package_type} rule whose name pattern matches 'demo-pkg'" in text
    assert "Protected packages" in text
    assert "minimum access level for push" in text
    assert gl.generic_files(project) == []
    assert gl.pypi_files(project) == []


# -- generic file names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("package", "version", "filename", "why"),
    [
        ("demo-pkg", "1.0.0", "demo_pkg-1.0.0@x.tar.gz.sig", "'@'"),
        ("demo-pkg", "1-2.0", "demo_pkg-1!2.0.tar.gz.sigstore.json", "epoch"),
        ("demo-pkg", "1!2.0", "demo_pkg-1!2.0.tar.gz.sig", "epoch"),
        ("demo pkg", "1.0", "a.sig", "package name"),
    ],
)
def test_names_gitlab_refuses_fail_before_anything_is_sent(
    gl: GitLabRegistry,
    project: Project,
    tmp_path: Path,
    package: str,
    version: str,
    filename: str,
    why: str,
) -> None:
    path, sha = make(tmp_path, "file", b"data")
    gl.clear_requests()
    renamed = path.rename(path.with_name(filename))
    with (
        connect(gl, project, credentials(gl, project, "job")) as client,
        pytest.raises(ConfigError, match=why),
    ):
        client.generic_upload(package, version, renamed, sha256=sha)
    assert gl.request_log == []


# -- an alias of the instance's external_url ------------------------------------------------------


def _published(gl: GitLabRegistry, project: Project, tmp_path: Path) -> tuple[str, str]:
    wheel, sha = make(tmp_path, WHEEL)
    job = gl.job_token(project)
    with connect(gl, project, Credentials("job", job)) as client:
        client.pypi_upload(wheel, name="demo-pkg", version="1.0.0", sha256=sha)
    return job, sha


def test_an_alias_api_url_is_explained(
    gl: GitLabRegistry, project: Project, tmp_path: Path
) -> None:
    """The user typed another address of the instance than its external_url: GitLab's index
    links point at the external_url. Said precisely, with the fix."""
    _published(gl, project, tmp_path)
    alias = gl.add_listener(host="localhost")
    pat = Credentials("personal", gl.personal_token(project=project, role="reporter"))
    with (
        connect(gl, project, pat, api_url=f"{alias}/api/v4") as client,
        pytest.raises(RegistryError) as info,
    ):
        client.pypi_simple_files("demo-pkg")
    text = str(info.value)
    assert f"links its files to another host, {gl.url}, not to {alias}" in text
    assert "external_url" in text
    assert f"{gl.url}/api/v4" in text
    assert f"CI_SERVER_URL={gl.url}" in text


def test_links_on_the_configured_server_are_accepted(
    gl: GitLabRegistry, project: Project, tmp_path: Path
) -> None:
    """Links on the configured GitLab server (CI_SERVER_URL) are accepted. A token named for
    the API URL is not sent on to them: GitLab's 401 is explained with the fix."""
    _published(gl, project, tmp_path)
    alias = gl.add_listener(host="localhost")
    out = tmp_path / "out"
    out.mkdir()
    pat = Credentials("personal", gl.personal_token(project=project, role="reporter"))
    with connect(gl, project, pat, api_url=f"{alias}/api/v4", server_url=gl.url) as client:
        (entry,) = client.pypi_simple_files("demo-pkg")
        assert entry.url.startswith(gl.url + "/")
        with pytest.raises(RegistryError, match="HTTP 401") as info:
            client.pypi_download(entry, out, max_bytes=10**6)
    assert f"use {gl.url}/api/v4 as the API URL" in str(info.value)


def test_the_job_token_follows_links_to_its_own_server(
    gl: GitLabRegistry, project: Project, tmp_path: Path
) -> None:
    """A job whose CI_SERVER_URL is the external_url and CI_API_V4_URL an alias: the job token
    belongs to both, so the file downloads."""
    _job, sha = _published(gl, project, tmp_path)
    alias = gl.add_listener(host="localhost")
    env = {
        "CI_JOB_TOKEN": gl.job_token(project),
        "CI_API_V4_URL": f"{alias}/api/v4",
        "CI_SERVER_URL": gl.url,
    }
    creds = Credentials.from_env(env=env)
    out = tmp_path / "out"
    out.mkdir()
    with connect(gl, project, creds, api_url=env["CI_API_V4_URL"], server_url=gl.url) as client:
        (entry,) = client.pypi_simple_files("demo-pkg")
        got = client.pypi_download(entry, out, max_bytes=10**6)
    assert hashlib.sha256(got.read_bytes()).hexdigest() == sha


# -- downloaded files keep the user's umask ------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_downloads_get_the_mode_the_umask_gives(
    gl: GitLabRegistry, project: Project, tmp_path: Path, umask: int, mode: int
) -> None:
    bundle, sha = make(tmp_path, BUNDLE)
    out = tmp_path / "out"
    out.mkdir()
    with connect(gl, project, credentials(gl, project, "job")) as client:
        client.generic_upload("demo-pkg", "1.0.0", bundle, sha256=sha)
        old = os.umask(umask)
        try:
            got = client.generic_download("demo-pkg", "1.0.0", BUNDLE, out, max_bytes=10**6)
        finally:
            os.umask(old)
    assert stat.S_IMODE(got.stat().st_mode) == mode


# -- the README's troubleshooting quotes these messages as they are -------------------------------


def _readme_blocks() -> str:
    return (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_the_readme_quotes_the_messages_exactly(gl: GitLabRegistry, tmp_path: Path) -> None:
    project = gl.create_project("group/my-pkg")
    creds = Credentials("job", gl.job_token(project), source="CI_JOB_TOKEN")
    readme = _readme_blocks()
    gl.settings.workhorse_maximum_size = True
    gl.settings.max_pypi_file_size = 10
    wheel, sha = make(tmp_path, "my_pkg-1.0-py3-none-any.whl")
    with connect(gl, project, creds) as client, pytest.raises(RegistryError) as too_large:
        client.pypi_upload(wheel, name="my-pkg", version="1.0", sha256=sha)
    gl.protect_package(project, "my-*", package_type="generic")
    bundle, sha = make(tmp_path, "my_pkg-1.0-py3-none-any.whl.sigstore.json")
    with connect(gl, project, creds) as client, pytest.raises(RegistryError) as protected:
        client.generic_upload("my-pkg", "1.0", bundle, sha256=sha)
    env = {
        "CI_JOB_TOKEN": "glcbt-x" * 5,
        "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
        "CI_SERVER_URL": "https://gitlab.example.com",
    }
    with pytest.raises(ConfigError) as elsewhere:
        RegistryClient("https://other.example.org/api/v4", "1", Credentials.from_env(env=env))
    pat = Credentials.from_env(token_env="GITLAB_TOKEN", env={"GITLAB_TOKEN": "glpat-" + "x" * 20})
    with pytest.raises(ConfigError) as plain:
        RegistryClient("http://gitlab.example.com/api/v4", "1", pat)
    for info in (too_large, protected, elsewhere, plain):
        assert f"\n{info.value}\n" in readme, str(info.value)
