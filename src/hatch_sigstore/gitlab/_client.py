"""The registry client: GitLab's PyPI and generic package registries over httpx.

Guarantees:

* **Constant memory.** Uploads stream the file in chunks with a precomputed ``Content-Length``
  (our own multipart encoder for PyPI, a raw body for generic PUTs); downloads stream to a
  temporary file beside the destination and are renamed into place only when complete.
* **Never the wrong bytes.** The declared sha256 is checked while streaming; the last chunk is
  held back until the digest matches, so a file that changed on disk is never completely sent.
* **Idempotent.** Transient failures (connection errors, 429 with ``Retry-After``, 5xx) are retried
  with backoff. After an *ambiguous* failure (the body may have been stored: timeouts, resets,
  5xx) the client asks the registry what it holds before sending again: the same sha256 →
  ``exists-same``, absent → send again, different → :class:`RegistryError`, never an overwrite.
  A generic PUT whose whole body went out and got no answer from GitLab itself (a timeout, a
  reset, a proxy's 502/504) may still be being stored, and GitLab keeps duplicates: the client
  asks again with backoff for up to ``settle_time`` seconds before sending it again. (PyPI needs
  no wait: GitLab refuses a second copy with "already been taken".)
* **No token leaks.** Tokens travel only in headers, never in URLs; they are dropped on a redirect
  to another host (which is refused unless explicitly allowed) and redacted from every message.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import re
import secrets as _secrets
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import quote, urljoin, urlsplit

import httpx

from hatch_sigstore.__about__ import __version__
from hatch_sigstore.errors import ConfigError, RegistryError, redact
from hatch_sigstore.gitlab._auth import Credentials
from hatch_sigstore.gitlab._errors import (
    ERROR_BODY_LIMIT,
    error_from_response,
    gitlab_message,
    looks_like_html,
    not_gitlab_error,
)
from hatch_sigstore.gitlab._retry import RetryPolicy, is_retryable_status, parse_retry_after
from hatch_sigstore.gitlab._simple import (
    MAX_INDEX_BYTES,
    IndexFile,
    normalize_name,
    parse_simple_index,
    same_origin,
    valid_filename,
)

__all__ = ["Downloaded", "ProgressCallback", "RegistryClient", "UploadOutcome"]

ProgressCallback = Callable[[int], None]
Route = Literal["pypi", "generic"]

DEFAULT_CHUNK_SIZE = 1024 * 1024
MAX_REDIRECTS = 5
_SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")
_DIGITS_RE = re.compile(r"\A[0-9]{1,20}\Z")
# Generic registry (reference §3.2): the characters every GitLab version accepts, plus `~` and `@`
# inside file names (newer versions; older ones answer 400 with GitLab's message).
_GENERIC_NAME_RE = re.compile(r"\A[A-Za-z0-9._+-]{1,255}\Z")
_GENERIC_VERSION_RE = re.compile(r"\A(?!.*\.\.)[A-Za-z0-9_+.-]{1,255}\Z")
_FIELD_NAME_RE = re.compile(r"\A[A-Za-z0-9_:.-]{1,64}\Z")
_RESERVED_FIELDS = frozenset({"content", "name", "version", "sha256_digest"})


class UploadOutcome(str, enum.Enum):
    """What an upload did. Compares equal to its value (``"uploaded"``, ``"exists-same"``)."""

    UPLOADED = "uploaded"
    EXISTS_SAME = "exists-same"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Downloaded:
    path: Path
    sha256: str
    size: int


class _SourceChanged(Exception):  # noqa: N818
    """The local file changed (size or sha256) while we were sending it."""


def _check_sha256(value: str, what: str) -> str:
    lowered = value.lower()
    if not _SHA256_RE.match(lowered):
        raise ConfigError(f"The sha256 given for {what} is not 64 hexadecimal digits.")
    return lowered


def _read_capped(
    response: httpx.Response, limit: int, deadline: float = 120.0
) -> tuple[bytes, bool]:
    """Read at most ``limit`` bytes of a streamed response within ``deadline`` seconds;
    (body, truncated). A body that trickles on past the deadline is a transport error."""
    buf = bytearray()
    end = time.monotonic() + deadline
    for chunk in response.iter_bytes():
        buf += chunk
        if len(buf) > limit:
            return bytes(buf[:limit]), True
        if time.monotonic() > end:
            raise httpx.ReadTimeout("the response body did not end in time")
    return bytes(buf), False


def _is_ambiguous(exc: httpx.TransportError) -> bool:
    """Could the server have received (and stored) the request? Only a failed connect is sure."""
    return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def _is_permanent(exc: BaseException | None) -> bool:
    """Failures no retry can fix: TLS verification, a URL httpx cannot use."""
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return True
    text = str(exc)
    return isinstance(exc, httpx.ConnectError) and (
        "CERTIFICATE_VERIFY_FAILED" in text or "WRONG_VERSION_NUMBER" in text
    )


def _page_instead_of_file(headers: httpx.Headers) -> bool:
    """A 200 that is a web page (a login or SSO page, a proxy's portal), not a stored file.

    GitLab serves package files as ``application/octet-stream`` attachments; newer versions may
    guess the content type, but then also send ``X-Checksum-SHA256``. HTML without either an
    attachment disposition or the checksum header is not a file GitLab's API serves.
    """
    if "html" not in headers.get("content-type", "").lower():
        return False
    if _SHA256_RE.match(headers.get("x-checksum-sha256", "").strip().lower()):
        return False
    return "attachment" not in headers.get("content-disposition", "").lower()


def _exc_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RegistryClient:
    """A GitLab project's PyPI and generic package registries.

    ``api_url`` is the API v4 root (``CI_API_V4_URL``, ``https://gitlab.example.com/api/v4``);
    ``project`` the numeric id or full path (``group/sub/project``). Usable as a context manager;
    safe to share between threads.
    """

    def __init__(
        self,
        api_url: str,
        project: str | int,
        credentials: Credentials,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        retries: int = 5,
        retry_policy: RetryPolicy | None = None,
        download_deadline: float = 3600.0,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        allow_cross_host_redirects: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        settle_time: float = 4.0,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str | ssl.SSLContext = True,
    ) -> None:
        self.api_url = self._check_api_url(api_url)
        self.project = str(project).strip()
        if not self.project:
            raise ConfigError(
                "No GitLab project given.",
                remediation="Set the project id or full path (in CI: CI_PROJECT_ID).",
            )
        self.credentials = credentials
        self.retry_policy = retry_policy or RetryPolicy(retries=retries)
        self.download_deadline = download_deadline
        # Small bodies (errors, index pages, JSON) must end within this many seconds.
        self._body_deadline = max(30.0, 2 * timeout)
        self.chunk_size = max(4096, chunk_size)
        self.allow_cross_host_redirects = allow_cross_host_redirects
        self._sleep = sleep
        # After an ambiguous generic PUT (the whole body went out, then a timeout or a 5xx),
        # how long to keep asking before concluding the server did not store it.
        self.settle_time = max(0.0, settle_time)
        project_id = quote(self.project, safe="")  # digits stay; a path gets %2F
        self.project_api_url = f"{self.api_url}/projects/{project_id}"
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            follow_redirects=False,
            transport=transport,
            verify=_ssl_context(verify),
            headers={"User-Agent": f"hatch-sigstore/{__version__}"},
            trust_env=transport is None,
        )

    @staticmethod
    def _check_api_url(api_url: str) -> str:
        url = (api_url or "").strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"The GitLab API URL {redact(url)!r} is not an http(s) URL.",
                remediation="Use the API v4 root, e.g. https://gitlab.example.com/api/v4 "
                "(in CI: CI_API_V4_URL).",
            )
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ConfigError(
                "The GitLab API URL must not contain credentials, a query or a fragment.",
                remediation="Give the token through an environment variable instead; never put "
                "it in a URL.",
            )
        # The server's web URL (CI_SERVER_URL) is a common slip for the API root: accept both.
        if not parts.path.endswith("/api/v4"):
            url += "/api/v4"
        return url

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryClient({self.api_url!r}, {self.project!r}, {self.credentials!r})"

    # -- URLs -----------------------------------------------------------------------------------

    def pypi_upload_url(self) -> str:
        return f"{self.project_api_url}/packages/pypi"

    def pypi_simple_url(self, name: str) -> str:
        return f"{self.project_api_url}/packages/pypi/simple/{quote(normalize_name(name), safe='')}"

    def generic_url(self, package: str, version: str, filename: str) -> str:
        if not _GENERIC_NAME_RE.match(package):
            raise ConfigError(
                f"{package!r} is not a valid generic package name.",
                remediation="Use only letters, digits and . _ + - (GitLab's rule).",
            )
        if not _GENERIC_VERSION_RE.match(version):
            raise ConfigError(
                f"{version!r} is not a valid generic package version.",
                remediation="Use only letters, digits and . _ + - without '..' (GitLab's rule; "
                "PEP 440 epochs with '!' are not accepted).",
            )
        if not valid_filename(filename):
            raise ConfigError(
                f"{filename!r} is not a valid generic package file name.",
                remediation="Use a plain file name: letters, digits and . _ + - ~ @, no slashes.",
            )
        parts = (quote(p, safe="+~@") for p in (package, version, filename))
        return f"{self.project_api_url}/packages/generic/" + "/".join(parts)

    # -- plumbing -------------------------------------------------------------------------------

    def _auth(self, route: Route) -> dict[str, str]:
        if route == "pypi":
            return self.credentials.pypi_headers()
        return self.credentials.generic_headers()

    def _redact(self, text: str) -> str:
        return redact(text, self.credentials.secrets)

    def _error(self, response: httpx.Response, body: bytes, action: str) -> RegistryError:
        return error_from_response(
            response.status_code,
            response.headers,
            body,
            action=action,
            url=str(response.request.url),
            project=self.project,
            credentials=self.credentials,
        )

    def _transport_error(
        self, exc: BaseException, action: str, url: str, tries: int
    ) -> RegistryError:
        tries = max(tries, 1)
        return RegistryError(
            self._redact(
                f"Could not complete {action} at {url} after {tries} attempt(s): {_exc_text(exc)}."
            ),
            remediation=(
                "The server's TLS certificate is not trusted: give the CA bundle of your GitLab "
                "instance (a PEM file) to the client's verify setting."
                if "CERTIFICATE_VERIFY_FAILED" in str(exc)
                else "Check the API URL and the network (and the timeout settings for slow links)."
                + (
                    " Re-running is safe: files the registry already holds with the same sha256 "
                    "are skipped."
                    if action.startswith("upload")
                    else ""
                )
            ),
        )

    def _page_error(self, url: str, response: httpx.Response) -> RegistryError:
        ctype = response.headers.get("content-type", "").split(";")[0].strip()
        where = "" if str(response.url) == url else f" (after a redirect to {response.url})"
        return not_gitlab_error(
            url,
            f"HTTP {response.status_code} with an HTML page ({ctype}) instead of the file"
            f"{where}; it looks like a login or proxy page",
            status=response.status_code,
            credentials=self.credentials,
        )

    def _retry_error(self, retry: _Retry, action: str, url: str, tries: int) -> RegistryError:
        if retry.error is not None:
            retry.error.message = f"{retry.error.message} (after {tries} attempt(s))"
            return retry.error
        return self._transport_error(retry.exc or retry, action, url, tries)

    def _give_up_status(
        self, response: httpx.Response, body: bytes, action: str, tries: int
    ) -> RegistryError:
        err = self._error(response, body, action)
        err.message = f"{err.message} (after {tries} attempt(s))"
        return err

    def _get(
        self,
        url: str,
        *,
        route: Route,
        action: str,
        limit: int,
        accept: str | None = None,
    ) -> tuple[httpx.Response, bytes]:
        """An idempotent GET with retries on transient failures; body read up to ``limit``.

        Redirects are returned, not followed. Returns the final non-transient response.
        """
        backoff = self.retry_policy.backoff()
        headers = self._auth(route)
        if accept:
            headers["Accept"] = accept
        while True:
            try:
                with self._http.stream("GET", url, headers=headers) as response:
                    body, truncated = _read_capped(response, limit, self._body_deadline)
            except httpx.TransportError as exc:
                delay = None if _is_permanent(exc) else backoff.next_delay(reason=_exc_text(exc))
                if delay is None:
                    raise self._transport_error(exc, action, url, backoff.failures) from None
                self._sleep(delay)
                continue
            if truncated and response.is_success:
                raise RegistryError(
                    self._redact(f"{url} answered more than {limit} bytes while {action}."),
                    remediation="Refusing an oversized answer; check the API URL.",
                )
            if is_retryable_status(response.status_code):
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                delay = backoff.next_delay(
                    retry_after=retry_after, reason=f"HTTP {response.status_code}"
                )
                if delay is None:
                    raise self._give_up_status(response, body, action, backoff.failures)
                self._sleep(delay)
                continue
            return response, body

    # -- PyPI -----------------------------------------------------------------------------------

    def pypi_simple_files(self, name: str) -> list[IndexFile]:
        """The files GitLab lists for ``name`` (PEP 503-normalized). Empty when the project has no
        such package (GitLab's 404 "Package Not Found" or its 302 forward to pypi.org)."""
        files = self._pypi_simple(name)
        return [] if files is None else files

    def _pypi_simple(self, name: str) -> list[IndexFile] | None:
        url = self.pypi_simple_url(name)
        action = f"reading the PyPI simple index for {name!r}"
        response, body = self._get(
            url, route="pypi", action=action, limit=MAX_INDEX_BYTES, accept="text/html"
        )
        status = response.status_code
        if 300 <= status < 400:
            return None  # forwarded to pypi.org: not in this project (reference §2.4)
        if status == 404:
            message = gitlab_message(body)
            if message is not None and "package not found" in message.lower():
                return None
            raise self._error(response, body, action)
        if status != 200:
            raise self._error(response, body, action)
        content_type = response.headers.get("content-type", "")
        if "html" not in content_type.lower() and not looks_like_html(body):
            raise not_gitlab_error(
                url,
                f"{content_type or 'an untyped body'} instead of an HTML index",
                status=status,
                credentials=self.credentials,
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise not_gitlab_error(
                url, "a page that is not UTF-8", status=status, credentials=self.credentials
            ) from None
        return parse_simple_index(text, page_url=url)

    def _pypi_state(self, name: str, filename: str, sha256: str) -> Literal["same", "absent"]:
        """Does the index hold ``filename``? Raises when it holds different bytes."""
        files = self._pypi_simple(name) or []
        matches = [f for f in files if f.filename == filename]
        if not matches:
            return "absent"
        if any(f.sha256 == sha256 for f in matches):
            return "same"
        listed = ", ".join(f.sha256 or "none" for f in matches)
        raise RegistryError(
            f"{filename} already exists in the GitLab PyPI registry of project {self.project} "
            f"with different contents (sha256 {listed}; local {sha256}). Refusing to overwrite.",
            remediation=(
                "GitLab never replaces a PyPI file. Publish a new version, or delete the existing "
                "file in GitLab (Packages and registries) if it was a mistake."
            ),
        )

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
        sha256 = _check_sha256(sha256, path.name)
        filename = path.name
        if not valid_filename(filename):
            raise ConfigError(f"{filename!r} is not a valid distribution file name.")
        size = self._file_size(path)
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
            boundary, length, chunks = self._multipart(fields, path, size, sha256, progress)
            headers = self._auth("pypi")
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
            headers["Content-Length"] = str(length)
            with self._http.stream("POST", url, content=chunks, headers=headers) as response:
                body, _ = _read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)
            return response, body

        def check() -> Literal["same", "absent"]:
            return self._pypi_state(name, filename, sha256)

        def on_response(response: httpx.Response, body: bytes) -> UploadOutcome | None:
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
            raise self._error(response, body, action)

        return self._upload_loop(action, url, send, check, on_response)

    def _multipart(
        self,
        fields: list[tuple[str, str]],
        path: Path,
        size: int,
        sha256: str,
        progress: ProgressCallback | None,
    ) -> tuple[str, int, Iterator[bytes]]:
        while True:
            boundary = "hatch-sigstore-" + _secrets.token_hex(16)
            if not any(boundary in value for _, value in fields):
                break
        head = bytearray()
        for key, value in fields:
            head += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode()
                + value.encode("utf-8")
                + b"\r\n"
            )
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
            f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        length = len(head) + size + len(tail)

        def chunks() -> Iterator[bytes]:
            yield bytes(head)
            yield from self._file_chunks(path, size, sha256, progress)
            yield tail

        return boundary, length, chunks()

    def _file_size(self, path: Path) -> int:
        try:
            st = path.stat()
        except OSError as exc:
            raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}.") from None
        if not path.is_file():
            raise ConfigError(f"{path} is not a regular file.")
        return st.st_size

    def _file_chunks(
        self, path: Path, size: int, sha256: str, progress: ProgressCallback | None
    ) -> Iterator[bytes]:
        """The file's bytes; the last chunk is held back until size and sha256 are confirmed."""
        digest = hashlib.sha256()
        sent = 0
        total = 0
        pending: bytes | None = None
        with path.open("rb") as fh:
            while True:
                block = fh.read(self.chunk_size)
                if not block:
                    break
                total += len(block)
                if total > size:
                    raise _SourceChanged(f"{path.name} grew while it was being uploaded")
                digest.update(block)
                if pending is not None:
                    yield pending
                    sent += len(pending)
                    if progress is not None:
                        progress(sent)
                pending = block
        if total != size:
            raise _SourceChanged(f"{path.name} shrank while it was being uploaded")
        if digest.hexdigest() != sha256:
            raise _SourceChanged(
                f"{path.name} does not match the sha256 it was signed/declared with "
                f"({digest.hexdigest()} on disk, {sha256} expected)"
            )
        if pending is not None:
            yield pending
            sent += len(pending)
            if progress is not None:
                progress(sent)

    def _upload_loop(
        self,
        action: str,
        url: str,
        send: Callable[[], tuple[httpx.Response, bytes]],
        check: Callable[[], Literal["same", "absent"]],
        on_response: Callable[[httpx.Response, bytes], UploadOutcome | None],
    ) -> UploadOutcome:
        backoff = self.retry_policy.backoff()
        ambiguous = False
        while True:
            if ambiguous:
                if check() == "same":
                    return UploadOutcome.EXISTS_SAME
                ambiguous = False
            try:
                response, body = send()
            except _SourceChanged as exc:
                raise RegistryError(
                    f"Stopped {action}: {exc}. Nothing complete was sent.",
                    remediation="Rebuild and re-sign the file, and do not modify dist/ while "
                    "publishing.",
                ) from None
            except httpx.TransportError as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, _SourceChanged):
                    raise RegistryError(
                        f"Stopped {action}: {cause}. Nothing complete was sent.",
                        remediation="Rebuild and re-sign the file, and do not modify dist/ "
                        "while publishing.",
                    ) from None
                ambiguous = ambiguous or _is_ambiguous(exc)
                delay = None if _is_permanent(exc) else backoff.next_delay(reason=_exc_text(exc))
                if delay is None:
                    raise self._transport_error(exc, action, url, backoff.failures) from None
                self._sleep(delay)
                continue
            status = response.status_code
            if is_retryable_status(status):
                if status != 429:
                    ambiguous = True  # a 5xx may come after the file was stored
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                delay = backoff.next_delay(retry_after=retry_after, reason=f"HTTP {status}")
                if delay is None:
                    if ambiguous and check() == "same":
                        return UploadOutcome.EXISTS_SAME
                    raise self._give_up_status(response, body, action, backoff.failures)
                self._sleep(delay)
                continue
            outcome = on_response(response, body)
            if outcome is not None:
                return outcome
            raise self._error(response, body, action)

    # -- generic --------------------------------------------------------------------------------

    def generic_file_sha256(
        self, package: str, version: str, filename: str, *, max_bytes: int = 5 * 1024**3
    ) -> str | None:
        """sha256 of the file GitLab serves (the newest duplicate), or None when absent.

        Uses the ``X-Checksum-SHA256`` header when GitLab sends it (newer versions) without
        reading the body; otherwise hashes the streamed body (at most ``max_bytes``).
        """
        url = self.generic_url(package, version, filename)
        action = f"checking {package}/{version}/{filename} in the generic registry"
        backoff = self.retry_policy.backoff()
        while True:
            try:
                return self._generic_sha_once(url, action, max_bytes)
            except _Retry as retry:
                delay = (
                    None
                    if _is_permanent(retry.exc)
                    else backoff.next_delay(retry_after=retry.retry_after, reason=retry.reason)
                )
                if delay is None:
                    raise self._retry_error(retry, action, url, backoff.failures) from None
                self._sleep(delay)

    def _generic_sha_once(self, url: str, action: str, max_bytes: int) -> str | None:
        try:
            with self._open(url, route="generic", action=action) as response:
                status = response.status_code
                if status == 200:
                    header: str = response.headers.get("x-checksum-sha256", "").strip().lower()
                    if _SHA256_RE.match(header):
                        return header
                    if _page_instead_of_file(response.headers):
                        raise self._page_error(url, response)
                    digest = hashlib.sha256()
                    total = 0
                    end = time.monotonic() + self.download_deadline
                    for chunk in response.iter_bytes():
                        if time.monotonic() > end:
                            raise httpx.ReadTimeout("the response body did not end in time")
                        total += len(chunk)
                        if total > max_bytes:
                            raise RegistryError(
                                self._redact(f"{url} sent more than {max_bytes} bytes."),
                                remediation="Refusing an oversized answer.",
                            )
                        digest.update(chunk)
                    return digest.hexdigest()
                body, _ = _read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)
        except httpx.TransportError as exc:
            raise _Retry(reason=_exc_text(exc), exc=exc) from None
        if status == 404:
            data = _json_object(body)
            message = data.get("message") if data else None
            if isinstance(message, str) and "not found" in message.lower():
                return None
            if data is None:
                raise not_gitlab_error(
                    url, "a 404 that is not GitLab's JSON", status=404, credentials=self.credentials
                )
            raise self._error(response, body, action)
        if is_retryable_status(status):
            raise _Retry(
                reason=f"HTTP {status}",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                error=self._error(response, body, action),
            )
        raise self._error(response, body, action)

    def _generic_state(
        self, package: str, version: str, filename: str, sha256: str
    ) -> Literal["same", "absent"]:
        existing = self.generic_file_sha256(package, version, filename)
        if existing is None:
            return "absent"
        if existing == sha256:
            return "same"
        raise RegistryError(
            f"{filename} already exists in the generic package {package} {version} of project "
            f"{self.project} with different contents (sha256 {existing}; local {sha256}). "
            "Refusing to overwrite.",
            remediation=(
                "GitLab would keep both and serve the newest, silently replacing what consumers "
                "get. Publish a new version, or delete the existing file in GitLab first."
            ),
        )

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
        sha256 = _check_sha256(sha256, path.name)
        filename = path.name
        url = self.generic_url(package, version, filename)
        size = self._file_size(path)
        action = f"uploading {filename} to the generic package {package} {version}"

        def check() -> Literal["same", "absent"]:
            return self._generic_state(package, version, filename, sha256)

        if check() == "same":
            return UploadOutcome.EXISTS_SAME

        body_sent = False  # did the last attempt hand the whole body to the connection?
        rails_answered = False  # was the last answer GitLab's own JSON (the request is over)?

        def settled_check() -> Literal["same", "absent"]:
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
                yield from self._file_chunks(path, size, sha256, progress)
                body_sent = True  # httpx asks for more only after writing the last chunk

            with self._http.stream(
                "PUT", url, params={"select": "package_file"}, content=chunks(), headers=headers
            ) as response:
                body, _ = _read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)
            # nginx/Workhorse answer 502/504 in HTML or plain text while Rails may still work
            rails_answered = gitlab_message(body) is not None
            return response, body

        def on_response(response: httpx.Response, body: bytes) -> UploadOutcome | None:
            status = response.status_code
            if status == 201:
                return UploadOutcome.UPLOADED
            if status == 200:
                data = _json_object(body)
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
            raise self._error(response, body, action)

        return self._upload_loop(action, url, send, settled_check, on_response)

    # -- downloads ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _open(self, url: str, *, route: Route, action: str) -> Iterator[httpx.Response]:
        """GET ``url`` streamed, following same-host redirects (with credentials) and, only if
        allowed, cross-host ones (without credentials). Yields the final response."""
        headers = self._auth(route)
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            with self._http.stream("GET", current, headers=headers) as response:
                if not response.is_redirect:
                    yield response
                    return
                location = response.headers.get("location", "")
            target = urljoin(current, location)
            if urlsplit(target).scheme not in ("http", "https"):
                raise RegistryError(
                    self._redact(f"{current} redirected to a non-HTTP location while {action}.")
                )
            if not same_origin(target, current):
                if not self.allow_cross_host_redirects:
                    raise RegistryError(
                        self._redact(
                            f"{current} redirected to another host ({urlsplit(target).netloc}) "
                            f"while {action}; refusing to follow."
                        ),
                        remediation=(
                            "A registry serving files from object storage redirects elsewhere; "
                            "allow cross-host redirects explicitly if you trust that host "
                            "(credentials are never sent there). Otherwise check the API URL."
                        ),
                    )
                if urlsplit(current).scheme == "https" and urlsplit(target).scheme != "https":
                    raise RegistryError(
                        self._redact(f"{current} redirected from https to http; refusing.")
                    )
                headers = {}  # never send credentials to another host
            current = target
        raise RegistryError(self._redact(f"Too many redirects while {action} ({url})."))

    def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int,
        sha256: str | None = None,
        route: Route = "pypi",
        progress: ProgressCallback | None = None,
        deadline: float | None = None,
    ) -> Downloaded:
        """Stream ``url`` into ``dest`` (atomically), at most ``max_bytes`` and ``deadline``
        seconds (default: the client's ``download_deadline``). When ``sha256`` is given the
        file must match it, else nothing is left behind. Retries transient failures."""
        if max_bytes <= 0:
            raise ConfigError("max_bytes must be positive.")
        if not same_origin(url, self.api_url):
            raise RegistryError(
                self._redact(f"Refusing to download {url}: it is not on the registry's host."),
                remediation="Files must come from the same GitLab instance as the index.",
            )
        expected = _check_sha256(sha256, Path(dest).name) if sha256 else None
        dest = Path(dest)
        action = f"downloading {dest.name}"
        limit = self.download_deadline if deadline is None else deadline
        end = time.monotonic() + limit
        backoff = self.retry_policy.backoff()
        while True:
            try:
                return self._download_once(
                    url, dest, max_bytes, expected, progress, end, action, route
                )
            except _Retry as retry:
                delay = (
                    None
                    if _is_permanent(retry.exc)
                    else backoff.next_delay(retry_after=retry.retry_after, reason=retry.reason)
                )
                if delay is not None and time.monotonic() + delay >= end:
                    delay = None
                if delay is None:
                    raise self._retry_error(retry, action, url, backoff.failures) from None
                self._sleep(delay)

    def _download_once(  # noqa: PLR0917
        self,
        url: str,
        dest: Path,
        max_bytes: int,
        expected: str | None,
        progress: ProgressCallback | None,
        end: float,
        action: str,
        route: Route,
    ) -> Downloaded:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        placed = False
        try:
            with os.fdopen(fd, "wb") as out:
                digest = hashlib.sha256()
                total = 0
                try:
                    with self._open(url, route=route, action=action) as response:
                        status = response.status_code
                        if status != 200:
                            body, _ = _read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)
                            err = self._error(response, body, action)
                            if is_retryable_status(status):
                                raise _Retry(
                                    reason=f"HTTP {status}",
                                    retry_after=parse_retry_after(
                                        response.headers.get("retry-after")
                                    ),
                                    error=err,
                                )
                            raise err
                        if _page_instead_of_file(response.headers):
                            raise self._page_error(str(response.url), response)
                        declared = response.headers.get("content-length")
                        if declared and _DIGITS_RE.match(declared) and int(declared) > max_bytes:
                            raise RegistryError(
                                self._redact(
                                    f"{url} announces {declared} bytes, more than the limit of "
                                    f"{max_bytes} for {dest.name}; refusing to download."
                                ),
                                remediation="No real package is that large; check the server.",
                            )
                        for chunk in response.iter_bytes():
                            total += len(chunk)
                            if total > max_bytes:
                                raise RegistryError(
                                    self._redact(
                                        f"{url} sent more than {max_bytes} bytes for {dest.name}; "
                                        "aborted and deleted the partial file."
                                    ),
                                    remediation="No real package is that large; check the server.",
                                )
                            if time.monotonic() > end:
                                raise RegistryError(
                                    self._redact(
                                        f"Downloading {dest.name} from {url} did not finish "
                                        "within the time limit; aborted and deleted the partial "
                                        "file."
                                    ),
                                    remediation="The server is too slow or never ends the "
                                    "response; raise the download deadline if the link is slow.",
                                )
                            digest.update(chunk)
                            out.write(chunk)
                            if progress is not None:
                                progress(total)
                except httpx.TransportError as exc:
                    if isinstance(exc, httpx.TimeoutException) and time.monotonic() > end:
                        raise self._transport_error(exc, action, url, 1) from None
                    raise _Retry(reason=_exc_text(exc), exc=exc) from None
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if expected is not None and actual != expected:
                raise RegistryError(
                    self._redact(
                        f"{dest.name} from {url} has sha256 {actual}, but {expected} was expected; "
                        "deleted it."
                    ),
                    remediation="The registry served different bytes than its index lists: do "
                    "not install this file; report it to the project's maintainers.",
                )
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
            placed = True
            return Downloaded(path=dest, sha256=actual, size=total)
        finally:
            if not placed:
                with contextlib.suppress(OSError):
                    tmp.unlink()

    def pypi_download(
        self,
        file: IndexFile,
        dest: Path,
        *,
        max_bytes: int,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Download a file listed by :meth:`pypi_simple_files`, checked against its index sha256.

        ``dest`` may be a directory (the file keeps its name) or a file path.
        """
        if file.sha256 is None:
            raise RegistryError(
                f"The index lists {file.filename} without a sha256; refusing to download it "
                "unchecked.",
                remediation="Re-upload the file with its sha256_digest (GitLab issue 517919).",
            )
        if not valid_filename(file.filename):
            raise RegistryError(f"Refusing the file name {file.filename[:80]!r}.")
        dest = Path(dest)
        target = dest / file.filename if dest.is_dir() else dest
        return self.download(
            file.url,
            target,
            max_bytes=max_bytes,
            sha256=file.sha256,
            route="pypi",
            progress=progress,
        ).path

    def generic_download(
        self,
        package: str,
        version: str,
        filename: str,
        dest: Path,
        *,
        max_bytes: int,
        sha256: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Download a generic package file (the newest duplicate, as GitLab serves it).

        ``dest`` may be a directory (the file keeps its name) or a file path. ``sha256``, when
        given, must match.
        """
        url = self.generic_url(package, version, filename)
        dest = Path(dest)
        target = dest / filename if dest.is_dir() else dest
        return self.download(
            url, target, max_bytes=max_bytes, sha256=sha256, route="generic", progress=progress
        ).path


class _Retry(Exception):  # noqa: N818
    """Internal: a transient failure of one attempt."""

    def __init__(
        self,
        *,
        reason: str,
        retry_after: float | None = None,
        error: RegistryError | None = None,
        exc: BaseException | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.error = error
        self.exc = exc


def _ssl_context(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """``True``/``False``, an SSLContext, or the path of a CA bundle (self-managed GitLab)."""
    if isinstance(verify, str):
        try:
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"Cannot load the CA bundle {verify}: {exc}.",
                remediation="Point the CA bundle setting at a PEM file with your GitLab's CA.",
            ) from None
    return verify


def _json_object(body: bytes) -> dict[str, object] | None:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None
