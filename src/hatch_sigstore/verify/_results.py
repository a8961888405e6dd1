"""What verification says about each file: :class:`FileResult`, and refusing failed ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hatch_sigstore.errors import VerificationError

__all__ = ["FileFailedError", "FileResult", "require_verified"]


@dataclass(frozen=True)
class FileResult:
    """The verdict for one file. ``reason`` says why when ``ok`` is false.

    ``identity`` (SAN), ``issuer``, ``ref`` (.14), ``repository`` (.12) and ``project_id`` (.15)
    are read from the signing certificate whenever one could be parsed, also on failure: they
    show who actually signed. ``name`` and ``version`` are what a dist's own metadata says it
    is (None for other files). ``sidecar_files`` lists each sidecar file read, with the sha256
    of the exact bytes verified: the publisher uploads those bytes and no others.
    """

    artifact: Path
    ok: bool
    sidecar: str | None
    sha256: str | None
    identity: str | None
    issuer: str | None
    reason: str | None
    ref: str | None = None
    repository: str | None = None
    project_id: str | None = None
    name: str | None = None
    version: str | None = None
    sidecar_files: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["artifact"] = str(self.artifact)
        data["sidecar_files"] = dict(self.sidecar_files)
        return data


class FileFailedError(Exception):
    """A per-file failure with its reason; becomes ``FileResult.reason``."""


def require_verified(results: Sequence[FileResult]) -> None:
    """Raise :class:`VerificationError` naming every file that did not verify."""
    failed = [r for r in results if not r.ok]
    if not results:
        raise VerificationError(
            "No file was verified.",
            remediation="Give the artifacts (not their .sigstore.json sidecars) to verify.",
        )
    if failed:
        lines = "; ".join(f"{r.artifact.name}: {r.reason}" for r in failed)
        raise VerificationError(
            f"{len(failed)} of {len(results)} files did not verify: {lines}.",
            remediation="Do not use these files. Re-sign them, or check the expected signer "
            "(policy) and the trust root you verify against.",
        )
