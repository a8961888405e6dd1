"""Policy construction and the certificate checks, on certificates built here with the
Fulcio extensions (the real-world and sandbox certificates are in test_verification.py)."""

from __future__ import annotations

import datetime
import fnmatch
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore.errors import VerificationError as SigstoreVerificationError

from hatch_sigstore.errors import ConfigError
from hatch_sigstore.identity import ExpectedIdentity
from hatch_sigstore.verify import GitLabPolicy, Policy
from hatch_sigstore.verify import _certificate as _policy

_KEY = ec.generate_private_key(ec.SECP256R1())
_FULCIO = "1.3.6.1.4.1.57264.1."


def _utf8(value: str) -> bytes:
    data = value.encode()
    n = len(data)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return b"\x0c" + length + data


def make_cert(
    *,
    san: str | None = "https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main",
    issuer_v2: str | None = "https://gitlab.com",
    issuer_v1: str | None = "https://gitlab.com",
    ref: str | None = "refs/heads/main",
    repository: str | None = "https://gitlab.com/g/p",
    project_id: str | None = "42",
    runner: str | None = "gitlab-hosted",
    sha: str | None = "a" * 40,
    email: str | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(minutes=10))
    )
    names: list[x509.GeneralName] = []
    if san is not None:
        names.append(x509.UniformResourceIdentifier(san))
    if email is not None:
        names.append(x509.RFC822Name(email))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=True)
    if issuer_v1 is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(_FULCIO + "1"), issuer_v1.encode()),
            critical=False,
        )
    for suffix, value in (
        ("8", issuer_v2),
        ("11", runner),
        ("12", repository),
        ("13", sha),
        ("14", ref),
        ("15", project_id),
    ):
        if value is not None:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(_FULCIO + suffix), _utf8(value)),
                critical=False,
            )
    return builder.sign(_KEY, hashes.SHA256())


def gitlab(**kwargs: object) -> Policy:
    ident = {
        key: kwargs.pop(key)
        for key in ("server", "project_path", "ref", "config_path", "project_id")
        if key in kwargs
    }
    ident.setdefault("server", "https://gitlab.com")
    ident.setdefault("project_path", "g/p")
    return Policy.gitlab(ExpectedIdentity(**ident), **kwargs)  # type: ignore[arg-type]


def passes(policy: Policy, cert: x509.Certificate) -> bool:
    try:
        policy.sigstore_policy().verify(cert)
    except SigstoreVerificationError:
        return False
    return True


