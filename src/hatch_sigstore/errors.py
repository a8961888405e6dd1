"""The exception hierarchy. Every error says what went wrong *and* what to do about it.

Callers at the edges (the CLI, the build hook, the publisher) print ``str(error)``: one paragraph,
no traceback. Messages must never contain a secret; build them from names, not values, or pass
the text through :func:`hatch_sigstore.errors.redact` first.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from functools import cache
from urllib.parse import quote as _url_quote
from urllib.parse import quote_plus

from hatch_sigstore._text import printable, shorten

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
    "quote",
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
# A known secret is also caught by a prefix this long: an echo cut by the server, or by a
# length limit that ran before us, still hides the rest. Shorter prefixes are too common.
_MIN_PREFIX = 8
# Any later part of it from this long: a part that common words could not make up.
_MIN_PART = 12


@cache
def _secret_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Token shapes caught even when we were not told the secret, as a second line of defence
    behind building messages from names, not values: JWTs (three base64url segments), GitLab
    and PyPI token prefixes, credentials in a URL's user part, and the values of query
    parameters that carry credentials (``private_token=``, ``job_token=``, ``access_token=``,
    pre-signed object-storage URLs' ``X-Amz-Signature=``/``X-Amz-Credential=``/
    ``X-Goog-Signature=``, an Azure SAS ``sig=``).

    Compiled on first use: every build imports this module, few ever redact (~1 ms saved).
    """
    return (
        (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), _REDACTED),
        (re.compile(r"\b(?:glpat|gldt|glcbt|glptt|glrt|gloas)-[A-Za-z0-9_\-.]{8,}"), _REDACTED),
        # PyPI API and trusted-publishing tokens: "pypi-" + a base64url v2 macaroon ("AgE…")
        (re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{16,}"), _REDACTED),
        (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@"), rf"\g<1>{_REDACTED}@"),
        (
            re.compile(
                r"(?i)([?&;][\w.-]*(?:token|signature|credential|secret|password|passwd|auth"
                r"|key|sig)=)[^&#\s\"'<>]+"
            ),
            rf"\g<1>{_REDACTED}",
        ),
    )


def _forms(secret: str) -> set[str]:
    """The spellings of a secret a server may echo: as given, URL-encoded, base64."""
    forms = {secret, _url_quote(secret, safe=""), quote_plus(secret)}
    forms.add(base64.b64encode(secret.encode()).decode("ascii").rstrip("="))
    return {form for form in forms if len(form) >= 4}


def _spans(text: str, form: str) -> list[tuple[int, int]]:
    """Where in ``text`` a run of ``form`` shows, extended as far as the text goes on as the
    form does: (start, end) pairs. Its head counts from ``_MIN_PREFIX`` characters (all of a
    shorter form), any later part from ``_MIN_PART``: a proxy may wrap an echo (base64 at 76
    columns) or a server break it with a newline, and the part after the break is as secret.
    """
    head = form[: min(len(form), _MIN_PREFIX)]
    spans = []
    start = text.find(head)
    while start >= 0:
        spans.append((start, _extend(text, form, start, 0, len(head))))
        start = text.find(head, start + 1)
    width = min(len(form), _MIN_PART)
    offsets: dict[str, list[int]] = {}
    for at in range(1, len(form) - width + 1):
        offsets.setdefault(form[at : at + width], []).append(at)
    reached: dict[int, int] = {}  # start - at → end of the run found on that alignment
    for start in range(len(text) - width + 1) if offsets else ():
        for at in offsets.get(text[start : start + width], ()):
            if reached.get(start - at, -1) >= start + width:
                continue  # inside a run already found: a part of it
            reached[start - at] = end = _extend(text, form, start, at, width)
            spans.append((start, end))
    return spans


def _extend(text: str, form: str, start: int, at: int, length: int) -> int:
    """The end of the run of ``form[at:]`` at ``text[start:]`` known to match ``length``."""
    end = start + length
    while end - start + at < len(form) and end < len(text) and text[end] == form[end - start + at]:
        end += 1
    return end


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every given secret and anything shaped like a token replaced by ``***``.

    A secret is caught as given, URL-encoded and base64-encoded, whole or in part (its first
    8 or more characters: cut short; any 12 or more in a row: broken up by the server).
    Every spelling is looked for in the text as it came, and overlapping finds are joined
    before anything is replaced (one spelling's part must not break up another's match).
    Redact a text whole, *then* shorten it, and make it printable first (see :func:`quote`).
    """
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= 4:
            forms |= _forms(secret)
    spans = sorted(span for form in forms for span in _spans(text, form))
    if spans:
        out: list[str] = []
        pos = 0
        for start, end in spans:
            if end <= pos:
                continue
            if start >= pos:
                out += [text[pos:start], _REDACTED]
            pos = end
        out.append(text[pos:])
        text = "".join(out)
    for pattern, replacement in _secret_patterns():
        text = pattern.sub(replacement, text)
    return text


def quote(
    text: str,
    secrets: Iterable[str | None] = (),
    *,
    limit: int | None = None,
    keep_newlines: bool = False,
) -> str:
    """What a server or a file said, fit to put in one of our messages: made printable (no
    escape sequences or other controls, one line), then redacted whole, then shortened to
    ``limit`` characters. The order matters: escape sequences put inside an echoed secret
    would hide it from redaction and vanish after it (the secret whole again on the screen),
    a secret cut in half by the limit would escape redaction, and an escape sequence cut in
    half would escape removal.

    ``keep_newlines``: a whole message of ours, laid out in lines (an error with its list of
    problems), for the terminal: printable and redacted, its layout kept, never cut."""
    text = redact(printable(text, keep_newlines=keep_newlines), secrets)
    if keep_newlines:
        return text
    return shorten(text, limit if limit is not None else len(text) + 1)


def first_line(source: BaseException | str, *, limit: int | None = None) -> str:
    """The first non-blank line of an error (or text), redacted; ``""`` when there is none.

    What a one-paragraph message quotes of a library's exception: its first line carries the
    gist, the rest is detail (pydantic tables, tracebacks). ``limit`` cuts it, ending in "…",
    after redaction (:func:`quote`). Callers add their own fallback:
    ``first_line(exc) or type(exc).__name__``.
    """
    text = str(source).strip()
    return quote(text.splitlines()[0], limit=limit) if text else ""
