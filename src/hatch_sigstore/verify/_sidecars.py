"""Sidecar files beside an artifact: finding them, reading them, and what a statement must say.

Sidecars, in the order they are looked for: ``F.sigstore.json`` (or the legacy ``F.sigstore``),
``F.publish.attestation`` (PEP 740), ``F.sig`` + ``F.crt`` (cosign). Every problem is a
:class:`~hatch_sigstore.verify._results.FileFailedError` whose text becomes the file's reason.
Standard library and packaging only.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hatch_sigstore._files import (
    ATTESTATION_SUFFIX,
    BUNDLE_SUFFIX,
    CERTIFICATE_SUFFIX,
    LEGACY_BUNDLE_SUFFIX,
    SIGNATURE_SUFFIX,
    open_regular,
)
from hatch_sigstore.verify._results import FileFailedError

if TYPE_CHECKING:
    from sigstore.hashes import Hashed

__all__ = [
    "BUNDLE_MEDIA_TYPES",
    "EVERY_SIDECAR",
    "INTOTO_PAYLOAD_TYPE",
    "KNOWN_PREDICATES",
    "PYPI_PUBLISH_PREDICATE",
    "SIDECAR_KINDS",
    "SIDECAR_MAX_BYTES",
    "SLSA_PROVENANCE_PREDICATE",
    "SidecarKind",
    "bundle_digest",
    "check_statement",
    "decode_signature",
    "find_sidecar",
    "present_sidecars",
    "read_sidecar",
    "unwrap_base64_pem",
]

SIDECAR_KINDS = ("bundle", "attestation", "cosign")
SidecarKind = Literal["bundle", "attestation", "cosign"]
EVERY_SIDECAR = "every"  # every sidecar present must verify (the publisher's preflight)
SIDECAR_MAX_BYTES = 4 * 1024 * 1024  # bundles and attestations are a few kB
PYPI_PUBLISH_PREDICATE = "https://docs.pypi.org/attestations/publish/v1"
# The in-toto predicates a DSSE bundle of a dist may carry: PEP 740's publish attestation and
# SLSA build provenance v1 (https://slsa.dev/spec/v1.0/provenance). Anything else (a test
# result, a vulnerability scan) signed by the same pipeline says nothing about the release.
SLSA_PROVENANCE_PREDICATE = "https://slsa.dev/provenance/v1"
KNOWN_PREDICATES = (PYPI_PUBLISH_PREDICATE, SLSA_PROVENANCE_PREDICATE)
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_INTOTO_STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
BUNDLE_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
)


def read_sidecar(path: Path, *, follow_symlinks: bool = True) -> bytes:
    """A signature file's bytes (at most :data:`SIDECAR_MAX_BYTES`); ``follow_symlinks=False``
    (publishing: the bytes whose sha256 is uploaded): a link is refused, not followed."""
    try:
        opened = path.open("rb") if follow_symlinks else open_regular(path)
        with opened as handle:
            data = handle.read(SIDECAR_MAX_BYTES + 1)
    except OSError as exc:
        raise FileFailedError(f"cannot read {path.name} ({exc.strerror or exc})") from None
    if len(data) > SIDECAR_MAX_BYTES:
        raise FileFailedError(
            f"{path.name} is over {SIDECAR_MAX_BYTES >> 20} MiB; no signature file is that big"
        )
    if not data.strip():
        raise FileFailedError(f"{path.name} is empty; re-download or re-sign")
    return data


def unwrap_base64_pem(data: bytes) -> bytes:
    """cosign 2.x writes ``base64(PEM)`` as ``.crt``; accept it as cosign does."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return data
    try:
        decoded = base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return data
    return decoded if decoded.lstrip().startswith(b"-----BEGIN") else data


def decode_signature(data: bytes, name: str) -> bytes:
    text = b"".join(data.split())
    try:
        signature = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        signature = data  # cosign --b64=false writes the raw DER signature
    if not signature.startswith(b"\x30"):
        raise FileFailedError(f"{name} is not a base64 DER signature (as cosign writes it)")
    return signature


def bundle_digest(document: dict[str, Any]) -> str | None:
    try:
        digest = document["messageSignature"]["messageDigest"]
        if digest.get("algorithm") != "SHA2_256":
            return None
        return base64.b64decode(digest["digest"]).hex()
    except (KeyError, TypeError, AttributeError, binascii.Error, ValueError):
        return None


def find_sidecar(path: Path, wanted: str | None) -> tuple[SidecarKind, tuple[Path, ...]]:
    def beside(suffix: str) -> Path:
        return path.with_name(path.name + suffix)

    bundle = next(
        (p for p in (beside(BUNDLE_SUFFIX), beside(LEGACY_BUNDLE_SUFFIX)) if p.is_file()), None
    )
    attestation = beside(ATTESTATION_SUFFIX)
    sig, crt = beside(SIGNATURE_SUFFIX), beside(CERTIFICATE_SUFFIX)
    has_cosign = sig.is_file() and crt.is_file()

    if wanted in (None, "bundle") and bundle is not None:
        return "bundle", (bundle,)
    if wanted in (None, "attestation") and attestation.is_file():
        return "attestation", (attestation,)
    if wanted in (None, "cosign") and has_cosign:
        return "cosign", (sig, crt)
    if wanted is not None:
        expected = {
            "bundle": f"{path.name}{BUNDLE_SUFFIX}",
            "attestation": attestation.name,
            "cosign": f"{sig.name} and {crt.name}",
        }[wanted]
        raise FileFailedError(f"no {wanted} sidecar: {expected} not found")
    if sig.is_file() != crt.is_file():
        present, absent = (sig, crt) if sig.is_file() else (crt, sig)
        raise FileFailedError(
            f"{present.name} was found without {absent.name}; cosign material needs both, "
            f"or use the {path.name}{BUNDLE_SUFFIX} bundle"
        )
    raise FileFailedError(
        f"no signature found: none of {path.name}{BUNDLE_SUFFIX}, {attestation.name}, "
        f"{sig.name}+{crt.name} exists beside it"
    )