# --- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "flag"),
    [
        (lambda: gitlab(server="gitlab.com"), "server"),
        (lambda: gitlab(project_path="just-a-name"), "GROUP/PROJECT"),
        (lambda: gitlab(project_path="g//p"), "GROUP/PROJECT"),
        (lambda: gitlab(ref="main"), "refs/heads/main"),
        (lambda: gitlab(ref="refs/heads/main", ref_glob="refs/tags/*"), "--ref-glob"),
        (lambda: gitlab(ref_glob="v*"), "refs/tags/v*"),
        (lambda: gitlab(sha="abc"), "--sha"),
        (lambda: gitlab(project_id="my-project"), "--project-id"),
        (Policy.cosign, "--gitlab"),
        (lambda: Policy.cosign(cert_oidc_issuer="https://gitlab.com"), "--cert-identity"),
        (lambda: Policy.cosign(cert_identity="x"), "--cert-oidc-issuer"),
        (
            lambda: Policy.cosign(
                cert_identity="x", cert_identity_regexp="x", cert_oidc_issuer="i"
            ),
            "--cert-identity-regexp",
        ),
        (
            lambda: Policy.cosign(
                cert_identity="x", cert_oidc_issuer="i", cert_oidc_issuer_regexp="i"
            ),
            "--cert-oidc-issuer-regexp",
        ),
        (lambda: Policy.cosign(cert_identity_regexp="(", cert_oidc_issuer="i"), "regular"),
        (lambda: Policy.cosign(cert_identity="x", cert_oidc_issuer_regexp="["), "regular"),
    ],
)
def test_bad_policy_is_a_config_error_naming_the_fix(build: object, flag: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()  # type: ignore[operator]
    assert flag in str(info.value)


def test_gitlab_policy_normalizes_server_and_describes_itself() -> None:
    policy = gitlab(server="https://gitlab.example.com/", project_path="/g/sub/p/")
    assert isinstance(policy, GitLabPolicy)
    assert policy.identity is not None
    assert policy.identity.server == "https://gitlab.example.com"
    assert policy.identity.project_path == "g/sub/p"
    assert policy.describe() == (
        "GitLab CI of https://gitlab.example.com/g/sub/p (.gitlab-ci.yml, any ref)"
    )
    pinned = gitlab(ref="refs/tags/v1", project_id="7", runner_environment="self-hosted")
    assert "ref refs/tags/v1" in pinned.describe()
    assert "project id 7" in pinned.describe()
    assert "refs matching refs/tags/v*" in gitlab(ref_glob="refs/tags/v*").describe()
    cosign = Policy.cosign(cert_identity_regexp="^x$", cert_oidc_issuer="https://i")
    assert cosign.describe() == "identity matching ^x$, issuer https://i"


def test_policy_module_is_not_imported_by_building_a_policy() -> None:
    # Policy is data; sigstore is needed only to verify (build hooks import this module).
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from hatch_sigstore.identity import ExpectedIdentity\n"
        "from hatch_sigstore.verify import Policy\n"
        "Policy.gitlab(ExpectedIdentity('https://gitlab.com', 'g/p'))\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('sigstore', 'requests',"
        " 'pypi_attestations', 'cryptography')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- checks on certificates --------------------------------------------------------------------

MAIN = "https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main"
TAG = "https://gitlab.com/g/p//.gitlab-ci.yml@refs/tags/v1.0"


@pytest.mark.parametrize(
    ("policy", "cert", "ok"),
    [
        (gitlab(), {}, True),
        (gitlab(ref="refs/heads/main"), {}, True),
        (gitlab(ref="refs/heads/dev"), {}, False),
        (gitlab(ref="refs/tags/main"), {}, False),
        (gitlab(ref_glob="refs/tags/v*"), {"san": TAG, "ref": "refs/tags/v1.0"}, True),
        (gitlab(ref_glob="refs/tags/v*"), {}, False),
        (gitlab(ref_glob="refs/heads/*"), {}, True),
        (gitlab(project_path="g/other"), {}, False),
        (gitlab(server="https://gitlab.example.com"), {}, False),
        (gitlab(project_id="42"), {}, True),
        (gitlab(project_id="43"), {}, False),
        (gitlab(project_id="42"), {"project_id": None}, False),
        (gitlab(runner_environment="gitlab-hosted"), {}, True),
        (gitlab(runner_environment="self-hosted"), {}, False),
        (gitlab(sha="a" * 40), {}, True),
        (gitlab(sha="b" * 40), {}, False),
        # another CI config file of the same project is another signer
        (gitlab(), {"san": "https://gitlab.com/g/p//other.yml@refs/heads/main"}, False),
        (
            gitlab(config_path="other.yml"),
            {"san": "https://gitlab.com/g/p//other.yml@refs/heads/main"},
            True,
        ),
        # a SAN whose ref disagrees with the certificate's ref claim
        (gitlab(), {"san": TAG}, False),
        # issuer: .8 first, the legacy .1 alone still counts, nothing at all fails
        (gitlab(), {"issuer_v2": None}, True),
        (gitlab(), {"issuer_v2": None, "issuer_v1": None}, False),
        (gitlab(), {"issuer_v2": "https://evil.example", "issuer_v1": "https://gitlab.com"}, False),
        (gitlab(), {"repository": None}, False),
        (gitlab(), {"ref": None}, False),
        (gitlab(), {"san": None}, False),
        # cosign flags
        (Policy.cosign(cert_identity=MAIN, cert_oidc_issuer="https://gitlab.com"), {}, True),
        (Policy.cosign(cert_identity=TAG, cert_oidc_issuer="https://gitlab.com"), {}, False),
        (Policy.cosign(cert_identity=MAIN, cert_oidc_issuer="https://gitlab.co"), {}, False),
        (Policy.cosign(cert_identity=MAIN, cert_oidc_issuer_regexp="gitlab"), {}, True),
        (
            Policy.cosign(cert_identity_regexp="g/p//", cert_oidc_issuer="https://gitlab.com"),
            {},
            True,
        ),
        (
            Policy.cosign(cert_identity_regexp="^g/p//", cert_oidc_issuer="https://gitlab.com"),
            {},
            False,
        ),
        (
            Policy.cosign(cert_identity="dev@example.com", cert_oidc_issuer="https://gitlab.com"),
            {"san": None, "email": "dev@example.com"},
            True,
        ),
    ],
)
def test_policy_against_certificate(policy: Policy, cert: dict[str, object], ok: bool) -> None:
    assert passes(policy, make_cert(**cert)) is ok  # type: ignore[arg-type]


def test_failure_names_the_claim_and_both_values_but_no_flag() -> None:
    with pytest.raises(SigstoreVerificationError) as info:
        gitlab(project_id="43").sigstore_policy().verify(make_cert())
    assert str(info.value) == (
        "the certificate's project id (OID 1.3.6.1.4.1.57264.1.15) is '42', "
        "expected project id '43'"
    )


# --- hypothesis: ref globs, identities, DER ---------------------------------------------------

_SEGMENT = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["heads", "tags"]), name=_SEGMENT, prefix=_SEGMENT)
def test_ref_glob_is_fnmatchcase_over_the_full_ref(kind: str, name: str, prefix: str) -> None:
    ref = f"refs/{kind}/{prefix}{name}"
    pattern = f"refs/{kind}/{prefix}*"
    cert = make_cert(san=f"https://gitlab.com/g/p//.gitlab-ci.yml@{ref}", ref=ref)
    assert passes(gitlab(ref_glob=pattern), cert)
    other = "tags" if kind == "heads" else "heads"
    assert not passes(gitlab(ref_glob=f"refs/{other}/{prefix}*"), cert)
    assert _policy.ref_matches(pattern, ref) == fnmatch.fnmatchcase(ref, pattern)
    # case matters: refs/tags/V1 is not refs/tags/v1
    if ref.swapcase() != ref:
        assert not _policy.ref_matches(ref.swapcase(), ref)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["heads", "tags"]), name=_SEGMENT, claimed=_SEGMENT)
