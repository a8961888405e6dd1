"""PEP 740 on an index: trusted publishers as PyPI records them, and provenance objects.

* :class:`TrustedPublisher`: a publisher of a provenance object's attestation bundle
  (``{"kind": "GitLab", "repository": "group/project", "workflow_filepath": ".gitlab-ci.yml",
  "environment": null}``, pypi-attestations' ``GitLabPublisher``; GitHub's too), with the
  certificate checks PyPI runs against it at upload (:mod:`._publisher_checks`).
* :class:`PublisherPolicy`: those checks and, optionally, a caller's own policy (the pipeline's
  ref, a project the consumer names): every check of both must pass. The publisher uses it to
  check each dist's attestation *before* uploading it (what warehouse will check, so a refusal
  comes before anything is sent); the consumer, to check what the index serves.
* :func:`verify_provenance`: a file against the provenance object the index serves for it
  (``GET /integrity/<project>/<version>/<file>/provenance``, warehouse
  ``warehouse/api/integrity.py``): some publish attestation of some bundle must verify against
  both the bundle's publisher and the caller's policy. The attestation that verified is written
  beside the file as its ``.publish.attestation`` sidecar, so the file can be checked again
  offline later, like a GitLab download with its bundle.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from hatch_sigstore._files import ATTESTATION_SUFFIX
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify._results import FileResult
from hatch_sigstore.verify._sidecars import PYPI_PUBLISH_PREDICATE
from hatch_sigstore.verify.policy import Policy

if TYPE_CHECKING:
    from hatch_sigstore.verify._certificate import Check

__all__ = [
    "PYPI_GITLAB_ISSUER",
    "PublisherPolicy",
    "TrustedPublisher",
    "parse_provenance",
    "verify_provenance",
]

PYPI_GITLAB_ISSUER = "https://gitlab.com"  # the only GitLab issuer pypi-attestations accepts
_GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


class ProvenanceError(ValueError):
    """The provenance object is not one (wrong shape, version, or no usable bundle)."""


@dataclass(frozen=True)
class TrustedPublisher:
    """A trusted publisher as PyPI records it in a provenance object's bundle.

    ``workflow`` is GitLab's ``workflow_filepath`` (the top-level CI file) or GitHub's
    ``workflow`` (a file name under ``.github/workflows/``).
    """

    kind: Literal["GitLab", "GitHub"]
    repository: str
    workflow: str
    environment: str | None = None

    @classmethod
    def gitlab(
        cls, repository: str, workflow_filepath: str, environment: str | None = None
    ) -> TrustedPublisher:
        return cls("GitLab", repository, workflow_filepath, environment)

    @classmethod
    def from_json(cls, data: object) -> TrustedPublisher:
        if not isinstance(data, Mapping):
            raise ProvenanceError("a bundle's publisher is not an object")
        kind = data.get("kind")
        workflow_key = {"GitLab": "workflow_filepath", "GitHub": "workflow"}.get(str(kind))
        if workflow_key is None:
            raise ProvenanceError(
                f"the bundle's publisher is of kind {kind!r}; only GitLab and GitHub "
                "publishers can be checked"
            )
        repository, workflow = data.get("repository"), data.get(workflow_key)
        environment = data.get("environment")
        if not isinstance(repository, str) or "/" not in repository:
            raise ProvenanceError(f"the {kind} publisher names no repository")
        if not isinstance(workflow, str) or not workflow:
            raise ProvenanceError(f"the {kind} publisher names no {workflow_key}")
        return cls(
            kind,  # type: ignore[arg-type]
            repository,
            workflow,
            environment if isinstance(environment, str) and environment else None,
        )

    @property
    def issuer(self) -> str:
        return PYPI_GITLAB_ISSUER if self.kind == "GitLab" else _GITHUB_ISSUER

    @property
    def repository_uri(self) -> str:
        host = "https://gitlab.com" if self.kind == "GitLab" else "https://github.com"
        return f"{host}/{self.repository}"

    @property
    def build_config_prefix(self) -> str:
        if self.kind == "GitLab":
            return f"{self.repository_uri}//{self.workflow}"
        return f"{self.repository_uri}/.github/workflows/{self.workflow}"

    def describe(self) -> str:
        env = f", environment {self.environment}" if self.environment else ""
        return f"{self.kind} trusted publisher {self.repository} ({self.workflow}{env})"

    def checks(self) -> list[Check]:
        """What pypi-attestations checks for this publisher (imports cryptography)."""
        from hatch_sigstore.verify import _certificate as c
        from hatch_sigstore.verify._publisher_checks import BuildConfigIs

        return [
            c.IssuerIs(self.issuer),
            c.ExtensionIs(c.OID_SOURCE_REPOSITORY_URI, "source repository", self.repository_uri),
            BuildConfigIs(
                self.build_config_prefix, f"the CI file {self.workflow} of {self.repository}"
            ),
        ]


@dataclass(frozen=True)
class PublisherPolicy(Policy):
    """A trusted publisher's checks, and optionally a caller's policy on top."""

    kind: ClassVar[Literal["gitlab"]] = "gitlab"

    publisher: TrustedPublisher
    also: Policy | None = None
    version_from_tag: bool = False  # taken from ``also`` (PyPI's rules do not bind versions)

    def __post_init__(self) -> None:
        if self.also is not None and self.also.version_from_tag:
            object.__setattr__(self, "version_from_tag", True)

    def checks(self) -> Sequence[Check]:
        extra = list(self.also.checks()) if self.also is not None else []
        return [*self.publisher.checks(), *extra]

    def describe(self) -> str:
        text = f"PyPI's rules for the {self.publisher.describe()}"
        return text if self.also is None else f"{text}, and {self.also.describe()}"


@dataclass(frozen=True)
class _Bundle:
    publisher: TrustedPublisher | None
    problem: str | None
    attestations: tuple[dict[str, Any], ...]


def _predicate(attestation: Mapping[str, Any]) -> str | None:
    """The predicate type of an attestation's statement, read *unverified* to pick which to
    verify (verification reads it again from the verified envelope)."""
    envelope = attestation.get("envelope")
    statement = envelope.get("statement") if isinstance(envelope, Mapping) else None
    if not isinstance(statement, str):
        return None
    try:
        data = json.loads(base64.b64decode(statement, validate=True))
    except (binascii.Error, ValueError):
        return None
    predicate = data.get("predicateType") if isinstance(data, dict) else None
    return predicate if isinstance(predicate, str) else None


def parse_provenance(raw: bytes) -> list[_Bundle]:
    """The bundles of a provenance object (``{"version": 1, "attestation_bundles": [...]}``)."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ProvenanceError("the provenance is not JSON") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ProvenanceError("the provenance is not a PEP 740 provenance object (version 1)")
    bundles = data.get("attestation_bundles")
    if not isinstance(bundles, list) or not bundles:
        raise ProvenanceError("the provenance has no attestation bundles")
    out = []
    for bundle in bundles:
        if not isinstance(bundle, dict):
            raise ProvenanceError("an attestation bundle is not an object")
        attestations = bundle.get("attestations")
        if not isinstance(attestations, list):
            raise ProvenanceError("an attestation bundle has no attestations list")
        publish = tuple(
            a
            for a in attestations
            if isinstance(a, dict) and _predicate(a) == PYPI_PUBLISH_PREDICATE
        )
        try:
            publisher: TrustedPublisher | None = TrustedPublisher.from_json(bundle.get("publisher"))
            problem = None
        except ProvenanceError as exc:
            publisher, problem = None, str(exc)
        if publisher is not None and not publish:
            problem = "the bundle has no publish attestation (predicate " + (
                PYPI_PUBLISH_PREDICATE + ")"
            )
        out.append(_Bundle(publisher, problem, publish))
    return out


