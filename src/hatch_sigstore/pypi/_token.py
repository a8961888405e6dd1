"""The two secrets of a PyPI upload: the GitLab ID token we exchange, and the API token we send.

:class:`IDToken` is the job's ID token (``id_tokens: PYPI_ID_TOKEN: aud: pypi``) with its claims
read *without* verifying the signature: the index verifies it; we only read it to check
audience and expiry before the exchange, to name the trusted publisher it must match in a
message, and to know the pipeline it came from. :class:`UploadToken` is what goes into the
upload's ``Authorization`` header: minted by trusted publishing (900 seconds, one project) or
read from an environment variable the settings *name*. Neither value is ever shown: ``repr``
hides it and every message is built from names and claims, not from the tokens.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hatch_sigstore.errors import ConfigError, TokenError

__all__ = ["DEFAULT_API_TOKEN_ENV", "DEFAULT_ID_TOKEN_ENV", "IDToken", "UploadToken"]

DEFAULT_ID_TOKEN_ENV = "PYPI_ID_TOKEN"  # noqa: S105 (a variable name)
DEFAULT_API_TOKEN_ENV = "PYPI_API_TOKEN"  # noqa: S105 (a variable name)
_TOKEN_USER = "__token__"  # noqa: S105 (warehouse's user name for API tokens)
# a header value: no whitespace, no control characters (header injection), not absurdly long
_HEADER_SAFE = re.compile(r"\A[\x21-\x7e]{1,8192}\Z")
_ENV_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
# warehouse's _WORKFLOW_FILEPATH_RE (warehouse/oidc/models/gitlab.py): the CI file between the
# "//" that ends the project path and the "@" before the ref; .yml or .yaml, no empty basename
_WORKFLOW_FILEPATH = re.compile(r"(?<=//)(.*[^/]\.(yml|yaml))(?=@)")


def check_env_name(name: str, what: str) -> None:
    if not _ENV_NAME.match(name):
        # never echoed: a token pasted where its variable's name belongs is a secret
        raise ConfigError(
            f"The {what} is not an environment variable name (letters, digits and _).",
            remediation="Give the NAME of the variable that holds the token, never the token.",
        )


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@dataclass(frozen=True)
class IDToken:
    """A GitLab ID token and its unverified claims. ``source`` names its variable."""

    value: str = field(repr=False)
    source: str
    claims: Mapping[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, value: str, source: str) -> IDToken:
        """Read the claims of a JWT; :class:`TokenError` naming ``source`` when it is not one."""
        token = value.strip()
        parts = token.split(".")
        claims: object = None
        if len(parts) == 3 and _HEADER_SAFE.match(token):
            try:
                claims = json.loads(_b64url(parts[1]))
            except (binascii.Error, ValueError):
                claims = None
        if not isinstance(claims, dict):
            raise TokenError(
                f"{source} does not hold a JWT (an OIDC ID token).",
                remediation=f"Give the job an ID token for PyPI: id_tokens: {source}: aud: pypi "
                "(the audience is what the index's /_/oidc/audience says).",
            )
        return cls(token, source, claims)

    @classmethod
    def from_env(cls, name: str, env: Mapping[str, str] | None = None) -> IDToken | None:
        """The token in the variable ``name``, or ``None`` when it is unset or empty."""
        check_env_name(name, "ID token variable")
        value = (os.environ if env is None else env).get(name, "").strip()
        return cls.parse(value, name) if value else None

    def claim(self, name: str) -> str | None:
        value = self.claims.get(name)
        return value if isinstance(value, str) and value else None

    @property
    def issuer(self) -> str | None:
        return self.claim("iss")

    @property
    def audiences(self) -> tuple[str, ...]:
        aud = self.claims.get("aud")
        if isinstance(aud, str):
            return (aud,)
        if isinstance(aud, list):
            return tuple(a for a in aud if isinstance(a, str))
        return ()

    @property
    def project_path(self) -> str | None:
        return self.claim("project_path")

    @property
    def workflow_filepath(self) -> str | None:
        """The CI file as warehouse extracts it from ``ci_config_ref_uri``."""
        uri = self.claim("ci_config_ref_uri")
        match = _WORKFLOW_FILEPATH.search(uri) if uri else None
        return match.group(0) if match else None

    @property
    def ref_path(self) -> str | None:
        return self.claim("ref_path")

    @property
    def environment(self) -> str | None:
        return self.claim("environment")

    @property
    def expires(self) -> float | None:
        exp = self.claims.get("exp")
        return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None

    def describe(self) -> str:
        """What a PyPI publisher must match, from the claims: for messages."""
        parts = [f"issuer {self.issuer or '?'}", f"project {self.project_path or '?'}"]
        parts.append(f"CI file {self.workflow_filepath or '?'}")
        parts.append(f"ref {self.ref_path or '?'}")
        parts.append(f"environment {self.environment}" if self.environment else "no environment")
        return ", ".join(parts)

    def check(self, audience: str, *, now: float | None = None, leeway: float = 30.0) -> None:
        """Refuse locally what the index would refuse as "malformed or invalid token"."""
        current = time.time() if now is None else now
        if audience not in self.audiences:
            got = ", ".join(self.audiences) or "none"
            raise TokenError(
                f"The ID token in {self.source} is for the audience {got}, but the index expects "
                f"{audience!r} (its /_/oidc/audience).",
                remediation=f"Set the audience in .gitlab-ci.yml: id_tokens: {self.source}: "
                f"aud: {audience}.",
            )
        expires = self.expires
        if expires is not None and expires + leeway < current:
            ago = int(current - expires)
            raise TokenError(
                f"The ID token in {self.source} expired {ago} s ago.",
                remediation="GitLab ID tokens live as long as the job may run: re-run the "
                "publish job (a retried job gets a fresh token), and publish early in the job.",
            )


TokenKind = Literal["trusted-publishing", "api-token"]


@dataclass(frozen=True)
class UploadToken:
    """An upload token: ``pypi-…``, sent as HTTP Basic ``__token__:<token>``."""

    value: str = field(repr=False)
    kind: TokenKind
    source: str  # the ID token's or the API token's variable
    expires: float | None = None

    def __post_init__(self) -> None:
        if not _HEADER_SAFE.match(self.value):
            raise ConfigError(
                f"The token from {self.source} contains whitespace, control or non-ASCII "
                "characters, so it cannot be sent in an HTTP header.",
                remediation="Check for a trailing newline or quotes around the value.",
            )

    @classmethod
    def from_env(cls, name: str, env: Mapping[str, str] | None = None) -> UploadToken | None:
        """An API token from the variable ``name``; ``None`` when unset or empty."""
        check_env_name(name, "API token variable (token-env)")
        value = (os.environ if env is None else env).get(name, "").strip()
        return cls(value, "api-token", name) if value else None

    @property
    def authorization(self) -> str:
        raw = f"{_TOKEN_USER}:{self.value}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to redact from anything shown: the token and its Basic encoding."""
        return (self.value, self.authorization.split(" ", 1)[1])

    def describe(self) -> str:
        if self.kind == "trusted-publishing":
            return f"a trusted-publishing token (exchanged for the ID token in {self.source})"
        return f"the API token in {self.source}"
