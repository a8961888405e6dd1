"""Web URLs: is it one, and do two of them share an origin. Standard library only.

One copy of each rule: the expected signer's server, the CI variables, the registry client's
links and the download's index links are all checked here.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit

__all__ = ["is_loopback_host", "is_web_url", "origin", "same_origin"]

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


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (``127.0.0.0/8``, ``::1``); a name is not resolved."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
