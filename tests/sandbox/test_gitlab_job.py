"""One GitLab CI job, two views (``_gitlab_job.py``): the claims of its ID tokens as
``Gitlab::Ci::JwtV2`` mints them and its predefined variables, which must tell the same story."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hatch_sigstore.sandbox._gitlab_job import NOT_BEFORE_TIME, Job, ref_slug, server_fqdn

SERVER = "https://gitlab.example.com"
# lib/gitlab/ci/jwt_v2.rb over jwt.rb and UserProjectTokenClaims, for a job without environment
JWT_V2_CLAIMS = {
    "namespace_id", "namespace_path", "project_id", "project_path",
    "user_id", "user_login", "user_email", "user_access_level",
    "job_project_id", "job_project_path", "job_namespace_id", "job_namespace_path",
    "pipeline_id", "pipeline_source", "job_id", "ref", "ref_type", "ref_path", "ref_protected",
    "runner_id", "runner_environment", "sha", "project_visibility",
    "ci_config_ref_uri", "ci_config_sha",
    "jti", "iss", "iat", "nbf", "exp", "sub", "aud",
}  # fmt: skip
# claim -> the predefined variable that carries the same value
SAME_VALUE = {
    "project_id": "CI_PROJECT_ID",
    "project_path": "CI_PROJECT_PATH",
    "namespace_id": "CI_PROJECT_NAMESPACE_ID",
    "namespace_path": "CI_PROJECT_NAMESPACE",
    "pipeline_id": "CI_PIPELINE_ID",
    "pipeline_source": "CI_PIPELINE_SOURCE",
    "job_id": "CI_JOB_ID",
    "ref": "CI_COMMIT_REF_NAME",
    "ref_protected": "CI_COMMIT_REF_PROTECTED",
    "sha": "CI_COMMIT_SHA",
    "project_visibility": "CI_PROJECT_VISIBILITY",
    "user_id": "GITLAB_USER_ID",
    "user_login": "GITLAB_USER_LOGIN",
    "user_email": "GITLAB_USER_EMAIL",
    "iss": "CI_SERVER_URL",
}


def claims_of(job: Job, server: str = SERVER) -> dict[str, Any]:
    return job.claims(issuer=server, audience="sigstore", iat=1_000_000, exp=1_000_600, jti="j")


def test_claims_are_jwt_v2s_claim_set() -> None:
    claims = claims_of(Job(project_path="acme/tools/widget", ref="v2.1.0", ref_type="tag"))
    assert set(claims) == JWT_V2_CLAIMS
    for name, value in claims.items():
        expected = int if name in ("runner_id", "iat", "nbf", "exp") else str
        assert isinstance(value, expected), name
    assert claims["nbf"] == claims["iat"] - NOT_BEFORE_TIME == 1_000_000 - 5
    assert claims["sub"] == "project_path:acme/tools/widget:ref_type:tag:ref:v2.1.0"
    assert claims["ci_config_ref_uri"] == (
        "gitlab.example.com/acme/tools/widget//.gitlab-ci.yml@refs/tags/v2.1.0"
    )
    assert claims["ci_config_sha"] == claims["sha"]
    assert (
        (claims["job_project_path"], claims["job_namespace_path"])
        == (
            claims["project_path"],
            claims["namespace_path"],
        )
        == ("acme/tools/widget", "acme/tools")
    )
    assert claims["job_namespace_id"] == claims["namespace_id"]


@pytest.mark.parametrize(
    ("options", "protected"),
    [
        ({}, "true"),  # the default branch
        ({"ref": "develop"}, "false"),
        ({"ref": "v1", "ref_type": "tag"}, "true"),
        ({"ref": "v1", "ref_type": "tag", "ref_protected": False}, "false"),
        ({"ref": "develop", "ref_protected": True}, "true"),
        ({"ref": "develop", "ref_protected": "true"}, "true"),  # the claim's spelling
        ({"ref": "main", "default_branch": "trunk"}, "false"),
        ({"ref": "trunk", "default_branch": "trunk"}, "true"),
    ],
)
def test_ref_protected_follows_the_ref(options: dict[str, Any], protected: str) -> None:
    job = Job(**options)
    assert claims_of(job)["ref_protected"] == protected
    assert job.variables(SERVER)["CI_COMMIT_REF_PROTECTED"] == protected


@pytest.mark.parametrize(
    ("ref", "ref_type", "expected"),
    [
        ("refs/tags/v1.0", "branch", ("v1.0", "tag", "refs/tags/v1.0")),
        ("refs/heads/feature/x", "tag", ("feature/x", "branch", "refs/heads/feature/x")),
        ("main", "branch", ("main", "branch", "refs/heads/main")),
        ("v2", "tag", ("v2", "tag", "refs/tags/v2")),
    ],
)
def test_a_full_ref_sets_the_ref_type(
    ref: str, ref_type: str, expected: tuple[str, str, str]
) -> None:
    job = Job(ref=ref, ref_type=ref_type)
    assert (job.ref, job.ref_type, job.ref_path) == expected


def test_a_bad_ref_type_is_refused() -> None:
    with pytest.raises(ValueError, match="ref_type"):
        Job(ref_type="merge_request")


@pytest.mark.parametrize("kind", ["branch", "tag"])
def test_variables_of_a_branch_or_a_tag_pipeline(kind: str) -> None:
    ref = "v1.2.3" if kind == "tag" else "Feature/Login_2"
    job = Job(project_path="team/app", project_id="7", ref=ref, ref_type=kind, pipeline_id="4242")
    env = job.variables("http://127.0.0.1:8080")
    # Builder::Pipeline: CI_COMMIT_BRANCH only in branch pipelines, CI_COMMIT_TAG* only in tag ones
    tag_only = {"CI_COMMIT_TAG", "CI_COMMIT_TAG_MESSAGE"}
    assert (tag_only <= set(env)) is (kind == "tag")
    assert ("CI_COMMIT_BRANCH" in env) is (kind == "branch")
    assert env.get("CI_COMMIT_TAG", env.get("CI_COMMIT_BRANCH")) == ref
    assert env["CI_COMMIT_REF_SLUG"] == ("v1-2-3" if kind == "tag" else "feature-login-2")
    assert env["CI_COMMIT_REF_PROTECTED"] == ("true" if kind == "tag" else "false")
    assert env["CI_DEFAULT_BRANCH"] == "main"
    assert (env["CI_PIPELINE_ID"], env["CI_PIPELINE_IID"], env["CI_JOB_ID"]) == (
        "4242", "242", "42421"
    )  # fmt: skip
    assert (env["CI_SERVER_URL"], env["CI_SERVER_FQDN"], env["CI_API_V4_URL"]) == (
        "http://127.0.0.1:8080", "127.0.0.1:8080", "http://127.0.0.1:8080/api/v4"
    )  # fmt: skip
    assert (env["CI_SERVER_HOST"], env["CI_SERVER_PORT"], env["CI_SERVER_PROTOCOL"]) == (
        "127.0.0.1", "8080", "http"
    )  # fmt: skip
    assert (env["CI_PROJECT_NAME"], env["CI_PROJECT_NAMESPACE"], env["CI_PROJECT_ID"]) == (
        "app", "team", "7"
    )  # fmt: skip
    assert env["CI_PROJECT_URL"] == "http://127.0.0.1:8080/team/app"
    assert env["CI_COMMIT_SHORT_SHA"] == env["CI_COMMIT_SHA"][:8]
    assert re.fullmatch(r"[0-9a-f]{40}", env["CI_COMMIT_SHA"])


@pytest.mark.parametrize(
    "job",
    [
        Job(),
        Job(project_path="a/b/c", ref="v9", ref_type="tag", pipeline_id="77", sha="ab" * 20),
        Job(
            ref="topic",
            ref_protected=True,
            pipeline_source="web",
            project_visibility="public",
            user_login="someone",
            namespace_id="5",
        ),
    ],
)
def test_the_token_and_the_variables_tell_the_same_story(job: Job) -> None:
    claims, env = claims_of(job), job.variables(SERVER)
    assert {claim: claims[claim] for claim in SAME_VALUE} == {
        claim: env[variable] for claim, variable in SAME_VALUE.items()
    }
    config_uri = f"{env['CI_SERVER_FQDN']}/{env['CI_PROJECT_PATH']}//{env['CI_CONFIG_PATH']}@"
    assert claims["ci_config_ref_uri"] == config_uri + claims["ref_path"]


@pytest.mark.parametrize(
    ("url", "fqdn"),
    [  # Settings.build_server_fqdn, as config/settings.rb's spec tables it
        ("https://acme.com:9090/gitlab", "acme.com:9090/gitlab"),
        ("https://acme.com:443/gitlab", "acme.com/gitlab"),
        ("https://acme.com:443", "acme.com"),
        ("https://gitlab.com/", "gitlab.com"),
        ("http://127.0.0.1:8080", "127.0.0.1:8080"),
        ("http://[::1]:8080", "[::1]:8080"),
        ("http://gitlab.local:80", "gitlab.local"),
    ],
)
def test_server_fqdn(url: str, fqdn: str) -> None:
    assert server_fqdn(url) == fqdn


@pytest.mark.parametrize(
    ("server", "explicit", "runner"),
    [
        ("https://gitlab.com", None, "gitlab-hosted"),
        ("https://gitlab.example.com", None, "self-hosted"),
        ("http://127.0.0.1:8080", None, "self-hosted"),
        ("https://gitlab.example.com", "gitlab-hosted", "gitlab-hosted"),
    ],
)
def test_runner_environment(server: str, explicit: str | None, runner: str) -> None:
    assert claims_of(Job(runner_environment=explicit), server)["runner_environment"] == runner


def test_options_split_into_the_job_and_claim_overrides() -> None:
    job, overrides = Job.of(
        {"ref": "v1", "ref_type": "tag", "pipeline_id": 9, "sha": None, "environment": "prod"}
    )
    assert (job.ref, job.ref_type, job.pipeline_id) == ("v1", "tag", "9")
    assert overrides == {"sha": None, "environment": "prod"}  # None: remove the claim


@pytest.mark.parametrize(
    ("ref", "slug"),
    [("main", "main"), ("Feature/ABC_1", "feature-abc-1"), ("-x-", "x"), ("a" * 70, "a" * 63)],
)
def test_ref_slug(ref: str, slug: str) -> None:
    assert ref_slug(ref) == slug


@given(st.text(max_size=100))
def test_ref_slug_is_always_a_slug(ref: str) -> None:
    slug = ref_slug(ref)
    assert re.fullmatch(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?", slug)
