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

``sidecar="every"`` (the publisher's preflight) requires *every* sidecar beside the file to
verify against the policy, and at least one to exist: a ``.sig`` without its ``.crt`` or an
unverifiable attestation fails the file. ``.sig`` + ``.crt`` that are exactly the signature and
certificate of a bundle that verified are verified with it, offline.

Once the signature verifies, a file whose name is a wheel's or an sdist's is bound to its
release (:mod:`hatch_sigstore.verify.release`): its metadata must name the file name's project
and version, and those asked for; with the policy's ``version_from_tag``, the version must be
the certificate's tag. Each file is read once (:func:`~hatch_sigstore.verify.release.examine`:
the digest, and an sdist's metadata in the same pass), on worker threads while the verifier
loads.

Nothing here raises for a file that does not verify: each file gets a :class:`FileResult`.
sigstore is imported only when something is verified.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatch_sigstore._files import BUNDLE_SUFFIX
from hatch_sigstore.errors import ConfigError, TrustConfigError, first_line
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify._results import FileFailedError, FileResult
from hatch_sigstore.verify._sidecars import (
    BUNDLE_MEDIA_TYPES,
    EVERY_SIDECAR,
    PYPI_PUBLISH_PREDICATE,
    SIDECAR_KINDS,
    bundle_digest,
    check_statement,
    decode_signature,
    find_sidecar,
    present_sidecars,
    read_sidecar,
    unwrap_base64_pem,
)
from hatch_sigstore.verify.release import (
    Examined,
    Release,
    bind_to_release,
    examine,
    requested_version,
    tag_version_problem,
)

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle
    from sigstore.verify import Verifier
    from sigstore.verify.policy import VerificationPolicy

    from hatch_sigstore.verify.policy import Policy

__all__ = ["DEFAULT_LOG_TIMEOUT", "verify_file", "verify_files"]

DEFAULT_LOG_TIMEOUT = 30.0  # seconds, for the online log lookup of .sig/.crt


@dataclass
class _Outcome:
    sidecar: str | None = None
    sha256: str | None = None
    cert: Certificate | None = None
    # every sidecar file read, with the sha256 of the exact bytes that were verified
    read: dict[str, str] = field(default_factory=dict)
    # the signature and certificate of a message-signature bundle that verified
    bundle_material: tuple[bytes, Certificate] | None = None


def verify_file(
    path: str | Path | Examined,
    policy: Policy,
    trust: TrustChoice,
    *,
    offline: bool = True,
    sidecar: str | None = None,
    log_timeout: float = DEFAULT_LOG_TIMEOUT,
    expected_name: str | None = None,
    expected_version: str | None = None,
) -> FileResult:
    """Verify one file (see :func:`verify_files`)."""
    return verify_files(
        [path],
        policy,
        trust,
        offline=offline,
        sidecar=sidecar,
        log_timeout=log_timeout,
        expected_name=expected_name,
        expected_version=expected_version,
    )[0]


def verify_files(
    paths: Iterable[str | Path | Examined],
    policy: Policy,
    trust: TrustChoice,
    *,
    offline: bool = True,
    sidecar: str | None = None,
    log_timeout: float = DEFAULT_LOG_TIMEOUT,
    expected_name: str | None = None,
    expected_version: str | None = None,
    follow_symlinks: bool = True,
) -> list[FileResult]:
    """Verify every file with one Verifier, and bind each dist to its release.

    The trusted root is always loaded offline (the embedded copy for production/staging, the
    file for a trust config); ``offline=False`` only allows the log lookup that ``.sig`` +
    ``.crt`` need. ``sidecar``: one kind, ``"every"`` (all present must verify) or None (the
    first found). ``expected_name`` / ``expected_version``: the release asked for (every file
    must be of it). Files already read by :func:`~hatch_sigstore.verify.release.examine` are
    not read again. ``follow_symlinks=False`` (publishing): a file that is a symbolic link,
    or becomes one before it is read, fails (only the file itself is read, never a link's
    target). Raises only for unusable configuration (trust config, ``sidecar`` value).
    """
    if sidecar is not None and sidecar not in (*SIDECAR_KINDS, EVERY_SIDECAR):
        raise ConfigError(
            f"Unknown sidecar kind {sidecar!r}.",
            remediation=f"Use one of: {', '.join(SIDECAR_KINDS)}.",
        )
    requested_version(expected_version)  # a request that is no version: before any read
    items = list(paths)
    # Digests (and an sdist's metadata) are read on worker threads while sigstore loads:
    # hashlib and zlib release the GIL, so the two overlap on a second core.
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(items)))) as pool:
        reads = [pool.submit(_examine, item, follow_symlinks) for item in items]
        try:
            verifier = _make_verifier(trust)
        except BaseException:
            for read in reads:  # an unusable trust config: read no more files
                read.cancel()
            raise
        sigstore_policy = policy.sigstore_policy()
        session = _Session(
            verifier,
            sigstore_policy,
            trust,
            offline=offline,
            log_timeout=log_timeout,
            expected=(expected_name, expected_version),
            version_from_tag=policy.version_from_tag,
            follow_symlinks=follow_symlinks,
        )
        return [
            session.verify(_path_of(item), read.result(), sidecar)
            for item, read in zip(items, reads, strict=True)
        ]


