"""The local Sigstore, exercised over real HTTP by the unmodified sigstore-python (API and CLI)."""

from __future__ import annotations

import base64
import concurrent.futures
import datetime
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st
from pypi_attestations import Attestation, Distribution
from sigstore._internal.fulcio.client import FulcioClientError
from sigstore._internal.rekor import RekorClientError
from sigstore.errors import VerificationError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.oidc import IdentityToken
from sigstore.sign import SigningContext
from sigstore.verify import Verifier, policy
from sigstore_models.common.v1 import HashAlgorithm

from hatch_sigstore.ci import CIContext
from hatch_sigstore.identity import ExpectedIdentity
from hatch_sigstore.sandbox import LocalSigstore
from hatch_sigstore.sandbox._fulcio import FulcioRequestError, _load_csr
from hatch_sigstore.sandbox._merkle import hash_leaf, root_from_inclusion_proof
from hatch_sigstore.sandbox._oidc import TokenIssuer, TokenVerificationError
from hatch_sigstore.sandbox._pki import utf8string
from hatch_sigstore.sandbox._rekor import RekorRequestError, canonical_body

OID = "1.3.6.1.4.1.57264.1."


# -- fixtures and helpers ---------------------------------------------------------------------
_client: list[httpx.Client] = []


def http() -> httpx.Client:
    """One keep-alive client for the module (a fresh httpx.Client per call costs ~50 ms)."""
    if not _client:
        _client.append(httpx.Client(timeout=30))
    return _client[0]


@pytest.fixture(scope="module", autouse=True)
def _close_client() -> Iterator[None]:
    yield
    while _client:
        _client.pop().close()


@pytest.fixture
def sandbox(local_sigstore: LocalSigstore) -> Iterator[LocalSigstore]:
    """The session's local Sigstore, with faults and latency cleared afterwards."""
    yield local_sigstore
    local_sigstore.clear_faults()
    local_sigstore.latency = 0.0


@pytest.fixture(scope="module")
def other_sigstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSigstore]:
    """A second, unrelated instance (same GitLab URL, other keys): a foreign trust root."""
    with LocalSigstore(state_dir=tmp_path_factory.mktemp("other-sigstore")) as other:
        yield other


def signing_context(sandbox: LocalSigstore) -> SigningContext:
    config = ClientTrustConfig.from_json(sandbox.trust_config_path.read_text())
    return SigningContext.from_trust_config(config)


def verifier(sandbox: LocalSigstore) -> Verifier:
    return Verifier(trusted_root=sandbox.client_trust_config().trusted_root)


def gitlab_policy(identity: ExpectedIdentity) -> policy.VerificationPolicy:
    """A GitLab policy from sigstore's own classes: SAN + issuer, and OIDs .12, .14, .15."""
    assert identity.san is not None
    assert identity.ref is not None
    assert identity.project_id is not None
    return policy.AllOf(
        [
            policy.Identity(identity=identity.san, issuer=identity.issuer),
            policy.OIDCIssuerV2(identity.issuer),
            policy.OIDCSourceRepositoryURI(identity.repository_uri),
            policy.OIDCSourceRepositoryRef(identity.ref),
            policy.OIDCSourceRepositoryIdentifier(identity.project_id),
        ]
    )


def make_csr(key: ec.EllipticCurvePrivateKey) -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def csr_field(csr: x509.CertificateSigningRequest) -> str:
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def fulcio(sandbox: LocalSigstore, token: str | None, csr_b64: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = {} if csr_b64 is None else {"certificateSigningRequest": csr_b64}
    return http().post(f"{sandbox.url}/api/v2/signingCert", headers=headers, json=body)


def issue(sandbox: LocalSigstore, key: ec.EllipticCurvePrivateKey, **claims: Any) -> list[str]:
    response = fulcio(sandbox, sandbox.mint_token(**claims), csr_field(make_csr(key)))
    assert response.status_code == 201, response.text
    chain: list[str] = response.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    return chain


def hashedrekord(cert_pem: str, digest: bytes, signature: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(cert_pem.encode()).decode()},
            },
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
        },
    }


