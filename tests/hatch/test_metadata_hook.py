"""The metadata rewrite, tested with real in-process hatchling builds of throwaway projects."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from build_helpers import (
    CI_METADATA,
    clear_ci_env,
    make_project,
    sdist_member,
    sdist_pkg_info,
    set_env,
    unpack_sdist,
    urls_of,
    wheel_metadata,
)
from build_helpers import build as build_project
from hatch_sigstore.ci import CIContext
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.hatch._pyproject import (
    _is_project_header,
    _key_span,
    rewrite_pyproject,
    toml_string,
)
from hatch_sigstore.hatch.metadata_hook import MetadataOptions, plan_metadata

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    clear_ci_env(monkeypatch)
    monkeypatch.setenv("HATCH_SIGSTORE_SIGN", "off")  # these tests are about metadata only
    from hatch_sigstore.hatch.build_hook import reset_process_state

    yield
    reset_process_state()


# -- the plan, as a table ---------------------------------------------------------------

BASE = {"name": "toy-orig", "dynamic": ["version", "urls"]}
OPTS = {"rename": True, "fallback-version": "0.0.0", "urls": {"Homepage": "h", "Source": "s"}}


@pytest.mark.parametrize(
    ("project", "config", "env", "expected"),
    [
        pytest.param(
            BASE,
            OPTS,
            {},
            {"name": None, "version": "0.0.0", "urls": {"Homepage": "h", "Source": "s"}},
            id="no-ci",
        ),
        pytest.param(
            BASE,
            OPTS,
            CI_METADATA,
            {
                "name": "my_ci_project",
                "version": "1.2.3",
                "urls": {"Homepage": CI_METADATA["CI_PROJECT_URL"], "Source": "s"},
            },
            id="ci",
        ),
        pytest.param(
            BASE,
            {**OPTS, "rename": False},
            CI_METADATA,
            {
                "name": None,
                "version": "1.2.3",
                "urls": {"Homepage": CI_METADATA["CI_PROJECT_URL"], "Source": "s"},
            },
            id="no-rename",
        ),
        pytest.param(
            BASE,
            OPTS,
            {"CI_COMMIT_TAG": "v3.4.5"},
            {"name": None, "version": "3.4.5", "urls": {"Homepage": "h", "Source": "s"}},
            id="tag",
        ),
        pytest.param(
            {"name": "t", "version": "9.9", "dynamic": ["urls"]},
            OPTS,
            CI_METADATA,
            {
                "name": "my_ci_project",
                "version": None,
                "urls": {"Homepage": CI_METADATA["CI_PROJECT_URL"], "Source": "s"},
            },
            id="static-version-kept",
        ),
        pytest.param(
            {"name": "t", "version": "9.9", "dynamic": ["version"]},
            {"homepage-label": "Home"},
            {"CI_PROJECT_URL": "https://x.example/p"},
            {"name": None, "version": None, "urls": None},
            id="version-from-source",
        ),
        pytest.param(
            {"name": "t", "version": "1.0", "dynamic": ["version"]},
            {},
            {"PACKAGE_VERSION": "2.0"},
            {"name": None, "version": "2.0", "urls": None},
            id="ci-version-over-source",
        ),
        pytest.param(
            {"name": "t", "version": "1.0", "urls": {"Homepage": "a", "Docs": "d"}},
            {},
            {"CI_PROJECT_URL": "https://x.example/p"},
            {
                "name": None,
                "version": None,
                "urls": {"Homepage": "https://x.example/p", "Docs": "d"},
            },
            id="static-urls-homepage",
        ),
        pytest.param(
            {"name": "t", "version": "1.0", "dynamic": ["urls"], "urls": {"Docs": "d"}},
            {},
            {"CI_PROJECT_URL": "https://x.example/p"},
            {
                "name": None,
                "version": None,
                "urls": {"Docs": "d", "Homepage": "https://x.example/p"},
            },
            id="another-hooks-urls",
        ),
        pytest.param(
            {"name": "t", "version": "1.0", "dynamic": ["urls"], "urls": {"Docs": "d"}},
            {},
            {},
            {"name": None, "version": None, "urls": None},
            id="another-hooks-urls-untouched",
        ),
        pytest.param(
            BASE,
            {
                **OPTS,
                "homepage-label": "Repository",
                "version-variable": "MY_V",
                "name-variable": "MY_N",
            },
            {
                "MY_V": "2.0",
                "MY_N": "n-1",
                "CI_PROJECT_URL": "https://x.example/p",
                "PACKAGE_VERSION": "7",
            },
            {
                "name": "n_1",
                "version": "2.0",
                "urls": {"Homepage": "h", "Source": "s", "Repository": "https://x.example/p"},
            },
            id="configured-variables",
        ),
    ],
)
def test_plan(
    project: dict[str, Any], config: dict[str, Any], env: dict[str, str], expected: dict[str, Any]
) -> None:
    changes = plan_metadata(
        dict(project), MetadataOptions.from_config(config), CIContext.from_env(env)
    )
    assert {"name": changes.name, "version": changes.version, "urls": changes.urls} == expected


@pytest.mark.parametrize(
    ("project", "config", "env", "needle"),
    [
        pytest.param(
            BASE,
            {"rename": "yes"},
            {},
            "tool.hatch.metadata.hooks.sigstore.rename",
            id="wrong-type",
        ),
        pytest.param(
            BASE, {"renam": True}, {}, "tool.hatch.metadata.hooks.sigstore.renam", id="unknown-key"
        ),
        pytest.param(BASE, {"fallback-version": "latest"}, {}, "fallback-version", id="fallback"),
        pytest.param(BASE, {"urls": {"Homepage": 3}}, {}, 'urls."Homepage"', id="url-type"),
        pytest.param(BASE, {"urls": []}, {}, "a table of strings", id="urls-not-table"),
        pytest.param(BASE, {}, {}, "fallback-version", id="no-version-anywhere"),
        pytest.param(BASE, OPTS, {"PACKAGE_VERSION": "one.two"}, "PACKAGE_VERSION", id="bad-ver"),
        pytest.param(
            BASE, OPTS, {"CI_PROJECT_NAME": "bad name!"}, "CI_PROJECT_NAME", id="bad-name"
        ),
        pytest.param(
            {"name": "t", "version": "1.0", "urls": {}},
            {"urls": {"a": "b"}},
            {},
            "[project.urls]",
            id="urls-static",
        ),
        pytest.param(
            {"name": "t", "version": "1.0"},
            {"urls": {"a": "b"}},
            {},
            "project.dynamic",
            id="urls-not-dynamic",
        ),
    ],
)
def test_plan_errors(
    project: dict[str, Any], config: dict[str, Any], env: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        plan_metadata(dict(project), MetadataOptions.from_config(config), CIContext.from_env(env))
    assert needle in str(info.value)


# -- real builds --------------------------------------------------------------------------


def test_without_ci_variables_nothing_changes(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    sdist, wheel = build_project(root)
    assert (sdist.name, wheel.name) == ("toy_orig-0.0.0.tar.gz", "toy_orig-0.0.0-py3-none-any.whl")
    meta = wheel_metadata(wheel)
    assert (meta["Name"], meta["Version"]) == ("toy-orig", "0.0.0")
    assert urls_of(meta) == {
        "Homepage": "https://example.invalid/placeholder",
        "Source": "https://example.invalid/static-source",
    }
    # the sdist ships the project's own pyproject.toml, byte for byte
    assert sdist_member(sdist, "pyproject.toml") == (root / "pyproject.toml").read_text()


def test_ci_rewrite_reaches_names_metadata_pkg_info_and_sdist_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_env(monkeypatch, CI_METADATA)
    root = make_project(tmp_path / "p")
    sdist, wheel = build_project(root)
    assert sdist.name == "my_ci_project-1.2.3.tar.gz"
    assert wheel.name == "my_ci_project-1.2.3-py3-none-any.whl"
    expected_urls = {
        "Homepage": "https://gitlab.example.com/group/my-ci-project",
        "Source": "https://example.invalid/static-source",
    }
    for meta in (wheel_metadata(wheel), sdist_pkg_info(sdist)):
        assert (meta["Name"], meta["Version"]) == ("my_ci_project", "1.2.3")
        assert urls_of(meta) == expected_urls
    shipped = sdist_member(sdist, "pyproject.toml")
    project = tomllib.loads(shipped)["project"]
    assert project["name"] == "my_ci_project"
    assert project["version"] == "1.2.3"
    assert project["urls"] == expected_urls
    assert project["dynamic"] == []
    assert "# the static name" not in shipped  # the name line was replaced ...
    assert "[tool.hatch.metadata.hooks.sigstore]" in shipped  # ... everything else kept
    # the project's own pyproject.toml is untouched
    assert 'name = "toy-orig"' in (root / "pyproject.toml").read_text()


@pytest.mark.parametrize(
    "env",
    [
        {},
        {
            "CI_PROJECT_NAME": "someone-else",
            "PACKAGE_VERSION": "9.0",
            "CI_PROJECT_URL": "https://elsewhere.example/x",
        },
    ],
    ids=["no-ci", "other-ci"],
)
def test_wheel_from_the_sdist_keeps_the_ci_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    set_env(monkeypatch, CI_METADATA)
    root = make_project(tmp_path / "p")
    (sdist,) = build_project(root, targets=["sdist"])
    clear_ci_env(monkeypatch)
    monkeypatch.setenv("HATCH_SIGSTORE_SIGN", "off")
    set_env(monkeypatch, env)
    unpacked = unpack_sdist(sdist, tmp_path / "unpacked")
    (wheel,) = build_project(unpacked, tmp_path / "out", targets=["wheel"])
    assert wheel.name == "my_ci_project-1.2.3-py3-none-any.whl"
    meta = wheel_metadata(wheel)
    assert (meta["Name"], meta["Version"]) == ("my_ci_project", "1.2.3")
    assert urls_of(meta)["Homepage"] == "https://gitlab.example.com/group/my-ci-project"


def test_sdist_pyproject_keep_reverts_the_name_in_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the rewrite exists: without it the wheel built from the sdist has the old name."""
    set_env(monkeypatch, CI_METADATA)
    root = make_project(
        tmp_path / "p",
        build_hook='[tool.hatch.build.hooks.sigstore]\nsdist-pyproject = "keep"\n',
    )
    (sdist,) = build_project(root, targets=["sdist"])
    assert sdist.name == "my_ci_project-1.2.3.tar.gz"
    (wheel,) = build_project(unpack_sdist(sdist, tmp_path / "u"), tmp_path / "o", targets=["wheel"])
    assert wheel_metadata(wheel)["Name"] == "toy-orig"