def _path_of(item: str | Path | Examined) -> Path:
    return item.path if isinstance(item, Examined) else Path(item)


def _examine(item: str | Path | Examined, follow_symlinks: bool = True) -> Examined | str:
    """The file read once, or why it cannot be (a FIFO is never opened: it would block)."""
    if isinstance(item, Examined):
        return item
    path = Path(item)
    try:
        mode = (path.stat() if follow_symlinks else path.lstat()).st_mode
        if stat.S_ISLNK(mode):
            return f"{path} is a symbolic link (only regular files are read)"
        if not stat.S_ISREG(mode):
            return f"{path} is not a regular file"
        return examine(path, follow_symlinks=follow_symlinks)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            return f"{path} does not exist or is not a file"
        return f"cannot read {path} ({exc.strerror or exc})"


def _make_verifier(trust: TrustChoice) -> Verifier:
    try:
        return trust.verifier(offline=True)
    except TrustConfigError:
        raise
    except Exception as exc:
        raise TrustConfigError(
            f"Cannot build a verifier for {trust.describe()}: {_detail(exc)}.",
            remediation="Check the trust config (--trust-config / HATCH_SIGSTORE_TRUST_CONFIG): "
            "its trustedRoot needs certificate authorities, transparency logs and CT logs.",
        ) from None


def _detail(exc: BaseException) -> str:
    return first_line(exc) or exc.__class__.__name__


