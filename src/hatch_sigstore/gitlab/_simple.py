"""Parse GitLab's PEP 503 simple index pages, refusing anything a hostile server could abuse.

GitLab's page (gitlab-org/gitlab ``app/presenters/packages/pypi/``
``simple_package_versions_presenter.rb``): one ``<a href=".../files/<sha256>/<file>#sha256=<sha256>"
data-requires-python="...">file</a>`` per installable file, an absolute URL built on the
instance's ``external_url``, which may differ from the address the client typed (an alias host
or port). We resolve each href against the page URL and refuse the whole page (fail closed) when
a link points to another scheme or to an origin other than the page's or the configured GitLab
server's, when its path has traversal or encoded separators, when a file name has odd
characters, or when a hash fragment is malformed. ``html.parser`` only: no entity expansion
bombs, no network, no DTDs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from hatch_sigstore._names import is_safe_filename
from hatch_sigstore._urls import origin, same_origin
from hatch_sigstore.errors import RegistryError

__all__ = ["MAX_INDEX_BYTES", "IndexFile", "parse_simple_index"]

MAX_INDEX_BYTES = 16 * 1024 * 1024
MAX_LINKS = 100_000
_SHA256_RE = re.compile(r"\A[0-9a-fA-F]{64}\Z")


@dataclass(frozen=True)
class IndexFile:
    """One file on a simple index page. ``url`` has no fragment; ``sha256`` is lower-case hex, or
    ``None`` when the index gives none (GitLab does that for files uploaded without a digest)."""

    filename: str
    url: str
    sha256: str | None
    requires_python: str | None = None


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str | None, list[str]]] = []  # href, requires_python, text
        self._current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        values = dict(attrs)
        href = values.get("href")
        if href is None:
            return
        if len(self.links) >= MAX_LINKS:
            raise RegistryError(
                f"The simple index has more than {MAX_LINKS} links; refusing to process it."
            )
        text: list[str] = []
        self.links.append((href, values.get("data-requires-python"), text))
        self._current = text

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)


def _refuse(page_url: str, why: str) -> RegistryError:
    return RegistryError(
        f"Refusing the simple index at {page_url}: {why}.",
        remediation=(
            "A GitLab PyPI index only links to files on the same server; check that the URL is "
            "your GitLab instance's API v4 URL and that nothing between you and it rewrites pages."
        ),
    )


def parse_simple_index(
    html: str, *, page_url: str, link_origins: Sequence[str] = ()
) -> list[IndexFile]:
    """Parse a PEP 503 project page. Raises :class:`RegistryError` on any hostile link.

    Links may point at the page's origin or at one of ``link_origins`` (the configured GitLab
    server: its ``external_url``).
    """
    if len(html) > MAX_INDEX_BYTES:
        raise _refuse(page_url, f"the page is larger than {MAX_INDEX_BYTES} bytes")
    parser = _LinkCollector()
    try:
        parser.feed(html)
        parser.close()
    except RegistryError:
        raise
    except Exception as exc:  # html.parser is lenient; anything it raises means garbage
        raise _refuse(page_url, f"the page is not parseable HTML ({type(exc).__name__})") from None
    files: list[IndexFile] = []
    allowed = (page_url, *link_origins)
    for href, requires_python, _text in parser.links:
        files.append(_parse_link(href, requires_python, page_url, allowed))
    return files


def _other_origin(page_url: str, link: str, allowed: Sequence[str]) -> RegistryError:
    """A link on another origin: most often the instance's external_url, when the API URL
    given is another name for the same GitLab. Say exactly that."""
    here, there = origin(page_url), origin(link)
    also = [origin(u) for u in allowed[1:] if not same_origin(u, page_url)]
    accepted = " or ".join([here, *also])
    return RegistryError(
        f"Refusing the simple index at {here}: it links its files to another host, {there}, "
        f"not to {accepted}. GitLab builds these links on its external_url: when the API URL "
        "you gave is another name for the same instance (an alias host, a port, a proxy), "
        f"{there} is its real address.",
        remediation=f"If {there} is this GitLab, use its API URL ({there}/api/v4: --url, -o "
        f"url=, CI_API_V4_URL), or name it as the GitLab server (CI_SERVER_URL={there}; "
        f"download --server {there}). Otherwise the index is not trustworthy: files must come "
        "from the registry you asked.",
    )


def _parse_link(
    href: str, requires_python: str | None, page_url: str, allowed: Sequence[str]
) -> IndexFile:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in href) or "\\" in href:
        raise _refuse(page_url, "a link contains control characters or backslashes")
    absolute = urljoin(page_url, href)
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https"):
        raise _refuse(page_url, f"a link uses the scheme {parts.scheme!r}")
    if not any(same_origin(absolute, home) for home in allowed):
        raise _other_origin(page_url, absolute, allowed)
    if parts.username is not None or parts.password is not None:
        raise _refuse(page_url, "a link carries credentials")
    raw_segments = parts.path.split("/")
    for segment in raw_segments:
        decoded = unquote(segment)
        if decoded in (".", "..") or "/" in decoded or "\\" in decoded or "\x00" in decoded:
            raise _refuse(page_url, "a link's path contains traversal or encoded separators")
    filename = unquote(raw_segments[-1])
    if not is_safe_filename(filename):
        raise _refuse(
            page_url, f"the file name {filename[:80]!r} has characters a package file cannot have"
        )
    sha256: str | None = None
    fragment = parts.fragment
    if fragment:
        algo, _, value = fragment.partition("=")
        if algo == "sha256":
            if value == "":
                sha256 = None  # GitLab's link for a file uploaded without sha256_digest
            elif _SHA256_RE.match(value):
                sha256 = value.lower()
            else:
                raise _refuse(page_url, f"the sha256 fragment of {filename!r} is not 64 hex digits")
    if requires_python is not None:
        requires_python = requires_python.strip() or None
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
    return IndexFile(filename=filename, url=url, sha256=sha256, requires_python=requires_python)
