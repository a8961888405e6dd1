"""The local Sigstore's trust config (``_trust.py``): a ClientTrustConfig sigstore-python takes,
and a trust root that refuses another instance's bundles."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.errors import VerificationError
from sigstore.models import ClientTrustConfig
from sigstore.oidc import IdentityToken
from sigstore_helpers import (
    gitlab_policy,
    signing_context,
    verifier,
)

from hatch_sigstore.sandbox import LocalSigstore


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


def test_foreign_root_rejects_our_bundles(
    sandbox: LocalSigstore, other_sigstore: LocalSigstore
) -> None:
    with signing_context(sandbox).signer(IdentityToken(sandbox.mint_token())) as signer:
        bundle = signer.sign_artifact(b"ours")
    with pytest.raises(VerificationError):
        verifier(other_sigstore).verify_artifact(
            b"ours", bundle, gitlab_policy(sandbox.expected_identity())
        )
