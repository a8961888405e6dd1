"""The registry client's core: construction, URLs, errors, reads, redirects, registry state.

:class:`ClientCore` holds what uploads (:mod:`._uploads`) and downloads (:mod:`._downloads`)
share: the httpx client, the credentials and where they may go, which route takes which
header, GitLab's errors in one paragraph, an idempotent GET with retries, redirects followed
by hand (:mod:`hatch_sigstore._net._redirects`: to object storage too, credentials never
beyond GitLab), and the questions an idempotent upload asks: does the PyPI registry hold
this file with these bytes, and with which sha256 does the generic registry hold it.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Literal, NoReturn, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from packaging.utils import canonicalize_name

from hatch_sigstore._net._base import HTTPClientBase
from hatch_sigstore._net._http import (
    check_sha256,
    exc_text,
)
from hatch_sigstore._net._redirects import Followed, Service, follow
from hatch_sigstore._net._retry import (
    Retry,
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
    retrying,
)
from hatch_sigstore._urls import is_web_url, origin, same_origin
from hatch_sigstore.errors import ConfigError, RegistryError, redact
from hatch_sigstore.gitlab._auth import Credentials
from hatch_sigstore.gitlab._coordinates import check_generic_location
from hatch_sigstore.gitlab._errors import (
    error_from_response,
    gitlab_message,
    looks_like_html,
    not_gitlab_error,
    store_code,
    store_error,
)
from hatch_sigstore.gitlab._simple import MAX_INDEX_BYTES, IndexFile, parse_simple_index

__all__ = ["DEFAULT_CHUNK_SIZE", "ClientCore", "Route", "Scope", "State"]

Route = Literal["pypi", "generic", "api"]
Scope = Literal["project", "group"]
State = Literal["same", "absent"]  # what the registry holds of a file we are about to send
_T = TypeVar("_T")

DEFAULT_CHUNK_SIZE = 1024 * 1024
GITLAB = Service(
    "GitLab",
    "the API URL",
    "An administrator can give the object storage an https endpoint, or turn on proxy_download.",
)


class ClientCore(HTTPClientBase):
    """A GitLab project's package registries: what uploads and downloads share.

    ``api_url`` is the API v4 root (``CI_API_V4_URL``, ``https://gitlab.example.com/api/v4``);
    ``project`` the numeric id or full path (``group/sub/project``); or, for a client that only
    reads a group's PyPI index and its files, ``group`` (an id or full path) and no project:
    GitLab's group routes ``GET /groups/:id/-/packages/pypi/simple/*package_name`` and
    ``…/files/:sha256/*file_identifier`` (gitlab-org/gitlab ``lib/api/pypi_packages.rb``) list
    the packages of every project in the group the caller may read; a group has no upload
    route and no generic registry, so those refuse at once. ``server_url``: the
    instance's own URL (``CI_SERVER_URL``, its ``external_url``) when the API URL is another
    name for it: GitLab builds index links on it, so links there are accepted too; credentials
    go there only when they belong there (the job token of that server). Usable as a context
    manager; safe to share between threads.
    """

    def __init__(
        self,
        api_url: str,
        project: str | int | None,
        credentials: Credentials,
        *,
        group: str | int | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        retries: int = 5,
        retry_policy: RetryPolicy | None = None,
        download_deadline: float = 3600.0,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        server_url: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        settle_time: float = 4.0,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str | ssl.SSLContext = True,
    ) -> None:
        self.api_url = self._check_api_url(api_url)
        if project is not None and group is not None:
            raise ConfigError(
                "Both a GitLab project and a group were given.",
                remediation="Give a project (its registries), or a group and not both (its "
                "PyPI index, read only).",
            )
        self.scope: Scope = "project" if group is None else "group"
        self.project = str(project if group is None else group).strip()
        if (project is None and group is None) or not self.project:
            raise ConfigError(
                f"No GitLab {self.scope} given.",
                remediation="Set the project id or full path (in CI: CI_PROJECT_ID).",
            )
        self.credentials = credentials
        credentials.check_destination(self.api_url)  # before anything is sent
        self.server_url = self._check_server_url(server_url)
        # Where index links may point: the API URL's origin and the instance's own.
        self.link_origins: tuple[str, ...] = tuple(
            dict.fromkeys(origin(u) for u in (self.api_url, self.server_url) if u)
        )
        # Where credentials go: the API URL's origin; the server's too only for a job token of
        # that server (a token named for the API URL is never sent on where an index points).
        self.home: tuple[str, ...] = (origin(self.api_url),)
        server_home = credentials.home or ()
        if (
            self.server_url
            and not same_origin(self.server_url, self.api_url)
            and any(same_origin(self.server_url, h) for h in server_home)
        ):
            credentials.check_destination(self.server_url)
            self.home += (origin(self.server_url),)
        self.retry_policy = retry_policy or RetryPolicy(retries=retries)
        self.download_deadline = download_deadline
        self.chunk_size = max(4096, chunk_size)
        self._sleep = sleep
        # After an ambiguous generic PUT (the whole body went out, then a timeout or a 5xx),
        # how long to keep asking before concluding the server did not store it.
        self.settle_time = max(0.0, settle_time)
        scope_id = quote(self.project, safe="")  # digits stay; a path gets %2F
        self.scope_api_url = (
            f"{self.api_url}/projects/{scope_id}"
            if self.scope == "project"
            else f"{self.api_url}/groups/{scope_id}/-"
        )
        # no redirects followed by httpx (by hand: _net._redirects.follow), no cookies kept
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

    @staticmethod
    def _check_server_url(server_url: str | None) -> str | None:
        url = (server_url or "").strip().rstrip("/")
        if not url:
            return None
        parts = urlsplit(url)
        if not is_web_url(url) or parts.username or parts.password or parts.query:
            raise ConfigError(
                f"The GitLab server URL {redact(url)!r} is not a plain http(s) URL.",
                remediation="Give the instance's URL, e.g. https://gitlab.example.com (in CI: "
                "CI_SERVER_URL).",
            )
        return url

    # -- lifecycle ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        scope = "" if self.scope == "project" else f"{self.scope}="
        return (
            f"{type(self).__name__}({self.api_url!r}, {scope}{self.project!r}, "
            f"{self.credentials!r})"
        )

    # -- URLs -----------------------------------------------------------------------------------

    @property
    def project_api_url(self) -> str:
        """``…/projects/ID``: uploads, the generic registry and the Packages API are a
        project's only; a group client refuses them before anything is sent."""
        if self.scope == "group":
            raise ConfigError(
                f"This GitLab client reads the PyPI index of group {self.project!r}: GitLab has "
                "no group-level upload, generic registry or package list "
                "(lib/api/pypi_packages.rb, lib/api/generic_packages.rb).",
                remediation="Use a client of one project of the group for that.",
            )
        return self.scope_api_url

    def pypi_upload_url(self) -> str:
        return f"{self.project_api_url}/packages/pypi"

    def pypi_simple_url(self, name: str) -> str:
        """The simple page of ``name`` in this project's, or this group's, PyPI index."""
        normalized = canonicalize_name(name)  # PEP 503, as GitLab's index route expects
        return f"{self.scope_api_url}/packages/pypi/simple/{quote(normalized, safe='')}"

    def pypi_file_url(self, sha256: str, filename: str) -> str:
        """Where the project's (or group's) PyPI route serves a file: ``…/files/SHA256/NAME``
        (GitLab's own index links there)."""
        parts = (check_sha256(sha256, filename), quote(filename, safe="+"))
        return f"{self.scope_api_url}/packages/pypi/files/" + "/".join(parts)

    def generic_url(self, package: str, version: str, filename: str) -> str:
        check_generic_location(package, version, filename)
        parts = (quote(p, safe="+") for p in (package, version, filename))
        return f"{self.project_api_url}/packages/generic/" + "/".join(parts)

    # -- plumbing -------------------------------------------------------------------------------

    def _auth(self, route: Route) -> dict[str, str]:
        if route == "pypi":
            return self.credentials.pypi_headers()
        if route == "api":
            return self.credentials.api_headers() or {}
        return self.credentials.generic_headers()

    def _redact(self, text: str) -> str:
        return redact(text, self.credentials.secrets)

    def _error(
        self,
        response: httpx.Response,
        body: bytes,
        action: str,
        package: tuple[str, str] | None = None,
    ) -> RegistryError:
        return error_from_response(
            response.status_code,
            response.headers,
            body,
            action=action,
            url=str(response.request.url),
            project=self.project,
            credentials=self.credentials,
            package=package,
            scope=self.scope,
        )

    def _answer_error(self, followed: Followed, body: bytes, action: str) -> Retry | RegistryError:
        """What to raise for a failed final answer of a redirect chain: a :class:`Retry` for a
        transient one, else the error to report.

        GitLab's own answers are GitLab's errors; a storage server's (where GitLab redirected)
        are never a 404 to callers (GitLab said the file exists), and its refusal of an expired
        link is retried, since the next attempt gets a fresh one from GitLab.
        """
        response = followed.response
        status = response.status_code
        gitlab = followed.home or (
            followed.hops == 0 and any(same_origin(followed.url, o) for o in self.link_origins)
        )
        if gitlab:
            if is_retryable_status(status):
                return self._retry_status(response, body, action)
            error = self._error(response, body, action)
            if not followed.home and status in (401, 403, 404):
                error.remediation = (
                    f"The index links this file to {origin(followed.url)}, the instance's "
                    "external_url, where this client sends no token (only to the API URL's "
                    f"origin): use {origin(followed.url)}/api/v4 as the API URL. "
                    f"{error.remediation or ''}"
                ).strip()
            return error
        error = store_error(
            status, body, action=action, url=followed.url, secrets=self.credentials.secrets
        )
        code, text = store_code(body)
        if is_retryable_status(status) or (status == 403 and "expired" in text.lower()):
            return Retry(
                reason=f"HTTP {status} {code}".strip(),
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                error=error,
            )
        return error

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
        """A transient answer (429, 5xx) as a :class:`Retry`, reporting GitLab's words."""
        return self._status_retry(response, self._error(response, body, action))

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
            return self._read_small(
                self._http.stream("GET", url, headers=headers),
                limit=limit,
                oversized=lambda: RegistryError(
                    self._redact(f"{url} answered more than {limit} bytes while {action}."),
                    remediation="Refusing an oversized answer; check the API URL.",
                ),
                error=lambda response, body: self._error(response, body, action),
            )

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
        return parse_simple_index(text, page_url=url, link_origins=self.link_origins)

    # -- following redirects ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _open(
        self, url: str, *, route: Route, action: str, look_first: bool = False
    ) -> Iterator[Followed]:
        """GET ``url`` streamed, following redirects (the registry clients' one policy,
        :func:`hatch_sigstore._net._redirects.follow`): credentials only to GitLab's own
        origins, https targets only (plain http within a loopback sandbox).
        ``look_first``: yield a first redirect itself instead of following it.
        """
        with follow(
            self._http,
            url,
            headers=self._auth(route),
            home=self.home,
            api_url=self.api_url,
            action=action,
            service=GITLAB,
            redact=self._redact,
            stop_at_redirect=look_first,
        ) as followed:
            yield followed
