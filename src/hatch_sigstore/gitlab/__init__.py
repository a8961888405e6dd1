"""GitLab package registry client (PyPI + generic). The only package that imports httpx.

The public face of the registry layer: :class:`Credentials` (who we are, read from named
environment variables), :class:`RegistryClient` (uploads, downloads, index reads of a project,
or of a group's index; idempotent, retried, streamed; redirects to object storage followed
without credentials, by the policy both registry clients share), its typed
results (:class:`UploadOutcome`, :class:`Downloaded`, :class:`IndexFile`, :class:`FileState`,
:class:`FileConflictError`), :func:`check_generic_location` and the :class:`RetryPolicy`.
Importing this package is cheap: everything but ``RegistryClient`` needs no httpx, which loads
on first access to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hatch_sigstore._net._outcomes import (
    Downloaded,
    FileConflictError,
    FileState,
    Held,
    UploadOutcome,
)
from hatch_sigstore._net._retry import RetryPolicy
from hatch_sigstore.gitlab._auth import CredentialKind, Credentials
from hatch_sigstore.gitlab._coordinates import check_generic_location
from hatch_sigstore.gitlab._simple import IndexFile, parse_simple_index

if TYPE_CHECKING:
    from hatch_sigstore.gitlab._client import RegistryClient
    from hatch_sigstore.gitlab._uploads import ProgressCallback

__all__ = [
    "CredentialKind",
    "Credentials",
    "Downloaded",
    "FileConflictError",
    "FileState",
    "Held",
    "IndexFile",
    "ProgressCallback",
    "RegistryClient",
    "RetryPolicy",
    "UploadOutcome",
    "check_generic_location",
    "parse_simple_index",
]


def __getattr__(name: str) -> Any:
    if name == "RegistryClient":
        from hatch_sigstore.gitlab._client import RegistryClient

        return RegistryClient
    if name == "ProgressCallback":
        from hatch_sigstore.gitlab._uploads import ProgressCallback

        return ProgressCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
