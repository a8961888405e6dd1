"""The signer-policy keys, defined once (``verify/policy_keys``): the CLI's flags are made from
them, the index's TOML keys are them, and one builder makes the policy, its errors in each
caller's words and filed under the keys they are about."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hatch_sigstore.cli._policy_args import add_signer_arguments, policy_from_args
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.identity import ExpectedIdentity, GivenError, Source
from hatch_sigstore.verify import Policy
from hatch_sigstore.verify.policy_keys import POLICY_KEYS, SECTIONS, build_policy

CI = {
    "CI_SERVER_URL": "https://gitlab.example.com",
    "CI_PROJECT_PATH": "g/p",
    "CI_PROJECT_ID": "7",
    "CI_COMMIT_TAG": "v1.0",
}


def as_key(name: str) -> Source:
    return Source(name, "option")


def test_the_cli_flags_are_the_table() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    add_signer_arguments(parser)
    flags = {o: a for a in parser._actions for o in a.option_strings if o.startswith("--")}
    assert sorted(flags) == sorted(f"--{key.name}" for key in POLICY_KEYS)
    for key in POLICY_KEYS:
        action = flags[f"--{key.name}"]
        assert (action.help, action.dest, action.nargs == 0) == (
            key.help,
            key.field,
            key.kind == "switch",
        )
    titles = {group.title for group in parser._action_groups}
    assert {title for title, _ in SECTIONS.values()} <= titles
    with pytest.raises(SystemExit):  # the exclusive sets, as argparse enforces them
        parser.parse_args(["--ref", "refs/heads/a", "--ref-glob", "refs/*"])


@pytest.mark.parametrize(
    "values",
    [
        {"gitlab": "g/p", "ref-glob": "refs/tags/v*", "project-id": "42", "sha": "a" * 40},
        {"gitlab": "g/p", "server": "https://gitlab.example.com/", "config-path": "ci/r.yml"},
        {"cert-identity-regexp": "^https://x/", "cert-oidc-issuer": "https://x"},
        {"gitlab": "g/p", "version-from-tag": True, "runner-environment": "gitlab-hosted"},
        {"from-ci": True},
        {"from-ci": True, "ref-glob": "refs/tags/*"},
        {"from-ci": True, "gitlab": "other/project"},
    ],
)
def test_flags_and_keys_build_the_same_policy(values: dict[str, str | bool]) -> None:
    parser = argparse.ArgumentParser()
    add_signer_arguments(parser)
    argv = [f"--{k}" if v is True else f"--{k}={v}" for k, v in values.items()]
    from_flags = policy_from_args(parser.parse_args(argv), CI)
    assert build_policy(values, named=as_key, env=CI) == from_flags


def test_from_ci_takes_what_the_keys_leave_out() -> None:
    own = build_policy({"from-ci": True}, env=CI)
    assert own == Policy.gitlab(
        ExpectedIdentity("https://gitlab.example.com", "g/p", "refs/tags/v1.0", project_id="7")
    )
    widened = build_policy({"from-ci": True, "ref-glob": "refs/tags/*"}, env=CI)
    assert widened.describe().count("refs matching refs/tags/*") == 1
    other = build_policy({"from-ci": True, "gitlab": "other/project"}, env=CI)
    assert "project id" not in other.describe()  # the pipeline's id is not the other's
    assert "ref refs/tags/v1.0" in other.describe()  # never widened without a ref key


@pytest.mark.parametrize(
    ("values", "keys", "cli_words", "toml_words"),
    [
        ({"ref": "refs/heads/main"}, ["ref"], "--ref refine a GitLab policy, but --gitlab",
         "ref refine a GitLab policy, but gitlab"),
        ({"gitlab": "g/p", "ref-glob": "v*"}, ["ref-glob"], "--ref-glob is 'v*'",
         "ref-glob is 'v*'"),
        ({"gitlab": "g/p", "ref": "r", "ref-glob": "refs/*"}, ["ref", "ref-glob"],
         "Both --ref and --ref-glob are set", "Both ref and ref-glob are set"),
        ({"gitlab": "g/p", "cert-identity": "x"}, ["cert-identity"], "--gitlab/--from-ci",
         "gitlab/from-ci"),
        ({"cert-identity": "x"}, ["cert-identity"], "given for --cert-identity(-regexp)",
         'Set cert-oidc-issuer = "https://gitlab.com"'),
        ({"gitlab": "g/p", "sha": "abc"}, ["sha"], "--sha 'abc' is not", "sha 'abc' is not"),
        ({"gitlab": "g/p", "project-id": "x"}, ["project-id"], "--project-id is 'x'",
         "project-id is 'x'"),
        ({"from-ci": True}, ["from-ci"], "--from-ci was given", "from-ci was given"),
        ({"cert-identity-regexp": "(", "cert-oidc-issuer": "i"}, ["cert-identity-regexp"],
         "--cert-identity-regexp '('", "cert-identity-regexp '('"),
        ({}, [], "Pass --gitlab GROUP/PROJECT", 'Set gitlab = "GROUP/PROJECT"'),
    ],
)  # fmt: skip
def test_errors_speak_the_callers_words_and_name_their_keys(
    values: dict[str, str | bool], keys: list[str], cli_words: str, toml_words: str
) -> None:
    with pytest.raises(ConfigError) as flag:
        build_policy(values, env={})
    assert cli_words in str(flag.value)
    with pytest.raises(ConfigError) as key:
        build_policy(values, named=as_key, env={})
    assert toml_words in str(key.value)
    assert "--" not in str(key.value)
    named = [s.name for s in key.value.sources] if isinstance(key.value, GivenError) else []
    assert named == keys


def test_values_of_the_wrong_kind_are_a_programming_error() -> None:
    with pytest.raises(TypeError, match="not a policy key"):
        build_policy({"colour": "blue"})
    with pytest.raises(TypeError, match="takes a switch"):
        build_policy({"from-ci": "yes"})


_VALUES = st.one_of(
    st.none(),
    st.sampled_from(["g/p", "refs/tags/v*", "refs/heads/main", "https://gitlab.com", "42", "("]),
    st.text(max_size=8),
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([k.name for k in POLICY_KEYS if k.kind == "text"]), _VALUES, max_size=5
    ),
    st.sets(st.sampled_from([k.name for k in POLICY_KEYS if k.kind == "switch"])),
)
def test_any_values_give_a_policy_or_a_config_error(
    text: dict[str, str | None], switches: set[str]
) -> None:
    values: dict[str, str | bool | None] = {**text, **dict.fromkeys(switches, True)}
    try:
        build_policy(values, named=as_key, env=CI)
    except ConfigError as exc:
        said = str(exc)
    else:
        return
    assert said.strip()
    assert "--" not in said or any("--" in str(v) for v in values.values())


NO_REF = {k: v for k, v in CI.items() if k != "CI_COMMIT_TAG"}  # e.g. a pipeline for a commit


def test_from_ci_without_the_pipelines_ref_takes_the_given_one_or_names_the_key() -> None:
    pinned = build_policy({"from-ci": True, "ref": "refs/tags/v1.0"}, env=NO_REF)
    assert pinned == build_policy({"from-ci": True}, env=CI)
    globbed = build_policy({"from-ci": True, "ref-glob": "refs/tags/*"}, env=NO_REF)
    assert "refs matching refs/tags/*" in globbed.describe()
    with pytest.raises(ConfigError) as flag:
        build_policy({"from-ci": True}, env=NO_REF)
    assert "Neither CI_COMMIT_TAG nor CI_COMMIT_BRANCH is set" in str(flag.value)
    assert "pass --ref refs/tags/v1.0 (or --ref-glob)" in str(flag.value)
    with pytest.raises(ConfigError) as key:
        build_policy({"from-ci": True}, named=as_key, env=NO_REF)
    assert 'set ref = "refs/tags/v1.0" (or ref-glob)' in str(key.value)
