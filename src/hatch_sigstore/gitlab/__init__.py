"""GitLab package registry client (PyPI + generic). The only package that imports httpx.

Importing this package is cheap: ``Credentials``, ``IndexFile``, ``normalize_name`` and the retry
policy need no httpx; ``RegistryClient`` (and its result types) load httpx on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hatch_sigstore.gitlab._auth import CredentialKind, Credentials
from hatch_sigstore.gitlab._retry import RetryPolicy
from hatch_sigstore.gitlab._simple import IndexFile, normalize_name, parse_simple_index

if TYPE_CHECKING:
    from hatch_sigstore.gitlab._client import (
        Downloaded,
        ProgressCallback,
        RegistryClient,
        UploadOutcome,
    )

__all__ = [
    "CredentialKind",
    "Credentials",
    "Downloaded",
    "IndexFile",
    "ProgressCallback",
    "RegistryClient",
    "RetryPolicy",
    "UploadOutcome",
    "normalize_name",
    "parse_simple_index",
]

_LAZY = frozenset({"Downloaded", "ProgressCallback", "RegistryClient", "UploadOutcome"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from hatch_sigstore.gitlab import _client

        return getattr(_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
