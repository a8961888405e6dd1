"""PyPI-compatible index client (warehouse: PyPI, TestPyPI, or any ``…/legacy/`` upload URL).

The public face of the index layer: :class:`IndexURLs` (where uploads, tokens and the read
APIs are), :class:`IDToken` and :class:`UploadToken` (the job's ID token and what it is
exchanged for; values never shown), :class:`IndexClient` (trusted publishing, idempotent
uploads with PEP 740 attestations, the simple, JSON and integrity APIs; loads httpx on first
access), :class:`IndexedFile` and :class:`PyPIError`. Retries and HTTP plumbing are shared with
the GitLab client (:mod:`hatch_sigstore._net`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hatch_sigstore._net._retry import RetryPolicy
from hatch_sigstore.pypi._token import (
    DEFAULT_API_TOKEN_ENV,
    DEFAULT_ID_TOKEN_ENV,
    IDToken,
    UploadToken,
)
from hatch_sigstore.pypi._urls import KNOWN_INDEXES, IndexURLs

if TYPE_CHECKING:
    from hatch_sigstore.pypi._client import IndexClient
    from hatch_sigstore.pypi._errors import PyPIError
    from hatch_sigstore.pypi._form import form_fields
    from hatch_sigstore.pypi._simple import IndexedFile

__all__ = [
    "DEFAULT_API_TOKEN_ENV",
    "DEFAULT_ID_TOKEN_ENV",
    "KNOWN_INDEXES",
    "IDToken",
    "IndexClient",
    "IndexURLs",
    "IndexedFile",
    "PyPIError",
    "RetryPolicy",
    "UploadToken",
    "form_fields",
]


def __getattr__(name: str) -> Any:
    # httpx (and packaging.metadata) load only when a client or a form is needed
    if name == "IndexClient":
        from hatch_sigstore.pypi._client import IndexClient

        return IndexClient
    if name == "PyPIError":
        from hatch_sigstore.pypi._errors import PyPIError

        return PyPIError
    if name == "IndexedFile":
        from hatch_sigstore.pypi._simple import IndexedFile

        return IndexedFile
    if name == "form_fields":
        from hatch_sigstore.pypi._form import form_fields

        return form_fields
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
