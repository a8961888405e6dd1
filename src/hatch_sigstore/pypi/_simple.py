"""A project page of a PEP 503/691 simple index, with PEP 740 provenance links, read warily.

PEP 691 JSON (``application/vnd.pypi.simple.v1+json``) is asked for first; an index that only
speaks HTML gets the PEP 503 page, whose links carry ``#sha256=…``, ``data-provenance`` and
``data-yanked`` (warehouse ``templates/api/simple/detail.html``). Files may live on another
host (PyPI serves them from files.pythonhosted.org): that is allowed, since every file is
checked against the page's sha256 and its attestation, unless the caller names the hosts it
allows (``allowed``). A link that is not http(s), that carries credentials, that goes from
https down to http, whose last path segment is not the file's name, or whose name or sha256 is
unusable is hostile: by default the whole page is refused (fail closed: ``download``), or, with
``strict=False``, that one file carries its ``problem`` and the rest of the page stands (the
index, which lists each file on its own merits). ``html.parser`` only: no entity bombs, no
network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import NamedTuple
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from hatch_sigstore._names import is_safe_filename
from hatch_sigstore.errors import RegistryError

__all__ = ["ACCEPT", "MAX_PAGE_BYTES", "IndexedFile", "parse_project_page"]

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = ("text/html", "application/vnd.pypi.simple.v1+html")
ACCEPT = f"{SIMPLE_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
MAX_PAGE_BYTES = 32 * 1024 * 1024
MAX_FILES = 200_000
_SHA256 = re.compile(r"\A[0-9a-fA-F]{64}\Z")


@dataclass(frozen=True)
class IndexedFile:
    """One file of a project page. ``provenance`` is the PEP 740 URL, ``None`` when the index
    says the file has none, and ``""`` when the index does not speak PEP 740 at all.
    ``yanked``: PEP 592, with the reason when the index gives one. ``problem``: why this link
    is unusable (only on a page read with ``strict=False``; its other fields are then what
    could be read, not to be trusted)."""

    filename: str
    url: str
    sha256: str | None
    provenance: str | None = ""
    requires_python: str | None = None
    yanked: bool | str = False
    problem: str | None = None


class _BadLinkError(Exception):
    """Why one link of a page is unusable."""


def _refuse(page_url: str, why: str) -> RegistryError:
    return RegistryError(
        f"Refusing the simple index page {page_url}: {why}.",
        remediation="A PEP 503/691 index links each file by its own name over http(s); check "
        "--index-url, and that nothing between you and the index rewrites its pages.",
    )


Allowed = Callable[[str], str | None]  # why a URL may not be fetched, or None


def _check_url(url: str, page_url: str, what: str, allowed: Allowed | None) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        raise _BadLinkError(f"a {what} contains control characters or backslashes")
    absolute = urljoin(page_url, url)
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _BadLinkError(f"a {what} uses the scheme {parts.scheme!r}")
    if parts.username is not None or parts.password is not None:
        raise _BadLinkError(f"a {what} carries credentials")
    if urlsplit(page_url).scheme == "https" and parts.scheme != "https":
        raise _BadLinkError(f"a {what} goes from https down to plain http")
    refusal = allowed(absolute) if allowed is not None else None
    if refusal is not None:
        raise _BadLinkError(f"a {what} {refusal}")
    return absolute


def _yanked(value: object) -> bool | str:
    """PEP 592/691: ``true`` or a reason (an empty reason still yanks)."""
    if isinstance(value, str):
        return value or True
    return bool(value)


class _Entry(NamedTuple):
    """One file entry as the page gives it (JSON fields or an anchor's), nothing trusted yet."""

    filename: object
    url: object
    sha256: object
    provenance: object
    requires_python: object
    yanked: object


def _file(entry: _Entry, page_url: str, allowed: Allowed | None) -> IndexedFile:
    filename, url, sha256, provenance, requires_python, yanked = entry
    if not isinstance(filename, str) or not isinstance(url, str):
        raise _BadLinkError("a file entry has no file name or URL")
    if not is_safe_filename(filename):
        raise _BadLinkError(f"the file name {filename[:80]!r} is not a plain file name")
    absolute = _check_url(url, page_url, "file link", allowed)
    parts = urlsplit(absolute)
    last = unquote(parts.path.rsplit("/", 1)[-1])
    if last != filename:
        raise _BadLinkError(f"{filename!r} is linked to a URL for another file ({last[:80]!r})")
    digest: str | None = None
    if isinstance(sha256, str) and sha256:
        if not _SHA256.match(sha256):
            raise _BadLinkError(f"the sha256 of {filename!r} is not 64 hex digits")
        digest = sha256.lower()
    prov: str | None
    if provenance is None:
        prov = None
    elif isinstance(provenance, str) and provenance:
        prov = _check_url(provenance, page_url, "provenance link", allowed)
    else:
        prov = ""
    return IndexedFile(
        filename=filename,
        url=urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")),
        sha256=digest,
        provenance=prov,
        requires_python=requires_python.strip() or None
        if isinstance(requires_python, str)
        else None,
        yanked=_yanked(yanked),
    )


class _Reader:
    """One page's entries: each checked, a bad one refusing the page (``strict``) or kept
    with its problem."""

    def __init__(self, page_url: str, *, strict: bool, allowed: Allowed | None) -> None:
        self.page_url, self.strict, self.allowed = page_url, strict, allowed
        self.files: list[IndexedFile] = []

    def add(self, entry: _Entry) -> None:
        try:
            self.files.append(_file(entry, self.page_url, self.allowed))
        except _BadLinkError as bad:
            if self.strict:
                raise _refuse(self.page_url, str(bad)) from None
            self.files.append(
                IndexedFile(
                    entry.filename if isinstance(entry.filename, str) else "",
                    entry.url if isinstance(entry.url, str) else "",
                    None,
                    problem=str(bad),
                )
            )


def _from_json(text: str, reader: _Reader) -> None:
    page_url = reader.page_url
    try:
        data = json.loads(text)
    except ValueError:
        raise _refuse(page_url, "the PEP 691 page is not JSON") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        raise _refuse(page_url, "the PEP 691 page has no 'files' list")
    if len(files) > MAX_FILES:
        raise _refuse(page_url, f"the page lists more than {MAX_FILES} files")
    for entry in files:
        if not isinstance(entry, dict):
            if reader.strict:
                raise _refuse(page_url, "a file entry is not an object")
            reader.files.append(IndexedFile("", "", None, problem="a file entry is not an object"))
            continue
        hashes = entry.get("hashes")
        reader.add(
            _Entry(
                entry.get("filename"),
                entry.get("url"),
                hashes.get("sha256") if isinstance(hashes, dict) else None,
                entry.get("provenance", ""),  # absent: the index predates PEP 740
                entry.get("requires-python"),
                entry.get("yanked"),
            )
        )


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[dict[str, str | None], list[str]]] = []
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        if len(self.links) >= MAX_FILES:
            raise RegistryError(f"The simple index page has more than {MAX_FILES} links.")
        self._text = []
        self.links.append((dict(attrs), self._text))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def _from_html(text: str, reader: _Reader) -> None:
    parser = _Links()
    try:
        parser.feed(text)
        parser.close()
    except RegistryError:
        raise
    except Exception as exc:  # html.parser is lenient; anything it raises means garbage
        raise _refuse(
            reader.page_url, f"the page is not parseable HTML ({type(exc).__name__})"
        ) from None
    for attrs, words in parser.links:
        href = attrs.get("href")
        if not href:
            continue
        fragment = urlsplit(href).fragment
        algo, _, value = fragment.partition("=")
        reader.add(
            _Entry(
                "".join(words).strip(),
                href,
                value if algo == "sha256" else None,
                attrs.get("data-provenance") or "",
                attrs.get("data-requires-python"),
                (attrs["data-yanked"] or True) if "data-yanked" in attrs else False,
            )
        )


def parse_project_page(
    body: bytes,
    content_type: str,
    *,
    page_url: str,
    strict: bool = True,
    allowed: Allowed | None = None,
) -> list[IndexedFile]:
    """The files of a project page, PEP 691 JSON or PEP 503 HTML by ``content_type``.

    ``strict``: one hostile link refuses the page (else it comes back with its ``problem``).
    ``allowed``: the caller's rule for where files and provenance may be fetched from.
    """
    if len(body) > MAX_PAGE_BYTES:
        raise _refuse(page_url, f"the page is larger than {MAX_PAGE_BYTES} bytes")
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    if "json" not in media and media not in SIMPLE_HTML:
        raise _refuse(page_url, f"it is {media or 'untyped'!r}, not a simple API page")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(page_url, "the page is not UTF-8") from None
    reader = _Reader(page_url, strict=strict, allowed=allowed)
    if "json" in media:
        _from_json(text, reader)
    else:
        _from_html(text, reader)
    return reader.files
