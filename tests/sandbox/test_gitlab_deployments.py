"""Deployment variants of the GitLab stand-in: Workhorse cutting oversized PyPI uploads with a
plain-text 413, and an external_url other than the address the client typed."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from gitlab_stand_in_helpers import (
    BIN,
    VERSION,
    build_dists,
    clean_env,
    generic_put,
    pypi_upload,
    run,
)

from hatch_sigstore.sandbox.gitlab import GitLabRegistry, Project, Settings

JOB_USER = "gitlab-ci-token"
TOO_LARGE = b"Request Entity Too Large\n"
SETTINGS = Settings.offline  # pip reads it


# Workhorse 413 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("workhorse", "size", "status"), [
    (True, 100, 201), (True, 101, 413), (False, 101, 400),
])  # fmt: skip
def test_pypi_size_limit(
    gl: GitLabRegistry,
    project: Project,
    job: str,
    client: httpx.Client,
    workhorse: bool,
    size: int,
    status: int,
) -> None:
    gl.settings.workhorse_maximum_size = workhorse
    gl.settings.max_pypi_file_size = 100
    r = pypi_upload(client, gl.pypi_url(project), auth=(JOB_USER, job), content=b"x" * size)
    assert r.status_code == status
    if status == 413:  # Workhorse's http.Error: plain text, before Rails
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.content == TOO_LARGE
    elif status == 400:  # Rails' check
        assert r.json() == {"message": "400 Bad request - File is too large"}
    assert len(gl.pypi_files(project)) == (status == 201)


def test_workhorse_authorizes_before_it_reads(
    gl: GitLabRegistry, project: Project, client: httpx.Client
) -> None:
    """Workhorse asks Rails' /authorize first: bad credentials are 401, not 413."""
    gl.settings.workhorse_maximum_size = True
    gl.settings.max_pypi_file_size = 10
    r = pypi_upload(client, gl.pypi_url(project), auth=(JOB_USER, "glcbt-wrong"), content=b"x" * 99)
    assert r.status_code == 401


def test_generic_limit_stays_with_rails(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    """The generic authorize step answers has_length: true: Rails checks the size (400 JSON)."""
    gl.settings.workhorse_maximum_size = True
    gl.settings.max_generic_file_size = 10
    r = generic_put(client, gl.generic_url(project, "p", "1.0", "f"), {"JOB-TOKEN": job}, b"x" * 11)
    assert (r.status_code, r.json()) == (400, {"message": "400 Bad request - File is too large"})


@pytest.mark.slow
def test_twine_reports_the_413(gl: GitLabRegistry, project: Project, tmp_path: Path) -> None:
    gl.settings.workhorse_maximum_size = True
    gl.settings.max_pypi_file_size = 200
    dists = build_dists(tmp_path / "dist")
    assert all(d.stat().st_size > 200 for d in dists)
    job = gl.job_token(project)
    cmd: list[str | Path] = [BIN / "twine", "upload", "--non-interactive"]
    cmd += ["--disable-progress-bar", "--repository-url", gl.pypi_url(project)]
    result = run([*cmd, "-u", JOB_USER, "-p", job, dists[0]], env=clean_env(tmp_path))
    assert result.returncode != 0
    assert "413" in result.stdout + result.stderr
    assert gl.pypi_files(project) == []


# external_url ------------------------------------------------------------------------------------


def _index_links(client: httpx.Client, url: str, auth: tuple[str, str] | None) -> list[str]:
    r = client.get(url, auth=auth) if auth is not None else client.get(url)
    assert r.status_code == 200, r.text
    return [part.split('"', 1)[0] for part in r.text.split('href="')[1:]]


def test_links_are_built_on_external_url(
    gl: GitLabRegistry, job: str, project: Project, client: httpx.Client
) -> None:
    assert pypi_upload(client, gl.pypi_url(project), auth=(JOB_USER, job)).status_code == 201
    port = urlsplit(gl.url).port
    gl.settings.external_url = f"http://localhost:{port}/"
    (link,) = _index_links(client, f"{gl.pypi_url(project)}/simple/demo-pkg", (JOB_USER, job))
    assert link.startswith(
        f"http://localhost:{port}/api/v4/projects/{project.id}/packages/pypi/files/"
    )
    assert gl.create_project("deploy/other").url == f"http://localhost:{port}/deploy/other"


def test_alias_listener_serves_the_same_instance(
    gl: GitLabRegistry, job: str, project: Project, client: httpx.Client
) -> None:
    alias = gl.add_listener()
    assert alias != gl.url
    assert pypi_upload(client, f"{alias}/api/v4/projects/{project.id}/packages/pypi",
                       auth=(JOB_USER, job)).status_code == 201  # fmt: skip
    (link,) = _index_links(
        client,
        f"{alias}/api/v4/projects/{project.id}/packages/pypi/simple/demo-pkg",
        (JOB_USER, job),
    )
    assert link.startswith(gl.url + "/")  # external_url: the primary listener, not the alias


@pytest.mark.slow
def test_pip_on_an_alias_loses_its_credentials_at_the_links(
    gl: GitLabRegistry, project: Project, tmp_path: Path
) -> None:
    """A user who typed another address than external_url: pip gets the index with its
    credentials, then fetches the links on the other origin without them (401 on a private
    project) -- the situation our client must explain instead of a bare refusal."""
    dists = build_dists(tmp_path / "dist")
    job = gl.job_token(project)
    with httpx.Client(timeout=10) as client:
        for dist in dists:
            data = dist.read_bytes()
            r = pypi_upload(
                client, gl.pypi_url(project), auth=(JOB_USER, job), filename=dist.name,
                content=data, version=VERSION,
            )  # fmt: skip
            assert r.status_code == 201
    alias = gl.add_listener()
    pat = gl.personal_token(scopes=("read_api",), role="reporter", project=project)
    index = f"{alias}/api/v4/projects/{project.id}/packages/pypi/simple".replace(
        "://", f"://__token__:{pat}@", 1
    )
    gl.clear_requests()
    cmd: list[str | Path] = [sys.executable, "-m", "pip", "download", "--isolated", "--no-deps"]
    cmd += ["--no-cache-dir", "--disable-pip-version-check", "--only-binary", ":all:", "--no-input"]
    cmd += ["--index-url", index, f"demo-pkg=={VERSION}", "-d", tmp_path / "dl"]
    result = run(cmd, env=clean_env(tmp_path))
    assert result.returncode != 0
    log = gl.request_log
    assert ("personal", 200) in [(i.auth, i.status) for i in log if "/simple/" in i.path]
    files = [(i.auth, i.status) for i in log if "/files/" in i.path]
    assert files
    assert set(files) == {("anonymous", 401)}
    assert pat not in result.stdout + result.stderr
    # the same download with the index on the external URL works
    gl.clear_requests()
    ok = run([*cmd[:-5], "--index-url", gl.simple_url(project, token=pat), f"demo-pkg=={VERSION}",
              "-d", tmp_path / "dl2"], env=clean_env(tmp_path))  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
