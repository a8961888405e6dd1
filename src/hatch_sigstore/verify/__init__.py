"""Verification: files checked from their sidecars against a policy naming who must have signed.

The public face of the verification layer::

    from hatch_sigstore.verify import Policy, verify_files
    results = verify_files(paths, Policy.gitlab(identity), trust)

:mod:`~hatch_sigstore.verify.policy` holds the policies (data; each owns its checks);
:func:`verify_files` returns one :class:`FileResult` per file and never raises for a file that
does not verify (:func:`require_verified` does). Plumbing lives in private modules:
``_certificate`` (reading Fulcio's claims, the checks), ``_sidecars`` (finding and decoding
sidecars, in-toto statements), ``_verifier``, ``_results``, ``_regexp`` (cosign's RE2);
PEP 740 provenance objects and PyPI's trusted-publisher rules in ``_provenance`` and
``_publisher_checks``. :mod:`~hatch_sigstore.verify.release` binds each dist to its release
(its own metadata). Importing this package imports neither sigstore nor cryptography;
verifying does.
"""

from __future__ import annotations

from hatch_sigstore.verify._provenance import (
    PYPI_GITLAB_ISSUER,
    PublisherPolicy,
    TrustedPublisher,
    verify_provenance,
)
from hatch_sigstore.verify._results import FileResult, require_verified
from hatch_sigstore.verify._sidecars import (
    EVERY_SIDECAR,
    KNOWN_PREDICATES,
    PYPI_PUBLISH_PREDICATE,
    SIDECAR_KINDS,
)
from hatch_sigstore.verify._verifier import DEFAULT_LOG_TIMEOUT, verify_file, verify_files
from hatch_sigstore.verify.policy import CosignPolicy, GitLabPolicy, Policy
from hatch_sigstore.verify.release import (
    Examined,
    Release,
    ReleaseError,
    bind_to_release,
    examine,
    read_release,
)

__all__ = [
    "DEFAULT_LOG_TIMEOUT",
    "EVERY_SIDECAR",
    "KNOWN_PREDICATES",
    "PYPI_GITLAB_ISSUER",
    "PYPI_PUBLISH_PREDICATE",
    "SIDECAR_KINDS",
    "CosignPolicy",
    "Examined",
    "FileResult",
    "GitLabPolicy",
    "Policy",
    "PublisherPolicy",
    "Release",
    "ReleaseError",
    "TrustedPublisher",
    "bind_to_release",
    "examine",
    "read_release",
    "require_verified",
    "verify_file",
    "verify_files",
    "verify_provenance",
]
