"""The sandbox's Rekor v1 log: hashedrekord and dsse 0.0.1 entries. NEVER for production.

Entries are checked the way real Rekor checks them (the signature must verify with the
submitted certificate's key), stored as the RFC 8785 canonical body Rekor would store, and
appended to an RFC 6962 tree. Each answer carries a Signed Entry Timestamp and an inclusion
proof with a signed-note checkpoint, in the JSON shapes of Rekor's v1 API.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from hatch_sigstore.sandbox._merkle import MerkleTree, hash_leaf

__all__ = ["RekorRequestError", "TransparencyLog", "canonical_body"]

_HASHES: dict[str, tuple[type[hashes.HashAlgorithm], int]] = {
    "sha256": (hashes.SHA256, 32),
    "sha384": (hashes.SHA384, 48),
    "sha512": (hashes.SHA512, 64),
}


class RekorRequestError(Exception):
    """A refused entry: HTTP ``status`` and Rekor's ``{"code", "message"}`` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class _Entry:
    body: bytes
    integrated_time: int
    log_index: int
    set_b64: str


def request_field(obj: object, *path: str, error: str = "validation failure") -> Any:
    """``obj[path[0]][path[1]]…`` of a submitted entry, or a 400 naming the missing field.

    ``error`` is the log's wording: Rekor v1 says "validation failure", v2 "invalid request".
    """
    for name in path:
        if not isinstance(obj, dict) or name not in obj:
            raise RekorRequestError(400, f"{error}: missing {'.'.join(path)}")
        obj = obj[name]
    return obj


def request_b64(value: object, what: str, *, error: str = "validation failure") -> bytes:
    """Base64 bytes of a submitted entry: standard, else URL-safe (both Rekor APIs take both)."""
    if not isinstance(value, str):
        raise RekorRequestError(400, f"{error}: {what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII string
        try:
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except ValueError as exc:
            raise RekorRequestError(400, f"{error}: {what} is not base64") from exc


def _load_verifier(b64_pem: object) -> tuple[ec.EllipticCurvePublicKey, str]:
    """A submitted verifier (cert or key PEM, base64) → (EC key, canonical base64 PEM)."""
    pem = request_b64(b64_pem, "public key")
    try:
        if b"CERTIFICATE" in pem:
            cert = x509.load_pem_x509_certificate(pem)
            key = cert.public_key()
            canonical = cert.public_bytes(serialization.Encoding.PEM)
        else:
            key = serialization.load_pem_public_key(pem)  # type: ignore[assignment]
            canonical = key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise RekorRequestError(
            400, "validation failure: invalid public key or certificate"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise RekorRequestError(400, "validation failure: only ECDSA keys are supported (sandbox)")
    return key, base64.b64encode(canonical).decode()


def _hashedrekord(spec: object) -> dict[str, Any]:
    algorithm = request_field(spec, "data", "hash", "algorithm")
    value = request_field(spec, "data", "hash", "value")
    if not isinstance(algorithm, str) or algorithm not in _HASHES:
        raise RekorRequestError(
            400, f"validation failure: unsupported hash algorithm {algorithm!r}"
        )
    hash_cls, size = _HASHES[algorithm]
    try:
        digest = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        digest = b""
    if len(digest) != size:
        raise RekorRequestError(400, "validation failure: invalid hash value")
    signature = request_b64(request_field(spec, "signature", "content"), "signature")
    key, canonical_key = _load_verifier(request_field(spec, "signature", "publicKey", "content"))
    try:
        key.verify(signature, digest, ec.ECDSA(Prehashed(hash_cls())))
    except InvalidSignature as exc:
        raise RekorRequestError(
            400, "verifying signature: invalid signature when validating ASN.1 encoded signature"
        ) from exc
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": algorithm, "value": digest.hex()}},
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": canonical_key},
            },
        },
    }


def _pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _dsse(spec: object) -> dict[str, Any]:
    envelope_text = request_field(spec, "proposedContent", "envelope")
    verifiers = request_field(spec, "proposedContent", "verifiers")
    if not isinstance(envelope_text, str):
        raise RekorRequestError(400, "validation failure: envelope must be a JSON string")
    if not isinstance(verifiers, list) or not verifiers:
        raise RekorRequestError(400, "validation failure: at least one verifier is required")
    try:
        envelope = json.loads(envelope_text)
    except (ValueError, RecursionError) as exc:
        raise RekorRequestError(400, "validation failure: envelope is not JSON") from exc
    payload_type = request_field(envelope, "payloadType")
    payload = request_b64(request_field(envelope, "payload"), "payload")
    signatures = request_field(envelope, "signatures")
    if not isinstance(payload_type, str) or not isinstance(signatures, list) or not signatures:
        raise RekorRequestError(400, "validation failure: envelope has no signatures")
    keys = [_load_verifier(v) for v in verifiers]
    pae = _pae(payload_type, payload)
    # As rekor's dsse v0.0.1 ``verifyEnvelope``: every key must verify some signature (SHA-256
    # whatever the curve), every signature needs a key; the log keeps each signature as sent,
    # sorted, with its key's canonical PEM.
    sigs = [request_field(item, "sig") for item in signatures]
    decoded = [request_b64(sig, "signature") for sig in sigs]
    verifier_of: dict[str, str] = {}
    for key, canonical_key in keys:
        accepted = False
        for text, sig in zip(sigs, decoded, strict=True):
            try:
                key.verify(sig, pae, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                continue
            verifier_of[text] = canonical_key
            accepted = True
        if not accepted:
            raise RekorRequestError(400, "could not verify envelope: no signature matches a key")
    if len(verifier_of) != len(set(sigs)):
        raise RekorRequestError(400, "all signatures must have a key that verifies it")
    logged = [{"signature": s, "verifier": verifier_of[s]} for s in sorted(verifier_of)]
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(envelope_text.encode()).hexdigest(),
            },
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": logged,
        },
    }


