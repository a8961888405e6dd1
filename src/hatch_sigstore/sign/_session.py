"""One signing session for many files: one key, one certificate, concurrent log entries.

Flow of :meth:`SigningSession.sign`:

1. Local checks first, before any network call: every input exists and is a regular file,
   is not itself a signature file, has a wheel/sdist name when attestations are asked for,
   and its folder takes new files.
2. Worker threads (:mod:`hatch_sigstore.sign._jobs`) stream each file's SHA-256 (never the
   whole file in memory) and sign the digest (``Hashed``) with the session's signer. The first
   worker to need a signer opens it: one ephemeral key and one Fulcio certificate
   (``cache=True``) for every file. Before each file the certificate's remaining validity is
   checked against the session clock; with less than ``renew_margin`` seconds left a new
   signer (new key, new certificate) replaces it.
3. Rekor submissions run concurrently on that one signer (sigstore's clients are thread-safe):
   across files, and within a file (its bundle's entry and its attestation's).
   Each network call has a deadline (``SignOptions.timeout``): sigstore sets none, so the
   calls run in daemon threads and the session stops waiting for a call that overruns.
4. The sidecars of each artifact are written as one atomic group: all of them, or none.

A session outlives one ``sign`` call: :func:`hatch_sigstore.sign.shared_session` keeps one per
process, so every build target signs with the same certificate. sigstore is imported only when
a session opens.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from hatch_sigstore import _files
from hatch_sigstore._files import sha256_file
from hatch_sigstore.errors import (
    HatchSigstoreError,
    SigningError,
    TokenError,
    TrustConfigError,
    first_line,
)
from hatch_sigstore.sign import _explain
from hatch_sigstore.sign._atomic import atomic_write_group
from hatch_sigstore.sign._jobs import AbandonedError, Batch, Job, run_in_daemon_threads, wait_for
from hatch_sigstore.sign._options import SignedFile, SignOptions
from hatch_sigstore.sign._tokens import TokenInfo, format_time, resolve

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.sign import Signer, SigningContext

__all__ = [
    "DEFAULT_RENEW_MARGIN",
    "SigningSession",
    "certificate_identity",
    "needs_renewal",
    "sign_files",
]

DEFAULT_RENEW_MARGIN = 60.0  # seconds of certificate validity a signature must still have
_WAIT_POLL = 0.05  # seconds between deadline checks while waiting for prepare()'s certificate

_T = TypeVar("_T")


def needs_renewal(not_after: datetime, now: float, margin: float = DEFAULT_RENEW_MARGIN) -> bool:
    """Whether a certificate valid until ``not_after`` is too close to expiry to sign with.

    A log entry's integrated time must fall inside the certificate's validity, so a
    signature needs ``margin`` seconds of validity left for the log round trip.
    """
    return not_after.timestamp() - now < margin


def certificate_identity(cert: Certificate) -> str:
    """The signing identity in a Fulcio certificate: its SAN URI or e-mail."""
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "(no subject alternative name)"
    values: list[str] = [
        *san.get_values_for_type(x509.UniformResourceIdentifier),
        *san.get_values_for_type(x509.RFC822Name),
    ]
    return values[0] if values else "(empty subject alternative name)"


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


class SigningSession:
    """One signing session: one key and one certificate for every file (renewed near expiry).

    ``clock`` (seconds since the epoch) drives the certificate-renewal and token-expiry
    decisions; tests inject one to reach the end of a real certificate's validity.
    """

    def __init__(
        self,
        options: SignOptions | None = None,
        *,
        clock: Callable[[], float] = time.time,
        renew_margin: float = DEFAULT_RENEW_MARGIN,
    ) -> None:
        self.options = options or SignOptions()
        self._clock = clock
        self._renew_margin = renew_margin
        self._lock = threading.Lock()
        self._opened = False
        self._raw_token: str | None = None
        self._token_info: TokenInfo | None = None
        self._context: SigningContext | None = None
        self._fulcio_url = ""
        self._rekor_url = ""
        self._signer: Signer | None = None
        self._signer_cert: Certificate | None = None  # learned from the first bundle
        self._signer_opened_at = 0.0
        self._preparing: Future[Signer] | None = None  # prepare()'s CA call, while in flight
        self.certificates_issued = 0

    # -- lifecycle

    def __enter__(self) -> SigningSession:
        # Opening is lazy (first ``sign`` or an explicit ``open()``), so local mistakes such
        # as a missing file are reported before token or trust problems.
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> SigningSession:
        """Check the token and load the trust config (no certificate yet: that is lazy)."""
        if self._opened:
            return self
        self._raw_token, self._token_info = resolve(self.options, self._clock())
        from sigstore.errors import Error as SigstoreError
        from sigstore.sign import SigningContext

        trust = self.options.trust
        config = trust.load(offline=False)
        config.force_tlog_version = self.options.rekor_version
        try:
            signing_config = config.signing_config
            tlog = signing_config.get_tlogs()[0]
            self._fulcio_url = signing_config.get_fulcio().url
            # The client's URL carries the API path; show the log's URL as configured.
            rekor_url = str(getattr(tlog, "url", "(unknown URL)"))
            self._rekor_url = rekor_url.removesuffix("/api/v1").removesuffix("/api/v2")
            self._context = SigningContext.from_trust_config(config)
        except (SigstoreError, ValueError, IndexError) as exc:
            raise TrustConfigError(
                f"The signing config of {trust.describe()} cannot be used for Rekor "
                f"v{self.options.rekor_version}: "
                f"{first_line(exc, limit=200) or type(exc).__name__}.",
                remediation="Use a trust config whose signingConfig lists a Fulcio CA and a "
                f"Rekor v{self.options.rekor_version} log valid now"
                + (", or sign with --rekor-version 1." if self.options.rekor_version == 2 else "."),
            ) from None
        self._opened = True
        return self

    def close(self) -> None:
        # not under the lock: a CA call that overran may hold it, and closing must not wait
        self._signer = None
        self._signer_cert = None
        self._raw_token = None

    def load(self) -> None:
        """Import what signing a file needs beyond :meth:`open`: pypi-attestations, when
        attestations are asked for. For a caller loading ahead while it waits for the CA."""
        if "attestation" in self.options.outputs:
            import pypi_attestations  # noqa: F401

    def prepare(self) -> None:
        """Open the signer now (the key, the certificate), before any file is given.

        For a caller that knows files will come: the build's signing agent asks for the
        certificate while the first target builds, taking the CA's round trip off its path.
        A ``sign`` that starts meanwhile waits for this certificate (under the CA call's
        deadline) instead of asking for another. Errors of the CA call are not raised here:
        the first ``sign`` opens the signer again and reports them; token and trust config
        errors are (as :meth:`open` raises them).
        """
        self.open()
        with self._lock:
            if self._signer is not None or self._preparing is not None:
                return
            preparing: Future[Signer] = Future()
            self._preparing = preparing
        now = self._clock()
        try:
            signer = self._open_signer(
                Job(Path("(signing certificate)")), Batch(), renewing=False, now=now
            )
        except BaseException as exc:
            with self._lock:
                self._preparing = None
            preparing.set_exception(exc)
            if isinstance(exc, Exception):
                return
            raise
        with self._lock:
            self._preparing = None
            if self._raw_token is not None:  # not closed meanwhile
                self._signer, self._signer_cert = signer, _certificate_of(signer)
                self._signer_opened_at = now
                self.certificates_issued += 1
        preparing.set_result(signer)

    @property
    def fulcio_url(self) -> str:
        return self._fulcio_url

    @property
    def rekor_url(self) -> str:
        return self._rekor_url

    @property
    def identity(self) -> str | None:
        """The SAN of the current certificate (None before the first signature)."""
        return certificate_identity(self._signer_cert) if self._signer_cert else None

    # -- signing

    def sign(self, paths: Sequence[str | os.PathLike[str]]) -> list[SignedFile]:
        """Sign every file; write its sidecars atomically; results in input order."""
        files = self._preflight(paths)
        if not files:
            return []
        self.open()
        batch = Batch()
        jobs = [Job(path) for path in files]
        run_in_daemon_threads(
            jobs, lambda job: self._sign_one(job, batch), self.options.max_workers
        )
        failures = wait_for(jobs, batch, self.options.timeout)
        if failures:
            raise _explain.summarize(jobs, failures, timeout=self.options.timeout)
        return [job.future.result() for job in jobs]

    def _preflight(self, paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
        files: list[Path] = []
        seen: set[Path] = set()
        for given in paths:
            path = Path(given)
            if not path.exists():
                raise SigningError(
                    f"Cannot sign {str(path)!r}: no such file.",
                    remediation="Check the path (build the distributions first).",
                )
            if not path.is_file():
                raise SigningError(
                    f"Cannot sign {str(path)!r}: it is not a regular file.",
                    remediation="Give the files to sign, not a folder.",
                )
            if _files.is_sidecar(path):
                raise SigningError(
                    f"{str(path)!r} is a signature file, not an artifact.",
                    remediation="Sign the artifacts only; leave *.sigstore.json, *.sig, "
                    "*.crt and *.publish.attestation out.",
                )
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                files.append(path)
        if "attestation" in self.options.outputs:
            bad = [p.name for p in files if not _is_distribution_name(p.name)]
            if bad:
                raise SigningError(
                    "PEP 740 attestations are only for wheels and sdists with standard file "
                    f"names; not: {', '.join(bad)}.",
                    remediation="Names must look like NAME-VERSION-TAGS.whl or "
                    "NAME-VERSION.tar.gz; drop --attestation to sign other files.",
                )
        for folder in dict.fromkeys(p.resolve().parent for p in files):
            _check_writable(folder)
        return files

    def _sign_one(self, job: Job, batch: Batch) -> SignedFile:
        from sigstore.hashes import Hashed
        from sigstore_models.common.v1 import HashAlgorithm

        job.enter("hash", batch)
        job.sha256 = digest = sha256_file(job.path)
        hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(digest))

        signer = self._current_signer(job, batch)
        attestation: Future[bytes] | None = None
        if "attestation" in self.options.outputs:
            # its log entry is made while the bundle's is: one round trip to the log, not two
            attestation = _in_daemon_thread(
                lambda: self._attest(job, batch, signer, digest), f"{job.path.name} attestation"
            )
        bundle = self._with_retries(job, batch, lambda: signer.sign_artifact(hashed))
        with self._lock:
            if self._signer is signer and self._signer_cert is None:
                self._signer_cert = bundle.signing_certificate
        cert = bundle.signing_certificate

        outputs: dict[Path, bytes] = {
            _sidecar(job.path, _files.BUNDLE_SUFFIX): bundle.to_json().encode("utf-8")
        }
        if "cosign" in self.options.outputs:
            outputs[_sidecar(job.path, _files.SIGNATURE_SUFFIX)] = base64.b64encode(
                bundle.signature
            )
            from cryptography.hazmat.primitives.serialization import Encoding

            outputs[_sidecar(job.path, _files.CERTIFICATE_SUFFIX)] = cert.public_bytes(Encoding.PEM)
        if attestation is not None:
            # no deadline here: wait_for abandons the job when this log call overruns
            outputs[_sidecar(job.path, _files.ATTESTATION_SUFFIX)] = attestation.result()

        job.enter("commit", batch)
        atomic_write_group(outputs)
        return SignedFile(
            artifact=job.path,
            sha256=digest,
            written=tuple(outputs),
            identity=certificate_identity(cert),
        )

    def _attest(self, job: Job, batch: Batch, signer: Signer, digest: str) -> bytes:
        """The PEP 740 attestation of ``job``'s file, signed by ``signer``, as JSON."""
        from pypi_attestations import Attestation, Distribution

        dist = Distribution(name=job.path.name, digest=digest)
        attestation = self._with_retries(job, batch, lambda: Attestation.sign(signer, dist))
        return attestation.model_dump_json().encode("utf-8")

    def _current_signer(self, job: Job, batch: Batch) -> Signer:
        """The session's signer, opening (or renewing) it when needed. One at a time."""
        job.enter("signer", batch)
        self._await_prepared(job, batch)
        with self._lock:
            job.enter("signer", batch)
            now = self._clock()
            signer, cert = self._signer, self._signer_cert
            if signer is not None:
                # A signer whose certificate we have not seen yet was opened moments ago.
                fresh = cert is None and now - self._signer_opened_at < self._renew_margin
                if fresh or (
                    cert is not None
                    and not needs_renewal(cert.not_valid_after_utc, now, self._renew_margin)
                ):
                    return signer
            try:
                signer = self._open_signer(job, batch, renewing=signer is not None, now=now)
            except BaseException:
                batch.abort.set()  # the others would only fail the same way
                raise
            self._signer, self._signer_cert = signer, None
            self._signer_opened_at = now
            self.certificates_issued += 1
            return signer

    def _await_prepared(self, job: Job, batch: Batch) -> None:
        """Wait for the certificate :meth:`prepare` is fetching, if it is: not a second one.

        The job waits as if it made the CA call itself, so the session's timeout applies.
        When that call failed, the job opens the signer itself (and reports what fails).
        """
        with self._lock:
            preparing = self._preparing
        if preparing is None:
            return
        job.enter("fulcio", batch, self._fulcio_url)
        while True:
            try:
                preparing.result(timeout=_WAIT_POLL)
            except FutureTimeoutError:
                if job.abandoned or batch.abort.is_set():
                    raise AbandonedError from None
                continue
            except Exception:
                return
            return

    def _open_signer(self, job: Job, batch: Batch, *, renewing: bool, now: float) -> Signer:
        from sigstore.oidc import IdentityError, IdentityToken

        assert self._context is not None
        assert self._raw_token is not None
        assert self._token_info is not None
        info = self._token_info
        if info.seconds_left(now) <= 0:
            reason = (
                "The signing certificate is about to expire and cannot be renewed: "
                if renewing
                else ""
            )
            raise TokenError(
                f"{reason}The identity token ({info.source}) expired at "
                f"{format_time(info.expires_at)}.",
                remediation="Sign right after the build: a GitLab ID token lives as long "
                "as the job timeout (5 minutes when none is set).",
            )
        try:
            token = IdentityToken(self._raw_token)
        except IdentityError as exc:
            raise TokenError(
                f"sigstore rejected the identity token ({info.source}): "
                f"{first_line(exc, limit=200) or type(exc).__name__}.",
                remediation="Use an OIDC ID token from your CI with audience 'sigstore'.",
            ) from None
        context = self._context

        def open_once() -> Signer:
            job.enter("fulcio", batch, self._fulcio_url)
            with context.signer(token, cache=True) as signer:  # the Fulcio call happens here
                return signer

        try:
            return self._with_retries(job, batch, open_once, service="fulcio")
        except AbandonedError:
            raise
        except HatchSigstoreError:
            raise
        except Exception as exc:
            raise _explain.fulcio_error(
                exc, url=self._fulcio_url, info=info, attempts=self.options.retries + 1
            ) from None

    def _with_retries(
        self, job: Job, batch: Batch, call: Callable[[], _T], *, service: str = "rekor"
    ) -> _T:
        attempt = 0
        while True:
            if service == "rekor":
                job.enter("rekor", batch, self._rekor_url)
            try:
                return call()
            except AbandonedError:
                raise
            except Exception as exc:
                if attempt < self.options.retries and _explain.is_transient(exc):
                    attempt += 1
                    time.sleep(min(0.25 * 2**attempt, 2.0))
                    continue
                if service == "rekor":
                    raise _explain.rekor_error(
                        exc,
                        url=self._rekor_url,
                        job=job,
                        retried=attempt,
                        rekor_version=self.options.rekor_version,
                    ) from None
                raise


