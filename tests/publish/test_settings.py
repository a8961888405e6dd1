"""Publisher settings: precedence, CI defaults, tokens by name only, the expected signer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from hatch_sigstore.errors import ConfigError
from hatch_sigstore.publish import TokenSettings
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import CosignPolicy, GitLabPolicy
from publish_helpers import CI_ENV, SECRET, resolve


def test_ci_defaults() -> None:
    s = resolve()
    assert s.api_url == "https://gitlab.example.com/api/v4"
    assert s.project == "42"
    assert s.project_api_url == "https://gitlab.example.com/api/v4/projects/42"
    assert s.artifacts == (Path("/proj/dist"),)
    assert s.policy is not None
    assert isinstance(s.policy, GitLabPolicy)
    assert s.policy.identity is not None
    assert s.policy.identity.san == (
        "https://gitlab.example.com/group/project//.gitlab-ci.yml@refs/tags/v1.0.0"
    )
    creds = s.credentials()
    assert (creds.kind, creds.source) == ("job", "CI_JOB_TOKEN")
    assert not s.dry_run
    assert not s.allow_unsigned


def test_precedence_option_over_project_over_user() -> None:
    s = resolve(
        options={"project": "from/option"},
        project={"project": "from/project", "url": "https://project.example/api/v4"},
        user={"url": "https://user.example", "project": "from/user", "concurrency": 2},
    )
    assert s.project == "from/option"
    assert s.api_url == "https://project.example/api/v4"
    assert s.concurrency == 2
    assert s.project_api_url.endswith("/projects/from%2Foption")


def test_server_url_gets_api_suffix() -> None:
    assert resolve({"url": "https://gl.example/"}).api_url == "https://gl.example/api/v4"


@pytest.mark.parametrize(
    ("options", "env", "names"),
    [
        ({}, {}, ["url", "CI_API_V4_URL"]),
        ({"url": "https://gl.example/api/v4"}, {}, ["project", "CI_PROJECT_ID"]),
        ({"url": "ftp://gl.example"}, CI_ENV, ["-o url=", "api/v4"]),
        ({"url": "https://user:pw@gl.example"}, CI_ENV, ["credentials", "token-env"]),
        ({"project": "not a project"}, CI_ENV, ["project", "group/project"]),
        ({"dry-run": "maybe"}, CI_ENV, ["-o dry-run=", "true or false"]),
        ({"concurrency": "0"}, CI_ENV, ["-o concurrency=", "≥ 1"]),
        ({"dryrun": "true"}, CI_ENV, ["dryrun", "dry-run"]),
        ({"token-kind": "oauth"}, CI_ENV, ["token-kind", "personal"]),
        ({"token-env": "glpat-abc def"}, CI_ENV, ["token-env", "NAME"]),
        ({"ref": "main", "gitlab-project": "g/p"}, CI_ENV, ["-o ref=", "refs/heads"]),
        ({"ref-glob": "v*"}, CI_ENV, ["-o ref-glob=", "refs/"]),
        ({"identity": "x", "identity-regexp": "y"}, CI_ENV, ["identity", "identity-regexp"]),
        ({"issuer": "https://gitlab.com"}, CI_ENV, ["issuer", "identity"]),
        ({"identity": "https://x", "ref": "refs/heads/main"}, CI_ENV, ["-o ref=", "identity"]),
        ({"generic-package": "bad name"}, CI_ENV, ["generic-package", "letters"]),
        (
            {"url": "https://gl.example", "project": "g/p"},
            {},
            ["gitlab-project", "allow-unsigned"],
        ),
        ({"trust-config": "/nonexistent/trust.json"}, CI_ENV, ["-o trust-config=", "exist"]),
        ({"gitlab-server": "gitlab.com"}, CI_ENV, ["-o gitlab-server=", "https://"]),
        (
            {},
            {k: v for k, v in CI_ENV.items() if k != "CI_COMMIT_TAG"},
            ["CI_COMMIT_TAG nor CI_COMMIT_BRANCH", "[tool.hatch.publish.gitlab]", "-o ref="],
        ),
    ],
)
def test_bad_settings_name_what_to_fix(
    options: dict[str, object], env: dict[str, str], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(options, env=env)
    for name in names:
        assert name in str(info.value)
    assert " --" not in str(info.value)  # the publisher's options, not the CLI's flags


@pytest.mark.parametrize("key", ["token", "password", "auth", "private_token", "deploy-token"])
@pytest.mark.parametrize("where", ["options", "project", "user"])
def test_literal_token_is_refused_without_echoing_it(key: str, where: str) -> None:
    kwargs: dict[str, Mapping[str, object]] = {where: {key: SECRET}}
    with pytest.raises(ConfigError) as info:
        resolve(**kwargs)  # type: ignore[arg-type]
    text = str(info.value)
    assert SECRET not in text
    assert "token-env" in text
    assert "refuses literal tokens" in text
    if where == "project":
        assert "[tool.hatch.publish.gitlab]" in text


def test_token_from_named_variable() -> None:
    env = {**CI_ENV, "MY_TOKEN": SECRET}
    creds = resolve({"token-env": "MY_TOKEN"}, env=env).credentials()
    assert (creds.kind, creds.token, creds.source) == ("personal", SECRET, "MY_TOKEN")
    assert SECRET not in repr(creds)
    deploy = resolve(
        {"token-kind": "deploy", "token-env": "MY_TOKEN", "username": "gitlab+deploy-token-1"},
        env=env,
    ).credentials()
    assert (deploy.kind, deploy.username) == ("deploy", "gitlab+deploy-token-1")
    # project/group access tokens are used like personal ones
    assert resolve({"token-kind": "project", "token-env": "MY_TOKEN"}, env=env).token.kind == (
        "personal"
    )


@pytest.mark.parametrize(
    ("options", "env_drop", "variable"),
    [
        ({"token-env": "MISSING_TOKEN"}, (), "MISSING_TOKEN"),
        ({}, ("CI_JOB_TOKEN",), "CI_JOB_TOKEN"),
        ({"token-kind": "personal"}, (), "GITLAB_TOKEN"),
    ],
)
def test_missing_token_names_the_variable(
    options: dict[str, object], env_drop: tuple[str, ...], variable: str
) -> None:
    env = {k: v for k, v in CI_ENV.items() if k not in env_drop}
    with pytest.raises(ConfigError) as info:
        resolve(options, env=env).credentials()
    assert variable in str(info.value)


def test_identity_options() -> None:
    gitlab = resolve({"gitlab-project": "other/proj", "ref-glob": "refs/tags/v*"})
    assert gitlab.policy is not None
    assert isinstance(gitlab.policy, GitLabPolicy)
    assert gitlab.policy.identity is not None
    assert gitlab.policy.identity.project_path == "other/proj"
    assert gitlab.policy.identity.ref is None
    assert gitlab.policy.ref_glob == "refs/tags/v*"
    assert gitlab.policy.identity.server == "https://gitlab.example.com"
    cosign = resolve({"identity": "https://gitlab.com/a/b//.gitlab-ci.yml@refs/heads/main"})
    assert cosign.policy is not None
    assert cosign.policy.kind == "cosign"
    assert isinstance(cosign.policy, CosignPolicy)
    assert cosign.policy.cert_oidc_issuer == "https://gitlab.example.com"
    # outside CI the server comes from the API URL
    outside = resolve(
        {"url": "https://gl.example/api/v4", "project": "7", "gitlab-project": "g/p"}, env={}
    )
    assert outside.policy is not None
    assert isinstance(outside.policy, GitLabPolicy)
    assert outside.policy.identity is not None
    assert outside.policy.identity.server == "https://gl.example"
    unsigned = resolve({"url": "https://gl.example", "project": "7", "allow-unsigned": "1"}, env={})
    assert unsigned.policy is None
    assert unsigned.allow_unsigned


def test_trust_config_resolved_against_root(tmp_path: Path) -> None:
    (tmp_path / "trust.json").write_text("{}")
    s = resolve({"trust-config": "trust.json"}, root=tmp_path)
    assert s.trust == TrustChoice("file", (tmp_path / "trust.json").resolve())
    via_env = resolve(env={**CI_ENV, "HATCH_SIGSTORE_TRUST_CONFIG": str(tmp_path / "trust.json")})
    assert via_env.trust.kind == "file"


def test_settings_carry_no_token_value() -> None:
    s = resolve({"token-env": "MY_TOKEN"}, env={**CI_ENV, "MY_TOKEN": SECRET})
    assert s.token == TokenSettings(None, "MY_TOKEN", None, None)
    assert SECRET not in repr(s)


def test_every_wrong_option_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(
            {"concurrency": "0", "dry-run": "maybe", "dryrun": "true"},
            project={"url": "ftp://gl.example", "token": SECRET, "ref": "main"},
        )
    error = info.value
    message = str(error)
    assert SECRET not in message
    lines = message.splitlines()
    assert lines[0] == f"{len(lines) - 1} configuration errors:"
    for where in (
        "-o concurrency=",
        "-o dry-run=",
        "-o dryrun=",
        "[tool.hatch.publish.gitlab] url",
        "[tool.hatch.publish.gitlab] token",
        "[tool.hatch.publish.gitlab] ref",
    ):
        assert sum(where in line for line in lines[1:]) == 1, where


@pytest.mark.parametrize(
    ("options", "policy"),
    [
        # the pipeline's own project (in any case): its ref and project id stay
        ({}, "ref refs/tags/v1.0.0), project id 42"),
        ({"gitlab-project": "group/project"}, "ref refs/tags/v1.0.0), project id 42"),
        ({"gitlab-project": "Group/Project/"}, "ref refs/tags/v1.0.0), project id 42"),
        (
            {"config-path": "ci/release.yml"},
            "(ci/release.yml, ref refs/tags/v1.0.0), project id 42",
        ),
        # widening takes an explicit ref or ref-glob; the id pin of the own project stays
        (
            {"gitlab-project": "group/project", "ref-glob": "refs/*"},
            "refs matching refs/*), project id 42",
        ),
        ({"ref": "refs/heads/main"}, "ref refs/heads/main), project id 42"),
        # another project (or server): the pipeline's ref stays, its id is not theirs
        (
            {"gitlab-project": "other/project"},
            "other/project (.gitlab-ci.yml, ref refs/tags/v1.0.0)",
        ),
        (
            {"gitlab-server": "https://gitlab.other"},
            "gitlab.other/group/project (.gitlab-ci.yml, ref refs/tags/v1.0.0)",
        ),
        ({"version-from-tag": "true"}, "project id 42, version = its tag's"),
    ],
)
def test_policies_never_widen_silently(options: dict[str, object], policy: str) -> None:
    s = resolve(options, env=CI_ENV)
    assert s.policy_text.endswith(policy), s.policy_text
