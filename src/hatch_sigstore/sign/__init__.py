"""Signing: one Sigstore session signs many files with one key and one certificate.

The public face of the signing layer::

    from hatch_sigstore.sign import SignOptions, sign_files
    signed = sign_files(["dist/pkg-1.0.tar.gz"], SignOptions(outputs=frozenset({"cosign"})))

:class:`SigningSession` keeps its certificate between ``sign`` calls (renewed near expiry);
:func:`shared_session` keeps one per process for callers that sign one file at a time, such as
the build hook across build targets. Plumbing lives in private modules: ``_tokens`` (the
identity token), ``_session``, ``_jobs`` (the thread scheduler), ``_explain`` (error
translation), ``_atomic`` (atomic outputs), ``_shared``. sigstore is imported only when a
session opens: importing this package is cheap.
"""

from __future__ import annotations

from hatch_sigstore.sign._options import (
    DEFAULT_OUTPUTS,
    OUTPUT_KINDS,
    REKOR_VERSIONS,
    SignedFile,
    SignOptions,
)
from hatch_sigstore.sign._session import (
    SigningSession,
    certificate_identity,
    needs_renewal,
    sign_files,
)
from hatch_sigstore.sign._shared import close_shared_sessions, shared_session
from hatch_sigstore.sign._tokens import resolve_token, token_available

__all__ = [
    "DEFAULT_OUTPUTS",
    "OUTPUT_KINDS",
    "REKOR_VERSIONS",
    "SignOptions",
    "SignedFile",
    "SigningSession",
    "certificate_identity",
    "close_shared_sessions",
    "needs_renewal",
    "resolve_token",
    "shared_session",
    "sign_files",
    "token_available",
]
