"""Request/response types shared by the GitLab stand-in's routes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from hatch_sigstore.sandbox._gitlab_body import BodyReader

if TYPE_CHECKING:
    from hatch_sigstore.sandbox._gitlab_settings import Settings
    from hatch_sigstore.sandbox._gitlab_store import Store
    from hatch_sigstore.sandbox._object_store import ObjectStore

__all__ = ["ApiError", "Context", "Request", "Response", "json_response"]

JSON = "application/json"


@dataclass(frozen=True)
class Context:
    store: Store
    settings: Settings
    base_url: str  # GitLab's external URL (``expose_url``, ``Gitlab.config.gitlab.url``)
    objects: ObjectStore  # where package files live when object storage is on


@dataclass
class Request:
    method: str
    target: str  # as sent, with the query
    path: str  # raw (not percent-decoded), no query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: BodyReader
    ctx: Context
    auth_kind: str = "-"  # for the request log: anonymous | personal | deploy | job
    http_version: str = "HTTP/1.1"


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: Path | None = None  # streamed from disk instead of ``body``
    file_size: int = 0
    # streamed from another server (Workhorse send-url): ``stream_length`` bytes, then closed
    stream: BinaryIO | None = None
    stream_length: int | None = None


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, {"Content-Type": JSON, **(headers or {})}, body)


class ApiError(Exception):
    """Ends a request with a JSON error (GitLab's ``render_api_error!`` / Grape ``error!``)."""

    def __init__(
        self, status: int, payload: dict[str, object], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {payload}")
        self.response = json_response(status, payload, headers)


def message(status: int, text: str) -> ApiError:
    return ApiError(status, {"message": text})


def bad_request(reason: str) -> ApiError:
    return message(400, f"400 Bad request - {reason}")


def param_errors(errors: list[str]) -> ApiError:
    return ApiError(400, {"error": ", ".join(errors)})
