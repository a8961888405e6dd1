"""What every registry client is: one httpx client, configured once, closed with the client.

No redirects followed by httpx (each client decides where credentials may go), no cookies kept
(:func:`no_cookies`), TLS from :func:`._http.ssl_context`, our User-Agent, and the proxy
environment honoured only for real transports (tests inject theirs). Both clients' cores derive
from :class:`HTTPClientBase`.
"""

from __future__ import annotations

import ssl
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import TypeVar

import httpx

from hatch_sigstore.__about__ import __version__
from hatch_sigstore._net._http import ssl_context

__all__ = ["HTTPClientBase", "no_cookies"]

_C = TypeVar("_C", bound="HTTPClientBase")


def no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing: a cookie set by one listener of a host would go to
    every port of it (cookies ignore ports), an object store's included. (A jar, not
    ``httpx.Cookies``: httpx copies those into a jar of its own, losing the policy.)"""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class HTTPClientBase:
    """Owns ``self._http``; usable as a context manager."""

    _http: httpx.Client

    def _open_http(
        self,
        *,
        timeout: float,
        connect_timeout: float,
        transport: httpx.BaseTransport | None,
        verify: bool | str | ssl.SSLContext,
    ) -> None:
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            follow_redirects=False,
            cookies=no_cookies(),
            transport=transport,
            verify=ssl_context(verify),
            headers={"User-Agent": f"hatch-sigstore/{__version__}"},
            trust_env=transport is None,
        )

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
