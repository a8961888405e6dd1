"""The sandbox's Fulcio: a P-384 root and intermediate issuing 10-minute code-signing leaves.

NEVER for production. The leaf carries what public Fulcio writes for a GitLab pipeline token
(``ci-issuer-metadata: gitlab-pipeline`` in fulcio's ``config/identity/config.yaml``) with
``url`` set to the sandbox's GitLab URL, plus one embedded precertificate SCT signed by a CT
log key that exists only as a key (sigstore-python verifies SCTs offline).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import struct
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hatch_sigstore.sandbox._pki import ca_key_usage, octet_string, signing_key_usage, utf8string

__all__ = ["CertificateAuthority", "FulcioRequestError"]

LEAF_LIFETIME = datetime.timedelta(minutes=10)
_CA_LIFETIME = datetime.timedelta(days=3650)
_BACKDATE = datetime.timedelta(days=1)

_FULCIO = "1.3.6.1.4.1.57264.1."
_SCT_LIST_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def _oid(n: int) -> x509.ObjectIdentifier:
    return x509.ObjectIdentifier(f"{_FULCIO}{n}")


class FulcioRequestError(Exception):
    """A refused request: ``status`` (400/401) and a message safe to return to the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hatch-sigstore sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def gitlab_extensions(claims: dict[str, Any], url: str) -> list[tuple[int, str]]:
    """(OID suffix, value) pairs per Fulcio's GitLab template; claims that are absent are skipped.

    ``.1`` (raw issuer) is handled by the caller. ``url`` is the template's ``url`` value.
    """
    url = url.rstrip("/")

    def claim(name: str) -> str | None:
        value = claims.get(name)
        return None if value is None else str(value)

    uri = claim("ci_config_ref_uri")
    project = claim("project_path")
    namespace = claim("namespace_path")
    ref, ref_type = claim("ref"), claim("ref_type")
    job = claim("job_id")
    values: list[tuple[int, str | None]] = [
        (8, claim("iss")),
        (9, f"https://{uri}" if uri else None),
        (10, claim("ci_config_sha")),
        (11, claim("runner_environment")),
        (12, f"{url}/{project}" if project else None),
        (13, claim("sha")),
        (
            14,
            (f"refs/{'tags' if ref_type == 'tag' else 'heads'}/{ref}")
            if ref and ref_type in ("branch", "tag")
            else None,
        ),
        (15, claim("project_id")),
        (16, f"{url}/{namespace}" if namespace else None),
        (17, claim("namespace_id")),
        (18, f"https://{uri}" if uri else None),
        (19, claim("ci_config_sha")),
        (20, claim("pipeline_source")),
        (21, f"{url}/{project}/-/jobs/{job}" if project and job else None),
        (22, claim("project_visibility")),
        (23, claim("environment")),
        (24, claim("sub")),
    ]
    return [(n, v) for n, v in values if v is not None]


@dataclass(frozen=True)
class _Issued:
    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]


