"""The simple API's rendering and content negotiation (as warehouse negotiates)."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hatch_sigstore.index._catalog import ProjectPage, ServedFile
from hatch_sigstore.index._simple import (
    HTML,
    V1_HTML,
    V1_JSON,
    choose_content_type,
    render_index,
    render_project,
)

SHA = "ab" * 32

# What the installers send (pip: src/pip/_internal/index/collector.py; uv: crates/uv-client).
PIP = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"  # noqa: E501
UV = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"  # noqa: E501


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, HTML),
        ("", HTML),
        (PIP, V1_JSON),
        (UV, V1_JSON),
        ("text/html", HTML),
        ("application/vnd.pypi.simple.v1+html", V1_HTML),
        ("application/vnd.pypi.simple.v1+json", V1_JSON),
        ("application/vnd.pypi.simple.latest+json", V1_JSON),  # PEP 691's alias
        ("*/*", HTML),  # all equal: the server's order
        ("application/*", V1_HTML),
        ("application/*;q=0.5, text/html;q=0.4", V1_HTML),
        ("text/html;q=0.9, application/vnd.pypi.simple.v1+json", V1_JSON),
        ("application/vnd.pypi.simple.v1+json;q=0, */*", HTML),  # q=0 refuses an offer
        ("application/vnd.pypi.simple.v1+json;q=0", HTML),  # nothing acceptable: the default
        ("image/png", HTML),
        ("text/html;level=1", HTML),  # a range with parameters matches no offer
        ("application/json", HTML),
        ("garbage", HTML),  # an invalid header counts as absent
        ("application/vnd.pypi.simple.v1+json;q=2", HTML),  # invalid q: invalid header
        ("application/*;q=0.3, application/vnd.pypi.simple.v1+json;q=0.2", V1_HTML),
    ],
)
def test_negotiation(accept: str | None, expected: str) -> None:
    assert choose_content_type(accept) == expected


@given(st.text(max_size=200))
def test_any_accept_header_gets_one_of_the_offers(accept: str) -> None:
    assert choose_content_type(accept) in (HTML, V1_HTML, V1_JSON)


def _served(
    filename: str = "demo_app-1.0-py3-none-any.whl",
    *,
    requires_python: str | None = ">=3.8,<4",
    yanked: bool | str = False,
    provenance: bool = False,
    sha: str = SHA,
) -> ServedFile:
    return ServedFile(
        filename, sha, requires_python, yanked, True, provenance, "company", "https://up/x"
    )


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs))


def test_html_page() -> None:
    page = ProjectPage(
        "demo-app",
        (
            _served(),
            _served(
                "demo_app-0.9.tar.gz", requires_python=None, yanked="broken <b>", sha="cd" * 32
            ),
            _served("demo_app-1.1-py3-none-any.whl", provenance=True, sha="ef" * 32),
        ),
        verified=True,
    )
    body = render_project(page, HTML, {SHA: 10, "cd" * 32: 11, "ef" * 32: 12}).decode()
    parser = _Links()
    parser.feed(body)
    first, second, third = parser.links
    assert first["href"] == f"../../files/{SHA}/demo_app-1.0-py3-none-any.whl#sha256={SHA}"
    assert first["data-requires-python"] == ">=3.8,<4"  # escaped in the page, this once parsed
    assert "&gt;=3.8,&lt;4" in body
    assert "data-yanked" not in first
    assert "data-requires-python" not in second
    assert second["data-yanked"] == "broken <b>"
    assert "<b>" not in body
    assert third["data-provenance"] == f"../../provenance/{'ef' * 32}/demo_app-1.1-py3-none-any.whl"
    assert '<meta name="pypi:repository-version" content="1.3">' in body
    assert "https://up/x" not in body  # never the upstream's URL


def test_json_page() -> None:
    page = ProjectPage(
        "demo-app", (_served(), _served("demo_app-0.9.tar.gz", yanked=True, sha="cd" * 32)), True
    )
    document = json.loads(render_project(page, V1_JSON, {SHA: 10, "cd" * 32: 11}))
    assert document["meta"] == {"api-version": "1.1"}
    assert document["name"] == "demo-app"
    assert document["versions"] == ["0.9", "1.0"]
    wheel, sdist = document["files"]
    assert wheel == {
        "filename": "demo_app-1.0-py3-none-any.whl",
        "url": f"../../files/{SHA}/demo_app-1.0-py3-none-any.whl",
        "hashes": {"sha256": SHA},
        "requires-python": ">=3.8,<4",
        "size": 10,
        "yanked": False,
    }
    assert sdist["yanked"] is True
    assert "provenance" not in wheel


def test_a_page_without_sizes_claims_no_pep_700() -> None:
    page = ProjectPage("demo-app", (_served(),), verified=False)
    assert json.loads(render_project(page, V1_JSON, {}))["meta"]["api-version"] == "1.0"


def test_root_index() -> None:
    assert json.loads(render_index(["b", "a", "a"], V1_JSON))["projects"] == [
        {"name": "a"},
        {"name": "b"},
    ]
    parser = _Links()
    parser.feed(render_index(["demo-app"], HTML).decode())
    assert parser.links == [{"href": "demo-app/"}]
