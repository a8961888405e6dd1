"""verify_file(s) on real-world artifacts: certificates the public Sigstore issued in GitLab CI
and GitHub Actions, checked offline against the production root (no server at all)."""

from __future__ import annotations

import base64
import json
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hatch_sigstore.errors import TrustConfigError, VerificationError
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import (
    FileResult,
    Policy,
    require_verified,
    verify_file,
    verify_files,
)

if TYPE_CHECKING:
    pass

from verify_helpers import (
    GITHUB_ISSUER,
    GITHUB_SAN,
    GITLAB_PROJECT,
    PRODUCTION,
    SDIST,
    WHEEL,
    copy_with_sidecars,
    flip_byte,
    gh,
    gl,
)

# --- real world: production root, offline -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "policy", "ok", "reason"),
    [
        (SDIST, gl(), True, None),
        (SDIST, gl(ref="refs/heads/main", project_id="55235664"), True, None),
        (SDIST, gl(ref_glob="refs/heads/*", runner_environment="gitlab-hosted"), True, None),
        (SDIST, gl(sha="72f7c63b75eb55ea80864962f0e645c93414da34"), True, None),
        (SDIST, gl("facutuesca/other-project"), False, "source repository"),
        (SDIST, gl("facutuesca/gitlab-oidc-project/sub"), False, "source repository"),
        (
            SDIST,
            gl(ref="refs/heads/dev"),
            False,
            "is 'refs/heads/main', expected ref 'refs/heads/dev'",
        ),
        (SDIST, gl(ref="refs/tags/main"), False, "expected ref 'refs/tags/main'"),
        (SDIST, gl(ref_glob="refs/tags/*"), False, "expected ref pattern 'refs/tags/*'"),
        (SDIST, gl(project_id="55235665"), False, "is '55235664', expected project id '55235665'"),
        (SDIST, gl(server="https://gitlab.example.com"), False, "issuer"),
        (SDIST, gl(config_path="release.yml"), False, "CI config release.yml"),
        (SDIST, gl(runner_environment="self-hosted"), False, "expected runner environment"),
        (SDIST, gh(), False, "expected identity"),
        (WHEEL, gh(), True, None),
        (
            WHEEL,
            Policy.cosign(
                cert_identity_regexp="^https://github.com/trailofbits/",
                cert_oidc_issuer=GITHUB_ISSUER,
            ),
            True,
            None,
        ),
        (
            WHEEL,
            gh(issuer="https://gitlab.com"),
            False,
            "expected OIDC issuer 'https://gitlab.com'",
        ),
        (WHEEL, gh(identity=GITHUB_SAN.replace("v0.1.2", "v0.1.3")), False, "expected identity"),
        (WHEEL, gl(), False, "issuer"),
    ],
)
def test_real_world(
    real_world: Path, name: str, policy: Policy, ok: bool, reason: str | None
) -> None:
    result = verify_file(real_world / name, policy, PRODUCTION)
    assert result.ok is ok, result.reason
    assert result.sidecar == ("attestation" if name == SDIST else "bundle")
    if reason is None:
        assert result.reason is None
    else:
        assert result.reason is not None
        assert result.reason.startswith("wrong signer")
        assert reason in result.reason
        assert "--" not in result.reason  # names no CLI flag: every frontend shows it


def test_real_world_claims_are_reported(real_world: Path) -> None:
    sdist, wheel = verify_files([real_world / SDIST, real_world / WHEEL], gl(), PRODUCTION)
    assert sdist == FileResult(
        artifact=real_world / SDIST,
        ok=True,
        sidecar="attestation",
        sha256="c1ca9b0d85df1606451098233018534497bf584362e10e4a8c21dfaea92c02a8",
        identity=f"https://gitlab.com/{GITLAB_PROJECT}//.gitlab-ci.yml@refs/heads/main",
        issuer="https://gitlab.com",
        reason=None,
        ref="refs/heads/main",
        repository=f"https://gitlab.com/{GITLAB_PROJECT}",
        project_id="55235664",
        # the release its own PKG-INFO names (bound: it agrees with the file name)
        name="gitlab-oidc-project",
        version="0.0.3",
        # the sidecar read, with the sha256 of the bytes that verified
        sidecar_files=(
            (
                f"{SDIST}.publish.attestation",
                "b790801779c2654a7138e0212b701582ade5785bc8299bbb29d2580e4586ffd2",
            ),
        ),
    )
    # a failure still says who did sign
    assert not wheel.ok
    assert wheel.identity == GITHUB_SAN
    assert wheel.issuer == GITHUB_ISSUER


