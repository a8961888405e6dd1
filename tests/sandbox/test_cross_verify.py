"""sigstore-js verifies what the local Sigstore makes: a second verifier beside sigstore-python.

``@sigstore/verify`` (npm, pinned in tools/dev.py) checks the bundles and PEP 740 attestations
that ``sign_files`` writes for the build hook against the sandbox's trusted root, offline:
certificate chain and SCT, Rekor's signed entry timestamp, inclusion proof and checkpoint, the
signature and the identity. The negatives (a changed byte, another identity, a foreign root, a
tampered log entry) fail there as they do in sigstore-python, and the same script accepts real
Sigstore's bundles against the production trusted root: a pass is no quirk of the script.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sigstore

from dev_cache import ROOT, SETUP_COMMAND, cache_dir, dev_script
from hatch_sigstore.sign import SignOptions, sign_files
from hatch_sigstore.trust import TrustChoice
from publish_helpers import make_sdist, make_wheel

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore

SCRIPT = ROOT / "tests" / "fixtures" / "sigstore-js-verify.js"
# The public-good instance's trusted root as sigstore-python ships it (for offline use).
PRODUCTION_ROOT = (
    Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
) / "trusted_root.json"
GITHUB_SAN = (
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
)
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_SAN = "https://gitlab.com/facutuesca/gitlab-oidc-project//.gitlab-ci.yml@refs/heads/main"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str  # sigstore-js's "CODE: message", or the script's own reason


Verify = Callable[[Path, Path, Path, str, str], Outcome]


def _missing() -> str | None:
    node = shutil.which("node")
    if node is None:
        return "the sigstore-js test needs Node.js 20.17+ (Debian: apt-get install nodejs npm)"
    prefix = cache_dir() / "node"
    absent = [s for s in dev_script().SIGSTORE_JS if not dev_script().npm_installed(s, prefix)]
    if absent:
        return f"{' '.join(absent)} not installed in {prefix}: run `{SETUP_COMMAND}`"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    major, minor = (int(p) for p in version.stdout.strip().lstrip("v").split(".")[:2])
    if (major, minor) < (20, 17):
        return f"@sigstore/verify 3.1 needs Node.js 20.17+; this is {version.stdout.strip()}"
    return None


@pytest.fixture(scope="module")
def verify_js() -> Verify:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI"):  # CI installs all of it: a missing piece there is a failure
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    env = {**os.environ, "NODE_PATH": str(cache_dir() / "node" / "node_modules")}

    def verify(trust: Path, bundle: Path, artifact: Path, san: str, issuer: str) -> Outcome:
        argv = ["node", str(SCRIPT), str(trust), str(bundle), str(artifact), san, issuer]
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode in (0, 1), done.stderr
        assert (done.returncode == 0) == (done.stdout == "OK\n"), done.stdout
        return Outcome(done.returncode == 0, done.stderr.strip())

    return verify


@dataclass(frozen=True)
class Signed:
    trust: Path  # the sandbox's ClientTrustConfig (its trustedRoot is what sigstore-js reads)
    san: str
    issuer: str
    wheel: Path
    sdist: Path


def _sign(sandbox: LocalSigstore, folder: Path, *, rekor_version: int = 1) -> Signed:
    files = [make_wheel(folder, "cross_pkg"), make_sdist(folder, "cross_pkg")]
    outputs = frozenset({"bundle"} if rekor_version == 2 else {"bundle", "attestation"})
    options = SignOptions(
        trust=TrustChoice.resolve(trust_config=sandbox.trust_config_path, env={}),
        outputs=outputs,
        rekor_version=rekor_version,
        token=sandbox.mint_token(),
        env={},
        ambient=False,
        timeout=30.0,
    )
    sign_files(files, options)
    identity = sandbox.expected_identity()
    assert identity.san is not None
    return Signed(sandbox.trust_config_path, identity.san, identity.issuer, *files)


@pytest.fixture(scope="module")
def signed(local_sigstore: LocalSigstore, tmp_path_factory: pytest.TempPathFactory) -> Signed:
    return _sign(local_sigstore, tmp_path_factory.mktemp("signed"))


@pytest.fixture(scope="module")
def signed_v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    from hatch_sigstore.sandbox import LocalSigstore

    state = tmp_path_factory.mktemp("sigstore-v2")
    with LocalSigstore(state_dir=state, rekor_v2=True) as sandbox:
        yield _sign(sandbox, tmp_path_factory.mktemp("signed-v2"), rekor_version=2)


def _bundle(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".sigstore.json")


def _attestation(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".publish.attestation")


# ------------------------------------------------------------------ what must verify


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_hashedrekord_bundle_verifies(verify_js: Verify, signed: Signed, kind: str) -> None:
    artifact: Path = getattr(signed, kind)
    bundle = json.loads(_bundle(artifact).read_text())
    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}
    assert {"inclusionPromise", "inclusionProof"} <= entry.keys()  # sigstore-js checks both
    outcome = verify_js(signed.trust, _bundle(artifact), artifact, signed.san, signed.issuer)
    assert outcome == Outcome(True, "")


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_pep740_attestation_verifies(verify_js: Verify, signed: Signed, kind: str) -> None:
    """The attestation (DSSE over an in-toto statement, a dsse 0.0.1 log entry) read as the
    bundle it stands for; the script also binds the statement's subject to the file."""
    artifact: Path = getattr(signed, kind)
    outcome = verify_js(signed.trust, _attestation(artifact), artifact, signed.san, signed.issuer)
    assert outcome == Outcome(True, "")


