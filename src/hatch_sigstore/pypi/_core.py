"""The index client's core: the httpx client, the secrets it holds, retried reads, redirects.

Reads (the JSON, simple and integrity APIs, files) carry no credentials, so they may follow
redirects to other hosts (PyPI serves files from files.pythonhosted.org) but never from https
down to http. Writes (the token exchange, uploads) never follow a redirect. Every message is
passed through the secrets this client holds: the ID token, the upload token and its Basic
encoding, even when a server echoes one back.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from hatch_sigstore._net._base import HTTPClientBase
from hatch_sigstore._net._http import exc_text, is_permanent, read_capped
from hatch_sigstore._net._retry import (
    Retry,
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
    retrying,
)
from hatch_sigstore.errors import RegistryError, redact
from hatch_sigstore.pypi._errors import ERROR_BODY_LIMIT, Context, PyPIError, index_message
from hatch_sigstore.pypi._token import IDToken, UploadToken
from hatch_sigstore.pypi._urls import IndexURLs

__all__ = ["DEFAULT_CHUNK_SIZE", "MAX_REDIRECTS", "IndexCore"]

_T = TypeVar("_T")
DEFAULT_CHUNK_SIZE = 1024 * 1024
MAX_REDIRECTS = 5
JSON_LIMIT = 32 * 1024 * 1024  # a JSON API answer of a project with many releases


class IndexCore(HTTPClientBase):
    """A PyPI-compatible index (warehouse). Context manager; safe to share between threads
    once the upload token is set."""

    def __init__(
        self,
        urls: IndexURLs,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        retries: int = 5,
        retry_policy: RetryPolicy | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str | ssl.SSLContext = True,
    ) -> None:
        self.urls = urls
        self.retry_policy = retry_policy or RetryPolicy(retries=retries)
        self.chunk_size = max(4096, chunk_size)
        self._sleep = sleep
        self._body_deadline = max(30.0, 2 * timeout)
        self.token: UploadToken | None = None
        self.id_token: IDToken | None = None
        self._open_http(
            timeout=timeout, connect_timeout=connect_timeout, transport=transport, verify=verify
        )

    # -- lifecycle ----------------------------------------------------------------------------
    def __repr__(self) -> str:
        token = None if self.token is None else f"<{self.token.kind}, hidden>"
        return f"{type(self).__name__}({self.urls.upload!r}, token={token})"

    # -- secrets and messages -----------------------------------------------------------------
    @property
    def secrets(self) -> tuple[str, ...]:
        out: list[str] = []
        if self.token is not None:
            out += self.token.secrets
        if self.id_token is not None:
            out.append(self.id_token.value)
        return tuple(out)

    def _redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def _context(self, *, project: str | None = None, filename: str | None = None) -> Context:
        return Context(
            urls=self.urls,
            token_kind=self.token.kind if self.token else None,
            token_source=self.token.source if self.token else None,
            id_token=self.id_token,
            project=project,
            filename=filename,
            secrets=self.secrets,
        )

    def _read_error(self, response: httpx.Response, body: bytes, action: str) -> PyPIError:
        said = index_message(response.reason_phrase, response.headers, body)
        detail = f': "{said}"' if said else ""
        return PyPIError(
            self._redact(
                f"{self.urls.name} answered HTTP {response.status_code} while {action} "
                f"({response.request.url}){detail}."
            ),
            remediation=(
                "The index is having trouble; retry later."
                if response.status_code >= 500 or response.status_code == 429
                else "Check the index URL: a warehouse instance (PyPI, TestPyPI) serves this."
            ),
            status=response.status_code,
        )

    def _transport_error(
        self, exc: BaseException, action: str, url: str, tries: int
    ) -> RegistryError:
        certificate = "CERTIFICATE_VERIFY_FAILED" in str(exc)
        return PyPIError(
            self._redact(
                f"Could not complete {action} at {url} after {max(tries, 1)} attempt(s): "
                f"{exc_text(exc)}."
            ),
            remediation=(
                "The index's TLS certificate is not trusted: give its CA bundle (a PEM file) "
                "with the ca-bundle option."
                if certificate
                else "Check the index URL and the network; re-running is safe: files already "
                "on the index with the same sha256 are skipped."
            ),
        )

    # -- retries ------------------------------------------------------------------------------
    def _retry_transport(self, exc: httpx.TransportError) -> Retry:
        return Retry(reason=exc_text(exc), exc=exc, permanent=is_permanent(exc))

    def _retry_status(self, response: httpx.Response, error: Exception) -> Retry:
        return Retry(
            reason=f"HTTP {response.status_code}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            error=error,
        )

    def _retry_error(self, retry: Retry, action: str, url: str, tries: int) -> RegistryError:
        if isinstance(retry.error, RegistryError):
            retry.error.message = f"{retry.error.message} (after {tries} attempt(s))"
            return retry.error
        return self._transport_error(retry.exc or retry, action, url, tries)

    def _retrying(self, attempt: Callable[[], _T], action: str, url: str) -> _T:
        def give_up(retry: Retry, tries: int) -> NoReturn:
            raise self._retry_error(retry, action, url, tries) from None

        return retrying(self.retry_policy, attempt, give_up, sleep=self._sleep)

    # -- reads --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _open(
        self, url: str, *, action: str, accept: str | None = None
    ) -> Iterator[httpx.Response]:
        """GET ``url`` streamed and without credentials, following redirects (any host, never
        https → http). Yields the final response."""
        headers = {"Accept": accept} if accept else {}
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            with self._http.stream("GET", current, headers=headers) as response:
                if not response.is_redirect:
                    yield response
                    return
                location = response.headers.get("location", "")
            target = urljoin(current, location)
            scheme = urlsplit(target).scheme
            if scheme not in ("http", "https") or (
                urlsplit(current).scheme == "https" and scheme != "https"
            ):
                raise PyPIError(
                    self._redact(f"{current} redirected to {target} while {action}; refusing.")
                )
            current = target
        raise PyPIError(self._redact(f"Too many redirects while {action} ({url})."))

    def _get(
        self, url: str, *, action: str, limit: int, accept: str | None = None
    ) -> tuple[httpx.Response, bytes]:
        """An idempotent GET with retries; the body read up to ``limit`` bytes."""

        def attempt() -> tuple[httpx.Response, bytes]:
            try:
                with self._open(url, action=action, accept=accept) as response:
                    body, truncated = read_capped(response, limit, self._body_deadline)
            except httpx.TransportError as exc:
                raise self._retry_transport(exc) from None
            if truncated and response.is_success:
                raise PyPIError(
                    self._redact(f"{url} answered more than {limit} bytes while {action}."),
                    remediation="Refusing an oversized answer; check the index URL.",
                )
            if is_retryable_status(response.status_code):
                raise self._retry_status(response, self._read_error(response, body, action))
            return response, body

        return self._retrying(attempt, action, url)

    def _error_body(self, response: httpx.Response) -> bytes:
        return read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)[0]
