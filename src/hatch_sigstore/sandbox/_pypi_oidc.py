"""Trusted publishing in the PyPI stand-in: ``/_/oidc/audience`` and ``/_/oidc/mint-token``.

Follows warehouse step by step, with its error codes and descriptions:
``warehouse/oidc/views.py`` (``oidc_audience``, ``mint_token_from_oidc``, ``mint_token``),
``warehouse/oidc/services.py`` (the JWKS cache with its 60 s refresh cooldown,
``verify_jwt_signature``: RS256 only, ``iss``/``iat``/``exp``/``aud`` required, ``nbf`` checked
if present, a single audience, 30 s leeway; ``jti`` single use), ``warehouse/oidc/utils.py``
(built-in issuers, custom ones registered per organization) and
``warehouse/oidc/models/gitlab.py`` + ``_core.py`` (claims present, the publisher lookup, the
checks in their order). The JWKS is fetched from the issuer's discovery document as warehouse
does, but only over loopback: the sandbox maps an issuer URL to where its discovery is served.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hatch_sigstore.sandbox._pypi_http import json_response
from hatch_sigstore.sandbox._pypi_store import (
    GITLAB_COM,
    GitLabPublisher,
    PendingGitLabPublisher,
    Store,
)
from hatch_sigstore.sandbox._pypi_tokens import expires_at, issue_publisher_token
from hatch_sigstore.sandbox._wire import Response

__all__ = ["JWT_LEEWAY", "OIDCSettings", "TrustedPublishing"]

JWT_LEEWAY = 30  # warehouse/oidc/services.py _JWT_LEEWAY
_KEYSET_COOLDOWN = 60  # _store_keyset: the refresh "timeout" key lives 60 s
# GitLabPublisherMixin: required verifiable claims (checked in this order), then the
# required unverifiable ones
_REQUIRED_CLAIMS = ("sub", "project_path", "ci_config_ref_uri", "jti", "ref_path", "sha")
# _WORKFLOW_FILEPATH_RE: the CI file between "//" and "@", ending .yml/.yaml, no empty basename
_WORKFLOW_FILEPATH = re.compile(r"(?<=//)(.*[^/]\.(yml|yaml))(?=@)")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class InvalidPublisherError(Exception):
    pass


class ReusedTokenError(Exception):
    pass


class _WarehouseCrashError(Exception):
    """A claim shape warehouse does not survive (it answers 500)."""


@dataclass
class OIDCSettings:
    """Switches and issuers (mutable at any time; read per request)."""

    audience: str = "pypi"  # warehouse.oidc.audience ("testpypi" on TestPyPI)
    enabled: bool = True  # AdminFlag disallow-oidc (all issuers)
    gitlab_enabled: bool = True  # AdminFlag disallow-gitlab-oidc (gitlab.com only)
    # custom (self-managed) GitLab issuers, registered per organization (OrganizationOIDCIssuer)
    custom_gitlab_issuers: set[str] = field(default_factory=set)
    # where each issuer's discovery document is served (sandbox-only: no DNS, loopback only)
    discovery: dict[str, str] = field(default_factory=dict)


def _fail(code: str, description: str) -> Response:
    # views.py _invalid
    return json_response(
        422,
        {"message": "Token request failed", "errors": [{"code": code, "description": description}]},
    )


class _KeyCache:
    """The per-issuer JWKS cache of ``OIDCPublisherService`` (Redis there, memory here)."""

    def __init__(self, settings: OIDCSettings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._keys: dict[str, dict[str, dict[str, Any]]] = {}
        self._cooldown_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self.fetches = 0  # discovery+JWKS refreshes done (for tests)

    def _fetch_json(self, url: str) -> Any:
        host = urlsplit(url).hostname or ""
        if host not in _LOOPBACK:
            raise OSError(f"the sandbox fetches only from loopback, not {host!r}")
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
            return json.loads(resp.read())

    def _refresh(self, issuer: str) -> dict[str, dict[str, Any]]:
        keys = self._keys.get(issuer, {})
        if self._clock() < self._cooldown_until.get(issuer, 0):
            return keys
        base = self._settings.discovery.get(issuer, issuer).rstrip("/")
        self.fetches += 1
        try:
            config = self._fetch_json(f"{base}/.well-known/openid-configuration")
            jwks_uri = config.get("jwks_uri") if isinstance(config, dict) else None
            if not isinstance(jwks_uri, str):
                return keys
            new_keys = self._fetch_json(jwks_uri).get("keys")
        except (OSError, ValueError, AttributeError):
            return keys  # "failed to return configuration": keep the cache
        if not new_keys:
            return keys
        keys = {key["kid"]: key for key in new_keys if isinstance(key, dict) and "kid" in key}
        self._keys[issuer] = keys
        self._cooldown_until[issuer] = self._clock() + _KEYSET_COOLDOWN
        return keys

    def key(self, kid: str, issuer: str) -> dict[str, Any] | None:
        with self._lock:
            keys = self._keys.get(issuer, {})
            if kid not in keys:
                keys = self._refresh(issuer)
            return keys.get(kid)


class TrustedPublishing:
    """The two OIDC views, over the stand-in's store."""

    def __init__(self, store: Store, settings: OIDCSettings, clock: Callable[[], float]) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.keys = _KeyCache(settings, clock)

    # -- views -------------------------------------------------------------------------------
    def audience(self) -> Response:
        if not self.settings.enabled:
            return json_response(403, {"message": "Trusted publishing functionality not enabled"})
        return json_response(200, {"audience": self.settings.audience})

    def mint_token(self, body: bytes) -> Response:
        from pydantic import BaseModel, StrictStr, ValidationError

        class TokenPayload(BaseModel):
            token: StrictStr

        try:
            unverified_jwt = TokenPayload.model_validate_json(body).token
        except ValidationError as exc:
            return _fail("invalid-payload", str(exc))

        import jwt

        try:
            unverified = jwt.decode(unverified_jwt, options={"verify_signature": False})
            issuer = unverified["iss"]
            hash(issuer)
        except Exception:
            return _fail("invalid-payload", "malformed JWT")

        if issuer == GITLAB_COM or issuer in self.settings.custom_gitlab_issuers:
            service = "gitlab"
        else:
            return _fail("invalid-payload", "unknown trusted publishing issuer")
        # disallow_oidc(flag): the global switch, and gitlab.com's own (custom issuers have none)
        if not self.settings.enabled or (issuer == GITLAB_COM and not self.settings.gitlab_enabled):
            return _fail("not-enabled", f"{service} trusted publishing functionality not enabled")

        claims = self.verify_jwt_signature(unverified_jwt, issuer)
        if claims is None:
            return _fail("invalid-token", "malformed or invalid token")
        with self.store.lock:
            try:
                return self._exchange(claims)
            except _WarehouseCrashError:
                return json_response(500, {"message": "Internal Server Error"})

    # -- services.py -------------------------------------------------------------------------
    def verify_jwt_signature(self, token: str, issuer: str) -> dict[str, Any] | None:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        kid = header.get("kid")
        if not isinstance(kid, str):
            return None
        jwk = self.keys.key(kid, issuer)
        if jwk is None:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=jwt.PyJWK(jwk),
                algorithms=["RS256"],
                options={
                    "verify_signature": True,
                    "require": ["iss", "iat", "exp", "aud"],
                    "verify_iss": True,
                    "verify_iat": True,
                    "verify_exp": True,
                    "verify_aud": True,
                    "verify_nbf": True,
                    "strict_aud": True,
                },
                issuer=issuer,
                audience=self.settings.audience,
                leeway=JWT_LEEWAY,
            )
        except Exception:
            return None
        return claims

    def _jti_key(self, jti: object) -> str:
        # keyed by the *service's* issuer URL: gitlab.com's for every GitLab issuer
        return f"{GITLAB_COM}/{jti}"

    def _jti_used(self, jti: object) -> bool:
        now = self.clock()
        expiry = self.store.used_jtis.get(self._jti_key(jti))
        return expiry is not None and expiry > now

    def _store_jti(self, jti: object, expiration: int) -> bool:
        if self._jti_used(jti):
            return False
        self.store.used_jtis[self._jti_key(jti)] = expiration + JWT_LEEWAY + 5
        return True

    # -- models/gitlab.py --------------------------------------------------------------------
    def _lookup(
        self, claims: dict[str, Any], candidates: list[Any]
    ) -> GitLabPublisher | PendingGitLabPublisher:
        for name in _REQUIRED_CLAIMS:  # check_claims_existence
            if claims.get(name) is None:
                raise InvalidPublisherError(f"Missing claim {name!r}")
        project_path = claims["project_path"]
        if not isinstance(project_path, str) or "/" not in project_path:
            raise _WarehouseCrashError  # ``project_path.rsplit("/", 1)`` fails: a 500
        namespace, project = project_path.rsplit("/", 1)
        match = _WORKFLOW_FILEPATH.search(str(claims["ci_config_ref_uri"]))
        if match is None:
            raise InvalidPublisherError("Could not extract workflow filename from OIDC claims")
        workflow_filepath = match.group(0)
        found = [
            p
            for p in candidates
            if p.namespace.lower() == namespace.lower()
            and p.project.lower() == project.lower()
            and p.workflow_filepath == workflow_filepath
            and p.issuer_url == claims["iss"]
        ]
        environment = claims.get("environment")
        # _get_publisher_for_environment: the environment's own publisher, else a general one
        chosen = next((p for p in found if environment and p.environment == environment), None)
        chosen = chosen or next((p for p in found if p.environment == ""), None)
        if chosen is None:
            raise InvalidPublisherError("Publisher with matching claims was not found")
        self._verify_claims(chosen, claims)
        return chosen  # type: ignore[no-any-return]

    def _verify_claims(
        self, publisher: GitLabPublisher | PendingGitLabPublisher, claims: dict[str, Any]
    ) -> None:
        project_path = f"{publisher.namespace}/{publisher.project}"
        sub = str(claims["sub"])
        parts = sub.split(":")
        if not (len(parts) >= 2 and parts[0] and parts[1]) or (
            f"{parts[0]}:{parts[1]}".lower() != f"project_path:{project_path}".lower()
        ):
            raise InvalidPublisherError("Check failed for required claim 'sub'")
        if not claims["project_path"] or str(claims["project_path"]).lower() != (
            project_path.lower()
        ):
            raise InvalidPublisherError("Check failed for required claim 'project_path'")
        ref_uri = claims["ci_config_ref_uri"]
        if not ref_uri:
            raise InvalidPublisherError("The ci_config_ref_uri claim is empty")
        ref_path, sha = claims.get("ref_path"), claims.get("sha")
        if not (ref_path and sha):
            raise InvalidPublisherError("The ref_path and sha claims are empty")
        domain = publisher.issuer_url.removeprefix("https://")
        ground_truth = f"{domain}/{project_path}//{publisher.workflow_filepath}"
        expected = {f"{ground_truth}@{ref}" for ref in (ref_path, sha) if ref}
        if ref_uri not in expected:
            raise InvalidPublisherError(
                "The ci_config_ref_uri claim does not match, expecting one of "
                f"{sorted(expected)!r}, got {ref_uri!r}"
            )
        if self._jti_used(claims["jti"]):  # check_existing_jti
            raise ReusedTokenError
        environment = claims.get("environment")
        if publisher.environment and environment != publisher.environment:
            raise InvalidPublisherError("Check failed for optional claim 'environment'")

    # -- views.py mint_token -----------------------------------------------------------------
    def _exchange(self, claims: dict[str, Any]) -> Response:
        store = self.store
        try:
            pending = self._lookup(claims, store.pending)
        except InvalidPublisherError:
            pending = None
        except ReusedTokenError as exc:
            raise _WarehouseCrashError from exc  # not caught on this path in warehouse: a 500
        if isinstance(pending, PendingGitLabPublisher):
            if store.project(pending.project_name) is not None:
                store.pending.remove(pending)
                return _fail("invalid-pending-publisher", "valid token, but project already exists")
            project = store.add_project(pending.project_name, pending.added_by)
            publisher = next(
                (
                    p
                    for p in store.publishers
                    if (p.namespace, p.project, p.workflow_filepath, p.environment, p.issuer_url)
                    == (
                        pending.namespace,
                        pending.project,
                        pending.workflow_filepath,
                        pending.environment,
                        pending.issuer_url,
                    )
                ),
                None,
            )
            if publisher is None:
                publisher = GitLabPublisher(
                    pending.namespace,
                    pending.project,
                    pending.workflow_filepath,
                    pending.environment,
                    pending.issuer_url,
                )
                store.publishers.append(publisher)
            publisher.projects.append(project)
            project.publishers.append(publisher)
            store.pending.remove(pending)

        try:
            found = self._lookup(claims, store.publishers)
        except ReusedTokenError:
            return _fail("invalid-reuse-token", "invalid token: already used")
        except InvalidPublisherError as exc:
            return _fail(
                "invalid-publisher", f"valid token, but no corresponding publisher ({exc})"
            )
        assert isinstance(found, GitLabPublisher)
        jti = claims.get("jti")
        if jti and not self._store_jti(jti, int(claims["exp"])):
            return _fail("invalid-reuse-token", "invalid token: already used")
        macaroon = issue_publisher_token(store, found, claims, self.clock())
        return json_response(
            200, {"success": True, "token": macaroon.token, "expires": expires_at(macaroon)}
        )
