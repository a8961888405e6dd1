"""Rekor v2 and the RFC 3161 timestamp authority of ``LocalSigstore(rekor_v2=True)``.

Signed with hatch-sigstore over real HTTP, checked with hatch-sigstore's verifier and with the
unmodified ``python -m sigstore verify``; tampering with the artifact, the timestamp or the
inclusion proof must fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from rfc3161_client import TimestampRequestBuilder, VerifierBuilder, decode_timestamp_response
from rfc3161_client.base import HashAlgorithm
from sigstore.hashes import Hashed
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier, policy
from sigstore_models.common.v1 import HashAlgorithm as SigstoreHash

from hatch_sigstore.sandbox import LocalSigstore
from hatch_sigstore.sandbox._merkle import hash_leaf, root_from_inclusion_proof
from hatch_sigstore.sign import SigningSession, SignOptions
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import Policy, verify_files
from publish_helpers import make_sdist, make_wheel


@pytest.fixture(scope="module")
def v2_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSigstore]:
    with LocalSigstore(state_dir=tmp_path_factory.mktemp("sigstore-v2"), rekor_v2=True) as s:
        yield s


@pytest.fixture(scope="module")
def signed(v2_sandbox: LocalSigstore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel signed with --rekor-version 2 (bundle next to it)."""
    folder = tmp_path_factory.mktemp("signed-v2")
    wheel = make_wheel(folder, "pkg", "1.0", payload=b"a wheel signed into rekor v2\n" * 50)
    options = SignOptions(
        trust=TrustChoice.resolve(trust_config=v2_sandbox.trust_config_path, env={}),
        env={},
        ambient=False,
        token=v2_sandbox.mint_token(),
        timeout=5.0,
        rekor_version=2,
    )
    with SigningSession(options) as session:
        session.sign([wheel])
    return wheel


def bundle_json(artifact: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(f"{artifact}.sigstore.json").read_text())
    return data


def hatch_verify(sandbox: LocalSigstore, artifact: Path) -> tuple[bool, str | None]:
    (result,) = verify_files(
        [artifact],
        Policy.gitlab(sandbox.expected_identity()),
        TrustChoice.resolve(trust_config=sandbox.trust_config_path, env={}),
    )
    return result.ok, result.reason


def sigstore_cli_verify(sandbox: LocalSigstore, artifact: Path, bundle: Path) -> int:
    san = sandbox.expected_identity().san
    assert san is not None
    command = [sys.executable, "-m", "sigstore", "--trust-config", str(sandbox.trust_config_path)]
    command += ["verify", "identity", "--offline", "--bundle", str(bundle)]
    command += ["--cert-identity", san, "--cert-oidc-issuer", sandbox.gitlab_url, str(artifact)]
    return subprocess.run(command, capture_output=True, timeout=60, check=False).returncode


