"""The local Sigstore's transparency log (``_rekor.py``, Rekor v1): real inclusion proofs and
SETs, what it refuses, and junk it never chokes on."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore.oidc import IdentityToken
from sigstore_helpers import (
    http,
    issue,
    signing_context,
)

from hatch_sigstore.sandbox import LocalSigstore
from hatch_sigstore.sandbox._merkle import hash_leaf, root_from_inclusion_proof
from hatch_sigstore.sandbox._rekor import RekorRequestError, canonical_body


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


def test_bundles_carry_real_inclusion_proofs(sandbox: LocalSigstore) -> None:
    with signing_context(sandbox).signer(IdentityToken(sandbox.mint_token())) as signer:
        for i in range(3):  # entries before ours, whichever test ran first on this worker
            signer.sign_artifact(b"warm-up %d" % i)
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
