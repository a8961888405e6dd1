"""Small PKI building blocks shared by the sandbox's CA and timestamp authority.

A minimal DER writer (enough for SCT lists, GitLab OID values and RFC 3161 tokens) and the two
key-usage sets the sandbox issues: CA certificates and signing leaves.
"""

from __future__ import annotations

from cryptography import x509

__all__ = [
    "ca_key_usage",
    "integer",
    "octet_string",
    "oid",
    "seq",
    "set_of",
    "signing_key_usage",
    "tlv",
    "utf8string",
]


def tlv(tag: int, content: bytes) -> bytes:
    """One DER tag-length-value (definite length, short or long form)."""
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def seq(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def set_of(*items: bytes) -> bytes:
    return tlv(0x31, b"".join(sorted(items)))  # DER: SET OF sorted by encoding


def integer(value: int) -> bytes:
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def octet_string(data: bytes) -> bytes:
    return tlv(0x04, data)


def utf8string(text: str) -> bytes:
    """DER ``UTF8String`` (tag 12): how Fulcio writes the GitLab OID values from .8 on."""
    return tlv(0x0C, text.encode())


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def ca_key_usage() -> x509.KeyUsage:
    """keyCertSign + cRLSign, as Fulcio's and a TSA's roots and intermediates carry."""
    return _key_usage(ca=True)


def signing_key_usage() -> x509.KeyUsage:
    """digitalSignature only: the verifier demands it of a signing leaf."""
    return _key_usage(ca=False)
