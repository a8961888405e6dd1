"""Names of the signature files written beside each artifact: one place, shared by all rooms."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ATTESTATION_SUFFIX",
    "BUNDLE_SUFFIX",
    "CERTIFICATE_SUFFIX",
    "LEGACY_BUNDLE_SUFFIX",
    "SIDECAR_SUFFIXES",
    "SIGNATURE_SUFFIX",
    "is_sidecar",
    "sidecars_of",
]

BUNDLE_SUFFIX = ".sigstore.json"  # Sigstore bundle v0.3: always written
LEGACY_BUNDLE_SUFFIX = ".sigstore"  # read only: older sigstore-python wrote this name
SIGNATURE_SUFFIX = ".sig"  # cosign-compatible: base64 DER signature, no newline
CERTIFICATE_SUFFIX = ".crt"  # cosign-compatible: PEM leaf certificate
ATTESTATION_SUFFIX = ".publish.attestation"  # PEP 740

SIDECAR_SUFFIXES = (
    BUNDLE_SUFFIX,
    SIGNATURE_SUFFIX,
    CERTIFICATE_SUFFIX,
    ATTESTATION_SUFFIX,
    LEGACY_BUNDLE_SUFFIX,
)


def is_sidecar(path: str | Path) -> bool:
    name = Path(path).name
    return any(name.endswith(suffix) for suffix in SIDECAR_SUFFIXES)


def sidecars_of(artifact: str | Path) -> dict[str, Path]:
    """Every sidecar file of ``artifact`` that exists, keyed by suffix."""
    artifact = Path(artifact)
    found = {}
    for suffix in SIDECAR_SUFFIXES:
        candidate = artifact.with_name(artifact.name + suffix)
        if candidate.is_file():
            found[suffix] = candidate
    return found
