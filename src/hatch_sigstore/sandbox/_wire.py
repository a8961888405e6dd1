"""What the registry stand-ins' routes take and give: a request, a response, a request-log entry.

Shared by the GitLab and the PyPI stand-in, so that one handler
(:mod:`hatch_sigstore.sandbox._faulty_handler`) reads, answers and logs for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Generic, NamedTuple, TypeVar
from urllib.parse import parse_qsl

from hatch_sigstore.sandbox._body import BodyReader

__all__ = [
    "CREDENTIAL_HEADERS",
    "Request",
    "RequestInfo",
    "RequestRecord",
    "Response",
    "redacted_target",
    "status_phrase",
]

# Headers that carry a credential: GitLab's token headers, Basic/Bearer auth, cookies. The log
# keeps their names, never their values.
CREDENTIAL_HEADERS = ("authorization", "job-token", "private-token", "deploy-token", "cookie")
_SECRET_PARAMS = frozenset({"private_token", "job_token", "token", "access_token"})

C = TypeVar("C")


@dataclass
class Request(Generic[C]):
    """One request; ``ctx`` is what the stand-in gives its routes along (its state)."""

    method: str
    target: str  # as sent, with the query
    path: str  # raw (not percent-decoded), no query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: BodyReader
    ctx: C
    auth: str = "-"  # who asked, for the log (each stand-in has its own words); - = not reached
    http_version: str = "HTTP/1.1"


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: Path | None = None  # streamed from disk instead of ``body``
    # streamed from another server (Workhorse send-url): ``stream_length`` bytes, then closed
    stream: BinaryIO | None = None
    stream_length: int | None = None
    reason: str | None = None  # a reason phrase of the service's own; None: the standard one


class RequestRecord(NamedTuple):
    """``(method, path, status)``; path without the query; status 0 = no answer (reset)."""

    method: str
    path: str
    status: int


@dataclass(frozen=True)
class RequestInfo:
    """The full log entry behind a RequestRecord (never holds a credential)."""

    method: str
    target: str  # with credential query parameters masked
    path: str
    status: int
    auth: str  # the stand-in's word for who asked; - = not reached
    fault: str | None
    bytes_in: int
    seconds: float
    service: str = "gitlab"  # gitlab | object-store | pypi
    credentials: tuple[str, ...] = ()  # names of the credential headers sent (never values)

    @property
    def record(self) -> RequestRecord:
        return RequestRecord(self.method, self.path, self.status)


def redacted_target(path: str, query: str, *, secrets: frozenset[str] = _SECRET_PARAMS) -> str:
    """The request target with credential query parameters (``secrets``: GitLab's token
    parameters by default) masked, for the log."""
    if not query:
        return path
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k in secrets for k, _ in pairs):
        return f"{path}?{query}"
    shown = [f"{k}=[MASKED]" if k in secrets else f"{k}={v}" for k, v in pairs]
    return f"{path}?{'&'.join(shown)}"


def status_phrase(message: str) -> str:
    """A reason phrase that fits a status line: ISO-8859-1 with ``?`` for the rest, and no line
    breaks (which would end the status line). Warehouse puts its messages there
    (``_exc_with_message``)."""
    text = message.encode("iso-8859-1", "replace").decode("iso-8859-1")
    return text.replace("\r", " ").replace("\n", " ")
