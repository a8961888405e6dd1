"""Verify files from their sidecars against a signer policy, offline, in one process.

Sidecars, in the order they are looked for (``sidecar=`` picks one):

- ``bundle``: ``F.sigstore.json`` (or the legacy ``F.sigstore``), a Sigstore bundle; verified
  offline against the trusted root.
- ``attestation``: ``F.publish.attestation``, a PEP 740 attestation; converted to a bundle and
  verified as DSSE, then the in-toto statement must name this file (subject name), its sha256,
  and PyPI's publish predicate.
- ``cosign``: ``F.sig`` + ``F.crt``, cosign's detached signature and certificate. They carry no
  log proof, so the log entry is fetched from the transparency log's retrieve API (online),
  exactly as ``cosign verify-blob`` and ``sigstore verify --certificate`` do. With
  ``offline=True`` (the default) such a file fails with a reason saying what to do instead.

Nothing here raises for a file that does not verify: each file gets a :class:`FileResult`.
sigstore is imported only when something is verified (the build hook imports this module).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hatch_sigstore._files import (
    ATTESTATION_SUFFIX,
    BUNDLE_SUFFIX,
    CERTIFICATE_SUFFIX,
    LEGACY_BUNDLE_SUFFIX,
    SIGNATURE_SUFFIX,
)
from hatch_sigstore.ci import DEFAULT_CONFIG_PATH, ExpectedIdentity
from hatch_sigstore.errors import ConfigError, VerificationError
from hatch_sigstore.trust import TrustChoice

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle
    from sigstore.verify import Verifier
    from sigstore.verify.policy import VerificationPolicy

__all__ = [
    "DEFAULT_LOG_TIMEOUT",
    "PYPI_PUBLISH_PREDICATE",
    "SIDECAR_KINDS",
    "FileResult",
    "Policy",
    "require_verified",
    "verify_file",
    "verify_files",
]

SIDECAR_KINDS = ("bundle", "attestation", "cosign")
PYPI_PUBLISH_PREDICATE = "https://docs.pypi.org/attestations/publish/v1"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_INTOTO_STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
_BUNDLE_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
)
_CHUNK = 1 << 20
DEFAULT_LOG_TIMEOUT = 30.0  # seconds, for the online log lookup of .sig/.crt
_HEX_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
SidecarKind = Literal["bundle", "attestation", "cosign"]


# --- policy -----------------------------------------------------------------------------------


def _compile(pattern: str, flag: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(
            f"{flag} {pattern!r} is not a valid regular expression ({exc}).",
            remediation="Fix the pattern; like cosign, it is searched anywhere in the value, "
            "so anchor it with ^ and $ to match the whole value.",
        ) from None


@dataclass(frozen=True)
class Policy:
    """Who must have signed. Build with :meth:`gitlab` or :meth:`cosign`; the object is data."""

    kind: Literal["gitlab", "cosign"]
    identity: ExpectedIdentity | None = None
    ref_glob: str | None = None
    runner_environment: str | None = None
    sha: str | None = None
    cert_identity: str | None = None
    cert_identity_regexp: str | None = None
    cert_oidc_issuer: str | None = None
    cert_oidc_issuer_regexp: str | None = None

    @classmethod
    def gitlab(
        cls,
        identity: ExpectedIdentity,
        *,
        ref_glob: str | None = None,
        runner_environment: str | None = None,
        sha: str | None = None,
    ) -> Policy:
        """A GitLab CI pipeline of ``identity.project_path`` on ``identity.server``.

        Checked from the certificate: issuer (.8, else .1) is the server, source repository
        (.12) is ``SERVER/PROJECT``, the SAN is ``https://HOST/PROJECT//CONFIG@REF`` for the
        certificate's own ref (.14). ``identity.ref`` pins the ref exactly, ``ref_glob``
        by pattern, neither allows any ref; ``identity.project_id`` pins .15,
        ``runner_environment`` .11 and ``sha`` .13.
        """
        server = identity.server.rstrip("/")
        if not re.fullmatch(r"https?://[^/\s]+(/[^\s]*)?", server):
            raise ConfigError(
                f"The GitLab server {identity.server!r} is not an http(s) URL.",
                remediation="Pass --server https://gitlab.example.com (the value of "
                "CI_SERVER_URL; https://gitlab.com by default).",
            )
        project = identity.project_path.strip("/")
        if "/" not in project or any(not part for part in project.split("/")) or " " in project:
            raise ConfigError(
                f"The GitLab project {identity.project_path!r} is not a GROUP/PROJECT path.",
                remediation="Pass --gitlab GROUP/PROJECT (the value of CI_PROJECT_PATH, e.g. "
                "my-group/my-project).",
            )
        config = identity.config_path.strip() or DEFAULT_CONFIG_PATH
        if identity.ref is not None and ref_glob is not None:
            raise ConfigError(
                "Both --ref and --ref-glob were given.",
                remediation="Pin one exact ref with --ref, or a pattern with --ref-glob.",
            )
        if identity.ref is not None and not identity.ref.startswith(("refs/heads/", "refs/tags/")):
            raise ConfigError(
                f"--ref {identity.ref!r} is not a full ref; a branch and a tag of that name are "
                "different signers.",
                remediation=f"Pass --ref refs/heads/{identity.ref} for the branch or --ref "
                f"refs/tags/{identity.ref} for the tag.",
            )
        if ref_glob is not None and not ref_glob.startswith("refs/"):
            raise ConfigError(
                f"--ref-glob {ref_glob!r} does not start with refs/, so it can never match the "
                "certificate's ref (refs/heads/BRANCH or refs/tags/TAG).",
                remediation=f"Pass e.g. --ref-glob 'refs/tags/{ref_glob}'.",
            )
        if sha is not None and not _HEX_SHA.fullmatch(sha):
            raise ConfigError(
                f"--sha {sha!r} is not a full commit SHA (40 or 64 lower-case hex digits).",
                remediation="Pass the value of CI_COMMIT_SHA.",
            )
        if identity.project_id is not None and not identity.project_id.isdigit():
            raise ConfigError(
                f"--project-id {identity.project_id!r} is not a number.",
                remediation="Pass the numeric project ID (CI_PROJECT_ID, shown on the project's "
                "overview page).",
            )
        normalized = ExpectedIdentity(
            server=server,
            project_path=project,
            ref=identity.ref,
            config_path=config,
            project_id=identity.project_id,
        )
        return cls(
            "gitlab",
            identity=normalized,
            ref_glob=ref_glob,
            runner_environment=runner_environment,
            sha=sha,
        )

    @classmethod
    def cosign(
        cls,
        *,
        cert_identity: str | None = None,
        cert_identity_regexp: str | None = None,
        cert_oidc_issuer: str | None = None,
        cert_oidc_issuer_regexp: str | None = None,
    ) -> Policy:
        """cosign's ``--certificate-identity[-regexp]`` and ``--certificate-oidc-issuer[-regexp]``.

        As in cosign, exact values must equal one SAN / the issuer, and regexps are *searched*
        (Go's ``regexp.MatchString``, unanchored): anchor them with ``^...$``. One identity and
        one issuer constraint are required, as cosign requires them for keyless verification.
        """
        if cert_identity is None and cert_identity_regexp is None:
            raise ConfigError(
                "No signer identity was given, and hatch-sigstore will not guess one.",
                remediation="Pass --gitlab GROUP/PROJECT (GitLab CI), --cert-identity or "
                "--cert-identity-regexp (any signer), or --from-ci inside a GitLab pipeline.",
            )
        if cert_identity is not None and cert_identity_regexp is not None:
            raise ConfigError(
                "Both --cert-identity and --cert-identity-regexp were given.",
                remediation="Pass one of them.",
            )
        if cert_oidc_issuer is None and cert_oidc_issuer_regexp is None:
            raise ConfigError(
                "No OIDC issuer was given for --cert-identity(-regexp).",
                remediation="Pass --cert-oidc-issuer (e.g. https://gitlab.com, the GitLab "
                "instance URL) or --cert-oidc-issuer-regexp, as cosign requires.",
            )
        if cert_oidc_issuer is not None and cert_oidc_issuer_regexp is not None:
            raise ConfigError(
                "Both --cert-oidc-issuer and --cert-oidc-issuer-regexp were given.",
                remediation="Pass one of them.",
            )
        if cert_identity_regexp is not None:
            _compile(cert_identity_regexp, "--cert-identity-regexp")
        if cert_oidc_issuer_regexp is not None:
            _compile(cert_oidc_issuer_regexp, "--cert-oidc-issuer-regexp")
        return cls(
            "cosign",
            cert_identity=cert_identity,
            cert_identity_regexp=cert_identity_regexp,
            cert_oidc_issuer=cert_oidc_issuer,
            cert_oidc_issuer_regexp=cert_oidc_issuer_regexp,
        )

    def describe(self) -> str:
        if self.kind == "gitlab":
            ident = self.identity
            assert ident is not None
            if ident.ref is not None:
                ref = f"ref {ident.ref}"
            elif self.ref_glob is not None:
                ref = f"refs matching {self.ref_glob}"
            else:
                ref = "any ref"
            parts = [f"GitLab CI of {ident.repository_uri} ({ident.config_path}, {ref})"]
            if ident.project_id is not None:
                parts.append(f"project id {ident.project_id}")
            if self.runner_environment is not None:
                parts.append(f"runner {self.runner_environment}")
            if self.sha is not None:
                parts.append(f"commit {self.sha}")
            return ", ".join(parts)
        who = (
            f"identity {self.cert_identity}"
            if self.cert_identity is not None
            else f"identity matching {self.cert_identity_regexp}"
        )
        issuer = (
            f"issuer {self.cert_oidc_issuer}"
            if self.cert_oidc_issuer is not None
            else f"issuer matching {self.cert_oidc_issuer_regexp}"
        )
        return f"{who}, {issuer}"

    def sigstore_policy(self) -> VerificationPolicy:
        """This policy as a sigstore ``VerificationPolicy`` (imports sigstore)."""
        from hatch_sigstore import _policy

        return _policy.build(self)


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileResult:
    """The verdict for one file. ``reason`` says why when ``ok`` is false.

    ``identity`` (SAN), ``issuer``, ``ref`` (.14), ``repository`` (.12) and ``project_id`` (.15)
    are read from the signing certificate whenever one could be parsed, also on failure: they
    show who actually signed.
    """

    artifact: Path
    ok: bool
    sidecar: str | None
    sha256: str | None
    identity: str | None
    issuer: str | None
    reason: str | None
    ref: str | None = None
    repository: str | None = None
    project_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["artifact"] = str(self.artifact)
        return data


class _FileFailedError(Exception):
    """A per-file failure with its reason; becomes ``FileResult.reason``."""


@dataclass
class _Outcome:
    sidecar: str | None = None
    sha256: str | None = None
    cert: Certificate | None = None


def require_verified(results: Sequence[FileResult]) -> None:
    """Raise :class:`VerificationError` naming every file that did not verify."""
    failed = [r for r in results if not r.ok]
    if not results:
        raise VerificationError(
            "No file was verified.",
            remediation="Give the artifacts (not their .sigstore.json sidecars) to verify.",
        )
    if failed:
        lines = "; ".join(f"{r.artifact.name}: {r.reason}" for r in failed)
        raise VerificationError(
            f"{len(failed)} of {len(results)} files did not verify: {lines}.",
            remediation="Do not use these files. Re-sign them, or check the expected signer "
            "(policy) and the trust root you verify against.",
        )


# --- verification -----------------------------------------------------------------------------


def verify_file(
    path: str | Path,
    policy: Policy,
    trust: TrustChoice,
    *,
    offline: bool = True,
    sidecar: str | None = None,
    log_timeout: float = DEFAULT_LOG_TIMEOUT,
) -> FileResult:
    """Verify one file (see :func:`verify_files`)."""
    return verify_files(
        [path], policy, trust, offline=offline, sidecar=sidecar, log_timeout=log_timeout
    )[0]


def verify_files(
    paths: Iterable[str | Path],
    policy: Policy,
    trust: TrustChoice,
    *,
    offline: bool = True,
    sidecar: str | None = None,
    log_timeout: float = DEFAULT_LOG_TIMEOUT,
) -> list[FileResult]:
    """Verify every file with one Verifier. Offline unless a cosign sidecar needs the log.

    The trusted root is always loaded offline (the embedded copy for production/staging, the
    file for a trust config); ``offline=False`` only allows the log lookup that ``.sig`` +
    ``.crt`` need. Raises only for unusable configuration (trust config, ``sidecar`` value).
    """
    if sidecar is not None and sidecar not in SIDECAR_KINDS:
        raise ConfigError(
            f"Unknown sidecar kind {sidecar!r}.",
            remediation=f"Use one of: {', '.join(SIDECAR_KINDS)}.",
        )
    verifier = _make_verifier(trust)
    sigstore_policy = policy.sigstore_policy()
    session = _Session(verifier, sigstore_policy, trust, offline=offline, log_timeout=log_timeout)
    return [session.verify(Path(p), sidecar) for p in paths]


def _make_verifier(trust: TrustChoice) -> Verifier:
    from hatch_sigstore.errors import TrustConfigError

    try:
        return trust.verifier(offline=True)
    except TrustConfigError:
        raise
    except Exception as exc:
        raise TrustConfigError(
            f"Cannot build a verifier for {trust.describe()}: {_first_line(exc)}.",
            remediation="Check the trust config (--trust-config / HATCH_SIGSTORE_TRUST_CONFIG): "
            "its trustedRoot needs certificate authorities, transparency logs and CT logs.",
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _sha256_of(path: Path) -> Hashed:
    """Stream the file's sha256 (1 MiB at a time), never the whole file in memory."""
    from sigstore.hashes import Hashed
    from sigstore_models.common.v1 import HashAlgorithm

    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as stream:
        while True:
            n = stream.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
    return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest.digest())


