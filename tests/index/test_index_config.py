"""The index config: TOML paths in every error, all errors at once, the CLI's policy flags."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hatch_sigstore.cli import main
from hatch_sigstore.cli._policy_args import add_signer_arguments, policy_from_args
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.index import IndexConfig, load_config, parse_config

GITLAB = {"url": "https://gitlab.example.com/api/v4", "project": "my-group/my-project"}
PYPI = {"index-url": "https://pypi.org/simple/"}
POLICY = {"gitlab": "my-group/my-project", "ref-glob": "refs/tags/v*"}


def doc(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "upstream": {"company": dict(GITLAB), "pypi": dict(PYPI)},
        "package": {"my-package": {"upstream": "company", **POLICY}},
    }
    base.update(overrides)
    return base


def parse(data: dict[str, Any], env: dict[str, str] | None = None) -> IndexConfig:
    return parse_config(data, base_dir=Path("/nonexistent"), env=env or {})


def problems(data: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(data, env)
    return [line.strip() for line in info.value.message.splitlines()[1:] if line.strip()]


def test_the_issue_example_is_valid() -> None:
    config = parse(doc(unlisted="refuse"))
    assert config.unlisted == "refuse"
    assert config.unlisted_upstream is None
    assert config.upstreams["company"].kind == "gitlab"
    assert config.upstreams["pypi"].kind == "pypi"
    rule = config.rule_for("my-package")
    assert rule is not None
    assert rule.upstream == "company"
    assert rule.generic_project == "my-group/my-project"  # the upstream's project
    assert config.trust.kind == "production"


def test_policy_keys_build_the_same_policy_as_the_cli_flags() -> None:
    table = {
        "gitlab": "g/p",
        "server": "https://gitlab.example.com",
        "ref-glob": "refs/tags/v*",
        "project-id": "42",
        "config-path": "ci/release.yml",
        "runner-environment": "gitlab-hosted",
    }
    config = parse(doc(package={"x": {"upstream": "company", **table}}))
    parser = argparse.ArgumentParser()
    add_signer_arguments(parser)
    argv = [arg for key, value in table.items() for arg in (f"--{key}", value)]
    assert config.rules[0].policy == policy_from_args(parser.parse_args(argv), {})


def test_cosign_style_policy_for_a_pypi_package() -> None:
    config = parse(
        doc(
            package={
                "rfc8785": {
                    "upstream": "pypi",
                    "cert-identity-regexp": "^https://github.com/trailofbits/",
                    "cert-oidc-issuer": "https://token.actions.githubusercontent.com",
                }
            }
        )
    )
    assert config.rules[0].policy.kind == "cosign"
    assert config.rules[0].generic_project is None


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        (doc(unlisted="maybe"), "unlisted", "pass-through"),
        (doc(colour="blue"), "colour", "unknown key"),
        (doc(unlistd="refuse"), "unlistd", "unknown key (did you mean `unlisted`?)"),
        (
            doc(upstream={"company": {"urll": "https://gitlab.example.com/api/v4"}}),
            "upstream.company.urll",
            "unknown key (did you mean `url`?)",
        ),
        (
            doc(package={"x": {"upstream": "company", **POLICY, "ref-glob": "tags/*"}}),
            "package.x.ref-glob",
            "ref-glob is 'tags/*', which does not start with refs/",
        ),
        (
            doc(package={"x": {"upstream": "company", **POLICY, "ref": "refs/heads/main"}}),
            "package.x.ref",
            "Both ref and ref-glob",
        ),
        (doc(package={"x": {"upstream": "company"}}), "package.x", "No signer identity"),
        (
            doc(package={"x": {"upstream": "company", "cert-identity": "https://x"}}),
            "package.x.cert-identity",
            "No OIDC issuer was given for cert-identity",
        ),
        (
            doc(package={"x": {"upstream": "company", **POLICY, "colour": "blue"}}),
            "package.x.colour",
            "ref-glob",  # the list of keys it accepts
        ),
        (doc(package={"x": {"upstream": "nowhere", **POLICY}}), "package.x.upstream", "company"),
        (doc(package={"x": {**POLICY}}), "package.x.upstream", "missing"),
        (
            doc(package={"x": {"upstream": "company", **POLICY, "from-ci": "yes"}}),
            "package.x.from-ci",
            "true or false",
        ),
        (
            doc(package={"x": {"upstream": "company", **POLICY, "project-id": 42}}),
            "package.x.project-id",
            "must be a string",
        ),
        (
            doc(package={"x": {"upstream": "pypi", **POLICY, "generic-project": "a/b"}}),
            "package.x",
            "GitLab upstreams",
        ),
        (
            doc(package={"bad name!": {"upstream": "company", **POLICY}}),
            'package."bad name!"',
            "project name",
        ),
        (
            doc(upstream={"u": {**GITLAB, **PYPI}}, package={"x": POLICY}),
            "upstream.u",
            "both index-url",
        ),
        (
            doc(upstream={"u": {"url": GITLAB["url"]}}, package={"x": POLICY}),
            "upstream.u",
            "exactly one of project",
        ),
        (
            doc(upstream={"u": {"url": GITLAB["url"], "project": "a", "group": "b"}}),
            "upstream.u",
            "exactly one of project",
        ),
        (
            doc(upstream={"u": {**GITLAB, "url": "https://me:pw@gitlab.example.com/api/v4"}}),
            "upstream.u.url",
            "token-env",
        ),
        (doc(upstream={"u": {"index-url": "ftp://x/simple/"}}), "upstream.u.index-url", "http"),
        (doc(upstream={"u": {"project": "a/b"}}), "upstream.u", "needs url"),
        (
            doc(upstream={"u": {**GITLAB, "token-env": "NOT_SET"}}),
            "upstream.u.token-env",
            "not set",
        ),
        (doc(upstream={"u": {**PYPI, "file-hosts": "x"}}), "upstream.u.file-hosts", "array"),
        (doc(unlisted="pass-through"), "unlisted-upstream", "missing"),
        (doc(unlisted="pass-through", **{"unlisted-upstream": "x"}), "unlisted-upstream", "x"),
        (doc(**{"trust-config": "missing.json"}), "trust-config", "does not exist"),
        (doc(**{"max-file-size": "lots"}), "max-file-size", "512M"),
        (doc(workers=0), "workers", "at least 1"),
        (doc(**{"listing-ttl": "soon"}), "listing-ttl", "number"),
        (doc(staging="yes"), "staging", "true or false"),
        ({"upstream": {"u": GITLAB}}, "package", "serve nothing"),
        ({"package": {"x": POLICY}}, "upstream", "needs a registry"),
    ],
)
def test_each_problem_names_its_toml_path(data: dict[str, Any], path: str, words: str) -> None:
    found = problems(data)
    assert any(line.startswith(f"{path}: ") and words in line for line in found), found


def test_group_upstream_needs_to_know_where_signatures_are() -> None:
    upstream = {"g": {"url": GITLAB["url"], "group": "my-group"}}
    cosign = {"cert-identity": "https://x", "cert-oidc-issuer": "https://gitlab.example.com"}
    found = problems(doc(upstream=upstream, package={"x": cosign}))
    assert any(line.startswith("package.x.generic-project: missing") for line in found)
    config = parse(doc(upstream=upstream, package={"x": POLICY}))
    assert config.rules[0].generic_project == "my-group/my-project"  # the signer's project
    config = parse(doc(upstream=upstream, package={"x": {**POLICY, "generic-project": 7}}))
    assert config.rules[0].generic_project == "7"


def test_the_last_problem_ends_its_sentence_before_the_remediation() -> None:
    upstream = {"company": {**GITLAB, "token-env": "HS_TEST_UNSET_TOKEN_VARIABLE"}}
    with pytest.raises(ConfigError) as info:
        parse(doc(upstream=upstream))
    assert info.value.message.count("\n  ") == 1  # the one problem
    assert "HS_TEST_UNSET_TOKEN_VARIABLE is not set. Fix each key named above" in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        doc(unlisted="x", workers=-1, package={"a": {"upstream": "nope"}, "b": {"ref": "main"}})
    )
    paths = {line.split(":")[0] for line in found}
    assert {"unlisted", "workers", "package.a.upstream", "package.b.ref"} <= paths


def test_a_token_pasted_as_token_env_is_never_echoed() -> None:
    secret = "glpat-abcdefghijklmnop1234"
    with pytest.raises(ConfigError) as info:
        parse(doc(upstream={"u": {**GITLAB, "token-env": secret}}))
    assert secret not in str(info.value)
    assert "upstream.u.token-env" in str(info.value)


def test_names_globs_and_their_order() -> None:
    config = parse(
        doc(
            package={
                "My_Tools.*": {"upstream": "company", **POLICY},
                "*": {"upstream": "pypi", **POLICY},
                "My.Tools.Core": {"upstream": "pypi", **POLICY},
            }
        )
    )
    assert [r.pattern for r in config.rules] == ["my-tools-*", "*", "my-tools-core"]
    core, other, anything = (config.rule_for(n) for n in ("my-tools-core", "my-tools-x", "zz"))
    assert core is not None
    assert core.upstream == "pypi"  # an exact name wins over any glob
    assert other is not None
    assert other.pattern == "my-tools-*"  # the first glob in file order
    assert anything is not None
    assert anything.pattern == "*"


def test_two_spellings_of_one_name_are_refused() -> None:
    found = problems(doc(package={"My_Pkg": {"upstream": "company", **POLICY}, "my-pkg": POLICY}))
    assert any(line.startswith("package.my-pkg: names the same projects") for line in found)


def test_paths_are_relative_to_the_config_file(tmp_path: Path, local_trust: Path) -> None:
    (tmp_path / "trust.json").write_bytes(local_trust.read_bytes())
    config_file = tmp_path / "index.toml"
    config_file.write_text(
        'trust-config = "trust.json"\ncache-dir = "cache"\n'
        '[upstream.company]\nurl = "https://gitlab.example.com/api/v4"\nproject = "1"\n'
        '[package."*"]\ngitlab = "a/b"\n'
    )
    config = load_config(config_file, env={})
    assert config.trust.path == (tmp_path / "trust.json").resolve()
    assert config.cache_dir == tmp_path.resolve() / "cache"


@pytest.fixture
def local_trust(local_sigstore: Any) -> Path:
    path: Path = local_sigstore.trust_config_path
    return path


def test_toml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    config_file = tmp_path / "index.toml"
    config_file.write_text('[upstream.company]\nurl = "https://x\n')
    with pytest.raises(ConfigError) as info:
        load_config(config_file, env={})
    assert "not valid TOML" in str(info.value)
    assert "line 2" in str(info.value)


def test_index_check_prints_each_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "index.toml"
    config_file.write_text(
        'unlisted = "pass-through"\nunlisted-upstream = "pypi"\n'
        '[upstream.company]\nurl = "https://gitlab.example.com/api/v4"\ngroup = "g"\n'
        '[upstream.pypi]\nindex-url = "https://pypi.org/simple/"\n'
        '[package.my-package]\nupstream = "company"\ngitlab = "g/p"\nref = "refs/tags/v1"\n'
    )
    assert main(["index", "check", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "package my-package: from company, signed by GitLab CI of" in out
    assert "refs/tags/v1" in out
    assert "passed through UNVERIFIED from pypi" in out


def test_index_check_shows_all_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "index.toml"
    config_file.write_text('unlisted = 3\n[package.x]\nref = "main"\n')
    assert main(["index", "check", "--config", str(config_file)]) == 1
    err = capsys.readouterr().err
    assert "unlisted:" in err
    assert "package.x" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# Whatever the document, the loader answers with a config or with problems at TOML paths.

_KEYS = [
    "unlisted", "unlisted-upstream", "trust-config", "staging", "cache-dir", "max-file-size",
    "listing-ttl", "workers", "timeout", "max-files", "url", "project", "group", "token-env",
    "index-url", "username", "file-hosts", "upstream", "gitlab", "server", "ref", "ref-glob",
    "cert-identity", "cert-oidc-issuer", "from-ci", "generic-project", "x",
]  # fmt: skip
_SCALARS = st.one_of(
    st.booleans(),
    st.integers(-5, 10),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["refuse", "pass-through", "company", "refs/tags/v*", "a/b", "https://h/"]),
    st.text(max_size=12),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)
_TABLES = st.dictionaries(
    st.one_of(st.sampled_from(["company", "my-pkg", "*", "x.y"]), st.text(max_size=6)),
    st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=5),
    max_size=3,
)
_DOCS = st.fixed_dictionaries(
    {},
    optional={
        "upstream": _TABLES,
        "package": _TABLES,
        **{key: _VALUES for key in ("unlisted", "workers", "max-file-size", "staging", "x")},
    },
)
_PATH = re.compile(
    r'^(\(top level\)|([A-Za-z0-9_-]+|"[^"]*")(\.([A-Za-z0-9_-]+|"([^"\\]|\\.)*"))*): '
)


@settings(max_examples=150, deadline=None)
@given(data=_DOCS)
def test_any_document_gives_a_config_or_toml_path_problems(data: dict[str, Any]) -> None:
    try:
        parse(data)
        return
    except ConfigError as exc:
        message = exc.message
    lines = [line.strip() for line in message.splitlines()[1:] if line.strip()]
    assert lines, message
    assert len(lines) == int(message.split(" problem(s)")[0].rsplit(" ", 1)[-1])
    for line in lines:
        assert line.isprintable(), line  # names from the file are escaped, never raw
        assert _PATH.match(line), line
        assert line.endswith((".", "?", "!")), line  # a sentence: the remediation follows it
        top = line.split(":")[0].split(".")[0]
        assert top == "(top level)" or top in data or top in ("package", "upstream"), line
