"""The sandbox's OIDC issuer: the ID tokens of GitLab CI jobs. NEVER for production.

A token's claims are those GitLab mints for the job
(:class:`~hatch_sigstore.sandbox._gitlab_job.Job`, after ``lib/gitlab/ci/jwt_v2.rb``); any claim
can be overridden or removed. Real GitLab signs every token with RS256. Tokens for the
``sigstore`` audience are ES256 here (key generation is instant and Fulcio accepts both); tokens
for any other audience (``pypi``) are RS256, because warehouse accepts nothing else
(``warehouse/oidc/services.py``, ``verify_jwt_signature``). The JWKS lists both keys.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hatch_sigstore.sandbox._gitlab_job import Job

__all__ = ["TokenIssuer", "TokenVerificationError"]

_ALGORITHM = "ES256"
_RSA_ALGORITHM = "RS256"


class TokenVerificationError(Exception):
    """The token failed verification; ``str()`` is the reason, safe to show (no token text)."""


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

    def job(self, **options: Any) -> tuple[Job, dict[str, Any]]:
        """The job ``options`` describe (:class:`Job` fields), in a pipeline of its own unless
        ``pipeline_id`` says which; and the rest of ``options``: claims to override."""
        if "pipeline_id" not in options:
            options["pipeline_id"] = 1000 + self._next()
        return Job.of(options)

    def claims(
        self, *, expires_in: float = 600, audience: str = "sigstore", **options: Any
    ) -> dict[str, Any]:
        """The claims of the job ``options`` describe (see :meth:`job`); the other options
        override claims, and ``name=None`` removes claim ``name``. ``expires_in <= 0`` gives a
        token that expired ``-expires_in`` seconds ago (at least one second ago)."""
        job, overrides = self.job(**options)
        return self.claims_of(job, audience=audience, expires_in=expires_in, overrides=overrides)

    def claims_of(
        self,
        job: Job,
        *,
        audience: str = "sigstore",
        expires_in: float = 600,
        overrides: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``job``'s token claims for ``audience``, valid ``expires_in`` seconds from now."""
        now = int(time.time())
        if expires_in > 0:
            iat, exp = now, now + int(expires_in)
        else:
            exp = now + int(expires_in) - 1
            iat = exp - 300
        claims = job.claims(
            issuer=self.issuer, audience=audience, iat=iat, exp=exp, jti=str(uuid.uuid4())
        )
        for name, value in (overrides or {}).items():
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
