"""The simple repository API the index serves: PEP 503 HTML and PEP 691 JSON, chosen by
``Accept`` as warehouse chooses (``warehouse/api/simple.py``: WebOb's ``acceptable_offers``
over text/html, v1+html, v1+json; the most specific media range gives an offer its q; q=0
refuses it; ties keep that order; nothing acceptable, or no header, gives text/html).
Pages carry ``data-requires-python``, ``#sha256=``, PEP 592 ``data-yanked`` and PEP 740
``data-provenance`` (``provenance`` in JSON); file URLs are relative and point at this index.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable

from hatch_sigstore.index._catalog import ProjectPage, ServedFile

__all__ = ["HTML", "JSON", "V1_HTML", "choose_content_type", "render_index", "render_project"]

HTML = "text/html"
V1_HTML = "application/vnd.pypi.simple.v1+html"
V1_JSON = "application/vnd.pypi.simple.v1+json"
JSON = V1_JSON
OFFERS = (HTML, V1_HTML, V1_JSON)
_ALIASES = {
    "application/vnd.pypi.simple.latest+html": V1_HTML,
    "application/vnd.pypi.simple.latest+json": V1_JSON,
}
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_RANGE = re.compile(rf"\A\s*({_TCHARS})/({_TCHARS})\s*\Z")
_QVALUE = re.compile(r"\A(0(\.\d{0,3})?|1(\.0{0,3})?)\Z")
API_VERSION = "1.1"  # PEP 700: versions, size; 1.3 (PEP 740) when a file has provenance


def _parse_accept(header: str) -> list[tuple[str, str, float, bool]] | None:
    """(type, subtype, q, has-params) per media range; None for an invalid header."""
    ranges = []
    for item in header.split(","):
        if not item.strip():
            continue
        media, *params = item.split(";")
        match = _RANGE.match(media)
        if match is None:
            return None
        q, extra = 1.0, False
        for param in params:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                if not _QVALUE.match(value.strip()):
                    return None
                q = float(value)
                break  # what follows q are accept-extensions
            extra = True
        full = _ALIASES.get(f"{match.group(1)}/{match.group(2)}".lower())
        kind, sub = full.split("/") if full else (match.group(1).lower(), match.group(2).lower())
        ranges.append((kind, sub, q, extra))
    return ranges


def choose_content_type(accept: str | None) -> str:
    """The type to answer with for this ``Accept`` header."""
    if accept is None:
        return HTML
    ranges = _parse_accept(accept)
    if ranges is None:
        return HTML  # WebOb treats an invalid header as absent: every offer is acceptable
    acceptable: list[tuple[float, int, str]] = []
    for order, offer in enumerate(OFFERS):
        kind, sub = offer.split("/")
        best: tuple[int, float] | None = None
        for rkind, rsub, q, extra in ranges:
            if extra:
                continue  # a range with parameters never matches a parameterless offer
            if (rkind, rsub) == (kind, sub):
                specificity = 3
            elif rkind == kind and rsub == "*":
                specificity = 2
            elif (rkind, rsub) == ("*", "*"):
                specificity = 1
            else:
                continue
            if best is None or specificity > best[0]:
                best = (specificity, q)
        if best is not None and best[1] > 0:
            acceptable.append((-best[1], order, offer))
    return min(acceptable)[2] if acceptable else HTML


def content_type_header(content_type: str) -> str:
    return f"{content_type}; charset=utf-8" if content_type == HTML else content_type


def _file_url(served: ServedFile) -> str:
    # relative to /simple/NAME/: works behind any host name or path prefix
    return f"../../files/{served.sha256}/{served.filename}"


def _provenance_url(served: ServedFile) -> str:
    return f"../../provenance/{served.sha256}/{served.filename}"


def _version(page: ProjectPage, sizes: dict[str, int]) -> str:
    if any(f.sha256 not in sizes for f in page.files):
        return "1.0"  # pass-through files not fetched yet: no PEP 700 size to give
    return "1.3" if any(f.provenance for f in page.files) else API_VERSION


def render_project(page: ProjectPage, content_type: str, sizes: dict[str, int]) -> bytes:
    if content_type == V1_JSON:
        files = []
        for served in page.files:
            entry: dict[str, object] = {
                "filename": served.filename,
                "url": _file_url(served),
                "hashes": {"sha256": served.sha256},
                "yanked": served.yanked,
            }
            if served.requires_python:
                entry["requires-python"] = served.requires_python
            if served.sha256 in sizes:
                entry["size"] = sizes[served.sha256]
            if served.provenance:
                entry["provenance"] = _provenance_url(served)
            files.append(entry)
        document = {
            "meta": {"api-version": _version(page, sizes)},
            "name": page.name,
            "versions": page.versions,
            "files": files,
        }
        return json.dumps(document, indent=1).encode()
    links = []
    for served in page.files:
        attrs = f'href="{html.escape(_file_url(served))}#sha256={served.sha256}"'
        if served.requires_python:
            attrs += f' data-requires-python="{html.escape(served.requires_python)}"'
        if served.yanked is not False:
            reason = served.yanked if isinstance(served.yanked, str) else ""
            attrs += f' data-yanked="{html.escape(reason)}"'
        if served.provenance:
            attrs += f' data-provenance="{html.escape(_provenance_url(served))}"'
        links.append(f"    <a {attrs}>{html.escape(served.filename)}</a><br />\n")
    return _page(f"Links for {page.name}", "".join(links), _version(page, sizes))


def render_index(names: Iterable[str], content_type: str) -> bytes:
    names = sorted(set(names))
    if content_type == V1_JSON:
        document = {"meta": {"api-version": API_VERSION}, "projects": [{"name": n} for n in names]}
        return json.dumps(document, indent=1).encode()
    links = "".join(f'    <a href="{html.escape(n)}/">{html.escape(n)}</a><br />\n' for n in names)
    return _page("Simple index", links, API_VERSION)


def _page(title: str, body: str, version: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{version}">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"    <h1>{html.escape(title)}</h1>\n{body}  </body>\n</html>\n"
    ).encode()
