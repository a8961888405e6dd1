"""The build hook's options ``[tool.hatch.build.hooks.sigstore]``, read and validated.

Every build with the hook reads them (and, where bytecode is not cached, compiles this module),
so it stays cheap: NamedTuples and string tests, no sigstore, no signing code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from hatch_sigstore._config import Options, describe_value

if TYPE_CHECKING:
    from hatch_sigstore.trust import TrustChoice

__all__ = [
    "ATTESTATIONS_REQUIREMENT",
    "OUTPUT_KINDS",
    "SIGN_ENV",
    "SIGN_MODES",
    "SIGSTORE_REQUIREMENT",
    "TOKEN_VARIABLES",
    "BuildOptions",
    "IdentityOptions",
]

SIGN_ENV = "HATCH_SIGSTORE_SIGN"
SIGN_MODES = ("auto", "required", "off")
# Kept equal to hatch_sigstore.sign.OUTPUT_KINDS (a test checks); not imported from there so
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
# What makes sign.token_available() true: without any of these set, there is no token and
# the answer needs no import of hatch_sigstore.sign (~25 ms). A test keeps them in step.
TOKEN_VARIABLES = ("SIGSTORE_ID_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL")


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
            if override.lower() in SIGN_MODES:
                sign, sign_source = override.lower(), SIGN_ENV
            else:
                options.report(
                    f"The environment variable {SIGN_ENV} is {override!r}; it must be one of "
                    '"auto", "required" or "off".',
                )
        outputs = options.string_list("outputs", DEFAULT_OUTPUTS, choices=OUTPUT_KINDS)
        trust = options.optional_string("trust-config")
        trust_path = None
        if trust is not None:
            trust_path = Path(trust).expanduser()
            if not trust_path.is_absolute():
                trust_path = Path(root) / trust_path
        rekor = options.table.get("rekor-version", 1)
        if isinstance(rekor, bool) or rekor not in REKOR_VERSIONS:
            options.report(
                f"`{options.key('rekor-version')}` must be 1 or 2; got {describe_value(rekor)}.",
            )
            rekor = 1
        if rekor == 2 and "attestation" in outputs:
            options.report(
                f"`{options.key('outputs')}` asks for a PEP 740 attestation, which cannot be "
                f"made with `{options.key('rekor-version')}` = 2: the attestation format has no "
                "field for the timestamp a Rekor v2 entry needs, so it would never verify.",
                remediation='Drop "attestation" from outputs, or use rekor-version = 1.',
            )
        timeout = options.number("timeout", DEFAULT_TIMEOUT)
        ident = options.sub("identity", known=_IDENTITY_KEYS)
        identity = IdentityOptions(
            server=ident.optional_string("server"),
            project_path=ident.optional_string("project-path"),
            ref=ident.optional_string("ref"),
            config_path=ident.optional_string("config-path"),
        )
        given = {
            field: (key, value)
            for field, key, value in (
                ("server", "server", identity.server),
                ("project_path", "project-path", identity.project_path),
                ("ref", "ref", identity.ref),
                ("config_path", "config-path", identity.config_path),
            )
            if value is not None
        }
        if given:  # the one identity model checks the table's values now, long before signing
            from hatch_sigstore.identity import Given, Source, identity_problems

            ident.extend(
                identity_problems(
                    **{
                        field: Given(value, Source.toml(ident.key(key)))
                        for field, (key, value) in given.items()
                    }
                )
            )
        staging = options.boolean("staging", False)
        verify = options.boolean("verify", True)
        sdist_pyproject = options.choice("sdist-pyproject", SDIST_PYPROJECT_MODES, "rewrite")
        options.check()  # every wrong key at once, each with its TOML path
        return cls(
            path=path,
            sign=sign,
            sign_source=sign_source,
            outputs=frozenset(outputs) | {"bundle"},  # always written: verification reads it
            trust_config=trust_path,
            staging=staging,
            rekor_version=int(rekor),
            identity=identity,
            verify=verify,
            sdist_pyproject=sdist_pyproject,
            timeout=timeout,
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
