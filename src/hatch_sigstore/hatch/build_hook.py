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
  anywhere else never pulls it in.

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
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

from hatch_sigstore._config import Options, describe_value
from hatch_sigstore.errors import ConfigError, HatchSigstoreError

if TYPE_CHECKING:
    from hatch_sigstore.trust import TrustChoice

__all__ = [
    "ATTESTATIONS_REQUIREMENT",
    "SIGN_ENV",
    "SIGN_MODES",
    "SIGSTORE_REQUIREMENT",
    "BuildOptions",
    "SigstoreBuildHook",
]

SIGN_ENV = "HATCH_SIGSTORE_SIGN"
SIGN_MODES = ("auto", "required", "off")
# Kept equal to hatch_sigstore.signing.OUTPUT_KINDS (a test checks); not imported from there so
# that validating options never imports the signing module.
OUTPUT_KINDS = ("bundle", "cosign", "attestation")
DEFAULT_OUTPUTS = ("bundle", "cosign")
REKOR_VERSIONS = (1, 2)
DEFAULT_TIMEOUT = 60.0  # seconds for each call to the CA or the log, as `hatch-sigstore sign`
SDIST_PYPROJECT_MODES = ("rewrite", "keep")
SIGSTORE_REQUIREMENT = "sigstore>=4.5.1,<5"
ATTESTATIONS_REQUIREMENT = "pypi-attestations>=0.0.30"

_HOOK_KEYS = (
    "sign",
    "outputs",
    "trust-config",
    "staging",
    "rekor-version",
    "identity",
    "verify",
    "sdist-pyproject",
    "timeout",
)
# read by hatchling itself, allowed in every hook table
_GENERIC_KEYS = (
    "enable-by-default",
    "dependencies",
    "require-runtime-dependencies",
    "require-runtime-features",
)
_IDENTITY_KEYS = ("server", "project-path", "ref", "config-path")
# What makes signing.token_available() true: without any of these set, there is no token and
# the answer needs no import of hatch_sigstore.signing (~25 ms). A test keeps them in step.
_TOKEN_VARIABLES = ("SIGSTORE_ID_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL")


# NamedTuples, not dataclasses: every build defines these classes, and a NamedTuple is ~5x
# cheaper to define (see hatch_sigstore.ci).
class IdentityOptions(NamedTuple):
    server: str | None = None
    project_path: str | None = None
    ref: str | None = None
    config_path: str | None = None

    @property
    def configured(self) -> bool:
        return any((self.server, self.project_path, self.ref, self.config_path))