class _PolicyProbe:
    """Wraps the policy to tell a policy failure from a cryptographic one."""

    def __init__(self, inner: VerificationPolicy) -> None:
        self.inner = inner
        self.failure: str | None = None

    def verify(self, cert: Certificate) -> None:
        from sigstore.errors import VerificationError as SigstoreVerificationError

        try:
            self.inner.verify(cert)
        except SigstoreVerificationError as exc:
            self.failure = _first_line(exc)
            raise


class _Session:
    def __init__(
        self,
        verifier: Verifier,
        policy: VerificationPolicy,
        trust: TrustChoice,
        *,
        offline: bool,
        log_timeout: float,
    ) -> None:
        self.log_timeout = log_timeout
        self.verifier = verifier
        self.policy = policy
        self.trust = trust
        self.offline = offline
        self._rekor_log: Any = None

    # -- per file --

    def verify(self, path: Path, sidecar: str | None) -> FileResult:
        outcome = _Outcome()
        reason: str | None = None
        try:
            self._verify(path, sidecar, outcome)
        except _FileFailedError as failure:
            reason = str(failure)
        except Exception as exc:  # untrusted input: sigstore can leak anything
            reason = f"verification failed: {exc.__class__.__name__}: {_first_line(exc)}"
        claims = None
        if outcome.cert is not None:
            from hatch_sigstore._policy import claims_of

            try:
                claims = claims_of(outcome.cert)
            except Exception:
                claims = None
        return FileResult(
            artifact=path,
            ok=reason is None,
            sidecar=outcome.sidecar,
            sha256=outcome.sha256,
            identity=claims.identity if claims else None,
            issuer=claims.issuer if claims else None,
            reason=reason,
            ref=claims.ref if claims else None,
            repository=claims.repository if claims else None,
            project_id=claims.project_id if claims else None,
        )

    def _verify(self, path: Path, wanted: str | None, outcome: _Outcome) -> None:
        if not path.is_file():
            raise _FileFailedError(f"{path} does not exist or is not a file")
        kind, files = _find_sidecar(path, wanted)
        outcome.sidecar = kind
        if kind == "cosign" and self.offline:
            raise _FileFailedError(
                f"{files[0].name} + {files[1].name} (cosign) can be checked only online: the "
                f"transparency log entry is looked up; verify the {path.name}{BUNDLE_SUFFIX} "
                "bundle instead (it carries the log proof), or verify online"
            )
        hashed = _sha256_of(path)
        outcome.sha256 = hashed.digest.hex()
        if kind == "bundle":
            self._verify_bundle(path, files[0], hashed, outcome)
        elif kind == "attestation":
            self._verify_attestation(path, files[0], hashed, outcome)
        else:
            self._verify_cosign(path, files[0], files[1], hashed, outcome)

    def _check(self, bundle: Bundle, hashed: Hashed | None) -> tuple[str, bytes] | None:
        """Run sigstore's verification, translating its errors into one clear reason."""
        probe = _PolicyProbe(self.policy)
        try:
            if hashed is None:
                return self.verifier.verify_dsse(bundle, probe)
            self.verifier.verify_artifact(hashed, bundle, probe)
            return None
        except Exception as exc:
            if probe.failure is not None:
                raise _FileFailedError(f"wrong signer: {probe.failure}") from None
            raise _FileFailedError(self._explain(exc)) from None

    def _explain(self, exc: Exception) -> str:
        text = _first_line(exc)
        lowered = text.lower()
        if "signed certificate timestamp" in lowered or "certificate timestamp" in lowered:
            return (
                f"the signing certificate carries no usable SCT (certificate transparency "
                f"proof): {text}; the CA that issued it does not log to a CT log that "
                f"{self.trust.describe()} trusts"
            )
        if "chain" in lowered or isinstance(exc, _cert_validation_error()):
            return (
                f"the signing certificate does not chain to {self.trust.describe()} ({text}); "
                "if it was signed by another Sigstore instance (staging, or a private one), "
                "verify against that instance's trust config"
            )
        if "inclusion" in lowered or "checkpoint" in lowered or "inclusion promise" in lowered:
            return (
                f"the transparency log proof in the sidecar does not verify ({text}): the "
                "sidecar was altered or is from another log"
            )
        if "signature" in lowered and "invalid" in lowered:
            return f"the signature does not verify ({text}): the file or sidecar was altered"
        return f"verification failed: {text}"

    def _verify_bundle(self, path: Path, sidecar: Path, hashed: Hashed, outcome: _Outcome) -> None:
        from sigstore.models import Bundle

        raw = _read_sidecar(sidecar)
        try:
            document = json.loads(raw)
        except ValueError:
            raise _FileFailedError(
                f"{sidecar.name} is not JSON (truncated or corrupt?); re-download or re-sign"
            ) from None
        if not isinstance(document, dict):
            raise _FileFailedError(f"{sidecar.name} is JSON but not a Sigstore bundle object")
        media_type = document.get("mediaType")
        if media_type not in _BUNDLE_MEDIA_TYPES:
            raise _FileFailedError(
                f"{sidecar.name} has unknown media type {media_type!r}; expected a Sigstore "
                "bundle (application/vnd.dev.sigstore.bundle.v0.3+json, or v0.1/v0.2)"
            )
        try:
            bundle = Bundle.from_json(raw)
        except Exception as exc:
            raise _FileFailedError(
                f"{sidecar.name} is not a valid Sigstore bundle ({_first_line(exc)})"
            ) from None
        outcome.cert = bundle.signing_certificate
        if "dsseEnvelope" in document:
            self._verify_statement_bundle(path, bundle, hashed, predicate=None)
            return
        signed = _bundle_digest(document)
        if signed is not None and signed != hashed.digest.hex():
            raise _FileFailedError(
                f"the file's sha256 {hashed.digest.hex()} is not the digest {sidecar.name} "
                f"signs ({signed}): the file was changed after signing, or the bundle belongs "
                "to another file"
            )
        self._check(bundle, hashed)

    def _verify_statement_bundle(
        self, path: Path, bundle: Bundle, hashed: Hashed, *, predicate: str | None
    ) -> None:
        checked = self._check(bundle, None)
        assert checked is not None
        payload_type, payload = checked
        _check_statement(path, hashed, payload_type, payload, predicate=predicate)

    def _verify_attestation(
        self, path: Path, sidecar: Path, hashed: Hashed, outcome: _Outcome
    ) -> None:
        from pypi_attestations import Attestation

        raw = _read_sidecar(sidecar)
        try:
            json.loads(raw)
        except ValueError:
            raise _FileFailedError(
                f"{sidecar.name} is not JSON (truncated or corrupt?); re-download or re-sign"
            ) from None
        try:
            attestation = Attestation.model_validate_json(raw)
            bundle = attestation.to_bundle()
        except Exception as exc:
            raise _FileFailedError(
                f"{sidecar.name} is not a valid PEP 740 attestation ({_first_line(exc)})"
            ) from None
        outcome.cert = bundle.signing_certificate
        self._verify_statement_bundle(path, bundle, hashed, predicate=PYPI_PUBLISH_PREDICATE)

    def _verify_cosign(
        self, path: Path, sig_path: Path, crt_path: Path, hashed: Hashed, outcome: _Outcome
    ) -> None:
        from cryptography.x509 import load_pem_x509_certificate
        from sigstore._internal.rekor import _hashedrekord_from_parts
        from sigstore.models import Bundle

        cert_bytes = _read_sidecar(crt_path)
        try:
            cert = load_pem_x509_certificate(_unwrap_base64_pem(cert_bytes))
        except ValueError:
            raise _FileFailedError(f"{crt_path.name} is not a PEM certificate") from None
        outcome.cert = cert
        signature = _decode_signature(_read_sidecar(sig_path), sig_path.name)
        entry = self._retrieve(_hashedrekord_from_parts(cert, signature, hashed))
        if entry is None:
            raise _FileFailedError(
                "the transparency log has no entry for this file, signature and certificate: "
                "the file was changed after signing, or the .sig/.crt belong to another file"
            )
        self._check(Bundle.from_parts(cert, signature, entry), hashed)

    def _retrieve(self, proposed: Any) -> Any:
        """Ask the log for the entry of detached material (online; cosign does the same)."""
        import requests
        from sigstore._internal.rekor.client import RekorLog

        if self._rekor_log is None:
            session = _session_with_timeout(self.log_timeout)
            self._rekor_log = RekorLog(f"{self.verifier._rekor.url}/log", session=session)
        url = self.verifier._rekor.url.removesuffix("/api/v1")
        try:
            return self._rekor_log.entries.retrieve.post(proposed)
        except requests.exceptions.JSONDecodeError:
            raise _FileFailedError(
                f"the transparency log at {url} answered something that is not JSON; check "
                "the trust config's log URL, or verify the .sigstore.json bundle offline"
            ) from None
        except requests.Timeout:
            raise _FileFailedError(
                f"the transparency log at {url} did not answer within {self.log_timeout:g} s; "
                "retry, or verify the .sigstore.json bundle offline"
            ) from None
        except requests.RequestException as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status == 404:
                return None
            raise _FileFailedError(
                f"cannot reach the transparency log at {url} ({_first_line(exc)}); verify "
                "the .sigstore.json bundle offline instead"
            ) from None
        except Exception as exc:
            if "404" in str(exc):
                return None
            raise _FileFailedError(
                f"the transparency log at {url} answered something unusable "
                f"({exc.__class__.__name__}: {_first_line(exc)})"
            ) from None


