"""hatch entry points (``[project.entry-points.hatch] sigstore = "hatch_sigstore.hatch.hooks"``).

Registration only; every import is lazy. hatchling imports this module in isolated build
environments where neither hatch nor sigstore is installed, so the publishers (``-p gitlab``
and ``-p pypi``; they need hatch) are imported only when hatch asks for publishers.

Two pluggy hook wrappers also wrap every other plugin's version source and metadata hook, so
that while our metadata hook rewrites a project's metadata from CI, they see the CI version and
name whatever the table order (:mod:`hatch_sigstore.hatch._wrappers`); for any other project
they behave exactly as before.
"""

from __future__ import annotations

from collections.abc import Generator
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


# Old-style wrappers (``hookwrapper``): every pluggy 1.x has them; hatchling needs pluggy>=1.0.
@hookimpl(hookwrapper=True, specname="hatch_register_version_source")
def wrap_version_sources() -> Generator[None, Any, None]:
    outcome = yield
    from hatch_sigstore.hatch._wrappers import wrap_version_sources as wrap

    outcome.force_result(wrap(outcome.get_result()))


@hookimpl(hookwrapper=True, specname="hatch_register_metadata_hook")
def wrap_metadata_hooks() -> Generator[None, Any, None]:
    outcome = yield
    from hatch_sigstore.hatch._wrappers import wrap_metadata_hooks as wrap

    outcome.force_result(wrap(outcome.get_result()))


@hookimpl
def hatch_register_publisher() -> Any:
    from hatch_sigstore.hatch.publisher import GitLabPublisher
    from hatch_sigstore.hatch.publisher_pypi import PyPIPublisher

    return [GitLabPublisher, PyPIPublisher]
