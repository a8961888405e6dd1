"""Attacks on verification, each reproduced with files signed by the local Sigstore (real HTTP on
loopback) and shown refused: a rollback (a signed 0.9.0 wheel served as 1.0.0), a dist signed at
another release's tag, DSSE bundles with an unknown predicate or another file's name, cosign
regexps whose ``$`` Python would let match before a newline, a certificate with two SANs, and
signature files that do not verify beside one that does (the publisher's every-sidecar mode).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hatch_sigstore.errors import ConfigError
from hatch_sigstore.identity import ExpectedIdentity
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import (
    EVERY_SIDECAR,
    KNOWN_PREDICATES,
    Policy,
    verify_file,
)
from publish_helpers import make_sdist, make_wheel

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore

UNKNOWN_PREDICATE = "https://example.com/test-result/v1"


@dataclass
class Signer:
    sigstore: LocalSigstore

    @property
    def trust(self) -> TrustChoice:
        return TrustChoice("file", self.sigstore.trust_config_path)

    def _signer(self, **claims: Any) -> Any:
        from sigstore.models import ClientTrustConfig
        from sigstore.oidc import IdentityToken
        from sigstore.sign import SigningContext

        config = ClientTrustConfig.from_json(self.sigstore.trust_config_path.read_text())
        context = SigningContext.from_trust_config(config)
        return context.signer(IdentityToken(self.sigstore.mint_token(**claims)))

    def sign(self, path: Path, *, cosign: bool = False, **claims: Any) -> None:
        """``path.sigstore.json`` (and ``.sig`` + ``.crt`` of the same signature)."""
        from sigstore.hashes import Hashed
        from sigstore_models.common.v1 import HashAlgorithm

        digest = hashlib.sha256(path.read_bytes()).digest()
        with self._signer(**claims) as signer:
            bundle = signer.sign_artifact(Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest))
        path.with_name(path.name + ".sigstore.json").write_text(bundle.to_json())
        if cosign:
            path.with_name(path.name + ".sig").write_text(
                base64.b64encode(bundle.signature).decode()
            )
            path.with_name(path.name + ".crt").write_bytes(
                bundle.signing_certificate.public_bytes(serialization.Encoding.PEM)
            )

    def sign_statement(
        self, path: Path, *, predicate_type: str, subject_name: str | None = None, **claims: Any
    ) -> None:
        """A DSSE (in-toto) bundle about ``path`` as ``path.sigstore.json``."""
        from sigstore.dsse import DigestSet, StatementBuilder, Subject

        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        subject = Subject(name=subject_name or path.name, digest=DigestSet({"sha256": digest}))
        statement = (
            StatementBuilder()
            .subjects([subject])
            .predicate_type(predicate_type)
            .predicate({"note": "test"})
            .build()
        )
        with self._signer(**claims) as signer:
            bundle = signer.sign_dsse(statement)
        path.with_name(path.name + ".sigstore.json").write_text(bundle.to_json())

    def policy(self, **kw: Any) -> Policy:
        ident = {k: kw.pop(k) for k in ("ref", "ref_glob") if k in kw}
        return Policy.gitlab(
            ExpectedIdentity(self.sigstore.gitlab_url, "group/project", **ident), **kw
        )


@pytest.fixture
def signer(local_sigstore: LocalSigstore) -> Signer:
    return Signer(local_sigstore)


def served_as(path: Path, name: str) -> Path:
    """``path`` and its sidecars copied under another file name (what a hostile index does)."""
    target = path.with_name(name)
    shutil.copyfile(path, target)
    for sidecar in path.parent.glob(f"{path.name}.*"):
        shutil.copyfile(sidecar, target.with_name(name + sidecar.name[len(path.name) :]))
    return target


# -- rollback and the tag's version ---------------------------------------------------------------


def test_rollback_a_signed_old_wheel_served_as_the_new_one(signer: Signer, tmp_path: Path) -> None:
    """Issue 10 #2: toy 0.9.0 signed at refs/tags/v0.9.0, served as toy-1.0.0-…whl."""
    old = make_wheel(tmp_path / "old", "toy", "0.9.0")
    signer.sign(old, ref="v0.9.0", ref_type="tag")
    assert verify_file(old, signer.policy(ref_glob="refs/tags/v*"), signer.trust).ok
    served = served_as(old, "toy-1.0.0-py3-none-any.whl")
    result = verify_file(
        served,
        signer.policy(ref_glob="refs/tags/v*"),
        signer.trust,
        expected_name="toy",
        expected_version="1.0.0",
    )
    assert not result.ok
    assert result.reason is not None
    assert "the file name says toy 1.0.0, but its METADATA says toy 0.9.0" in result.reason
    assert "toy==1.0.0 was asked for" in result.reason
    # the signature itself was fine: the result still says who signed, and what it really is
    assert result.ref == "refs/tags/v0.9.0"
    assert (result.name, result.version) == ("toy", "0.9.0")


