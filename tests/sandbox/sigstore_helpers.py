"""Helpers for the local Sigstore's tests: one HTTP client, sigstore-python's signer and
verifier on the sandbox's trust config, a GitLab policy, CSRs and Fulcio requests."""

from __future__ import annotations

import atexit
import base64
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.models import ClientTrustConfig
from sigstore.sign import SigningContext
from sigstore.verify import Verifier, policy

from hatch_sigstore.identity import ExpectedIdentity
from hatch_sigstore.sandbox import LocalSigstore

OID = "1.3.6.1.4.1.57264.1."  # Fulcio's certificate extensions
_client: list[httpx.Client] = []


def http() -> httpx.Client:
    """One keep-alive client for the test process (a fresh httpx.Client per call costs ~50 ms)."""
    if not _client:
        _client.append(httpx.Client(timeout=30))
        atexit.register(_client[0].close)
    return _client[0]


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
