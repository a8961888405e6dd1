"""Which Sigstore to trust: the public production instance, staging, or a ClientTrustConfig file.

A private instance (self-managed GitLab) and the local sandbox are both "a ClientTrustConfig
file": the JSON that ``sigstore --trust-config`` reads. sigstore is imported only on ``load``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hatch_sigstore.errors import ConfigError, TrustConfigError, first_line

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig
    from sigstore.verify import Verifier

__all__ = ["TRUST_CONFIG_ENV", "TrustChoice"]

TRUST_CONFIG_ENV = "HATCH_SIGSTORE_TRUST_CONFIG"


@dataclass(frozen=True)
class TrustChoice:
    kind: Literal["production", "staging", "file"] = "production"
    path: Path | None = None

    @classmethod
    def resolve(
        cls,
        *,
        staging: bool = False,
        trust_config: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        source: str = "--trust-config",
    ) -> TrustChoice:
        """Pick the instance: an explicit file, then ``HATCH_SIGSTORE_TRUST_CONFIG``, then public.

        ``source`` names the flag or TOML key the file came from, for error messages.
        """
        env = os.environ if env is None else env
        if trust_config is None and env.get(TRUST_CONFIG_ENV, "").strip():
            trust_config, source = env[TRUST_CONFIG_ENV].strip(), TRUST_CONFIG_ENV
        if trust_config is not None and staging:
            raise ConfigError(
                f"Both staging and a trust config ({source}) were asked for.",
                remediation="Choose one Sigstore instance: drop --staging or the trust config.",
            )
        if trust_config is not None:
            path = Path(trust_config).expanduser()
            if not path.is_file():
                raise TrustConfigError(
                    f"The trust config {str(path)!r} given by {source} does not exist or is not "
                    "a file.",
                    remediation="Point it at a ClientTrustConfig JSON file (for the local "
                    "sandbox: the trust_config.json that 'hatch-sigstore sandbox serve' writes).",
                )
            return cls("file", path.resolve())
        return cls("staging" if staging else "production")

    def describe(self) -> str:
        return str(self.path) if self.kind == "file" else f"the public {self.kind} Sigstore"

    def load(self, *, offline: bool = False) -> ClientTrustConfig:
        """The ClientTrustConfig; for the public instances ``offline`` uses the embedded copy."""
        from sigstore.models import ClientTrustConfig

        if self.kind == "production":
            return ClientTrustConfig.production(offline=offline)
        if self.kind == "staging":
            return ClientTrustConfig.staging(offline=offline)
        assert self.path is not None
        try:
            raw = self.path.read_text(encoding="utf-8")
            json.loads(raw)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise TrustConfigError(
                f"The trust config {str(self.path)!r} is not readable JSON "
                f"({exc.__class__.__name__}).",
                remediation="Give a ClientTrustConfig JSON file "
                "(media type application/vnd.dev.sigstore.clienttrustconfig.v0.1+json).",
            ) from None
        try:
            return ClientTrustConfig.from_json(raw)
        except Exception as exc:  # sigstore raises pydantic and its own errors here
            raise TrustConfigError(
                f"The trust config {str(self.path)!r} is JSON but not a usable ClientTrustConfig: "
                f"{first_line(exc) or exc.__class__.__name__}.",
                remediation="It needs 'trustedRoot' and a v0.2 'signingConfig'; regenerate it "
                "from your Sigstore instance.",
            ) from None

    def verifier(self, *, offline: bool = True) -> Verifier:
        """A Verifier for this instance; verification itself never needs the network."""
        from sigstore.verify import Verifier

        _quiet_offline_tuf_notice()
        if self.kind == "production":
            return Verifier.production(offline=offline)
        if self.kind == "staging":
            return Verifier.staging(offline=offline)
        return Verifier(trusted_root=self.load(offline=offline).trusted_root)


def _drop_offline_notice(record: logging.LogRecord) -> bool:
    return "loaded in offline mode" not in record.getMessage()


def _quiet_offline_tuf_notice() -> None:
    """Offline use of the embedded trust root is our choice, not news: drop sigstore's warning
    about it (every load logs one), and only that one."""
    tuf_logger = logging.getLogger("sigstore._internal.tuf")
    if _drop_offline_notice not in tuf_logger.filters:
        tuf_logger.addFilter(_drop_offline_notice)
