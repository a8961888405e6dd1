"""Choosing what to download: one exact release, its coordinates, sizes, and the index links
of it (no server: index pages as the parser hands them over)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.utils import canonicalize_name
from packaging.version import Version

from hatch_sigstore.download import (
    check_filename,
    generic_coordinates,
    parse_requirement,
    parse_size,
    select_files,
)
from hatch_sigstore.errors import ConfigError, RegistryError
from hatch_sigstore.gitlab import IndexFile

API = "https://gitlab.example.com/api/v4"
FILES = f"{API}/projects/7/packages/pypi/files"
SHA = "ab" * 32


def link(filename: str, *, base: str = FILES, sha: str | None = SHA) -> IndexFile:
    return IndexFile(filename, f"{base}/{sha or 'x'}/{filename}", sha)


# --------------------------------------------------------------------------------------------
# Requirements, coordinates, sizes


@pytest.mark.parametrize(
    ("text", "name", "version"),
    [
        ("my-package==1.2.0", "my-package", "1.2.0"),
        ("My_Package==1.2.0", "my-package", "1.2.0"),
        ("my.package == 1.0.0rc1", "my-package", "1.0.0rc1"),
        ("pkg===1.0", "pkg", "1.0"),
        ("pkg==1.0.0+local.7", "pkg", "1.0.0+local.7"),
        ("pkg==v1.2", "pkg", "1.2"),
    ],
)
def test_parse_requirement_accepts_one_exact_version(text: str, name: str, version: str) -> None:
    assert parse_requirement(text) == (name, Version(version))


@pytest.mark.parametrize(
    "text",
    [
        "pkg",
        "pkg>=1.0",
        "pkg==1.*",
        "pkg==1.0,<2",
        "pkg[extra]==1.0",
        "pkg==1.0; python_version>'3'",
        "pkg @ https://example.com/pkg-1.0.tar.gz",
        "==1.0",
        "pkg==not a version",
        "../evil==1.0",
    ],
)
def test_parse_requirement_refuses_anything_but_one_version(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_requirement(text)
    assert "NAME==VERSION" in str(info.value) or "exact" in str(info.value)


@pytest.mark.parametrize(("name", "version"), [("Some_Thing", "2.0.0a1"), ("x.y-z", "0.1.dev3")])
def test_generic_coordinates_are_the_publishers(tmp_path: Path, name: str, version: str) -> None:
    """Where the download looks (from the request) is where the publisher's plan uploads."""
    from publish_helpers import make_plan

    plan = make_plan(tmp_path, [(name, version)])
    uploaded = {(item.package, item.version) for item in plan.generic}
    requested = parse_requirement(f"{name.upper()}=={version}")
    assert uploaded == {generic_coordinates(*requested)}


_NAME = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?\Z")


@given(name=_NAME, sep=st.sampled_from(["-", "_", ".", "__", "-."]))
def test_coordinates_do_not_depend_on_spelling(name: str, sep: str) -> None:
    """The publisher sees the metadata name, the consumer the request: same coordinates."""
    spelled = name.upper().replace("-", sep)
    assert generic_coordinates(spelled, "1.0")[0] == canonicalize_name(name)
    assert generic_coordinates(name, "1.0") == generic_coordinates(spelled, "1.0")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1048576", 1 << 20),
        ("64K", 64 << 10),
        ("500M", 500 << 20),
        ("1G", 1 << 30),
        ("2MiB", 2 << 20),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "0", "-1", "1.5G", "lots", "10Q"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="--max-size"):
        parse_size(text)


# --------------------------------------------------------------------------------------------
# Choosing files from an index page


