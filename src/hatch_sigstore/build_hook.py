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
httpx.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

from hatch_sigstore._config import Options
from hatch_sigstore._hookerrors import raise_clean
from hatch_sigstore.ci import DEFAULT_CONFIG_PATH, DEFAULT_SERVER, CIContext, ExpectedIdentity
from hatch_sigstore.errors import ConfigError, HatchSigstoreError, SigningError, VerificationError

if TYPE_CHECKING:
    from hatch_sigstore.signing import SigningSession
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


@dataclass(frozen=True)
class IdentityOptions:
    server: str | None = None
    project_path: str | None = None
    ref: str | None = None
    config_path: str | None = None

    @property
    def configured(self) -> bool:
        return any((self.server, self.project_path, self.ref, self.config_path))


@dataclass(frozen=True)
class BuildOptions:
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
                f"`{options.key('rekor-version')}` must be 1 or 2; got "
                f"{_describe(rekor)}.",
            )
        timeout = options.table.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigError(
                f"`{options.key('timeout')}` must be a number of seconds above 0; got "
                f"{_describe(timeout)}.",
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

    def expected_identity(self, ci: CIContext) -> ExpectedIdentity:
        ident = self.identity
        base = None
        if not (ident.server and ident.project_path and ident.ref):
            base = ci.expected_identity()
        server = ident.server or (base.server if base else None)
        project = ident.project_path or (base.project_path if base else None)
        if project is None:
            raise ConfigError(
                "Cannot tell which identity the signatures must carry: this is not a GitLab CI "
                "job (CI_SERVER_URL and CI_PROJECT_PATH are unset) and "
                f"`{self.path}.identity.project-path` is not configured.",
                remediation=f"Set `{self.path}.identity` (project-path, ref, server), or "
                f"`{self.path}.verify = false` to skip the check after signing.",
            )
        return ExpectedIdentity(
            server=(server or DEFAULT_SERVER).rstrip("/"),
            project_path=project,
            ref=ident.ref or (base.ref if base else None),
            config_path=ident.config_path or (base.config_path if base else DEFAULT_CONFIG_PATH),
            project_id=base.project_id if base else None,
        )


def _describe(value: Any) -> str:
    from hatch_sigstore._config import describe_value

    return describe_value(value)


# -- process-wide state: one signing session per build process ------------------------------

_SESSIONS: dict[tuple[Any, ...], SigningSession] = {}
_SAID: set[str] = set()
_TEMP_DIRS: list[str] = []


def _close_sessions() -> None:
    while _SESSIONS:
        _, session = _SESSIONS.popitem()
        # closing at exit must never mask the build's outcome
        with contextlib.suppress(Exception):
            session.__exit__(None, None, None)


def _remove_temp_dirs() -> None:
    while _TEMP_DIRS:
        shutil.rmtree(_TEMP_DIRS.pop(), ignore_errors=True)


atexit.register(_close_sessions)
atexit.register(_remove_temp_dirs)


def reset_process_state() -> None:
    """Forget sessions and one-time notices (for tests that build many projects in one process)."""
    _close_sessions()
    _SAID.clear()


def _session(options: BuildOptions, trust: TrustChoice, token: str) -> SigningSession:
    from hatch_sigstore.signing import SigningSession, SignOptions

    key = (trust, options.outputs, options.rekor_version, options.timeout, token)
    session = _SESSIONS.get(key)
    if session is None:
        session = SigningSession(
            SignOptions(
                trust=trust,
                outputs=options.outputs,
                rekor_version=options.rekor_version,
                # the session finds the same token itself, so its messages name the variable
                token=None,
                timeout=options.timeout,
            )
        )
        session.__enter__()
        _SESSIONS[key] = session
    return session


def _in_temporary_folder(artifact: Path, env: Mapping[str, str]) -> bool:
    """pip builds wheels in a temporary folder and keeps only the ``.whl``: signatures are lost."""
    if env.get("PIP_BUILD_TRACKER"):
        return True
    folder = artifact.parent.resolve()
    tmp = Path(tempfile.gettempdir()).resolve()
    return folder.name.startswith("pip-") and tmp in folder.parents


def _remove_sidecars(artifact: Path) -> list[Path]:
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

    def _say_once(self, key: str, message: str) -> None:
        if key not in _SAID:
            _SAID.add(key)
            self.app.display_warning(f"hatch-sigstore: {message}")

    def _token_available(self) -> bool:
        from hatch_sigstore.signing import token_available

        return bool(token_available())

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
                self._preflight()
            if (
                self.target_name == "sdist"
                and version == "standard"
                and options.sdist_pyproject == "rewrite"
            ):
                self._rewrite_sdist_pyproject(build_data)
        except HatchSigstoreError as exc:
            raise_clean(exc)

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        self._drop_temp_pyproject()
        if version == "editable":
            return  # never sign an editable wheel: it only points at the source tree
        artifact = Path(artifact_path)
        if not artifact.is_file():
            return
        removed = _remove_sidecars(artifact)  # they signed the previous bytes of this file
        if removed:
            self.app.display_info(
                "hatch-sigstore: removed stale signature files of "
                f"{artifact.name}: {', '.join(p.name for p in removed)}"
            )
        options = self.options
        if options.sign == "off":
            return
        env = os.environ
        if not self.will_sign():
            self._say_once(
                "skipped",
                "not signing: no Sigstore identity token (SIGSTORE_ID_TOKEN) in this "
                f"environment (sign = \"auto\", from {options.sign_source}). In GitLab CI add "
                "`id_tokens: SIGSTORE_ID_TOKEN: aud: sigstore` to the build job; set "
                f"{SIGN_ENV}=required to make a missing token an error.",
            )
            return
        if _in_temporary_folder(artifact, env):
            message = (
                f"{artifact.name} is being built in a temporary folder ({artifact.parent}) that "
                "the frontend (pip) throws away after keeping only the wheel, so a signature "
                "written beside it would be lost."
            )
            remediation = (
                "Build with `hatch build` or `python -m build` (they write to dist/), or sign "
                "afterwards: `hatch-sigstore sign dist/*`."
            )
            if options.sign == "required":
                raise_clean(SigningError(message, remediation=remediation))
            self._say_once("temporary", f"not signing: {message} {remediation}")
            return
        try:
            self._sign_and_verify(artifact)
        except HatchSigstoreError as exc:
            _remove_sidecars(artifact)
            raise_clean(exc)
        except Exception as exc:
            _remove_sidecars(artifact)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise_clean(
                SigningError(
                    f"Signing {artifact.name} failed unexpectedly: {type(exc).__name__}"
                    + (f": {first}" if first else "")
                    + ". No signature was kept for it.",
                    remediation="Re-run the build; if it persists, report it with this message.",
                )
            )

    def clean(self, versions: list[str]) -> None:
        self._drop_temp_pyproject()

    # -- signing --------------------------------------------------------------------------

    def _preflight(self) -> None:
        """Everything that can fail before an artifact exists: fail before building it."""
        from hatch_sigstore.signing import SignOptions, resolve_token

        options = self.options
        resolve_token(SignOptions(outputs=options.outputs, token=None))
        options.trust()
        if options.verify:
            options.expected_identity(CIContext.from_env())

    def _sign_and_verify(self, artifact: Path) -> None:
        from hatch_sigstore.signing import SignOptions, resolve_token

        options = self.options
        trust = options.trust()
        identity = options.expected_identity(CIContext.from_env()) if options.verify else None
        token = resolve_token(SignOptions(trust=trust, outputs=options.outputs, token=None))
        signed = _session(options, trust, token).sign([artifact])
        written = [p.name for s in signed for p in s.written]
        if identity is None:
            self.app.display_info(
                f"hatch-sigstore: signed {artifact.name} ({', '.join(written)}); not verified "
                f"(`{options.path}.verify = false`)"
            )
            return
        from hatch_sigstore.verification import Policy, verify_files

        results = verify_files([artifact], Policy.gitlab(identity), trust)
        failed = [r for r in results if not r.ok]
        if failed or not results:
            reasons = "; ".join(f"{r.artifact.name}: {r.reason}" for r in failed) or "no result"
            raise VerificationError(
                f"{artifact.name} was signed, but the signature does not verify as "
                f"{identity.san or identity.repository_uri} (issuer {identity.issuer}): "
                f"{reasons}. Its signature files were removed.",
                remediation=f"Check `{options.path}.identity` against the CI job's identity "
                "(CI_SERVER_URL, CI_PROJECT_PATH, CI_CONFIG_PATH, CI_COMMIT_TAG/BRANCH) and the "
                "trust config.",
            )
        self.app.display_info(
            f"hatch-sigstore: signed and verified {artifact.name} as "
            f"{identity.san or identity.repository_uri} ({', '.join(written)})"
        )

    # -- the sdist's pyproject.toml -----------------------------------------------------

    def _rewrite_sdist_pyproject(self, build_data: dict[str, Any]) -> None:
        from hatch_sigstore._pyproject import rewrite_pyproject
        from hatch_sigstore.metadata_hook import (
            METADATA_HOOK_PATH,
            MetadataOptions,
            building_from_sdist,
            plan_metadata,
        )

        if building_from_sdist(self.root):
            return
        hook_config = self.metadata.hatch.metadata.hook_config.get("sigstore")
        if hook_config is None:
            return
        project = self.metadata.config.get("project", {})
        changes = plan_metadata(
            project,
            MetadataOptions.from_config(hook_config),
            CIContext.from_env(),
            strict=False,
        )
        if not changes.ci_variables:
            return  # nothing came from CI: the sdist ships the project's pyproject.toml as is
        dynamic = list(project.get("dynamic") or [])
        core = self.metadata.core
        source = Path(self.root) / "pyproject.toml"
        text = rewrite_pyproject(
            source.read_text(encoding="utf-8"),
            name=core.raw_name if changes.name is not None else None,
            version=self.metadata.original_version if "version" in dynamic else None,
            urls=dict(core.urls) if "urls" in dynamic else None,
            where=f"{source} (for the sdist; `{METADATA_HOOK_PATH}`)",
        )
        folder = tempfile.mkdtemp(prefix="hatch-sigstore-sdist-")
        _TEMP_DIRS.append(folder)
        rewritten = Path(folder) / "pyproject.toml"
        rewritten.write_text(text, encoding="utf-8")
        force_include = build_data.setdefault("force_include", {})
        for src in [s for s, target in force_include.items() if target == "pyproject.toml"]:
            del force_include[src]
        force_include[str(rewritten)] = "pyproject.toml"
        self._temp_pyproject = folder

    def _drop_temp_pyproject(self) -> None:
        folder = getattr(self, "_temp_pyproject", None)
        if folder:
            with contextlib.suppress(OSError):  # one file: cheaper than rmtree
                os.unlink(os.path.join(folder, "pyproject.toml"))
                os.rmdir(folder)
            if folder in _TEMP_DIRS:
                _TEMP_DIRS.remove(folder)
            self._temp_pyproject = None