class CertificateAuthority:
    """Root → intermediate → leaf, plus the CT log key that signs each leaf's SCT."""

    def __init__(self) -> None:
        now = _now()
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.intermediate_key = ec.generate_private_key(ec.SECP384R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        root_name = _ca_name("sandbox-root (NEVER FOR PRODUCTION)")
        root_ski = x509.SubjectKeyIdentifier.from_public_key(self.root_key.public_key())
        self.root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(self.root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(ca_key_usage(), critical=True)
            .add_extension(root_ski, critical=False)
            .sign(self.root_key, hashes.SHA384())
        )
        self.intermediate = (
            x509.CertificateBuilder()
            .subject_name(_ca_name("sandbox-intermediate (NEVER FOR PRODUCTION)"))
            .issuer_name(root_name)
            .public_key(self.intermediate_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _CA_LIFETIME - datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(ca_key_usage(), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.intermediate_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
                critical=False,
            )
            .sign(self.root_key, hashes.SHA384())
        )
        self.ct_log_id = hashlib.sha256(_spki_der(self.ct_key.public_key())).digest()
        # Test-only knob: more SAN URIs on every leaf issued while set. Public Fulcio always
        # issues exactly one SAN; this lets tests show a verifier refusing a second identity.
        self.extra_sans: list[str] = []

    @property
    def chain(self) -> tuple[x509.Certificate, x509.Certificate]:
        """[intermediate, root], as listed in the trusted root and the Fulcio response."""
        return (self.intermediate, self.root)

    def chain_pems(self) -> list[str]:
        return [c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain]

    def issue(self, csr_pem_b64: object, claims: dict[str, Any], *, url: str) -> list[str]:
        """Check the CSR, issue the leaf; return [leaf, intermediate, root] PEMs."""
        csr = _load_csr(csr_pem_b64)
        try:
            public_key = csr.public_key()
            valid = csr.is_signature_valid
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise FulcioRequestError(400, "unsupported public key or signature in CSR") from exc
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
            public_key.curve, ec.SECP256R1 | ec.SECP384R1
        ):
            raise FulcioRequestError(400, "unsupported public key type: use ECDSA P-256 or P-384")
        if not valid:
            raise FulcioRequestError(
                400, "The signature of the certificate signing request could not be verified"
            )
        uri = claims.get("ci_config_ref_uri")
        if not uri:
            raise FulcioRequestError(
                400, "error processing the identity token: missing claim ci_config_ref_uri"
            )
        return [
            c.public_bytes(serialization.Encoding.PEM).decode()
            for c in (self._leaf(public_key, claims, f"https://{uri}", url), *self.chain)
        ]

    def _leaf(
        self, public_key: ec.EllipticCurvePublicKey, claims: dict[str, Any], san: str, url: str
    ) -> x509.Certificate:
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + LEAF_LIFETIME)
            .add_extension(
                signing_key_usage(),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.intermediate_key.public_key()
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(u) for u in (san, *self.extra_sans)]
                ),
                critical=True,
            )
        )
        issuer = claims.get("iss")
        if issuer:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(_oid(1), str(issuer).encode()), critical=False
            )
        for n, value in gitlab_extensions(claims, url):
            builder = builder.add_extension(
                x509.UnrecognizedExtension(_oid(n), utf8string(value)), critical=False
            )
        # The precertificate is the same certificate without the SCT list: its TBS is exactly
        # what the final certificate's ``tbs_precertificate_bytes`` gives back, as long as the
        # SCT list goes last.
        precert = builder.sign(self.intermediate_key, hashes.SHA384())
        sct = self._sct(precert.tbs_certificate_bytes, timestamp_ms=int(now.timestamp()) * 1000)
        sct_list = struct.pack("!H", len(sct) + 2) + struct.pack("!H", len(sct)) + sct
        builder = builder.add_extension(
            x509.UnrecognizedExtension(_SCT_LIST_OID, octet_string(sct_list)),
            critical=False,
        )
        leaf = builder.sign(self.intermediate_key, hashes.SHA384())
        if leaf.tbs_precertificate_bytes != precert.tbs_certificate_bytes:  # pragma: no cover
            raise RuntimeError("sandbox Fulcio: precertificate TBS mismatch")
        return leaf

    def _sct(self, tbs: bytes, *, timestamp_ms: int) -> bytes:
        """A v1 precert SCT (RFC 6962 §3.2) over ``tbs``, signed by the CT key."""
        issuer_key_hash = hashlib.sha256(_spki_der(self.intermediate_key.public_key())).digest()
        signed = (
            struct.pack("!BBQH", 0, 0, timestamp_ms, 1)
            + issuer_key_hash
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack("!H", 0)
        )
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return (
            struct.pack("!B", 0)
            + self.ct_log_id
            + struct.pack("!QH", timestamp_ms, 0)
            + struct.pack("!BBH", 4, 3, len(signature))  # sha256, ecdsa
            + signature
        )


def _load_csr(value: object) -> x509.CertificateSigningRequest:
    if not isinstance(value, str) or not value:
        raise FulcioRequestError(400, "certificateSigningRequest is missing or not a string")
    try:
        pem = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise FulcioRequestError(400, "certificateSigningRequest is not base64") from exc
    try:
        return x509.load_pem_x509_csr(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise FulcioRequestError(400, "certificateSigningRequest is not a PEM CSR") from exc
