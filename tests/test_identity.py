"""The one expected-identity model: one set of rules for every caller, errors in its words."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hatch_sigstore.errors import ConfigError
from hatch_sigstore.identity import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_SERVER,
    ExpectedIdentity,
    Given,
    Source,
    expect,
    identity_problems,
)

TOML = Source.toml("tool.hatch.build.hooks.sigstore.identity.ref")
FLAG = Source("--ref")
OPTION = Source("ref", "option", cited="-o ref=…")
VARIABLE = Source.variable("CI_COMMIT_TAG")
PROJECT = Given("group/project", Source("--gitlab"))


@pytest.mark.parametrize(
    ("source", "cited", "fix"),
    [
        (TOML, "`tool.hatch.build.hooks.sigstore.identity.ref`", "Set `tool.hatch.build.hooks"),
        (FLAG, "--ref", "Pass --ref refs/heads/main"),
        (OPTION, "-o ref=…", 'Set ref = "refs/heads/main"'),
        (VARIABLE, "CI_COMMIT_TAG", "Set CI_COMMIT_TAG to refs/heads/main"),
    ],
)
def test_errors_speak_the_callers_words(source: Source, cited: str, fix: str) -> None:
    with pytest.raises(ConfigError) as info:
        expect(server=None, project_path=PROJECT, ref=Given("main", source))
    message = str(info.value)
    assert message.startswith(f"{cited} must be a full ref")
    assert fix in message
    citations = {"`tool.hatch.build", "--ref", "-o ref=", "CI_COMMIT_TAG"}
    (mine,) = [c for c in citations if cited.startswith(c)]
    for other in citations - {mine}:
        assert other not in message, other


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("server", "gitlab.com", "not the http(s) URL of a GitLab instance"),
        ("server", "https:///path", "not the http(s) URL"),
        ("server", "https://gitlab.example.com/ x", "not the http(s) URL"),
        ("project_path", "just-a-name", "GROUP/PROJECT"),
        ("project_path", "g//p", "GROUP/PROJECT"),
        ("project_path", "g/a b", "GROUP/PROJECT"),
        ("ref", "main", "refs/tags/main"),
        ("ref", "refs/pipelines/7", "GitLab signs only branch and tag pipelines"),
        ("ref", "refs/merge-requests/1/head", "refs/heads/BRANCH"),
        ("ref", "refs/heads/", "must be a full ref"),
        ("ref_glob", "v*", "refs/tags/v*"),
        ("ref_glob", "tags/v*", "Pass --ref_glob refs/tags/v*."),
        ("ref_glob", "heads/release-*", "Pass --ref_glob refs/heads/release-*."),
        ("ref_glob", "refs/tags/[v*", "opens no set"),
        ("ref_glob", "refs/tags/v[0-9*", "opens no set"),
        ("project_id", "my-project", "not a number"),
        ("project_id", "４２", "not a number"),  # full-width digits: isdigit() but not a GitLab id
    ],
)
def test_rules(field: str, value: str, needle: str) -> None:
    (problem,) = identity_problems(**{field: Given(value, Source(f"--{field}"))})
    assert needle in str(problem)
    assert f"--{field}" in str(problem)


def test_the_bug_of_issue_12_fails_in_toml_words_with_a_useful_fix() -> None:
    with pytest.raises(ConfigError) as info:
        expect(server=None, project_path=PROJECT, ref=Given("refs/pipelines/7", TOML))
    message = str(info.value)
    assert "`tool.hatch.build.hooks.sigstore.identity.ref` must be a full ref" in message
    assert "refs/heads/refs/pipelines" not in message  # the old, nonsensical suggestion
    assert "--ref" not in message


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        expect(
            server=Given("gitlab.com", Source("--server")),
            project_path=Given("nope", Source("--gitlab")),
            ref=Given("main", Source("--ref")),
            ref_glob=Given("refs/tags/*", Source("--ref-glob")),
            project_id=Given("x", Source("--project-id")),
        )
    error = info.value
    assert len(error.problems) == 5
    lines = str(error).splitlines()
    assert lines[0] == "5 configuration errors:"
    for flag in ("--server", "--gitlab", "--ref ", "--project-id", "--ref-glob are set"):
        assert sum(flag in line for line in lines[1:]) >= 1, flag


def test_expect_normalizes_and_defaults() -> None:
    identity = expect(
        server=Given("https://gitlab.example.com/", Source("--server")),
        project_path=Given("/g/sub/p/", Source("--gitlab")),
        config_path=Given("  ", Source("--config-path")),
    )
    assert identity == ExpectedIdentity("https://gitlab.example.com", "g/sub/p")
    assert identity.config_path == DEFAULT_CONFIG_PATH
    assert identity.san is None
    defaulted = expect(server=None, project_path=PROJECT, ref=Given("refs/tags/v1", FLAG))
    assert defaulted.server == DEFAULT_SERVER
    assert defaulted.san == "https://gitlab.com/group/project//.gitlab-ci.yml@refs/tags/v1"


_SOURCES = st.sampled_from([TOML, FLAG, OPTION, VARIABLE])
_VALUES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["refs/heads/main", "refs/tags/v1", "refs/x", "main", "https://g.example"]),
)


@given(
    field=st.sampled_from(
        ["server", "project_path", "ref", "ref_glob", "config_path", "project_id"]
    ),
    value=_VALUES,
    one=_SOURCES,
    other=_SOURCES,
)
def test_acceptance_never_depends_on_who_asks(
    field: str, value: str, one: Source, other: Source
) -> None:
    """One model: the build hook, the publisher and the CLI accept exactly the same values."""
    first = identity_problems(**{field: Given(value, one)})
    second = identity_problems(**{field: Given(value, other)})
    assert bool(first) == bool(second)


@given(value=_VALUES)
def test_a_checked_identity_checks_again(value: str) -> None:
    """What passed once passes again: a policy may re-check an identity a caller checked."""
    try:
        identity = expect(
            server=Given("https://gitlab.com", FLAG),
            project_path=PROJECT,
            ref=Given(value, FLAG),
        )
    except ConfigError:
        return
    assert identity.ref is not None
    again = expect(
        server=Given(identity.server, TOML),
        project_path=Given(identity.project_path, TOML),
        ref=Given(identity.ref, TOML),
        config_path=Given(identity.config_path, TOML),
    )
    assert again == identity


@pytest.mark.parametrize(
    ("glob", "literal", "ref"),
    [
        # fnmatchcase reads these '[' as literals: a ref with a literal '[' would match, but git
        # never allows '[' in a ref name (git check-ref-format)
        ("refs/tags/[v*", True, "refs/tags/[v1"),
        ("refs/tags/[]", True, "refs/tags/[]"),
        ("refs/tags/[!]", True, "refs/tags/[!]"),
        ("refs/tags/v[0-9]*[", True, "refs/tags/v1.0["),
        # sets: the brackets are the pattern's
        ("refs/tags/v[0-9]*", False, "refs/tags/v1.0"),
        ("refs/tags/[!x]*", False, "refs/tags/v1"),
        ("refs/tags/[]]", False, "refs/tags/]"),
        ("refs/tags/[!]]x", False, "refs/tags/ax"),
        ("refs/heads/*", False, "refs/heads/main"),
    ],
)
def test_a_ref_glob_whose_bracket_is_a_literal_is_refused(
    glob: str, literal: bool, ref: str
) -> None:
    assert fnmatchcase(ref, glob)  # the example shows how fnmatchcase reads the pattern
    problems = identity_problems(ref_glob=Given(glob, Source("--ref-glob")))
    if literal:
        (problem,) = problems
        assert "can never match" in str(problem)
        assert "--ref-glob refs/tags/v[0-9]*" in str(problem)
    else:
        assert problems == []
