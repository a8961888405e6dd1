"""One project's CI metadata rewrite, shared by every plugin hatchling runs to resolve it.

hatchling resolves a project's metadata in ``ProjectMetadata.core``
(``hatchling/metadata/core.py``): it constructs every configured metadata hook, in table order;
then, with ``[tool.hatch.version]``, asks the version source for the version and puts it into the
``[project]`` table; then calls each hook's ``update`` in table order. A metadata hook on its
own therefore runs too late for two things: the version source has already answered (and
hatchling caches its answer for file names, METADATA and version build hooks such as hatch-vcs'
``version-file``), and hooks listed before ours (hatch-fancy-pypi-readme's ``$HFPR_VERSION``)
have already read the old name and version. So:

* our hook's constructor, the first of our code hatchling runs, registers a :class:`Rewrite`
  for the project root (:func:`activate`);
* every version source is wrapped (:mod:`hatch_sigstore.hatch._wrappers`, a pluggy hook wrapper
  around ``hatch_register_version_source``): while a Rewrite is active for its root and CI sets
  a version, it answers with that version (:func:`version_data`), so hatchling has the CI
  version from the start, whichever source is configured;
* every other plugin's metadata hook is wrapped too: the rewrite is applied to the table just
  before and just after its ``update`` (:func:`around_update`), so it sees the CI name, version
  and Homepage whatever the table order, and cannot undo them.

``hatch version`` constructs no metadata hook, so it keeps showing the project's own source.
A ``custom`` hook (a class in ``hatch_build.py``) cannot be wrapped: listed before ours, it
stops the build with the order to fix (:meth:`Rewrite.check_order`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

from hatch_sigstore.ci import CIContext, CIVersion
from hatch_sigstore.errors import ConfigError, first_line
from hatch_sigstore.hatch._errors import raise_clean
from hatch_sigstore.hatch._metadata_plan import (
    METADATA_HOOK_PATH,
    MetadataChanges,
    MetadataOptions,
    building_from_sdist,
    plan_metadata,
)

__all__ = [
    "Rewrite",
    "activate",
    "active",
    "around_update",
    "check_build_hook_enabled",
    "reset",
    "version_data",
]

PLUGIN_NAME = "sigstore"
SIGN_ENV = "HATCH_SIGSTORE_SIGN"  # the build hook's variable (hatch._build_options.SIGN_ENV)
BUILD_HOOK_PATH = "tool.hatch.build.hooks.sigstore"


def _key(root: str) -> str:
    return os.path.normcase(os.path.abspath(root))


def _say(message: str) -> None:
    """A line on stderr, as hatchling's own ``Application.display_info`` writes it."""
    verbosity = int(os.environ.get("HATCH_VERBOSE", "0") or 0) - int(
        os.environ.get("HATCH_QUIET", "0") or 0
    )
    if verbosity >= 0:
        print(f"hatch-sigstore: {message}", file=sys.stderr, flush=True)


