"""The Packages API of the GitLab stand-in (lib/api/project_packages.rb, lib/api/package_files.rb):
find a release's files and their sha256 without downloading them."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from gitlab_stand_in_helpers import generic_put, pypi_upload, sha

from hatch_sigstore.sandbox.gitlab import GitLabRegistry, Project

JOB_USER = "gitlab-ci-token"


def _release(gl: GitLabRegistry, project: Project, job: str, client: httpx.Client) -> None:
    """demo-pkg 1.0.0 (wheel + sdist) on PyPI, its signatures in the generic registry, and an
    older 0.9.0."""
    url = gl.pypi_url(project)
    for version, filename, content in [
        ("0.9.0", "demo_pkg-0.9.0.tar.gz", b"old sdist"),
        ("1.0.0", "demo_pkg-1.0.0-py3-none-any.whl", b"wheel"),
        ("1.0.0", "demo_pkg-1.0.0.tar.gz", b"sdist"),
    ]:
        r = pypi_upload(
            client, url, auth=(JOB_USER, job), version=version, filename=filename, content=content
        )
        assert r.status_code == 201
    for name in (
        "demo_pkg-1.0.0-py3-none-any.whl.sigstore.json",
        "demo_pkg-1.0.0.tar.gz.sigstore.json",
    ):
        put = generic_put(
            client,
            gl.generic_url(project, "demo-pkg", "1.0.0", name),
            {"JOB-TOKEN": job},
            name.encode(),
        )
        assert put.status_code == 201


def test_find_a_release_and_its_sha256s(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    _release(gl, project, job, client)
    api = gl.project_api_url(project)
    auth = {"JOB-TOKEN": job}
    query = {"package_type": "pypi", "package_name": "demo-pkg", "package_version": "1.0.0"}
    r = client.get(f"{api}/packages", params=query, headers=auth)
    assert r.status_code == 200
    (package,) = r.json()
    assert (package["name"], package["version"], package["package_type"], package["status"]) == (
        "demo-pkg", "1.0.0", "pypi", "default",
    )  # fmt: skip
    assert package["_links"]["web_path"] == f"/{project.path}/-/packages/{package['id']}"
    assert "delete_api_path" not in package["_links"]  # a developer's job cannot delete
    files = client.get(f"{api}/packages/{package['id']}/package_files", headers=auth)
    assert files.status_code == 200
    rows = {f["file_name"]: f for f in files.json()}
    assert set(rows) == {"demo_pkg-1.0.0-py3-none-any.whl", "demo_pkg-1.0.0.tar.gz"}
    assert rows["demo_pkg-1.0.0.tar.gz"]["file_sha256"] == sha(b"sdist")
    assert rows["demo_pkg-1.0.0.tar.gz"]["size"] == len(b"sdist")
    assert set(rows["demo_pkg-1.0.0.tar.gz"]) == {
        "id", "package_id", "created_at", "file_name", "size", "file_md5", "file_sha1",
        "file_sha256",
    }  # fmt: skip
    # the generic package of the same release: sha256 computed by the server
    (generic,) = client.get(
        f"{api}/packages", params={"package_type": "generic"}, headers=auth
    ).json()
    sig = client.get(f"{api}/packages/{generic['id']}/package_files", headers=auth).json()
    assert {f["file_name"]: f["file_sha256"] for f in sig} == {
        n: sha(n.encode())
        for n in (
            "demo_pkg-1.0.0-py3-none-any.whl.sigstore.json",
            "demo_pkg-1.0.0.tar.gz.sigstore.json",
        )
    }


def test_pypi_file_sha256_is_what_the_uploader_claimed(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    """GitLab stores the client's sha256_digest unchecked: the API shows the claim, not the
    hash of the stored bytes."""
    claimed = "ab" * 32
    r = pypi_upload(client, gl.pypi_url(project), auth=(JOB_USER, job), digest=claimed)
    assert r.status_code == 201
    api = gl.project_api_url(project)
    (package,) = client.get(f"{api}/packages", headers={"JOB-TOKEN": job}).json()
    (f,) = client.get(
        f"{api}/packages/{package['id']}/package_files", headers={"JOB-TOKEN": job}
    ).json()
    assert f["file_sha256"] == claimed
    assert gl.pypi_files(project)[0].sha256 == sha(b"wheel bytes")


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({}, ["demo-pkg 0.9.0", "demo-pkg 1.0.0", "demo-pkg 1.0.0"]),
        ({"package_type": "generic"}, ["demo-pkg 1.0.0"]),
        ({"package_name": "DEMO"}, ["demo-pkg 0.9.0", "demo-pkg 1.0.0", "demo-pkg 1.0.0"]),
        ({"package_name": "other"}, []),
        ({"package_version": "0.9.0"}, ["demo-pkg 0.9.0"]),
        ({"order_by": "version", "sort": "desc", "package_type": "pypi"},
         ["demo-pkg 1.0.0", "demo-pkg 0.9.0"]),
    ],
)  # fmt: skip
def test_list_filters(
    gl: GitLabRegistry,
    project: Project,
    job: str,
    client: httpx.Client,
    params: dict[str, str],
    names: list[str],
) -> None:
    _release(gl, project, job, client)
    r = client.get(
        f"{gl.project_api_url(project)}/packages", params=params, headers={"JOB-TOKEN": job}
    )
    assert r.status_code == 200
    assert [f"{p['name']} {p['version']}" for p in r.json()] == names


def test_pagination_headers_and_links_on_the_external_url(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    _release(gl, project, job, client)
    alias = gl.add_listener()
    gl.settings.external_url = gl.url  # the instance's URL; the client came in on the alias
    url = f"{alias}/api/v4/projects/{project.id}/packages"
    r = client.get(url, params={"per_page": "2"}, headers={"JOB-TOKEN": job})
    assert r.status_code == 200
    assert len(r.json()) == 2
    h = r.headers
    assert (h["x-page"], h["x-per-page"], h["x-next-page"], h["x-prev-page"]) == ("1", "2", "2", "")
    assert (h["x-total"], h["x-total-pages"]) == ("3", "2")
    links = dict(
        (part.split(";")[1].strip(), part.split(";")[0].strip("<> "))
        for part in h["link"].split(",")
    )
    assert set(links) == {'rel="next"', 'rel="first"', 'rel="last"'}
    nxt = urlsplit(links['rel="next"'])
    assert f"http://{nxt.netloc}" == gl.url  # not the alias the request came in on
    assert dict(parse_qsl(nxt.query)) == {"id": str(project.id), "page": "2", "per_page": "2"}
    second = client.get(links['rel="next"'], headers={"JOB-TOKEN": job})
    assert len(second.json()) == 1
    assert second.headers["x-prev-page"] == "1"


@pytest.mark.parametrize(
    ("who", "status", "body"),
    [
        ("anonymous", 404, {"message": "404 Project Not Found"}),
        ("deploy", 404, {"message": "404 Project Not Found"}),  # not accepted here: anonymous
        ("basic-job", 404, {"message": "404 Project Not Found"}),  # Basic is not read here
        ("outsider", 404, {"message": "404 Project Not Found"}),
        ("guest", 403, {"message": "403 Forbidden"}),
        ("bad-token", 401, {"message": "401 Unauthorized"}),
        ("job", 200, None),
        ("reporter", 200, None),
    ],
)
def test_auth(
    gl: GitLabRegistry,
    project: Project,
    client: httpx.Client,
    who: str,
    status: int,
    body: dict[str, str] | None,
) -> None:
    kwargs: dict[str, object] = {}
    if who == "deploy":
        kwargs["headers"] = {"DEPLOY-TOKEN": gl.deploy_token(project)[1]}
    elif who == "basic-job":
        kwargs["auth"] = (JOB_USER, gl.job_token(project))
    elif who == "outsider":
        kwargs["headers"] = {"PRIVATE-TOKEN": gl.personal_token(role=None)}
    elif who in ("guest", "reporter"):
        kwargs["headers"] = {"PRIVATE-TOKEN": gl.personal_token(role=who, project=project)}
    elif who == "bad-token":
        kwargs["headers"] = {"PRIVATE-TOKEN": "glpat-wrong"}
    elif who == "job":
        kwargs["params"] = {"job_token": gl.job_token(project)}
    r = client.get(f"{gl.project_api_url(project)}/packages", **kwargs)  # type: ignore[arg-type]
    assert r.status_code == status
    if body is not None:
        assert r.json() == body
        assert "www-authenticate" not in r.headers


def test_not_found_and_param_errors(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    _release(gl, project, job, client)
    api = gl.project_api_url(project)
    auth = {"JOB-TOKEN": job}
    r = client.get(f"{api}/packages/999999/package_files", headers=auth)
    assert (r.status_code, r.json()) == (404, {"message": "404 Not found"})
    bad = client.get(f"{api}/packages", params={"order_by": "size"}, headers=auth)
    assert (bad.status_code, bad.json()) == (400, {"error": "order_by does not have a valid value"})
    page = client.get(f"{api}/packages", params={"page": "x"}, headers=auth)
    assert (page.status_code, page.json()) == (400, {"error": "page is invalid"})
    # hidden generic packages are listed only when asked for
    hidden = gl.generic_url(project, "secret", "1.0", "f") + "?status=hidden"
    assert generic_put(client, hidden, auth).status_code == 201
    names = [p["name"] for p in client.get(f"{api}/packages", headers=auth).json()]
    assert "secret" not in names
    shown = client.get(f"{api}/packages", params={"status": "hidden"}, headers=auth).json()
    assert [p["name"] for p in shown] == ["secret"]


def test_single_package_and_file_download(
    gl: GitLabRegistry, project: Project, job: str, client: httpx.Client
) -> None:
    gl.settings.object_storage = True
    _release(gl, project, job, client)
    api = gl.project_api_url(project)
    auth = {"JOB-TOKEN": job}
    latest = client.get(
        f"{api}/packages", params={"package_version": "1.0.0", "package_type": "pypi"}, headers=auth
    ).json()[0]
    one = client.get(f"{api}/packages/{latest['id']}", headers=auth).json()
    assert [v["version"] for v in one["versions"]] == ["0.9.0"]
    (f, _) = client.get(f"{api}/packages/{latest['id']}/package_files", headers=auth).json()
    r = client.get(f"{api}/packages/{latest['id']}/package_files/{f['id']}/download", headers=auth)
    assert r.status_code == 302  # present_package_file!: a redirect under object storage
    assert client.get(r.headers["location"]).content == b"wheel"
