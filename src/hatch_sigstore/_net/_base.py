"""What every registry client is: one httpx client, configured once, closed with the client.

No redirects followed by httpx (each client decides where credentials may go), no cookies kept
(:func:`no_cookies`), TLS from :func:`._http.ssl_context`, our User-Agent, and the proxy
environment honoured only for real transports (tests inject theirs). Both clients' cores derive
from :class:`HTTPClientBase`.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from contextlib import AbstractContextManager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import TypeVar

import httpx

from hatch_sigstore.__about__ import __version__
from hatch_sigstore._net._http import exc_text, is_permanent, read_capped, ssl_context
from hatch_sigstore._net._retry import Retry, is_retryable_status, parse_retry_after

__all__ = ["HTTPClientBase", "no_cookies"]

_C = TypeVar("_C", bound="HTTPClientBase")


def no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing: a cookie set by one listener of a host would go to
    every port of it (cookies ignore ports), an object store's included. (A jar, not
    ``httpx.Cookies``: httpx copies those into a jar of its own, losing the policy.)"""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class HTTPClientBase:
    """Owns ``self._http``; usable as a context manager. Also what both clients' attempts
    share: a failure as a :class:`~._retry.Retry`, and one capped read of a small body."""

    _http: httpx.Client
    # Small bodies (errors, index pages, JSON) must end within this many seconds; ``timeout``
    # is also the longest wait for the next byte of any body (httpx's read timeout).
    _body_deadline: float

    def _open_http(
        self,
        *,
        timeout: float,
        connect_timeout: float,
        transport: httpx.BaseTransport | None,
        verify: bool | str | ssl.SSLContext,
    ) -> None:
        self._body_deadline = max(30.0, 2 * timeout)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            follow_redirects=False,
            cookies=no_cookies(),
            transport=transport,
            verify=ssl_context(verify),
            headers={"User-Agent": f"hatch-sigstore/{__version__}"},
            trust_env=transport is None,
        )

    @staticmethod
    def _retry_transport(exc: httpx.TransportError) -> Retry:
        """A connection failure as a :class:`Retry` (permanent ones, say TLS, end the loop)."""
        return Retry(reason=exc_text(exc), exc=exc, permanent=is_permanent(exc))

    @staticmethod
    def _status_retry(response: httpx.Response, error: Exception) -> Retry:
        """A transient answer (429, 5xx) as a :class:`Retry`, honouring ``Retry-After``."""
        return Retry(
            reason=f"HTTP {response.status_code}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            error=error,
        )

    def _read_small(
        self,
        opened: AbstractContextManager[httpx.Response],
        *,
        limit: int,
        oversized: Callable[[], Exception],
        error: Callable[[httpx.Response, bytes], Exception],
    ) -> tuple[httpx.Response, bytes]:
        """One attempt of a GET whose body is read up to ``limit`` bytes: a transport failure
        or a transient status raises :class:`Retry`, a successful answer over the limit
        ``oversized()``; ``error(response, body)`` is what a transient status reports."""
        try:
            with opened as response:
                body, truncated = read_capped(response, limit, self._body_deadline)
        except httpx.TransportError as exc:
            raise self._retry_transport(exc) from None
        if truncated and response.is_success:
            raise oversized()
        if is_retryable_status(response.status_code):
            raise self._status_retry(response, error(response, body))
        return response, body

    def close(self) -> None:
        self._http.close()

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
