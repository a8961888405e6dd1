"""Auth matrix of the GitLab stand-in: every credential kind and how it is sent, against every
project visibility, on the PyPI and generic routes (spec/requests/api/pypi_packages_spec.rb,
generic_packages_spec.rb tables)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from hatch_sigstore.sandbox.gitlab import GitLabRegistry, Project

VISIBILITIES = ("private", "internal", "public")
REALM = 'Basic realm="GitLab Packages Registry"'
_counter = itertools.count()


@dataclass
class Sent:
    """How a credential goes on the wire."""

    auth: tuple[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


Factory = Callable[[GitLabRegistry, Project, dict[str, Project]], Sent]


def _pat(**kw: object) -> Callable[[GitLabRegistry, Project], str]:
    def make(gl: GitLabRegistry, project: Project) -> str:
        return gl.personal_token(project=project, **kw)  # type: ignore[arg-type]

    return make


CREDENTIALS: dict[str, Factory] = {
    "anonymous": lambda gl, p, _: Sent(),
    "job-basic": lambda gl, p, _: Sent(auth=("gitlab-ci-token", gl.job_token(p))),
    "job-basic-other-user": lambda gl, p, _: Sent(auth=("ci", gl.job_token(p))),
    "job-header": lambda gl, p, _: Sent(headers={"JOB-TOKEN": gl.job_token(p)}),
    "job-param": lambda gl, p, _: Sent(params={"job_token": gl.job_token(p)}),
    "job-finished": lambda gl, p, _: Sent(headers={"JOB-TOKEN": _finished_job(gl, p)}),
    "job-guest-basic": lambda gl, p, _: Sent(
        auth=("gitlab-ci-token", gl.job_token(p, role="guest"))
    ),
    "job-guest-header": lambda gl, p, _: Sent(headers={"JOB-TOKEN": gl.job_token(p, role="guest")}),
    "pat-basic": lambda gl, p, _: Sent(auth=("__token__", gl.personal_token(project=p))),
    "pat-header": lambda gl, p, _: Sent(headers={"PRIVATE-TOKEN": gl.personal_token(project=p)}),
    "pat-bearer": lambda gl, p, _: Sent(
        headers={"Authorization": f"Bearer {gl.personal_token(project=p)}"}
    ),
    "pat-developer": lambda gl, p, _: Sent(
        auth=("x", gl.personal_token(project=p, role="developer"))
    ),
    "pat-guest": lambda gl, p, _: Sent(auth=("x", gl.personal_token(project=p, role="guest"))),
    "pat-reporter": lambda gl, p, _: Sent(
        auth=("x", gl.personal_token(project=p, role="reporter"))
    ),
    "pat-non-member": lambda gl, p, _: Sent(auth=("x", gl.personal_token(project=p, role=None))),
    "pat-read-api": lambda gl, p, _: Sent(
        auth=("x", gl.personal_token(project=p, scopes=("read_api",)))
    ),
    "pat-read-registry": lambda gl, p, _: Sent(
        auth=("x", gl.personal_token(project=p, scopes=("read_registry",)))
    ),
    "pat-expired": lambda gl, p, _: Sent(auth=("x", gl.personal_token(project=p, expired=True))),
    "pat-revoked": lambda gl, p, _: Sent(auth=("x", gl.personal_token(project=p, revoked=True))),
    "deploy-rw-basic": lambda gl, p, _: Sent(auth=gl.deploy_token(p)),
    "deploy-rw-header": lambda gl, p, _: Sent(headers={"DEPLOY-TOKEN": gl.deploy_token(p)[1]}),
    "deploy-ro": lambda gl, p, _: Sent(auth=gl.deploy_token(p, scopes=("read_package_registry",))),
    "deploy-wo": lambda gl, p, _: Sent(
        auth=("anything", gl.deploy_token(p, scopes=("write_package_registry",))[1])
    ),
    "deploy-other-project": lambda gl, p, other: Sent(auth=gl.deploy_token(other["other"])),
    "wrong-basic": lambda gl, p, _: Sent(auth=("__token__", "glpat-notatoken")),
    "wrong-header": lambda gl, p, _: Sent(headers={"PRIVATE-TOKEN": "glpat-notatoken"}),
}


def _finished_job(gl: GitLabRegistry, project: Project) -> str:
    token = gl.job_token(project)
    gl.revoke(token)
    return token


# expected status per credential: (private, internal, public)
def ALL(s: int) -> tuple[int, int, int]:
    return (s, s, s)


PYPI_UPLOAD: dict[str, tuple[int, int, int]] = {
    "anonymous": ALL(401),
    "job-basic": ALL(201),
    "job-basic-other-user": ALL(401),
    "job-header": ALL(401),  # JOB-TOKEN is not accepted on PyPI routes: anonymous
    "job-param": ALL(401),
    "job-finished": ALL(401),
    "job-guest-basic": ALL(403),
    "job-guest-header": ALL(401),
    "pat-basic": ALL(201),
    "pat-header": ALL(201),
    "pat-bearer": ALL(201),
    "pat-developer": ALL(201),
    "pat-guest": ALL(403),
    "pat-reporter": ALL(403),
    "pat-non-member": (404, 403, 403),
    "pat-read-api": ALL(403),
    "pat-read-registry": ALL(403),
    "pat-expired": ALL(401),
    "pat-revoked": ALL(401),
    "deploy-rw-basic": ALL(201),
    "deploy-rw-header": ALL(201),
    "deploy-ro": ALL(403),
    "deploy-wo": ALL(201),
    "deploy-other-project": (404, 404, 403),
    "wrong-basic": ALL(401),
    "wrong-header": ALL(401),
}

PYPI_READ: dict[str, tuple[int, int, int]] = {
    "anonymous": (401, 401, 200),
    "job-basic": ALL(200),
    "job-basic-other-user": (401, 401, 200),  # bad Basic credentials: anonymous on public
    "job-header": (401, 401, 200),
    "job-param": (401, 401, 200),
    "job-finished": (401, 401, 200),
    "job-guest-basic": (403, 200, 200),
    "job-guest-header": (401, 401, 200),
    "pat-basic": ALL(200),
    "pat-header": ALL(200),
    "pat-bearer": ALL(200),
    "pat-developer": ALL(200),
    "pat-guest": (403, 200, 200),
    "pat-reporter": ALL(200),
    "pat-non-member": (404, 200, 200),
    "pat-read-api": ALL(200),
    "pat-read-registry": ALL(403),
    "pat-expired": ALL(401),
    "pat-revoked": ALL(401),
    "deploy-rw-basic": ALL(200),
    "deploy-rw-header": ALL(200),
    "deploy-ro": ALL(200),
    "deploy-wo": ALL(200),
    "deploy-other-project": (404, 404, 200),
    "wrong-basic": (401, 401, 200),
    "wrong-header": (401, 401, 200),
}

GENERIC_PUT: dict[str, tuple[int, int, int]] = {
    **PYPI_UPLOAD,
    "job-basic": ALL(401),  # Basic job token on generic PUT: 401 before GitLab 19.0
    "job-header": ALL(201),
    "job-param": ALL(201),
    "job-guest-basic": ALL(401),
    "job-guest-header": ALL(403),
}

GENERIC_GET: dict[str, tuple[int, int, int]] = {
    **PYPI_READ,
    "job-basic-other-user": ALL(401),
    "job-header": ALL(200),
    "job-param": ALL(200),
    "job-finished": ALL(401),
    "job-guest-header": (403, 200, 200),
    "wrong-basic": ALL(401),
    "wrong-header": ALL(401),
}


@pytest.fixture(scope="module")
def projects(gl: GitLabRegistry) -> dict[str, Project]:
    projects = {v: gl.create_project(f"auth/{v}", visibility=v) for v in VISIBILITIES}
    # something to read in each
    for project in projects.values():
        digest = hashlib.sha256(b"sdist").hexdigest()
        token = gl.job_token(project)
        with httpx.Client() as c:
            c.put(
                gl.generic_url(project, "pkg", "1.0", "f"),
                content=b"f",
                headers={"JOB-TOKEN": token},
            )
            c.post(
                gl.pypi_url(project),
                data={"name": "pkg", "version": "1.0", "sha256_digest": digest},
                files={"content": ("pkg-1.0.tar.gz", b"sdist")},
                auth=("gitlab-ci-token", token),
            )
    projects["other"] = gl.create_project("auth/other")
    return projects


def _check_body(r: httpx.Response, expected: int, name: str) -> None:
    if expected >= 400:
        assert r.headers["content-type"] == "application/json"
    if expected == 401:
        if name in ("pat-expired", "pat-revoked"):
            assert r.json()["error"] == "invalid_token"
            assert r.json()["error_description"] == (
                "Token is expired. You can either do re-authorization or token refresh."
                if name == "pat-expired"
                else "Token was revoked. You have to re-authorize from the user."
            )
            assert 'error="invalid_token"' in r.headers["www-authenticate"]
        else:
            assert r.json() == {"message": "401 Unauthorized"}
            assert r.headers["www-authenticate"] == REALM
    elif expected == 403:
        if name.startswith("pat-read"):
            body = r.json()
            assert body["error"] == "insufficient_scope"
            assert body["error_description"] == (
                "The request requires higher privileges than provided by the access token."
            )
        else:
            assert r.json() == {"message": "403 Forbidden"}
    elif expected == 404:
        assert r.json() == {"message": "404 Not Found"}


def _cases(table: dict[str, tuple[int, int, int]]) -> list[tuple[str, str, int]]:
    return [
        (name, vis, table[name][i]) for name in CREDENTIALS for i, vis in enumerate(VISIBILITIES)
    ]


def _send(
    gl: GitLabRegistry, projects: dict[str, Project], name: str, visibility: str
) -> tuple[Project, Sent]:
    project = projects[visibility]
    return project, CREDENTIALS[name](gl, project, projects)


def _exchange(
    client: httpx.Client, method: str, url: str, sent: Sent, name: str, expected: int, **kw: Any
) -> httpx.Response:
    """One request with the credential as ``sent`` says: the status and body ``expected``."""
    r = client.request(method, url, auth=sent.auth, headers=sent.headers, params=sent.params, **kw)
    assert r.status_code == expected, r.text
    _check_body(r, expected, name)
    return r


def test_tables_cover_every_credential() -> None:
    for table in (PYPI_UPLOAD, PYPI_READ, GENERIC_PUT, GENERIC_GET):
        assert set(table) == set(CREDENTIALS)


@pytest.mark.parametrize(("name", "visibility", "expected"), _cases(PYPI_UPLOAD))
def test_pypi_upload(
    gl: GitLabRegistry,
    projects: dict[str, Project],
    client: httpx.Client,
    name: str,
    visibility: str,
    expected: int,
) -> None:
    project, sent = _send(gl, projects, name, visibility)
    _exchange(
        client, "POST", gl.pypi_url(project), sent, name, expected,
        data={"name": "pkg", "version": "1.0"},
        files={"content": (f"pkg-1.0-{next(_counter)}.whl", b"w")},
    )  # fmt: skip


@pytest.mark.parametrize(("name", "visibility", "expected"), _cases(PYPI_READ))
@pytest.mark.parametrize("route", ["simple", "simple/pkg", "files"])
def test_pypi_read(
    gl: GitLabRegistry,
    projects: dict[str, Project],
    client: httpx.Client,
    name: str,
    visibility: str,
    expected: int,
    route: str,
) -> None:
    project, sent = _send(gl, projects, name, visibility)
    if route == "files":
        sha = next(f.sha256 for f in gl.pypi_files(project) if f.filename == "pkg-1.0.tar.gz")
        route = f"files/{sha}/pkg-1.0.tar.gz"
    _exchange(client, "GET", f"{gl.pypi_url(project)}/{route}", sent, name, expected)


@pytest.mark.parametrize(("name", "visibility", "expected"), _cases(GENERIC_PUT))
def test_generic_put(
    gl: GitLabRegistry,
    projects: dict[str, Project],
    client: httpx.Client,
    name: str,
    visibility: str,
    expected: int,
) -> None:
    project, sent = _send(gl, projects, name, visibility)
    url = gl.generic_url(project, "pkg", "1.0", f"f{next(_counter)}")
    _exchange(client, "PUT", url, sent, name, expected, content=b"x")


@pytest.mark.parametrize(("name", "visibility", "expected"), _cases(GENERIC_GET))
def test_generic_get(
    gl: GitLabRegistry,
    projects: dict[str, Project],
    client: httpx.Client,
    name: str,
    visibility: str,
    expected: int,
) -> None:
    project, sent = _send(gl, projects, name, visibility)
    r = _exchange(client, "GET", gl.generic_url(project, "pkg", "1.0", "f"), sent, name, expected)
    if expected == 200:
        assert r.content == b"f"


def test_generic_basic_job_token_when_enabled(
    gl: GitLabRegistry, projects: dict[str, Project]
) -> None:
    project = projects["private"]
    token = gl.job_token(project)
    url = gl.generic_url(project, "pkg", "1.0", "basic-job")
    with httpx.Client() as c:
        assert c.put(url, content=b"", auth=("gitlab-ci-token", token)).status_code == 401
        gl.settings.generic_job_token_basic_auth = True  # GitLab >= 19.0 (MR !239076)
        try:
            assert c.put(url, content=b"", auth=("gitlab-ci-token", token)).status_code == 201
            assert c.put(url, content=b"", auth=("other", token)).status_code == 401
        finally:
            gl.settings.generic_job_token_basic_auth = False


def test_unknown_project_generic(gl: GitLabRegistry, projects: dict[str, Project]) -> None:
    """Generic routes authenticate first: anonymous -> 401, authenticated -> 404."""
    pat = gl.personal_token()
    with httpx.Client() as c:
        for method in ("PUT", "GET"):
            url = f"{gl.api_url}/projects/424242/packages/generic/pkg/1.0/f"
            r = c.request(method, url, content=b"" if method == "PUT" else None)
            assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
            r = c.request(method, url, headers={"PRIVATE-TOKEN": pat})
            assert (r.status_code, r.json()) == (404, {"message": "404 Not Found"})


def test_anonymous_generic_put_is_401_before_param_checks(gl: GitLabRegistry) -> None:
    url = f"{gl.api_url}/projects/1/packages/generic/~bad/1..0/~f"
    with httpx.Client() as c:
        assert c.put(url, content=b"").status_code == 401
        r = c.put(url, content=b"", headers={"PRIVATE-TOKEN": gl.personal_token()})
    assert r.status_code == 400


def test_pat_for_all_projects_and_job_token_scope(
    gl: GitLabRegistry, projects: dict[str, Project]
) -> None:
    """A PAT made without ``project`` has its role everywhere; a job token only in its project."""
    everywhere = gl.personal_token(role="developer")
    job = gl.job_token(projects["internal"])
    with httpx.Client() as c:
        for project in projects.values():
            url = gl.generic_url(project, "pkg", "1.0", f"all{next(_counter)}")
            assert c.put(url, content=b"", headers={"PRIVATE-TOKEN": everywhere}).status_code == 201
        url = gl.generic_url(projects["private"], "pkg", "1.0", "cross")
        assert c.put(url, content=b"", headers={"JOB-TOKEN": job}).status_code == 404
        url = gl.generic_url(projects["public"], "pkg", "1.0", "cross")
        assert c.put(url, content=b"", headers={"JOB-TOKEN": job}).status_code == 403


def test_revoke_and_expire(gl: GitLabRegistry, projects: dict[str, Project]) -> None:
    project = projects["private"]
    pat = gl.personal_token(project=project)
    _user, deploy = gl.deploy_token(project)
    url = gl.generic_url(project, "pkg", "1.0", "f")
    with httpx.Client() as c:
        assert c.get(url, headers={"PRIVATE-TOKEN": pat}).status_code == 200
        assert c.get(url, headers={"DEPLOY-TOKEN": deploy}).status_code == 200
        gl.expire(pat)
        assert c.get(url, headers={"PRIVATE-TOKEN": pat}).json()["error"] == "invalid_token"
        gl.revoke(deploy)
        assert c.get(url, headers={"DEPLOY-TOKEN": deploy}).status_code == 401
    with pytest.raises(KeyError):
        gl.revoke("glpat-unknown")


def test_token_formats(gl: GitLabRegistry, projects: dict[str, Project]) -> None:
    project = projects["private"]
    assert gl.personal_token().startswith("glpat-")
    assert gl.job_token(project).startswith("glcbt-")
    username, token = gl.deploy_token(project)
    assert username.startswith("gitlab+deploy-token-")
    assert token.startswith("gldt-")
