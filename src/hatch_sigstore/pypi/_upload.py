"""Uploads to ``/legacy/`` (twine's multipart protocol) with PEP 740 attestations; idempotent.

The form is twine's (``:action=file_upload``, ``protocol_version=1``, the core metadata, the
``sha256_digest``, ``attestations`` as a JSON list, the file last as ``content``), streamed
with the sha256 checked as it goes (:mod:`hatch_sigstore._net._uploads`). Before the first
send the caller asks :meth:`Uploads.release_files` (the JSON API); after an *ambiguous*
failure (a timeout, a reset, a 5xx: the file may have been stored) the client asks it again
before sending: the same sha256 → ``EXISTS_SAME``, absent → send again, different bytes →
refused with PyPI's file-name-reuse rule. Warehouse itself answers an identical re-upload with
200 and stores nothing, so a re-send can never duplicate a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx

from hatch_sigstore._names import is_safe_filename
from hatch_sigstore._net._http import SHA256_RE, check_sha256, json_object, read_capped
from hatch_sigstore._net._outcomes import UploadOutcome
from hatch_sigstore._net._retry import Retry
from hatch_sigstore._net._uploads import (
    ProgressCallback,
    State,
    file_size,
    multipart_body,
    upload_loop,
)
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.pypi._core import JSON_LIMIT, IndexCore
from hatch_sigstore.pypi._errors import ERROR_BODY_LIMIT, PyPIError, upload_error

__all__ = ["Uploads"]

_RESERVED = frozenset({":action", "protocol_version", "content", "sha256_digest", "attestations"})


def different_bytes_error(
    index: str, filename: str, listed: str | None, sha256: str, help_base: str
) -> PyPIError:
    return PyPIError(
        f"{filename} is already on {index} with different contents (sha256 {listed or 'unknown'}; "
        f"local {sha256}). Nothing was sent.",
        remediation="PyPI never replaces a file and never lets a file name be used again, even "
        f"after deletion (file-name-reuse, {help_base}help/#file-name-reuse). Publish a new "
        "version (e.g. a post-release); never re-build a released version.",
        status=400,
    )


class Uploads(IndexCore):
    """The upload half of :class:`~hatch_sigstore.pypi.IndexClient`."""

    def release_files(self, name: str, version: str) -> dict[str, str | None] | None:
        """The files of ``name`` ``version`` on the index, ``filename → sha256`` (JSON API);
        ``None`` when the index has no such project or release."""
        url = self.urls.json_url(name, version)
        action = f"asking {self.urls.name} which files {name} {version} has"
        response, body = self._get(url, action=action, limit=JSON_LIMIT, accept="application/json")
        if response.status_code == 404:
            return None
        data = json_object(body) if response.status_code == 200 else None
        if data is None:
            raise self._read_error(response, body, action)
        listed = data.get("urls")
        if not isinstance(listed, list):
            raise PyPIError(
                self._redact(f"{url} answered JSON without a 'urls' list while {action}."),
                remediation="Check the index URL: a warehouse JSON API lists a release's files.",
            )
        files: dict[str, str | None] = {}
        for entry in listed:
            if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
                continue
            digests = entry.get("digests")
            sha = digests.get("sha256") if isinstance(digests, dict) else None
            ok = isinstance(sha, str) and SHA256_RE.match(sha.lower())
            files[entry["filename"]] = sha.lower() if ok and isinstance(sha, str) else None
        return files

    def file_state(self, name: str, version: str, filename: str, sha256: str) -> State:
        """Is ``filename`` on the index? Raises when it holds other bytes under that name."""
        files = self.release_files(name, version) or {}
        if filename not in files:
            return "absent"
        if files[filename] == sha256:
            return "same"
        raise different_bytes_error(
            self.urls.name, filename, files[filename], sha256, self.urls.base
        )

    def upload(
        self,
        path: Path,
        *,
        name: str,
        version: str,
        sha256: str,
        metadata: Sequence[tuple[str, str]],
        attestations: Sequence[str] = (),
        progress: ProgressCallback | None = None,
    ) -> UploadOutcome:
        """Upload a wheel or sdist with its metadata fields and attestations (JSON texts).

        ``sha256`` is checked while streaming and sent as ``sha256_digest``.
        """
        if self.token is None:
            raise ConfigError(
                "No upload token: exchange the ID token first, or give an API token.",
            )
        path = Path(path)
        filename = path.name
        if not is_safe_filename(filename):
            raise ConfigError(f"{filename!r} is not a valid distribution file name.")
        sha256 = check_sha256(sha256, filename)
        size = file_size(path)
        fields = [(k, v) for k, v in metadata if k not in _RESERVED]
        if len(fields) != len(metadata):
            raise ConfigError("The metadata fields name a field the upload itself sets.")
        fields += [(":action", "file_upload"), ("protocol_version", "1")]
        fields.append(("sha256_digest", sha256))
        if attestations:
            fields.append(("attestations", "[" + ",".join(attestations) + "]"))
        url = self.urls.upload
        action = f"uploading {filename} to {self.urls.name}"
        ctx = self._context(project=name, filename=filename)
        authorization = self.token.authorization

        def send() -> tuple[httpx.Response, bytes]:
            boundary, length, chunks = multipart_body(
                fields, path, size, sha256, progress, chunk_size=self.chunk_size
            )
            headers = {
                "Authorization": authorization,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(length),
                # Pyramid's plain-text pages: a 200 that is an HTML page is not an upload
                "Accept": "text/plain",
            }
            with self._http.stream("POST", url, content=chunks, headers=headers) as response:
                body, _ = read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)
            return response, body

        def check() -> State:
            return self.file_state(name, version, filename, sha256)

        def on_response(response: httpx.Response, body: bytes) -> UploadOutcome:
            status = response.status_code
            ctype = response.headers.get("content-type", "").lower()
            page = body.lstrip()[:64].lower().startswith((b"<!doctype", b"<html"))
            if status == 200 and not (page and "html" in ctype):
                return UploadOutcome.UPLOADED
            # "File already exists": the same bytes under another name, or another file under
            # this one (which check() refuses); warehouse says 200 for the very same file
            said = response.reason_phrase.encode() + body
            if status == 400 and b"already exists" in said and check() == "same":
                return UploadOutcome.EXISTS_SAME
            raise upload_error(status, response.reason_phrase, response.headers, body, ctx)

        def retry_status(response: httpx.Response, body: bytes) -> Retry:
            return self._status_retry(
                response,
                upload_error(
                    response.status_code, response.reason_phrase, response.headers, body, ctx
                ),
            )

        return upload_loop(
            action=action,
            send=send,
            check=check,
            on_response=on_response,
            retry_status=retry_status,
            retry_transport=self._retry_transport,
            failed=lambda retry, tries: self._retry_error(retry, action, url, tries),
            policy=self.retry_policy,
            sleep=self._sleep,
        )