@pytest.mark.parametrize(("name", "policy"), [(SDIST, gl()), (WHEEL, gh())])
@pytest.mark.parametrize("offset", [0, 5000, -1])
def test_real_world_changed_byte_fails(
    real_world: Path, tmp_path: Path, name: str, policy: Policy, offset: int
) -> None:
    artifact = copy_with_sidecars(real_world, name, tmp_path)
    assert verify_file(artifact, policy, PRODUCTION).ok
    flip_byte(artifact, offset)
    result = verify_file(artifact, policy, PRODUCTION)
    assert not result.ok
    assert result.reason is not None
    assert "changed" in result.reason


def test_attestation_for_another_file_name_fails(real_world: Path, tmp_path: Path) -> None:
    renamed = copy_with_sidecars(real_world, SDIST, tmp_path, "gitlab_oidc_project-0.0.4.tar.gz")
    result = verify_file(renamed, gl(), PRODUCTION)
    assert not result.ok
    assert "subject" in (result.reason or "")
    # a name differing only by normalization is the same distribution (as PyPI accepts it)
    same = copy_with_sidecars(real_world, SDIST, tmp_path, "Gitlab_OIDC_project-0.0.3.tar.gz")
    assert verify_file(same, gl(), PRODUCTION).ok


def test_bundle_of_another_file_fails(real_world: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.whl"
    other.write_bytes(b"not the wheel")
    shutil.copyfile(real_world / f"{WHEEL}.sigstore", tmp_path / "other.whl.sigstore.json")
    result = verify_file(other, gh(), PRODUCTION)
    assert not result.ok
    assert "another file" in (result.reason or "")


def test_foreign_root_fails(real_world: Path) -> None:
    result = verify_file(real_world / WHEEL, gh(), TrustChoice("staging"))
    assert not result.ok
    assert "does not chain" in (result.reason or "")
    assert "trust config" in (result.reason or "")
    assert "--" not in (result.reason or "")  # no CLI flag: the publisher shows it too


def _bundle_doc(real_world: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((real_world / f"{WHEEL}.sigstore").read_text())
    return doc


def _edit_proof(doc: dict[str, Any]) -> None:
    proof = doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    first = base64.b64decode(proof["hashes"][0])
    proof["hashes"][0] = base64.b64encode(bytes([first[0] ^ 1]) + first[1:]).decode()


def _edit_signature(doc: dict[str, Any]) -> None:
    sig = base64.b64decode(doc["messageSignature"]["signature"])
    doc["messageSignature"]["signature"] = base64.b64encode(
        sig[:-1] + bytes([sig[-1] ^ 1])
    ).decode()


def _edit_set(doc: dict[str, Any]) -> None:
    entry = doc["verificationMaterial"]["tlogEntries"][0]
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 1)


def _edit_media_type(doc: dict[str, Any]) -> None:
    doc["mediaType"] = "application/vnd.example.unknown+json"


def _drop_proof(doc: dict[str, Any]) -> None:
    del doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]


def _drop_certificate(doc: dict[str, Any]) -> None:
    material = doc["verificationMaterial"]
    material.pop("certificate", None)  # v0.3
    material.pop("x509CertificateChain", None)  # v0.1/v0.2


def _garbage_certificate(doc: dict[str, Any]) -> None:
    material = doc["verificationMaterial"]
    slot = material.get("certificate") or material["x509CertificateChain"]["certificates"][0]
    slot["rawBytes"] = base64.b64encode(b"0" * 40).decode()