def test_select_picks_wheels_and_sdist_of_exactly_that_version() -> None:
    index = [
        link("my_pkg-1.0.0-py3-none-any.whl"),
        link("my_pkg-1.0.0-cp312-cp312-manylinux_2_17_x86_64.whl"),
        link("my_pkg-1.0.0.tar.gz"),
        link("my_pkg-1.0.0.post1.tar.gz"),  # another version
        link("my_pkg-1.0.0+local-py3-none-any.whl"),  # local versions are other versions
        link("my_pkg-1.0.1-py3-none-any.whl"),
        link("my_pkg_extra-1.0.0.tar.gz"),  # another project
        link("my_pkg-1.0.0.egg"),  # not a wheel or sdist
        link("my_pkg-1.0.0-py3-none-any.whl.sig"),
    ]
    chosen = select_files(index, "My.Pkg", Version("1.0"), api_url=API)
    assert [(f.filename, f.kind) for f in chosen] == [
        ("my_pkg-1.0.0-cp312-cp312-manylinux_2_17_x86_64.whl", "wheel"),
        ("my_pkg-1.0.0-py3-none-any.whl", "wheel"),
        ("my_pkg-1.0.0.tar.gz", "sdist"),
    ]
    assert select_files(index, "my-pkg", Version("1.0.0"), api_url=API, only="sdist")[
        0
    ].filename == ("my_pkg-1.0.0.tar.gz")
    assert {
        f.kind for f in select_files(index, "my-pkg", Version("1.0.0"), api_url=API, only="wheel")
    } == {"wheel"}


def test_select_keeps_missing_hash_for_a_per_file_refusal() -> None:
    chosen = select_files([link("pkg-1.0.tar.gz", sha=None)], "pkg", Version("1.0"), api_url=API)
    assert chosen[0].index_sha256 is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (link("pkg-1.0.tar.gz", base="https://evil.example.com/files"), "another host"),
        (link("pkg-1.0.tar.gz", base="http://gitlab.example.com/api/v4/files"), "another host"),
        (link("pkg-1.0.tar.gz", base="https://gitlab.example.com:8443/files"), "another host"),
        (link("pkg-1.0.tar.gz", base="https://u:p@gitlab.example.com/files"), "credentials"),
        (IndexFile("pkg-1.0.tar.gz", f"{FILES}/{SHA}/other-1.0.tar.gz", SHA), "another file"),
        (link("../pkg-1.0.tar.gz"), "not a plain"),
        (link("..pkg-1.0.tar.gz"), "not a plain"),
        (link("pkg-1.0.tar.gz/../../x"), "not a plain"),
        (link("pkg\\1.0.tar.gz"), "not a plain"),
        (link(".pkg-1.0.tar.gz"), "not a plain"),
        (link("pkg-1.0 .tar.gz"), "not a plain"),
        (link("pkg-1.0\x00.tar.gz"), "not a plain"),
        (link("pkg-1.0.tar.gz%2F"), "not a plain"),
        (link("pkg-1.0-py3-none-any.whl;rm -rf"), "not a plain"),
        (link("pkg-1.0.tar.gz\u202e"), "not a plain"),
    ],
)
def test_select_refuses_a_page_with_one_hostile_link(entry: IndexFile, message: str) -> None:
    index = [link("pkg-1.0-py3-none-any.whl"), entry]
    with pytest.raises(RegistryError, match=message):
        select_files(index, "pkg", Version("1.0"), api_url=API)


@given(st.text(min_size=1, max_size=40))
def test_check_filename_only_passes_plain_names(name: str) -> None:
    plain = (
        name[0].isascii()
        and name[0].isalnum()
        and all(c.isascii() and (c.isalnum() or c in "._+!-") for c in name)
        and ".." not in name
    )
    if plain:
        check_filename(name, source="test")
    else:
        with pytest.raises(RegistryError):
            check_filename(name, source="test")


@given(
    filename=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._+!-]{0,40}\Z"),
)
def test_select_never_picks_a_file_of_another_release(filename: str) -> None:
    if ".." in filename:
        return
    chosen = select_files([link(filename)], "pkg", Version("1.0"), api_url=API)
    for f in chosen:
        assert f.filename == filename
        assert f.version == Version("1.0")
        assert canonicalize_name(filename.split("-", maxsplit=1)[0]) == "pkg"
