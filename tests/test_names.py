"""File and registry names: one rule each, shared by the publisher, the client and the download."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from hatch_sigstore._names import (
    generic_coordinates,
    is_generic_filename,
    is_generic_name,
    is_generic_version,
    is_safe_filename,
)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("pkg-1.0-py3-none-any.whl", True),
        ("pkg-1.0.tar.gz.sigstore.json", True),
        ("my+file.tar.gz", True),
        ("pkg-1!2.0-py3-none-any.whl", True),  # a PEP 440 epoch
        # no wheel, sdist or sidecar name has these; the index parser once allowed them and
        # the download did not (issue 12: one rule)
        ("a~b", False),
        ("a@b", False),
        ("..", False),
        ("a..b", False),
        (".env", False),
        ("a/b", False),
        ("a\\b", False),
        ("", False),
        ("x" * 300, False),
        ("naïve.whl", False),
    ],
)
def test_safe_filename(name: str, ok: bool) -> None:
    assert is_safe_filename(name) is ok


@given(st.text(max_size=40))
def test_safe_filename_is_exactly_the_plain_names(name: str) -> None:
    plain = (
        bool(name)
        and name[0].isascii()
        and name[0].isalnum()
        and all(c.isascii() and (c.isalnum() or c in "._+!-") for c in name)
        and ".." not in name
    )
    assert is_safe_filename(name) is plain


@pytest.mark.parametrize(
    ("value", "name", "version", "filename"),
    [
        ("my-pkg", True, True, True),
        ("1.0.0rc1+local.2", True, True, True),
        ("1-2.0", True, True, True),
        ("1!2.0", False, False, False),
        ("a..b", True, False, False),
        ("a b", False, False, False),
        ("a~b", False, False, False),
        ("", False, False, False),
        ("x" * 256, False, False, False),
    ],
)
def test_generic_rules(value: str, name: bool, version: bool, filename: bool) -> None:
    assert (is_generic_name(value), is_generic_version(value)) == (name, version)
    assert is_generic_filename(value) is filename


# -- where a release's signatures live in the generic registry ------------------------------

GITLAB_NAME = re.compile(r"\A[A-Za-z0-9._+-]+\Z")
GITLAB_VERSION = re.compile(r"\A(?!.*\.\.)[\w+.-]+\Z", re.ASCII)


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("My_Pkg", "1.0.0", ("my-pkg", "1.0.0")),
        ("my_pkg", "1.0.0", ("my-pkg", "1.0.0")),
        ("my.pkg", "1.0.0-RC.1", ("my-pkg", "1.0.0rc1")),
        ("My.Pkg", "1.0.0-RC.1", ("my-pkg", "1.0.0rc1")),
        ("pkg", "1.0.0.post1+local.7", ("pkg", "1.0.0.post1+local.7")),
        ("pkg", "1!2.0", ("pkg", "1-2.0")),
        ("pkg", "1.0+Local-7", ("pkg", "1.0+local.7")),
        ("pkg", "v1.0.post1.dev2", ("pkg", "1.0.post1.dev2")),
    ],
)
def test_generic_coordinates(name: str, version: str, expected: tuple[str, str]) -> None:
    assert generic_coordinates(name, version) == expected


_name_st = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?\Z")
_version_st = st.builds(
    lambda epoch, release, pre, post, dev, local: Version(
        f"{f'{epoch}!' if epoch else ''}{'.'.join(map(str, release))}{pre}{post}{dev}{local}"
    ),
    st.integers(0, 3),
    st.lists(st.integers(0, 999), min_size=1, max_size=4),
    st.sampled_from(["", "a1", "b2", "rc3"]),
    st.sampled_from(["", ".post1"]),
    st.sampled_from(["", ".dev0"]),
    st.sampled_from(["", "+local", "+ubuntu.1"]),
)


@settings(max_examples=300, deadline=None)
@given(_name_st, _version_st, _version_st)
def test_generic_coordinates_always_valid_and_distinct(name: str, v1: Version, v2: Version) -> None:
    package, version = generic_coordinates(name, str(v1))
    assert GITLAB_NAME.match(package)
    assert GITLAB_VERSION.match(version)
    if v1 != v2:
        assert generic_coordinates(name, str(v2))[1] != version
