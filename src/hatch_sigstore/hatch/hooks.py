"""hatch entry points (``[project.entry-points.hatch] sigstore = "hatch_sigstore.hatch.hooks"``).

Registration only; every import is lazy. hatchling imports this module in isolated build
environments where neither hatch nor sigstore is installed, so the publishers (``-p gitlab``
and ``-p pypi``; they need hatch) are imported only when hatch asks for publishers.
"""

from __future__ import annotations

from typing import Any

from hatchling.plugin import hookimpl

__all__ = [
    "hatch_register_build_hook",
    "hatch_register_metadata_hook",
    "hatch_register_publisher",
]


@hookimpl
def hatch_register_build_hook() -> Any:
    from hatch_sigstore.hatch.build_hook import SigstoreBuildHook

    return SigstoreBuildHook


@hookimpl
def hatch_register_metadata_hook() -> Any:
    from hatch_sigstore.hatch.metadata_hook import SigstoreMetadataHook

    return SigstoreMetadataHook


@hookimpl
def hatch_register_publisher() -> Any:
    from hatch_sigstore.hatch.publisher import GitLabPublisher
    from hatch_sigstore.hatch.publisher_pypi import PyPIPublisher

    return [GitLabPublisher, PyPIPublisher]
