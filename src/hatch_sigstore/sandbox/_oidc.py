"""The sandbox's OIDC issuer: GitLab-CI-shaped ES256 ID tokens. NEVER for production.

Claims follow GitLab's ``id_tokens`` (``lib/gitlab/ci/jwt_v2.rb``): numeric ids are strings,
``ci_config_ref_uri`` has no scheme (``HOST/GROUP/PROJECT//CONFIG@refs/heads/main``). Real
GitLab signs every token with RS256. Tokens for the ``sigstore`` audience are ES256 here (key
generation is instant and Fulcio accepts both); tokens for any other audience (``pypi``) are
RS256, because warehouse accepts nothing else (``warehouse/oidc/services.py``,
``verify_jwt_signature``). The JWKS lists both keys.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
import uuid
import zlib
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = ["TokenIssuer", "TokenVerificationError", "full_ref", "server_host"]

_ALGORITHM = "ES256"
_RSA_ALGORITHM = "RS256"


class TokenVerificationError(Exception):
    """The token failed verification; ``str()`` is the reason, safe to show (no token text)."""


def server_host(server_url: str) -> str:
    """GitLab's ``build_server_fqdn``: the URL without its scheme or trailing slash."""
    return server_url.split("://", 1)[-1].rstrip("/")


def full_ref(ref: str, ref_type: str) -> str:
    """``refs/heads/REF`` for a branch, ``refs/tags/REF`` for a tag (already-full refs pass)."""
    if ref.startswith("refs/"):
        return ref
    return f"refs/tags/{ref}" if ref_type == "tag" else f"refs/heads/{ref}"


class TokenIssuer:
    """Mints and checks tokens for one issuer URL (the sandbox's GitLab server URL)."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer.rstrip("/")
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._kid = hashlib.sha256(
            jwt.algorithms.ECAlgorithm.to_jwk(self._key.public_key()).encode()
        ).hexdigest()[:16]
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._rsa: tuple[rsa.RSAPrivateKey, str] | None = None  # made on first use (~50 ms)

    def _rsa_key(self) -> tuple[rsa.RSAPrivateKey, str]:
        with self._lock:
            if self._rsa is None:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                kid = hashlib.sha256(
                    jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()).encode()
                ).hexdigest()[:16]
                self._rsa = (key, kid)
            return self._rsa

    def _next(self) -> int:
        with self._lock:
            return next(self._counter)

    def claims(
        self,
        *,
        project_path: str = "group/project",
        ref: str = "main",
        ref_type: str = "branch",
        config_path: str = ".gitlab-ci.yml",
        project_id: str = "42",
        expires_in: float = 600,
        audience: str = "sigstore",
        **overrides: Any,
    ) -> dict[str, Any]:
        """The claims a GitLab job with these coordinates would carry; ``overrides`` win.

        An override of ``None`` removes the claim. ``expires_in <= 0`` gives a token that
        expired ``-expires_in`` seconds ago (at least one second ago).
        """
        now = int(time.time())
        if expires_in > 0:
            iat = now
            exp = now + int(expires_in)
        else:
            exp = now + int(expires_in) - 1
            iat = exp - 300
        namespace_path = project_path.rsplit("/", 1)[0] if "/" in project_path else project_path
        ref_path = full_ref(ref, ref_type)
        short_ref = ref_path.split("/", 2)[2] if ref_path.count("/") >= 2 else ref
        sha = hashlib.sha1(f"{project_path}@{ref_path}".encode(), usedforsecurity=False).hexdigest()
        serial = self._next()
        claims: dict[str, Any] = {
            "namespace_id": str(zlib.crc32(namespace_path.encode()) % 900000 + 100000),
            "namespace_path": namespace_path,
            "project_id": str(project_id),
            "project_path": project_path,
            "user_id": "1",
            "user_login": "sandbox-user",
            "user_email": "sandbox-user@example.invalid",
            "user_access_level": "developer",
            "pipeline_id": str(1000 + serial),
            "pipeline_source": "push",
            "job_id": str(5000 + serial),
            "ref": short_ref,
            "ref_type": ref_type,
            "ref_path": ref_path,
            "ref_protected": "true",
            "runner_id": 1,
            "runner_environment": "gitlab-hosted",
            "sha": sha,
            "project_visibility": "private",
            "ci_config_ref_uri": (
                f"{server_host(self.issuer)}/{project_path}//{config_path}@{ref_path}"
            ),
            "ci_config_sha": sha,
            "jti": str(uuid.uuid4()),
            "iss": self.issuer,
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            "sub": f"project_path:{project_path}:ref_type:{ref_type}:ref:{short_ref}",
            "aud": audience,
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def mint(self, claims: dict[str, Any], *, algorithm: str | None = None) -> str:
        """Sign ``claims``: ES256 for audience ``sigstore``, else RS256 (as GitLab), unless
        ``algorithm`` says which."""
        if algorithm is None:
            algorithm = _ALGORITHM if claims.get("aud") == "sigstore" else _RSA_ALGORITHM
        if algorithm == _RSA_ALGORITHM:
            key, kid = self._rsa_key()
            return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})
        if algorithm != _ALGORITHM:
            raise ValueError(f"algorithm must be {_ALGORITHM} or {_RSA_ALGORITHM}")
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM, headers={"kid": self._kid})

    def verify(self, token: str, *, audience: str = "sigstore") -> dict[str, Any]:
        """Check signature, issuer, audience and time as Fulcio does; return the claims."""
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if alg == _ALGORITHM:
                public: Any = self._key.public_key()
            elif alg == _RSA_ALGORITHM:
                public = self._rsa_key()[0].public_key()
            else:
                raise TokenVerificationError(f"unsupported token algorithm {alg!r}")
            claims: dict[str, Any] = jwt.decode(
                token,
                public,
                algorithms=[alg],
                audience=audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "sub", "aud"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenVerificationError("the identity token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenVerificationError(
                f"the identity token's audience is not {audience!r}"
            ) from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenVerificationError(
                f"the identity token was not issued by {self.issuer}"
            ) from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenVerificationError("the identity token's signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise TokenVerificationError(f"the identity token is invalid: {exc}") from exc
        return claims

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self._kid, "use": "sig", "alg": _ALGORITHM})
        rsa_key, rsa_kid = self._rsa_key()
        rsa_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
        rsa_jwk.update({"kid": rsa_kid, "use": "sig", "alg": _RSA_ALGORITHM})
        return {"keys": [jwk, rsa_jwk]}

    def discovery(self, jwks_uri: str) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [_ALGORITHM, _RSA_ALGORITHM],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"],
        }