def sign_digest(key: ec.EllipticCurvePrivateKey, digest: bytes) -> bytes:
    return key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def utf8_value(cert: x509.Certificate, n: int) -> str:
    raw = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(f"{OID}{n}")).value
    assert isinstance(raw, x509.UnrecognizedExtension)
    assert raw.value[0] == 0x0C, f"OID .{n} is not a DER UTF8String"
    assert utf8string(raw.value[2:].decode()) == raw.value
    return raw.value[2:].decode()


# -- trust config -----------------------------------------------------------------------------
def test_trust_config_is_a_client_trust_config(sandbox: LocalSigstore) -> None:
    data = json.loads(sandbox.trust_config_path.read_text())
    assert data["mediaType"] == "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
    root, config = data["trustedRoot"], data["signingConfig"]
    assert [t["baseUrl"] for t in root["tlogs"]] == [sandbox.url]
    assert len(root["ctlogs"]) == 1
    assert root["timestampAuthorities"] == []
    chain = root["certificateAuthorities"][0]["certChain"]["certificates"]
    certs = [x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"])) for c in chain]
    assert certs[0].issuer == certs[1].subject == certs[1].issuer  # [intermediate, root]
    for cert in certs:
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert key.curve.name == "secp384r1"
    assert config["mediaType"] == "application/vnd.dev.sigstore.signingconfig.v0.2+json"
    assert [s["url"] for s in config["caUrls"]] == [sandbox.url]
    assert [(s["url"], s["majorApiVersion"]) for s in config["rekorTlogUrls"]] == [(sandbox.url, 1)]
    assert config["oidcUrls"] == config["tsaUrls"] == []
    start = root["tlogs"][0]["publicKey"]["validFor"]["start"]
    assert time.strptime(start, "%Y-%m-%dT%H:%M:%SZ") < time.gmtime()
    # sigstore-python accepts it, and picks our Fulcio and Rekor v1.
    loaded = ClientTrustConfig.from_json(sandbox.trust_config_path.read_text())
    assert loaded.signing_config.get_fulcio().url == sandbox.url
    assert json.loads(sandbox.trusted_root_path.read_text()) == root


# -- signing and verifying with the sigstore-python API ---------------------------------------
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


def test_bundles_carry_real_inclusion_proofs(sandbox: LocalSigstore) -> None:
    with signing_context(sandbox).signer(IdentityToken(sandbox.mint_token())) as signer:
        bundles = [signer.sign_artifact(b"proof %d" % i) for i in range(4)]
    for bundle in bundles:
        entry = json.loads(bundle.to_json())["verificationMaterial"]["tlogEntries"][0]
        proof = entry["inclusionProof"]
        size, index = int(proof["treeSize"]), int(proof["logIndex"])
        assert size >= 4
        assert index == int(entry["logIndex"])
        body = base64.b64decode(entry["canonicalizedBody"])
        hashes_ = [base64.b64decode(h) for h in proof["hashes"]]
        root = base64.b64decode(proof["rootHash"])
        assert root_from_inclusion_proof(hash_leaf(body), index, size, hashes_) == root
        note = proof["checkpoint"]["envelope"]
        assert note.split("\n")[1:3] == [str(size), proof["rootHash"]]
    # The log keeps growing and its signed tree head covers everything.
    info = http().get(f"{sandbox.url}/api/v1/log").json()
    assert info["treeSize"] >= 4
    assert info["treeSize"] == sandbox.log_size
    assert info["signedTreeHead"].split("\n")[1] == str(info["treeSize"])
    assert set(info) >= {"rootHash", "treeSize", "signedTreeHead", "treeID"}


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


def test_foreign_root_rejects_our_bundles(
    sandbox: LocalSigstore, other_sigstore: LocalSigstore
) -> None:
    with signing_context(sandbox).signer(IdentityToken(sandbox.mint_token())) as signer:
        bundle = signer.sign_artifact(b"ours")
    with pytest.raises(VerificationError):
        verifier(other_sigstore).verify_artifact(
            b"ours", bundle, gitlab_policy(sandbox.expected_identity())
        )


# -- the certificate Fulcio issues --------------------------------------------------------------
def test_leaf_certificate_matches_fulcio_gitlab_template(sandbox: LocalSigstore) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = sandbox.mint_token(project_path="acme/tools/widget", ref="v2.1.0", ref_type="tag")
    claims = jwt.decode(token, options={"verify_signature": False})
    response = fulcio(sandbox, token, csr_field(make_csr(key)))
    assert response.status_code == 201
    pems = response.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    leaf, intermediate, root = (x509.load_pem_x509_certificate(p.encode()) for p in pems)
    assert leaf.issuer == intermediate.subject
    assert intermediate.issuer == root.subject
    assert leaf.public_key() == key.public_key()
    assert leaf.subject == x509.Name([])
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == datetime.timedelta(minutes=10)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    expected_san = "https://gitlab.example.com/acme/tools/widget//.gitlab-ci.yml@refs/tags/v2.1.0"
    assert san.critical
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [expected_san]
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CODE_SIGNING]
    leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    scts = leaf.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps
    ).value
    assert len(scts) == 1

    raw_issuer = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(f"{OID}1")).value
    assert isinstance(raw_issuer, x509.UnrecognizedExtension)
    assert raw_issuer.value == b"https://gitlab.example.com"
    server = "https://gitlab.example.com"
    expected = {
        8: server,
        9: expected_san,
        10: claims["ci_config_sha"],
        11: "gitlab-hosted",
        12: f"{server}/acme/tools/widget",
        13: claims["sha"],
        14: "refs/tags/v2.1.0",
        15: "42",
        16: f"{server}/acme/tools",
        17: claims["namespace_id"],
        18: expected_san,
        19: claims["ci_config_sha"],
        20: "push",
        21: f"{server}/acme/tools/widget/-/jobs/{claims['job_id']}",
        22: "private",
        24: "project_path:acme/tools/widget:ref_type:tag:ref:v2.1.0",
    }
    assert {n: utf8_value(leaf, n) for n in expected} == expected
    with pytest.raises(x509.ExtensionNotFound):  # no `environment` claim, no .23
        leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(f"{OID}23"))