class Rewrite:
    """The rewrite of one project's metadata during one resolution by hatchling."""

    def __init__(self, root: str, config: Any) -> None:
        self.root = root
        self.config = config
        self.ci = CIContext.from_env()
        self.from_sdist = building_from_sdist(root)
        self._options: MetadataOptions | None = None
        # what the [tool.hatch.version] source said: (its name, its version or None, why not)
        self.source: tuple[str, str | None, str | None] | None = None
        self.original: dict[str, Any] | None = None  # name, urls before the first change
        self.seen: list[str] = []  # other plugins' hooks that got the rewrite before update
        self.announced = False

    @property
    def options(self) -> MetadataOptions:
        if self._options is None:
            try:
                self._options = MetadataOptions.from_config(self.config)
            except ConfigError as exc:
                raise_clean(exc)
        return self._options

    def ci_version(self) -> CIVersion | None:
        variables = self.options.variables
        try:
            return self.ci.package_version(variables.version, variables.tag)
        except ConfigError as exc:
            raise_clean(exc)

    def apply(self, metadata: MutableMapping[str, Any], *, strict: bool) -> MetadataChanges:
        """Put the CI values into ``metadata`` (idempotent)."""
        try:
            changes = plan_metadata(metadata, self.options, self.ci, strict=strict)
        except ConfigError as exc:
            raise_clean(exc)
        if self.original is None:
            self.original = {"name": metadata.get("name"), "urls": metadata.get("urls")}
        changes.apply(metadata)
        return changes

    def check_order(self, changes: MetadataChanges) -> None:
        """Refuse when a hook listed before ours read the project's own name or version."""
        if changes.name is None and changes.version is None and changes.urls is None:
            return
        order = metadata_hook_order(self.root)
        before = order[: order.index(PLUGIN_NAME)] if PLUGIN_NAME in order else []
        missed = [name for name in before if name not in self.seen]
        if not missed:
            return
        tables = ", ".join(f"[tool.hatch.metadata.hooks.{name}]" for name in missed)
        raise_clean(
            ConfigError(
                f"The metadata hook(s) {tables} run before hatch-sigstore's and saw the "
                "project's own name, version and URLs, not the ones hatch-sigstore sets "
                f"({', '.join(changes.ci_variables) or 'fallback-version'}): hatchling runs "
                "metadata hooks in the order of their tables, and a `custom` hook (a class in "
                "your build script) cannot be given them ahead of its turn.",
                remediation=f"Move [{METADATA_HOOK_PATH}] above {tables} in pyproject.toml.",
            )
        )

    def announce(self, changes: MetadataChanges) -> None:
        """One line: which CI value replaced which (once per resolution)."""
        if self.announced or not changes.ci_variables:
            return
        self.announced = True
        parts = []
        variables = self.options.variables
        ci_version = self.ci_version() if changes.version is not None else None
        if ci_version is not None:
            part = f"version {ci_version.version} (from {ci_version.variable})"
            if self.source is not None:
                source, own, why = self.source
                where = f"the [tool.hatch.version] source `{source}`"
                part += f" replaces {own} from {where}" if own else f" replaces {where} ({why})"
            parts.append(part)
        original = self.original or {}
        if changes.name is not None:
            old = original.get("name")
            part = f"name {changes.name} (from {variables.name})"
            parts.append(part + (f" replaces {old}" if old and old != changes.name else ""))
        if changes.urls is not None and variables.homepage in changes.ci_variables:
            label = self.options.homepage_label
            new = changes.urls[label]
            old = (original.get("urls") or {}).get(label)
            part = f"{label} {new} (from {variables.homepage})"
            parts.append(part + (f" replaces {old}" if old and old != new else ""))
        if parts:
            _say("; ".join(parts))


_ACTIVE: dict[str, Rewrite] = {}


def activate(root: str, config: Any) -> Rewrite:
    """Our hook was constructed for ``root``: hatchling is resolving its metadata now."""
    rewrite = _ACTIVE[_key(root)] = Rewrite(root, config)
    return rewrite


def active(root: str) -> Rewrite | None:
    """The rewrite of the project at ``root``, unless there is none or it builds from an sdist."""
    rewrite = _ACTIVE.get(_key(root))
    return None if rewrite is None or rewrite.from_sdist else rewrite


def reset() -> None:
    """Forget every project (for tests that build many projects in one process)."""
    _ACTIVE.clear()


def metadata_hook_order(root: str) -> list[str]:
    """The metadata hooks' names in the order hatchling runs them (pyproject.toml + hatch.toml)."""
    from hatchling.metadata.core import ProjectMetadata

    return list(ProjectMetadata(root, None).hatch.metadata.hook_config)


# -- called by the wrapped plugins (hatch_sigstore.hatch._wrappers) ---------------------------


