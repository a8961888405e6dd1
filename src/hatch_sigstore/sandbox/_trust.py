"""The sandbox's trust material: a ClientTrustConfig (trusted root + signing config v0.2).

NEVER for production: whoever holds this file trusts the sandbox's throwaway keys.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

__all__ = [
    "CLIENT_TRUST_CONFIG_MEDIA_TYPE",
    "add_rekor_v2_and_tsa",
    "client_trust_config",
    "signing_config",
    "trusted_root",
]

CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
OPERATOR = "hatch-sigstore sandbox (NEVER FOR PRODUCTION)"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _time(when: datetime.datetime) -> str:
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spki(key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_details(key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    return {256: "PKIX_ECDSA_P256_SHA_256", 384: "PKIX_ECDSA_P384_SHA_384"}[key.curve.key_size]


def _log(
    url: str,
    key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
    log_id: bytes,
    start: str,
) -> dict[str, Any]:
    return {
        "baseUrl": url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": _b64(_spki(key)),
            "keyDetails": _key_details(key),
            "validFor": {"start": start},
        },
        "logId": {"keyId": _b64(log_id)},
    }


def _authority(
    common_name: str, uri: str, chain: tuple[x509.Certificate, ...], start: str
) -> dict[str, Any]:
    """A certificate authority or timestamp authority entry of the trusted root."""
    return {
        "subject": {"organization": "hatch-sigstore sandbox", "commonName": common_name},
        "uri": uri,
        "certChain": {
            "certificates": [
                {"rawBytes": _b64(c.public_bytes(serialization.Encoding.DER))} for c in chain
            ]
        },
        "validFor": {"start": start},
    }


def _service(url: str, major: int, start: str) -> dict[str, Any]:
    """A service entry of the signing config."""
    validity = {"start": start}
    return {"url": url, "majorApiVersion": major, "validFor": validity, "operator": OPERATOR}


def trusted_root(
    *,
    url: str,
    chain: tuple[x509.Certificate, ...],
    rekor_key: ec.EllipticCurvePublicKey,
    rekor_log_id: bytes,
    ct_key: ec.EllipticCurvePublicKey,
    ct_log_id: bytes,
    start: datetime.datetime,
) -> dict[str, Any]:
    begin = _time(start)
    return {
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": [_log(url, rekor_key, rekor_log_id, begin)],
        "certificateAuthorities": [
            _authority("sandbox-root (NEVER FOR PRODUCTION)", url, chain, begin)
        ],
        "ctlogs": [_log(f"{url}/ct", ct_key, ct_log_id, begin)],
        "timestampAuthorities": [],
    }


def signing_config(*, url: str, start: datetime.datetime) -> dict[str, Any]:
    begin = _time(start)
    return {
        "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
        "caUrls": [_service(url, 1, begin)],
        "oidcUrls": [],
        "rekorTlogUrls": [_service(url, 1, begin)],
        "tsaUrls": [],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaConfig": {"selector": "ANY"},
    }


def add_rekor_v2_and_tsa(
    root: dict[str, Any],
    config: dict[str, Any],
    *,
    url: str,
    rekor_key: ed25519.Ed25519PublicKey,
    rekor_log_id: bytes,
    tsa_url: str,
    tsa_chain: tuple[x509.Certificate, ...],
    start: datetime.datetime,
) -> None:
    """Add a Rekor v2 log and a timestamp authority to ``root`` and ``config`` (in place).

    The v2 log comes after the v1 one: sigstore-python's verifier takes ``tlogs[0]`` as its
    (v1) Rekor, and its signer picks by ``force_tlog_version`` or else the highest version.
    """
    begin = _time(start)
    root["tlogs"].append(_log(url, rekor_key, rekor_log_id, begin))
    root["timestampAuthorities"].append(
        _authority("sandbox-tsa (NEVER FOR PRODUCTION)", tsa_url, tsa_chain, begin)
    )
    config["rekorTlogUrls"].append(_service(url, 2, begin))
    config["tsaUrls"].append(_service(tsa_url, 1, begin))


def client_trust_config(root: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    return {
        "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": root,
        "signingConfig": config,
    }
