"""Reading an index as a consumer: a project's files, their PEP 740 provenance, the files.

* :meth:`Reads.project_files`: the project page, PEP 691 JSON preferred, PEP 503 HTML else
  (a hostile link refuses the page, or with ``strict=False`` only itself);
* :meth:`Reads.provenance`: the provenance object of one file (``warehouse/api/integrity.py``:
  ``application/vnd.pypi.integrity.v1+json``), from the page's link or, for an index that
  gives none, the integrity API beside the simple API; ``None`` when the index has none;
* :meth:`Reads.download`: one file streamed to disk, capped in size and time, its sha256
  computed on the way, placed atomically (a temporary file beside the destination, renamed).

Reads of a public index are anonymous; a private index's read credentials go only to its
origin, and ``file_hosts`` limits where any read may go (:mod:`._core`).
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import httpx

from hatch_sigstore._net._http import DIGITS_RE, read_capped
from hatch_sigstore._net._outcomes import Downloaded
from hatch_sigstore._net._retry import is_retryable_status
from hatch_sigstore._net._save import save_stream
from hatch_sigstore._net._uploads import ProgressCallback
from hatch_sigstore.pypi._core import IndexCore
from hatch_sigstore.pypi._errors import ERROR_BODY_LIMIT, PyPIError
from hatch_sigstore.pypi._simple import ACCEPT, MAX_PAGE_BYTES, IndexedFile, parse_project_page

__all__ = ["INTEGRITY_JSON", "PROVENANCE_MAX_BYTES", "Reads"]

INTEGRITY_JSON = "application/vnd.pypi.integrity.v1+json"
PROVENANCE_MAX_BYTES = 4 * 1024 * 1024  # a provenance object is a few kB per attestation


class Reads(IndexCore):
    """The consumer half of :class:`~hatch_sigstore.pypi.IndexClient`."""

    def project_files(self, name: str, *, strict: bool = True) -> list[IndexedFile] | None:
        """The files on ``name``'s project page; ``None`` when the index has no such project.

        ``strict``: a hostile link refuses the whole page; else that file alone comes back
        with its ``problem`` (a link to a host ``file_hosts`` does not name is one)."""
        url = self.urls.simple_url(name)
        action = f"reading {self.urls.name}'s simple index for {name!r}"
        response, body = self._get(url, action=action, limit=MAX_PAGE_BYTES, accept=ACCEPT)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._read_error(response, body, action)
        return parse_project_page(
            body,
            response.headers.get("content-type", ""),
            page_url=str(response.url),
            strict=strict,
            allowed=self.refusal,
        )

    def integrity_url(self, name: str, version: str, filename: str) -> str:
        parts = (name, version, filename)
        return (
            f"{self.urls.base}integrity/"
            + "/".join(quote(p, safe="") for p in parts)
            + ("/provenance")
        )

    def provenance(self, url: str, filename: str) -> bytes | None:
        """The provenance object at ``url`` (raw JSON), or ``None`` when the index has none."""
        action = f"fetching the provenance of {filename}"
        response, body = self._get(
            url,
            action=action,
            limit=PROVENANCE_MAX_BYTES,
            accept=f"{INTEGRITY_JSON}, application/json;q=0.9",
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._read_error(response, body, action)
        return body

    def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int,
        deadline: float,
        progress: ProgressCallback | None = None,
    ) -> Downloaded:
        """Stream ``url`` into ``dest`` (atomically), at most ``max_bytes`` and ``deadline``
        seconds; retries transient failures. The caller compares the sha256."""
        end = time.monotonic() + deadline
        action = f"downloading {dest.name}"

        def attempt() -> Downloaded:
            try:
                return self._download_once(url, dest, max_bytes, end, action, progress)
            except httpx.TransportError as exc:
                if time.monotonic() > end:
                    raise self._transport_error(exc, action, url, 1) from None
                raise self._retry_transport(exc) from None

        return self._retrying(attempt, action, url)

    def _download_once(  # noqa: PLR0917
        self,
        url: str,
        dest: Path,
        max_bytes: int,
        end: float,
        action: str,
        progress: ProgressCallback | None,
    ) -> Downloaded:
        with self._open(url, action=action) as response:
            if response.status_code != 200:
                body, _ = read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)
                error = self._read_error(response, body, action)
                if is_retryable_status(response.status_code):
                    raise self._status_retry(response, error)
                raise error
            declared = response.headers.get("content-length", "")
            if DIGITS_RE.match(declared) and int(declared) > max_bytes:
                raise self._too_big(url, dest, max_bytes)
            return save_stream(
                response.iter_bytes(),
                dest,
                max_bytes=max_bytes,
                end=end,
                progress=progress,
                too_big=lambda: self._too_big(url, dest, max_bytes),
                too_slow=lambda: PyPIError(
                    self._redact(f"{dest.name} from {url} did not arrive in time."),
                    remediation="The server is too slow or never ends the response; "
                    "raise --timeout if the link is just slow.",
                ),
            )

    def _too_big(self, url: str, dest: Path, max_bytes: int) -> PyPIError:
        return PyPIError(
            self._redact(f"{url} sends more than {max_bytes} bytes for {dest.name}; aborted."),
            remediation="No real package is that large; raise --max-size if this one is.",
        )