@pytest.mark.parametrize(
    ("claims", "oid", "value"),
    [
        ({"runner_environment": "self-hosted"}, 11, "self-hosted"),
        ({"pipeline_source": "web"}, 20, "web"),
        ({"project_visibility": "public"}, 22, "public"),
        ({"environment": "production"}, 23, "production"),
        ({"sha": "ab" * 20}, 13, "ab" * 20),
    ],
)
def test_claim_overrides_reach_the_certificate(
    sandbox: LocalSigstore, claims: dict[str, str], oid: int, value: str
) -> None:
    pems = issue(sandbox, ec.generate_private_key(ec.SECP256R1()), **claims)
    assert utf8_value(x509.load_pem_x509_certificate(pems[0].encode()), oid) == value


# -- what Fulcio refuses -----------------------------------------------------------------------
def _foreign_token(sandbox: LocalSigstore) -> str:
    """Same issuer URL and claims, signed by a key the sandbox never saw."""
    stranger = TokenIssuer(sandbox.gitlab_url)
    return stranger.mint(stranger.claims())


@pytest.mark.parametrize(
    ("make_token", "status", "message"),
    [
        (lambda s: s.mint_token(expires_in=0), 401, "expired"),
        (lambda s: s.mint_token(expires_in=-3600), 401, "expired"),
        (lambda s: s.mint_token(audience="not-sigstore"), 401, "audience"),
        (lambda s: s.mint_token(iss="https://gitlab.com"), 401, "not issued by"),
        (_foreign_token, 401, "signature"),
        (lambda s: "not.a.jwt", 401, "identity token"),
        (lambda s: None, 401, "identity token"),
        (lambda s: s.mint_token(ci_config_ref_uri=None), 400, "ci_config_ref_uri"),
        (lambda s: s.mint_token(sub=None), 401, "sub"),
    ],
    ids=[
        "expired-now",
        "expired-hour",
        "wrong-audience",
        "other-issuer",
        "foreign-key",
        "garbage",
        "no-auth",
        "no-config-uri",
        "no-sub",
    ],
)
def test_fulcio_rejects_bad_tokens(
    sandbox: LocalSigstore, make_token: Any, status: int, message: str
) -> None:
    csr = csr_field(make_csr(ec.generate_private_key(ec.SECP256R1())))
    response = fulcio(sandbox, make_token(sandbox), csr)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == (16 if status == 401 else 3)
    assert message in body["message"]


