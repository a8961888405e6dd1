"""A verifying package index for pip and uv: ``hatch-sigstore index serve``.

It lists, for each project, only the files that verified against that project's signer policy
(or, for projects no rule names, what ``unlisted = "pass-through"`` lets through, unverified and
logged), and serves their bytes from a local cache by sha256. Importing this package is cheap;
the server, sigstore and httpx load when an index is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hatch_sigstore.index.config import IndexConfig, PackageRule, load_config, parse_config

if TYPE_CHECKING:
    from hatch_sigstore.index._server import IndexServer

__all__ = ["IndexConfig", "IndexServer", "PackageRule", "load_config", "parse_config"]


def __getattr__(name: str) -> Any:
    if name == "IndexServer":
        from hatch_sigstore.index._server import IndexServer

        return IndexServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
