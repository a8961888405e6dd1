"""Uploads: a wheel or sdist to the PyPI registry, a file to the generic registry; idempotent.

Both stream the file (constant memory) with a precomputed ``Content-Length`` and check its
sha256 while sending, holding the last chunk back until it matches, so a file that changed on
disk is never completely sent. After an *ambiguous* failure (the body may have been stored) the
registry is asked what it holds before sending again: the same sha256 → ``EXISTS_SAME``, absent
→ send again, different → :class:`~hatch_sigstore.errors.RegistryError`, never an overwrite.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx

from hatch_sigstore._names import is_safe_filename
from hatch_sigstore._net._http import (
    check_sha256,
    json_object,
    read_capped,
)
from hatch_sigstore._net._outcomes import UploadOutcome
from hatch_sigstore._net._uploads import (
    ProgressCallback,
    checked_chunks,
    file_size,
    multipart_body,
    upload_loop,
)
from hatch_sigstore.errors import ConfigError, RegistryError
from hatch_sigstore.gitlab._core import State
from hatch_sigstore.gitlab._errors import ERROR_BODY_LIMIT, gitlab_message, not_gitlab_error
from hatch_sigstore.gitlab._state import RegistryState

__all__ = ["ProgressCallback", "Uploads"]

_FIELD_NAME_RE = re.compile(r"\A[A-Za-z0-9_:.-]{1,64}\Z")
_RESERVED_FIELDS = frozenset({"content", "name", "version", "sha256_digest"})


class Uploads(RegistryState):
    """The upload half of :class:`~hatch_sigstore.gitlab.RegistryClient`."""

    def pypi_upload(
        self,
        path: Path,
        *,
        name: str,
        version: str,
        sha256: str,
        metadata: Mapping[str, str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> UploadOutcome:
        """Upload a wheel or sdist (twine's multipart form, streamed).

        ``sha256`` is the file's digest (sent as ``sha256_digest`` and checked while streaming).
        ``metadata``: optional extra form fields (``requires_python``, ``summary``, ...).
        ``progress(n)`` gets the cumulative bytes of the file sent in the current attempt.
        """
        path = Path(path)
        sha256 = check_sha256(sha256, path.name)
        filename = path.name
        if not is_safe_filename(filename):
            raise ConfigError(f"{filename!r} is not a valid distribution file name.")
        size = file_size(path)
        fields: list[tuple[str, str]] = [
            (":action", "file_upload"),
            ("protocol_version", "1"),
            ("name", name),
            ("version", version),
            ("sha256_digest", sha256),
        ]
        for key, value in (metadata or {}).items():
            if key in _RESERVED_FIELDS or not _FIELD_NAME_RE.match(key):
                raise ConfigError(f"{key!r} cannot be sent as an extra PyPI upload field.")
            fields.append((key, str(value)))
        action = f"uploading {filename} to the PyPI registry"
        url = self.pypi_upload_url()

        def send() -> tuple[httpx.Response, bytes]:
            boundary, length, chunks = multipart_body(
                fields, path, size, sha256, progress, chunk_size=self.chunk_size
            )
            headers = self._auth("pypi")
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
            headers["Content-Length"] = str(length)
            with self._http.stream("POST", url, content=chunks, headers=headers) as response:
                body, _ = read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)
            return response, body

        def check() -> State:
            return self._pypi_state(name, filename, sha256)

        def on_response(response: httpx.Response, body: bytes) -> UploadOutcome:
            status = response.status_code
            if status in (200, 201):
                return UploadOutcome.UPLOADED
            message = (gitlab_message(body) or "").lower()
            if status == 400 and "already been taken" in message:
                if check() == "same":
                    return UploadOutcome.EXISTS_SAME
                raise RegistryError(
                    f"GitLab says {filename} already exists in {name} {version}, but the simple "
                    "index does not list it (it may be pending deletion or was uploaded without a "
                    "sha256). Refusing to guess.",
                    remediation="Check the package in GitLab's Packages and registries page.",
                    status=400,
                )
            raise self._error(response, body, action, package=("pypi", name))

        return self._upload_loop(action, url, send, check, on_response)

    def _upload_loop(
        self,
        action: str,
        url: str,
        send: Callable[[], tuple[httpx.Response, bytes]],
        check: Callable[[], State],
        on_response: Callable[[httpx.Response, bytes], UploadOutcome],
    ) -> UploadOutcome:
        """Send until the registry answers for good; ask ``check`` after an ambiguous failure."""
        return upload_loop(
            action=action,
            send=send,
            check=check,
            on_response=on_response,
            retry_status=lambda response, body: self._retry_status(response, body, action),
            retry_transport=self._retry_transport,
            failed=lambda retry, tries: self._retry_error(retry, action, url, tries),
            policy=self.retry_policy,
            sleep=self._sleep,
        )

    # -- generic --------------------------------------------------------------------------------

    def generic_upload(
        self,
        package: str,
        version: str,
        path: Path,
        *,
        sha256: str,
        progress: ProgressCallback | None = None,
    ) -> UploadOutcome:
        """PUT a file into the generic package ``package``/``version`` (raw streamed body).

        GitLab keeps duplicates silently (the newest wins), so the registry is asked first: the
        same sha256 → ``exists-same`` (nothing sent); different → :class:`RegistryError`.
        """
        path = Path(path)
        sha256 = check_sha256(sha256, path.name)
        filename = path.name
        url = self.generic_url(package, version, filename)
        size = file_size(path)
        action = f"uploading {filename} to the generic package {package} {version}"

        def check() -> State:
            return self._generic_state(package, version, filename, sha256)

        if check() == "same":
            return UploadOutcome.EXISTS_SAME

        body_sent = False  # did the last attempt hand the whole body to the connection?
        rails_answered = False  # was the last answer GitLab's own JSON (the request is over)?

        def settled_check() -> State:
            # GitLab may still be storing the upload (a proxy timed out first, or our read
            # timed out): it keeps every duplicate, so a re-send now would leave two records.
            # When the whole body went out, ask again with backoff before concluding "absent".
            state = check()
            if not body_sent or rails_answered:
                return state  # an incomplete body is never stored; a finished request is final
            waited, delay = 0.0, 0.25
            while state == "absent" and waited < self.settle_time:
                delay = min(delay, self.settle_time - waited)
                self._sleep(delay)
                waited += delay
                delay *= 2
                state = check()
            return state

        def send() -> tuple[httpx.Response, bytes]:
            nonlocal body_sent, rails_answered
            body_sent = rails_answered = False
            headers = self._auth("generic")
            headers["Content-Type"] = "application/octet-stream"
            headers["Content-Length"] = str(size)

            def chunks() -> Iterator[bytes]:
                nonlocal body_sent
                yield from checked_chunks(path, size, sha256, progress, self.chunk_size)
                body_sent = True  # httpx asks for more only after writing the last chunk

            with self._http.stream(
                "PUT", url, params={"select": "package_file"}, content=chunks(), headers=headers
            ) as response:
                body, _ = read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)
            # nginx/Workhorse answer 502/504 in HTML or plain text while Rails may still work
            rails_answered = gitlab_message(body) is not None
            return response, body

        def on_response(response: httpx.Response, body: bytes) -> UploadOutcome:
            status = response.status_code
            if status == 201:
                return UploadOutcome.UPLOADED
            if status == 200:
                data = json_object(body)
                if data is None:
                    raise not_gitlab_error(
                        url,
                        "200 with a body that is not a JSON object",
                        status=200,
                        credentials=self.credentials,
                    )
                stored = data.get("file_sha256")
                if isinstance(stored, str) and stored and stored.lower() != sha256:
                    raise RegistryError(
                        f"GitLab stored {filename} with sha256 {stored}, but the local file has "
                        f"{sha256}: the bytes were changed in transit.",
                        remediation="Delete the corrupted file in GitLab and publish again; check "
                        "for a proxy that rewrites uploads.",
                    )
                return UploadOutcome.UPLOADED
            message = (gitlab_message(body) or "").lower()
            if status == 400 and "duplicate package" in message and check() == "same":
                return UploadOutcome.EXISTS_SAME
            raise self._error(response, body, action, package=("generic", package))

        return self._upload_loop(action, url, send, settled_check, on_response)
