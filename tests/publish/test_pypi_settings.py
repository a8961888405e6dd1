"""Settings of ``hatch publish -p pypi``: precedence, the publisher read from the job's ID token,
and every problem reported at once with the key it came from (no network)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from hatch_sigstore.errors import ConfigError
from hatch_sigstore.publish import PyPISettings, resolve_pypi
from hatch_sigstore.verify import PublisherPolicy


def jwt(**claims: object) -> str:
    base: dict[str, object] = {
        "iss": "https://gitlab.com",
        "aud": "pypi",
        "exp": int(time.time()) + 600,
        "project_path": "token-group/token-project",
        "ci_config_ref_uri": "gitlab.com/token-group/token-project//ci/release.yml@refs/tags/v2",
        "ref_path": "refs/tags/v2",
    }

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part({**base, **claims})}.c2ln"


CI = {
    "GITLAB_CI": "true",
    "CI_SERVER_URL": "https://gitlab.com",
    "CI_PROJECT_PATH": "ci-group/ci-project",
    "CI_COMMIT_TAG": "v1",
    "PYPI_ID_TOKEN": jwt(),
}


def resolve(
    options: Mapping[str, object] | None = None,
    project: Mapping[str, object] | None = None,
    user: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    root: Path = Path("/proj"),
) -> PyPISettings:
    return resolve_pypi(
        {"no_prompt": False, "initialize_auth": False, **(options or {})},
        project or {},
        user or {},
        root=root,
        env=CI if env is None else env,
    )


def test_defaults_come_from_the_id_token() -> None:
    settings = resolve()
    assert settings.urls.upload == "https://upload.pypi.org/legacy/"
    assert settings.trusted_publishing
    assert settings.attestations
    publisher = settings.publisher
    assert publisher is not None
    assert (publisher.repository, publisher.workflow) == (
        "token-group/token-project",
        "ci/release.yml",
    )
    assert isinstance(settings.policy, PublisherPolicy)
    assert "refs/tags/v2" in settings.policy_text  # the pipeline's ref pins the signer
    assert CI["PYPI_ID_TOKEN"] not in repr(settings)


def test_options_override_the_project_table_and_the_user_config() -> None:
    settings = resolve(
        {"gitlab-project": "opt/proj", "ref-glob": "refs/tags/v*"},
        {"gitlab-project": "table/proj", "config-path": ".gitlab-ci.yml", "url": "testpypi"},
        {"url": "https://user.example/legacy/"},
    )
    assert settings.urls.known == "testpypi"
    assert settings.publisher is not None
    assert settings.publisher.repository == "opt/proj"
    assert settings.publisher.workflow == ".gitlab-ci.yml"
    assert "refs matching refs/tags/v*" in settings.policy_text


def test_without_an_id_token_the_api_token_is_the_fallback() -> None:
    env = {k: v for k, v in CI.items() if k != "PYPI_ID_TOKEN"}
    settings = resolve({"attestations": "false"}, env={**env, "PYPI_API_TOKEN": "pypi-AgEx"})
    assert not settings.trusted_publishing
    assert settings.api_token().kind == "api-token"
    assert settings.policy is None
    with pytest.raises(ConfigError, match="accepts attestations only with trusted publishing"):
        resolve(env=env)


def test_every_problem_at_once_with_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(
            {"concurrency": "0", "dry-run": "perhaps"},
            {"url": "https://x.example/upload/", "ca-bundle": "missing.pem", "password": "pw"},
            root=tmp_path,
        )
    text = str(caught.value)
    assert text.startswith("5 configuration errors:")
    for expected in (
        "-o concurrency=… is 0",
        "-o dry-run=… is 'perhaps'",
        "[tool.hatch.publish.pypi] url is 'https://x.example/upload/'",
        "[tool.hatch.publish.pypi] ca-bundle names 'missing.pem'",
        "[tool.hatch.publish.pypi] password would put a PyPI token in plain text",
    ):
        assert expected in text
    assert "pw" not in text.replace("password", "")


@pytest.mark.parametrize(
    ("env_update", "options", "message"),
    [
        (
            {"PYPI_ID_TOKEN": jwt(iss="https://gitlab.example.com")},
            {},
            "only from https://gitlab.com",
        ),
        ({}, {"trust-config": "trust.json", "url": "pypi"}, "only against the public production"),
        ({"PYPI_ID_TOKEN": "garbage"}, {}, "PYPI_ID_TOKEN does not hold a JWT"),
    ],
)
def test_attestations_that_pypi_could_not_accept(
    tmp_path: Path, env_update: dict[str, str], options: dict[str, str], message: str
) -> None:
    (tmp_path / "trust.json").write_text("{}")
    with pytest.raises(ConfigError, match=message):
        resolve(options, env={**CI, **env_update}, root=tmp_path)
    if "garbage" not in env_update.values():
        # publishing without attestations stays possible, and says so at publish time
        assert not resolve(
            {**options, "attestations": "no"}, env={**CI, **env_update}, root=tmp_path
        ).attestations


def test_any_index_trusts_what_it_is_told(tmp_path: Path) -> None:
    (tmp_path / "trust.json").write_text("{}")
    settings = resolve(
        {"url": "http://127.0.0.1:8080/legacy/", "trust-config": "trust.json"}, root=tmp_path
    )
    assert settings.trust.kind == "file"
    assert settings.attestations


def test_named_variables(tmp_path: Path) -> None:
    env = {**CI, "MY_ID": CI["PYPI_ID_TOKEN"]}
    del env["PYPI_ID_TOKEN"]
    settings = resolve({"id-token-env": "MY_ID"}, env=env)
    assert settings.id_token is not None
    assert settings.id_token.source == "MY_ID"


def test_the_readme_documents_every_option() -> None:
    from hatch_sigstore.publish import PYPI_OPTIONS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Publishing to PyPI", 1)[1].split("\n## ", 1)[0]
    documented: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            documented.update(part.strip("` ") for part in line.split("|")[1].split("/"))
            documented.update(part.strip("` ") for part in line.split("|")[1].split(","))
    assert set(PYPI_OPTIONS) <= documented, set(PYPI_OPTIONS) - documented