def _tampered_csr() -> str:
    der = bytearray(
        make_csr(ec.generate_private_key(ec.SECP256R1())).public_bytes(serialization.Encoding.DER)
    )
    der[-1] ^= 0x01  # the last byte of the ECDSA signature's s
    return csr_field(x509.load_der_x509_csr(bytes(der)))


@pytest.mark.parametrize(
    ("csr", "message"),
    [
        (_tampered_csr(), "signature"),
        ("%%% not base64", "base64"),
        (base64.b64encode(b"-----BEGIN NOTHING-----").decode(), "PEM CSR"),
        (None, "certificateSigningRequest"),
    ],
    ids=["bad-proof-of-possession", "not-base64", "not-pem", "missing"],
)
def test_fulcio_rejects_bad_csrs(sandbox: LocalSigstore, csr: str | None, message: str) -> None:
    response = fulcio(sandbox, sandbox.mint_token(), csr)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_sigstore_client_sees_fulcio_refusal(sandbox: LocalSigstore) -> None:
    token = IdentityToken(sandbox.mint_token(aud="sigstore", iss=sandbox.gitlab_url + "/x"))
    with (
        pytest.raises(FulcioClientError),
        signing_context(sandbox).signer(token),
    ):
        pass  # pragma: no cover


# -- what Rekor refuses and returns ------------------------------------------------------------
def test_rekor_requires_the_certificate_key_to_have_signed(sandbox: LocalSigstore) -> None:
    key, impostor = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    leaf_pem = issue(sandbox, key)[0]
    digest = hashlib.sha256(b"artifact").digest()
    entries = f"{sandbox.url}/api/v1/log/entries"

    refused = http().post(
        entries, json=hashedrekord(leaf_pem, digest, sign_digest(impostor, digest))
    )
    assert refused.status_code == 400
    assert set(refused.json()) == {"code", "message"}
    assert "signature" in refused.json()["message"]
    # A signature over another digest is refused too.
    other = hashlib.sha256(b"other").digest()
    assert (
        http()
        .post(entries, json=hashedrekord(leaf_pem, digest, sign_digest(key, other)))
        .status_code
        == 400
    )

    proposed = hashedrekord(leaf_pem, digest, sign_digest(key, digest))
    created = http().post(entries, json=proposed)
    assert created.status_code == 201
    ((uuid, entry),) = created.json().items()
    body = base64.b64decode(entry["body"])
    assert uuid == hash_leaf(body).hex()
    assert json.loads(body)["spec"]["data"]["hash"]["value"] == digest.hex()
    assert rfc8785.dumps(json.loads(body)) == body  # canonical
    # The SET is Rekor's signature over the canonical entry summary.
    rekor_key = serialization.load_der_public_key(
        base64.b64decode(
            json.loads(sandbox.trust_config_path.read_text())["trustedRoot"]["tlogs"][0][
                "publicKey"
            ]["rawBytes"]
        )
    )
    assert isinstance(rekor_key, ec.EllipticCurvePublicKey)
    summary = rfc8785.dumps(
        {
            "body": entry["body"],
            "integratedTime": entry["integratedTime"],
            "logID": entry["logID"],
            "logIndex": entry["logIndex"],
        }
    )
    rekor_key.verify(
        base64.b64decode(entry["verification"]["signedEntryTimestamp"]),
        summary,
        ec.ECDSA(hashes.SHA256()),
    )
    # The same entry twice is a conflict, as in real Rekor.
    assert http().post(entries, json=proposed).status_code == 409

    # Retrieve, with and without the trailing slash; unknown entries are simply absent.
    for path in ("/api/v1/log/entries/retrieve", "/api/v1/log/entries/retrieve/"):
        found = http().post(f"{sandbox.url}{path}", json={"entries": [proposed]})
        assert found.status_code == 200
        assert [list(item) for item in found.json()] == [[uuid]]
    unknown = hashedrekord(leaf_pem, other, sign_digest(key, other))
    assert http().post(f"{entries}/retrieve", json={"entries": [unknown]}).json() == []
    assert http().get(f"{entries}/{uuid}").json()[uuid]["logIndex"] == entry["logIndex"]