def test_rekor_v2_bundle_with_tsa_timestamp_verifies(
    verify_js: Verify, signed_v2: Signed, tmp_path: Path
) -> None:
    """hashedrekord 0.0.2 in a Rekor v2 log: no signed entry timestamp and no integrated time,
    so the inclusion proof's checkpoint and the RFC 3161 timestamp carry it all."""
    artifact = signed_v2.wheel
    bundle = json.loads(_bundle(artifact).read_text())
    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}
    assert "inclusionPromise" not in entry
    assert bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    trust, san, issuer = signed_v2.trust, signed_v2.san, signed_v2.issuer
    assert verify_js(trust, _bundle(artifact), artifact, san, issuer) == Outcome(True, "")
    changed = _flip_byte(artifact, tmp_path / artifact.name)
    outcome = verify_js(trust, _bundle(artifact), changed, san, issuer)
    assert outcome.error.startswith("SIGNATURE_ERROR:"), outcome


@pytest.mark.parametrize(
    ("bundle", "artifact", "san", "issuer"),
    [
        ("bundle_v3_github.whl.sigstore", "bundle_v3_github.whl", GITHUB_SAN, GITHUB_ISSUER),
        (
            "gitlab_oidc_project-0.0.3.tar.gz.publish.attestation",
            "gitlab_oidc_project-0.0.3.tar.gz",
            GITLAB_SAN,
            "https://gitlab.com",
        ),
    ],
    ids=["github-bundle", "gitlab-pep740"],
)
def test_real_world_verifies_against_the_production_root(
    verify_js: Verify, real_world: Path, bundle: str, artifact: str, san: str, issuer: str
) -> None:
    """The script is right on what real Fulcio and Rekor made, not only on the sandbox's."""
    outcome = verify_js(PRODUCTION_ROOT, real_world / bundle, real_world / artifact, san, issuer)
    assert outcome == Outcome(True, "")
    wrong = verify_js(PRODUCTION_ROOT, real_world / bundle, real_world / artifact, san[:-1], issuer)
    assert wrong.error.startswith("UNTRUSTED_SIGNER_ERROR: certificate identity error"), wrong


# ------------------------------------------------------------------ what must fail