def _hashed(sha256: str) -> Hashed:
    """A digest as sigstore takes it."""
    from sigstore.hashes import Hashed
    from sigstore_models.common.v1 import HashAlgorithm

    return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(sha256))


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
            self.failure = _detail(exc)
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
        expected: tuple[str | None, str | None] = (None, None),
        version_from_tag: bool = False,
        follow_symlinks: bool = True,
    ) -> None:
        self.log_timeout = log_timeout
        self.follow_symlinks = follow_symlinks
        self.verifier = verifier
        self.policy = policy
        self.trust = trust
        self.offline = offline
        self.expected = expected
        self.version_from_tag = version_from_tag
        self._rekor_log: Any = None

    # -- per file --

    def verify(self, path: Path, read: Examined | str, sidecar: str | None) -> FileResult:
        outcome = _Outcome()
        reason: str | None = None
        release: Release | None = None
        try:
            if isinstance(read, str):
                raise FileFailedError(read)
            outcome.sha256 = read.sha256
            self._verify(path, read, sidecar, outcome)
        except FileFailedError as failure:
            reason = str(failure)
        except Exception as exc:  # untrusted input: sigstore can leak anything
            reason = f"verification failed: {exc.__class__.__name__}: {_detail(exc)}"
        claims = None
        if outcome.cert is not None:
            from hatch_sigstore.verify._certificate import claims_of

            try:
                claims = claims_of(outcome.cert)
            except Exception:
                claims = None
        if not isinstance(read, str):
            release = read.release
            if reason is None:  # only a verified file is worth binding to its release
                try:
                    release = self._bind(read, claims.ref if claims else None)
                except FileFailedError as failure:
                    reason = str(failure)
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
            name=release.name if release else None,
            version=release.version if release else None,
            sidecar_files=tuple(outcome.read.items()),
        )

    def _bind(self, read: Examined, ref: str | None) -> Release | None:
        expected_name, expected_version = self.expected
        release = bind_to_release(read, expected_name, expected_version)
        if self.version_from_tag:
            problem = tag_version_problem(release, ref, read.path.name)
            if problem is not None:
                raise FileFailedError(problem)
        return release

    def _read(self, sidecar: Path, outcome: _Outcome) -> bytes:
        data = read_sidecar(sidecar, follow_symlinks=self.follow_symlinks)
        outcome.read[sidecar.name] = hashlib.sha256(data).hexdigest()
        return data

    def _verify(self, path: Path, read: Examined, wanted: str | None, outcome: _Outcome) -> None:
        hashed = _hashed(read.sha256)
        if wanted == EVERY_SIDECAR:
            present = present_sidecars(path)
            outcome.sidecar = "+".join(dict.fromkeys(kind for kind, _ in present))
            for kind, files in present:
                self._verify_kind(path, kind, files, hashed, outcome)
            return
        kind, files = find_sidecar(path, wanted)
        outcome.sidecar = kind
        self._verify_kind(path, kind, files, hashed, outcome)

    def _verify_kind(
        self, path: Path, kind: str, files: tuple[Path, ...], hashed: Hashed, outcome: _Outcome
    ) -> None:
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
                raise FileFailedError(f"wrong signer: {probe.failure}") from None
            raise FileFailedError(self._explain(exc)) from None

    def _explain(self, exc: Exception) -> str:
        text = _detail(exc)
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

        raw = self._read(sidecar, outcome)
        try:
            document = json.loads(raw)
        except ValueError:
            raise FileFailedError(
                f"{sidecar.name} is not JSON (truncated or corrupt?); re-download or re-sign"
            ) from None
        if not isinstance(document, dict):
            raise FileFailedError(f"{sidecar.name} is JSON but not a Sigstore bundle object")
        media_type = document.get("mediaType")
        if media_type not in BUNDLE_MEDIA_TYPES:
            raise FileFailedError(
                f"{sidecar.name} has unknown media type {media_type!r}; expected a Sigstore "
                "bundle (application/vnd.dev.sigstore.bundle.v0.3+json, or v0.1/v0.2)"
            )
        try:
            bundle = Bundle.from_json(raw)
        except Exception as exc:
            raise FileFailedError(
                f"{sidecar.name} is not a valid Sigstore bundle ({_detail(exc)})"
            ) from None
        outcome.cert = outcome.cert or bundle.signing_certificate
        if "dsseEnvelope" in document:
            self._verify_statement_bundle(path, bundle, hashed, predicate=None)
            return
        signed = bundle_digest(document)
        if signed is not None and signed != hashed.digest.hex():
            raise FileFailedError(
                f"the file's sha256 {hashed.digest.hex()} is not the digest {sidecar.name} "
                f"signs ({signed}): the file was changed after signing, or the bundle belongs "
                "to another file"
            )
        self._check(bundle, hashed)
        outcome.bundle_material = (bundle.signature, bundle.signing_certificate)

    def _verify_statement_bundle(
        self, path: Path, bundle: Bundle, hashed: Hashed, *, predicate: str | None
    ) -> None:
        checked = self._check(bundle, None)
        assert checked is not None
        payload_type, payload = checked
        check_statement(path, hashed, payload_type, payload, predicate=predicate)

    def _verify_attestation(
        self, path: Path, sidecar: Path, hashed: Hashed, outcome: _Outcome
    ) -> None:
        from pypi_attestations import Attestation

        raw = self._read(sidecar, outcome)
        try:
            json.loads(raw)
        except ValueError:
            raise FileFailedError(
                f"{sidecar.name} is not JSON (truncated or corrupt?); re-download or re-sign"
            ) from None
        try:
            attestation = Attestation.model_validate_json(raw)
            bundle = attestation.to_bundle()
        except Exception as exc:
            raise FileFailedError(
                f"{sidecar.name} is not a valid PEP 740 attestation ({_detail(exc)})"
            ) from None
        outcome.cert = outcome.cert or bundle.signing_certificate
        self._verify_statement_bundle(path, bundle, hashed, predicate=PYPI_PUBLISH_PREDICATE)

    def _verify_cosign(
        self, path: Path, sig_path: Path, crt_path: Path, hashed: Hashed, outcome: _Outcome
    ) -> None:
        from cryptography.x509 import load_pem_x509_certificate
        from sigstore._internal.rekor import _hashedrekord_from_parts
        from sigstore.models import Bundle

        cert_bytes = self._read(crt_path, outcome)
        try:
            cert = load_pem_x509_certificate(unwrap_base64_pem(cert_bytes))
        except ValueError:
            raise FileFailedError(f"{crt_path.name} is not a PEM certificate") from None
        outcome.cert = outcome.cert or cert
        signature = decode_signature(self._read(sig_path, outcome), sig_path.name)
        if outcome.bundle_material == (signature, cert):
            return  # exactly the signature and certificate of the bundle that verified
        if self.offline:
            raise FileFailedError(
                f"{sig_path.name} + {crt_path.name} (cosign) can be checked only online: the "
                f"transparency log entry is looked up; verify the {path.name}{BUNDLE_SUFFIX} "
                "bundle instead (it carries the log proof), or verify online"
            )
        entry = self._retrieve(_hashedrekord_from_parts(cert, signature, hashed))
        if entry is None:
            raise FileFailedError(
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
            raise FileFailedError(
                f"the transparency log at {url} answered something that is not JSON; check "
                "the trust config's log URL, or verify the .sigstore.json bundle offline"
            ) from None
        except requests.Timeout:
            raise FileFailedError(
                f"the transparency log at {url} did not answer within {self.log_timeout:g} s; "
                "retry, or verify the .sigstore.json bundle offline"
            ) from None
        except requests.RequestException as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status == 404:
                return None
            raise FileFailedError(
                f"cannot reach the transparency log at {url} ({_detail(exc)}); verify "
                "the .sigstore.json bundle offline instead"
            ) from None
        except Exception as exc:
            if "404" in str(exc):
                return None
            raise FileFailedError(
                f"the transparency log at {url} answered something unusable "
                f"({exc.__class__.__name__}: {_detail(exc)})"
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