def canonical_body(proposed: object) -> bytes:
    """Validate a proposed entry (checking its signature) and return Rekor's canonical body."""
    kind = request_field(proposed, "kind")
    version = request_field(proposed, "apiVersion")
    spec = request_field(proposed, "spec")
    if kind == "hashedrekord" and version == "0.0.1":
        body = _hashedrekord(spec)
    elif kind == "dsse" and version == "0.0.1":
        body = _dsse(spec)
    else:
        raise RekorRequestError(
            400, f"unsupported entry kind {kind!r} version {version!r} (sandbox)"
        )
    return rfc8785.dumps(body)


class TransparencyLog:
    """The log: tree, entries, key. All state changes under one lock."""

    def __init__(self, *, origin_host: str = "sandbox.rekor.local") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.log_id = hashlib.sha256(spki).digest()
        self.tree_id = secrets.randbelow(2**62) + 1
        self.name = origin_host
        self.origin = f"{origin_host} - {self.tree_id}"
        self._tree = MerkleTree()
        self._entries: list[_Entry] = []
        self._by_leaf: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def public_key_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def create(self, proposed: object) -> dict[str, Any]:
        """Integrate ``proposed``; return ``{uuid: entry}`` (Rekor's 201 body)."""
        body = canonical_body(proposed)
        leaf = hash_leaf(body)
        with self._lock:
            if leaf in self._by_leaf:
                raise RekorRequestError(
                    409,
                    "An equivalent entry already exists in the transparency log with UUID "
                    + leaf.hex(),
                )
            index = self._tree.append_hash(leaf)
            integrated = int(time.time())
            set_payload = rfc8785.dumps(
                {
                    "body": base64.b64encode(body).decode(),
                    "integratedTime": integrated,
                    "logID": self.log_id.hex(),
                    "logIndex": index,
                }
            )
            signature = self.key.sign(set_payload, ec.ECDSA(hashes.SHA256()))
            entry = _Entry(body, integrated, index, base64.b64encode(signature).decode())
            self._entries.append(entry)
            self._by_leaf[leaf] = index
            return {leaf.hex(): self._render(entry)}

    def retrieve(self, proposed_entries: object) -> list[dict[str, Any]]:
        """The entries matching the proposed ones (``/entries/retrieve``); unknown ones skipped."""
        if not isinstance(proposed_entries, list):
            raise RekorRequestError(400, "entries must be a list")
        results = []
        for proposed in proposed_entries:
            try:
                leaf = hash_leaf(canonical_body(proposed))
            except RekorRequestError:
                continue
            with self._lock:
                index = self._by_leaf.get(leaf)
                if index is not None:
                    results.append({leaf.hex(): self._render(self._entries[index])})
        return results

    def get(self, uuid: str) -> dict[str, Any] | None:
        try:
            leaf = bytes.fromhex(uuid[-64:])
        except ValueError:
            return None
        with self._lock:
            index = self._by_leaf.get(leaf)
            return None if index is None else {leaf.hex(): self._render(self._entries[index])}

    def info(self) -> dict[str, Any]:
        with self._lock:
            size = len(self._tree)
            root = self._tree.root(size)
            return {
                "rootHash": root.hex(),
                "treeSize": size,
                "signedTreeHead": self._checkpoint(size, root),
                "treeID": str(self.tree_id),
                "inactiveShards": [],
            }

    def __len__(self) -> int:
        with self._lock:
            return len(self._tree)

    # Callers hold the lock.
    def _render(self, entry: _Entry) -> dict[str, Any]:
        size = len(self._tree)
        root = self._tree.root(size)
        return {
            "body": base64.b64encode(entry.body).decode(),
            "integratedTime": entry.integrated_time,
            "logID": self.log_id.hex(),
            "logIndex": entry.log_index,
            "verification": {
                "signedEntryTimestamp": entry.set_b64,
                "inclusionProof": {
                    "logIndex": entry.log_index,
                    "rootHash": root.hex(),
                    "treeSize": size,
                    "hashes": [h.hex() for h in self._tree.inclusion_proof(entry.log_index, size)],
                    "checkpoint": self._checkpoint(size, root),
                },
            },
        }

    def _checkpoint(self, size: int, root: bytes) -> str:
        """A signed note (transparency-dev ``log/README.md``) over origin, size and root."""
        note = f"{self.origin}\n{size}\n{base64.b64encode(root).decode()}\n"
        signature = self.key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        stamp = base64.b64encode(self.log_id[:4] + signature).decode()
        return f"{note}\n\u2014 {self.name} {stamp}\n"