def _flip_byte(path: Path, out: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    out.write_bytes(bytes(data))
    return out


def _b64_flip(value: str) -> str:
    data = bytearray(base64.b64decode(value))
    data[-1] ^= 0x01
    return base64.b64encode(bytes(data)).decode()


def _edit(entry: dict[str, Any], what: str) -> None:
    """Tamper with one part of a v0.3 bundle's log entry."""
    proof = entry["inclusionProof"]
    if what == "proof-hash":
        proof["hashes"][0] = _b64_flip(proof["hashes"][0])
    elif what == "checkpoint-root":  # the signed note's root hash line
        origin, size, root, rest = proof["checkpoint"]["envelope"].split("\n", 3)
        proof["checkpoint"]["envelope"] = "\n".join([origin, size, _b64_flip(root), rest])
    elif what == "checkpoint-signature":
        envelope: str = proof["checkpoint"]["envelope"]
        body, _, signature = envelope.rpartition("\n\u2014 ")
        name, _, sig = signature.partition(" ")
        proof["checkpoint"]["envelope"] = f"{body}\n\u2014 {name} {_b64_flip(sig.strip())}\n"
    elif what == "set":
        promise = entry["inclusionPromise"]
        promise["signedEntryTimestamp"] = _b64_flip(promise["signedEntryTimestamp"])
    elif what == "integrated-time":
        entry["integratedTime"] = str(int(entry["integratedTime"]) + 1)
    else:
        raise AssertionError(what)


@pytest.mark.parametrize(
    ("what", "code"),
    [
        ("proof-hash", "TLOG_INCLUSION_PROOF_ERROR"),
        ("checkpoint-root", "TLOG_INCLUSION_PROOF_ERROR"),
        ("checkpoint-signature", "TLOG_INCLUSION_PROOF_ERROR"),
        ("set", "TLOG_INCLUSION_PROMISE_ERROR"),
        ("integrated-time", "TLOG_INCLUSION_PROMISE_ERROR"),
    ],
)
def test_tampered_log_entry_fails(
    verify_js: Verify, signed: Signed, tmp_path: Path, what: str, code: str
) -> None:
    # the file logged second (they are logged concurrently): its proof has at least one hash
    bundles = {a: json.loads(_bundle(a).read_text()) for a in (signed.wheel, signed.sdist)}
    entries = {a: b["verificationMaterial"]["tlogEntries"][0] for a, b in bundles.items()}
    artifact = max(entries, key=lambda a: int(entries[a]["logIndex"]))
    assert entries[artifact]["inclusionProof"]["hashes"]
    _edit(entries[artifact], what)
    tampered = tmp_path / "tampered.sigstore.json"
    tampered.write_text(json.dumps(bundles[artifact]))
    outcome = verify_js(signed.trust, tampered, artifact, signed.san, signed.issuer)
    assert not outcome.ok
    assert outcome.error.startswith(f"{code}:"), outcome.error


@pytest.mark.parametrize("form", ["bundle", "attestation"])
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("changed-byte", {"bundle": "SIGNATURE_ERROR:", "attestation": "no subject"}),
        ("wrong-san", "UNTRUSTED_SIGNER_ERROR:"),
        ("san-prefix", "UNTRUSTED_SIGNER_ERROR:"),  # sigstore-js matches SANs as a regex
        ("wrong-issuer", "UNTRUSTED_SIGNER_ERROR:"),
        ("foreign-root", "CERTIFICATE_ERROR:"),
    ],
)
def test_what_must_fail_fails(
    verify_js: Verify,
    signed: Signed,
    other_sigstore: LocalSigstore,
    tmp_path: Path,
    form: str,
    case: str,
    expected: str | dict[str, str],
) -> None:
    artifact = signed.sdist
    bundle = _bundle(artifact) if form == "bundle" else _attestation(artifact)
    trust, san, issuer = signed.trust, signed.san, signed.issuer
    if case == "changed-byte":
        artifact = _flip_byte(artifact, tmp_path / artifact.name)
    elif case == "wrong-san":
        san = san.replace("@refs/", "@refs/tags/v6.6.6/")
    elif case == "san-prefix":
        san = san[: san.index("@") + 1]
    elif case == "wrong-issuer":
        issuer = "https://gitlab.com"
    elif case == "foreign-root":
        trust = other_sigstore.trust_config_path
    outcome = verify_js(trust, bundle, artifact, san, issuer)
    prefix = expected[form] if isinstance(expected, dict) else expected
    assert not outcome.ok
    assert outcome.error.startswith(prefix), outcome.error
