"""httpx plumbing of the registry client: capped reads, failure classes, TLS, small parsers.

Functions only; the client composes them. Nothing here sends a request.
"""

from __future__ import annotations

import json
import re
import ssl
import time

import httpx

from hatch_sigstore.errors import ConfigError

__all__ = [
    "DIGITS_RE",
    "SHA256_RE",
    "SourceChangedError",
    "check_sha256",
    "exc_text",
    "is_ambiguous",
    "is_permanent",
    "json_list",
    "json_object",
    "page_instead_of_file",
    "read_capped",
    "ssl_context",
]

SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")
DIGITS_RE = re.compile(r"\A[0-9]{1,20}\Z")


class SourceChangedError(Exception):
    """The local file changed (size or sha256) while we were sending it."""


def check_sha256(value: str, what: str) -> str:
    lowered = value.lower()
    if not SHA256_RE.match(lowered):
        raise ConfigError(f"The sha256 given for {what} is not 64 hexadecimal digits.")
    return lowered


def read_capped(
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


def is_ambiguous(exc: httpx.TransportError) -> bool:
    """Could the server have received (and stored) the request? Only a failed connect is sure."""
    return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def is_permanent(exc: BaseException | None) -> bool:
    """Failures no retry can fix: TLS verification, a URL httpx cannot use."""
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return True
    text = str(exc)
    return isinstance(exc, httpx.ConnectError) and (
        "CERTIFICATE_VERIFY_FAILED" in text or "WRONG_VERSION_NUMBER" in text
    )


def page_instead_of_file(headers: httpx.Headers) -> bool:
    """A 200 that is a web page (a login or SSO page, a proxy's portal), not a stored file.

    GitLab serves package files as ``application/octet-stream`` attachments; newer versions may
    guess the content type, but then also send ``X-Checksum-SHA256``. HTML without either an
    attachment disposition or the checksum header is not a file GitLab's API serves.
    """
    if "html" not in headers.get("content-type", "").lower():
        return False
    if SHA256_RE.match(headers.get("x-checksum-sha256", "").strip().lower()):
        return False
    return "attachment" not in headers.get("content-disposition", "").lower()


def exc_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def ssl_context(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
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


def json_object(body: bytes) -> dict[str, object] | None:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def json_list(body: bytes) -> list[object] | None:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, list) else None
