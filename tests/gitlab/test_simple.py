"""The PEP 503 simple index parser: GitLab's real page shape, and every hostile variation."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hatch_sigstore._names import is_safe_filename
from hatch_sigstore._urls import same_origin
from hatch_sigstore.errors import RegistryError
from hatch_sigstore.gitlab import Credentials, IndexFile, RegistryClient, parse_simple_index

BASE = "https://gitlab.example.com"
PAGE = f"{BASE}/api/v4/projects/42/packages/pypi/simple/my-pkg"
SHA = hashlib.sha256(b"wheel").hexdigest()
SHA2 = hashlib.sha256(b"sdist").hexdigest()


def gitlab_page(links: list[tuple[str, str]], name: str = "my_pkg") -> str:
    """The page GitLab renders (gitlab-org/gitlab, ``app/presenters/packages/pypi/``
    ``simple_package_versions_presenter.rb``), links concatenated with no separator."""
    anchors = "".join(
        f'<a href="{html.escape(href)}" data-requires-python="{html.escape(rp)}">'
        f"{html.escape(href.rsplit('/', 1)[-1].split('#')[0])}</a>"
        for href, rp in links
    )
    return (
        f"<!DOCTYPE html>\n<html>\n  <head>\n    <title>Links for {name}</title>\n  </head>\n"
        f"  <body>\n    <h1>Links for {name}</h1>\n    {anchors}\n  </body>\n</html>\n"
    )


def file_url(filename: str, sha: str = SHA) -> str:
    return f"{BASE}/api/v4/projects/42/packages/pypi/files/{sha}/{filename}#sha256={sha}"


def test_gitlab_page_parses() -> None:
    page = gitlab_page(
        [
            (file_url("my_pkg-1.0-py3-none-any.whl"), ">=3.9"),
            (file_url("my_pkg-1.0.tar.gz", SHA2), ""),
        ]
    )
    files = parse_simple_index(page, page_url=PAGE)
    assert files == [
        IndexFile(
            filename="my_pkg-1.0-py3-none-any.whl",
            url=f"{BASE}/api/v4/projects/42/packages/pypi/files/{SHA}/my_pkg-1.0-py3-none-any.whl",
            sha256=SHA,
            requires_python=">=3.9",
        ),
        IndexFile(
            filename="my_pkg-1.0.tar.gz",
            url=f"{BASE}/api/v4/projects/42/packages/pypi/files/{SHA2}/my_pkg-1.0.tar.gz",
            sha256=SHA2,
            requires_python=None,
        ),
    ]


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        # relative links resolve against the page
        (
            f"../files/{SHA}/a-1.0.tar.gz#sha256={SHA}",
            f"{BASE}/api/v4/projects/42/packages/pypi/files/{SHA}/a-1.0.tar.gz",
        ),
        (f"/api/v4/x/a-1.0.tar.gz#sha256={SHA}", f"{BASE}/api/v4/x/a-1.0.tar.gz"),
        # explicit default port is the same origin
        (
            f"https://gitlab.example.com:443/f/a-1.0.tar.gz#sha256={SHA}",
            "https://gitlab.example.com:443/f/a-1.0.tar.gz",
        ),
        # upper-case hex is accepted and lower-cased
        (f"{BASE}/f/a-1.0.tar.gz#sha256={SHA.upper()}", f"{BASE}/f/a-1.0.tar.gz"),
        # a percent-encoded but harmless name
        (f"{BASE}/f/a%2B1-1.0.tar.gz#sha256={SHA}", f"{BASE}/f/a%2B1-1.0.tar.gz"),
    ],
)
def test_acceptable_links(href: str, expected: str) -> None:
    [entry] = parse_simple_index(gitlab_page([(href, "")]), page_url=PAGE)
    assert entry.url == expected
    assert entry.sha256 == SHA


@pytest.mark.parametrize(
    ("href", "why"),
    [
        (f"https://evil.example.com/f/{SHA}/a-1.0.tar.gz#sha256={SHA}", "another host"),
        (f"//evil.example.com/f/a-1.0.tar.gz#sha256={SHA}", "another host"),
        (f"http://gitlab.example.com/f/a-1.0.tar.gz#sha256={SHA}", "another host"),
        (f"https://gitlab.example.com:8443/f/a-1.0.tar.gz#sha256={SHA}", "another host"),
        (f"https://gitlab.example.com.evil.com/f/a-1.0.tar.gz#sha256={SHA}", "another host"),
        (f"https://user:pw@gitlab.example.com/f/a-1.0.tar.gz#sha256={SHA}", "credentials"),
        (f"file:///etc/passwd#sha256={SHA}", "scheme"),
        ("javascript:alert(1)", "scheme"),
        (f"ftp://gitlab.example.com/a-1.0.tar.gz#sha256={SHA}", "scheme"),
        (f"{BASE}/f/%2e%2e/%2e%2e/a-1.0.tar.gz#sha256={SHA}", "traversal"),
        (f"{BASE}/f/..%2F..%2Fetc%2Fpasswd#sha256={SHA}", "traversal"),
        (f"{BASE}/f/a%2Fb-1.0.tar.gz#sha256={SHA}", "traversal"),
        (f"{BASE}/f/a%5Cb-1.0.tar.gz#sha256={SHA}", "traversal"),
        (f"{BASE}/f/..#sha256={SHA}", "traversal"),
        (f"{BASE}/f/.hidden.whl#sha256={SHA}", "file name"),
        (f"{BASE}/f/a%00b.whl#sha256={SHA}", "traversal"),
        (f"{BASE}/f/a%20b.whl#sha256={SHA}", "file name"),
        (f"{BASE}/f/caf%C3%A9-1.0.tar.gz#sha256={SHA}", "file name"),
        (f"{BASE}/f/a;rm -rf.whl#sha256={SHA}", "file name"),
        (f"{BASE}/f/#sha256={SHA}", "file name"),
        (f"{BASE}/f/a-1.0.tar.gz#sha256=abc", "64 hex"),
        (f"{BASE}/f/a-1.0.tar.gz#sha256={SHA}00", "64 hex"),
        (f"{BASE}/f/a-1.0.tar.gz#sha256={'g' * 64}", "64 hex"),
        ("\\\\evil.example.com\\share\\a.whl", "backslashes"),
        (f"{BASE}/f/a-1.0.tar.gz\n#sha256={SHA}", "control"),
    ],
)
def test_hostile_links_are_refused(href: str, why: str) -> None:
    with pytest.raises(RegistryError, match=re.escape(why)) as info:
        parse_simple_index(gitlab_page([(href, "")]), page_url=PAGE)
    assert "Refusing the simple index" in str(info.value)


def test_one_bad_link_refuses_the_whole_page() -> None:
    evil = f"https://evil.example.com/a-1.0.tar.gz#sha256={SHA}"
    links = [(file_url("a-1.0.tar.gz"), ""), (evil, "")]
    with pytest.raises(RegistryError, match="another host"):
        parse_simple_index(gitlab_page(links), page_url=PAGE)


@pytest.mark.parametrize(
    ("fragment", "sha"),
    [("#sha256=", None), ("", None), (f"#md5={'a' * 32}", None), (f"#sha256={SHA}", SHA)],
)
def test_missing_or_other_hashes(fragment: str, sha: str | None) -> None:
    page = gitlab_page([(f"{BASE}/f/a-1.0.tar.gz{fragment}", "")])
    [entry] = parse_simple_index(page, page_url=PAGE)
    assert entry.sha256 == sha
    assert "#" not in entry.url


@pytest.mark.parametrize(
    "page",
    [
        "",
        "not html at all",
        '{"message": "404 Not Found"}',
        "<html><body><a>no href</a><a name=x></a></body></html>",
        "<html><body><a href=",  # truncated
        "<a href='x' <<<>>>",
        "\x00\x01\x02<a",
    ],
)
def test_garbage_gives_no_links_or_a_refusal(page: str) -> None:
    try:
        files = parse_simple_index(page, page_url=PAGE)
    except RegistryError:
        return
    assert all(is_safe_filename(f.filename) for f in files)


def test_requires_python_unescaped() -> None:
    page = gitlab_page([(file_url("a-1.0.tar.gz"), ">=3.8, !=3.9.*")])
    assert "&gt;" in page
    [entry] = parse_simple_index(page, page_url=PAGE)
    assert entry.requires_python == ">=3.8, !=3.9.*"


def test_oversized_page_refused() -> None:
    with pytest.raises(RegistryError, match="larger"):
        parse_simple_index("<a>" * (6 * 1024 * 1024), page_url=PAGE)


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("my_pkg", "my-pkg"),
        ("My.Pkg", "my-pkg"),
        ("my--__..pkg", "my-pkg"),
        ("Django", "django"),
        ("zope.interface", "zope-interface"),
        ("a-b_c.d", "a-b-c-d"),
    ],
)
def test_index_url_names_the_pep503_project(
    client: RegistryClient, name: str, normalized: str
) -> None:
    assert index_name(client, name) == normalized


@pytest.fixture(scope="module")
def client() -> Iterator[RegistryClient]:
    with RegistryClient(f"{BASE}/api/v4", "42", Credentials("anonymous")) as client:
        yield client


def index_name(client: RegistryClient, name: str) -> str:
    """The project name in the index URL the client asks (packaging's PEP 503 normalization)."""
    url = client.pypi_simple_url(name)
    prefix = f"{BASE}/api/v4/projects/42/packages/pypi/simple/"
    assert url.startswith(prefix)
    return url[len(prefix) :]


NAME = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9._-]{0,30}[A-Za-z0-9])?\Z")