def test_prepare_metadata_reports_rewritten_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PEP 517 ``prepare_metadata_for_build_wheel`` (what ``python -m build --metadata`` calls)."""
    import hatchling.build

    set_env(monkeypatch, CI_METADATA)
    root = make_project(tmp_path / "p")
    out = tmp_path / "meta"
    out.mkdir()
    monkeypatch.chdir(root)
    dist_info = hatchling.build.prepare_metadata_for_build_wheel(str(out))
    assert dist_info == "my_ci_project-1.2.3.dist-info"
    text = (out / dist_info / "METADATA").read_text()
    assert "Name: my_ci_project\n" in text
    assert "Version: 1.2.3\n" in text
    assert "Project-URL: Homepage, https://gitlab.example.com/group/my-ci-project\n" in text


def test_rename_off_keeps_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, CI_METADATA)
    root = make_project(
        tmp_path / "p",
        metadata_hook='[tool.hatch.metadata.hooks.sigstore]\nfallback-version = "0.1"\n',
    )
    sdist, wheel = build_project(root)
    assert wheel.name == "toy_orig-1.2.3-py3-none-any.whl"
    assert urls_of(wheel_metadata(wheel)) == {"Homepage": CI_METADATA["CI_PROJECT_URL"]}
    project = tomllib.loads(sdist_member(sdist, "pyproject.toml"))["project"]
    assert (project["name"], project["version"]) == ("toy-orig", "1.2.3")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"PACKAGE_VERSION": "not-a-version"}, "PACKAGE_VERSION is 'not-a-version'"),
        ({"CI_COMMIT_TAG": "release"}, "CI_COMMIT_TAG is 'release'"),
        ({"CI_PROJECT_NAME": "bad name!"}, "CI_PROJECT_NAME is 'bad name!'"),
        ({"CI_PROJECT_URL": "not a url"}, "CI_PROJECT_URL is 'not a url'"),
    ],
)
def test_bad_ci_values_fail_the_build_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needle: str
) -> None:
    set_env(monkeypatch, env)
    root = make_project(tmp_path / "p")
    with pytest.raises(ConfigError) as info:
        build_project(root)
    assert needle in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert not (root / "dist").exists() or not list((root / "dist").iterdir())


# -- the pyproject.toml rewrite ---------------------------------------------------------

PYPROJECT = """\
[build-system]
requires = ["hatchling"]