def present_sidecars(path: Path) -> list[tuple[SidecarKind, tuple[Path, ...]]]:
    """Every sidecar beside ``path`` (bundle, legacy bundle, attestation, cosign pair), in that
    order; a ``.sig`` or ``.crt`` without its other half fails, as does having none at all."""

    def beside(suffix: str) -> Path:
        return path.with_name(path.name + suffix)

    found: list[tuple[SidecarKind, tuple[Path, ...]]] = [
        ("bundle", (p,))
        for p in (beside(BUNDLE_SUFFIX), beside(LEGACY_BUNDLE_SUFFIX))
        if p.is_file()
    ]
    if beside(ATTESTATION_SUFFIX).is_file():
        found.append(("attestation", (beside(ATTESTATION_SUFFIX),)))
    sig, crt = beside(SIGNATURE_SUFFIX), beside(CERTIFICATE_SUFFIX)
    if sig.is_file() != crt.is_file():
        present, absent = (sig, crt) if sig.is_file() else (crt, sig)
        raise FileFailedError(
            f"{present.name} was found without {absent.name}: a signature file that cannot be "
            "verified is never published; remove it, or restore its other half"
        )
    if sig.is_file():
        found.append(("cosign", (sig, crt)))
    if not found:
        find_sidecar(path, None)  # raises "no signature found"
    return found


def check_statement(
    path: Path, hashed: Hashed, payload_type: str, payload: bytes, *, predicate: str | None
) -> None:
    """The verified in-toto statement must be about this file: a subject with its sha256 and its
    name, and a predicate we know (``predicate``, or any of :data:`KNOWN_PREDICATES`)."""
    if payload_type != INTOTO_PAYLOAD_TYPE:
        raise FileFailedError(
            f"the signed envelope holds {payload_type!r}, not an in-toto statement"
        )
    try:
        statement = json.loads(payload)
    except ValueError:
        raise FileFailedError("the signed in-toto statement is not JSON") from None
    if not isinstance(statement, dict) or statement.get("_type") not in _INTOTO_STATEMENT_TYPES:
        raise FileFailedError("the signed payload is not an in-toto statement")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise FileFailedError("the in-toto statement names no subject")
    digest = hashed.digest.hex()
    predicate_type = statement.get("predicateType")
    if predicate is not None and predicate_type != predicate:
        raise FileFailedError(
            f"the attestation's predicate is {predicate_type!r}, not PyPI's publish "
            f"attestation ({predicate})"
        )
    if predicate is None and predicate_type not in KNOWN_PREDICATES:
        raise FileFailedError(
            f"the signed in-toto statement's predicate is {str(predicate_type)[:120]!r}, which "
            f"says nothing about a release; only {' and '.join(KNOWN_PREDICATES)} are accepted"
        )
    if predicate_type == PYPI_PUBLISH_PREDICATE and len(subjects) != 1:
        raise FileFailedError("a PEP 740 attestation must have exactly one subject")
    matching = [
        s
        for s in subjects
        if isinstance(s, dict)
        and isinstance(s.get("digest"), dict)
        and s["digest"].get("sha256") == digest
    ]
    if not matching:
        names = ", ".join(repr(s.get("name")) for s in subjects if isinstance(s, dict)) or "none"
        raise FileFailedError(
            f"the attestation is not about this file's content: no subject has sha256 "
            f"{digest} (subjects: {names}); the file was changed or the attestation belongs "
            "to another file"
        )
    subject_names = [s.get("name") for s in matching]
    if not any(isinstance(n, str) and _same_distribution(n, path.name) for n in subject_names):
        shown = ", ".join(repr(n)[:120] for n in subject_names)
        raise FileFailedError(
            f"the attestation's subject is {shown}, not this file's name {path.name!r}: a "
            "statement about the same bytes under another name does not vouch for this one"
        )


def _same_distribution(subject: str, filename: str) -> bool:
    """Equal names, or equal after packaging's filename parsing (what pypi-attestations and
    PyPI accept: ``Foo-1.0.tar.gz`` and ``foo-1.0.tar.gz`` are the same distribution)."""
    if subject == filename:
        return True
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    try:
        if subject.endswith(".whl") and filename.endswith(".whl"):
            return parse_wheel_filename(subject) == parse_wheel_filename(filename)
        if subject.endswith((".tar.gz", ".zip")) and filename.endswith((".tar.gz", ".zip")):
            return subject.endswith(".zip") == filename.endswith(".zip") and (
                parse_sdist_filename(subject) == parse_sdist_filename(filename)
            )
    except (InvalidSdistFilename, InvalidWheelFilename):
        return False
    return False
