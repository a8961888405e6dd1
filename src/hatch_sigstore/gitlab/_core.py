"""The registry client's core: construction, URLs, errors, reads, redirects, registry state.

:class:`ClientCore` holds what uploads (:mod:`._uploads`) and downloads (:mod:`._downloads`)
share: the httpx client, the credentials and which route takes which header, GitLab's errors
in one paragraph, an idempotent GET with retries, same-host redirects, and the two questions
an idempotent upload asks: is this file in the PyPI index, and with which sha256 does the
generic registry hold it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Literal, NoReturn, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import httpx
from packaging.utils import canonicalize_name

from hatch_sigstore._names import is_generic_name, is_generic_version, is_safe_filename
from hatch_sigstore._net._base import HTTPClientBase
from hatch_sigstore._net._http import (
    SHA256_RE,
    exc_text,
    is_permanent,
    json_object,
    page_instead_of_file,
    read_capped,
)
from hatch_sigstore._net._retry import (
    Retry,
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
    retrying,
)
from hatch_sigstore._urls import same_origin
from hatch_sigstore.errors import ConfigError, RegistryError, redact
from hatch_sigstore.gitlab._auth import Credentials
from hatch_sigstore.gitlab._errors import (
    ERROR_BODY_LIMIT,
    error_from_response,
    gitlab_message,
    looks_like_html,
    not_gitlab_error,
)
from hatch_sigstore.gitlab._simple import MAX_INDEX_BYTES, IndexFile, parse_simple_index

__all__ = ["DEFAULT_CHUNK_SIZE", "MAX_REDIRECTS", "ClientCore", "Route", "State"]

Route = Literal["pypi", "generic"]
State = Literal["same", "absent"]  # what the registry holds of a file we are about to send
_T = TypeVar("_T")

DEFAULT_CHUNK_SIZE = 1024 * 1024
MAX_REDIRECTS = 5


class ClientCore(HTTPClientBase):
    """A GitLab project's package registries: what uploads and downloads share.

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
        self._open_http(
            timeout=timeout, connect_timeout=connect_timeout, transport=transport, verify=verify
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

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.api_url!r}, {self.project!r}, {self.credentials!r})"

    # -- URLs -----------------------------------------------------------------------------------

    def pypi_upload_url(self) -> str:
        return f"{self.project_api_url}/packages/pypi"

    def pypi_simple_url(self, name: str) -> str:
        normalized = canonicalize_name(name)  # PEP 503, as GitLab's index route expects
        return f"{self.project_api_url}/packages/pypi/simple/{quote(normalized, safe='')}"

    def generic_url(self, package: str, version: str, filename: str) -> str:
        if not is_generic_name(package):
            raise ConfigError(
                f"{package!r} is not a valid generic package name.",
                remediation="Use only letters, digits and . _ + - (GitLab's rule).",
            )
        if not is_generic_version(version):
            raise ConfigError(
                f"{version!r} is not a valid generic package version.",
                remediation="Use only letters, digits and . _ + - without '..' (GitLab's rule; "
                "PEP 440 epochs with '!' are not accepted).",
            )
        if not is_safe_filename(filename):
            raise ConfigError(
                f"{filename!r} is not a valid generic package file name.",
                remediation="Use a plain file name: letters, digits and . _ + ! -, no slashes.",
            )
        parts = (quote(p, safe="+") for p in (package, version, filename))
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
                f"Could not complete {action} at {url} after {tries} attempt(s): {exc_text(exc)}."
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

    def _retry_error(self, retry: Retry, action: str, url: str, tries: int) -> RegistryError:
        """The error to report when retrying stops: the registry's last answer, or the
        transport failure, with the number of attempts."""
        if isinstance(retry.error, RegistryError):
            retry.error.message = f"{retry.error.message} (after {tries} attempt(s))"
            return retry.error
        return self._transport_error(retry.exc or retry, action, url, tries)

    def _give_up(self, action: str, url: str) -> Callable[[Retry, int], NoReturn]:
        def give_up(retry: Retry, tries: int) -> NoReturn:
            raise self._retry_error(retry, action, url, tries) from None

        return give_up

    def _retry_status(self, response: httpx.Response, body: bytes, action: str) -> Retry:
        """A transient answer (429, 5xx) as a :class:`Retry`, honouring ``Retry-After``."""
        status = response.status_code
        return Retry(
            reason=f"HTTP {status}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            error=self._error(response, body, action),
        )

    def _retry_transport(self, exc: httpx.TransportError) -> Retry:
        return Retry(reason=exc_text(exc), exc=exc, permanent=is_permanent(exc))

    def _retrying(
        self, attempt: Callable[[], _T], action: str, url: str, *, end: float | None = None
    ) -> _T:
        """``attempt`` with this client's retry policy; the last failure is reported."""
        return retrying(
            self.retry_policy, attempt, self._give_up(action, url), sleep=self._sleep, end=end
        )

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
        headers = self._auth(route)
        if accept:
            headers["Accept"] = accept

        def attempt() -> tuple[httpx.Response, bytes]:
            try:
                with self._http.stream("GET", url, headers=headers) as response:
                    body, truncated = read_capped(response, limit, self._body_deadline)
            except httpx.TransportError as exc:
                raise self._retry_transport(exc) from None
            if truncated and response.is_success:
                raise RegistryError(
                    self._redact(f"{url} answered more than {limit} bytes while {action}."),
                    remediation="Refusing an oversized answer; check the API URL.",
                )
            if is_retryable_status(response.status_code):
                raise self._retry_status(response, body, action)
            return response, body

        return self._retrying(attempt, action, url)

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
            # forwarded to pypi.org: not in this project (package requests forwarding,
            # gitlab-org/gitlab lib/api/pypi_packages.rb)
            return None
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

    def _pypi_state(self, name: str, filename: str, sha256: str) -> State:
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

    def generic_file_sha256(
        self, package: str, version: str, filename: str, *, max_bytes: int = 5 * 1024**3
    ) -> str | None:
        """sha256 of the file GitLab serves (the newest duplicate), or None when absent.

        Uses the ``X-Checksum-SHA256`` header when GitLab sends it (newer versions) without
        reading the body; otherwise hashes the streamed body (at most ``max_bytes``).
        """
        url = self.generic_url(package, version, filename)
        action = f"checking {package}/{version}/{filename} in the generic registry"
        return self._retrying(lambda: self._generic_sha_once(url, action, max_bytes), action, url)

    def _generic_sha_once(self, url: str, action: str, max_bytes: int) -> str | None:
        try:
            with self._open(url, route="generic", action=action) as response:
                status = response.status_code
                if status == 200:
                    header: str = response.headers.get("x-checksum-sha256", "").strip().lower()
                    if SHA256_RE.match(header):
                        return header
                    if page_instead_of_file(response.headers):
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
                body, _ = read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)
        except httpx.TransportError as exc:
            raise self._retry_transport(exc) from None
        if status == 404:
            data = json_object(body)
            message = data.get("message") if data else None
            if isinstance(message, str) and "not found" in message.lower():
                return None
            if data is None:
                raise not_gitlab_error(
                    url, "a 404 that is not GitLab's JSON", status=404, credentials=self.credentials
                )
            raise self._error(response, body, action)
        if is_retryable_status(status):
            raise self._retry_status(response, body, action)
        raise self._error(response, body, action)

    def _generic_state(self, package: str, version: str, filename: str, sha256: str) -> State:
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
