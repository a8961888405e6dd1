"""The local Sigstore's CA (``_fulcio.py``): the certificates Fulcio issues for GitLab tokens,
and what it refuses."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore._internal.fulcio.client import FulcioClientError
from sigstore.oidc import IdentityToken
from sigstore_helpers import (
    OID,
    csr_field,
    fulcio,
    issue,
    make_csr,
    signing_context,
)

from hatch_sigstore.sandbox import LocalSigstore
from hatch_sigstore.sandbox._fulcio import FulcioRequestError, _load_csr
from hatch_sigstore.sandbox._oidc import TokenIssuer
from hatch_sigstore.sandbox._pki import utf8string


def utf8_value(cert: x509.Certificate, n: int) -> str:
    raw = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(f"{OID}{n}")).value
    assert isinstance(raw, x509.UnrecognizedExtension)
    assert raw.value[0] == 0x0C, f"OID .{n} is not a DER UTF8String"
    assert utf8string(raw.value[2:].decode()) == raw.value
    return raw.value[2:].decode()


def test_leaf_certificate_matches_fulcio_gitlab_template(sandbox: LocalSigstore) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = sandbox.mint_token(project_path="acme/tools/widget", ref="v2.1.0", ref_type="tag")
    claims = jwt.decode(token, options={"verify_signature": False})
    response = fulcio(sandbox, token, csr_field(make_csr(key)))
    assert response.status_code == 201
    pems = response.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    leaf, intermediate, root = (x509.load_pem_x509_certificate(p.encode()) for p in pems)
    assert leaf.issuer == intermediate.subject
    assert intermediate.issuer == root.subject
    assert leaf.public_key() == key.public_key()
    assert leaf.subject == x509.Name([])
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == datetime.timedelta(minutes=10)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    expected_san = "https://gitlab.example.com/acme/tools/widget//.gitlab-ci.yml@refs/tags/v2.1.0"
    assert san.critical
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [expected_san]
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CODE_SIGNING]
    leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    scts = leaf.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps
    ).value
    assert len(scts) == 1

    raw_issuer = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(f"{OID}1")).value
    assert isinstance(raw_issuer, x509.UnrecognizedExtension)
    assert raw_issuer.value == b"https://gitlab.example.com"
    server = "https://gitlab.example.com"
    expected = {
        8: server,
        9: expected_san,
        10: claims["ci_config_sha"],
        11: "self-hosted",  # a self-managed instance has no GitLab-hosted runners
        12: f"{server}/acme/tools/widget",
        13: claims["sha"],
        14: "refs/tags/v2.1.0",
        15: "42",
        16: f"{server}/acme/tools",
        17: claims["namespace_id"],
        18: expected_san,
        19: claims["ci_config_sha"],
        20: "push",
        21: f"{server}/acme/tools/widget/-/jobs/{claims['job_id']}",
        22: "private",
        24: "project_path:acme/tools/widget:ref_type:tag:ref:v2.1.0",
    }
    assert {n: utf8_value(leaf, n) for n in expected} == expected
    with pytest.raises(x509.ExtensionNotFound):  # no `environment` claim, no .23
        leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(f"{OID}23"))


@pytest.mark.parametrize(
    ("claims", "oid", "value"),
    [
        ({"runner_environment": "gitlab-hosted"}, 11, "gitlab-hosted"),
        ({"pipeline_source": "web"}, 20, "web"),
        ({"project_visibility": "public"}, 22, "public"),
        ({"environment": "production"}, 23, "production"),
        ({"sha": "ab" * 20}, 13, "ab" * 20),
    ],
)
def test_claim_overrides_reach_the_certificate(
    sandbox: LocalSigstore, claims: dict[str, str], oid: int, value: str
) -> None:
    pems = issue(sandbox, ec.generate_private_key(ec.SECP256R1()), **claims)
    assert utf8_value(x509.load_pem_x509_certificate(pems[0].encode()), oid) == value


def test_leaf_has_the_extension_layout_of_a_real_gitlab_certificate(
    sandbox: LocalSigstore, real_world: Path
) -> None:
    """Same extensions, order and criticality as public Fulcio gave a gitlab.com pipeline.

    Only difference: current Fulcio also writes .24 (Token Subject), which that older
    certificate predates.
    """
    attestation = json.loads(
        (real_world / "gitlab_oidc_project-0.0.3.tar.gz.publish.attestation").read_text()
    )
    real = x509.load_der_x509_certificate(
        base64.b64decode(attestation["verification_material"]["certificate"])
    )
    ours = x509.load_pem_x509_certificate(
        issue(sandbox, ec.generate_private_key(ec.SECP256R1()))[0].encode()
    )
    real_layout = [(e.oid.dotted_string, e.critical) for e in real.extensions]
    expected = [*real_layout[:-1], (f"{OID}24", False), real_layout[-1]]
    assert [(e.oid.dotted_string, e.critical) for e in ours.extensions] == expected
    assert ours.subject == real.subject
    assert ours.signature_hash_algorithm is not None
    assert real.signature_hash_algorithm is not None
    assert ours.signature_hash_algorithm.name == real.signature_hash_algorithm.name
    assert (
        ours.not_valid_after_utc - ours.not_valid_before_utc
        == real.not_valid_after_utc - real.not_valid_before_utc
    )


def _foreign_token(sandbox: LocalSigstore) -> str:
    """Same issuer URL and claims, signed by a key the sandbox never saw."""
    stranger = TokenIssuer(sandbox.gitlab_url)
    return stranger.mint(stranger.claims())


@pytest.mark.parametrize(
    ("make_token", "status", "message"),
    [
        (lambda s: s.mint_token(expires_in=0), 401, "expired"),
        (lambda s: s.mint_token(expires_in=-3600), 401, "expired"),
        (lambda s: s.mint_token(audience="not-sigstore"), 401, "audience"),
        (lambda s: s.mint_token(iss="https://gitlab.com"), 401, "not issued by"),
        (_foreign_token, 401, "signature"),
        (lambda s: "not.a.jwt", 401, "identity token"),
        (lambda s: None, 401, "identity token"),
        (lambda s: s.mint_token(ci_config_ref_uri=None), 400, "ci_config_ref_uri"),
        (lambda s: s.mint_token(sub=None), 401, "sub"),
    ],
    ids=[
        "expired-now",
        "expired-hour",
        "wrong-audience",
        "other-issuer",
        "foreign-key",
        "garbage",
        "no-auth",
        "no-config-uri",
        "no-sub",
    ],
)
def test_fulcio_rejects_bad_tokens(
    sandbox: LocalSigstore, make_token: Any, status: int, message: str
) -> None:
    csr = csr_field(make_csr(ec.generate_private_key(ec.SECP256R1())))
    response = fulcio(sandbox, make_token(sandbox), csr)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == (16 if status == 401 else 3)
    assert message in body["message"]


def _tampered_csr() -> str:
    der = bytearray(
        make_csr(ec.generate_private_key(ec.SECP256R1())).public_bytes(serialization.Encoding.DER)
    )
    der[-1] ^= 0x01  # the last byte of the ECDSA signature's s
    return csr_field(x509.load_der_x509_csr(bytes(der)))


@pytest.mark.parametrize(
    ("csr", "message"),
    [
        (_tampered_csr(), "signature"),
        ("%%% not base64", "base64"),
        (base64.b64encode(b"-----BEGIN NOTHING-----").decode(), "PEM CSR"),
        (None, "certificateSigningRequest"),
    ],
    ids=["bad-proof-of-possession", "not-base64", "not-pem", "missing"],
)
def test_fulcio_rejects_bad_csrs(sandbox: LocalSigstore, csr: str | None, message: str) -> None:
    response = fulcio(sandbox, sandbox.mint_token(), csr)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_sigstore_client_sees_fulcio_refusal(sandbox: LocalSigstore) -> None:
    token = IdentityToken(sandbox.mint_token(aud="sigstore", iss=sandbox.gitlab_url + "/x"))
    with (
        pytest.raises(FulcioClientError),
        signing_context(sandbox).signer(token),
    ):
        pass  # pragma: no cover


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode())
)
def test_fulcio_csr_parser_refuses_junk(text: str) -> None:
    with pytest.raises(FulcioRequestError):
        _load_csr(text)