def test_a_sibling_package_signed_by_the_same_pipeline(signer: Signer, tmp_path: Path) -> None:
    sibling = make_sdist(tmp_path / "s", "toy_plugin", "1.0.0")
    signer.sign(sibling, ref="v1.0.0", ref_type="tag")
    served = served_as(sibling, "toy-1.0.0.tar.gz")
    result = verify_file(served, signer.policy(), signer.trust, expected_name="toy")
    assert not result.ok
    assert "its PKG-INFO says toy_plugin 1.0.0" in (result.reason or "")


@pytest.mark.parametrize(
    ("ref", "ref_type", "plain_ok", "fragment"),
    [
        ("v1.0.0", "tag", True, None),
        ("1.0", "tag", True, None),
        ("v0.9.0", "tag", True, "signed at refs/tags/v0.9.0 (version 0.9.0)"),
        ("feature", "branch", True, "signed at refs/heads/feature, not at a tag"),
    ],
)
def test_version_from_tag(
    signer: Signer,
    tmp_path: Path,
    ref: str,
    ref_type: str,
    plain_ok: bool,
    fragment: str | None,
) -> None:
    """A 1.0.0 wheel, signed by the right pipeline at various refs."""
    wheel = make_wheel(tmp_path, "toy", "1.0.0")
    signer.sign(wheel, ref=ref, ref_type=ref_type)
    assert verify_file(wheel, signer.policy(), signer.trust).ok is plain_ok
    policy = signer.policy(version_from_tag=True)
    assert "version = its tag's" in policy.describe()
    result = verify_file(wheel, policy, signer.trust)
    assert result.ok is (fragment is None), result.reason
    if fragment is not None:
        assert fragment in (result.reason or "")


def test_version_from_tag_refuses_files_that_are_no_dist(signer: Signer, tmp_path: Path) -> None:
    blob = tmp_path / "notes.txt"
    blob.write_text("hello")
    signer.sign(blob, ref="v1.0", ref_type="tag")
    assert verify_file(blob, signer.policy(), signer.trust).ok
    result = verify_file(blob, signer.policy(version_from_tag=True), signer.trust)
    assert not result.ok
    assert "no version to tie" in (result.reason or "")


# -- DSSE bundles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicate", "subject", "fragment"),
    [
        (KNOWN_PREDICATES[1], None, None),  # SLSA provenance v1 about this file: accepted
        (KNOWN_PREDICATES[0], None, None),  # PEP 740 publish about this file: accepted
        (UNKNOWN_PREDICATE, None, "says nothing about a release"),
        (KNOWN_PREDICATES[1], "toy-9.9.9-py3-none-any.whl", "not this file's name"),
        (KNOWN_PREDICATES[1], "other.txt", "not this file's name"),
    ],
)
def test_dsse_bundles_need_a_known_predicate_and_this_files_name(
    signer: Signer, tmp_path: Path, predicate: str, subject: str | None, fragment: str | None
) -> None:
    wheel = make_wheel(tmp_path, "toy", "1.0.0")
    signer.sign_statement(wheel, predicate_type=predicate, subject_name=subject)
    result = verify_file(wheel, signer.policy(), signer.trust, sidecar="bundle")
    assert result.ok is (fragment is None), result.reason
    if fragment is not None:
        assert fragment in (result.reason or "")


