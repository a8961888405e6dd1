"""The certificate checks of PyPI's trusted publishers, as pypi-attestations makes them.

``pypi_attestations._impl`` (``_GitLabTrustedPublisherPolicy``, ``_GitHubTrustedPublisherPolicy``),
which warehouse runs on every attestation uploaded with a trusted-publishing token
(``warehouse/attestations/services.py``): the issuer (OID .8) is the CI service's, the source
repository (.12) is ``https://HOST/REPOSITORY`` exactly as the publisher spells it, and the
build config URI (.18) is the publisher's CI file at the certificate's own commit (.13) or ref
(.14). Imported only when a certificate is checked (cryptography, sigstore).
"""

from __future__ import annotations

from cryptography.x509 import Certificate, ObjectIdentifier
from sigstore.errors import VerificationError

from hatch_sigstore.verify._certificate import (
    OID_SOURCE_REPOSITORY_DIGEST,
    OID_SOURCE_REPOSITORY_REF,
    Check,
    extension_text,
)

__all__ = ["OID_BUILD_CONFIG_URI", "BuildConfigIs"]

OID_BUILD_CONFIG_URI = ObjectIdentifier("1.3.6.1.4.1.57264.1.18")  # Fulcio docs/oid-info.md


class BuildConfigIs(Check):
    """OID .18 is ``{prefix}@{commit}`` or ``{prefix}@{ref}`` for the certificate's own commit
    (.13) and ref (.14): the publisher's CI file ran, whatever the ref."""

    def __init__(self, prefix: str, what: str) -> None:
        self.prefix = prefix
        self.what = what  # "the CI file .gitlab-ci.yml of gitlab.com/group/project"

    def verify(self, cert: Certificate) -> None:
        actual = extension_text(cert, OID_BUILD_CONFIG_URI)
        suffixes = [
            value
            for value in (
                extension_text(cert, OID_SOURCE_REPOSITORY_DIGEST),
                extension_text(cert, OID_SOURCE_REPOSITORY_REF),
            )
            if value
        ]
        if not suffixes:
            raise VerificationError(
                "the certificate has neither a commit (OID .13) nor a ref (OID .14), so its "
                "build config cannot be matched to a trusted publisher"
            )
        if actual is None or actual not in {f"{self.prefix}@{s}" for s in suffixes}:
            raise VerificationError(
                f"the certificate's build config (OID .18) is {actual!r}, expected {self.what} "
                f"({self.prefix}@<its ref or commit>)"
            )
