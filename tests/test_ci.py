"""CI variables → package name, version, Homepage and the expected signing identity."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from hatch_sigstore.ci import (
    CIContext,
    MetadataVariables,
    is_valid_project_name,
    normalize_package_name,
)
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.identity import ExpectedIdentity


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("my-ci-project", "my_ci_project"),
        ("  spaced-name ", "spaced_name"),
        ("Already_Fine", "Already_Fine"),
        ("dotted.name-x", "dotted.name_x"),
        ("a", "a"),
    ],
)
def test_package_name_is_normalized_like_the_tutorial(raw: str, expected: str) -> None:
    assert CIContext.from_env({"CI_PROJECT_NAME": raw}).package_name() == expected


@pytest.mark.parametrize("raw", ["bad name!", "-leading", "trailing.", "ünïcode", "a b"])
def test_bad_package_name_names_variable_and_value(raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        CIContext.from_env({"CI_PROJECT_NAME": raw}).package_name()
    message = str(info.value)
    assert "CI_PROJECT_NAME" in message
    assert repr(raw.strip()) in message or repr(raw) in message
    assert "\n" not in message.split(". ", maxsplit=1)[0]


def test_package_name_variable_is_configurable_and_can_be_off() -> None:
    ctx = CIContext.from_env({"CI_PROJECT_NAME": "x-y", "PACKAGE_NAME": "other-name"})
    assert ctx.package_name("PACKAGE_NAME") == "other_name"
    assert ctx.package_name("") is None
    assert CIContext.from_env({}).package_name() is None
    assert CIContext.from_env({"CI_PROJECT_NAME": "   "}).package_name() is None


@given(st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,30}[A-Za-z0-9])?", fullmatch=True))
def test_normalized_valid_names_stay_valid(raw: str) -> None:
    name = normalize_package_name(raw)
    assert "-" not in name
    assert is_valid_project_name(name)
    assert CIContext.from_env({"CI_PROJECT_NAME": raw}).package_name() == name


@given(st.text(max_size=40))
def test_package_name_either_valid_or_config_error(raw: str) -> None:
    ctx = CIContext.from_env({"CI_PROJECT_NAME": raw})
    candidate = normalize_package_name(raw)
    if not raw.strip() or is_valid_project_name(candidate):
        assert ctx.package_name() == (candidate or None)
    else:
        with pytest.raises(ConfigError, match="CI_PROJECT_NAME"):
            ctx.package_name()


# The regular expressions the string checks replaced (compiling them cost each build ~1 ms).
_PEP508_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z", re.IGNORECASE | re.ASCII)
_WEB_URL = re.compile(r"^https?://[^\s/]+\S*\Z")
_CREDENTIALS = re.compile(r"^https?://[^/?#]*@")
_NAMEISH = st.text(st.sampled_from("aZ09._- \n\u017f\u212a/"), max_size=6)


@given(st.one_of(_NAMEISH, st.text(max_size=12)))
def test_project_name_check_is_pep508(name: str) -> None:
    # ASCII only, as PEP 508 says: no case-folding of "\u017f" (long s) or "\u212a" (Kelvin) to
    # ASCII letters, and no trailing newline, both of which the old pattern let through
    assert is_valid_project_name(name) == bool(_PEP508_NAME.match(name))


@given(
    st.one_of(
        st.builds("".join, st.lists(st.sampled_from(["http", "s", "://", "/", "h", " ", "\t"]))),
        st.text(max_size=20),
    )
)
def test_homepage_check_matches_the_url_pattern(url: str) -> None:
    ctx = CIContext.from_env({"CI_PROJECT_URL": url})
    value = url.strip()
    if not value:
        assert ctx.homepage() is None
    elif _WEB_URL.match(value) and not _CREDENTIALS.match(value):
        assert ctx.homepage() == value
    else:
        with pytest.raises(ConfigError, match="CI_PROJECT_URL"):
            ctx.homepage()


def test_context_repr_hides_the_environment() -> None:
    ctx = CIContext.from_env({"SIGSTORE_ID_TOKEN": "eyJsecret.token.value"})
    assert "secret" not in repr(ctx)
    assert "secret" not in str(ctx)


@pytest.mark.parametrize(
    ("env", "version", "variable"),
    [
        ({"PACKAGE_VERSION": "1.2.3"}, "1.2.3", "PACKAGE_VERSION"),
        ({"PACKAGE_VERSION": "1.2.3", "CI_COMMIT_TAG": "v9.9.9"}, "1.2.3", "PACKAGE_VERSION"),
        ({"CI_COMMIT_TAG": "v2.0.0"}, "2.0.0", "CI_COMMIT_TAG"),
        ({"CI_COMMIT_TAG": "V2.0.0rc1"}, "2.0.0rc1", "CI_COMMIT_TAG"),
        ({"CI_COMMIT_TAG": "2024.5.1"}, "2024.5.1", "CI_COMMIT_TAG"),
        ({"PACKAGE_VERSION": " ", "CI_COMMIT_TAG": "v1.0"}, "1.0", "CI_COMMIT_TAG"),
        ({"CI_COMMIT_BRANCH": "main"}, None, None),
        ({}, None, None),
    ],
)
def test_version_resolution_order(
    env: dict[str, str], version: str | None, variable: str | None
) -> None:
    result = CIContext.from_env(env).package_version()
    if version is None:
        assert result is None
    else:
        assert result is not None
        assert (result.version, result.variable) == (version, variable)


@pytest.mark.parametrize(
    ("env", "variable", "value"),
    [
        ({"PACKAGE_VERSION": "not a version"}, "PACKAGE_VERSION", "not a version"),
        ({"PACKAGE_VERSION": "1.0-final-really"}, "PACKAGE_VERSION", "1.0-final-really"),
        ({"CI_COMMIT_TAG": "release-2024"}, "CI_COMMIT_TAG", "release-2024"),
        ({"CI_COMMIT_TAG": "vnext"}, "CI_COMMIT_TAG", "vnext"),
    ],
)
def test_bad_version_names_variable_and_value(
    env: dict[str, str], variable: str, value: str
) -> None:
    with pytest.raises(ConfigError) as info:
        CIContext.from_env(env).package_version()
    assert variable in str(info.value)
    assert repr(value) in str(info.value)
    assert "PEP 440" in str(info.value)


def test_version_variables_are_configurable() -> None:
    env = {"MY_VERSION": "3.1", "MY_TAG": "v4.0", "PACKAGE_VERSION": "1.0"}
    ctx = CIContext.from_env(env)
    result = ctx.package_version("MY_VERSION", "MY_TAG")
    assert result is not None
    assert result.version == "3.1"
    result = ctx.package_version("", "MY_TAG")
    assert result is not None
    assert (result.version, result.variable) == ("4.0", "MY_TAG")
    assert ctx.package_version("", "") is None


@given(
    st.tuples(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999)),
    st.sampled_from(["", "rc1", ".post2", ".dev3", "a1"]),
    st.booleans(),
)
def test_tag_versions_round_trip(parts: tuple[int, int, int], suffix: str, vee: bool) -> None:
    plain = ".".join(map(str, parts)) + suffix
    result = CIContext.from_env({"CI_COMMIT_TAG": ("v" if vee else "") + plain}).package_version()
    assert result is not None
    assert result.version == plain
    Version(result.version)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://gitlab.example.com/group/project", True),
        ("http://localhost:8080/g/p", True),
        ("gitlab.example.com/group/project", False),
        ("https://", False),
        ("ftp://x/y", False),
        ("https://gitlab.example.com/g/p?from=a@b", True),  # an @ after the host is no user
        ("https://gitlab-ci-token:glcbt-64_secretsecret@gitlab.example.com/g/p.git", False),
        ("https://user@gitlab.example.com/g/p", False),
    ],
)
def test_homepage(url: str, ok: bool) -> None:
    ctx = CIContext.from_env({"CI_PROJECT_URL": url})
    if ok:
        assert ctx.homepage() == url
    else:
        with pytest.raises(ConfigError, match="CI_PROJECT_URL") as info:
            ctx.homepage()
        assert "secretsecret" not in f"{info.value} {info.value.remediation}"
    assert ctx.homepage("") is None


def test_metadata_variables_defaults() -> None:
    v = MetadataVariables()
    assert (v.name, v.version, v.tag, v.homepage) == (
        "CI_PROJECT_NAME",
        "PACKAGE_VERSION",
        "CI_COMMIT_TAG",
        "CI_PROJECT_URL",
    )


@pytest.mark.parametrize(
    ("env", "san"),
    [
        (
            {
                "CI_SERVER_URL": "https://gitlab.com/",
                "CI_PROJECT_PATH": "g/p",
                "CI_COMMIT_BRANCH": "main",
            },
            "https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main",
        ),
        (
            {
                "CI_SERVER_URL": "https://gl.example:8443",
                "CI_PROJECT_PATH": "a/b/c",
                "CI_COMMIT_TAG": "v1.0",
                "CI_COMMIT_BRANCH": "x",
                "CI_CONFIG_PATH": "ci/build.yml",
            },
            "https://gl.example:8443/a/b/c//ci/build.yml@refs/tags/v1.0",
        ),
    ],
)
def test_expected_identity(env: dict[str, str], san: str) -> None:
    identity = CIContext.from_env(env).expected_identity()
    assert isinstance(identity, ExpectedIdentity)
    assert identity.san == san


def test_expected_identity_outside_ci_and_incomplete() -> None:
    assert CIContext.from_env({}).expected_identity() is None
    with pytest.raises(ConfigError, match="CI_COMMIT_TAG"):
        CIContext.from_env(
            {"CI_SERVER_URL": "https://gitlab.com", "CI_PROJECT_PATH": "g/p"}
        ).expected_identity()
    with pytest.raises(ConfigError, match="CI_CONFIG_PATH"):
        CIContext.from_env(
            {
                "CI_SERVER_URL": "https://gitlab.com",
                "CI_PROJECT_PATH": "g/p",
                "CI_COMMIT_BRANCH": "m",
                "CI_CONFIG_PATH": "x.yml@other/proj",
            }
        ).expected_identity()


def test_a_pipeline_without_a_ref_is_an_error_in_the_callers_words_unless_it_has_one() -> None:
    ci = CIContext({"CI_SERVER_URL": "https://gitlab.example.com", "CI_PROJECT_PATH": "g/p"})
    with pytest.raises(ConfigError) as info:
        ci.expected_identity(ref_fix="set `x.identity.ref`")
    assert "Neither CI_COMMIT_TAG nor CI_COMMIT_BRANCH" in str(info.value)
    assert "or set `x.identity.ref`." in str(info.value)
    with pytest.raises(ConfigError, match="pass the expected identity explicitly"):
        ci.expected_identity()
    identity = ci.expected_identity(ref_elsewhere=True)
    assert identity is not None
    assert (identity.server, identity.project_path, identity.ref) == (
        "https://gitlab.example.com",
        "g/p",
        None,
    )
