"""The PEP 691/503 project page parser: the stand-in's pages in both formats say the same, and a
page with one hostile link is refused whole."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hatch_sigstore.errors import RegistryError
from hatch_sigstore.pypi._simple import parse_project_page
from pypi_helpers import REPO, attest, dists, publish_token, twine, unique

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex

JSON = "application/vnd.pypi.simple.v1+json"
PAGE = "https://pypi.org/simple/pkg/"
FILE = "https://files.pythonhosted.org/packages/ab/cd/pkg-1.0.tar.gz"
SHA = "a" * 64


def test_json_and_html_pages_of_the_stand_in_agree(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    name = unique("page")
    pypi_index.create_project(name)
    pypi_index.add_gitlab_publisher(name, REPO)
    wheel, sdist = dists(tmp_path, name)
    attested = attest(pypi_sigstore, [wheel])
    token = publish_token(pypi_index, pypi_sigstore)
    assert twine(pypi_index, token, wheel, attested[0], attestations=True).returncode == 0
    assert twine(pypi_index, token, sdist).returncode == 0  # no provenance for this one
    url = f"{pypi_index.simple_url}{name}/"
    pages = {}
    for accept in (JSON, "text/html"):
        response = httpx.get(url, headers={"Accept": accept}, timeout=30)
        pages[accept] = parse_project_page(
            response.content, response.headers["content-type"], page_url=url
        )
    assert pages[JSON] == [
        f.__class__(**{**f.__dict__, "provenance": f.provenance or None})
        for f in pages["text/html"]
    ]
    by_name = {f.filename: f for f in pages[JSON]}
    assert by_name[wheel.name].provenance is not None
    assert by_name[wheel.name].provenance.endswith(f"/{wheel.name}/provenance")  # type: ignore[union-attr]
    assert by_name[sdist.name].provenance is None  # PEP 740: null, no provenance
    assert by_name[sdist.name].requires_python == ">=3.8"


def page(**entry: object) -> bytes:
    base: dict[str, object] = {
        "filename": "pkg-1.0.tar.gz",
        "url": FILE,
        "hashes": {"sha256": SHA},
        "provenance": None,
    }
    return json.dumps({"meta": {"api-version": "1.4"}, "files": [{**base, **entry}]}).encode()


def test_files_on_another_host_are_fine() -> None:
    [entry] = parse_project_page(page(), JSON, page_url=PAGE)
    assert (entry.url, entry.sha256, entry.provenance) == (FILE, SHA, None)
    [old] = parse_project_page(
        json.dumps({"files": [{"filename": "pkg-1.0.tar.gz", "url": FILE, "hashes": {}}]}).encode(),
        JSON,
        page_url=PAGE,
    )
    assert (old.sha256, old.provenance) == (None, "")  # no hash; an index before PEP 740


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"url": "javascript:alert(1)"}, "scheme"),
        ({"url": "http://files.example/pkg-1.0.tar.gz"}, "down to plain http"),
        ({"url": "https://u:p@files.example/pkg-1.0.tar.gz"}, "credentials"),
        ({"url": "https://files.example/other-1.0.tar.gz"}, "URL for another file"),
        ({"url": "https://files.example/x\\..\\pkg-1.0.tar.gz"}, "backslashes"),
        ({"filename": "../../etc/passwd", "url": "https://f/passwd"}, "not a plain file name"),
        ({"hashes": {"sha256": "zz"}}, "not 64 hex digits"),
        ({"provenance": "file:///etc/passwd"}, "scheme"),
    ],
)
def test_one_hostile_link_refuses_the_page(entry: dict[str, object], why: str) -> None:
    with pytest.raises(RegistryError, match=why):
        parse_project_page(page(**entry), JSON, page_url=PAGE)


@pytest.mark.parametrize(
    ("body", "ctype", "why"),
    [
        (b"\xff\xfe", JSON, "not UTF-8"),
        (b"{", JSON, "not JSON"),
        (b'{"files": 1}', JSON, "no 'files' list"),
        (b'{"files": [1]}', JSON, "not an object"),
    ],
)
def test_garbage_pages(body: bytes, ctype: str, why: str) -> None:
    with pytest.raises(RegistryError, match=why):
        parse_project_page(body, ctype, page_url=PAGE)


def test_html_links_with_provenance() -> None:
    html = (
        f'<a href="{FILE}#sha256={SHA}" data-requires-python="&gt;=3.9" '
        'data-provenance="https://pypi.org/integrity/pkg/1.0/pkg-1.0.tar.gz/provenance">'
        "pkg-1.0.tar.gz</a>"
    )
    [entry] = parse_project_page(html.encode(), "text/html", page_url=PAGE)
    assert entry.requires_python == ">=3.9"
    assert entry.provenance == "https://pypi.org/integrity/pkg/1.0/pkg-1.0.tar.gz/provenance"


@given(st.text(max_size=300))
def test_the_parser_never_crashes(text: str) -> None:
    for ctype in (JSON, "text/html"):
        with contextlib.suppress(RegistryError):
            parse_project_page(text.encode(), ctype, page_url=PAGE)


def test_a_lenient_read_keeps_the_good_links_and_names_the_bad() -> None:
    """The index reads pages with ``strict=False``: each bad link alone is refused."""
    body = json.dumps(
        {
            "files": [
                {"filename": "pkg-1.0.tar.gz", "url": FILE, "hashes": {"sha256": SHA}},
                {"filename": "pkg-1.1.tar.gz", "url": "ftp://x/pkg-1.1.tar.gz"},
                {"filename": "pkg-1.2\x1b[2J.tar.gz", "url": "/pkg-1.2.tar.gz"},
                "not an object",
            ]
        }
    ).encode()
    good, scheme, odd, garbage = parse_project_page(body, JSON, page_url=PAGE, strict=False)
    assert (good.filename, good.sha256, good.problem) == ("pkg-1.0.tar.gz", SHA, None)
    assert scheme.problem is not None
    assert "'ftp'" in scheme.problem
    assert odd.problem is not None
    assert "not a plain file name" in odd.problem
    assert garbage.problem == "a file entry is not an object"


@pytest.mark.parametrize(
    ("json_value", "html_attr", "yanked"),
    [
        (None, "", False),
        (False, "", False),
        (True, " data-yanked", True),
        ("broken build", ' data-yanked="broken build"', "broken build"),
        ("", ' data-yanked=""', True),  # PEP 592: the attribute alone yanks
    ],
)
def test_yanked_files_keep_their_reason(
    json_value: object, html_attr: str, yanked: bool | str
) -> None:
    [entry] = parse_project_page(page(yanked=json_value), JSON, page_url=PAGE)
    assert entry.yanked == yanked
    html = f'<a href="{FILE}#sha256={SHA}"{html_attr}>pkg-1.0.tar.gz</a>'
    [entry] = parse_project_page(html.encode(), "text/html", page_url=PAGE)
    assert entry.yanked == yanked


@pytest.mark.parametrize("ctype", ["application/octet-stream", "image/png", ""])
def test_a_page_of_another_type_is_refused(ctype: str) -> None:
    with pytest.raises(RegistryError, match="not a simple API page"):
        parse_project_page(page(), ctype, page_url=PAGE)