[project]
# leading comment
name = "toy-orig"   # trailing comment
dynamic = [
  "version",   # from CI
  "urls",
  "readme",
]
description = "d"

[tool.x]
name = "not this one"
dynamic = ["nor", "this"]
"""


def test_rewrite_keeps_everything_else() -> None:
    out = rewrite_pyproject(
        PYPROJECT, name="new_name", version="1.0", urls={"Homepage": "https://h.example/"}
    )
    doc = tomllib.loads(out)
    assert doc["project"] == {
        "name": "new_name",
        "version": "1.0",
        "urls": {"Homepage": "https://h.example/"},
        "dynamic": ["readme"],
        "description": "d",
    }
    assert doc["tool"]["x"] == {"name": "not this one", "dynamic": ["nor", "this"]}
    assert "# leading comment" in out


def test_rewrite_refuses_what_it_cannot_prove() -> None:
    weird = '[project]\n"name" = "x"\ndynamic = ["version"]\n'
    with pytest.raises(ConfigError, match="sdist-pyproject"):
        rewrite_pyproject(weird, name="y", where="P")
    dotted = 'project.name = "x"\n'
    with pytest.raises(ConfigError, match="single \\[project\\]"):
        rewrite_pyproject(dotted, name="y")


@settings(max_examples=60, deadline=None)
@given(
    name=st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True),
    version=st.text(min_size=1, max_size=20),
    urls=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=30), max_size=4),
)
def test_rewrite_round_trips_any_values(name: str, version: str, urls: dict[str, str]) -> None:
    out = rewrite_pyproject(PYPROJECT, name=name, version=version, urls=urls)
    project = tomllib.loads(out)["project"]
    assert (project["name"], project["version"], project["urls"]) == (name, version, urls)


@given(st.text(max_size=50))
def test_toml_string_round_trips(value: str) -> None:
    assert tomllib.loads(f"k = {toml_string(value)}")["k"] == value


def test_crlf_files_stay_crlf() -> None:
    text = PYPROJECT.replace("\n", "\r\n")
    out = rewrite_pyproject(text, name="n", version="1")
    assert "\r\n" in out
    assert "\n" not in out.replace("\r\n", "")


@given(st.lists(st.sampled_from(["[", "]", " ", "\t", "project", "#", "x", "\u3000"])).map("".join))
def test_project_header_detection_matches_its_pattern(line: str) -> None:
    # the regular expression the string test replaced (compiling it cost each sdist ~1 ms)
    pattern = re.compile(r"^\[\s*project\s*\]\s*(#.*)?$")
    assert _is_project_header(line) == bool(pattern.match(line.strip()))


@given(
    st.lists(
        st.lists(st.sampled_from(["name", "names", " ", "=", "x", "\t", '"'])).map("".join),
        min_size=1,
        max_size=4,
    )
)
def test_key_detection_matches_its_pattern(lines: list[str]) -> None:
    pattern = re.compile(r"^\s*name\s*=")
    first = next((i for i, line in enumerate(lines) if pattern.match(line)), None)
    span = _key_span(lines, 0, len(lines), "name")
    assert (span[0] if span else None) == first


def test_every_wrong_metadata_key_is_reported_at_once() -> None:
    path = "tool.hatch.metadata.hooks.sigstore"
    config = {
        "rename": "yes",
        "urls": {"Docs": 3},
        "fallback-version": "not a version",
        "homepage-label": "",
        "renam": True,
    }
    with pytest.raises(ConfigError) as info:
        MetadataOptions.from_config(config)
    lines = str(info.value).splitlines()
    assert lines[0] == "5 configuration errors:"
    for key in ("rename`", 'urls."Docs"`', "fallback-version`", "homepage-label`", "renam`"):
        assert sum(f"`{path}.{key}" in line for line in lines[1:]) == 1, key