def _session_with_timeout(timeout: float) -> Any:
    """A requests session whose every request times out (sigstore's log client sets none)."""
    import requests
    from requests.adapters import HTTPAdapter

    class TimeoutAdapter(HTTPAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            return super().send(request, **kwargs)

    session = requests.Session()
    adapter = TimeoutAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"Content-Type": "application/json", "Accept": "application/json"})
    return session


def _cert_validation_error() -> type[Exception]:
    from sigstore.errors import CertValidationError

    return CertValidationError


def _read_sidecar(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _FileFailedError(f"cannot read {path.name} ({exc.strerror or exc})") from None
    if not data.strip():
        raise _FileFailedError(f"{path.name} is empty; re-download or re-sign")
    return data


def _unwrap_base64_pem(data: bytes) -> bytes:
    """cosign 2.x writes ``base64(PEM)`` as ``.crt``; accept it as cosign does."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return data
    try:
        decoded = base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return data
    return decoded if decoded.lstrip().startswith(b"-----BEGIN") else data


def _decode_signature(data: bytes, name: str) -> bytes:
    text = b"".join(data.split())
    try:
        signature = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        signature = data  # cosign --b64=false writes the raw DER signature
    if not signature.startswith(b"\x30"):
        raise _FileFailedError(f"{name} is not a base64 DER signature (as cosign writes it)")
    return signature


def _bundle_digest(document: dict[str, Any]) -> str | None:
    try:
        digest = document["messageSignature"]["messageDigest"]
        if digest.get("algorithm") != "SHA2_256":
            return None
        return base64.b64decode(digest["digest"]).hex()
    except (KeyError, TypeError, AttributeError, binascii.Error, ValueError):
        return None


def _find_sidecar(path: Path, wanted: str | None) -> tuple[SidecarKind, tuple[Path, ...]]:
    def beside(suffix: str) -> Path:
        return path.with_name(path.name + suffix)

    bundle = next(
        (p for p in (beside(BUNDLE_SUFFIX), beside(LEGACY_BUNDLE_SUFFIX)) if p.is_file()), None
    )
    attestation = beside(ATTESTATION_SUFFIX)
    sig, crt = beside(SIGNATURE_SUFFIX), beside(CERTIFICATE_SUFFIX)
    has_cosign = sig.is_file() and crt.is_file()

    if wanted in (None, "bundle") and bundle is not None:
        return "bundle", (bundle,)
    if wanted in (None, "attestation") and attestation.is_file():
        return "attestation", (attestation,)
    if wanted in (None, "cosign") and has_cosign:
        return "cosign", (sig, crt)
    if wanted is not None:
        expected = {
            "bundle": f"{path.name}{BUNDLE_SUFFIX}",
            "attestation": attestation.name,
            "cosign": f"{sig.name} and {crt.name}",
        }[wanted]
        raise _FileFailedError(f"no {wanted} sidecar: {expected} not found")
    if sig.is_file() != crt.is_file():
        present, absent = (sig, crt) if sig.is_file() else (crt, sig)
        raise _FileFailedError(
            f"{present.name} was found without {absent.name}; cosign material needs both, "
            f"or use the {path.name}{BUNDLE_SUFFIX} bundle"
        )
    raise _FileFailedError(
        f"no signature found: none of {path.name}{BUNDLE_SUFFIX}, {attestation.name}, "
        f"{sig.name}+{crt.name} exists beside it"
    )


def _check_statement(
    path: Path, hashed: Hashed, payload_type: str, payload: bytes, *, predicate: str | None
) -> None:
    """The verified in-toto statement must be about this file (and, for PEP 740, publish)."""
    if payload_type != INTOTO_PAYLOAD_TYPE:
        raise _FileFailedError(
            f"the signed envelope holds {payload_type!r}, not an in-toto statement"
        )
    try:
        statement = json.loads(payload)
    except ValueError:
        raise _FileFailedError("the signed in-toto statement is not JSON") from None
    if not isinstance(statement, dict) or statement.get("_type") not in _INTOTO_STATEMENT_TYPES:
        raise _FileFailedError("the signed payload is not an in-toto statement")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise _FileFailedError("the in-toto statement names no subject")
    digest = hashed.digest.hex()
    if predicate is not None:
        if statement.get("predicateType") != predicate:
            raise _FileFailedError(
                f"the attestation's predicate is {statement.get('predicateType')!r}, not "
                f"PyPI's publish attestation ({predicate})"
            )
        if len(subjects) != 1:
            raise _FileFailedError("a PEP 740 attestation must have exactly one subject")
    matching = [
        s
        for s in subjects
        if isinstance(s, dict)
        and isinstance(s.get("digest"), dict)
        and s["digest"].get("sha256") == digest
    ]
    if not matching:
        names = ", ".join(repr(s.get("name")) for s in subjects if isinstance(s, dict)) or "none"
        raise _FileFailedError(
            f"the attestation is not about this file's content: no subject has sha256 "
            f"{digest} (subjects: {names}); the file was changed or the attestation belongs "
            "to another file"
        )
    if predicate is not None:
        name = matching[0].get("name")
        if not isinstance(name, str) or not _same_distribution(name, path.name):
            raise _FileFailedError(
                f"the attestation's subject is {name!r}, not this file's name {path.name!r}"
            )


def _same_distribution(subject: str, filename: str) -> bool:
    """Equal names, or equal after packaging's filename parsing (what pypi-attestations and
    PyPI accept: ``Foo-1.0.tar.gz`` and ``foo-1.0.tar.gz`` are the same distribution)."""
    if subject == filename:
        return True
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    try:
        if subject.endswith(".whl") and filename.endswith(".whl"):
            return parse_wheel_filename(subject) == parse_wheel_filename(filename)
        if subject.endswith((".tar.gz", ".zip")) and filename.endswith((".tar.gz", ".zip")):
            return subject.endswith(".zip") == filename.endswith(".zip") and (
                parse_sdist_filename(subject) == parse_sdist_filename(filename)
            )
    except (InvalidSdistFilename, InvalidWheelFilename):
        return False
    return False
