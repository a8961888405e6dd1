"""verify_file(s) on files signed by the local Sigstore (over real HTTP on loopback).

The files are signed here with sigstore's own API (not hatch_sigstore.sign), so these tests
check verification against independently made signatures; the cosign path asks the sandbox's
transparency log.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hatch_sigstore.identity import ExpectedIdentity
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import (
    Policy,
    verify_file,
    verify_files,
)

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore

from publish_helpers import make_sdist, make_wheel
from verify_helpers import (
    copy_with_sidecars,
    flip_byte,
    gl,
)

# --- sandbox-signed files ---------------------------------------------------------------------


@dataclass
class Signed:
    sigstore: LocalSigstore
    trust: TrustChoice
    dir: Path
    tag: Path  # signed in a tag pipeline (refs/tags/v1.0): bundle, cosign, attestation
    branch: Path  # signed in a branch pipeline (refs/heads/main): bundle, cosign, attestation


def _sign(local: LocalSigstore, trust: TrustChoice, path: Path, **claims: Any) -> None:
    import hashlib

    from pypi_attestations import Attestation, Distribution
    from sigstore.hashes import Hashed
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext
    from sigstore_models.common.v1 import HashAlgorithm

    config = ClientTrustConfig.from_json(local.trust_config_path.read_text())
    context = SigningContext.from_trust_config(config)
    token = IdentityToken(local.mint_token(**claims))
    digest = hashlib.sha256(path.read_bytes()).digest()
    with context.signer(token) as signer:
        bundle = signer.sign_artifact(Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest))
        attestation = Attestation.sign(signer, Distribution.from_file(path))
    path.with_name(path.name + ".sigstore.json").write_text(bundle.to_json())
    path.with_name(path.name + ".sig").write_text(base64.b64encode(bundle.signature).decode())
    path.with_name(path.name + ".crt").write_bytes(
        bundle.signing_certificate.public_bytes(serialization.Encoding.PEM)
    )
    path.with_name(path.name + ".publish.attestation").write_text(attestation.model_dump_json())


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    from hatch_sigstore.sandbox import LocalSigstore

    directory = tmp_path_factory.mktemp("signed")
    with LocalSigstore(state_dir=tmp_path_factory.mktemp("sigstore")) as local:
        trust = TrustChoice("file", local.trust_config_path)
        tag = make_sdist(directory, "demo", "1.0", payload=b"sdist bytes " * 100)
        branch = make_wheel(directory, "demo", "1.0", payload=b"wheel bytes " * 100)
        _sign(local, trust, tag, ref="v1.0", ref_type="tag")
        _sign(local, trust, branch, ref="main", ref_type="branch")
        yield Signed(local, trust, directory, tag, branch)


def sandbox_policy(signed: Signed, project: str = "group/project", **kw: Any) -> Policy:
    return gl(project, server=signed.sigstore.gitlab_url, **kw)


POLICY_TABLE = [
    ({}, True, True),
    ({"ref": "refs/tags/v1.0"}, True, False),
    ({"ref": "refs/heads/main"}, False, True),
    ({"ref": "refs/heads/v1.0"}, False, False),
    ({"ref_glob": "refs/tags/v*"}, True, False),
    ({"ref_glob": "refs/tags/v2*"}, False, False),
    ({"ref_glob": "refs/heads/*"}, False, True),
    ({"ref_glob": "refs/*"}, True, True),
    ({"project_id": "42"}, True, True),
    ({"project_id": "43"}, False, False),
    ({"project": "group/other"}, False, False),
    ({"project": "other/project"}, False, False),
    ({"config_path": "release.gitlab-ci.yml"}, False, False),
]


@pytest.mark.parametrize("sidecar", ["bundle", "attestation", "cosign"])
@pytest.mark.parametrize(("kw", "tag_ok", "branch_ok"), POLICY_TABLE)
def test_sandbox_policy_table(
    signed: Signed, sidecar: str, kw: dict[str, Any], tag_ok: bool, branch_ok: bool
) -> None:
    policy = sandbox_policy(signed, **kw)
    tag, branch = verify_files(
        [signed.tag, signed.branch], policy, signed.trust, offline=False, sidecar=sidecar
    )
    assert (tag.ok, branch.ok) == (tag_ok, branch_ok), (tag.reason, branch.reason)
    assert tag.sidecar == branch.sidecar == sidecar
    assert tag.ref == "refs/tags/v1.0"
    assert branch.ref == "refs/heads/main"


def test_sandbox_other_server_fails(signed: Signed) -> None:
    result = verify_file(signed.tag, gl("group/project"), signed.trust)
    assert not result.ok
    assert "issuer" in (result.reason or "")


def test_sandbox_cert_from_another_config_file_fails(signed: Signed, tmp_path: Path) -> None:
    artifact = make_sdist(tmp_path, "demo", "2.0")
    _sign(signed.sigstore, signed.trust, artifact, config_path="deploy/evil.yml")
    assert not verify_file(artifact, sandbox_policy(signed), signed.trust).ok
    assert verify_file(
        artifact, sandbox_policy(signed, config_path="deploy/evil.yml"), signed.trust
    ).ok


@pytest.mark.parametrize("sidecar", ["bundle", "attestation", "cosign"])
def test_sandbox_tampered_artifact_fails(signed: Signed, tmp_path: Path, sidecar: str) -> None:
    artifact = copy_with_sidecars(signed.dir, signed.tag.name, tmp_path)
    flip_byte(artifact)
    result = verify_file(
        artifact, sandbox_policy(signed), signed.trust, offline=False, sidecar=sidecar
    )
    assert not result.ok
    assert "changed" in (result.reason or ""), result.reason


def test_sandbox_tampered_inclusion_proof_fails(signed: Signed, tmp_path: Path) -> None:
    artifact = copy_with_sidecars(signed.dir, signed.tag.name, tmp_path)
    bundle = tmp_path / f"{artifact.name}.sigstore.json"
    doc = json.loads(bundle.read_text())
    proof = doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    root = base64.b64decode(proof["rootHash"])
    proof["rootHash"] = base64.b64encode(bytes([root[0] ^ 1]) + root[1:]).decode()
    bundle.write_text(json.dumps(doc))
    result = verify_file(artifact, sandbox_policy(signed), signed.trust)
    assert not result.ok
    assert "proof" in (result.reason or "")


def test_sandbox_foreign_root_fails(signed: Signed, tmp_path: Path) -> None:
    from hatch_sigstore.sandbox import LocalSigstore

    with LocalSigstore(state_dir=tmp_path) as other:
        foreign = TrustChoice("file", other.trust_config_path)
        for sidecar in ("bundle", "attestation"):
            result = verify_file(signed.tag, sandbox_policy(signed), foreign, sidecar=sidecar)
            assert not result.ok
            assert "does not chain" in (result.reason or "")


def test_sandbox_offline_refuses_cosign_only(signed: Signed, tmp_path: Path) -> None:
    artifact = copy_with_sidecars(signed.dir, signed.tag.name, tmp_path)
    (tmp_path / f"{artifact.name}.sigstore.json").unlink()
    (tmp_path / f"{artifact.name}.publish.attestation").unlink()
    signed.sigstore.reset_stats()
    result = verify_file(artifact, sandbox_policy(signed), signed.trust, offline=True)
    assert not result.ok
    assert result.sidecar == "cosign"
    assert "verify online" in (result.reason or "")
    assert ".sigstore.json" in (result.reason or "")
    assert signed.sigstore.stats["rekor_retrieve"] == 0
    online = verify_file(artifact, sandbox_policy(signed), signed.trust, offline=False)
    assert online.ok, online.reason
    assert signed.sigstore.stats["rekor_retrieve"] == 1


def test_sandbox_bundles_never_ask_the_log(signed: Signed) -> None:
    signed.sigstore.reset_stats()
    for sidecar in ("bundle", "attestation"):
        results = verify_files(
            [signed.tag, signed.branch],
            sandbox_policy(signed),
            signed.trust,
            offline=False,
            sidecar=sidecar,
        )
        assert all(r.ok for r in results)
    assert signed.sigstore.stats == {"fulcio": 0, "rekor_create": 0, "rekor_retrieve": 0}


def test_sandbox_cosign_base64_pem_certificate_is_accepted(signed: Signed, tmp_path: Path) -> None:
    # cosign 2.x writes --output-certificate as base64(PEM); cosign reads both, so do we.
    artifact = copy_with_sidecars(signed.dir, signed.tag.name, tmp_path)
    crt = tmp_path / f"{artifact.name}.crt"
    crt.write_bytes(base64.b64encode(crt.read_bytes()))
    result = verify_file(
        artifact, sandbox_policy(signed), signed.trust, offline=False, sidecar="cosign"
    )
    assert result.ok, result.reason


@pytest.mark.parametrize(
    ("sig", "crt", "reason"),
    [
        (None, b"garbage", "not a PEM certificate"),
        (b"!!!", None, "not a base64 DER signature"),
        (b"MEUCIQ==", None, "no entry"),  # a well-formed but wrong signature
    ],
)
def test_sandbox_bad_cosign_material(
    signed: Signed, tmp_path: Path, sig: bytes | None, crt: bytes | None, reason: str
) -> None:
    artifact = copy_with_sidecars(signed.dir, signed.tag.name, tmp_path)
    if sig is not None:
        (tmp_path / f"{artifact.name}.sig").write_bytes(sig)
    if crt is not None:
        (tmp_path / f"{artifact.name}.crt").write_bytes(crt)
    result = verify_file(
        artifact, sandbox_policy(signed), signed.trust, offline=False, sidecar="cosign"
    )
    assert not result.ok
    assert reason in (result.reason or ""), result.reason


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (lambda s: s.fail_next("rekor", 500), "unusable"),
        (lambda s: s.fail_next("rekor", 200, body=b"<html>"), "not JSON"),
        (lambda s: s.hang_next("rekor", 2.0), "did not answer within 0.5 s"),
    ],
)
def test_sandbox_log_failures_on_cosign_path(signed: Signed, fault: Any, reason: str) -> None:
    fault(signed.sigstore)
    try:
        result = verify_file(
            signed.tag,
            sandbox_policy(signed),
            signed.trust,
            offline=False,
            sidecar="cosign",
            log_timeout=0.5,
        )
    finally:
        signed.sigstore.clear_faults()
    assert not result.ok
    assert reason in (result.reason or ""), result.reason


def test_certificate_without_sct_fails(signed: Signed, tmp_path: Path) -> None:
    """A certificate from a CA that the root trusts but that carries no SCT is refused."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no-ct-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA384())
    )
    bundle_path = signed.dir / f"{signed.tag.name}.sigstore.json"
    doc = json.loads(bundle_path.read_text())
    original = x509.load_der_x509_certificate(
        base64.b64decode(doc["verificationMaterial"]["certificate"]["rawBytes"])
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca_name)
        .public_key(original.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(original.not_valid_before_utc)
        .not_valid_after(original.not_valid_after_utc)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    for ext in original.extensions:
        if ext.oid.dotted_string in ("1.3.6.1.4.1.11129.2.4.2", "2.5.29.35"):
            continue  # no SCT; AKI points at our CA
        builder = builder.add_extension(ext.value, ext.critical)
    leaf = builder.sign(ca_key, hashes.SHA384())
    assert (
        ExtendedKeyUsageOID.CODE_SIGNING
        in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    doc["verificationMaterial"]["certificate"]["rawBytes"] = base64.b64encode(
        leaf.public_bytes(serialization.Encoding.DER)
    ).decode()
    artifact = copy_with_sidecars(signed.dir, signed.tag.name, tmp_path)
    (tmp_path / f"{artifact.name}.sigstore.json").write_text(json.dumps(doc))
    config = json.loads(signed.sigstore.trust_config_path.read_text())
    authorities = config["trustedRoot"]["certificateAuthorities"]
    authorities.append(
        {
            **authorities[0],
            "subject": {"organization": "test", "commonName": "no-ct-ca"},
            "certChain": {
                "certificates": [
                    {
                        "rawBytes": base64.b64encode(
                            ca.public_bytes(serialization.Encoding.DER)
                        ).decode()
                    }
                ]
            },
        }
    )
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(json.dumps(config))
    result = verify_file(artifact, sandbox_policy(signed), TrustChoice("file", trust_file))
    assert not result.ok
    assert "SCT" in (result.reason or ""), result.reason


def test_sandbox_dsse_bundle_as_sigstore_json(signed: Signed, tmp_path: Path) -> None:
    """A DSSE (in-toto) bundle in F.sigstore.json verifies when a subject has F's digest."""
    from pypi_attestations import Attestation

    artifact = copy_with_sidecars(signed.dir, signed.tag.name, tmp_path)
    attestation = Attestation.model_validate_json(
        (tmp_path / f"{artifact.name}.publish.attestation").read_bytes()
    )
    (tmp_path / f"{artifact.name}.sigstore.json").write_text(attestation.to_bundle().to_json())
    result = verify_file(artifact, sandbox_policy(signed), signed.trust, sidecar="bundle")
    assert result.ok, result.reason
    flip_byte(artifact)
    changed = verify_file(artifact, sandbox_policy(signed), signed.trust, sidecar="bundle")
    assert not changed.ok
    assert "changed" in (changed.reason or "")


def test_offline_trust_root_loads_without_a_warning(
    real_world: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Offline use of the embedded root is deliberate: sigstore's notice about it is dropped."""
    sdist = real_world / "gitlab_oidc_project-0.0.3.tar.gz"
    policy = Policy.gitlab(ExpectedIdentity("https://gitlab.com", "facutuesca/gitlab-oidc-project"))
    with caplog.at_level(logging.DEBUG, logger="sigstore"):
        [result] = verify_files([sdist], policy, TrustChoice(), offline=True)
    assert result.ok, result.reason
    assert not [r for r in caplog.records if "offline mode" in r.getMessage()]
