"""What the metadata hook changes: its options, and the plan for one ``[project]`` table.

What the tutorial's three ``sed`` lines did, through hatchling's own mechanisms:

* ``version`` (when listed in ``project.dynamic``): ``PACKAGE_VERSION``, else ``CI_COMMIT_TAG``
  without a leading ``v``; without either, the ``[tool.hatch.version]`` source if there is one,
  else ``fallback-version``; always a valid PEP 440 version;
* ``urls``: the Homepage entry is taken from ``CI_PROJECT_URL``, whether the URLs are static
  (``[project.urls]``), this hook's ``urls`` table or another hook's (``urls`` dynamic);
* ``name`` (only with ``rename = true``): ``CI_PROJECT_NAME`` with ``-`` turned into ``_``.
  hatchling forbids a dynamic name, but lets a metadata hook overwrite the static one.

Without CI variables the project's own values stay. Inside an sdist (a ``PKG-INFO`` beside
``pyproject.toml``) the metadata is final and nothing changes. Pure functions over plain data:
:mod:`hatch_sigstore.hatch._rewrite` applies them while hatchling resolves the metadata.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Any, NamedTuple

from hatch_sigstore._config import Options
from hatch_sigstore.ci import CIContext, MetadataVariables
from hatch_sigstore.errors import ConfigError

__all__ = [
    "METADATA_HOOK_PATH",
    "MetadataChanges",
    "MetadataOptions",
    "building_from_sdist",
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

    Idempotent: applying the result and planning again gives the same changes, so it may run
    before and after other plugins' hooks. ``project`` may already hold a ``version`` from a
    ``[tool.hatch.version]`` source while ``version`` is still listed in ``dynamic``: without a
    CI version that one stays. ``urls`` may be static (``[project.urls]``) or dynamic (this
    hook's ``urls`` table, or another hook's); either way CI replaces only the Homepage entry.
    With ``strict=False`` a missing version is not an error (another hook may still set it).
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
        if ci_version is not None:
            version = ci_version.version
            used.append(ci_version.variable)
        elif project.get("version") is None:  # no [tool.hatch.version] source put one there
            if options.fallback_version is not None:
                version = options.fallback_version
            elif strict:
                names = [v for v in (variables.version, variables.tag) if v]
                unset = f"neither {' nor '.join(names)}" if names else "no CI variable"
                raise ConfigError(
                    f"project.version is listed in project.dynamic, but {unset} is set, "
                    f"`{path}.fallback-version` is not configured and there is no "
                    "[tool.hatch.version] source.",
                    remediation=f'Set `{path}.fallback-version` (for example "0.0.0") for '
                    "builds outside CI, or configure a [tool.hatch.version] source.",
                )

    urls = None
    homepage = ci.homepage(variables.homepage)
    if "urls" in dynamic:
        # this hook's table, else what another hook set (hatch-vcs' urls, say)
        base = dict(options.urls) if options.urls else dict(project.get("urls") or {})
        if homepage is not None:
            base[options.homepage_label] = homepage
            used.append(variables.homepage)
        if options.urls or homepage is not None:
            urls = base
    elif "urls" in project:  # static [project.urls]: only the Homepage entry changes
        if options.urls:
            raise ConfigError(
                f"`{path}.urls` is set, but the project's URLs are static ([project.urls]); "
                "hatch-sigstore would not know which to keep.",
                remediation="Remove the hook's urls table: the Homepage entry of "
                "[project.urls] is replaced from CI as it is.",
            )
        if homepage is not None:
            urls = {**project["urls"], options.homepage_label: homepage}
            used.append(variables.homepage)
    elif options.urls:
        raise ConfigError(
            f"`{path}.urls` is set, but `urls` is not listed in project.dynamic, so hatchling "
            "would refuse it.",
            remediation='Add "urls" to project.dynamic, or remove the hook\'s urls table.',
        )
    return MetadataChanges(name=name, version=version, urls=urls, ci_variables=tuple(used))


def building_from_sdist(root: str) -> bool:
    """An unpacked sdist carries PKG-INFO: its metadata (and pyproject.toml) are already final."""
    return os.path.isfile(os.path.join(root, "PKG-INFO"))
