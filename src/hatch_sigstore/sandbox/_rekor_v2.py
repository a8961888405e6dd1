"""The sandbox's Rekor v2 log (rekor-tiles API): hashedrekord 0.0.2 entries. NEVER for production.

``POST /api/v2/log/entries`` takes ``{"hashedRekordRequestV002": {...}}`` (sigstore-python also
sends DSSE envelopes this way: the digest of the envelope's PAE, rekor-v2-spec §6.1.4), checks
the signature with the submitted certificate's key, appends the canonical entry body to an
RFC 6962 tree and answers at once (the entry is already included) with a protobuf-JSON
``TransparencyLogEntry``: no integrated time or inclusion promise (v2 has none; signed time
comes from a timestamp authority), an inclusion proof and a C2SP signed-note checkpoint signed
with Ed25519, like rekor-tiles.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from hatch_sigstore.sandbox._merkle import MerkleTree, hash_leaf
from hatch_sigstore.sandbox._rekor import RekorRequestError, request_b64, request_field

_ERROR = "invalid request"  # how Rekor v2 words a 400

__all__ = ["TransparencyLogV2", "note_key_id"]

# keyDetails → (digest algorithm name in the entry, hash, digest size, curve)
_KEY_DETAILS: dict[str, tuple[str, type[hashes.HashAlgorithm], int, type[ec.EllipticCurve]]] = {
    "PKIX_ECDSA_P256_SHA_256": ("SHA2_256", hashes.SHA256, 32, ec.SECP256R1),
    "PKIX_ECDSA_P384_SHA_384": ("SHA2_384", hashes.SHA384, 48, ec.SECP384R1),
    "PKIX_ECDSA_P521_SHA_512": ("SHA2_512", hashes.SHA512, 64, ec.SECP521R1),
}


def note_key_id(name: str, key: ed25519.Ed25519PublicKey) -> bytes:
    """C2SP signed-note key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key).

    Its first four bytes are the key hint in each signature line.
    """
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()


def _field(obj: object, *path: str) -> Any:
    return request_field(obj, *path, error=_ERROR)


def _b64(value: object, what: str) -> bytes:
    return request_b64(value, what, error=_ERROR)


def canonical_body_v2(request: object) -> bytes:
    """Validate a ``CreateEntryRequest`` (checking its signature); return the entry body."""
    if not isinstance(request, dict) or "hashedRekordRequestV002" not in request:
        raise RekorRequestError(
            400, "invalid request: only hashedRekordRequestV002 is supported (sandbox)"
        )
    spec = request["hashedRekordRequestV002"]
    digest = _b64(_field(spec, "digest"), "digest")
    signature = _b64(_field(spec, "signature", "content"), "signature")
    details = _field(spec, "signature", "verifier", "keyDetails")
    der = _b64(_field(spec, "signature", "verifier", "x509Certificate", "rawBytes"), "certificate")
    if not isinstance(details, str) or details not in _KEY_DETAILS:
        raise RekorRequestError(400, f"invalid request: unsupported keyDetails {details!r}")
    algorithm, hash_cls, size, curve = _KEY_DETAILS[details]
    if len(digest) != size:
        raise RekorRequestError(400, "invalid request: digest length does not match keyDetails")
    try:
        key = x509.load_der_x509_certificate(der).public_key()
    except ValueError as exc:
        raise RekorRequestError(400, "invalid request: certificate is not DER") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, curve):
        raise RekorRequestError(400, "invalid request: key does not match keyDetails")
    try:
        key.verify(signature, digest, ec.ECDSA(Prehashed(hash_cls())))
    except InvalidSignature as exc:
        raise RekorRequestError(400, "invalid request: signature does not verify") from exc
    body: dict[str, Any] = {
        "kind": "hashedrekord",
        "apiVersion": "0.0.2",
        "spec": {
            "hashedRekordV002": {
                "data": {"algorithm": algorithm, "digest": base64.b64encode(digest).decode()},
                "signature": {
                    "content": base64.b64encode(signature).decode(),
                    "verifier": {
                        "x509Certificate": {"rawBytes": base64.b64encode(der).decode()},
                        "keyDetails": details,
                    },
                },
            }
        },
    }
    return rfc8785.dumps(body)


@dataclass(frozen=True)
class _Entry:
    body: bytes
    log_index: int


class TransparencyLogV2:
    """The v2 log: tree, entries, Ed25519 checkpoint key. State changes under one lock."""

    def __init__(self, *, origin: str = "sandbox-v2.rekor.local") -> None:
        self.key = ed25519.Ed25519PrivateKey.generate()
        self.origin = origin  # rekor-tiles: the origin line and the signer name are one
        self.log_id = note_key_id(origin, self.key.public_key())
        self._tree = MerkleTree()
        self._entries: list[_Entry] = []
        self._by_leaf: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._tree)

    def create(self, request: object) -> dict[str, Any]:
        """Integrate the entry (or find the same one); return its TransparencyLogEntry."""
        body = canonical_body_v2(request)
        leaf = hash_leaf(body)
        with self._lock:
            index = self._by_leaf.get(leaf)
            if index is None:  # rekor-tiles deduplicates and returns the existing entry
                index = self._tree.append_hash(leaf)
                self._entries.append(_Entry(body, index))
                self._by_leaf[leaf] = index
            return self._render(self._entries[index])

    def _render(self, entry: _Entry) -> dict[str, Any]:
        size = len(self._tree)
        root = self._tree.root(size)
        proof = self._tree.inclusion_proof(entry.log_index, size)
        return {
            "logIndex": str(entry.log_index),
            "logId": {"keyId": base64.b64encode(self.log_id).decode()},
            "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"},
            "inclusionProof": {
                "logIndex": str(entry.log_index),
                "rootHash": base64.b64encode(root).decode(),
                "treeSize": str(size),
                "hashes": [base64.b64encode(h).decode() for h in proof],
                "checkpoint": {"envelope": self.checkpoint(size, root)},
            },
            "canonicalizedBody": base64.b64encode(entry.body).decode(),
        }

    def checkpoint(self, size: int, root: bytes) -> str:
        """A C2SP signed note: ``origin``, size, root; one Ed25519 line (4-byte key hint)."""
        note = f"{self.origin}\n{size}\n{base64.b64encode(root).decode()}\n"
        signature = self.key.sign(note.encode())
        stamp = base64.b64encode(self.log_id[:4] + signature).decode()
        return f"{note}\n\u2014 {self.origin} {stamp}\n"
