"""The sandbox Rekor's RFC 6962 tree, checked against sigstore-python's own proof verifier."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore._internal import merkle as sigstore_merkle

from hatch_sigstore.sandbox._merkle import (
    MerkleTree,
    hash_children,
    hash_leaf,
    root_from_inclusion_proof,
)


def naive_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 6962 §2.1, recursion and all."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:])).digest()


def sigstore_root(leaf_data: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """The root sigstore-python's ``verify_merkle_inclusion`` computes from a proof."""
    inner, border = sigstore_merkle._decomp_inclusion_proof(index, size)
    assert len(proof) == inner + border, "proof length differs from what sigstore expects"
    seed = sigstore_merkle._chain_inner(sigstore_merkle._hash_leaf(leaf_data), proof[:inner], index)
    return sigstore_merkle._chain_border_right(seed, proof[inner:])


def build(n: int) -> tuple[MerkleTree, list[bytes]]:
    tree = MerkleTree()
    data = [f"entry-{i}".encode() for i in range(n)]
    for i, d in enumerate(data):
        assert tree.append(d) == i
    return tree, data


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert MerkleTree().root() == hashlib.sha256(b"").digest()


def test_hashes_use_rfc6962_prefixes() -> None:
    assert hash_leaf(b"x") == hashlib.sha256(b"\x00x").digest()
    assert (
        hash_children(b"a" * 32, b"b" * 32)
        == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )


@pytest.mark.parametrize("size", [*range(1, 34), 63, 64, 65, 100, 127, 128, 129])
def test_every_proof_verifies_with_sigstore(size: int) -> None:
    tree, data = build(size)
    root = tree.root()
    assert root == naive_root(data)
    for index in range(size):
        proof = tree.inclusion_proof(index)
        assert sigstore_root(data[index], index, size, proof) == root
        assert root_from_inclusion_proof(hash_leaf(data[index]), index, size, proof) == root


def test_proofs_for_older_tree_sizes() -> None:
    """A proof against an earlier size matches that size's root (what a stale checkpoint shows)."""
    tree, data = build(50)
    for size in (1, 2, 7, 16, 31, 50):
        root = tree.root(size)
        assert root == naive_root(data[:size])
        for index in (0, size // 2, size - 1):
            proof = tree.inclusion_proof(index, size)
            assert sigstore_root(data[index], index, size, proof) == root


@settings(max_examples=60, deadline=None)
@given(
    leaves=st.lists(st.binary(max_size=40), min_size=1, max_size=80),
    pick=st.integers(min_value=0),
    flip=st.integers(min_value=0),
)
def test_tampered_proofs_fail(leaves: list[bytes], pick: int, flip: int) -> None:
    tree = MerkleTree()
    for leaf in leaves:
        tree.append(leaf)
    size = len(leaves)
    index = pick % size
    proof = tree.inclusion_proof(index)
    root = tree.root()
    assert sigstore_root(leaves[index], index, size, proof) == root
    assert root == naive_root(leaves)
    if proof:
        hashes = list(proof)
        which = flip % len(hashes)
        damaged = bytearray(hashes[which])
        damaged[flip % 32] ^= 0x01
        hashes[which] = bytes(damaged)
        assert sigstore_root(leaves[index], index, size, hashes) != root
    # Another leaf at the same position never verifies.
    assert sigstore_root(leaves[index] + b"!", index, size, proof) != root


@pytest.mark.parametrize(
    ("index", "size"),
    [(0, 0), (5, 5), (-1, 3), (0, 11)],
)
def test_out_of_range_requests_are_refused(index: int, size: int) -> None:
    tree, _ = build(10)
    with pytest.raises(ValueError, match="outside"):
        tree.inclusion_proof(index, size)


@pytest.mark.parametrize("extra", [1, -1])
def test_independent_verifier_rejects_wrong_proof_lengths(extra: int) -> None:
    tree, data = build(13)
    proof = tree.inclusion_proof(6)
    bad = [*proof, b"\x00" * 32] if extra > 0 else proof[:-1]
    with pytest.raises(ValueError, match="proof too"):
        root_from_inclusion_proof(hash_leaf(data[6]), 6, 13, bad)


def test_leaf_hash_length_is_checked() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleTree().append_hash(b"short")
