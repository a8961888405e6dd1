"""File and registry names: one rule each, shared by the publisher, the client and the download."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hatch_sigstore._names import (
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