def verify_provenance(
    path: Path, provenance: bytes, policy: Policy, trust: TrustChoice
) -> tuple[FileResult, TrustedPublisher | None]:
    """Verify ``path`` against the provenance object an index serves for it.

    Some publish attestation must verify against its bundle's publisher (PyPI's rules) *and*
    ``policy``. Returns the result and the publisher it verified for; on failure the reasons of
    every attempt, and no sidecar is left. Never raises for a file that does not verify.
    """
    from hatch_sigstore.verify._verifier import verify_files

    path = Path(path)
    sidecar = path.with_name(path.name + ATTESTATION_SUFFIX)

    def failed(reason: str) -> tuple[FileResult, None]:
        sidecar.unlink(missing_ok=True)
        return FileResult(path, False, "attestation", None, None, None, reason), None

    try:
        bundles = parse_provenance(provenance)
    except ProvenanceError as exc:
        return failed(str(exc))
    reasons: list[str] = []
    for bundle in bundles:
        if bundle.publisher is None or bundle.problem is not None:
            reasons.append(bundle.problem or "unusable bundle")
            continue
        checked = PublisherPolicy(bundle.publisher, also=policy)
        for attestation in bundle.attestations:
            sidecar.write_text(json.dumps(attestation), encoding="utf-8")
            [result] = verify_files([path], checked, trust, sidecar="attestation")
            if result.ok:
                return result, bundle.publisher
            reasons.append(f"{bundle.publisher.describe()}: {result.reason}")
    return failed("no attestation verified: " + "; ".join(reasons))
