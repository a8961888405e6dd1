"""Authentication and authorisation of the GitLab stand-in (lib/gitlab/auth/auth_finders.rb,
lib/api/api_guard.rb, lib/api/helpers/packages/basic_auth_helpers.rb).

Credential sources, in GitLab's order (``find_user_from_sources``): deploy token (``DEPLOY-TOKEN``
header or Basic password), personal/project access token (``PRIVATE-TOKEN`` header,
``private_token`` param, ``Authorization: Bearer``, Basic password), job token (``JOB-TOKEN``
header, ``job_token``/``token`` params, or Basic with the user ``gitlab-ci-token``, each only where
the route allows it). A job token where the route does not accept it is ignored (anonymous).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hatch_sigstore.sandbox._gitlab_store import (
    ROLES,
    DeployToken,
    JobToken,
    PersonalToken,
    Project,
    Store,
    User,
)
from hatch_sigstore.sandbox._gitlab_wire import ApiError

__all__ = [
    "ANONYMOUS",
    "CI_JOB_USER",
    "AuthFailure",
    "Principal",
    "RouteAuth",
    "access_level",
    "authenticate",
    "authenticate_api",
    "authorize",
    "can_admin_package",
    "principal_kind",
]

CI_JOB_USER = "gitlab-ci-token"
REALM = 'Basic realm="GitLab Packages Registry"'
OAUTH_REALM = "Protected by OAuth 2.0"
EXPIRED = "Token is expired. You can either do re-authorization or token refresh."
REVOKED = "Token was revoked. You have to re-authorize from the user."
INSUFFICIENT = "The request requires higher privileges than provided by the access token."


class AuthFailure(ApiError):  # noqa: N818 - a decision, not a bug
    """An auth decision that ends the request: status, JSON body and extra headers (the
    route answers it as any :class:`ApiError`)."""

    def __init__(
        self,
        status: int,
        body: dict[str, object],
        headers: Mapping[str, str] | None = None,
        *,
        bad_credentials: bool = False,
    ) -> None:
        super().__init__(status, body, dict(headers or {}))
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.bad_credentials = bad_credentials


def unauthorized(*, bad_credentials: bool = False) -> AuthFailure:
    return AuthFailure(
        401,
        {"message": "401 Unauthorized"},
        {"WWW-Authenticate": REALM},
        bad_credentials=bad_credentials,
    )


def _oauth_invalid(description: str) -> AuthFailure:
    header = (
        f'Bearer realm="{OAUTH_REALM}", error="invalid_token", error_description="{description}"'
    )
    return AuthFailure(
        401,
        {"error": "invalid_token", "error_description": description},
        {"WWW-Authenticate": header},
    )


@dataclass(frozen=True)
class RouteAuth:
    """``route_setting :authentication`` of one route."""

    deploy_token: bool = True
    basic_pat: bool = True
    job_token_request: bool = False  # JOB-TOKEN header, job_token / token params
    job_token_basic: bool = False  # Basic gitlab-ci-token:<job token>


@dataclass(frozen=True)
class Principal:
    kind: Literal["anonymous", "user", "deploy"]
    user: User | None = None
    deploy: DeployToken | None = None
    job: JobToken | None = None
    pat: PersonalToken | None = None

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"


ANONYMOUS = Principal("anonymous")


def _basic(headers: Mapping[str, str]) -> tuple[str, str] | None:
    value = headers.get("authorization", "")
    scheme, _, data = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(data.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user or not password:
        return None
    return user, password


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, data = value.partition(" ")
    return data.strip() or None if scheme.lower() == "bearer" else None


def _pat_principal(pat: PersonalToken, method: str) -> Principal:
    if pat.revoked:
        raise _oauth_invalid(REVOKED)
    if pat.expired:
        raise _oauth_invalid(EXPIRED)
    readonly = method in ("GET", "HEAD")
    allowed = ("api", "read_api") if readonly else ("api",)
    if not pat.scopes.intersection(allowed):
        raise AuthFailure(
            403,
            {
                "error": "insufficient_scope",
                "error_description": INSUFFICIENT,
                "scope": " ".join(allowed),
            },
        )
    return Principal("user", user=pat.user, pat=pat)


def _job_principal(job: JobToken | None) -> Principal:
    if job is None or not job.running:
        raise unauthorized(bad_credentials=True)
    return Principal("user", user=job.user, job=job)


def authenticate(
    store: Store,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    route: RouteAuth,
    method: str,
) -> Principal:
    """Who is asking. ``headers`` keys are lower-case. Raises AuthFailure."""
    with store.lock:
        basic = _basic(headers)
        # 1. deploy tokens
        if route.deploy_token:
            header = headers.get("deploy-token")
            if header:
                deploy = store.deploy_tokens.get(header)
                if deploy is None or deploy.revoked:
                    raise unauthorized(bad_credentials=True)
                return Principal("deploy", deploy=deploy)
            if basic is not None:
                deploy = store.deploy_tokens.get(basic[1])
                if deploy is not None and not deploy.revoked:
                    return Principal("deploy", deploy=deploy)
        # 2. personal / project access tokens
        token = query.get("private_token") or headers.get("private-token") or _bearer(headers)
        if token:
            pat = store.personal_tokens.get(token)
            if pat is None:
                raise unauthorized(bad_credentials=True)
            return _pat_principal(pat, method)
        if route.basic_pat and basic is not None:
            pat = store.personal_tokens.get(basic[1])
            if pat is not None:
                return _pat_principal(pat, method)
        # 3. job tokens
        if route.job_token_request:
            token = headers.get("job-token") or query.get("job_token") or query.get("token")
            if token:
                return _job_principal(store.job_tokens.get(token))
        if basic is not None:
            if route.job_token_basic and basic[0] == CI_JOB_USER:
                return _job_principal(store.job_tokens.get(basic[1]))
            # Basic credentials that match nothing this route accepts
            raise unauthorized(bad_credentials=True)
        return ANONYMOUS


# authorisation ---------------------------------------------------------------------------------

_READ_SCOPES = frozenset({"read_package_registry", "write_package_registry"})


def _role(principal: Principal, project: Project) -> int:
    return principal.user.role_in(project.id) if principal.user is not None else 0


def can_read_project(principal: Principal, project: Project) -> bool:
    if project.visibility == "public":
        return True
    if principal.kind == "deploy":
        assert principal.deploy is not None
        return principal.deploy.project_id == project.id
    if principal.kind == "user":
        return project.visibility == "internal" or _role(principal, project) >= ROLES["guest"]
    return False


def can_read_package(principal: Principal, project: Project) -> bool:
    if principal.kind == "deploy":
        assert principal.deploy is not None
        if principal.deploy.project_id == project.id:
            return bool(principal.deploy.scopes & _READ_SCOPES)
        return project.visibility == "public"
    if project.visibility in ("public", "internal") and can_read_project(principal, project):
        return True
    return _role(principal, project) >= ROLES["reporter"]


def can_create_package(principal: Principal, project: Project) -> bool:
    if principal.kind == "deploy":
        assert principal.deploy is not None
        return (
            principal.deploy.project_id == project.id
            and "write_package_registry" in principal.deploy.scopes
        )
    return _role(principal, project) >= ROLES["developer"]


def authorize(principal: Principal, project: Project, action: Literal["read", "write"]) -> None:
    """``authorized_user_project`` then ``authorize_read_package!`` / ``authorize_upload!``."""
    if not can_read_project(principal, project):
        if principal.anonymous:
            raise unauthorized()
        raise AuthFailure(404, {"message": "404 Not Found"})
    allowed = (
        can_read_package(principal, project)
        if action == "read"
        else can_create_package(principal, project)
    )
    if not allowed:
        if principal.anonymous:
            raise unauthorized()
        raise AuthFailure(403, {"message": "403 Forbidden"})


def authenticate_api(
    store: Store,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    method: str,
    *,
    job_token: bool,
) -> Principal:
    """``API::APIGuard`` on a route outside the package-manager APIs: personal/project access
    tokens (``PRIVATE-TOKEN``, ``private_token``, ``Authorization: Bearer``), job tokens only
    where the route says ``job_token_allowed: true`` (``JOB-TOKEN``, ``job_token``), no deploy
    tokens and no Basic auth (both ignored: the request is anonymous). A bad token is 401
    ``{"message":"401 Unauthorized"}`` without the package registry's ``WWW-Authenticate``."""
    kept = {
        k: v
        for k, v in headers.items()
        if k != "deploy-token" and not (k == "authorization" and _basic(headers) is not None)
    }
    route = RouteAuth(deploy_token=False, basic_pat=False, job_token_request=job_token)
    try:
        return authenticate(store, kept, query, route, method)
    except AuthFailure as failure:
        if failure.status == 401 and failure.body == {"message": "401 Unauthorized"}:
            raise AuthFailure(401, failure.body, bad_credentials=True) from None
        raise


def can_admin_package(principal: Principal, project: Project) -> bool:
    """``admin_package``: Maintainer and up (app/policies/project_policy.rb)."""
    return principal.kind == "user" and _role(principal, project) >= ROLES["maintainer"]


def access_level(principal: Principal, project: Project) -> int:
    """``max_member_access_for_project`` of the user behind a token (0 when not a member)."""
    return _role(principal, project)


def principal_kind(principal: Principal) -> str:
    """How the request log names who asked: job | personal | deploy | anonymous."""
    if principal.job is not None:
        return "job"
    if principal.pat is not None:
        return "personal"
    return principal.kind
