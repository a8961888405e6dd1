"""The metadata hook ``[tool.hatch.metadata.hooks.sigstore]``: name, version and Homepage from CI.

What the tutorial's three ``sed`` lines did, through hatchling's own mechanisms:

* ``version`` (when listed in ``project.dynamic``): ``PACKAGE_VERSION``, else ``CI_COMMIT_TAG``
  without a leading ``v``, else ``fallback-version``; always a valid PEP 440 version;
* ``urls`` (when listed in ``project.dynamic``): the ``urls`` table of this hook, with
  ``Homepage`` taken from ``CI_PROJECT_URL``;
* ``name`` (only with ``rename = true``): ``CI_PROJECT_NAME`` with ``-`` turned into ``_``.
  hatchling forbids a dynamic name, but lets a metadata hook overwrite the static one.

Without CI variables the project's own values stay. Inside an sdist (a ``PKG-INFO`` beside
``pyproject.toml``) the metadata is final and the hook changes nothing. Note hatchling calls
metadata hooks only when ``project.dynamic`` is non-empty.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Any, NamedTuple

from hatchling.metadata.plugin.interface import MetadataHookInterface

from hatch_sigstore._config import Options
from hatch_sigstore.ci import CIContext, MetadataVariables
from hatch_sigstore.errors import ConfigError

__all__ = [
    "METADATA_HOOK_PATH",
    "MetadataChanges",
    "MetadataOptions",
    "SigstoreMetadataHook",
    "plan_metadata",
]

METADATA_HOOK_PATH = "tool.hatch.metadata.hooks.sigstore"
_KNOWN = (
    "rename",
    "fallback-version",
    "urls",
    "homepage-label",
    "name-variable",
    "version-variable",
    "tag-variable",
    "homepage-variable",
)


# NamedTuples, not dataclasses: every build defines these classes, and a NamedTuple is ~5x
# cheaper to define (see hatch_sigstore.ci).
class MetadataOptions(NamedTuple):
    rename: bool = False
    fallback_version: str | None = None
    urls: Mapping[str, str] = {}  # shared default, never mutated: plan_metadata copies it
    homepage_label: str = "Homepage"
    variables: MetadataVariables = MetadataVariables()

    @classmethod
    def from_config(cls, config: Any, path: str = METADATA_HOOK_PATH) -> MetadataOptions:
        # hatchling passes the whole table, including its own generic keys
        table = {k: v for k, v in (config or {}).items() if k not in ("enable-by-default",)}
        options = Options(table, path, known=_KNOWN)
        defaults = MetadataVariables()
        variables = MetadataVariables(
            name=options.string("name-variable", defaults.name).strip(),
            version=options.string("version-variable", defaults.version).strip(),
            tag=options.string("tag-variable", defaults.tag).strip(),
            homepage=options.string("homepage-variable", defaults.homepage).strip(),
        )
        fallback = options.optional_string("fallback-version")
        if fallback is not None:
            from packaging.version import InvalidVersion, Version

            try:
                Version(fallback)
            except InvalidVersion:
                options.report(
                    f"`{options.key('fallback-version')}` is {fallback!r}, which is not a PEP 440 "
                    "version (for example 0.0.0 or 1.2.3.dev0).",
                )
        label = options.optional_string("homepage-label") or "Homepage"
        rename = options.boolean("rename", False)
        urls = options.string_table("urls")
        options.check()  # every wrong key at once, each with its TOML path
        return cls(
            rename=rename,
            fallback_version=fallback,
            urls=urls,
            homepage_label=label,
            variables=variables,
        )


class MetadataChanges(NamedTuple):
    """What the hook sets. ``None`` fields are left as the project has them."""

    name: str | None = None
    version: str | None = None
    urls: dict[str, str] | None = None
    ci_variables: tuple[str, ...] = ()  # the CI variables that contributed

    def apply(self, metadata: MutableMapping[str, Any]) -> None:
        if self.name is not None:
            metadata["name"] = self.name
        if self.version is not None:
            metadata["version"] = self.version
        if self.urls is not None:
            metadata["urls"] = dict(self.urls)


def plan_metadata(
    project: Mapping[str, Any],
    options: MetadataOptions,
    ci: CIContext,
    *,
    path: str = METADATA_HOOK_PATH,
    strict: bool = True,
) -> MetadataChanges:
    """Work out the changes for the ``[project]`` table ``project`` (as hatchling hands it over).

    ``project`` may already hold a ``version`` that a ``[tool.hatch.version]`` source put there
    while ``version`` is still listed in ``dynamic``; that version is the fallback. With
    ``strict=False`` (the build hook asking which CI variables are in play) a missing fallback
    is not an error.
    """
    dynamic = project.get("dynamic") or []
    used: list[str] = []
    variables = options.variables

    name = None
    if options.rename:
        name = ci.package_name(variables.name)
        if name is not None:
            used.append(variables.name)

    version = None
    if "version" in dynamic:
        ci_version = ci.package_version(variables.version, variables.tag)
        from_source = project.get("version")
        if ci_version is not None:
            if from_source is not None:
                raise ConfigError(
                    f"The version comes from both [tool.hatch.version] and the CI variable "
                    f"{ci_version.variable} ({ci_version.raw!r}); hatchling can only take it "
                    "from one place.",
                    remediation=f"Drop [tool.hatch.version] and set `{path}.fallback-version` "
                    "for builds outside CI, or set "
                    f'`{path}.version-variable = ""` and `{path}.tag-variable = ""` to keep '
                    "the version source.",
                )
            version = ci_version.version
            used.append(ci_version.variable)
        elif from_source is None and strict:
            if options.fallback_version is None:
                names = [v for v in (variables.version, variables.tag) if v]
                unset = f"neither {' nor '.join(names)}" if names else "no CI variable"
                raise ConfigError(
                    f"project.version is listed in project.dynamic, but {unset} is set and "
                    f"`{path}.fallback-version` is not configured.",
                    remediation=f'Set `{path}.fallback-version` (for example "0.0.0") for '
                    "builds outside CI.",
                )
            version = options.fallback_version

    urls = None
    homepage = ci.homepage(variables.homepage)
    if "urls" in dynamic:
        urls = dict(options.urls)
        if homepage is not None:
            urls[options.homepage_label] = homepage
            used.append(variables.homepage)
    elif options.urls:
        raise ConfigError(
            f"`{path}.urls` is set, but `urls` is not listed in project.dynamic, so hatchling "
            "would refuse it.",
            remediation='Move [project.urls] into the hook\'s urls table and add "urls" to '
            "project.dynamic, or remove the hook's urls table.",
        )
    return MetadataChanges(name=name, version=version, urls=urls, ci_variables=tuple(used))


def building_from_sdist(root: str) -> bool:
    """An unpacked sdist carries PKG-INFO: its metadata (and pyproject.toml) are already final."""
    return os.path.isfile(os.path.join(root, "PKG-INFO"))


class SigstoreMetadataHook(MetadataHookInterface):
    PLUGIN_NAME = "sigstore"

    def update(self, metadata: dict[str, Any]) -> None:
        if building_from_sdist(self.root):
            return
        try:
            options = MetadataOptions.from_config(self.config)
            changes = plan_metadata(metadata, options, CIContext.from_env())
        except ConfigError as exc:
            from hatch_sigstore.hatch._errors import raise_clean

            raise_clean(exc)
        changes.apply(metadata)