def _dsse_entry(cert_pem: str, signer: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    payload = b'{"_type": "https://in-toto.io/Statement/v1"}'
    pae = b"DSSEv1 28 application/vnd.in-toto+json %d %s" % (len(payload), payload)
    envelope = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": "application/vnd.in-toto+json",
        "signatures": [
            {"sig": base64.b64encode(signer.sign(pae, ec.ECDSA(hashes.SHA256()))).decode()}
        ],
    }
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": json.dumps(envelope),
                "verifiers": [base64.b64encode(cert_pem.encode()).decode()],
            }
        },
    }


def test_rekor_checks_dsse_signatures_over_pae(sandbox: LocalSigstore) -> None:
    key, impostor = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    leaf_pem = issue(sandbox, key)[0]
    entries = f"{sandbox.url}/api/v1/log/entries"
    assert http().post(entries, json=_dsse_entry(leaf_pem, impostor)).status_code == 400
    # A verifier that verifies nothing is refused too, as real Rekor does.
    idle = _dsse_entry(leaf_pem, key)
    idle["spec"]["proposedContent"]["verifiers"].append(
        base64.b64encode(issue(sandbox, impostor)[0].encode()).decode()
    )
    refused = http().post(entries, json=idle)
    assert refused.status_code == 400
    assert "no signature matches" in refused.json()["message"]
    created = http().post(entries, json=_dsse_entry(leaf_pem, key))
    assert created.status_code == 201
    ((_, entry),) = created.json().items()
    spec = json.loads(base64.b64decode(entry["body"]))["spec"]
    assert set(spec) == {"envelopeHash", "payloadHash", "signatures"}
    assert spec["signatures"][0]["verifier"] == base64.b64encode(leaf_pem.encode()).decode()


