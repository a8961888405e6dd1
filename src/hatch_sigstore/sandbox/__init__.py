"""Local stand-ins for the public Sigstore, GitLab's package registries and PyPI. NEVER for
production.

They speak the real wire protocols over HTTP on loopback, so production code cannot tell them from
the real services except by the trust config and URLs it is given. Nothing outside ``cli`` and the
tests imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hatch_sigstore.sandbox.gitlab import GitLabRegistry
    from hatch_sigstore.sandbox.pypi import PyPIIndex
    from hatch_sigstore.sandbox.sigstore import LocalSigstore

__all__ = ["GitLabRegistry", "LocalSigstore", "PyPIIndex"]


def __getattr__(name: str) -> Any:
    # Lazy: the Sigstore half needs cryptography/jwt, the registry half needs neither.
    if name == "LocalSigstore":
        from hatch_sigstore.sandbox.sigstore import LocalSigstore

        return LocalSigstore
    if name == "GitLabRegistry":
        from hatch_sigstore.sandbox.gitlab import GitLabRegistry

        return GitLabRegistry
    if name == "PyPIIndex":
        from hatch_sigstore.sandbox.pypi import PyPIIndex

        return PyPIIndex
    raise AttributeError(name)
