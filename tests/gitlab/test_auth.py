"""Credentials: the header each kind of token becomes on each route; where tokens come from."""

from __future__ import annotations

import base64
import subprocess
import sys
from typing import Any

import pytest

from hatch_sigstore.errors import ConfigError
from hatch_sigstore.gitlab import Credentials

JOB = "glcbt-64_abcdefghijklmnopqrst"
PAT = "glpat-ABCDEFGHIJKLMNOPQRST"
DEPLOY = "gldt-ABCDEFGHIJKLMNOPQRST"


def _basic(user: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


@pytest.mark.parametrize(
    ("creds", "pypi", "generic"),
    [
        (
            Credentials("job", JOB),
            {"Authorization": _basic("gitlab-ci-token", JOB)},
            {"JOB-TOKEN": JOB},
        ),
        (
            Credentials("personal", PAT),
            {"Authorization": _basic("__token__", PAT)},
            {"PRIVATE-TOKEN": PAT},
        ),
        (
            Credentials("deploy", DEPLOY, username="gitlab+deploy-token-7"),
            {"Authorization": _basic("gitlab+deploy-token-7", DEPLOY)},
            {"DEPLOY-TOKEN": DEPLOY},
        ),
        (
            Credentials("deploy", DEPLOY),
            {"Authorization": _basic("__token__", DEPLOY)},
            {"DEPLOY-TOKEN": DEPLOY},
        ),
        (Credentials("anonymous"), {}, {}),
    ],
    ids=["job", "personal", "deploy-user", "deploy-nouser", "anonymous"],
)
def test_headers_per_route(
    creds: Credentials, pypi: dict[str, str], generic: dict[str, str]
) -> None:
    assert creds.pypi_headers() == pypi
    assert creds.generic_headers() == generic


@pytest.mark.parametrize(
    "creds",
    [
        Credentials("job", JOB, source="CI_JOB_TOKEN"),
        Credentials("personal", PAT),
        Credentials("deploy", DEPLOY, username="u"),
    ],
)
def test_token_never_in_repr_str_or_describe(creds: Credentials) -> None:
    assert creds.token is not None
    for text in (repr(creds), str(creds), creds.describe(), creds.fix_hint(), f"{creds}"):
        assert creds.token not in text
    assert "<hidden>" in repr(creds)
    # The Basic value is a secret too (base64 of the token).
    basic = creds.pypi_headers()["Authorization"].split(" ", 1)[1]
    assert basic in creds.secrets
    assert creds.token in creds.secrets


@pytest.mark.parametrize(
    ("kwargs", "env", "kind", "source", "token"),
    [
        ({}, {"CI_JOB_TOKEN": JOB}, "job", "CI_JOB_TOKEN", JOB),
        ({}, {}, "anonymous", None, None),
        ({"kind": "anonymous"}, {"CI_JOB_TOKEN": JOB}, "anonymous", None, None),
        ({"kind": "job"}, {"CI_JOB_TOKEN": JOB}, "job", "CI_JOB_TOKEN", JOB),
        ({"kind": "personal"}, {"GITLAB_TOKEN": PAT}, "personal", "GITLAB_TOKEN", PAT),
        (
            {"kind": "deploy"},
            {"GITLAB_DEPLOY_TOKEN": DEPLOY},
            "deploy",
            "GITLAB_DEPLOY_TOKEN",
            DEPLOY,
        ),
        ({"token_env": "MY_TOKEN"}, {"MY_TOKEN": PAT}, "personal", "MY_TOKEN", PAT),
        ({"token_env": "MY_TOKEN"}, {"MY_TOKEN": DEPLOY}, "deploy", "MY_TOKEN", DEPLOY),
        ({"token_env": "MY_TOKEN"}, {"MY_TOKEN": JOB}, "job", "MY_TOKEN", JOB),
        (
            {"token_env": "MY_TOKEN"},
            {"MY_TOKEN": "opaque-project-token"},
            "personal",
            "MY_TOKEN",
            "opaque-project-token",
        ),
        (
            {"token_env": "CI_JOB_TOKEN"},
            {"CI_JOB_TOKEN": "legacy-token-1234"},
            "job",
            "CI_JOB_TOKEN",
            "legacy-token-1234",
        ),
        ({"kind": "deploy", "token_env": "T"}, {"T": PAT}, "deploy", "T", PAT),
    ],
)
def test_from_env(
    kwargs: dict[str, Any], env: dict[str, str], kind: str, source: str | None, token: str | None
) -> None:
    creds = Credentials.from_env(env=env, **kwargs)
    assert (creds.kind, creds.source, creds.token) == (kind, source, token)


def test_deploy_username_from_env() -> None:
    env = {"GITLAB_DEPLOY_TOKEN": DEPLOY, "GITLAB_DEPLOY_USER": "gitlab+deploy-token-3"}
    assert Credentials.from_env("deploy", env=env).username == "gitlab+deploy-token-3"
    env2 = {"T": DEPLOY, "WHO": "gitlab+deploy-token-4"}
    assert Credentials.from_env("deploy", "T", username_env="WHO", env=env2).username == (
        "gitlab+deploy-token-4"
    )
    assert Credentials.from_env("deploy", "T", username="x", env=env2).username == "x"


@pytest.mark.parametrize(
    ("kwargs", "env", "needle"),
    [
        ({"kind": "job"}, {}, "CI_JOB_TOKEN"),
        ({"kind": "personal"}, {}, "GITLAB_TOKEN"),
        ({"token_env": "MY_TOKEN"}, {"MY_TOKEN": ""}, "MY_TOKEN that should hold the GitLab"),
        ({"token_env": "MY_TOKEN"}, {}, "MY_TOKEN"),
        ({"required": True}, {}, "CI_JOB_TOKEN"),
        ({"kind": "robot"}, {}, "robot"),
        ({"token_env": PAT}, {}, "NAME of the variable"),
        ({"token_env": "bad name"}, {}, "not an environment variable name"),
    ],
)
def test_from_env_errors_name_the_variable(
    kwargs: dict[str, object], env: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Credentials.from_env(env=env, **kwargs)  # type: ignore[arg-type]
    text = str(info.value)
    assert needle in text
    assert PAT not in text  # not even when a token is pasted where the variable name belongs


@pytest.mark.parametrize(
    "bad",
    [f"{PAT}\n", f" {PAT}", "tok en", "tök3n-xyz", "a\x00b", "x" * 5000],
)
def test_unusable_token_values_are_refused_without_echo(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        Credentials.from_env("personal", "T", env={"T": bad})
    assert bad.strip() not in str(info.value)
    assert "T" in str(info.value)


@pytest.mark.parametrize(
    ("kind", "token", "username"),
    [
        ("anonymous", "x-token-123", None),
        ("job", None, None),
        ("job", "", None),
        ("deploy", DEPLOY, "a:b"),
    ],
)
def test_invalid_combinations(kind: str, token: str | None, username: str | None) -> None:
    with pytest.raises(ConfigError):
        Credentials(kind, token, username=username)  # type: ignore[arg-type]


def test_importing_the_package_does_not_import_httpx() -> None:
    code = (
        "import sys\n"
        "from hatch_sigstore.gitlab import Credentials, IndexFile, RetryPolicy, UploadOutcome\n"
        "Credentials.from_env(env={})\n"
        "assert 'httpx' not in sys.modules, 'httpx imported'\n"
        "from hatch_sigstore.gitlab import RegistryClient\n"
        "assert 'httpx' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- where a token may go ---------------------------------------------------------------------

CI = {
    "CI_JOB_TOKEN": JOB,
    "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
    "CI_SERVER_URL": "https://gitlab.example.com",
}


@pytest.mark.parametrize(
    ("kwargs", "env", "url", "refused"),
    [
        # the job token picked up from CI_JOB_TOKEN: its own GitLab only
        ({}, CI, "https://gitlab.example.com/api/v4", None),
        ({}, CI, "https://GITLAB.example.com:443/api/v4", None),
        ({}, CI, "https://other.example.com/api/v4", "only to this job's own GitLab"),
        ({}, CI, "https://gitlab.example.com:8443/api/v4", "only to this job's own GitLab"),
        ({}, CI, "http://gitlab.example.com/api/v4", "over plain http"),
        ({"kind": "job"}, CI, "https://other.example.com/api/v4", "own GitLab"),
        ({}, {"CI_JOB_TOKEN": JOB}, "https://gitlab.example.com/api/v4", "both unset"),
        # named on purpose: anywhere over https
        ({"token_env": "CI_JOB_TOKEN"}, CI, "https://other.example.com/api/v4", None),
        ({"token_env": "T"}, {"T": PAT}, "https://other.example.com/api/v4", None),
        # never a token over plain http, except to a loopback address
        ({"token_env": "T"}, {"T": PAT}, "http://gitlab.example.com/api/v4", "plain http"),
        ({"token_env": "T"}, {"T": PAT}, "http://10.0.0.8/api/v4", "plain http"),
        ({"token_env": "T"}, {"T": PAT}, "http://127.0.0.1:8080/api/v4", None),
        ({"token_env": "T"}, {"T": PAT}, "http://[::1]:8080/api/v4", None),
        ({"token_env": "T"}, {"T": PAT}, "http://localhost/api/v4", None),
        ({"token_env": "T"}, {"T": PAT}, "http://localhost.example.com/api/v4", "plain http"),
        ({"kind": "anonymous"}, CI, "http://other.example.com/api/v4", None),
    ],
)
def test_where_a_token_may_go(
    kwargs: dict[str, Any], env: dict[str, str], url: str, refused: str | None
) -> None:
    creds = Credentials.from_env(env=env, **kwargs)
    if refused is None:
        creds.check_destination(url)
        return
    with pytest.raises(ConfigError, match=refused) as info:
        creds.check_destination(url)
    assert JOB not in str(info.value)
    assert PAT not in str(info.value)


def test_the_client_checks_before_it_sends_anything() -> None:
    from hatch_sigstore.gitlab import RegistryClient

    creds = Credentials.from_env(env=CI)
    with pytest.raises(ConfigError, match="--token-env"):
        RegistryClient("https://other.example.com/api/v4", "1", creds)
    RegistryClient("https://gitlab.example.com/api/v4", "1", creds).close()


def test_the_packages_api_headers() -> None:
    assert Credentials("job", JOB).api_headers() == {"JOB-TOKEN": JOB}
    assert Credentials("personal", PAT).api_headers() == {"PRIVATE-TOKEN": PAT}
    assert Credentials("deploy", DEPLOY).api_headers() is None  # the API guard ignores them
    assert Credentials.anonymous().api_headers() == {}
