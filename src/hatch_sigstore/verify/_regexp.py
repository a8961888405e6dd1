"""cosign's regular expressions: Go's RE2, not Python's ``re``.

cosign matches ``--certificate-identity-regexp`` and ``--certificate-oidc-issuer-regexp`` with
Go's ``regexp.MatchString`` (RE2 syntax, searched, unanchored). Python's ``re`` differs where it
matters for an identity: its ``$`` also matches before a trailing newline (``^https://x$``
accepts ``"https://x\\n"``), its ``\\d``/``\\w`` match non-ASCII digits and letters, and it
accepts lookarounds and backreferences that cosign refuses. So patterns are compiled by RE2
itself (google-re2), with its logging to stderr switched off.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["CompiledRegexp", "RegexpError", "compile_re2"]


class RegexpError(ValueError):
    """The pattern is not RE2 syntax (cosign would refuse it too)."""


class CompiledRegexp(Protocol):
    def search(self, text: str) -> Any: ...


def compile_re2(pattern: str) -> CompiledRegexp:
    """``pattern`` compiled with RE2's (and so Go's) semantics; :class:`RegexpError` if invalid."""
    import re2

    options = re2.Options()
    options.log_errors = False
    try:
        compiled: CompiledRegexp = re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise RegexpError(str(detail)) from None
    return compiled
