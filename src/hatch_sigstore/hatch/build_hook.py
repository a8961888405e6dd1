"""The build hook ``[tool.hatch.build.hooks.sigstore]``: sign every artifact as hatchling writes it.

* ``initialize`` validates every option (so a bad option fails before anything is built), checks
  that signing can happen when it must (token, trust config, expected identity), and for the sdist
  puts a rewritten ``pyproject.toml`` (the CI name, version and URLs made static) into the archive,
  so a wheel built from that sdist — with or without CI variables — carries the same metadata.
* ``finalize`` runs straight after hatchling moved the artifact into its final folder: it drops
  stale signature files of that artifact, signs it in this process's one signing session, then
  verifies what it wrote against the CI build's identity. Any failure removes that artifact's
  signature files and fails the build with one message.
* ``dependencies`` asks for sigstore only when signing will happen, so building our users' sdists
  anywhere else never pulls it in. Under ``hatch build`` it is the first hook call (hatch's probe
  for build dependencies): there it leaves out what hatch's build environment already has and
  starts the signing agent (:mod:`hatch_sigstore.hatch._build_signing`).

sigstore is imported only when signing; with signing off this module imports neither sigstore nor
httpx. Every build with the hook imports (and, where bytecode is not cached, compiles) this
module, so it holds only what every build runs: reading the options and deciding whether to
sign. The signing path (:mod:`hatch_sigstore.hatch._build_signing`), the sdist's pyproject rewrite
(:mod:`hatch_sigstore.hatch._pyproject`) and error reporting load when needed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

from hatch_sigstore._files import remove_sidecars
from hatch_sigstore.errors import ConfigError, HatchSigstoreError
from hatch_sigstore.hatch._build_options import (
    ATTESTATIONS_REQUIREMENT,
    SIGN_ENV,
    SIGN_MODES,
    SIGSTORE_REQUIREMENT,
    TOKEN_VARIABLES,
    BuildOptions,
)

__all__ = [
    "ATTESTATIONS_REQUIREMENT",
    "SIGN_ENV",
    "SIGN_MODES",
    "SIGSTORE_REQUIREMENT",
    "BuildOptions",
    "SigstoreBuildHook",
]


def _token_in(env: Mapping[str, str]) -> bool:
    """``sign.token_available(env)``, importing the signing layer only if a token may be set."""
    if not any(env.get(name) for name in TOKEN_VARIABLES):
        return False
    from hatch_sigstore.sign import token_available

    return bool(token_available(env))


def raise_clean(exc: HatchSigstoreError) -> NoReturn:
    """:func:`hatch_sigstore.hatch._errors.raise_clean`, imported only when a build fails."""
    from hatch_sigstore.hatch._errors import raise_clean as raise_it

    raise_it(exc)


_SAID: set[str] = set()  # one-time notices, once per build process


def reset_process_state() -> None:
    """Forget sessions and one-time notices (for tests that build many projects in one process)."""
    shared = sys.modules.get("hatch_sigstore.sign._shared")
    if shared is not None:  # only a build that signed has sessions to close
        shared.close_shared_sessions()
    _SAID.clear()


class SigstoreBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "sigstore"
    _temp_pyproject: str | None = None

    # -- configuration ------------------------------------------------------------------

    @property
    def table_path(self) -> str:
        """Where this hook's options live: the target table replaces the global one."""
        try:
            target_hooks = self.build_config.target_config.get("hooks", {})
        except Exception:
            target_hooks = {}
        if isinstance(target_hooks, Mapping) and "sigstore" in target_hooks:
            return f"tool.hatch.build.targets.{self.target_name}.hooks.sigstore"
        return "tool.hatch.build.hooks.sigstore"

    @cached_property
    def options(self) -> BuildOptions:
        try:
            return BuildOptions.read(self.config, self.table_path, self.root)
        except ConfigError as exc:
            raise_clean(exc)

    def say(self, message: str) -> None:
        self.app.display_info(f"hatch-sigstore: {message}")

    def say_once(self, key: str, message: str) -> None:
        if key not in _SAID:
            _SAID.add(key)
            self.app.display_warning(f"hatch-sigstore: {message}")

    def _token_available(self) -> bool:
        return _token_in(os.environ)

    def will_sign(self) -> bool:
        """Whether this build signs (before looking at editable builds or output folders)."""
        mode = self.options.sign
        if mode == "off":
            return False
        return mode == "required" or self._token_available()

    # -- hatchling's lifecycle ----------------------------------------------------------

    def dependencies(self) -> list[str]:
        if not self.will_sign():
            return []
        main_file = str(getattr(sys.modules.get("__main__"), "__file__", "") or "")
        if os.path.basename(main_file).startswith("get_build_deps_"):
            # hatch's probe, before `hatch build` builds anything: the agent loads sigstore now
            from hatch_sigstore.hatch._build_signing import hatch_probe

            return hatch_probe(self.options)
        return self.options.requirements()

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        options = self.options
        try:
            if version == "standard" and os.path.isfile(os.path.join(self.root, "PKG-INFO")):
                from hatch_sigstore.hatch._from_sdist import check_sdist_metadata

                line = check_sdist_metadata(self, required=options.sign == "required")
                if line:
                    self.say_once(f"from-sdist {line}", line)
            if version == "standard" and self.will_sign():
                from hatch_sigstore.hatch._build_signing import expect_artifact, preflight

                preflight(options)
                # if the build fails after writing the artifact but before our finalize signs
                # it (another hook's finalize), it is removed at exit: nothing unsigned stays
                expect_artifact(build_data, self.directory)
            if (
                self.target_name == "sdist"
                and version == "standard"
                and options.sdist_pyproject == "rewrite"
            ):
                from hatch_sigstore.hatch._pyproject import sdist_pyproject

                self._temp_pyproject = sdist_pyproject(self, build_data)
        except HatchSigstoreError as exc:
            raise_clean(exc)

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        self._drop_temp_pyproject()
        if "hatch_sigstore.hatch._build_signing" in sys.modules:
            sys.modules["hatch_sigstore.hatch._build_signing"].artifact_reached(build_data)
        if version == "editable":
            return  # never sign an editable wheel: it only points at the source tree
        artifact = Path(artifact_path)
        if not artifact.is_file():
            return
        removed = remove_sidecars(artifact)  # they signed the previous bytes of this file
        if removed:
            self.say(
                f"removed stale signature files of {artifact.name}: "
                f"{', '.join(p.name for p in removed)}"
            )
        options = self.options
        if options.sign == "off":
            return
        if not self.will_sign():
            self.say_once(
                "skipped",
                "not signing: no Sigstore identity token (SIGSTORE_ID_TOKEN) in this "
                f'environment (sign = "auto", from {options.sign_source}). In GitLab CI add '
                "`id_tokens: SIGSTORE_ID_TOKEN: aud: sigstore` to the build job; set "
                f"{SIGN_ENV}=required to make a missing token an error.",
            )
            return
        from hatch_sigstore.hatch._build_signing import sign_artifact

        sign_artifact(options, artifact, self)

    def clean(self, versions: list[str]) -> None:
        self._drop_temp_pyproject()

    def _drop_temp_pyproject(self) -> None:
        folder = self._temp_pyproject
        if folder:
            from hatch_sigstore.hatch._pyproject import drop_temp_pyproject

            drop_temp_pyproject(folder)
            self._temp_pyproject = None
