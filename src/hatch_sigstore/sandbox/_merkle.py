"""An append-only RFC 6962 Merkle tree with inclusion proofs (sandbox Rekor). NEVER for production.

Leaf hash ``SHA256(0x00 || data)``, node hash ``SHA256(0x01 || left || right)``; the tree over
``n`` leaves splits at the largest power of two below ``n`` (RFC 6962 §2.1). Audit paths are
ordered from the leaf up, the order sigstore-python and cosign expect.

Not thread-safe: the owner holds a lock around :meth:`append` and the proof it reads.
"""

from __future__ import annotations

import hashlib

__all__ = ["MerkleTree", "hash_children", "hash_leaf"]

_EMPTY_ROOT = hashlib.sha256(b"").digest()


def hash_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """Leaf hashes in order, plus a cache of complete (power-of-two, aligned) subtree hashes.

    A complete subtree never changes once all its leaves exist, so caching it keeps roots and
    proofs at O(log² n) hashing after the first call instead of O(n).
    """

    def __init__(self) -> None:
        self._leaves: list[bytes] = []
        self._complete: dict[tuple[int, int], bytes] = {}

    def __len__(self) -> int:
        return len(self._leaves)

    def append(self, data: bytes) -> int:
        """Add the leaf for ``data``; return its index."""
        return self.append_hash(hash_leaf(data))

    def append_hash(self, leaf_hash: bytes) -> int:
        if len(leaf_hash) != 32:
            raise ValueError("a leaf hash is 32 bytes")
        self._leaves.append(leaf_hash)
        return len(self._leaves) - 1

    def leaf_hash(self, index: int) -> bytes:
        return self._leaves[index]

    def _subtree(self, start: int, size: int) -> bytes:
        """MTH(D[start:start+size])."""
        if size == 1:
            return self._leaves[start]
        complete = size & (size - 1) == 0
        if complete:
            cached = self._complete.get((start, size))
            if cached is not None:
                return cached
        k = _split(size)
        value = hash_children(self._subtree(start, k), self._subtree(start + k, size - k))
        if complete:
            self._complete[(start, size)] = value
        return value

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the first ``size`` leaves (default: all)."""
        size = len(self._leaves) if size is None else size
        self._check_size(size)
        if size == 0:
            return _EMPTY_ROOT
        return self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of the first ``size`` leaves, leaf first."""
        size = len(self._leaves) if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is outside a tree of size {size}")
        path: list[bytes] = []
        start, n, m = 0, size, index
        # Walk from the root down, collecting the sibling subtree at each split; reversed at the
        # end so the path runs leaf → root (RFC 6962 §2.1.1 PATH(m, D[n])).
        while n > 1:
            k = _split(n)
            if m < k:
                path.append(self._subtree(start + k, n - k))
                n = k
            else:
                path.append(self._subtree(start, k))
                start, n, m = start + k, n - k, m - k
        path.reverse()
        return path

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= len(self._leaves):
            raise ValueError(f"tree size {size} is outside 0..{len(self._leaves)}")


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """Recompute a root from a leaf hash and its audit path (RFC 9162 §2.1.3.2).

    An independent check for the tests and for clients; raises ``ValueError`` on a malformed proof.
    """
    if not 0 <= index < size:
        raise ValueError("index outside tree")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r
