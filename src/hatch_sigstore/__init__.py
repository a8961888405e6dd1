"""hatch-sigstore: sign wheels and sdists with Sigstore as hatch builds them; publish to GitLab.

The public Python API, chosen here and loaded lazily (PEP 562): ``import hatch_sigstore`` costs
nothing, and build environments, which import ``hatch_sigstore.hatch.hooks``, never pay for
sigstore or httpx unless they sign or publish.

* signing: :class:`SignOptions`, :class:`SigningSession`, :func:`sign_files`, :class:`SignedFile`
* verifying: :class:`Policy` (:class:`GitLabPolicy`, :class:`CosignPolicy`),
  :func:`verify_files`, :class:`FileResult`, :func:`require_verified`
* the expected signer and the Sigstore to trust: :class:`ExpectedIdentity`, :class:`TrustChoice`
* consumers: :class:`DownloadReport` (from :func:`hatch_sigstore.download.download`: the
  subpackage ``hatch_sigstore.download`` owns that name)
* errors: :class:`HatchSigstoreError` and its subclasses, each with a ``remediation``

Publishing is a sequence of steps rather than one call: see :mod:`hatch_sigstore.publish`.
Everything else (``_``-prefixed modules, the hatch glue, the CLI, the sandbox) may change.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hatch_sigstore.__about__ import __version__

if TYPE_CHECKING:
    from hatch_sigstore.download import DownloadReport
    from hatch_sigstore.errors import (
        ConfigError,
        HatchSigstoreError,
        PublishError,
        RegistryError,
        SigningError,
        TokenError,
        TrustConfigError,
        VerificationError,
    )
    from hatch_sigstore.identity import ExpectedIdentity
    from hatch_sigstore.sign import SignedFile, SigningSession, SignOptions, sign_files
    from hatch_sigstore.trust import TrustChoice
    from hatch_sigstore.verify import (
        CosignPolicy,
        FileResult,
        GitLabPolicy,
        Policy,
        require_verified,
        verify_files,
    )

# name -> the module that defines it
_API = {
    "ConfigError": "hatch_sigstore.errors",
    "HatchSigstoreError": "hatch_sigstore.errors",
    "PublishError": "hatch_sigstore.errors",
    "RegistryError": "hatch_sigstore.errors",
    "SigningError": "hatch_sigstore.errors",
    "TokenError": "hatch_sigstore.errors",
    "TrustConfigError": "hatch_sigstore.errors",
    "VerificationError": "hatch_sigstore.errors",
    "ExpectedIdentity": "hatch_sigstore.identity",
    "TrustChoice": "hatch_sigstore.trust",
    "SignOptions": "hatch_sigstore.sign",
    "SignedFile": "hatch_sigstore.sign",
    "SigningSession": "hatch_sigstore.sign",
    "sign_files": "hatch_sigstore.sign",
    "CosignPolicy": "hatch_sigstore.verify",
    "FileResult": "hatch_sigstore.verify",
    "GitLabPolicy": "hatch_sigstore.verify",
    "Policy": "hatch_sigstore.verify",
    "require_verified": "hatch_sigstore.verify",
    "verify_files": "hatch_sigstore.verify",
    "DownloadReport": "hatch_sigstore.download",
}

__all__ = [
    "ConfigError",
    "CosignPolicy",
    "DownloadReport",
    "ExpectedIdentity",
    "FileResult",
    "GitLabPolicy",
    "HatchSigstoreError",
    "Policy",
    "PublishError",
    "RegistryError",
    "SignOptions",
    "SignedFile",
    "SigningError",
    "SigningSession",
    "TokenError",
    "TrustChoice",
    "TrustConfigError",
    "VerificationError",
    "__version__",
    "require_verified",
    "sign_files",
    "verify_files",
]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
