"""API tokens of the PyPI stand-in: issuing, reading ``Authorization``, and the permission check.

Tokens are opaque ``pypi-…`` strings standing for warehouse's macaroons; the caveats and their
messages are warehouse's (``warehouse/macaroons/caveats/__init__.py``), checked in the order
they were issued, stopping at the first failure as pymacaroons' verifier does. Reading the
header follows ``warehouse/macaroons/security_policy.py`` and
``warehouse/accounts/security_policy.py`` (``BasicAuthSecurityPolicy``).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass
from typing import Any

from hatch_sigstore.sandbox._pypi_http import HTTPError
from hatch_sigstore.sandbox._pypi_store import (
    GitLabPublisher,
    Macaroon,
    Project,
    Store,
    User,
)

__all__ = ["OIDC_TOKEN_LIFETIME", "Identity", "authenticate", "permits"]

# warehouse/oidc/views.py mint_token: ``expires_at = not_before + 900``
OIDC_TOKEN_LIFETIME = 900


@dataclass(frozen=True)
class Identity:
    macaroon: Macaroon

    @property
    def user(self) -> User | None:
        return self.macaroon.user

    @property
    def publisher(self) -> GitLabPublisher | None:
        return self.macaroon.publisher


def _new_token() -> str:
    # the shape of a serialized v2 macaroon ("AgE…"), but random: the stand-in keeps the rest
    return "pypi-AgE" + secrets.token_urlsafe(96)


def issue_user_token(
    store: Store, user: User, *, projects: list[Project] | None, description: str
) -> Macaroon:
    """A user's API token: account-wide, or scoped to ``projects`` (by normalized name)."""
    caveats: list[tuple[Any, ...]] = []
    if projects is not None:
        caveats.append(("project_names", [p.normalized_name for p in projects]))
    caveats.append(("user", user.id))
    macaroon = Macaroon(_new_token(), caveats, user=user, description=description)
    store.macaroons[macaroon.token] = macaroon
    return macaroon


def issue_publisher_token(
    store: Store, publisher: GitLabPublisher, claims: dict[str, Any], now: float
) -> Macaroon:
    """The short-lived token ``mint_token`` creates: publisher, its projects, 900 s."""
    not_before = int(now)
    caveats: list[tuple[Any, ...]] = [
        ("oidc_publisher", publisher.id),
        ("project_ids", [p.id for p in publisher.projects]),
        ("expiration", not_before + OIDC_TOKEN_LIFETIME, not_before),
    ]
    macaroon = Macaroon(
        _new_token(),
        caveats,
        publisher=publisher,
        # GitLabPublisher.stored_claims
        claims={"ref_path": claims.get("ref_path"), "sha": claims.get("sha")},
        description=f"OpenID token: {publisher.workflow_filepath}",
    )
    store.macaroons[macaroon.token] = macaroon
    return macaroon


def expires_at(macaroon: Macaroon) -> int | None:
    for caveat in macaroon.caveats:
        if caveat[0] == "expiration":
            return int(caveat[1])
    return None


def _extract(authorization: str, help_url: str) -> str | None:
    """The candidate token in ``Authorization`` (``_extract_http_macaroon``)."""
    method, sep, value = authorization.partition(" ")
    if not sep:
        return None
    method = method.lower()
    if method in ("token", "bearer"):
        return value
    if method != "basic":
        return None
    try:
        username, _, password = base64.b64decode(value).decode().partition(":")
    except (ValueError, binascii.Error):
        return None
    if username != "__token__":
        # BasicAuthSecurityPolicy.identity, for routes that take basic auth (the upload)
        raise HTTPError(
            403,
            "Username/Password authentication is no longer supported. Migrate to API Tokens "
            f"or Trusted Publishers instead. See {help_url}#apitoken and "
            f"{help_url}#trusted-publishers",
        )
    return password.strip()


def authenticate(store: Store, authorization: str | None, help_url: str) -> Identity | None:
    """``request.identity``: None for no, a malformed, or an unknown token (deleted tokens
    included); an expired one still identifies (its caveats fail later)."""
    if not authorization:
        return None
    token = _extract(authorization, help_url)
    if token is None:
        return None
    prefix, _, raw = token.partition("-")
    if prefix != "pypi" or not raw:
        return None
    macaroon = store.macaroons.get(token)
    return None if macaroon is None else Identity(macaroon)


def _caveat_failure(
    caveat: tuple[Any, ...], identity: Identity, project: Project, now: float
) -> str | None:
    kind = caveat[0]
    if kind == "oidc_publisher":
        publisher = identity.publisher
        if publisher is None:
            return "OIDC scoped token used outside of an OIDC identified request"
        if publisher.id != caveat[1]:
            return "current OIDC publisher does not match publisher restriction in token"
        if project not in publisher.projects:
            return f"OIDC scoped token is not valid for project '{project.name}'"
    elif kind == "project_ids":
        if project.id not in caveat[1]:
            return f"project-scoped token is not valid for project: {project.name!r}"
    elif kind == "project_names":
        if project.normalized_name not in caveat[1]:
            return f"project-scoped token is not valid for project: {project.name!r}"
    elif kind == "user":
        if identity.user is None:
            return "token with user restriction without a user"
        if identity.user.id != caveat[1]:
            return "current user does not match user restriction in token"
    elif kind == "expiration":
        expires, not_before = caveat[1], caveat[2]
        if now < not_before or now >= expires:
            return "token is expired"
    return None


def permits(
    identity: Identity, project: Project, help_url: str, *, now: float | None = None
) -> str | None:
    """None if ``identity`` may upload to ``project``, else the 403 message
    (``request.has_permission(Permissions.ProjectsUpload, project)`` in ``file_upload``)."""
    now = time.time() if now is None else now
    for caveat in identity.macaroon.caveats:
        failure = _caveat_failure(caveat, identity, project, now)
        if failure is not None:
            return f"Invalid API Token: {failure}"
    user = identity.user
    if user is None:
        # OIDC: the project's ACL grants upload to "oidc:<publisher id>"
        publisher = identity.publisher
        if publisher is not None and project in publisher.projects:
            return None
        return (
            f"The given token isn't allowed to upload to project '{project.name}'. "
            f"See {help_url}#project-name for more information."
        )
    if user.id in project.owners or user.id in project.maintainers:
        return None
    return (
        f"The user '{user.username}' isn't allowed to upload to project '{project.name}'. "
        f"See {help_url}#project-name for more information."
    )