# -- cosign's regexps and Fulcio's one SAN ---------------------------------------------------------


def _cert_with_sans(*uris: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(minutes=5))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    ("pattern", "san", "matches"),
    [
        ("^https://x/y$", "https://x/y", True),
        ("^https://x/y$", "https://x/y\n", False),  # Python's re would match here
        ("(?m)^https://x/y$", "https://x/y\nz", True),  # RE2 multi-line mode, as in Go
        ("x/y", "https://x/y", True),  # searched, unanchored, as cosign does
    ],
)
def test_identity_regexps_match_as_cosigns(pattern: str, san: str, matches: bool) -> None:
    from sigstore.errors import VerificationError

    from hatch_sigstore.verify._certificate import IdentityMatches

    check = IdentityMatches(pattern)
    if matches:
        check.verify(_cert_with_sans(san))
    else:
        with pytest.raises(VerificationError, match="does not match"):
            check.verify(_cert_with_sans(san))


@pytest.mark.parametrize("pattern", ["(?=x)y", r"(a)\1", r"a\Z"])
def test_regexps_cosign_refuses_are_refused(pattern: str) -> None:
    with pytest.raises(ConfigError, match=r"--cert-identity-regexp .* not a valid regular"):
        Policy.cosign(cert_identity_regexp=pattern, cert_oidc_issuer="https://gitlab.com")


def test_a_newline_after_the_identity_does_not_match(signer: Signer, tmp_path: Path) -> None:
    """End to end: a certificate whose SAN ends in a newline (an OIDC claim with one) against
    an anchored identity regexp."""
    blob = tmp_path / "notes.txt"
    blob.write_text("hello")
    try:
        signer.sign(blob, ref="main\n", ref_type="branch")
    except Exception as exc:  # the sandbox CA may refuse such a name: then nothing to show
        pytest.skip(f"the local Sigstore will not issue a SAN with a newline: {exc}")
    san = f"https://{signer.sigstore.gitlab_url.split('://', 1)[1]}/group/project//.gitlab-ci.yml"
    policy = Policy.cosign(
        cert_identity_regexp=f"^{san}@refs/heads/main$".replace(".", r"\."),
        cert_oidc_issuer=signer.sigstore.gitlab_url,
    )
    result = verify_file(blob, policy, signer.trust)
    assert not result.ok
    assert "does not match" in (result.reason or ""), result.reason


def test_a_certificate_with_two_sans_is_refused(tmp_path: Path) -> None:
    """Fulcio issues one SAN; a CA that adds a second one (here the sandbox's, via its
    test-only knob) does not get a file through, even for a policy naming the first SAN."""
    from hatch_sigstore.sandbox import LocalSigstore

    with LocalSigstore(state_dir=tmp_path / "sigstore") as local:
        local.certificate_authority.extra_sans.append("https://evil.example/other")
        signer = Signer(local)
        blob = tmp_path / "notes.txt"
        blob.write_text("hello")
        signer.sign(blob, ref="main", ref_type="branch")
        host = local.gitlab_url.split("://", 1)[1]
        first = f"https://{host}/group/project//.gitlab-ci.yml@refs/heads/main"
        for policy in (
            signer.policy(),
            Policy.cosign(cert_identity=first, cert_oidc_issuer=local.gitlab_url),
            Policy.cosign(cert_identity_regexp="evil", cert_oidc_issuer=local.gitlab_url),
        ):
            result = verify_file(blob, policy, signer.trust)
            assert not result.ok
            assert "2 Subject Alternative Names" in (result.reason or ""), result.reason
        local.certificate_authority.extra_sans.clear()
        signer.sign(blob, ref="main", ref_type="branch")
        assert verify_file(blob, signer.policy(), signer.trust).ok


# -- every signature file beside a dist ---------------------------------------------------------


@pytest.fixture
def signed_wheel(signer: Signer, tmp_path: Path) -> Path:
    wheel = make_wheel(tmp_path / "dist", "toy", "1.0.0")
    signer.sign(wheel, cosign=True, ref="v1.0.0", ref_type="tag")
    return wheel