def _certificate_of(signer: Signer) -> Certificate | None:
    """The certificate a signer opened with ``cache=True`` holds; None when it cannot be had.

    Known at once, the certificate's own validity decides when to renew, not the short grace
    an unseen one gets. sigstore has no public accessor: ``Signer._signing_cert()`` returns
    the cached certificate without a network call (``sigstore/sign.py``).
    """
    from cryptography import x509

    try:
        cert = signer._signing_cert()
    except Exception:
        return None
    return cert if isinstance(cert, x509.Certificate) else None


def _in_daemon_thread(call: Callable[[], _T], name: str) -> Future[_T]:
    """Run ``call`` in a daemon thread (a log call must never keep the process alive)."""
    future: Future[_T] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(call())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name=f"hatch-sigstore-{name}", daemon=True).start()
    return future


def _is_distribution_name(name: str) -> bool:
    from pydantic import ValidationError
    from pypi_attestations import Distribution

    try:
        Distribution(name=name, digest="0" * 64)
    except (ValidationError, ValueError):
        return False
    return True


def _check_writable(folder: Path) -> None:
    """Fail before any network call if signatures cannot be written into ``folder``."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".hatch-sigstore-probe-")
    except OSError as exc:
        raise SigningError(
            f"Cannot write signature files into {str(folder)!r}: "
            f"{exc.strerror or type(exc).__name__}.",
            remediation="Signatures are written beside each file: make that folder writable, "
            "or copy the files to a writable folder and sign them there.",
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def sign_files(
    paths: Sequence[str | os.PathLike[str]], options: SignOptions | None = None
) -> list[SignedFile]:
    """Sign ``paths`` in one session (one certificate) and write their sidecars."""
    with SigningSession(options) as session:
        return session.sign(paths)
