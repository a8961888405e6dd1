"""The metadata hook ``[tool.hatch.metadata.hooks.sigstore]``: name, version and Homepage from CI.

What it changes is planned in :mod:`hatch_sigstore.hatch._metadata_plan`; how the change reaches
the version source and other plugins' hooks, whatever their order, is in
:mod:`hatch_sigstore.hatch._rewrite`. Note that hatchling calls metadata hooks only when
``project.dynamic`` is non-empty.
"""

from __future__ import annotations

from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface

from hatch_sigstore.hatch._metadata_plan import (
    METADATA_HOOK_PATH,
    MetadataChanges,
    MetadataOptions,
    building_from_sdist,
    plan_metadata,
)
from hatch_sigstore.hatch._rewrite import activate, own_update

__all__ = [
    "METADATA_HOOK_PATH",
    "MetadataChanges",
    "MetadataOptions",
    "SigstoreMetadataHook",
    "building_from_sdist",
    "plan_metadata",
]


class SigstoreMetadataHook(MetadataHookInterface):
    PLUGIN_NAME = "sigstore"
    _hatch_sigstore_own = True  # not wrapped by hatch_sigstore.hatch._wrappers

    def __init__(self, root: str, config: dict[str, Any]) -> None:
        super().__init__(root, config)
        # hatchling constructs every metadata hook before it asks the version source or calls
        # any hook's update: from here on, both see the CI values (hatch._rewrite)
        activate(root, config)

    def update(self, metadata: dict[str, Any]) -> None:
        own_update(self.root, self.config, metadata)
