"""GitLab's regexes (lib/gitlab/regex/packages.rb) and the stand-in's body parsing (multipart,
chunked)."""

from __future__ import annotations

import io
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hatch_sigstore.sandbox._body import BodyError, BodyReader, parse_multipart
from hatch_sigstore.sandbox._gitlab_regex import (
    GENERIC_FILE_NAME,
    GENERIC_FILE_NAME_V17,
    GENERIC_FILE_NAME_V18,
    GENERIC_FILE_NAME_V18_AT,
    GENERIC_PACKAGE_NAME,
    GENERIC_VERSION,
    PYPI_NAME,
    PYPI_VERSION,
    SHA256,
    normalize_pypi_name,
)


def ok(regex: re.Pattern[str], value: str) -> bool:
    return regex.match(value) is not None


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        *[
            (v, True)
            for v in (
                "1.0.0", "1.0", "1.0.0rc1", "1.0.0-rc.1", "1.0.0.post1+local.7", "1!2.0",
                "1.0.dev0", "v1.2", "1.0.0+g1234abc", "1.0.0a1.post2.dev3", "1.0-1", "1.0.0RC1",
            )
        ],
        *[(v, False) for v in ("1.0.0~1", "1.0.0+", "", "a", "1.0.0\n", "1..0", "1.0 ")],
    ],
)  # fmt: skip
def test_pypi_version_table(version: str, accepted: bool) -> None:
    assert ok(PYPI_VERSION, version) is accepted


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        *[(n, True) for n in ("my_pkg", "my-pkg", "My.Pkg", "a/b", "@scope/pkg", "x")],
        *[(n, False) for n in ("pkg+x", "my pkg", "", "pkg\n", "caf\u00e9")],
    ],
)
def test_pypi_name_table(name: str, accepted: bool) -> None:
    assert ok(PYPI_NAME, name) is accepted


@pytest.mark.parametrize(
    ("regex", "value", "accepted"),
    [
        (GENERIC_VERSION, "1.0.0", True),
        (GENERIC_VERSION, "1.0.0.post1+local", True),
        (GENERIC_VERSION, "v1.2.3", True),
        (GENERIC_VERSION, "2024.01.15", True),
        (GENERIC_VERSION, "a" * 40, True),
        (GENERIC_VERSION, "main", True),
        (GENERIC_VERSION, "1..2", False),
        (GENERIC_VERSION, "1!2.0", False),
        (GENERIC_VERSION, "1.0.0~beta", False),
        (GENERIC_VERSION, "1.0.0/../", False),
        (GENERIC_VERSION, "1.0\n", False),
        (GENERIC_PACKAGE_NAME, "pkg+x", True),
        (GENERIC_PACKAGE_NAME, "@scope/pkg", False),
        (GENERIC_PACKAGE_NAME, "a~b", False),
        (GENERIC_FILE_NAME, "pkg-1.0.0-py3-none-any.whl.sigstore.json", True),
        (GENERIC_FILE_NAME, "myfile@1.1.tar.gz", False),
        (GENERIC_FILE_NAME_V18_AT, "myfile@1.1.tar.gz", True),
        (GENERIC_FILE_NAME_V18_AT, "x@", False),
        (GENERIC_FILE_NAME, "my~file", True),
        (GENERIC_FILE_NAME, "~x", False),
        (GENERIC_FILE_NAME, "x@", False),
        (GENERIC_FILE_NAME_V18, "my~file", True),
        (GENERIC_FILE_NAME_V18, "a@b", False),
        (GENERIC_FILE_NAME_V17, "my~file", False),
        (GENERIC_FILE_NAME_V17, "SHA256SUMS", True),
        (SHA256, "A" * 64, True),
        (SHA256, "a" * 63, False),
        (SHA256, "g" * 64, False),
    ],
)
def test_generic_and_sha_table(regex: re.Pattern[str], value: str, accepted: bool) -> None:
    assert ok(regex, value) is accepted


