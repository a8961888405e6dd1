"""The index client's core: the httpx client, the secrets it holds, retried reads, redirects.

Reads (the JSON, simple and integrity APIs, files) follow redirects by the registry clients'
one policy (:func:`hatch_sigstore._net._redirects.follow`): https only (plain http only within
a loopback sandbox), at most five hops, no loops, no cookies. They are anonymous unless the
client is given ``read_auth`` (a private index): then its Basic credentials go only to the
index's own origin, never to a file host or along a chain that left it. ``file_hosts`` limits
where reads may go at all (the index's origin and those hosts; every hop checked); without it
files may come from anywhere (PyPI serves them from files.pythonhosted.org), since the page's
sha256 and the attestation decide. Writes (the token exchange, uploads) never follow a
redirect. Every message is passed through the secrets this client holds: the ID token, the
upload token and its Basic encoding, the read token, even when a server echoes one back.
"""

from __future__ import annotations

import base64
import contextlib
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn, TypeVar
from urllib.parse import urlsplit

import httpx

from hatch_sigstore._net._base import HTTPClientBase
from hatch_sigstore._net._http import exc_text, read_capped
from hatch_sigstore._net._redirects import Service, follow
from hatch_sigstore._net._retry import (
    Retry,
    RetryPolicy,
    retrying,
)
from hatch_sigstore._urls import origin, plain_http_refusal, same_origin
from hatch_sigstore.errors import ConfigError, RegistryError, redact
from hatch_sigstore.pypi._errors import ERROR_BODY_LIMIT, Context, PyPIError, index_message
from hatch_sigstore.pypi._token import IDToken, UploadToken
from hatch_sigstore.pypi._urls import IndexURLs

__all__ = ["DEFAULT_CHUNK_SIZE", "IndexCore"]

_T = TypeVar("_T")
DEFAULT_CHUNK_SIZE = 1024 * 1024
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
        read_auth: tuple[str, str] | None = None,
        file_hosts: Sequence[str] | None = None,
        file_hosts_key: str = "file-hosts",
    ) -> None:
        """``read_auth``: (user name, token) for the reads of a private index, sent only to
        its origin; ``file_hosts``: the only hosts (``host`` or ``host:port``) besides the
        index's origin that reads may reach, named ``file_hosts_key`` in messages."""
        self.urls = urls
        self.retry_policy = retry_policy or RetryPolicy(retries=retries)
        self.chunk_size = max(4096, chunk_size)
        self._sleep = sleep
        self.token: UploadToken | None = None
        self.id_token: IDToken | None = None
        self._read_headers: dict[str, str] = {}
        self._read_secrets: tuple[str, ...] = ()
        if read_auth is not None:
            user, token = read_auth
            refusal = plain_http_refusal(urls.simple_root, "index token")
            if refusal is not None:
                raise ConfigError(
                    refusal, remediation="Use the index's https URL (plain http only to loopback)."
                )
            basic = base64.b64encode(f"{user}:{token}".encode()).decode("ascii")
            self._read_headers = {"Authorization": f"Basic {basic}"}
            self._read_secrets = (token, basic)
        self.file_hosts = None if file_hosts is None else tuple(h.lower() for h in file_hosts)
        self.file_hosts_key = file_hosts_key
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
        return (*out, *self._read_secrets)

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
    def refusal(self, url: str) -> str | None:
        """Why a read must not reach ``url`` (a host ``file_hosts`` does not name), or None."""
        if self.file_hosts is None or same_origin(url, self.urls.simple_root):
            return None
        parts = urlsplit(url)
        host, netloc = (parts.hostname or "").lower(), parts.netloc.lower()
        if host in self.file_hosts or netloc in self.file_hosts:
            return None
        return f"points to another host ({origin(url)}), not named in {self.file_hosts_key}"

    @contextlib.contextmanager
    def _open(
        self, url: str, *, action: str, accept: str | None = None
    ) -> Iterator[httpx.Response]:
        """GET ``url`` streamed, following redirects by the registry clients' one policy (the
        read credentials, if any, only to the index's origin); yields the final response."""
        refusal = self.refusal(url)
        if refusal is not None:
            raise PyPIError(
                self._redact(f"Refusing to fetch {url} while {action}: it {refusal}."),
                remediation=f"Check the index URL, or name the host in {self.file_hosts_key} "
                "if the index really keeps its files there.",
            )
        headers = dict(self._read_headers)
        if accept:
            headers["Accept"] = accept
        with follow(
            self._http,
            url,
            headers=headers,
            home=(origin(self.urls.simple_root),),
            api_url=self.urls.simple_root,
            action=action,
            service=Service(self.urls.name, "the index URL"),
            redact=self._redact,
            refuse=self.refusal,
        ) as followed:
            yield followed.response

    def _get(
        self, url: str, *, action: str, limit: int, accept: str | None = None
    ) -> tuple[httpx.Response, bytes]:
        """An idempotent GET with retries; the body read up to ``limit`` bytes."""

        def attempt() -> tuple[httpx.Response, bytes]:
            return self._read_small(
                self._open(url, action=action, accept=accept),
                limit=limit,
                oversized=lambda: PyPIError(
                    self._redact(f"{url} answered more than {limit} bytes while {action}."),
                    remediation="Refusing an oversized answer; check the index URL.",
                ),
                error=lambda response, body: self._read_error(response, body, action),
            )

        return self._retrying(attempt, action, url)

    def _error_body(self, response: httpx.Response) -> bytes:
        return read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)[0]
