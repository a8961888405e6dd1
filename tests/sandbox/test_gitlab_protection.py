"""Package protection rules in the GitLab stand-in: who gets 403 "Package protected." on a PyPI
upload and on the generic authorize step (spec/requests/api/generic_packages_spec.rb and
pypi_packages_spec.rb tables), and the rules REST API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from gitlab_stand_in_helpers import BIN, build_dists, clean_env, generic_put, pypi_upload, run

from hatch_sigstore.sandbox.gitlab import GitLabRegistry, Project

JOB_USER = "gitlab-ci-token"
PROTECTED = {"message": "403 Forbidden - Package protected."}


def _token(gl: GitLabRegistry, project: Project, who: str) -> tuple[str, str]:
    """``(kind, token)`` for a developer/maintainer/owner PAT, a job token or a deploy token."""
    if who == "deploy":
        return "deploy", gl.deploy_token(project)[1]
    if who.startswith("job-"):
        return "job", gl.job_token(project, role=who.removeprefix("job-"))
    return "pat", gl.personal_token(role=who, project=project)


@pytest.mark.parametrize(
    ("minimum", "who", "protected"),
    [
        ("maintainer", "deploy", True),
        ("maintainer", "developer", True),
        ("maintainer", "job-developer", True),  # a job token counts as its user
        ("maintainer", "maintainer", False),
        ("maintainer", "job-maintainer", False),
        ("owner", "maintainer", True),
        ("owner", "owner", False),
        ("admin", "owner", True),
    ],
)
def test_who_is_refused(
    gl: GitLabRegistry,
    project: Project,
    client: httpx.Client,
    minimum: str,
    who: str,
    protected: bool,
) -> None:
    gl.protect_package(
        project, "demo-*", package_type="pypi", minimum_access_level_for_push=minimum
    )
    gl.protect_package(
        project, "demo-*", package_type="generic", minimum_access_level_for_push=minimum
    )
    kind, token = _token(gl, project, who)
    user = JOB_USER if kind == "job" else "anything"
    r = pypi_upload(client, gl.pypi_url(project), auth=(user, token), name="Demo_Pkg")
    assert (r.status_code, r.json()) == ((403, PROTECTED) if protected else (201, r.json()))
    headers = {"JOB-TOKEN": token} if kind == "job" else {"PRIVATE-TOKEN": token}
    if kind == "deploy":
        headers = {"DEPLOY-TOKEN": token}
    g = generic_put(client, gl.generic_url(project, "demo-pkg", "1.0", "f.sig"), headers)
    assert (g.status_code, g.json()) == ((403, PROTECTED) if protected else (201, g.json()))
    assert bool(gl.generic_files(project)) is not protected


@pytest.mark.parametrize(
    ("pattern", "package_type", "name", "protected"),
    [
        ("demo-pkg", "pypi", "demo-pkg", True),
        ("demo-pkg", "pypi", "Demo_Pkg", True),  # PEP 503-normalised, case-insensitive
        ("demo.pkg*", "pypi", "demo_pkg_extra", True),
        ("other*", "pypi", "demo-pkg", False),
        ("*", "pypi", "anything", True),
        ("demo-pkg", "generic", "demo_pkg", False),  # literal for generic
        ("DEMO-*", "generic", "demo-pkg", True),  # ILIKE
        ("demo%", "generic", "demo-pkg", False),  # % is literal, not LIKE's wildcard
    ],
)
def test_patterns(
    gl: GitLabRegistry,
    project: Project,
    client: httpx.Client,
    pattern: str,
    package_type: str,
    name: str,
    protected: bool,
) -> None:
    gl.protect_package(project, pattern, package_type=package_type)
    pat = gl.personal_token(role="developer", project=project)
    if package_type == "pypi":
        r = pypi_upload(client, gl.pypi_url(project), auth=("x", pat), name=name)
    else:
        r = generic_put(client, gl.generic_url(project, name, "1.0", "f"), {"PRIVATE-TOKEN": pat})
    assert (r.status_code == 403) is protected


def test_generic_refused_at_authorize_before_validation_of_the_rest(
    gl: GitLabRegistry, project: Project, client: httpx.Client
) -> None:
    """Protection is the authorize step's answer: a bad file name still gets the 400 (Grape
    validates first), a good one the 403 whatever the duplicate setting says."""
    gl.protect_package(project, "pkg", package_type="generic")
    job = gl.job_token(project)
    bad = generic_put(client, gl.generic_url(project, "pkg", "1.0", "~x"), {"JOB-TOKEN": job})
    assert (bad.status_code, bad.json()) == (400, {"error": "file_name is invalid"})
    r = generic_put(client, gl.generic_url(project, "pkg", "1.0", "f"), {"JOB-TOKEN": job})
    assert (r.status_code, r.json()) == (403, PROTECTED)
    gl.settings.protect_generic_packages = False  # GitLab < 18.1, or the flag off
    assert (
        generic_put(
            client, gl.generic_url(project, "pkg", "1.0", "f"), {"JOB-TOKEN": job}
        ).status_code
        == 201
    )


def test_pypi_protection_comes_after_the_body_and_before_model_validation(
    gl: GitLabRegistry, project: Project, client: httpx.Client
) -> None:
    gl.protect_package(project, "demo-pkg")
    job = gl.job_token(project)
    # Grape's param errors first...
    r = client.post(gl.pypi_url(project), data={"name": "demo-pkg"}, auth=(JOB_USER, job),
                    files={"content": ("x.whl", b"x", "application/octet-stream")})  # fmt: skip
    assert (r.status_code, r.json()) == (400, {"error": "version is missing"})
    # ...then protection, even for a version the model would refuse
    bad = pypi_upload(client, gl.pypi_url(project), auth=(JOB_USER, job), version="1.0.0~1")
    assert (bad.status_code, bad.json()) == (403, PROTECTED)
    assert gl.pypi_files(project) == []


def test_delete_only_rule_does_not_stop_user_pushes_but_stops_deploy_tokens(
    gl: GitLabRegistry, project: Project, client: httpx.Client
) -> None:
    """CheckRuleExistenceService: users are compared with minimum_access_level_for_push (NULL
    never protects), deploy tokens with the mere existence of a matching rule."""
    gl.protect_package(
        project,
        "demo-pkg",
        minimum_access_level_for_push=None,
        minimum_access_level_for_delete="owner",
    )
    pat = gl.personal_token(role="developer", project=project)
    assert pypi_upload(client, gl.pypi_url(project), auth=("x", pat)).status_code == 201
    _, deploy = gl.deploy_token(project)
    r = pypi_upload(
        client, gl.pypi_url(project), auth=("x", deploy), filename="demo_pkg-1.0.0.tar.gz"
    )
    assert (r.status_code, r.json()) == (403, PROTECTED)


def test_protect_package_validates(gl: GitLabRegistry, project: Project) -> None:
    gl.protect_package(project, "demo-*")
    with pytest.raises(ValueError, match="already been taken"):
        gl.protect_package(project, "demo-*")
    with pytest.raises(ValueError, match="valid PyPI package name"):
        gl.protect_package(project, "demo pkg")
    with pytest.raises(ValueError, match="at least a minimum access role"):
        gl.protect_package(project, "x", minimum_access_level_for_push=None)
    with pytest.raises(ValueError, match="package_type"):
        gl.protect_package(project, "x", package_type="wheel")
    with pytest.raises(ValueError, match="minimum_access_level_for_push"):
        gl.protect_package(project, "x", minimum_access_level_for_push="developer")
    assert [r.package_name_pattern for r in gl.protection_rules(project)] == ["demo-*"]


# REST ---------------------------------------------------------------------------------------------


def test_rules_rest_api(gl: GitLabRegistry, project: Project, client: httpx.Client) -> None:
    url = f"{gl.project_api_url(project)}/packages/protection/rules"
    maintainer = {"PRIVATE-TOKEN": gl.personal_token(role="maintainer", project=project)}
    body = {"package_name_pattern": "demo-*", "package_type": "pypi",
            "minimum_access_level_for_push": "owner"}  # fmt: skip
    r = client.post(url, json=body, headers=maintainer)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created == {
        "id": created["id"],
        "project_id": project.id,
        "package_name_pattern": "demo-*",
        "package_type": "pypi",
        "minimum_access_level_for_push": "owner",
        "minimum_access_level_for_delete": None,
    }
    assert client.get(url, headers=maintainer).json() == [created]
    again = client.post(url, json=body, headers=maintainer)
    assert (again.status_code, again.json()) == (
        422,
        {"message": {"error": ["Package name pattern has already been taken"]}},
    )
    form = client.post(url, data={"package_name_pattern": "x", "package_type": "generic",
                                  "minimum_access_level_for_push": "maintainer"},
                       headers=maintainer)  # fmt: skip
    assert form.status_code == 201
    # the rule bites
    dev = gl.personal_token(role="developer", project=project)
    assert pypi_upload(client, gl.pypi_url(project), auth=("x", dev)).status_code == 403


@pytest.mark.parametrize(
    ("who", "body", "status", "error"),
    [
        ("anonymous", {}, 401, {"message": "401 Unauthorized"}),
        ("job", {}, 401, {"message": "401 Unauthorized"}),  # no job tokens on this route
        ("developer", {}, 403, {"message": "403 Forbidden"}),
        ("outsider", {}, 404, {"message": "404 Project Not Found"}),
        ("maintainer", {"package_type": "pypi", "minimum_access_level_for_push": "owner"}, 400,
         {"error": "package_name_pattern is missing"}),
        ("maintainer", {"package_name_pattern": "x", "package_type": "wheel",
                        "minimum_access_level_for_push": "owner"}, 400,
         {"error": "package_type does not have a valid value"}),
        ("maintainer", {"package_name_pattern": "x", "package_type": "pypi"}, 400,
         {"error": "minimum_access_level_for_push, minimum_access_level_for_delete are missing, "
                   "at least one parameter must be provided"}),
    ],
)  # fmt: skip
def test_rules_rest_api_refusals(
    gl: GitLabRegistry,
    project: Project,
    client: httpx.Client,
    who: str,
    body: dict[str, str],
    status: int,
    error: dict[str, str],
) -> None:
    headers: dict[str, str] = {}
    if who == "job":
        headers = {"JOB-TOKEN": gl.job_token(project, role="maintainer")}
    elif who == "outsider":
        headers = {"PRIVATE-TOKEN": gl.personal_token(role=None)}
    elif who != "anonymous":
        headers = {"PRIVATE-TOKEN": gl.personal_token(role=who, project=project)}
    url = f"{gl.project_api_url(project)}/packages/protection/rules"
    r = client.post(url, json=body, headers=headers)
    assert (r.status_code, r.json()) == (status, error)


@pytest.mark.slow
def test_twine_shows_the_protection_message(
    gl: GitLabRegistry, project: Project, tmp_path: Path
) -> None:
    gl.protect_package(project, "demo*")
    dists = build_dists(tmp_path / "dist")
    job = gl.job_token(project)
    cmd: list[str | Path] = [BIN / "twine", "upload", "--non-interactive", "--verbose"]
    cmd += ["--disable-progress-bar", "--repository-url", gl.pypi_url(project)]
    result = run([*cmd, "-u", JOB_USER, "-p", job, *dists], env=clean_env(tmp_path))
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "403" in out
    assert "Package protected." in out
    assert job not in out