@pytest.mark.parametrize(
    "proposed",
    [
        {"apiVersion": "0.0.1", "kind": "rekord", "spec": {}},
        {"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {}},
        {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {"data": {}}},
        [],
    ],
)
def test_rekor_rejects_malformed_entries(sandbox: LocalSigstore, proposed: object) -> None:
    response = http().post(f"{sandbox.url}/api/v1/log/entries", json=proposed)
    assert response.status_code == 400
    assert response.json()["code"] == 400


# -- tokens, CI variables, OIDC discovery ------------------------------------------------------
def test_minted_claims_are_gitlab_shaped(sandbox: LocalSigstore) -> None:
    claims = jwt.decode(
        sandbox.mint_token(project_path="g/sub/p", ref="feature/x", project_id="7"),
        options={"verify_signature": False},
    )
    assert claims["iss"] == sandbox.gitlab_url
    assert claims["aud"] == "sigstore"
    assert claims["sub"] == "project_path:g/sub/p:ref_type:branch:ref:feature/x"
    assert claims["ci_config_ref_uri"] == (
        "gitlab.example.com/g/sub/p//.gitlab-ci.yml@refs/heads/feature/x"
    )
    assert claims["ref_path"] == "refs/heads/feature/x"
    assert claims["namespace_path"] == "g/sub"
    for name in ("project_id", "namespace_id", "pipeline_id", "job_id"):
        assert isinstance(claims[name], str)
        assert claims[name].isdigit()
    assert claims["exp"] - claims["iat"] == 600
    assert claims["nbf"] == claims["iat"]
    assert claims["jti"]


def test_claims_can_be_overridden_removed_and_expired(sandbox: LocalSigstore) -> None:
    claims = jwt.decode(
        sandbox.mint_token(sha=None, runner_environment="self-hosted", expires_in=-60),
        options={"verify_signature": False, "verify_exp": False},
    )
    assert "sha" not in claims
    assert claims["runner_environment"] == "self-hosted"
    assert claims["exp"] < time.time() - 59


def test_ci_env_names_the_same_identity(sandbox: LocalSigstore) -> None:
    env = sandbox.ci_env(project_path="grp/app", ref="v3.0", ref_type="tag", project_id="99")
    assert env["GITLAB_CI"] == "true"
    assert env["CI_COMMIT_TAG"] == "v3.0"
    assert "CI_COMMIT_BRANCH" not in env
    assert env["CI_PROJECT_NAME"] == "app"
    assert env["CI_PROJECT_ID"] == "99"
    assert env["HATCH_SIGSTORE_TRUST_CONFIG"] == str(sandbox.trust_config_path)
    identity = sandbox.expected_identity(
        project_path="grp/app", ref="v3.0", ref_type="tag", project_id="99"
    )
    assert CIContext.from_env(env).expected_identity() == identity
    claims = jwt.decode(env["SIGSTORE_ID_TOKEN"], options={"verify_signature": False})
    assert f"https://{claims['ci_config_ref_uri']}" == identity.san
    branch = sandbox.ci_env()
    assert branch["CI_COMMIT_BRANCH"] == "main"
    assert "CI_COMMIT_TAG" not in branch


def test_oidc_discovery_and_jwks_verify_minted_tokens(sandbox: LocalSigstore) -> None:
    discovery = http().get(f"{sandbox.url}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == sandbox.gitlab_url
    jwks = http().get(discovery["jwks_uri"]).json()
    token = sandbox.mint_token()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key, algorithms=["ES256"], audience="sigstore")
    assert claims["iss"] == sandbox.gitlab_url


# -- fault injection and statistics ------------------------------------------------------------
def test_fail_next_answers_then_recovers(sandbox: LocalSigstore) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sandbox.fail_next("fulcio", 503)
    first = fulcio(sandbox, sandbox.mint_token(), csr_field(make_csr(key)))
    assert first.status_code == 503
    assert first.json()["code"] == 503
    assert fulcio(sandbox, sandbox.mint_token(), csr_field(make_csr(key))).status_code == 201

    sandbox.fail_next("rekor", 502, times=2, body=b"<html>bad gateway</html>")
    entries = f"{sandbox.url}/api/v1/log/entries"
    assert http().post(entries, json={}).content == b"<html>bad gateway</html>"
    assert http().post(f"{entries}/retrieve", json={"entries": []}).status_code == 502
    assert http().post(f"{entries}/retrieve", json={"entries": []}).status_code == 200


def test_sigstore_client_sees_injected_failures(sandbox: LocalSigstore) -> None:
    sandbox.fail_next("fulcio", 500)
    with (
        pytest.raises(FulcioClientError),
        signing_context(sandbox).signer(IdentityToken(sandbox.mint_token())),
    ):
        pass  # pragma: no cover
    before = sandbox.stats
    sandbox.fail_next("rekor_create", 500)
    with signing_context(sandbox).signer(IdentityToken(sandbox.mint_token())) as signer:
        with pytest.raises(RekorClientError):
            signer.sign_artifact(b"first attempt fails")
        signer.sign_artifact(b"second attempt works")
    after = sandbox.stats
    assert (after["fulcio"] - before["fulcio"], after["rekor_create"] - before["rekor_create"]) == (
        1,
        2,
    )


def test_stats_count_and_reset(sandbox: LocalSigstore) -> None:
    sandbox.reset_stats()
    assert sandbox.stats == {"fulcio": 0, "rekor_create": 0, "rekor_retrieve": 0}
    http().post(f"{sandbox.url}/api/v1/log/entries/retrieve/", json={"entries": []})
    http().get(f"{sandbox.url}/api/v1/log")
    assert sandbox.stats == {"fulcio": 0, "rekor_create": 0, "rekor_retrieve": 1}
    stats = sandbox.stats
    stats["fulcio"] = 99  # a copy
    assert sandbox.stats["fulcio"] == 0


def test_hang_next_and_latency_delay_answers(sandbox: LocalSigstore) -> None:
    sandbox.hang_next("rekor_create", 1.0)
    with pytest.raises(httpx.ReadTimeout):
        http().post(f"{sandbox.url}/api/v1/log/entries", json={}, timeout=0.2)
    assert http().get(f"{sandbox.url}/api/v1/log", timeout=2).status_code == 200
    sandbox.latency = 0.25
    started = time.monotonic()
    http().get(f"{sandbox.url}/api/v1/log")
    assert time.monotonic() - started >= 0.25


# -- the unmodified sigstore CLI ---------------------------------------------------------------
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


# -- `hatch-sigstore sandbox serve` ------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_sandbox_serve_process(tmp_path: Path, stop_signal: signal.Signals) -> None:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "hatch_sigstore", "sandbox", "serve", "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        info: dict[str, str] = {}
        while time.monotonic() < deadline and process.poll() is None:
            try:
                info = json.loads((state / "sandbox.json").read_text())
                if http().get(f"{info['url']}/sandbox", timeout=2).status_code == 200:
                    break
            except (OSError, ValueError, httpx.HTTPError):
                pass
            time.sleep(0.05)
        else:
            pytest.fail(f"sandbox serve did not come up: {process.poll()}")
        url = info["url"]
        response = http().post(
            f"{url}/sandbox/token", json={"project_path": "g/p", "ref": "v1", "ref_type": "tag"}
        )
        assert response.status_code == 200
        token = response.text
        jwks = jwt.PyJWKSet.from_dict(http().get(f"{url}/oauth/discovery/keys").json())
        claims = jwt.decode(
            token,
            jwks[jwt.get_unverified_header(token)["kid"]],
            algorithms=["ES256"],
            audience="sigstore",
        )
        assert claims["sub"] == "project_path:g/p:ref_type:tag:ref:v1"
        assert http().post(f"{url}/sandbox/token", content=b"[1]").status_code == 400
        # The process signs for out-of-process callers through its trust config.
        config = ClientTrustConfig.from_json(Path(info["trust_config"]).read_text())
        with SigningContext.from_trust_config(config).signer(IdentityToken(token)) as signer:
            bundle = signer.sign_artifact(b"served")
        Verifier(trusted_root=config.trusted_root).verify_artifact(
            b"served",
            bundle,
            policy.Identity(
                identity="https://gitlab.example.com/g/p//.gitlab-ci.yml@refs/tags/v1",
                issuer="https://gitlab.example.com",
            ),
        )
    finally:
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert url in stdout
    assert info["trust_config"] in stdout
    assert "NEVER" in stdout
    assert "/sandbox/token" in stdout
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.fail_next("tsa"), "unknown service"),
        (lambda s: s.fail_next("fulcio", status=42), "not an HTTP status"),
        (lambda s: s.fail_next("rekor", times=0), "at least 1"),
        (lambda s: s.hang_next("rekor", -1.0), "negative"),
    ],
)
def test_fault_plans_are_validated(sandbox: LocalSigstore, call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(sandbox)


# -- hostile input never breaks the services ---------------------------------------------------
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_entry_keys = st.sampled_from(
    [
        "apiVersion",
        "kind",
        "spec",
        "signature",
        "content",
        "publicKey",
        "data",
        "hash",
        "algorithm",
        "value",
        "proposedContent",
        "envelope",
        "verifiers",
    ]
)
_shaped = st.recursive(
    st.none()
    | st.integers()
    | st.sampled_from(["0.0.1", "hashedrekord", "dsse", "sha256", "", "%%"])
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_entry_keys, children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(proposed=_json_values | _shaped)
def test_rekor_parser_refuses_junk_cleanly(proposed: object) -> None:
    with pytest.raises(RekorRequestError) as refused:  # junk never carries a valid signature
        canonical_body(proposed)
    assert refused.value.status == 400


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode())
)
def test_fulcio_csr_parser_and_token_check_refuse_junk(text: str) -> None:
    with pytest.raises(FulcioRequestError):
        _load_csr(text)
    with pytest.raises(TokenVerificationError):
        TokenIssuer("https://gitlab.example.com").verify(text)


