"""Sandbox-only administration of the PyPI stand-in over HTTP (``sandbox serve --pypi``).

Not warehouse's API: a rehearsal by hand needs a project, a publisher or a token without the
web UI. Loopback only, like the rest of the sandbox.
"""

from __future__ import annotations

import json
from typing import Protocol

from hatch_sigstore.sandbox._pypi_http import json_response
from hatch_sigstore.sandbox._pypi_store import GitLabPublisher, Project
from hatch_sigstore.sandbox._wire import Response

__all__ = ["admin"]


class Admin(Protocol):
    """The part of ``PyPIIndex`` these routes drive (named here, not imported: no cycle)."""

    def create_project(self, name: str, *, owner: str = ...) -> Project: ...

    def project(self, name: str) -> Project | None: ...

    def add_gitlab_publisher(
        self,
        project: str,
        repository: str,
        *,
        workflow_filepath: str = ...,
        environment: str = ...,
        issuer_url: str = ...,
    ) -> GitLabPublisher: ...

    def api_token(self, *, user: str = ..., project: str | None = ...) -> str: ...


def admin(index: Admin, path: str, body: bytes) -> Response:
    """Sandbox-only administration for ``sandbox serve --pypi`` (not warehouse's API):
    ``POST /_sandbox/projects`` ``{"name"}``, ``/_sandbox/publishers`` ``{"project",
    "repository", "workflow_filepath"?, "environment"?, "issuer_url"?}``,
    ``/_sandbox/api-tokens`` ``{"user"?, "project"?}`` (answers ``{"token"}``)."""
    try:
        data = json.loads(body or b"{}")
        if not isinstance(data, dict):
            raise TypeError("the body must be a JSON object")
        if path == "/_sandbox/projects":
            project = index.create_project(str(data["name"]))
            return json_response(201, {"name": project.name})
        if path == "/_sandbox/publishers":
            if index.project(str(data["project"])) is None:
                index.create_project(str(data["project"]))
            options = {
                k: str(data[k])
                for k in ("workflow_filepath", "environment", "issuer_url")
                if k in data
            }
            publisher = index.add_gitlab_publisher(
                str(data["project"]), str(data["repository"]), **options
            )
            return json_response(201, {"id": publisher.id})
        if path == "/_sandbox/api-tokens":
            token = index.api_token(
                user=str(data.get("user", "owner")),
                project=None if data.get("project") is None else str(data["project"]),
            )
            return json_response(201, {"token": token})
    except (ValueError, KeyError, TypeError) as exc:
        return json_response(400, {"message": f"sandbox: {exc}"})
    return json_response(404, {"message": "sandbox: no such admin route"})