def version_data(source: Any, own: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A version source's answer: the CI version while our rewrite is active, else its own."""
    rewrite = active(source.root)
    ci_version = None if rewrite is None else rewrite.ci_version()
    if rewrite is None or ci_version is None:
        return own()
    name = str(getattr(source, "PLUGIN_NAME", "") or type(source).__name__)
    try:  # only to say which value the CI version replaces: a failing source does not matter
        own_version = str(own()["version"])
        rewrite.source = (name, own_version, None)
    except Exception as exc:
        rewrite.source = (name, None, f"it failed: {first_line(exc) or type(exc).__name__}")
    return {"version": ci_version.version}


def around_update(
    hook: Any, metadata: MutableMapping[str, Any], update: Callable[[], None]
) -> None:
    """Another plugin's metadata hook: it sees the CI values, and cannot undo them."""
    rewrite = active(hook.root)
    if rewrite is None:
        update()
        return
    rewrite.apply(metadata, strict=False)
    rewrite.seen.append(str(getattr(hook, "PLUGIN_NAME", "")))
    update()
    rewrite.apply(metadata, strict=False)


def own_update(root: str, config: Any, metadata: MutableMapping[str, Any]) -> None:
    """Our hook's ``update``, at its place in the table order."""
    rewrite = _ACTIVE.get(_key(root)) or activate(root, config)
    check_build_hook_enabled(root)
    if rewrite.from_sdist:
        return
    changes = rewrite.apply(metadata, strict=True)
    rewrite.check_order(changes)
    rewrite.announce(changes)


# -- HATCH_SIGSTORE_SIGN=required needs the build hook ----------------------------------------


def _sign_mode(tables: list[Any]) -> str | None:
    override = os.environ.get(SIGN_ENV, "").strip().lower()
    if override:
        return override
    for table in tables:
        if isinstance(table, dict) and table.get("sign") == "required":
            return "required"
    return None


def check_build_hook_enabled(root: str) -> None:
    """With signing required, refuse a build whose sdist or wheel our build hook would skip.

    hatchling runs the metadata hooks even where build hooks are switched off
    (``HATCH_BUILD_NO_HOOKS``, ``enable-by-default = false``, no table), so this is where a
    required signature that would silently not happen is caught. The targets' hook tables are
    read by hatchling's own builders, so their answer is hatchling's.
    """
    override = os.environ.get(SIGN_ENV, "").strip().lower()
    if override and override != "required":
        return  # the variable decides, whatever the tables say
    from hatchling.builders.sdist import SdistBuilder
    from hatchling.builders.wheel import WheelBuilder

    builders = [SdistBuilder(root), WheelBuilder(root)]
    tables = {
        builder.PLUGIN_NAME: [
            table
            for table in (
                builder.build_config.get("hooks", {}).get(PLUGIN_NAME),
                builder.target_config.get("hooks", {}).get(PLUGIN_NAME),
            )
            if isinstance(table, dict)
        ]
        for builder in builders
    }
    if _sign_mode([t for found in tables.values() for t in found]) != "required":
        return
    from hatchling.builders.config import env_var_enabled

    source = SIGN_ENV if os.environ.get(SIGN_ENV, "").strip() else f"`{BUILD_HOOK_PATH}.sign`"
    for builder in builders:
        target = builder.PLUGIN_NAME
        try:
            if PLUGIN_NAME in builder.config.hook_config:
                continue
        except (TypeError, ValueError):
            continue  # a malformed table: hatchling reports it itself
        if env_var_enabled("HATCH_BUILD_NO_HOOKS"):
            why = "HATCH_BUILD_NO_HOOKS is set (`hatch build --no-hooks` sets it)"
            fix = "Unset HATCH_BUILD_NO_HOOKS and build without --no-hooks"
        elif not tables[target]:
            why = (
                f"neither [{BUILD_HOOK_PATH}] nor [tool.hatch.build.targets.{target}.hooks."
                f"{PLUGIN_NAME}] is in pyproject.toml"
            )
            fix = f"Add [{BUILD_HOOK_PATH}] to pyproject.toml"
        else:
            why = (
                "its table sets enable-by-default = false and "
                "HATCH_BUILD_HOOK_ENABLE_SIGSTORE is not set"
            )
            fix = "Set HATCH_BUILD_HOOK_ENABLE_SIGSTORE=true in the job, or drop enable-by-default"
        raise_clean(
            ConfigError(
                f'Signing is required ({source} = "required"), but hatch-sigstore\'s build hook '
                f"will not run for the {target} target: {why}. The {target} would be built "
                "unsigned.",
                remediation=f'{fix}; or set {SIGN_ENV}="auto" if unsigned builds are fine here.',
            )
        )