def _empty_log_body(doc: dict[str, Any]) -> None:
    doc["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] = base64.b64encode(
        b'{"kind":"dsse"}'
    ).decode()


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_edit_proof, "proof"),
        (_edit_signature, "verif"),
        (_edit_set, "verif"),
        (_edit_media_type, "unknown media type"),
        (_drop_proof, "not a valid Sigstore bundle"),
        (_drop_certificate, "not a valid Sigstore bundle"),
        (_garbage_certificate, "not a valid Sigstore bundle"),
        (_empty_log_body, "verif"),
    ],
)
def test_tampered_bundle_fails_with_one_reason(
    real_world: Path, tmp_path: Path, edit: Any, reason: str
) -> None:
    artifact = copy_with_sidecars(real_world, WHEEL, tmp_path)
    doc = _bundle_doc(real_world)
    edit(doc)
    (tmp_path / f"{WHEEL}.sigstore").write_text(json.dumps(doc))
    result = verify_file(artifact, gh(), PRODUCTION)
    assert not result.ok
    assert reason in (result.reason or ""), result.reason
    assert "\n" not in (result.reason or "")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"{", "not JSON"),
        (b"[1, 2]", "not a Sigstore bundle"),
        (b"\xff\xfe garbage", "not JSON"),
        (b'{"mediaType": 3}', "unknown media type"),
    ],
)
def test_unreadable_bundle(real_world: Path, tmp_path: Path, content: bytes, reason: str) -> None:
    artifact = copy_with_sidecars(real_world, WHEEL, tmp_path)
    (tmp_path / f"{WHEEL}.sigstore").write_bytes(content)
    result = verify_file(artifact, gh(), PRODUCTION)
    assert not result.ok
    assert reason in (result.reason or "")


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1])
def test_truncated_sidecars(real_world: Path, tmp_path: Path, keep: float) -> None:
    for name in (WHEEL, SDIST):
        copy_with_sidecars(real_world, name, tmp_path)
    for sidecar in (tmp_path / f"{WHEEL}.sigstore", tmp_path / f"{SDIST}.publish.attestation"):
        data = sidecar.read_bytes()
        sidecar.write_bytes(data[: int(len(data) * keep)])
    wheel, sdist = verify_files([tmp_path / WHEEL, tmp_path / SDIST], gh(), PRODUCTION)
    assert "truncated" in (wheel.reason or "")
    assert "truncated" in (sdist.reason or "")


def test_attestation_not_pep740(real_world: Path, tmp_path: Path) -> None:
    artifact = copy_with_sidecars(real_world, SDIST, tmp_path)
    (tmp_path / f"{SDIST}.publish.attestation").write_text('{"version": 1}')
    result = verify_file(artifact, gl(), PRODUCTION)
    assert not result.ok
    assert "not a valid PEP 740 attestation" in (result.reason or "")


@pytest.mark.parametrize(
    ("present", "reason"),
    [
        ((), "no signature found"),
        ((".sig",), "without"),
        ((".crt",), "without"),
    ],
)
def test_missing_sidecars(tmp_path: Path, present: tuple[str, ...], reason: str) -> None:
    artifact = tmp_path / "demo-1.0.tar.gz"
    artifact.write_bytes(b"x")
    for suffix in present:
        (tmp_path / f"demo-1.0.tar.gz{suffix}").write_text("x")
    result = verify_file(artifact, gl(), PRODUCTION)
    assert not result.ok
    assert reason in (result.reason or "")


def test_missing_file_and_unknown_sidecar_kind(tmp_path: Path) -> None:
    result = verify_file(tmp_path / "nope.whl", gl(), PRODUCTION)
    assert not result.ok
    assert "does not exist" in (result.reason or "")
    from hatch_sigstore.errors import ConfigError

    with pytest.raises(ConfigError, match="bundle, attestation, cosign"):
        verify_files([tmp_path / "nope.whl"], gl(), PRODUCTION, sidecar="sbom")


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"not json {", "not readable JSON"), (b'{"mediaType": "x"}', "not a usable")],
)
def test_bad_trust_config_raises_once(tmp_path: Path, content: bytes, match: str) -> None:
    config = tmp_path / "trust.json"
    config.write_bytes(content)
    with pytest.raises(TrustConfigError, match=match):
        verify_files([tmp_path / "x"], gl(), TrustChoice("file", config))


def test_require_verified(real_world: Path) -> None:
    results = verify_files([real_world / SDIST, real_world / WHEEL], gl(), PRODUCTION)
    with pytest.raises(VerificationError) as info:
        require_verified(results)
    assert "1 of 2 files" in str(info.value)
    assert WHEEL in str(info.value)
    assert SDIST not in str(info.value)
    require_verified(results[:1])
    with pytest.raises(VerificationError, match="No file"):
        require_verified([])


def test_offline_verification_makes_no_network_call(
    real_world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network call during offline verification")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    results = verify_files([real_world / SDIST, real_world / WHEEL], gl(), PRODUCTION)
    assert [r.ok for r in results] == [True, False]