@pytest.mark.parametrize(
    ("path", "content", "headers"),
    [
        ("/api/v1/log/entries", b"{not json", {}),
        ("/api/v1/log/entries/retrieve", b'"a string"', {}),
        ("/api/v2/signingCert", b"[]", {"Authorization": "Bearer x"}),
        ("/sandbox/token", b'{"expires_in": "soon"}', {}),
        ("/nowhere", b"{}", {}),
    ],
)
def test_http_junk_gets_json_errors(
    sandbox: LocalSigstore, path: str, content: bytes, headers: dict[str, str]
) -> None:
    response = http().post(f"{sandbox.url}{path}", content=content, headers=headers)
    assert response.status_code in (400, 401, 404)
    assert "message" in response.json()
    assert http().get(f"{sandbox.url}/api/v1/log").status_code == 200


@pytest.mark.parametrize("length", ["-5", "abc", str(64 * 1024 * 1024)])
def test_bad_content_length_is_refused(sandbox: LocalSigstore, length: str) -> None:
    host, port = sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(
            f"POST /api/v1/log/entries HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        reply = b""
        while chunk := conn.recv(4096):
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    assert status in (400, 413)
    assert b'"message"' in reply


def test_sandbox_serve_refuses_bad_port_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    from hatch_sigstore.cli import main

    assert main(["sandbox", "serve", "--port", "70000"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --port 70000 is not a TCP port.")
    assert "Traceback" not in err


@pytest.mark.slow
def test_sandbox_serve_reports_a_busy_port(sandbox: LocalSigstore) -> None:
    port = sandbox.url.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-m", "hatch_sigstore", "sandbox", "serve", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"error: Cannot start the local Sigstore on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_own_temporary_state_is_removed_and_given_state_is_kept(tmp_path: Path) -> None:
    with LocalSigstore() as temporary:
        own = temporary.state_dir
        assert temporary.trust_config_path.is_file()
        assert json.loads((own / "sandbox.json").read_text())["url"] == temporary.url
    assert not own.exists()
    with LocalSigstore(state_dir=tmp_path / "kept") as kept:
        path = kept.trust_config_path
    assert path.is_file()


def test_leaf_has_the_extension_layout_of_a_real_gitlab_certificate(
    sandbox: LocalSigstore, real_world: Path
) -> None:
    """Same extensions, order and criticality as public Fulcio gave a gitlab.com pipeline.

    Only difference: current Fulcio also writes .24 (Token Subject), which that older
    certificate predates.
    """
    attestation = json.loads(
        (real_world / "gitlab_oidc_project-0.0.3.tar.gz.publish.attestation").read_text()
    )
    real = x509.load_der_x509_certificate(
        base64.b64decode(attestation["verification_material"]["certificate"])
    )
    ours = x509.load_pem_x509_certificate(
        issue(sandbox, ec.generate_private_key(ec.SECP256R1()))[0].encode()
    )
    real_layout = [(e.oid.dotted_string, e.critical) for e in real.extensions]
    expected = [*real_layout[:-1], (f"{OID}24", False), real_layout[-1]]
    assert [(e.oid.dotted_string, e.critical) for e in ours.extensions] == expected
    assert ours.subject == real.subject
    assert ours.signature_hash_algorithm is not None
    assert real.signature_hash_algorithm is not None
    assert ours.signature_hash_algorithm.name == real.signature_hash_algorithm.name
    assert (
        ours.not_valid_after_utc - ours.not_valid_before_utc
        == real.not_valid_after_utc - real.not_valid_before_utc
    )
