"""What a signing session signs with and writes (:class:`SignOptions`), and what it made.

Data only: cheap to import from a build hook that may not sign at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hatch_sigstore.errors import ConfigError
from hatch_sigstore.trust import TrustChoice

__all__ = ["DEFAULT_OUTPUTS", "OUTPUT_KINDS", "REKOR_VERSIONS", "SignOptions", "SignedFile"]

OUTPUT_KINDS = ("bundle", "cosign", "attestation")
DEFAULT_OUTPUTS = frozenset({"bundle", "cosign"})
REKOR_VERSIONS = (1, 2)


@dataclass(frozen=True)
class SignOptions:
    """What to sign with and what to write. ``token`` and ``env`` are hidden from repr."""

    trust: TrustChoice = field(default_factory=TrustChoice)
    outputs: frozenset[str] = DEFAULT_OUTPUTS
    rekor_version: int = 1
    token: str | None = field(default=None, repr=False)
    env: Mapping[str, str] | None = field(default=None, repr=False)
    # Additions beyond the contract:
    token_env: str | None = None  # read the token from this variable (default SIGSTORE_ID_TOKEN)
    ambient: bool = True  # fall back to sigstore's ambient CI credential detection
    timeout: float = 60.0  # seconds for each call to the CA or the log
    retries: int = 2  # extra attempts after an HTTP 5xx or a refused connection
    max_workers: int = 32  # concurrent log submissions (sigstore's CLI: up to 32)

    def __post_init__(self) -> None:
        outputs = frozenset(self.outputs)
        unknown = sorted(outputs - set(OUTPUT_KINDS))
        if unknown:
            raise ConfigError(
                f"Unknown signature output(s): {', '.join(unknown)}.",
                remediation=f"Choose from {', '.join(OUTPUT_KINDS)}.",
            )
        # The bundle is always written: it is what every verifier reads.
        object.__setattr__(self, "outputs", outputs | {"bundle"})
        if self.rekor_version not in REKOR_VERSIONS:
            raise ConfigError(
                f"Rekor version {self.rekor_version!r} is not supported.",
                remediation="Use --rekor-version 1 (default; cosign 2.x can check it) or 2.",
            )
        if self.rekor_version == 2 and "attestation" in outputs:
            # A v2 entry carries no inclusion promise, so its time comes from an RFC 3161
            # timestamp, and pypi-attestations has no place for timestamps: the attestation
            # written would never verify.
            raise ConfigError(
                "A PEP 740 attestation cannot be made with Rekor v2: the attestation format "
                "has no field for the timestamp a v2 entry needs, so it would never verify.",
                remediation="Drop the attestation output, or sign with Rekor version 1.",
            )
        if self.timeout <= 0 or self.max_workers < 1 or self.retries < 0:
            raise ConfigError(
                "timeout must be > 0, max_workers >= 1 and retries >= 0.",
                remediation="Fix the signing options.",
            )

    def session_key(self) -> tuple[Any, ...]:
        """Everything but the token and the environment: options that may share a session."""
        return tuple(getattr(self, f.name) for f in fields(self) if f.name not in ("token", "env"))


@dataclass(frozen=True)
class SignedFile:
    artifact: Path
    sha256: str
    written: tuple[Path, ...]
    identity: str = ""  # the certificate's SAN (addition beyond the contract)
