"""Group-level PyPI routes of the GitLab stand-in (``lib/api/pypi_packages.rb``, ``resource
:groups``): ``GET /groups/:id/-/packages/pypi/simple[/*package_name]`` and ``…/files/:sha256/
*file_identifier``. No group upload exists.

Groups are the namespaces of the stand-in's projects (``a`` and ``a/b`` for ``a/b/c``), found by
full path or by a numeric id given out on first use. A group is visible to whoever may read a
project in it (``find_authorized_group!``); its pages list the packages of the projects the
caller may read (``packages_visible_to_user(within_group:)``), with file links on the group
route (``SimplePackageVersionsPresenter#build_pypi_package_file_path``); the file route looks
the file up by name and sha256 across the group's projects without a per-project check (the
sha256 acts as the secret, as GitLab's finder comment says).
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from hatch_sigstore.sandbox._gitlab_auth import AuthFailure, authenticate, can_read_package
from hatch_sigstore.sandbox._gitlab_pypi import (
    PYPI_AUTH,
    principal_kind,
    render_simple_index,
    render_simple_package,
    serve_file,
)
from hatch_sigstore.sandbox._gitlab_store import Project
from hatch_sigstore.sandbox._gitlab_wire import ApiError, Request, Response, message

__all__ = ["handle_group_pypi"]


def _group(req: Request, raw_id: str) -> tuple[str, int, list[Project]]:
    store = req.ctx.store
    ident = unquote(raw_id)
    with store.lock:
        path = store.group_path(ident)
        projects = [] if path is None else store.projects_in_group(path)
        if path is None or not projects:
            raise message(404, "404 Not Found")
        return path, store.group_id(path), projects


def _readable(req: Request, projects: list[Project]) -> list[Project]:
    try:
        principal = authenticate(req.ctx.store, req.headers, req.query, PYPI_AUTH, req.method)
    except AuthFailure as failure:
        raise ApiError(failure.status, failure.body, failure.headers) from None
    req.auth_kind = principal_kind(principal)
    readable = [p for p in projects if can_read_package(principal, p)]
    if not readable:
        raise message(404, "404 Group Not Found")
    return readable


def handle_group_pypi(req: Request, raw_id: str, rest: list[str]) -> Response | None:
    """Dispatch ``/groups/:id/-/packages/pypi/<rest>``; None when no route matches."""
    if req.method not in ("GET", "HEAD") or not rest:
        return None
    if rest[0] == "files" and len(rest) >= 3:
        _path, _gid, projects = _group(req, raw_id)
        _readable(req, projects)
        sha256, filename = unquote(rest[1]), "/".join(unquote(s) for s in rest[2:])
        return serve_file(req, projects, sha256, filename, missing="404 Not found")
    if rest[0] != "simple":
        return None
    path, gid, projects = _group(req, raw_id)
    readable = _readable(req, projects)
    base = f"{req.ctx.base_url}/api/v4/groups/{gid}/-/packages/pypi"
    display = quote(path.rsplit("/", 1)[-1])
    if rest == ["simple"]:
        return render_simple_index(req, readable, base, display)
    return render_simple_package(req, readable, base, "/".join(unquote(s) for s in rest[1:]))
