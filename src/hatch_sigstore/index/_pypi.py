"""A PyPI-compatible upstream: the PEP 691 JSON simple API (PEP 503 HTML as a fallback) with
PEP 740 provenance URLs, file downloads, and provenance documents.

Hostile pages are expected: a link to another host (unless named in ``file-hosts``), with
credentials, with an unusable hash or an odd file name is refused on its own (the rest of the
page stands); pages and provenance are size-capped; credentials go only to the index's own
origin, never to a file host or a redirect target elsewhere.

To be replaced by the ``pypi/`` registry client (issue 13) once it exists: only this module and
``_gitlab``'s client touch HTTP in the index.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx

from hatch_sigstore.__about__ import __version__
from hatch_sigstore.index._link import Link
from hatch_sigstore.index._names import printable, valid_filename
from hatch_sigstore.index._sources import RegistryError, redact
from hatch_sigstore.index.config import PyPIUpstream

__all__ = ["MAX_PAGE_BYTES", "PyPIClient"]

MAX_PAGE_BYTES = 32 * 1024 * 1024  # large PyPI projects' JSON pages run to a few MB
MAX_PROVENANCE_BYTES = 4 * 1024 * 1024
MAX_REDIRECTS = 5
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
_SHA256 = re.compile(r"\A[0-9a-fA-F]{64}\Z")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port


class PyPIClient:
    def __init__(self, upstream: PyPIUpstream, *, env: Mapping[str, str], timeout: float) -> None:
        self.upstream = upstream
        self.index_url = upstream.index_url
        token = env.get(upstream.token_env) if upstream.token_env else None
        self._secrets: tuple[str, ...] = ()
        self._auth: dict[str, str] = {}
        if token:
            basic = base64.b64encode(f"{upstream.username or '__token__'}:{token}".encode())
            self._auth = {"Authorization": "Basic " + basic.decode("ascii")}
            self._secrets = (token, basic.decode("ascii"))
        self.timeout = timeout
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            headers={"User-Agent": f"hatch-sigstore-index/{__version__}"},
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def close(self) -> None:
        self._http.close()

    # -- where a URL may point --------------------------------------------------------------

    def _index_origin(self, url: str) -> bool:
        return _origin(url) == _origin(self.index_url)

    def _allowed(self, url: str) -> str | None:
        """Why the index must not fetch ``url``, or None."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return f"it uses the scheme {printable(parts.scheme)!r}"
        if parts.username is not None or parts.password is not None:
            return "its URL carries credentials"
        if self._index_origin(url):
            return None
        host = (parts.hostname or "").lower()
        named = host in self.upstream.file_hosts or parts.netloc.lower() in self.upstream.file_hosts
        if not named:
            return (
                f"it points to another host ({printable(parts.netloc)}), not named in "
                f"upstream.{self.upstream.name}.file-hosts"
            )
        if parts.scheme != "https" and urlsplit(self.index_url).scheme == "https":
            return "it downgrades from https to http"
        return None

    def _headers_for(self, url: str) -> dict[str, str]:
        return dict(self._auth) if self._index_origin(url) else {}

    @contextlib.contextmanager
    def _open(self, url: str, accept: str | None = None) -> Iterator[httpx.Response]:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            problem = self._allowed(current)
            if problem is not None:
                raise RegistryError(f"Refusing to fetch {printable(current)}: {problem}.")
            headers = self._headers_for(current)
            if accept:
                headers["Accept"] = accept
            try:
                with self._http.stream("GET", current, headers=headers) as response:
                    if not response.is_redirect:
                        yield response
                        return
                    location = response.headers.get("location", "")
            except httpx.HTTPError as exc:
                raise RegistryError(
                    self._redact(f"Could not fetch {current}: {type(exc).__name__}: {exc}.")
                ) from None
            current = urljoin(current, location)
        raise RegistryError(f"Too many redirects fetching {url}.")

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _read(self, url: str, limit: int, accept: str | None) -> tuple[int, str, str, bytes]:
        """(status, final URL, content type, body) of a small document."""
        end = time.monotonic() + max(30.0, 2 * self.timeout)
        with self._open(url, accept) as response:
            body = bytearray()
            try:
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise RegistryError(
                            f"{url} answered more than {limit} bytes; refusing the page."
                        )
                    if time.monotonic() > end:
                        raise RegistryError(f"{url} did not finish its answer in time.")
            except httpx.HTTPError as exc:
                raise RegistryError(self._redact(f"Could not read {url}: {exc}.")) from None
            ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
            return response.status_code, str(response.url), ctype, bytes(body)

    # -- the simple API ----------------------------------------------------------------------

    def list_files(self, name: str) -> list[Link]:
        """The links of ``name``'s project page (empty when the index has no such project)."""
        url = f"{self.index_url}{name}/"
        status, final, ctype, body = self._read(url, MAX_PAGE_BYTES, ACCEPT)
        if status == 404:
            return []
        if status != 200:
            raise RegistryError(
                f"The upstream index {self.upstream.name} answered HTTP {status} for {url}.",
                status=status,
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise RegistryError(f"The page {url} is not UTF-8.") from None
        if ctype == "application/vnd.pypi.simple.v1+json":
            return self._from_json(text, final)
        if ctype in ("text/html", "application/vnd.pypi.simple.v1+html"):
            return self._from_html(text, final)
        raise RegistryError(
            f"The upstream index {self.upstream.name} answered {printable(ctype or 'no type')} "
            f"for {url}, not a simple API page."
        )

    def _link(
        self,
        page: str,
        *,
        filename: object,
        href: object,
        sha256: object,
        requires_python: object,
        yanked: object,
        provenance: object,
    ) -> Link:
        name = filename if isinstance(filename, str) else ""
        if not isinstance(href, str) or not href:
            return Link(name, "", None, problem="the link has no URL")
        absolute = urljoin(page, href)
        parts = urlsplit(absolute)
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
        if not name:
            name = parts.path.rsplit("/", 1)[-1]
        problem = None
        if not valid_filename(name):
            problem = "the file name has characters no wheel or sdist name has"
        elif unquote(parts.path.rsplit("/", 1)[-1]) != name:
            problem = "its URL names another file than its file name"
        else:
            problem = self._allowed(url)
        sha = sha256.lower() if isinstance(sha256, str) and _SHA256.match(sha256) else None
        if problem is None and sha is None:
            problem = "the index gives no valid sha256 for it, so its bytes cannot be checked"
        prov = None
        if isinstance(provenance, str) and provenance:
            prov = urljoin(page, provenance)
        return Link(
            name,
            url,
            sha,
            requires_python.strip() or None if isinstance(requires_python, str) else None,
            yanked if isinstance(yanked, (bool, str)) else False,
            prov,
            problem,
        )

    def _from_json(self, text: str, page: str) -> list[Link]:
        try:
            document = json.loads(text)
        except ValueError:
            raise RegistryError(f"The page {page} is not JSON.") from None
        files = document.get("files") if isinstance(document, dict) else None
        if not isinstance(files, list):
            raise RegistryError(f"The page {page} has no 'files' list (PEP 691).")
        links = []
        for entry in files:
            if not isinstance(entry, dict):
                continue
            hashes = entry.get("hashes")
            sha = hashes.get("sha256") if isinstance(hashes, dict) else None
            links.append(
                self._link(
                    page,
                    filename=entry.get("filename"),
                    href=entry.get("url"),
                    sha256=sha,
                    requires_python=entry.get("requires-python"),
                    yanked=entry.get("yanked", False),
                    provenance=entry.get("provenance"),
                )
            )
        return links

    def _from_html(self, text: str, page: str) -> list[Link]:
        collector = _Anchors()
        try:
            collector.feed(text)
            collector.close()
        except Exception as exc:  # html.parser is lenient; anything it raises means garbage
            raise RegistryError(f"The page {page} is not parseable HTML ({exc}).") from None
        links = []
        for attrs, label in collector.anchors:
            href = attrs.get("href") or ""
            fragment = urlsplit(urljoin(page, href)).fragment
            algo, _, value = fragment.partition("=")
            yanked: bool | str = False
            if "data-yanked" in attrs:
                yanked = attrs["data-yanked"] or True
            links.append(
                self._link(
                    page,
                    filename=label.strip() or None,
                    href=href,
                    sha256=value if algo == "sha256" else None,
                    requires_python=attrs.get("data-requires-python"),
                    yanked=yanked,
                    provenance=attrs.get("data-provenance"),
                )
            )
        return links

    # -- files and provenance ----------------------------------------------------------------

    def download(self, url: str, dest: Path, *, max_bytes: int, deadline: float) -> str:
        """Stream ``url`` into ``dest`` (atomically); its sha256. Capped in size and time."""
        end = time.monotonic() + deadline
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            total = 0
            with os.fdopen(fd, "wb") as out, self._open(url) as response:
                if response.status_code != 200:
                    raise RegistryError(
                        f"The upstream answered HTTP {response.status_code} for {url}.",
                        status=response.status_code,
                    )
                try:
                    for chunk in response.iter_bytes():
                        total += len(chunk)
                        if total > max_bytes:
                            raise RegistryError(
                                f"{url} sent more than {max_bytes} bytes (max-file-size)."
                            )
                        if time.monotonic() > end:
                            raise RegistryError(f"{url} did not finish within {deadline:g} s.")
                        digest.update(chunk)
                        out.write(chunk)
                except httpx.HTTPError as exc:
                    raise RegistryError(self._redact(f"Could not download {url}: {exc}.")) from None
            os.replace(tmp, dest)
            return digest.hexdigest()
        finally:
            tmp.unlink(missing_ok=True)

    def provenance(self, url: str) -> tuple[bytes, list[bytes]]:
        """A PEP 740 provenance document as served, and its attestations (JSON each)."""
        status, _final, _ctype, body = self._read(url, MAX_PROVENANCE_BYTES, "application/json")
        if status == 404:
            return b"", []
        if status != 200:
            raise RegistryError(f"The upstream answered HTTP {status} for the provenance {url}.")
        try:
            document: Any = json.loads(body)
        except ValueError:
            raise RegistryError(f"The provenance at {url} is not JSON.") from None
        bundles = document.get("attestation_bundles") if isinstance(document, dict) else None
        if document.get("version") != 1 or not isinstance(bundles, list):
            raise RegistryError(
                f"The provenance at {url} is not a PEP 740 provenance object (version 1 with "
                "attestation_bundles)."
            )
        out: list[bytes] = []
        for bundle in bundles:
            attestations = bundle.get("attestations") if isinstance(bundle, dict) else None
            if isinstance(attestations, list):
                out.extend(json.dumps(a).encode() for a in attestations if isinstance(a, dict))
        return body, out


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._text: list[str] | None = None
        self._attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            if len(self.anchors) >= 200_000:
                raise ValueError("too many links")
            self._attrs, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._text is not None:
            self.anchors.append((self._attrs, "".join(self._text)))
            self._text = None
