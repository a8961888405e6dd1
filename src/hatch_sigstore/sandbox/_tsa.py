"""The sandbox's RFC 3161 timestamp authority. NEVER for production.

Reads a DER ``TimeStampReq`` and answers a DER ``TimeStampResp`` (granted) whose token is a CMS
``SignedData`` over a ``TSTInfo`` (RFC 3161 §2.4.2, RFC 5652), signed with ECDSA P-256 by a leaf
certificate whose only, critical extended key usage is id-kp-timeStamping (RFC 3161 §2.3), under
a throwaway root. The signed attributes are content-type, message-digest and
signing-certificate-v2 (RFC 5816). DER is written by hand: no ASN.1 library needed.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hatch_sigstore.sandbox._pki import (
    ca_key_usage,
    integer,
    octet_string,
    oid,
    seq,
    set_of,
    signing_key_usage,
    tlv,
)

__all__ = ["TimestampAuthority", "TimestampRequestError"]

_OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
_OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_OID_SIGNING_CERT_V2 = "1.2.840.113549.1.9.16.2.47"
_OID_SHA256 = "2.16.840.1.101.3.4.2.1"
_OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
_OID_POLICY = "1.3.6.1.4.1.57264.2"  # sigstore's TSA policy arc; a sandbox placeholder
_DIGEST_SIZES = {
    "2.16.840.1.101.3.4.2.1": 32,
    "2.16.840.1.101.3.4.2.2": 48,
    "2.16.840.1.101.3.4.2.3": 64,
}


class TimestampRequestError(Exception):
    """A malformed or unsupported timestamp request (HTTP 400)."""


def _read(data: bytes, pos: int) -> tuple[int, bytes, int, int]:
    """One TLV at ``pos``: (tag, content, start of this TLV, end)."""
    try:
        tag = data[pos]
        first = data[pos + 1]
        at = pos + 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if not 0 < count <= 4:
                raise TimestampRequestError("unsupported DER length")
            length = int.from_bytes(data[at : at + count], "big")
            at += count
    except IndexError as exc:
        raise TimestampRequestError("truncated DER") from exc
    end = at + length
    if end > len(data):
        raise TimestampRequestError("truncated DER")
    return tag, data[at:end], pos, end


def _items(content: bytes) -> list[tuple[int, bytes, bytes]]:
    """The TLVs of a constructed value: (tag, content, whole encoding)."""
    out, pos = [], 0
    while pos < len(content):
        tag, inner, start, end = _read(content, pos)
        out.append((tag, inner, content[start:end]))
        pos = end
    return out


def _decode_oid(content: bytes) -> str:
    arcs, value = [], 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2) if arcs else 0
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]]) if arcs else ""


def parse_request(der: bytes) -> tuple[bytes, int | None, bool]:
    """A ``TimeStampReq`` → (messageImprint DER, nonce, certReq)."""
    tag, content, _, end = _read(der, 0)
    if tag != 0x30 or end != len(der):
        raise TimestampRequestError("not a DER TimeStampReq")
    fields = _items(content)
    if len(fields) < 2 or fields[0][0] != 0x02 or fields[0][1] != b"\x01":
        raise TimestampRequestError("unsupported TimeStampReq version")
    imprint_tag, imprint, imprint_der = fields[1]
    parts = _items(imprint) if imprint_tag == 0x30 else []
    if len(parts) != 2 or parts[0][0] != 0x30 or parts[1][0] != 0x04:
        raise TimestampRequestError("malformed messageImprint")
    algorithm = _items(parts[0][1])
    if not algorithm or algorithm[0][0] != 0x06:
        raise TimestampRequestError("malformed hashAlgorithm")
    size = _DIGEST_SIZES.get(_decode_oid(algorithm[0][1]))
    if size is None or len(parts[1][1]) != size:
        raise TimestampRequestError("unsupported hash algorithm or wrong digest length")
    nonce: int | None = None
    cert_req = False
    for tag, value, _whole in fields[2:]:
        if tag == 0x06:
            raise TimestampRequestError("no policy but the sandbox's is supported")
        if tag == 0x02:
            nonce = int.from_bytes(value, "big", signed=True)
        elif tag == 0x01:
            cert_req = value != b"\x00"
    return imprint_der, nonce, cert_req


class TimestampAuthority:
    """Keys, certificate chain and serial counter of the sandbox TSA."""

    def __init__(self, *, start: datetime.datetime | None = None) -> None:
        now = datetime.datetime.now(datetime.timezone.utc)
        begin = start or now - datetime.timedelta(hours=1)
        end = now + datetime.timedelta(days=365)
        root_key = ec.generate_private_key(ec.SECP256R1())
        self.key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hatch-sigstore sandbox"),
                x509.NameAttribute(NameOID.COMMON_NAME, "sandbox-tsa-root (NEVER FOR PRODUCTION)"),
            ]
        )
        self.name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hatch-sigstore sandbox"),
                x509.NameAttribute(NameOID.COMMON_NAME, "sandbox-tsa (NEVER FOR PRODUCTION)"),
            ]
        )
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(begin)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                ca_key_usage(),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA256())
        )
        leaf = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(root_name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(begin)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                signing_key_usage(),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        self.chain: tuple[x509.Certificate, ...] = (leaf, root)  # leaf first, as trusted roots list
        self._serial = secrets.randbelow(2**32)
        self._lock = threading.Lock()

    def respond(self, der_request: bytes) -> bytes:
        """A granted ``TimeStampResp`` (DER) for a DER ``TimeStampReq``."""
        imprint, nonce, cert_req = parse_request(der_request)
        with self._lock:
            self._serial += 1
            serial = self._serial
        gen_time = datetime.datetime.now(datetime.timezone.utc)
        tst_info = seq(
            integer(1),
            oid(_OID_POLICY),
            imprint,
            integer(serial),
            tlv(0x18, gen_time.strftime("%Y%m%d%H%M%SZ").encode()),
            seq(integer(1)),  # accuracy: one second
            *([integer(nonce)] if nonce is not None else []),
        )
        leaf = self.chain[0]
        leaf_der = leaf.public_bytes(serialization.Encoding.DER)
        sha256 = seq(oid(_OID_SHA256))
        attributes = [
            seq(oid(_OID_CONTENT_TYPE), set_of(oid(_OID_TST_INFO))),
            seq(oid(_OID_MESSAGE_DIGEST), set_of(octet_string(hashlib.sha256(tst_info).digest()))),
            seq(
                oid(_OID_SIGNING_CERT_V2),
                set_of(seq(seq(seq(octet_string(hashlib.sha256(leaf_der).digest()))))),
            ),
        ]
        signed_attrs = set_of(*attributes)
        signature = self.key.sign(signed_attrs, ec.ECDSA(hashes.SHA256()))
        signer_info = seq(
            integer(1),
            seq(leaf.issuer.public_bytes(), integer(leaf.serial_number)),
            sha256,
            b"\xa0" + signed_attrs[1:],  # [0] IMPLICIT SET OF Attribute
            seq(oid(_OID_ECDSA_SHA256)),
            octet_string(signature),
        )
        certificates = (
            # [0] IMPLICIT SET OF: DER order, as for any SET OF
            [
                b"\xa0"
                + set_of(*(c.public_bytes(serialization.Encoding.DER) for c in self.chain))[1:]
            ]
            if cert_req
            else []
        )
        signed_data = seq(
            integer(3),
            set_of(sha256),
            seq(oid(_OID_TST_INFO), tlv(0xA0, octet_string(tst_info))),
            *certificates,
            set_of(signer_info),
        )
        token = seq(oid(_OID_SIGNED_DATA), tlv(0xA0, signed_data))
        return seq(seq(integer(0)), token)
