"""PEP 740 attestations at upload, and the provenance the stand-in keeps for each file.

``warehouse/attestations/services.py``: attestations only with a trusted publisher; a JSON list
of 1–2 attestation objects; each verified against the publisher's ``attestation_identity``
and the uploaded file (name and sha256); one per predicate type; errors become
``Invalid attestations supplied during upload: …``. Warehouse verifies with the public
Sigstore's trust root (``Attestation.verify``); the stand-in takes any trust root (the local
Sigstore's in tests, production's offline for real-world artifacts), so it repeats the steps of
pypi-attestations' ``Attestation.verify`` (``pypi_attestations/_impl.py``) with that verifier.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hatch_sigstore.sandbox._pypi_store import GitLabPublisher

if TYPE_CHECKING:
    from pypi_attestations import Attestation, Distribution
    from sigstore.verify import Verifier

__all__ = ["AttestationUploadError", "build_provenance", "parse_attestations", "verify_attestation"]

PYPI_PUBLISH_V1 = "https://docs.pypi.org/attestations/publish/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
_SUPPORTED = (PYPI_PUBLISH_V1, SLSA_PROVENANCE_V1)
_DSSE_TYPE = "application/vnd.in-toto+json"


class AttestationUploadError(Exception):
    pass


def _dist_name(name: str) -> tuple[Any, ...]:
    """``_check_dist_filename``: parse without normalizing; ValueError if not a dist name."""
    from packaging.utils import parse_sdist_filename, parse_wheel_filename

    if name.endswith(".whl"):
        return tuple(parse_wheel_filename(name))
    if name.endswith((".tar.gz", ".zip")):
        return tuple(parse_sdist_filename(name))
    raise ValueError(f"unknown distribution format: {name}")


def verify_attestation(
    attestation: Attestation, identity: Any, dist: Distribution, verifier: Verifier
) -> tuple[str, Any]:
    """``Attestation.verify(identity, dist)`` with ``verifier`` instead of production's.

    Raises pypi_attestations' ``VerificationError`` with the same messages.
    """
    import sigstore.errors
    from pypi_attestations import VerificationError

    # what Attestation.verify does with a Publisher: its own policy class
    policy = identity._as_policy()
    bundle = attestation.to_bundle()
    try:
        payload_type, payload = verifier.verify_dsse(bundle, policy)
    except sigstore.errors.VerificationError as err:
        raise VerificationError(str(err)) from err
    if payload_type != _DSSE_TYPE:
        raise VerificationError(f"expected JSON envelope, got {payload_type}")
    try:
        statement = json.loads(payload)
        subjects = statement["subject"]
        predicate_type = statement["predicateType"]
        if not isinstance(subjects, list) or not isinstance(predicate_type, str):
            raise TypeError("subject must be a list and predicateType a string")
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationError(f"invalid statement: {exc}") from exc
    if len(subjects) != 1:
        raise VerificationError("too many subjects in statement (must be exactly one)")
    subject = subjects[0] if isinstance(subjects[0], dict) else {}
    name = subject.get("name")
    if not name:
        raise VerificationError("invalid subject: missing name")
    try:
        parsed_subject = _dist_name(str(name))
    except ValueError as exc:
        raise VerificationError(f"invalid subject: {exc}") from exc
    if parsed_subject != _dist_name(dist.name):
        raise VerificationError(f"subject does not match distribution name: {name} != {dist.name}")
    digest = (subject.get("digest") or {}).get("sha256")
    if digest is None or digest != dist.digest:
        raise VerificationError("subject does not match distribution digest")
    if predicate_type not in _SUPPORTED:
        raise VerificationError(f"unknown attestation type: {predicate_type}")
    return predicate_type, statement.get("predicate")


def parse_attestations(
    raw: str,
    publisher: GitLabPublisher | None,
    *,
    filename: str,
    sha256: str,
    verifier: Verifier,
) -> list[Attestation]:
    """``IntegrityService.parse_attestations``: the verified attestations, or
    AttestationUploadError with warehouse's text."""
    if publisher is None:
        raise AttestationUploadError(
            "Attestations are only supported when using Trusted Publishing"
        )
    from pydantic import TypeAdapter, ValidationError
    from pypi_attestations import Attestation, Distribution, VerificationError
    from pypi_attestations import GitLabPublisher as GitLabIdentity

    try:
        attestations = TypeAdapter(list[Attestation]).validate_json(raw)
    except ValidationError as exc:
        raise AttestationUploadError(f"Malformed attestations: {exc}") from exc
    if not attestations:
        raise AttestationUploadError(
            "Malformed attestations: an empty attestation set is not permitted"
        )
    if len(attestations) > len(_SUPPORTED):
        raise AttestationUploadError(
            f"A maximum of {len(_SUPPORTED)} attestations per file are supported"
        )
    identity = GitLabIdentity(**publisher.attestation_identity())
    dist = Distribution(name=filename, digest=sha256)
    seen: set[str] = set()
    for attestation in attestations:
        try:
            predicate_type, _ = verify_attestation(attestation, identity, dist, verifier)
        except VerificationError as exc:
            raise AttestationUploadError(
                f"Could not verify the uploaded artifact using the included attestation: {exc}"
            ) from exc
        except Exception as exc:
            raise AttestationUploadError(
                f"Unknown error while trying to verify included attestations: {exc}"
            ) from exc
        if predicate_type in seen:
            raise AttestationUploadError(
                "Multiple attestations for the same file with the same predicate type "
                f"({predicate_type}) are not supported"
            )
        seen.add(predicate_type)
    return attestations


def build_provenance(publisher: GitLabPublisher, attestations: list[Attestation]) -> dict[str, Any]:
    """``IntegrityService.build_provenance``: one bundle, the publisher's identity."""
    from pypi_attestations import AttestationBundle, Provenance
    from pypi_attestations import GitLabPublisher as GitLabIdentity

    bundle = AttestationBundle(
        publisher=GitLabIdentity(**publisher.attestation_identity()),
        attestations=attestations,
    )
    provenance: dict[str, Any] = Provenance(attestation_bundles=[bundle]).model_dump(mode="json")
    return provenance
