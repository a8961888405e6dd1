"""verify_file(s): real-world certificates (public Sigstore, offline) and sandbox-signed files.

Sandbox files are signed here with sigstore's own API (not hatch_sigstore.sign), so these
tests check verification against independently made signatures.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hatch_sigstore.errors import TrustConfigError, VerificationError
from hatch_sigstore.identity import ExpectedIdentity
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import (
    FileResult,
    Policy,
    require_verified,
    verify_file,
    verify_files,
)

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore

SDIST = "gitlab_oidc_project-0.0.3.tar.gz"
WHEEL = "bundle_v3_github.whl"
GITLAB_PROJECT = "facutuesca/gitlab-oidc-project"
GITHUB_SAN = (
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
)
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
PRODUCTION = TrustChoice()


def gl(project: str = GITLAB_PROJECT, server: str = "https://gitlab.com", **kw: Any) -> Policy:
    ident = {k: kw.pop(k) for k in ("ref", "config_path", "project_id") if k in kw}
    return Policy.gitlab(ExpectedIdentity(server, project, **ident), **kw)


def gh(identity: str = GITHUB_SAN, issuer: str = GITHUB_ISSUER) -> Policy:
    return Policy.cosign(cert_identity=identity, cert_oidc_issuer=issuer)


def copy_with_sidecars(src_dir: Path, name: str, dest: Path, new_name: str | None = None) -> Path:
    target = dest / (new_name or name)
    shutil.copyfile(src_dir / name, target)
    for sidecar in src_dir.glob(f"{name}.*"):
        shutil.copyfile(sidecar, dest / (target.name + sidecar.name[len(name) :]))
    return target


def flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


# --- real world: production root, offline -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "policy", "ok", "reason"),
    [
        (SDIST, gl(), True, None),
        (SDIST, gl(ref="refs/heads/main", project_id="55235664"), True, None),
        (SDIST, gl(ref_glob="refs/heads/*", runner_environment="gitlab-hosted"), True, None),
        (SDIST, gl(sha="72f7c63b75eb55ea80864962f0e645c93414da34"), True, None),
        (SDIST, gl("facutuesca/other-project"), False, "source repository"),
        (SDIST, gl("facutuesca/gitlab-oidc-project/sub"), False, "source repository"),
        (
            SDIST,
            gl(ref="refs/heads/dev"),
            False,
            "is 'refs/heads/main', expected ref 'refs/heads/dev'",
        ),
        (SDIST, gl(ref="refs/tags/main"), False, "expected ref 'refs/tags/main'"),
        (SDIST, gl(ref_glob="refs/tags/*"), False, "expected ref pattern 'refs/tags/*'"),
        (SDIST, gl(project_id="55235665"), False, "is '55235664', expected project id '55235665'"),
        (SDIST, gl(server="https://gitlab.example.com"), False, "issuer"),
        (SDIST, gl(config_path="release.yml"), False, "CI config release.yml"),
        (SDIST, gl(runner_environment="self-hosted"), False, "expected runner environment"),
        (SDIST, gh(), False, "expected identity"),
        (WHEEL, gh(), True, None),
        (
            WHEEL,
            Policy.cosign(
                cert_identity_regexp="^https://github.com/trailofbits/",
                cert_oidc_issuer=GITHUB_ISSUER,
            ),
            True,
            None,
        ),
        (
            WHEEL,
            gh(issuer="https://gitlab.com"),
            False,
            "expected OIDC issuer 'https://gitlab.com'",
        ),
        (WHEEL, gh(identity=GITHUB_SAN.replace("v0.1.2", "v0.1.3")), False, "expected identity"),
        (WHEEL, gl(), False, "issuer"),
    ],
)
def test_real_world(
    real_world: Path, name: str, policy: Policy, ok: bool, reason: str | None
) -> None:
    result = verify_file(real_world / name, policy, PRODUCTION)
    assert result.ok is ok, result.reason
    assert result.sidecar == ("attestation" if name == SDIST else "bundle")
    if reason is None:
        assert result.reason is None
    else:
        assert result.reason is not None
        assert result.reason.startswith("wrong signer")
        assert reason in result.reason
        assert "--" not in result.reason  # names no CLI flag: every frontend shows it


def test_real_world_claims_are_reported(real_world: Path) -> None:
    sdist, wheel = verify_files([real_world / SDIST, real_world / WHEEL], gl(), PRODUCTION)
    assert sdist == FileResult(
        artifact=real_world / SDIST,
        ok=True,
        sidecar="attestation",
        sha256="c1ca9b0d85df1606451098233018534497bf584362e10e4a8c21dfaea92c02a8",
        identity=f"https://gitlab.com/{GITLAB_PROJECT}//.gitlab-ci.yml@refs/heads/main",
        issuer="https://gitlab.com",
        reason=None,
        ref="refs/heads/main",
        repository=f"https://gitlab.com/{GITLAB_PROJECT}",
        project_id="55235664",
    )
    # a failure still says who did sign
    assert not wheel.ok
    assert wheel.identity == GITHUB_SAN
    assert wheel.issuer == GITHUB_ISSUER


@pytest.mark.parametrize(("name", "policy"), [(SDIST, gl()), (WHEEL, gh())])
@pytest.mark.parametrize("offset", [0, 5000, -1])
def test_real_world_changed_byte_fails(
    real_world: Path, tmp_path: Path, name: str, policy: Policy, offset: int
) -> None:
    artifact = copy_with_sidecars(real_world, name, tmp_path)
    assert verify_file(artifact, policy, PRODUCTION).ok
    flip_byte(artifact, offset)
    result = verify_file(artifact, policy, PRODUCTION)
    assert not result.ok
    assert result.reason is not None
    assert "changed" in result.reason


def test_attestation_for_another_file_name_fails(real_world: Path, tmp_path: Path) -> None:
    renamed = copy_with_sidecars(real_world, SDIST, tmp_path, "gitlab_oidc_project-0.0.4.tar.gz")
    result = verify_file(renamed, gl(), PRODUCTION)
    assert not result.ok
    assert "subject" in (result.reason or "")
    # a name differing only by normalization is the same distribution (as PyPI accepts it)
    same = copy_with_sidecars(real_world, SDIST, tmp_path, "Gitlab_OIDC_project-0.0.3.tar.gz")
    assert verify_file(same, gl(), PRODUCTION).ok


def test_bundle_of_another_file_fails(real_world: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.whl"
    other.write_bytes(b"not the wheel")
    shutil.copyfile(real_world / f"{WHEEL}.sigstore", tmp_path / "other.whl.sigstore.json")
    result = verify_file(other, gh(), PRODUCTION)
    assert not result.ok
    assert "another file" in (result.reason or "")


def test_foreign_root_fails(real_world: Path) -> None:
    result = verify_file(real_world / WHEEL, gh(), TrustChoice("staging"))
    assert not result.ok
    assert "does not chain" in (result.reason or "")
    assert "trust config" in (result.reason or "")
    assert "--" not in (result.reason or "")  # no CLI flag: the publisher shows it too


def _bundle_doc(real_world: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((real_world / f"{WHEEL}.sigstore").read_text())
    return doc


def _edit_proof(doc: dict[str, Any]) -> None:
    proof = doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    first = base64.b64decode(proof["hashes"][0])
    proof["hashes"][0] = base64.b64encode(bytes([first[0] ^ 1]) + first[1:]).decode()


def _edit_signature(doc: dict[str, Any]) -> None:
    sig = base64.b64decode(doc["messageSignature"]["signature"])
    doc["messageSignature"]["signature"] = base64.b64encode(
        sig[:-1] + bytes([sig[-1] ^ 1])
    ).decode()


def _edit_set(doc: dict[str, Any]) -> None:
    entry = doc["verificationMaterial"]["tlogEntries"][0]
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 1)


def _edit_media_type(doc: dict[str, Any]) -> None:
    doc["mediaType"] = "application/vnd.example.unknown+json"


def _drop_proof(doc: dict[str, Any]) -> None:
    del doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]


def _drop_certificate(doc: dict[str, Any]) -> None:
    material = doc["verificationMaterial"]
    material.pop("certificate", None)  # v0.3
    material.pop("x509CertificateChain", None)  # v0.1/v0.2


def _garbage_certificate(doc: dict[str, Any]) -> None:
    material = doc["verificationMaterial"]
    slot = material.get("certificate") or material["x509CertificateChain"]["certificates"][0]
    slot["rawBytes"] = base64.b64encode(b"0" * 40).decode()


def _empty_log_body(doc: dict[str, Any]) -> None:
    doc["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] = base64.b64encode(
        b'{"kind":"dsse"}'
    ).decode()


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_edit_proof, "proof"),
        (_edit_signature, "verif"),
        (_edit_set, "verif"),
        (_edit_media_type, "unknown media type"),
        (_drop_proof, "not a valid Sigstore bundle"),
        (_drop_certificate, "not a valid Sigstore bundle"),
        (_garbage_certificate, "not a valid Sigstore bundle"),
        (_empty_log_body, "verif"),
    ],
)
def test_tampered_bundle_fails_with_one_reason(
    real_world: Path, tmp_path: Path, edit: Any, reason: str
) -> None:
    artifact = copy_with_sidecars(real_world, WHEEL, tmp_path)
    doc = _bundle_doc(real_world)
    edit(doc)
    (tmp_path / f"{WHEEL}.sigstore").write_text(json.dumps(doc))
    result = verify_file(artifact, gh(), PRODUCTION)
    assert not result.ok
    assert reason in (result.reason or ""), result.reason
    assert "\n" not in (result.reason or "")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"{", "not JSON"),
        (b"[1, 2]", "not a Sigstore bundle"),
        (b"\xff\xfe garbage", "not JSON"),
        (b'{"mediaType": 3}', "unknown media type"),
    ],
)
def test_unreadable_bundle(real_world: Path, tmp_path: Path, content: bytes, reason: str) -> None:
    artifact = copy_with_sidecars(real_world, WHEEL, tmp_path)
    (tmp_path / f"{WHEEL}.sigstore").write_bytes(content)
    result = verify_file(artifact, gh(), PRODUCTION)
    assert not result.ok
    assert reason in (result.reason or "")


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1])
def test_truncated_sidecars(real_world: Path, tmp_path: Path, keep: float) -> None:
    for name in (WHEEL, SDIST):
        copy_with_sidecars(real_world, name, tmp_path)
    for sidecar in (tmp_path / f"{WHEEL}.sigstore", tmp_path / f"{SDIST}.publish.attestation"):
        data = sidecar.read_bytes()
        sidecar.write_bytes(data[: int(len(data) * keep)])
    wheel, sdist = verify_files([tmp_path / WHEEL, tmp_path / SDIST], gh(), PRODUCTION)
    assert "truncated" in (wheel.reason or "")
    assert "truncated" in (sdist.reason or "")


def test_attestation_not_pep740(real_world: Path, tmp_path: Path) -> None:
    artifact = copy_with_sidecars(real_world, SDIST, tmp_path)
    (tmp_path / f"{SDIST}.publish.attestation").write_text('{"version": 1}')
    result = verify_file(artifact, gl(), PRODUCTION)
    assert not result.ok
    assert "not a valid PEP 740 attestation" in (result.reason or "")


@pytest.mark.parametrize(
    ("present", "reason"),
    [
        ((), "no signature found"),
        ((".sig",), "without"),
        ((".crt",), "without"),
    ],
)
def test_missing_sidecars(tmp_path: Path, present: tuple[str, ...], reason: str) -> None:
    artifact = tmp_path / "demo-1.0.tar.gz"
    artifact.write_bytes(b"x")
    for suffix in present:
        (tmp_path / f"demo-1.0.tar.gz{suffix}").write_text("x")
    result = verify_file(artifact, gl(), PRODUCTION)
    assert not result.ok
    assert reason in (result.reason or "")


def test_missing_file_and_unknown_sidecar_kind(tmp_path: Path) -> None:
    result = verify_file(tmp_path / "nope.whl", gl(), PRODUCTION)
    assert not result.ok
    assert "does not exist" in (result.reason or "")
    from hatch_sigstore.errors import ConfigError

    with pytest.raises(ConfigError, match="bundle, attestation, cosign"):
        verify_files([tmp_path / "nope.whl"], gl(), PRODUCTION, sidecar="sbom")


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"not json {", "not readable JSON"), (b'{"mediaType": "x"}', "not a usable")],
)
def test_bad_trust_config_raises_once(tmp_path: Path, content: bytes, match: str) -> None:
    config = tmp_path / "trust.json"
    config.write_bytes(content)
    with pytest.raises(TrustConfigError, match=match):
        verify_files([tmp_path / "x"], gl(), TrustChoice("file", config))


def test_require_verified(real_world: Path) -> None:
    results = verify_files([real_world / SDIST, real_world / WHEEL], gl(), PRODUCTION)
    with pytest.raises(VerificationError) as info:
        require_verified(results)
    assert "1 of 2 files" in str(info.value)
    assert WHEEL in str(info.value)
    assert SDIST not in str(info.value)
    require_verified(results[:1])
    with pytest.raises(VerificationError, match="No file"):
        require_verified([])


def test_offline_verification_makes_no_network_call(
    real_world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network call during offline verification")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    results = verify_files([real_world / SDIST, real_world / WHEEL], gl(), PRODUCTION)
    assert [r.ok for r in results] == [True, False]


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
        tag = directory / "demo-1.0.tar.gz"
        tag.write_bytes(b"sdist bytes " * 100)
        branch = directory / "demo-1.0-py3-none-any.whl"
        branch.write_bytes(b"wheel bytes " * 100)
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
    artifact = tmp_path / "demo-2.0.tar.gz"
    artifact.write_bytes(b"other")
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