@given(NAME)
def test_index_name_is_idempotent_and_pep503(client: RegistryClient, name: str) -> None:
    once = index_name(client, name)
    assert index_name(client, once) == once
    assert once == re.sub(r"[-_.]+", "-", name).lower()
    assert not re.search(r"[_.A-Z]|--", once)


FILENAME = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_+-]{0,20}(\.[A-Za-z0-9]{1,5}){1,3}\Z")


@given(
    st.lists(
        st.tuples(FILENAME, st.binary(max_size=8), st.sampled_from(["", ">=3.9", "<4,>=3.8"])),
        max_size=8,
    )
)
def test_roundtrip_of_gitlab_pages(entries: list[tuple[str, bytes, str]]) -> None:
    links = [(file_url(name, hashlib.sha256(data).hexdigest()), rp) for name, data, rp in entries]
    files = parse_simple_index(gitlab_page(links), page_url=PAGE)
    assert [(f.filename, f.sha256, f.requires_python or "") for f in files] == [
        (name, hashlib.sha256(data).hexdigest(), rp) for name, data, rp in entries
    ]
    for f in files:
        assert same_origin(f.url, PAGE)


def _parsed_safely(page: str) -> list[IndexFile]:
    """The files of ``page`` (none if it is refused), each checked: same origin, a valid name."""
    try:
        files = parse_simple_index(page, page_url=PAGE)
    except RegistryError:
        return []
    for f in files:
        assert same_origin(f.url, PAGE)
        assert is_safe_filename(f.filename)
    return files


@given(st.text(max_size=300))
def test_arbitrary_input_never_crashes_or_escapes(page: str) -> None:
    for f in _parsed_safely(page):
        assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)


@given(st.text(max_size=60))
def test_arbitrary_href_never_escapes(href: str) -> None:
    for f in _parsed_safely(f'<a href="{html.escape(href)}">x</a>'):
        assert "/../" not in f.url
        assert not f.url.endswith("/..")
