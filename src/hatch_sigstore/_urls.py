"""Web URLs: is it one, do two share an origin, and where may a credential or a redirect go.

Standard library only. One copy of each rule: the expected signer's server, the CI variables,
the registry clients' links, redirects and credentials, and the download's index links are all
checked here. A second registry client (PyPI) follows redirects by the same rules:
:func:`redirect_refusal` and :data:`CREDENTIAL_HEADERS`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

__all__ = [
    "CREDENTIAL_HEADERS",
    "MAX_REDIRECTS",
    "is_loopback",
    "is_web_url",
    "origin",
    "plain_http_refusal",
    "redirect_refusal",
    "same_origin",
    "without_credentials",
]

# Headers that carry who we are: never sent beyond the origins a credential belongs to (an
# object store refuses them anyway: S3 and GCS answer 400 "Only one auth mechanism allowed" to
# a pre-signed URL that comes with one, and S3 echoes the value in its error body).
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "job-token", "private-token", "deploy-token", "cookie"}
)
# GitLab redirects once (to a pre-signed object-storage URL); a store may redirect once more
# (a regional endpoint). Anything longer is a loop or a hostile server.
MAX_REDIRECTS = 5

_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_web_url(url: str) -> bool:
    """``http(s)://`` then a host (no ``/`` first), and no whitespace anywhere.

    String tests, not a regular expression: every build checks CI variables with it.
    """
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            rest = url[len(scheme) :]
            return bool(rest) and rest[0] != "/" and not any(c.isspace() for c in url)
    return False


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: never the same as a real one
        port = -1
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def same_origin(one: str, two: str) -> bool:
    """Same scheme, host and port (RFC 6454), default ports made explicit."""
    return _origin(urlsplit(one)) == _origin(urlsplit(two))


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, for messages."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def is_loopback(url: str) -> bool:
    """Is ``url``'s host a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``)?

    ``localhost`` and ``*.localhost`` count: they never leave the machine (RFC 6761 6.3)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_refusal(url: str, what: str) -> str | None:
    """Why ``what`` (a credential, named for the message) may not travel to ``url``: plain
    http to anything but a loopback address; ``None`` when it may."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "https" or (parts.scheme.lower() == "http" and is_loopback(url)):
        return None
    return (
        f"Refusing to send the {what} to {origin(url)} over plain {parts.scheme or 'http'}: "
        "anyone on the network path could read it."
    )


def redirect_refusal(target: str, *, api_url: str) -> str | None:
    """Why a redirect to ``target`` must not be followed, or ``None`` when it may be.

    https anywhere (credentials are dropped off the API's origin: see
    :func:`without_credentials`); plain http only while the API URL itself is plain http on a
    loopback address (a local sandbox), and then only to a loopback address; nothing else, and
    never a URL with a user name or password in it (httpx would turn them into a header).
    """
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return f"a {scheme or 'scheme-less'} URL, not https"
    if not parts.hostname:
        return "a URL without a host"
    if parts.username is not None or parts.password is not None:
        return "a URL with credentials in it"
    if scheme == "http" and not (
        urlsplit(api_url).scheme.lower() == "http" and is_loopback(api_url) and is_loopback(target)
    ):
        return "plain http (only https is followed; plain http only within a local sandbox)"
    return None


def without_credentials(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``headers`` minus every one in :data:`CREDENTIAL_HEADERS`."""
    return {k: v for k, v in headers if k.lower() not in CREDENTIAL_HEADERS}
