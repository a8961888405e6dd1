"""The exception hierarchy. Every error says what went wrong *and* what to do about it.

Callers at the edges (the CLI, the build hook, the publisher) print ``str(error)``: one paragraph,
no traceback. Messages must never contain a secret; build them from names, not values, or pass
the text through :func:`hatch_sigstore.errors.redact` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache

__all__ = [
    "ConfigError",
    "HatchSigstoreError",
    "PublishError",
    "RegistryError",
    "SigningError",
    "TokenError",
    "TrustConfigError",
    "VerificationError",
    "first_line",
    "redact",
]


class HatchSigstoreError(Exception):
    """Base class: a problem the user can fix, with the fix in ``remediation``."""

    def __init__(self, message: str, *, remediation: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remediation = remediation

    def __str__(self) -> str:
        if self.remediation:
            return f"{self.message.rstrip()} {self.remediation.strip()}"
        return self.message


class ConfigError(HatchSigstoreError):
    """A configuration key, CLI flag or environment variable has a bad or missing value.

    One error may carry several: :meth:`collect` reports every wrong key of a table at once,
    each in its own line with its TOML path (``problems`` holds them one by one).
    """

    def __init__(
        self,
        message: str,
        *,
        remediation: str | None = None,
        problems: Sequence[ConfigError] = (),
    ) -> None:
        super().__init__(message, remediation=remediation)
        self.problems = tuple(problems)

    @classmethod
    def collect(cls, errors: Sequence[ConfigError]) -> ConfigError:
        """One error for ``errors``: the error itself when alone, else one line each."""
        if not errors:
            raise ValueError("no errors to collect")
        if len(errors) == 1:
            return errors[0]
        flat = [p for e in errors for p in (e.problems or (e,))]
        lines = "\n".join(f"- {problem}" for problem in flat)
        return cls(f"{len(flat)} configuration errors:\n{lines}", problems=flat)


class TrustConfigError(ConfigError):
    """The Sigstore trust configuration (trusted root / signing config) cannot be used."""


class TokenError(HatchSigstoreError):
    """The OIDC identity token is missing, malformed, for another audience, or expired."""


class SigningError(HatchSigstoreError):
    """Signing failed: the CA or the transparency log refused, timed out, or answered garbage."""


class VerificationError(HatchSigstoreError):
    """A file did not verify: bad signature, wrong identity, broken proof, unusable sidecar."""


class RegistryError(HatchSigstoreError):
    """The GitLab registry refused a request or answered something we cannot use."""

    def __init__(
        self, message: str, *, remediation: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, remediation=remediation)
        self.status = status


class PublishError(HatchSigstoreError):
    """Publishing stopped; the message says what the registry holds now."""


_REDACTED = "***"


@cache
def _secret_patterns() -> tuple[re.Pattern[str], ...]:
    """JWTs (three base64url segments), GitLab and PyPI token prefixes: caught even when we were not
    told the secret, as a second line of defence behind building messages from names, not values.

    Compiled on first use: every build imports this module, few ever redact (~1 ms saved).
    """
    return (
        re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
        re.compile(r"\b(?:glpat|gldt|glcbt|glptt|glrt|gloas)-[A-Za-z0-9_\-.]{8,}"),
        # PyPI API and trusted-publishing tokens: "pypi-" + a base64url v2 macaroon ("AgE…")
        re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{16,}"),
    )


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with every given secret and anything shaped like a token replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, _REDACTED)
    for pattern in _secret_patterns():
        text = pattern.sub(_REDACTED, text)
    return text


def first_line(source: BaseException | str, *, limit: int | None = None) -> str:
    """The first non-blank line of an error (or text), redacted; ``""`` when there is none.

    What a one-paragraph message quotes of a library's exception: its first line carries the
    gist, the rest is detail (pydantic tables, tracebacks). ``limit`` cuts it, ending in "…".
    Callers add their own fallback: ``first_line(exc) or type(exc).__name__``.
    """
    text = str(source).strip()
    line = redact(text.splitlines()[0]) if text else ""
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    return line
