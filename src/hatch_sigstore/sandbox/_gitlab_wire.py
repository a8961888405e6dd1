"""The GitLab stand-in's request (with the instance it reaches) and its JSON answers and errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hatch_sigstore.sandbox import _wire
from hatch_sigstore.sandbox._wire import Response

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


# A request to the GitLab stand-in; ``auth`` (for the log): anonymous | personal | deploy | job.
Request = _wire.Request[Context]


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
