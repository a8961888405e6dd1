"""The local Sigstore end to end: the unmodified sigstore-python (API and ``python -m sigstore``)
signs against it over real HTTP and verifies what it signed."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pypi_attestations import Attestation, Distribution
from sigstore.errors import VerificationError
from sigstore.hashes import Hashed
from sigstore.models import Bundle
from sigstore.oidc import IdentityToken
from sigstore_helpers import (
    gitlab_policy,
    signing_context,
    verifier,
)
from sigstore_models.common.v1 import HashAlgorithm

from hatch_sigstore.sandbox import LocalSigstore


def test_api_sign_and_verify_with_gitlab_policy(sandbox: LocalSigstore) -> None:
    before = sandbox.stats
    payloads = [b"first artifact", b"second artifact", b"third artifact"]
    with signing_context(sandbox).signer(IdentityToken(sandbox.mint_token())) as signer:
        bundles = [signer.sign_artifact(p) for p in payloads]
        digest = hashlib.sha256(b"prehashed").digest()
        prehashed = signer.sign_artifact(Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest))
    after = sandbox.stats
    assert after["fulcio"] - before["fulcio"] == 1
    assert after["rekor_create"] - before["rekor_create"] == 4

    v = verifier(sandbox)
    good = gitlab_policy(sandbox.expected_identity())
    for payload, bundle in zip(payloads, bundles, strict=True):
        v.verify_artifact(payload, Bundle.from_json(bundle.to_json()), good)
    v.verify_artifact(Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest), prehashed, good)

    # Not ours: another project, another ref, another project id, another file.
    for wrong in (
        sandbox.expected_identity(project_path="group/other"),
        sandbox.expected_identity(ref="develop"),
        sandbox.expected_identity(project_id="43"),
    ):
        with pytest.raises(VerificationError):
            v.verify_artifact(payloads[0], bundles[0], gitlab_policy(wrong))
    with pytest.raises(VerificationError, match=r"digest mismatch|Signature is invalid"):
        v.verify_artifact(b"tampered artifact", bundles[0], good)


def test_concurrent_signing_with_one_signer(sandbox: LocalSigstore) -> None:
    payloads = [b"concurrent %d" % i for i in range(12)]
    with (
        signing_context(sandbox).signer(IdentityToken(sandbox.mint_token())) as signer,
        concurrent.futures.ThreadPoolExecutor(6) as pool,
    ):
        bundles = list(pool.map(signer.sign_artifact, payloads))
    v, good = verifier(sandbox), gitlab_policy(sandbox.expected_identity())
    indexes = set()
    for payload, bundle in zip(payloads, bundles, strict=True):
        v.verify_artifact(payload, bundle, good)
        indexes.add(bundle.log_entry._inner.log_index)
    assert len(indexes) == len(payloads)


def test_dsse_attestation_signs_and_verifies(sandbox: LocalSigstore, tmp_path: Path) -> None:
    wheel = tmp_path / "sample_pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(b"not really a zip, attestations only hash it")
    dist = Distribution.from_file(wheel)
    identity = sandbox.expected_identity(ref="v1.0", ref_type="tag")
    token = sandbox.mint_token(ref="v1.0", ref_type="tag")
    with signing_context(sandbox).signer(IdentityToken(token)) as signer:
        attestation = Attestation.sign(signer, dist)
    bundle = Bundle.from_json(attestation.to_bundle().to_json())
    payload_type, payload = verifier(sandbox).verify_dsse(bundle, gitlab_policy(identity))
    assert payload_type == "application/vnd.in-toto+json"
    statement = json.loads(payload)
    assert statement["subject"] == [
        {"name": wheel.name, "digest": {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}}
    ]
    assert bundle.log_entry._inner.kind_version.kind == "dsse"
    with pytest.raises(VerificationError):
        verifier(sandbox).verify_dsse(bundle, gitlab_policy(sandbox.expected_identity()))


def _sigstore_cli(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sigstore", "--trust-config", str(config), *args],
        env={**os.environ, "COLUMNS": "1000"},  # rich must not wrap the messages we check
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = process.communicate(timeout=120)
    return process.returncode, output


@pytest.mark.slow
def test_sigstore_cli_sign_and_verify(
    sandbox: LocalSigstore, other_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    # Some entries first, so the proof in the bundle has hashes to tamper with.
    with signing_context(sandbox).signer(IdentityToken(sandbox.mint_token())) as signer:
        signer.sign_artifact(b"warm-up 1")
        signer.sign_artifact(b"warm-up 2")
    artifact = tmp_path / "artifact.txt"
    artifact.write_bytes(b"signed by the unmodified sigstore CLI\n")
    identity = sandbox.expected_identity()
    assert identity.san is not None
    config = sandbox.trust_config_path
    code, output = _finish(
        _sigstore_cli(config, "sign", "--identity-token", sandbox.mint_token(), str(artifact))
    )
    assert code == 0, output
    bundle_path = tmp_path / "artifact.txt.sigstore.json"
    bundle = json.loads(bundle_path.read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"

    # Failure cases, each in its own folder with its own copy of the artifact and bundle.
    def case(name: str, artifact_bytes: bytes, bundle_data: dict[str, Any]) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / artifact.name).write_bytes(artifact_bytes)
        (folder / bundle_path.name).write_text(json.dumps(bundle_data))
        return folder / artifact.name

    tampered_proof = json.loads(json.dumps(bundle))
    proof = tampered_proof["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    assert proof["hashes"], "the log should hold more than one entry"
    first = bytearray(base64.b64decode(proof["hashes"][0]))
    first[0] ^= 0xFF
    proof["hashes"][0] = base64.b64encode(bytes(first)).decode()

    def verify(config_path: Path, target: Path, san: str) -> subprocess.Popen[str]:
        return _sigstore_cli(
            config_path,
            "verify",
            "identity",
            "--offline",
            "--cert-identity",
            san,
            "--cert-oidc-issuer",
            identity.issuer,
            str(target),
        )

    other_san = sandbox.expected_identity(project_path="group/other").san
    assert other_san is not None
    runs = {
        "good": verify(config, artifact, identity.san),
        "tampered-artifact": verify(config, case("a", b"tampered\n", bundle), identity.san),
        "wrong-identity": verify(config, artifact, other_san),
        "tampered-proof": verify(
            config, case("p", artifact.read_bytes(), tampered_proof), identity.san
        ),
        "foreign-root": verify(other_sigstore.trust_config_path, artifact, identity.san),
    }
    results = {name: _finish(process) for name, process in runs.items()}
    assert results["good"][0] == 0, results["good"][1]
    expected_reasons = {
        "tampered-artifact": "Bundle message digest mismatch",
        "wrong-identity": "Certificate's SANs do not match",
        "tampered-proof": "inclusion proof contains invalid root hash",
        "foreign-root": "failed to build timestamp certificate chain",
    }
    for name, reason in expected_reasons.items():
        code, output = results[name]
        assert code != 0, f"{name} verified: {output}"
        assert reason in output, output


@pytest.mark.slow
def test_sigstore_cli_detached_signature_verifies_through_retrieve(
    sandbox: LocalSigstore, tmp_path: Path
) -> None:
    artifact = tmp_path / "blob.bin"
    artifact.write_bytes(b"detached\n")
    sig, crt = tmp_path / "blob.bin.sig", tmp_path / "blob.bin.crt"
    config = sandbox.trust_config_path
    code, output = _finish(
        _sigstore_cli(
            config,
            "sign",
            "--identity-token",
            sandbox.mint_token(),
            "--signature",
            str(sig),
            "--certificate",
            str(crt),
            "--no-default-files",
            str(artifact),
        )
    )
    assert code == 0, output
    assert not (tmp_path / "blob.bin.sigstore.json").exists()
    identity = sandbox.expected_identity()
    assert identity.san is not None
    before = sandbox.stats["rekor_retrieve"]
    code, output = _finish(
        _sigstore_cli(
            config,
            "verify",
            "identity",
            "--signature",
            str(sig),
            "--certificate",
            str(crt),
            "--cert-identity",
            identity.san,
            "--cert-oidc-issuer",
            identity.issuer,
            str(artifact),
        )
    )
    assert code == 0, output
    assert sandbox.stats["rekor_retrieve"] == before + 1
