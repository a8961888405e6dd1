"""PEP 740 provenance objects and PyPI's trusted-publisher rules, on a certificate we did not make.

The sdist and attestation GitLab CI made for facutuesca/gitlab-oidc-project (and PyPI accepted)
are wrapped in the provenance object PyPI serves for them (``GET /integrity/…/provenance``,
warehouse ``warehouse/api/integrity.py``: the publisher PyPI recorded, the attestations), and
verified offline against the production trust root. Every wrong publisher, policy, byte or
shape must fail.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from hatch_sigstore.identity import ExpectedIdentity
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import Policy, PublisherPolicy, TrustedPublisher, verify_provenance

SDIST = "gitlab_oidc_project-0.0.3.tar.gz"
REPOSITORY = "facutuesca/gitlab-oidc-project"
PUBLISHER = {
    "kind": "GitLab",
    "repository": REPOSITORY,
    "workflow_filepath": ".gitlab-ci.yml",
    "environment": None,
}


def _attestation(real_world: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((real_world / f"{SDIST}.publish.attestation").read_text())
    return data


def provenance(real_world: Path, **publisher: object) -> bytes:
    bundle = {"publisher": {**PUBLISHER, **publisher}, "attestations": [_attestation(real_world)]}
    return json.dumps({"version": 1, "attestation_bundles": [bundle]}).encode()


@pytest.fixture
def sdist(real_world: Path, tmp_path: Path) -> Path:
    shutil.copy(real_world / SDIST, tmp_path / SDIST)
    return tmp_path / SDIST


def gitlab(project: str = REPOSITORY, **kwargs: Any) -> Policy:
    ref_glob = kwargs.pop("ref_glob", None)
    return Policy.gitlab(
        ExpectedIdentity("https://gitlab.com", project, **kwargs), ref_glob=ref_glob
    )


def test_real_attestation_verifies_against_the_publisher_pypi_recorded(
    sdist: Path, real_world: Path
) -> None:
    policy = gitlab(ref="refs/heads/main")
    result, publisher = verify_provenance(sdist, provenance(real_world), policy, TrustChoice())
    assert result.ok, result.reason
    assert publisher == TrustedPublisher.gitlab(REPOSITORY, ".gitlab-ci.yml")
    assert result.identity == f"https://gitlab.com/{REPOSITORY}//.gitlab-ci.yml@refs/heads/main"
    # the attestation that verified is kept beside the file, and verifies again offline
    kept = sdist.with_name(f"{SDIST}.publish.attestation")
    assert json.loads(kept.read_text()) == _attestation(real_world)
    from hatch_sigstore.verify import verify_file

    assert verify_file(sdist, PublisherPolicy(publisher, also=policy), TrustChoice()).ok


@pytest.mark.parametrize(
    ("publisher", "policy", "reason"),
    [
        (
            {"repository": "facutuesca/another-project"},
            gitlab(),
            "source repository",
        ),
        ({"workflow_filepath": "release.yml"}, gitlab(), "build config (OID .18)"),
        ({}, gitlab("facutuesca/another-project"), "source repository"),
        ({}, gitlab(ref="refs/tags/v0.0.3"), "ref (OID 1.3.6.1.4.1.57264.1.14)"),
        ({}, gitlab(ref_glob="refs/tags/*"), "does not match the expected ref pattern"),
        (
            {"kind": "GitHub", "workflow": "release.yml"},
            gitlab(),
            "OIDC issuer",
        ),
        ({"kind": "Google", "email": "x@example.com"}, gitlab(), "only GitLab and GitHub"),
        ({"repository": None}, gitlab(), "names no repository"),
    ],
    ids=[
        "publisher-repository",
        "publisher-ci-file",
        "policy-project",
        "policy-ref",
        "policy-ref-glob",
        "github-publisher",
        "unsupported-kind",
        "no-repository",
    ],
)
def test_wrong_publisher_or_policy_fails(
    sdist: Path, real_world: Path, publisher: dict[str, Any], policy: Policy, reason: str
) -> None:
    result, found = verify_provenance(
        sdist, provenance(real_world, **publisher), policy, TrustChoice()
    )
    assert not result.ok
    assert reason in (result.reason or "")
    assert found is None
    assert not sdist.with_name(f"{SDIST}.publish.attestation").exists()


def test_a_changed_byte_fails(sdist: Path, real_world: Path) -> None:
    data = bytearray(sdist.read_bytes())
    data[-1] ^= 1
    sdist.write_bytes(bytes(data))
    result, _ = verify_provenance(sdist, provenance(real_world), gitlab(), TrustChoice())
    assert not result.ok
    assert "not about this file's content" in (result.reason or "")


def test_the_staging_root_does_not_trust_production(sdist: Path, real_world: Path) -> None:
    result, _ = verify_provenance(
        sdist, provenance(real_world), gitlab(), TrustChoice(kind="staging")
    )
    assert not result.ok


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b'{"version": 2, "attestation_bundles": []}', "version 1"),
        (b'{"version": 1, "attestation_bundles": []}', "no attestation bundles"),
        (b'{"version": 1, "attestation_bundles": [3]}', "not an object"),
        (
            b'{"version": 1, "attestation_bundles": [{"publisher": {}, "attestations": 1}]}',
            "no attestations list",
        ),
    ],
)
def test_malformed_provenance(sdist: Path, raw: bytes, reason: str) -> None:
    result, _ = verify_provenance(sdist, raw, gitlab(), TrustChoice())
    assert not result.ok
    assert reason in (result.reason or "")


def test_a_bundle_without_a_publish_attestation(sdist: Path, real_world: Path) -> None:
    other = _attestation(real_world)
    other["envelope"] = {**other["envelope"], "statement": "e30="}  # {}: no predicate
    bundle = {"publisher": PUBLISHER, "attestations": [other]}
    raw = json.dumps({"version": 1, "attestation_bundles": [bundle]}).encode()
    result, _ = verify_provenance(sdist, raw, gitlab(), TrustChoice())
    assert not result.ok
    assert "no publish attestation" in (result.reason or "")


def test_a_later_bundle_may_verify(sdist: Path, real_world: Path) -> None:
    wrong = {
        "publisher": {**PUBLISHER, "repository": "a/b"},
        "attestations": [_attestation(real_world)],
    }
    right = {"publisher": PUBLISHER, "attestations": [_attestation(real_world)]}
    raw = json.dumps({"version": 1, "attestation_bundles": [wrong, right]}).encode()
    result, publisher = verify_provenance(sdist, raw, gitlab(), TrustChoice())
    assert result.ok, result.reason
    assert publisher is not None
    assert publisher.repository == REPOSITORY


def test_publisher_policy_describes_both_parts() -> None:
    policy = PublisherPolicy(TrustedPublisher.gitlab("g/p", "ci.yml"), also=gitlab("g/p"))
    text = policy.describe()
    assert "PyPI's rules for the GitLab trusted publisher g/p (ci.yml)" in text
    assert "GitLab CI of https://gitlab.com/g/p" in text