class BuildOptions(NamedTuple):
    """The validated options of one hook table; ``path`` is where they live in the TOML."""

    path: str
    sign: str = "auto"
    sign_source: str = ""
    outputs: frozenset[str] = frozenset(DEFAULT_OUTPUTS)
    trust_config: Path | None = None
    staging: bool = False
    rekor_version: int = 1
    identity: IdentityOptions = IdentityOptions()
    verify: bool = True
    sdist_pyproject: str = "rewrite"
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def read(
        cls, table: Any, path: str, root: str, env: Mapping[str, str] | None = None
    ) -> BuildOptions:
        env = os.environ if env is None else env
        options = Options(table, path, known=(*_HOOK_KEYS, *_GENERIC_KEYS))
        sign = options.choice("sign", SIGN_MODES, "auto")
        sign_source = options.key("sign")
        override = env.get(SIGN_ENV, "").strip()
        if override:
            if override.lower() not in SIGN_MODES:
                raise ConfigError(
                    f"The environment variable {SIGN_ENV} is {override!r}; it must be one of "
                    '"auto", "required" or "off".',
                )
            sign, sign_source = override.lower(), SIGN_ENV
        outputs = options.string_list("outputs", DEFAULT_OUTPUTS, choices=OUTPUT_KINDS)
        trust = options.optional_string("trust-config")
        trust_path = None
        if trust is not None:
            trust_path = Path(trust).expanduser()
            if not trust_path.is_absolute():
                trust_path = Path(root) / trust_path
        rekor = options.table.get("rekor-version", 1)
        if isinstance(rekor, bool) or rekor not in REKOR_VERSIONS:
            raise ConfigError(
                f"`{options.key('rekor-version')}` must be 1 or 2; got {describe_value(rekor)}.",
            )
        if rekor == 2 and "attestation" in outputs:
            raise ConfigError(
                f"`{options.key('outputs')}` asks for a PEP 740 attestation, which cannot be "
                f"made with `{options.key('rekor-version')}` = 2: the attestation format has no "
                "field for the timestamp a Rekor v2 entry needs, so it would never verify.",
                remediation="Drop \"attestation\" from outputs, or use rekor-version = 1.",
            )
        timeout = options.table.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigError(
                f"`{options.key('timeout')}` must be a number of seconds above 0; got "
                f"{describe_value(timeout)}.",
            )
        ident = options.sub("identity", known=_IDENTITY_KEYS)
        identity = IdentityOptions(
            server=ident.optional_string("server"),
            project_path=ident.optional_string("project-path"),
            ref=ident.optional_string("ref"),
            config_path=ident.optional_string("config-path"),
        )
        if identity.server is not None and not identity.server.startswith(("https://", "http://")):
            raise ConfigError(
                f"`{ident.key('server')}` must be the GitLab instance URL (https://…); got "
                f"{identity.server!r}.",
            )
        if identity.ref is not None and not identity.ref.startswith("refs/"):
            raise ConfigError(
                f"`{ident.key('ref')}` must be a full ref such as refs/heads/main or "
                f"refs/tags/v1.0; got {identity.ref!r}.",
            )
        return cls(
            path=path,
            sign=sign,
            sign_source=sign_source,
            outputs=frozenset(outputs) | {"bundle"},  # always written: verification reads it
            trust_config=trust_path,
            staging=options.boolean("staging", False),
            rekor_version=int(rekor),
            identity=identity,
            verify=options.boolean("verify", True),
            sdist_pyproject=options.choice("sdist-pyproject", SDIST_PYPROJECT_MODES, "rewrite"),
            timeout=float(timeout),
        )

    def requirements(self) -> list[str]:
        deps = [SIGSTORE_REQUIREMENT]
        if "attestation" in self.outputs:
            deps.append(ATTESTATIONS_REQUIREMENT)
        return deps

    def trust(self, env: Mapping[str, str] | None = None) -> TrustChoice:
        from hatch_sigstore.trust import TrustChoice

        return TrustChoice.resolve(
            staging=self.staging,
            trust_config=self.trust_config,
            env=env,
            source=f"`{self.path}.trust-config`",
        )


def _token_in(env: Mapping[str, str]) -> bool:
    """``signing.token_available(env)``, importing the signing module only if a token may be set."""
    if not any(env.get(name) for name in _TOKEN_VARIABLES):
        return False
    from hatch_sigstore.signing import token_available

    return bool(token_available(env))


def raise_clean(exc: HatchSigstoreError) -> NoReturn:
    """:func:`hatch_sigstore.hatch._errors.raise_clean`, imported only when a build fails."""
    from hatch_sigstore.hatch._errors import raise_clean as raise_it

    raise_it(exc)


_SAID: set[str] = set()  # one-time notices, once per build process


def reset_process_state() -> None:
    """Forget sessions and one-time notices (for tests that build many projects in one process)."""
    signing = sys.modules.get("hatch_sigstore.hatch._build_signing")
    if signing is not None:  # only a build that signed has sessions to close
        signing.close_sessions()
    _SAID.clear()


def remove_sidecars(artifact: Path) -> list[Path]:
    """Delete the signature files beside ``artifact``; return those that were there."""
    from hatch_sigstore._sidecars import sidecars_of

    removed = []
    for sidecar in sidecars_of(artifact).values():
        try:
            sidecar.unlink()
            removed.append(sidecar)
        except FileNotFoundError:
            pass
    return removed


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
        return self.options.requirements() if self.will_sign() else []

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        options = self.options
        try:
            if version == "standard" and self.will_sign():
                from hatch_sigstore.hatch._build_signing import preflight

                preflight(options)
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
        if version == "editable":
            return  # never sign an editable wheel: it only points at the source tree
        artifact = Path(artifact_path)
        if not artifact.is_file():
            return
        removed = remove_sidecars(artifact)  # they signed the previous bytes of this file
        if removed:
            self.app.display_info(
                "hatch-sigstore: removed stale signature files of "
                f"{artifact.name}: {', '.join(p.name for p in removed)}"
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

        sign_artifact(self, artifact)

    def clean(self, versions: list[str]) -> None:
        self._drop_temp_pyproject()

    def _drop_temp_pyproject(self) -> None:
        folder = self._temp_pyproject
        if folder:
            from hatch_sigstore.hatch._pyproject import drop_temp_pyproject

            drop_temp_pyproject(folder)
            self._temp_pyproject = None