def copy_with(tmp: Path, artifact: Path, bundle: dict[str, Any]) -> tuple[Path, Path]:
    """The artifact and a (modified) bundle, side by side in ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    copy = tmp / artifact.name
    copy.write_bytes(artifact.read_bytes())
    side = Path(f"{copy}.sigstore.json")
    side.write_text(json.dumps(bundle))
    return copy, side


# ------------------------------------------------------------------ trust config


def test_v2_and_tsa_only_with_the_option(
    v2_sandbox: LocalSigstore, local_sigstore: LocalSigstore
) -> None:
    plain = local_sigstore.trust_config
    assert [s["majorApiVersion"] for s in plain["signingConfig"]["rekorTlogUrls"]] == [1]
    assert plain["signingConfig"]["tsaUrls"] == []
    assert plain["trustedRoot"]["timestampAuthorities"] == []
    assert "tsa" not in local_sigstore.stats
    config = v2_sandbox.trust_config
    assert [s["majorApiVersion"] for s in config["signingConfig"]["rekorTlogUrls"]] == [1, 2]
    assert config["signingConfig"]["tsaUrls"][0]["url"] == f"{v2_sandbox.url}/api/v1/timestamp"
    tlogs = config["trustedRoot"]["tlogs"]
    assert [t["publicKey"]["keyDetails"] for t in tlogs] == [
        "PKIX_ECDSA_P256_SHA_256",
        "PKIX_ED25519",
    ]
    assert len(config["trustedRoot"]["timestampAuthorities"][0]["certChain"]["certificates"]) == 2
    ClientTrustConfig.from_json(json.dumps(config))  # sigstore accepts it


def test_plain_sandbox_has_no_v2_routes(local_sigstore: LocalSigstore) -> None:
    assert (
        requests.post(f"{local_sigstore.url}/api/v2/log/entries", json={}, timeout=5).status_code
        == 404
    )
    with pytest.raises(RuntimeError):
        local_sigstore.tsa_chain  # noqa: B018


# ------------------------------------------------------------------ timestamp authority


def test_tsa_answers_rfc3161(v2_sandbox: LocalSigstore) -> None:
    request = TimestampRequestBuilder().hash_algorithm(HashAlgorithm.SHA256).data(b"msg").build()
    answer = requests.post(
        f"{v2_sandbox.url}/api/v1/timestamp",
        data=request.as_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
        timeout=5,
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/timestamp-reply"
    response = decode_timestamp_response(answer.content)
    assert response.tst_info.nonce == request.nonce
    leaf, root = v2_sandbox.tsa_chain
    verifier = VerifierBuilder().tsa_certificate(leaf).add_root_certificate(root).build()
    assert verifier.verify_message(response, b"msg")
    chain = requests.get(f"{v2_sandbox.url}/api/v1/timestamp/certchain", timeout=5)
    assert chain.text.count("BEGIN CERTIFICATE") == 2


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"not der", "application/timestamp-query", 400),
        (b"\x30\x03\x02\x01\x01", "application/timestamp-query", 400),
        (b"", "application/json", 415),
    ],
)
def test_tsa_refuses_bad_requests(
    v2_sandbox: LocalSigstore, body: bytes, content_type: str, status: int
) -> None:
    answer = requests.post(
        f"{v2_sandbox.url}/api/v1/timestamp",
        data=body,
        headers={"Content-Type": content_type},
        timeout=5,
    )
    assert answer.status_code == status


# ------------------------------------------------------------------ rekor v2 wire


def test_entry_shape_and_proof(v2_sandbox: LocalSigstore, signed: Path) -> None:
    bundle = bundle_json(signed)
    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}
    assert "inclusionPromise" not in entry
    assert int(entry.get("integratedTime", 0)) == 0
    assert (
        len(bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]) == 1
    )
    body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
    data = body["spec"]["hashedRekordV002"]["data"]
    assert data == {
        "algorithm": "SHA2_256",
        "digest": base64.b64encode(hashlib.sha256(signed.read_bytes()).digest()).decode(),
    }
    proof = entry["inclusionProof"]
    root = root_from_inclusion_proof(
        hash_leaf(base64.b64decode(entry["canonicalizedBody"])),
        int(proof["logIndex"]),
        int(proof["treeSize"]),
        [base64.b64decode(h) for h in proof.get("hashes", [])],
    )
    assert root == base64.b64decode(proof["rootHash"])
    note = proof["checkpoint"]["envelope"]
    # rekor-tiles: the origin is the log's host, which the trusted root's baseUrl names
    origin = urlsplit(v2_sandbox.url).netloc
    assert note.startswith(f"{origin}\n{proof['treeSize']}\n{proof['rootHash']}\n\n")
    assert note.endswith("\n")
    assert f"\n\n\u2014 {origin} " in note
    assert v2_sandbox.log_v2_size >= 1


def test_rekor_v2_refuses_a_bad_signature(v2_sandbox: LocalSigstore, signed: Path) -> None:
    bundle = bundle_json(signed)
    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    spec = json.loads(base64.b64decode(entry["canonicalizedBody"]))["spec"]["hashedRekordV002"]
    request = {
        "hashedRekordRequestV002": {
            "digest": base64.b64encode(hashlib.sha256(b"other").digest()).decode(),
            "signature": spec["signature"],
        }
    }
    answer = requests.post(f"{v2_sandbox.url}/api/v2/log/entries", json=request, timeout=5)
    assert answer.status_code == 400
    request["hashedRekordRequestV002"]["digest"] = spec["data"]["digest"]
    again = requests.post(f"{v2_sandbox.url}/api/v2/log/entries", json=request, timeout=5)
    assert again.status_code == 200  # the same entry: found, not appended twice
    assert again.json()["logIndex"] == entry["logIndex"]
    assert (
        requests.post(f"{v2_sandbox.url}/api/v2/log/entries", json={}, timeout=5).status_code == 400
    )


# ------------------------------------------------------------------ end to end


def test_v2_bundle_verifies(v2_sandbox: LocalSigstore, signed: Path) -> None:
    assert hatch_verify(v2_sandbox, signed) == (True, None)
    bundle = Path(f"{signed}.sigstore.json")
    assert sigstore_cli_verify(v2_sandbox, signed, bundle) == 0
    # and sigstore's API, with the signed time coming only from the TSA
    config = ClientTrustConfig.from_json(v2_sandbox.trust_config_path.read_text())
    san = v2_sandbox.expected_identity().san
    assert san is not None
    Verifier(trusted_root=config.trusted_root).verify_artifact(
        Hashed(
            algorithm=SigstoreHash.SHA2_256, digest=hashlib.sha256(signed.read_bytes()).digest()
        ),
        Bundle.from_json(bundle.read_bytes()),
        policy.Identity(identity=san, issuer=v2_sandbox.gitlab_url),
    )


def test_tampered_artifact_fails(v2_sandbox: LocalSigstore, signed: Path, tmp_path: Path) -> None:
    artifact, side = copy_with(tmp_path, signed, bundle_json(signed))
    artifact.write_bytes(artifact.read_bytes() + b"x")
    ok, reason = hatch_verify(v2_sandbox, artifact)
    assert not ok
    assert reason
    assert sigstore_cli_verify(v2_sandbox, artifact, side) != 0


def _flip_last_byte(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _tamper_timestamp(material: dict[str, Any]) -> None:
    stamps = material["timestampVerificationData"]["rfc3161Timestamps"]
    stamps[0]["signedTimestamp"] = _flip_last_byte(stamps[0]["signedTimestamp"])  # the signature


def _tamper_inclusion_proof(material: dict[str, Any]) -> None:
    proof = material["tlogEntries"][0]["inclusionProof"]
    proof["rootHash"] = _flip_last_byte(proof["rootHash"])


def _tamper_checkpoint_signature(material: dict[str, Any]) -> None:
    checkpoint = material["tlogEntries"][0]["inclusionProof"]["checkpoint"]
    head, stamp = checkpoint["envelope"].rstrip("\n").rsplit(" ", 1)
    checkpoint["envelope"] = f"{head} {_flip_last_byte(stamp)}\n"


@pytest.mark.parametrize(
    ("tamper", "needle"),
    [
        (_tamper_timestamp, "sources of verified time"),
        (_tamper_inclusion_proof, "inclusion proof"),
        (_tamper_checkpoint_signature, "checkpoint: invalid signature"),
    ],
    ids=["timestamp", "inclusion-proof", "checkpoint-signature"],
)
def test_tampered_bundle_fails(
    v2_sandbox: LocalSigstore,
    signed: Path,
    tmp_path: Path,
    tamper: Callable[[dict[str, Any]], None],
    needle: str,
) -> None:
    bundle = bundle_json(signed)
    tamper(bundle["verificationMaterial"])
    artifact, side = copy_with(tmp_path, signed, bundle)
    ok, reason = hatch_verify(v2_sandbox, artifact)
    assert not ok
    assert reason
    assert needle in reason
    assert sigstore_cli_verify(v2_sandbox, artifact, side) != 0


def test_v1_stays_the_default_in_a_v2_sandbox(v2_sandbox: LocalSigstore, tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path, "pkg", "1.1", payload=b"signed into rekor v1\n")
    before = v2_sandbox.log_v2_size
    options = SignOptions(
        trust=TrustChoice.resolve(trust_config=v2_sandbox.trust_config_path, env={}),
        env={},
        ambient=False,
        token=v2_sandbox.mint_token(),
        timeout=5.0,
    )
    with SigningSession(options) as session:
        session.sign([sdist])
    (entry,) = bundle_json(sdist)["verificationMaterial"]["tlogEntries"]
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}
    assert v2_sandbox.log_v2_size == before
    assert hatch_verify(v2_sandbox, sdist) == (True, None)


def test_tsa_fault_signs_nothing(v2_sandbox: LocalSigstore, tmp_path: Path) -> None:
    """A v2 entry has no signed time of its own: without a timestamp no bundle can be built."""
    from hatch_sigstore.errors import SigningError
    from hatch_sigstore.sign import sign_files

    artifact = tmp_path / "a.bin"
    artifact.write_bytes(b"never signed")
    v2_sandbox.fail_next("tsa", 503)
    try:
        options = SignOptions(
            trust=TrustChoice.resolve(trust_config=v2_sandbox.trust_config_path, env={}),
            env={},
            ambient=False,
            token=v2_sandbox.mint_token(),
            timeout=5.0,
            rekor_version=2,
        )
        with pytest.raises(SigningError, match="Nothing was signed") as info:
            sign_files([artifact], options)
        # The message blames the timestamp authority, not the log.
        assert "timestamp authority" in str(info.value)
        assert "not a valid log entry" not in str(info.value)
    finally:
        v2_sandbox.clear_faults()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_tsa_is_a_fault_service_only_with_rekor_v2(
    v2_sandbox: LocalSigstore, local_sigstore: LocalSigstore
) -> None:
    with pytest.raises(ValueError, match="unknown service"):
        local_sigstore.fail_next("tsa")
    v2_sandbox.fail_next("tsa", 502)
    try:
        answer = requests.post(
            f"{v2_sandbox.url}/api/v1/timestamp",
            data=b"",
            headers={"Content-Type": "application/timestamp-query"},
            timeout=5,
        )
        assert answer.status_code == 502
    finally:
        v2_sandbox.clear_faults()


# ------------------------------------------------------------------ command line


def test_cli_sign_rekor_version_2(
    v2_sandbox: LocalSigstore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hatch_sigstore.cli import main

    for name in ("GITLAB_CI", "GITHUB_ACTIONS", "HATCH_SIGSTORE_TRUST_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", v2_sandbox.mint_token())
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(b"signed from the command line\n")
    before = v2_sandbox.log_v2_size
    trust = ["--trust-config", str(v2_sandbox.trust_config_path)]
    assert main(["sign", str(wheel), "--no-cosign", "--rekor-version", "2", *trust]) == 0
    assert f"signed {wheel}" in capsys.readouterr().out
    assert v2_sandbox.log_v2_size == before + 1
    (entry,) = bundle_json(wheel)["verificationMaterial"]["tlogEntries"]
    assert entry["kindVersion"]["version"] == "0.0.2"
    assert sigstore_cli_verify(v2_sandbox, wheel, Path(f"{wheel}.sigstore.json")) == 0


def test_sandbox_serve_rekor_v2_flag(tmp_path: Path) -> None:
    state = tmp_path / "state"
    command = [sys.executable, "-m", "hatch_sigstore", "sandbox", "serve", "--rekor-v2"]
    process = subprocess.Popen(
        [*command, "--state-dir", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (state / "sandbox.json").exists():
            assert process.poll() is None
            assert time.monotonic() < deadline, "sandbox serve did not come up"
            time.sleep(0.05)
        config = json.loads((state / "trust_config.json").read_text())
        versions = [s["majorApiVersion"] for s in config["signingConfig"]["rekorTlogUrls"]]
        assert versions == [1, 2]
        assert len(config["signingConfig"]["tsaUrls"]) == 1
    finally:
        process.terminate()
        process.wait(timeout=15)
