"""Shared pieces of the GitLab stand-in's REST routes outside the package-manager APIs: the API
guard, ``find_project!`` and offset pagination."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeVar
from urllib.parse import quote_plus, unquote, urlsplit

from hatch_sigstore.sandbox._gitlab_auth import (
    Principal,
    authenticate_api,
    can_read_project,
    principal_kind,
)
from hatch_sigstore.sandbox._gitlab_store import Project
from hatch_sigstore.sandbox._gitlab_wire import Request, message, param_errors

__all__ = ["api_principal", "find_project", "paginate", "to_query"]

T = TypeVar("T")
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100  # Kaminari max_per_page (config/initializers/kaminari_config.rb)


def api_principal(req: Request, *, job_token: bool) -> Principal:
    store, headers, query = req.ctx.store, req.headers, req.query
    principal = authenticate_api(store, headers, query, req.method, job_token=job_token)
    req.auth = principal_kind(principal)
    return principal


def find_project(req: Request, raw_id: str, principal: Principal) -> Project:
    """``find_project!`` (lib/api/helpers.rb): unknown or unreadable -> 404 "Project Not
    Found" (anonymous included: these routes do not set ``authenticate_non_public``)."""
    project = req.ctx.store.find_project(unquote(raw_id))
    if project is None or not can_read_project(principal, project):
        raise message(404, "404 Project Not Found")
    return project


def to_query(params: Mapping[str, str]) -> str:
    """Rails ``Hash#to_query``: ``key=value`` pairs CGI-escaped, then sorted."""
    return "&".join(sorted(f"{quote_plus(k)}={quote_plus(v)}" for k, v in params.items()))


def _int_param(req: Request, name: str, default: int) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise param_errors([f"{name} is invalid"]) from None


def paginate(
    req: Request, items: Sequence[T], route_params: Mapping[str, str]
) -> tuple[list[T], dict[str, str]]:
    """``Gitlab::Pagination::OffsetPagination``: one page and its headers. The ``Link`` URLs
    are the request's, with host and port replaced by ``Gitlab.config.gitlab`` (the
    external URL), and every param (route params like ``id`` included) in the query."""
    page = max(_int_param(req, "page", 1), 1)
    per_page = _int_param(req, "per_page", DEFAULT_PER_PAGE)
    per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
    total = len(items)
    total_pages = max(math.ceil(total / per_page), 1)
    chunk = list(items[(page - 1) * per_page : page * per_page])
    next_page = page + 1 if page < total_pages else None
    prev_page = page - 1 if page > 1 else None
    external = urlsplit(req.ctx.base_url)
    base = f"http://{external.netloc}{req.path}"
    params = {**req.query, **route_params}

    def href(n: int) -> str:
        return f"{base}?{to_query({**params, 'page': str(n), 'per_page': str(per_page)})}"

    links = []
    if prev_page is not None:
        links.append(f'<{href(prev_page)}>; rel="prev"')
    if next_page is not None:
        links.append(f'<{href(next_page)}>; rel="next"')
    links.append(f'<{href(1)}>; rel="first"')
    links.append(f'<{href(total_pages)}>; rel="last"')
    headers = {
        "X-Per-Page": str(per_page),
        "X-Page": str(page),
        "X-Next-Page": "" if next_page is None else str(next_page),
        "X-Prev-Page": "" if prev_page is None else str(prev_page),
        "Link": ", ".join(links),
        "X-Total": str(total),
        "X-Total-Pages": str(total_pages),
    }
    return chunk, headers