def test_every_sidecar_verified_offline_when_the_pair_is_the_bundles(
    signer: Signer, signed_wheel: Path
) -> None:
    signer.sigstore.reset_stats()
    result = verify_file(signed_wheel, signer.policy(), signer.trust, sidecar=EVERY_SIDECAR)
    assert result.ok, result.reason
    assert result.sidecar == "bundle+cosign"
    files = dict(result.sidecar_files)
    assert sorted(files) == sorted(
        f"{signed_wheel.name}{s}" for s in (".sigstore.json", ".sig", ".crt")
    )
    for name, digest in files.items():
        assert digest == hashlib.sha256((signed_wheel.parent / name).read_bytes()).hexdigest()
    assert signer.sigstore.stats["rekor_retrieve"] == 0  # the bundle vouched for the pair


@pytest.mark.parametrize(
    ("junk", "fragment"),
    [
        ({".sig": b"junk"}, "not a base64 DER signature"),
        ({".crt": b"-----BEGIN CERTIFICATE-----\njunk\n"}, "not a PEM certificate"),
        ({".publish.attestation": b"{}"}, "not a valid PEP 740 attestation"),
        ({".sigstore": b"{}"}, "unknown media type"),
    ],
)
def test_junk_sidecars_fail_the_dist(
    signer: Signer, signed_wheel: Path, junk: dict[str, bytes], fragment: str
) -> None:
    for suffix, data in junk.items():
        signed_wheel.with_name(signed_wheel.name + suffix).write_bytes(data)
    # the first-found mode still verifies the bundle; every-sidecar mode fails the file
    assert verify_file(signed_wheel, signer.policy(), signer.trust).ok
    result = verify_file(
        signed_wheel, signer.policy(), signer.trust, sidecar=EVERY_SIDECAR, offline=False
    )
    assert not result.ok
    assert fragment in (result.reason or ""), result.reason


def test_half_a_cosign_pair_fails_the_dist(signer: Signer, signed_wheel: Path) -> None:
    signed_wheel.with_name(signed_wheel.name + ".crt").unlink()
    result = verify_file(signed_wheel, signer.policy(), signer.trust, sidecar=EVERY_SIDECAR)
    assert not result.ok
    assert ".sig was found without" in (result.reason or "")


def test_an_unverifiable_pair_fails_the_dist(
    signer: Signer, signed_wheel: Path, tmp_path: Path
) -> None:
    """A valid .sig/.crt of another file beside a good bundle: the log has no entry for it."""
    other = make_wheel(tmp_path / "other", "toy", "1.0.0", payload=b"other")
    signer.sign(other, cosign=True, ref="v1.0.0", ref_type="tag")
    for suffix in (".sig", ".crt"):
        shutil.copyfile(
            other.with_name(other.name + suffix), signed_wheel.with_name(signed_wheel.name + suffix)
        )
    result = verify_file(
        signed_wheel, signer.policy(), signer.trust, sidecar=EVERY_SIDECAR, offline=False
    )
    assert not result.ok
    assert "no entry" in (result.reason or ""), result.reason


def test_a_pair_signed_apart_from_the_bundle_is_looked_up(
    signer: Signer, signed_wheel: Path, tmp_path: Path
) -> None:
    """A second, independent signature of the same file: verified through the log (online)."""
    apart = tmp_path / "apart"
    apart.mkdir()
    copy = apart / signed_wheel.name
    shutil.copyfile(signed_wheel, copy)
    signer.sign(copy, cosign=True, ref="v1.0.0", ref_type="tag")
    for suffix in (".sig", ".crt"):
        shutil.copyfile(
            copy.with_name(copy.name + suffix), signed_wheel.with_name(signed_wheel.name + suffix)
        )
    offline = verify_file(signed_wheel, signer.policy(), signer.trust, sidecar=EVERY_SIDECAR)
    assert not offline.ok
    assert "only online" in (offline.reason or "")
    online = verify_file(
        signed_wheel, signer.policy(), signer.trust, sidecar=EVERY_SIDECAR, offline=False
    )
    assert online.ok, online.reason