def test_gitlab_san_must_carry_the_certificates_own_ref(kind: str, name: str, claimed: str) -> None:
    ref = f"refs/{kind}/{name}"
    san_ref = f"refs/{kind}/{claimed}"
    cert = make_cert(san=f"https://gitlab.com/g/p//.gitlab-ci.yml@{san_ref}", ref=ref)
    assert passes(gitlab(), cert) is (san_ref == ref)


@settings(max_examples=60, deadline=None)
@given(
    inner=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20),
    before=_SEGMENT,
    after=_SEGMENT,
)
def test_identity_regexp_is_searched_like_cosign(inner: str, before: str, after: str) -> None:
    # Go's regexp.MatchString is unanchored; so is --cert-identity-regexp.
    san = f"https://gitlab.com/{before}{inner}{after}"
    try:
        cert = make_cert(san=san)
    except ValueError:  # not every string is a valid URI SAN
        return
    policy = Policy.cosign(
        cert_identity_regexp=re.escape(inner), cert_oidc_issuer="https://gitlab.com"
    )
    anchored = Policy.cosign(
        cert_identity_regexp=f"^{re.escape(inner)}$", cert_oidc_issuer="https://gitlab.com"
    )
    assert passes(policy, cert)
    assert not passes(anchored, cert)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_der_utf8string_round_trip(value: str) -> None:
    assert _policy._der_utf8string(_utf8(value)) == value


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x0c",
        b"\x04\x01a",
        b"\x0c\x05abc",
        b"\x0c\x81",
        b"\x0c\x01ab",
        b"\x0c\x85" + b"\x00" * 5,
    ],
)
def test_der_utf8string_rejects_garbage(raw: bytes) -> None:
    with pytest.raises(ValueError):
        _policy._der_utf8string(raw)
