"""Files on disk: the names of the signature files beside each artifact, and streamed sha256.

One place for both, shared by signing, verification, publishing and downloading; also how the
sandbox's env file is recognised (the build hook refuses to sign an artifact holding one).
Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "ATTESTATION_SUFFIX",
    "BUNDLE_SUFFIX",
    "CERTIFICATE_SUFFIX",
    "LEGACY_BUNDLE_SUFFIX",
    "SANDBOX_ENV_MARKER",
    "SANDBOX_ENV_NAME",
    "SIDECAR_SUFFIXES",
    "SIGNATURE_SUFFIX",
    "is_sandbox_env",
    "is_sidecar",
    "remove_sidecars",
    "sha256_file",
    "sidecars_of",
]

CHUNK_SIZE = 1024 * 1024  # bytes read at a time: never a whole file in memory

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


# The env file ``hatch-sigstore sandbox up`` writes (it holds tokens): always this name, and
# always this first line, so a tool can tell it from any other ``.env`` file without reading on.
SANDBOX_ENV_NAME = "sandbox.env"
SANDBOX_ENV_MARKER = "# hatch-sigstore-sandbox-env"


def is_sandbox_env(first_line: str | bytes) -> bool:
    """Whether a file starting with ``first_line`` is a sandbox env file."""
    if isinstance(first_line, bytes):
        first_line = first_line.decode("utf-8", "replace")
    return first_line.lstrip("\ufeff").startswith(SANDBOX_ENV_MARKER)


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


def remove_sidecars(artifact: str | Path) -> list[Path]:
    """Delete the signature files beside ``artifact``; return those that were there."""
    removed = []
    for sidecar in sidecars_of(artifact).values():
        try:
            sidecar.unlink()
            removed.append(sidecar)
        except FileNotFoundError:
            pass
    return removed


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The file's sha256 as lower-case hex, streamed 1 MiB at a time into one reused buffer."""
    import hashlib  # not at import: every build imports this module, few hash here

    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()