@given(
    epoch=st.integers(0, 3),
    release=st.lists(st.integers(0, 999), min_size=1, max_size=4),
    pre=st.none() | st.tuples(st.sampled_from(["a", "b", "rc"]), st.integers(0, 20)),
    post=st.none() | st.integers(0, 20),
    dev=st.none() | st.integers(0, 20),
    local=st.none() | st.from_regex(r"[a-z0-9]{1,5}(\.[a-z0-9]{1,5}){0,2}", fullmatch=True),
)
def test_every_pep440_version_is_a_gitlab_pypi_version(
    epoch: int,
    release: list[int],
    pre: tuple[str, int] | None,
    post: int | None,
    dev: int | None,
    local: str | None,
) -> None:
    from packaging.version import Version

    text = (f"{epoch}!" if epoch else "") + ".".join(map(str, release))
    text += f"{pre[0]}{pre[1]}" if pre else ""
    text += f".post{post}" if post is not None else ""
    text += f".dev{dev}" if dev is not None else ""
    text += f"+{local}" if local else ""
    canonical = str(Version(text))
    assert ok(PYPI_VERSION, canonical)
    # generic versions: no epoch, otherwise the same strings work (publisher recommendation §7)
    assert ok(GENERIC_VERSION, canonical) is (not epoch)


SAFE = string.ascii_letters + string.digits + "._-+~@"


@given(st.text(alphabet=SAFE, min_size=1, max_size=30))
def test_generic_file_name_18(value: str) -> None:
    at_ends = value[0] not in "~@" and value[-1] not in "~@"
    assert ok(GENERIC_FILE_NAME_V18_AT, value) is at_ends
    assert ok(GENERIC_FILE_NAME, value) is (at_ends and "@" not in value)


@given(st.text(min_size=1, max_size=20).filter(lambda s: any(c not in SAFE for c in s)))
def test_generic_file_name_rejects_other_characters(value: str) -> None:
    assert not ok(GENERIC_FILE_NAME, value)
    assert not ok(GENERIC_PACKAGE_NAME, value)


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True))
def test_normalized_name_is_a_fixpoint(name: str) -> None:
    once = normalize_pypi_name(name)
    assert normalize_pypi_name(once) == once
    assert once == re.sub(r"[-_.]+", "-", name).lower()


# body parsing --------------------------------------------------------------------------------


def multipart(boundary: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    for name, (filename, data) in files.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue()


class Sinks:
    def __init__(self) -> None:
        self.data: dict[str, io.BytesIO] = {}

    def open(self, name: str, _filename: str) -> io.BytesIO:
        self.data[name] = io.BytesIO()
        return self.data[name]


field_names = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)


@settings(max_examples=150)
@given(
    boundary=st.from_regex(r"[A-Za-z0-9'()+_,-.]{1,40}", fullmatch=True),
    fields=st.dictionaries(field_names, st.text(max_size=200), max_size=5),
    content=st.binary(max_size=3000),
    chunk=st.integers(1, 700),
)
def test_multipart_roundtrip(
    boundary: str, fields: dict[str, str], content: bytes, chunk: int
) -> None:
    fields.pop("content", None)
    body = multipart(boundary, fields, {"content": ("a.whl", content)})
    # a value containing the delimiter is what the boundary exists to prevent
    delim = "\r\n--" + boundary
    if delim.encode() in b"\r\n" + content or any(delim in "\r\n" + v for v in fields.values()):
        return
    reader = BodyReader(io.BytesIO(body), length=len(body), chunked=False)
    sinks = Sinks()
    result = parse_multipart(reader, boundary, open_sink=sinks.open, chunk=chunk)
    assert result.fields == fields
    assert sinks.data["content"].getvalue() == content
    part = result.files["content"]
    assert (part.filename, part.size) == ("a.whl", len(content))
    assert reader.done


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"no boundary here",
        b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nunterminated',
        b'--B\r\nContent-Disposition: form-data; name="a"',
    ],
)
def test_multipart_malformed(body: bytes) -> None:
    reader = BodyReader(io.BytesIO(body), length=len(body), chunked=False)
    with pytest.raises(BodyError):
        parse_multipart(reader, "B", open_sink=Sinks().open)


def test_body_reader_short_body_is_an_error() -> None:
    reader = BodyReader(io.BytesIO(b"abc"), length=10, chunked=False)
    assert reader.read(3) == b"abc"
    with pytest.raises(BodyError):
        reader.read(3)


@given(parts=st.lists(st.binary(min_size=1, max_size=300), max_size=6), n=st.integers(1, 500))
def test_chunked_reader(parts: list[bytes], n: int) -> None:
    raw = b"".join(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in parts)
    raw += b"0\r\nTrailer: x\r\n\r\nNEXT REQUEST"
    rfile = io.BytesIO(raw)
    reader = BodyReader(rfile, length=None, chunked=True)
    out = b""
    while chunk := reader.read(n):
        out += chunk
    assert out == b"".join(parts)
    assert reader.done
    assert rfile.read() == b"NEXT REQUEST"  # stops exactly at the end of the body
