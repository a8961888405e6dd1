"""Reading a Fulcio certificate, and the checks policies are made of.

Imported only when something is verified (this module imports sigstore and cryptography): the
data-only policies of :mod:`hatch_sigstore.verify.policy` list their checks from here, and
:func:`all_of` turns them into one sigstore ``VerificationPolicy``.

Reading the certificate:

- the issuer is OID 1.3.6.1.4.1.57264.1.8 (DER UTF8String), falling back to the deprecated raw
  1.3.6.1.4.1.57264.1.1 that older certificates carry alone (sigstore's ``Identity`` policy
  reads only .1);
- the GitLab claims are the DER UTF8String extensions .9 to .24 (Fulcio ``docs/oid-info.md``).

Every check raises ``sigstore.errors.VerificationError`` with a sentence naming the claim, what
the certificate says and the value that was expected ("the certificate's project id (OID …15) is
'55235664', expected project id '1'"). It names no CLI flag or TOML key: the same reasons are
shown by ``hatch-sigstore verify``/``download``, the publisher and the build hook, whose options
are spelled differently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from cryptography.x509 import (
    Certificate,
    ExtensionNotFound,
    ObjectIdentifier,
    OtherName,
    RFC822Name,
    SubjectAlternativeName,
    UniformResourceIdentifier,
)
from sigstore.errors import VerificationError
from sigstore.verify import policy as sp

from hatch_sigstore.verify._regexp import compile_re2

__all__ = ["CertClaims", "Check", "OneSAN", "all_of", "claims_of"]

_FULCIO = "1.3.6.1.4.1.57264.1."
OID_ISSUER_V1 = ObjectIdentifier(_FULCIO + "1")
OID_OTHERNAME = ObjectIdentifier(_FULCIO + "7")
OID_ISSUER = ObjectIdentifier(_FULCIO + "8")
OID_RUNNER_ENVIRONMENT = ObjectIdentifier(_FULCIO + "11")
OID_SOURCE_REPOSITORY_URI = ObjectIdentifier(_FULCIO + "12")
OID_SOURCE_REPOSITORY_DIGEST = ObjectIdentifier(_FULCIO + "13")
OID_SOURCE_REPOSITORY_REF = ObjectIdentifier(_FULCIO + "14")
OID_SOURCE_REPOSITORY_IDENTIFIER = ObjectIdentifier(_FULCIO + "15")


def _der_utf8string(raw: bytes) -> str:
    """Decode a DER UTF8String (tag 0x0C), the encoding Fulcio uses from OID .8 on."""
    if len(raw) < 2 or raw[0] != 0x0C:
        raise ValueError("not a DER UTF8String")
    length, offset = raw[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(raw) < 2 + count:
            raise ValueError("bad DER length")
        length, offset = int.from_bytes(raw[2 : 2 + count], "big"), 2 + count
    if offset + length != len(raw):
        raise ValueError("DER length does not match the extension's size")
    return raw[offset:].decode("utf-8")


def _extension_bytes(cert: Certificate, oid: ObjectIdentifier) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except ExtensionNotFound:
        return None
    raw = getattr(value, "value", None)
    return raw if isinstance(raw, bytes) else None


def extension_text(cert: Certificate, oid: ObjectIdentifier) -> str | None:
    """The value of a Fulcio v2 (DER UTF8String) extension, ``None`` when absent or malformed."""
    raw = _extension_bytes(cert, oid)
    if raw is None:
        return None
    try:
        return _der_utf8string(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def issuer_of(cert: Certificate) -> str | None:
    """The OIDC issuer: OID .8, else the legacy raw OID .1."""
    issuer = extension_text(cert, OID_ISSUER)
    if issuer is not None:
        return issuer
    raw = _extension_bytes(cert, OID_ISSUER_V1)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def sans_of(cert: Certificate) -> list[str]:
    """Every identity in the SAN: URIs (CI workloads), emails (people), Sigstore other names."""
    try:
        san = cert.extensions.get_extension_for_class(SubjectAlternativeName).value
    except ExtensionNotFound:
        return []
    names: list[str] = list(san.get_values_for_type(UniformResourceIdentifier))
    names += san.get_values_for_type(RFC822Name)
    for other in san.get_values_for_type(OtherName):
        if other.type_id == OID_OTHERNAME:
            try:
                names.append(_der_utf8string(other.value))
            except (ValueError, UnicodeDecodeError):
                continue
    return names


@dataclass(frozen=True)
class CertClaims:
    """What a result reports about the signer."""

    identity: str | None
    issuer: str | None
    ref: str | None
    repository: str | None
    project_id: str | None


def claims_of(cert: Certificate) -> CertClaims:
    sans = sans_of(cert)
    return CertClaims(
        identity=sans[0] if sans else None,
        issuer=issuer_of(cert),
        ref=extension_text(cert, OID_SOURCE_REPOSITORY_REF),
        repository=extension_text(cert, OID_SOURCE_REPOSITORY_URI),
        project_id=extension_text(cert, OID_SOURCE_REPOSITORY_IDENTIFIER),
    )


# --- checks -----------------------------------------------------------------------------------


class Check:
    """One expectation on the certificate; ``verify`` raises sigstore's VerificationError."""

    def verify(self, cert: Certificate) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class IssuerIs(Check):
    def __init__(self, expected: str) -> None:
        self.expected = expected

    def verify(self, cert: Certificate) -> None:
        actual = issuer_of(cert)
        if actual != self.expected:
            raise VerificationError(
                f"the certificate's OIDC issuer is {actual!r}, expected OIDC issuer "
                f"{self.expected!r}"
            )


