"""Building from an unpacked sdist (``PKG-INFO`` beside ``pyproject.toml``): its metadata is kept.

hatchling takes every dynamic field from ``PKG-INFO`` there (``hatchling/metadata/core.py``), so
CI variables change nothing: the wheel ``python -m build`` makes from our own sdist is meant to
carry the sdist's metadata. Say so in one line; and when signing is required, refuse CI
variables that disagree with it: signing would release the sdist's old name or version under
this pipeline's identity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hatch_sigstore.ci import CIContext
from hatch_sigstore.errors import ConfigError

if TYPE_CHECKING:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface

__all__ = ["check_sdist_metadata"]


def check_sdist_metadata(hook: BuildHookInterface[Any], *, required: bool) -> str | None:
    """The line to say (``None`` without our metadata hook); raises when CI disagrees."""
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    from hatch_sigstore.hatch._metadata_plan import METADATA_HOOK_PATH, MetadataOptions

    config = hook.metadata.hatch.metadata.hook_config.get("sigstore")
    if config is None:
        return None
    options = MetadataOptions.from_config(config)
    variables = options.variables
    ci = CIContext.from_env()
    core = hook.metadata.core
    name, version = core.raw_name, hook.metadata.version
    disagree: list[str] = []
    ci_name = ci.package_name(variables.name) if options.rename else None
    if ci_name is not None and canonicalize_name(ci_name) != canonicalize_name(name):
        disagree.append(f"{variables.name} makes the name {ci_name} (the sdist's is {name})")
    ci_version = ci.package_version(variables.version, variables.tag)
    if ci_version is not None and Version(ci_version.version) != Version(version):
        disagree.append(
            f"{ci_version.variable} makes the version {ci_version.version} "
            f"(the sdist's is {version})"
        )
    homepage = ci.homepage(variables.homepage)
    label = options.homepage_label
    ours = core.urls.get(label)
    if homepage is not None and ours is not None and ours != homepage:
        disagree.append(f"{variables.homepage} makes {label} {homepage} (the sdist's is {ours})")
    line = (
        f"building from an sdist (PKG-INFO): its metadata is kept, {name} {version}; "
        f"[{METADATA_HOOK_PATH}] changes nothing here"
    )
    if not disagree:
        return line
    if required:
        raise ConfigError(
            f"Building {name} {version} from an unpacked sdist, whose metadata is kept, but "
            f"the CI variables disagree with it: {'; '.join(disagree)}. Signing it would "
            "release the sdist's metadata under this pipeline's identity.",
            remediation="Build from the project's source tree (a git checkout) instead of an "
            "unpacked sdist, or unset the disagreeing variables.",
        )
    return f"{line} (CI variables ignored: {'; '.join(disagree)})"
