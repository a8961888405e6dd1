"""The identity token: where it comes from, and what is wrong with it, in precise words.

sigstore checks tokens with PyJWT and reports an expired token as "malformed or missing
claims"; we decode the claims first (no signature check: the CA does that) and say which
claim is wrong, and when the token expired. Standard library only (sigstore only for ambient
CI detection), so the build hook can ask "is there a token?" without importing sigstore.

Token values never go into messages: only the name of the variable they came from and the
(non-secret) claims ``iss``, ``aud``, ``exp``, ``iat`` and ``nbf``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from hatch_sigstore.errors import TokenError, first_line

if TYPE_CHECKING:
    from hatch_sigstore.sign._options import SignOptions

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "GITLAB_ID_TOKENS_SNIPPET",
    "SIGSTORE_AUDIENCE",
    "TokenInfo",
    "check_token",
    "decode_claims",
    "find_token",
    "format_time",
    "resolve_token",
    "token_available",
]

DEFAULT_TOKEN_ENV = "SIGSTORE_ID_TOKEN"  # noqa: S105 - a variable name
SIGSTORE_AUDIENCE = "sigstore"
REQUIRED_CLAIMS = ("iss", "sub", "aud", "iat", "exp")
# sigstore (PyJWT) allows this much clock skew on iat/exp; we match it so we never reject
# a token sigstore would accept.
LEEWAY = 5

GITLAB_ID_TOKENS_SNIPPET = """\
  id_tokens:
    SIGSTORE_ID_TOKEN:
      aud: sigstore"""


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


@dataclass(frozen=True)
class TokenInfo:
    """The claims of a token that passed :func:`check_token` (never the token itself)."""

    source: str
    issuer: str
    subject: str
    expires_at: float
    issued_at: float
    not_before: float | None = None

    def seconds_left(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)


def _b64url(segment: str) -> bytes:
    padded = segment + "=" * (-len(segment) % 4)
    return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)


def decode_claims(raw: str, *, source: str = DEFAULT_TOKEN_ENV) -> dict[str, object]:
    """The unverified JSON claims of a JWT; :class:`TokenError` if it is not one."""
    remediation = (
        f"{source} must hold the raw ID token (header.payload.signature), e.g. from GitLab "
        f"'id_tokens:' in .gitlab-ci.yml; check that nothing else (quotes, a 'Bearer ' "
        "prefix, a file name) is in the variable."
    )
    parts = raw.strip().split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise TokenError(
            f"The identity token ({source}) is malformed: a JWT has three dot-separated "
            f"parts, this value has {len(parts)}.",
            remediation=remediation,
        )
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise TokenError(
            f"The identity token ({source}) is malformed: its header or payload is not "
            "base64url-encoded JSON.",
            remediation=remediation,
        ) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError(
            f"The identity token ({source}) is malformed: its header and payload must be "
            "JSON objects.",
            remediation=remediation,
        )
    return claims


def _number(claims: Mapping[str, object], name: str, source: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError(
            f"The identity token ({source}) is malformed: claim {name!r} must be a number "
            "of seconds since the epoch.",
            remediation="Use a token issued by your CI's OIDC provider.",
        )
    return float(value)


def check_token(
    raw: str,
    *,
    source: str = DEFAULT_TOKEN_ENV,
    audience: str = SIGSTORE_AUDIENCE,
    now: float | None = None,
) -> TokenInfo:
    """Check shape, required claims, audience and validity period; say exactly what is wrong."""
    now = time.time() if now is None else now
    claims = decode_claims(raw, source=source)
    missing = [name for name in REQUIRED_CLAIMS if claims.get(name) in (None, "")]
    if missing:
        raise TokenError(
            f"The identity token ({source}) lacks the required claim(s) "
            f"{', '.join(missing)}; Sigstore needs {', '.join(REQUIRED_CLAIMS)}.",
            remediation="Use an OIDC ID token from your CI (GitLab: 'id_tokens:' in "
            ".gitlab-ci.yml), not an access or job token.",
        )
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        shown = ", ".join(repr(a) for a in audiences if isinstance(a, str)) or repr(aud)
        raise TokenError(
            f"The identity token ({source}) is for audience {shown}, but the Sigstore CA "
            f"only accepts audience {audience!r}.",
            remediation="In .gitlab-ci.yml set the audience of the token:\n"
            f"{GITLAB_ID_TOKENS_SNIPPET}",
        )
    exp = _number(claims, "exp", source)
    iat = _number(claims, "iat", source)
    nbf = _number(claims, "nbf", source)
    assert exp is not None  # required above
    assert iat is not None
    issuer = str(claims["iss"])
    if now >= exp + LEEWAY:
        lifetime = (
            f" It was issued at {format_time(iat)}, valid for {_ago(exp - iat)}."
            if (iat < exp)
            else ""
        )
        raise TokenError(
            f"The identity token ({source}) (issuer {issuer}) expired at {format_time(exp)}, "
            f"{_ago(now - exp)} ago.{lifetime}",
            remediation="Sign right after the build, early in the job: a GitLab ID token "
            "lives only as long as the job timeout (5 minutes when none is set). Raise "
            "the job's 'timeout:' or move signing to its own job.",
        )
    not_before = max(iat, nbf) if nbf is not None else iat
    if now + LEEWAY < not_before:
        raise TokenError(
            f"The identity token ({source}) is not valid before {format_time(not_before)} "
            f"({_ago(not_before - now)} from now).",
            remediation="This machine's clock is probably behind; fix its time (NTP) and retry.",
        )
    return TokenInfo(
        source=source,
        issuer=issuer,
        subject=str(claims["sub"]),
        expires_at=exp,
        issued_at=iat,
        not_before=nbf,
    )


def find_token(
    env: Mapping[str, str] | None = None, *, token_env: str | None = None
) -> tuple[str, str] | None:
    """``(token, variable name)`` from the environment, or None. No ambient detection."""
    env = os.environ if env is None else env
    name = token_env or DEFAULT_TOKEN_ENV
    value = env.get(name, "").strip()
    return (value, name) if value else None


def _missing_token(options: SignOptions) -> TokenError:
    if options.token_env:
        return TokenError(
            f"No identity token to sign with: {options.token_env} is not set or empty.",
            remediation=f"Export the OIDC ID token in {options.token_env}, or drop "
            "--identity-token-env to use SIGSTORE_ID_TOKEN. In GitLab CI add to the job:\n"
            f"{GITLAB_ID_TOKENS_SNIPPET}",
        )
    ambient = " and no ambient CI credential was found" if options.ambient else ""
    return TokenError(
        f"No identity token to sign with: {DEFAULT_TOKEN_ENV} is not set{ambient}.",
        remediation="In GitLab CI add to the job in .gitlab-ci.yml:\n"
        f"{GITLAB_ID_TOKENS_SNIPPET}\n"
        "Elsewhere, put an OIDC ID token with audience 'sigstore' in SIGSTORE_ID_TOKEN.",
    )


def _ambient_token() -> str | None:
    from sigstore.oidc import IdentityError, detect_credential

    try:
        return detect_credential()
    except IdentityError as exc:
        raise TokenError(
            f"Ambient CI credential detection failed: {first_line(exc) or 'no detail'}.",
            remediation="In GitLab CI, provide the token with 'id_tokens:' "
            f"(SIGSTORE_ID_TOKEN, aud: sigstore):\n{GITLAB_ID_TOKENS_SNIPPET}",
        ) from None


def resolve(options: SignOptions, now: float | None = None) -> tuple[str, TokenInfo]:
    """The raw token and its checked claims (see :func:`resolve_token`)."""
    if options.token is not None:
        raw: str | None = options.token.strip()
        source = "SignOptions.token"
        if not raw:
            raise _missing_token(options)
    else:
        found = find_token(options.env, token_env=options.token_env)
        if found is not None:
            raw, source = found
        elif options.token_env is None and options.ambient:
            raw, source = _ambient_token(), "ambient CI credential"
        else:
            raw = None
    if raw is None:
        raise _missing_token(options)
    return raw, check_token(raw, source=source, now=now)


def resolve_token(options: SignOptions) -> str:
    """The token to sign with: explicit, then ``SIGSTORE_ID_TOKEN``, then ambient detection.

    Raises :class:`TokenError` naming the variable and what is wrong (missing, malformed,
    wrong audience, expired with the time it expired).
    """
    return resolve(options)[0]


def token_available(env: Mapping[str, str] | None = None, *, token_env: str | None = None) -> bool:
    """Cheap check (no sigstore import): is there a token to sign with in ``env``?

    True when the token variable is set, or when GitHub Actions offers an OIDC token.
    It does not check the token; :func:`resolve_token` does.
    """
    env = os.environ if env is None else env
    if find_token(env, token_env=token_env) is not None:
        return True
    return token_env is None and bool(
        env.get("ACTIONS_ID_TOKEN_REQUEST_URL") and env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    )