class OneSAN(Check):
    """Exactly one Subject Alternative Name, as Fulcio issues: a second name (of any type) is
    a name no policy was written for."""

    def verify(self, cert: Certificate) -> None:
        try:
            san = cert.extensions.get_extension_for_class(SubjectAlternativeName).value
        except ExtensionNotFound:
            raise VerificationError(
                "the certificate has no Subject Alternative Name; Fulcio always writes one"
            ) from None
        if len(san) != 1:
            raise VerificationError(
                f"the certificate carries {len(san)} Subject Alternative Names "
                f"({_names(sans_of(cert))}); Fulcio issues exactly one"
            )


class IssuerMatches(Check):
    def __init__(self, pattern: str) -> None:
        self.pattern, self.regex = pattern, compile_re2(pattern)

    def verify(self, cert: Certificate) -> None:
        actual = issuer_of(cert)
        if actual is None or not self.regex.search(actual):
            raise VerificationError(
                f"the certificate's OIDC issuer {actual!r} does not match the expected OIDC "
                f"issuer pattern {self.pattern!r}"
            )


class IdentityIs(Check):
    def __init__(self, expected: str, detail: str = "") -> None:
        self.expected, self.detail = expected, detail

    def verify(self, cert: Certificate) -> None:
        sans = sans_of(cert)
        if self.expected not in sans:
            raise VerificationError(
                f"the certificate's identity is {_names(sans)}, expected identity "
                f"{self.expected!r}{self.detail}"
            )


class IdentityMatches(Check):
    def __init__(self, pattern: str) -> None:
        self.pattern, self.regex = pattern, compile_re2(pattern)

    def verify(self, cert: Certificate) -> None:
        sans = sans_of(cert)
        if not any(self.regex.search(name) for name in sans):
            raise VerificationError(
                f"the certificate's identity {_names(sans)} does not match the expected "
                f"identity pattern {self.pattern!r}"
            )


class ExtensionIs(Check):
    """A Fulcio v2 extension equals a value (what sigstore's ``_SingleX509ExtPolicyV2`` does,
    with the claim's name and OID in the message)."""

    def __init__(self, oid: ObjectIdentifier, label: str, expected: str) -> None:
        self.oid, self.label, self.expected = oid, label, expected

    def verify(self, cert: Certificate) -> None:
        actual = extension_text(cert, self.oid)
        where = f"{self.label} (OID {self.oid.dotted_string})"
        if actual is None:
            raise VerificationError(
                f"the certificate has no {where}, expected {self.label} {self.expected!r}"
            )
        if actual != self.expected:
            raise VerificationError(
                f"the certificate's {where} is {actual!r}, expected {self.label} {self.expected!r}"
            )


class RefGlob(Check):
    """OID .14 (source repository ref) matches a shell-style pattern (``fnmatchcase``)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def verify(self, cert: Certificate) -> None:
        ref = extension_text(cert, OID_SOURCE_REPOSITORY_REF)
        if ref is None:
            raise VerificationError(
                "the certificate has no ref (OID .14) to match the expected ref pattern "
                f"{self.pattern!r}"
            )
        if not ref_matches(self.pattern, ref):
            raise VerificationError(
                f"the certificate's ref {ref!r} does not match the expected ref pattern "
                f"{self.pattern!r}"
            )


class GitLabSAN(Check):
    """The SAN is exactly ``https://HOST/PROJECT//CONFIG@REF`` for the certificate's own ref.

    ``REF`` is taken from OID .14, which the other checks pin (exactly or by pattern) or leave
    free; this check ties the SAN, i.e. the CI configuration file that ran, to the project.
    """

    def __init__(self, host: str, project_path: str, config_path: str) -> None:
        self.prefix = f"https://{host}/{project_path}//{config_path}@"
        self.detail = f" (project {project_path}, CI config {config_path})"

    def verify(self, cert: Certificate) -> None:
        ref = extension_text(cert, OID_SOURCE_REPOSITORY_REF)
        if ref is None:
            raise VerificationError(
                "the certificate has no ref (OID .14): it was not issued for a GitLab CI job"
            )
        IdentityIs(self.prefix + ref, self.detail).verify(cert)


def _names(sans: Sequence[str]) -> str:
    if not sans:
        return "empty"
    return ", ".join(repr(name) for name in sans)


def ref_matches(pattern: str, ref: str) -> bool:
    """``--ref-glob``: ``fnmatchcase`` over the whole ref (``*`` also crosses ``/``)."""
    return fnmatchcase(ref, pattern)


# --- checks -> sigstore policy -----------------------------------------------------------------


def all_of(checks: Iterable[Check]) -> sp.VerificationPolicy:
    """One sigstore ``VerificationPolicy``: every check must pass."""
    # AllOf refuses an empty list, so a policy with no checks can never pass.
    return sp.AllOf(list(checks))
