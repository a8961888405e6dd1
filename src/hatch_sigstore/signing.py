"""One signing session for many files: one key, one certificate, concurrent log entries.

Flow of :meth:`SigningSession.sign`:

1. Local checks first, before any network call: every input exists and is a regular file,
   is not itself a signature file, has a wheel/sdist name when attestations are asked for,
   and its folder takes new files.
2. Worker threads stream each file's SHA-256 (never the whole file in memory) and sign the
   digest (``Hashed``) with the session's signer. The first worker to need a signer opens it:
   one ephemeral key and one Fulcio certificate (``cache=True``) for every file. Before each
   file the certificate's remaining validity is checked against the session clock; with less
   than ``renew_margin`` seconds left a new signer (new key, new certificate) replaces it.
3. Rekor submissions run concurrently on that one signer (sigstore's clients are thread-safe).
   Each network call has a deadline (``SignOptions.timeout``): sigstore sets none, so the
   calls run in daemon threads and the session stops waiting for a call that overruns.
4. The sidecars of each artifact are written as one atomic group: all of them, or none.

sigstore is imported only when a session opens, so ``token_available`` and the option
types are cheap to import from a build hook that may not sign at all.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from hatch_sigstore import _sidecars
from hatch_sigstore._atomic import atomic_write_group
from hatch_sigstore._tokens import (
    DEFAULT_TOKEN_ENV,
    GITLAB_ID_TOKENS_SNIPPET,
    TokenInfo,
    check_token,
    find_token,
    format_time,
)
from hatch_sigstore.errors import (
    ConfigError,
    HatchSigstoreError,
    SigningError,
    TokenError,
    TrustConfigError,
    redact,
)
from hatch_sigstore.trust import TrustChoice

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.sign import Signer, SigningContext

__all__ = [
    "DEFAULT_OUTPUTS",
    "OUTPUT_KINDS",
    "SignOptions",
    "SignedFile",
    "SigningSession",
    "certificate_identity",
    "needs_renewal",
    "resolve_token",
    "sign_files",
    "token_available",
]

OUTPUT_KINDS = ("bundle", "cosign", "attestation")
DEFAULT_OUTPUTS = frozenset({"bundle", "cosign"})
REKOR_VERSIONS = (1, 2)
DEFAULT_RENEW_MARGIN = 60.0  # seconds of certificate validity a signature must still have
_CHUNK = 1024 * 1024

_T = TypeVar("_T")


@dataclass(frozen=True)
class SignOptions:
    """What to sign with and what to write. ``token`` and ``env`` are hidden from repr."""

    trust: TrustChoice = field(default_factory=TrustChoice)
    outputs: frozenset[str] = DEFAULT_OUTPUTS
    rekor_version: int = 1
    token: str | None = field(default=None, repr=False)
    env: Mapping[str, str] | None = field(default=None, repr=False)
    # Additions beyond the contract:
    token_env: str | None = None  # read the token from this variable (default SIGSTORE_ID_TOKEN)
    ambient: bool = True  # fall back to sigstore's ambient CI credential detection
    timeout: float = 60.0  # seconds for each call to the CA or the log
    retries: int = 2  # extra attempts after an HTTP 5xx or a refused connection
    max_workers: int = 32  # concurrent log submissions (sigstore's CLI: up to 32)

    def __post_init__(self) -> None:
        outputs = frozenset(self.outputs)
        unknown = sorted(outputs - set(OUTPUT_KINDS))
        if unknown:
            raise ConfigError(
                f"Unknown signature output(s): {', '.join(unknown)}.",
                remediation=f"Choose from {', '.join(OUTPUT_KINDS)}.",
            )
        # The bundle is always written: it is what every verifier reads.
        object.__setattr__(self, "outputs", outputs | {"bundle"})
        if self.rekor_version not in REKOR_VERSIONS:
            raise ConfigError(
                f"Rekor version {self.rekor_version!r} is not supported.",
                remediation="Use --rekor-version 1 (default; cosign 2.x can check it) or 2.",
            )
        if self.rekor_version == 2 and "attestation" in outputs:
            # A v2 entry carries no inclusion promise, so its time comes from an RFC 3161
            # timestamp, and pypi-attestations has no place for timestamps: the attestation
            # written would never verify.
            raise ConfigError(
                "A PEP 740 attestation cannot be made with Rekor v2: the attestation format "
                "has no field for the timestamp a v2 entry needs, so it would never verify.",
                remediation="Drop the attestation output, or sign with Rekor version 1.",
            )
        if self.timeout <= 0 or self.max_workers < 1 or self.retries < 0:
            raise ConfigError(
                "timeout must be > 0, max_workers >= 1 and retries >= 0.",
                remediation="Fix the signing options.",
            )


@dataclass(frozen=True)
class SignedFile:
    artifact: Path
    sha256: str
    written: tuple[Path, ...]
    identity: str = ""  # the certificate's SAN (addition beyond the contract)


# --------------------------------------------------------------------------- tokens


def _missing_token(options: SignOptions) -> TokenError:
    if options.token_env:
        return TokenError(
            f"No identity token to sign with: {options.token_env} is not set or empty.",
            remediation=f"Export the OIDC ID token in {options.token_env}, or drop "
            "--identity-token-env to use SIGSTORE_ID_TOKEN. In GitLab CI add to the job:\n"
            f"{GITLAB_ID_TOKENS_SNIPPET}",
        )
    ambient = " and no ambient CI credential was found" if options.ambient else ""
    return TokenError(
        f"No identity token to sign with: {DEFAULT_TOKEN_ENV} is not set{ambient}.",
        remediation="In GitLab CI add to the job in .gitlab-ci.yml:\n"
        f"{GITLAB_ID_TOKENS_SNIPPET}\n"
        "Elsewhere, put an OIDC ID token with audience 'sigstore' in SIGSTORE_ID_TOKEN.",
    )


def _ambient_token() -> str | None:
    from sigstore.oidc import IdentityError, detect_credential

    try:
        return detect_credential()
    except IdentityError as exc:
        raise TokenError(
            "Ambient CI credential detection failed: "
            f"{redact(str(exc).strip().splitlines()[0] if str(exc).strip() else 'no detail')}.",
            remediation="In GitLab CI, provide the token with 'id_tokens:' "
            f"(SIGSTORE_ID_TOKEN, aud: sigstore):\n{GITLAB_ID_TOKENS_SNIPPET}",
        ) from None


def _resolve(options: SignOptions, now: float | None = None) -> tuple[str, TokenInfo]:
    if options.token is not None:
        raw: str | None = options.token.strip()
        source = "SignOptions.token"
        if not raw:
            raise _missing_token(options)
    else:
        found = find_token(options.env, token_env=options.token_env)
        if found is not None:
            raw, source = found
        elif options.token_env is None and options.ambient:
            raw, source = _ambient_token(), "ambient CI credential"
        else:
            raw = None
    if raw is None:
        raise _missing_token(options)
    return raw, check_token(raw, source=source, now=now)


def resolve_token(options: SignOptions) -> str:
    """The token to sign with: explicit, then ``SIGSTORE_ID_TOKEN``, then ambient detection.

    Raises :class:`TokenError` naming the variable and what is wrong (missing, malformed,
    wrong audience, expired with the time it expired).
    """
    return _resolve(options)[0]


def token_available(env: Mapping[str, str] | None = None, *, token_env: str | None = None) -> bool:
    """Cheap check (no sigstore import): is there a token to sign with in ``env``?

    True when the token variable is set, or when GitHub Actions offers an OIDC token.
    It does not check the token; :func:`resolve_token` does.
    """
    env = os.environ if env is None else env
    if find_token(env, token_env=token_env) is not None:
        return True
    return token_env is None and bool(
        env.get("ACTIONS_ID_TOKEN_REQUEST_URL") and env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    )


# --------------------------------------------------------------------------- helpers


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = redact(line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _http_status(exc: BaseException) -> tuple[int | None, str]:
    """HTTP status and server message behind a sigstore client error, if there was one."""
    import requests

    for inner in (exc, exc.__cause__, exc.__context__):
        if isinstance(inner, requests.HTTPError) and inner.response is not None:
            response = inner.response
            message = ""
            try:
                body = response.json()
                if isinstance(body, dict) and isinstance(body.get("message"), str):
                    message = body["message"]
            except ValueError:
                message = response.text
            return response.status_code, _first_line(message)
    return None, ""


def _is_transient(exc: BaseException) -> bool:
    import requests

    status, _ = _http_status(exc)
    if status is not None:
        return status >= 500
    return isinstance(exc, requests.ConnectionError)


# --------------------------------------------------------------------------- jobs


class _AbandonedError(Exception):
    """The batch stopped (another file failed, or this call overran): drop this file."""


class _CallTimeoutError(Exception):
    pass


@dataclass
class _Job:
    path: Path
    future: Future[SignedFile] = field(default_factory=Future)
    lock: threading.Lock = field(default_factory=threading.Lock)
    phase: str = "queued"  # queued | hash | signer | fulcio | rekor | commit
    url: str = ""
    started: float = 0.0
    abandoned: bool = False
    sha256: str | None = None

    def enter(self, phase: str, batch: _Batch, url: str = "") -> None:
        with self.lock:
            if self.abandoned or batch.abort.is_set():
                self.abandoned = True
                raise _AbandonedError
            self.phase, self.url, self.started = phase, url, time.monotonic()

    def overran(self, timeout: float, now: float) -> bool:
        """Mark the job abandoned if its network call has run past ``timeout``."""
        with self.lock:
            if self.phase in ("fulcio", "rekor") and now - self.started > timeout:
                self.abandoned = True
                return True
            return False

    def abandon_unless_committing(self) -> bool:
        with self.lock:
            if self.phase not in ("commit", "rekor"):
                self.abandoned = True
            return self.abandoned


@dataclass
class _Batch:
    abort: threading.Event = field(default_factory=threading.Event)


def _run_in_daemon_threads(
    jobs: Sequence[_Job], work: Callable[[_Job], SignedFile], n: int
) -> None:
    """Start ``n`` daemon threads working through ``jobs``; each sets its job's future.

    Daemon threads, not a ThreadPoolExecutor: a call stuck in sigstore (which sets no HTTP
    timeout) must not keep the interpreter from exiting after we gave up on it.
    """
    pending: queue.SimpleQueue[_Job] = queue.SimpleQueue()
    for job in jobs:
        pending.put(job)

    def worker() -> None:
        while True:
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                job.future.set_result(work(job))
            except BaseException as exc:
                job.future.set_exception(exc)

    for index in range(max(1, min(n, len(jobs)))):
        threading.Thread(target=worker, name=f"hatch-sigstore-sign-{index}", daemon=True).start()


# --------------------------------------------------------------------------- session


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
        self._raw_token, self._token_info = _resolve(self.options, self._clock())
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
                f"v{self.options.rekor_version}: {_first_line(str(exc)) or type(exc).__name__}.",
                remediation="Use a trust config whose signingConfig lists a Fulcio CA and a "
                f"Rekor v{self.options.rekor_version} log valid now"
                + (", or sign with --rekor-version 1." if self.options.rekor_version == 2 else "."),
            ) from None
        self._opened = True
        return self

    def close(self) -> None:
        self._signer = None
        self._signer_cert = None
        self._raw_token = None

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
        batch = _Batch()
        jobs = [_Job(path) for path in files]
        _run_in_daemon_threads(
            jobs, lambda job: self._sign_one(job, batch), self.options.max_workers
        )
        failures = self._wait(jobs, batch)
        if failures:
            raise self._summarize(jobs, failures)
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
            if _sidecars.is_sidecar(path):
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

    def _wait(self, jobs: Sequence[_Job], batch: _Batch) -> list[tuple[_Job, BaseException]]:
        timeout = self.options.timeout
        pending = {job.future: job for job in jobs}
        failures: list[tuple[_Job, BaseException]] = []
        while pending:
            done, _ = wait(list(pending), timeout=0.05, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                exc = future.exception()
                if exc is not None and not isinstance(exc, _AbandonedError):
                    failures.append((job, exc))
                    batch.abort.set()
            now = time.monotonic()
            for future, job in list(pending.items()):
                if job.overran(timeout, now):
                    del pending[future]
                    failures.append((job, _CallTimeoutError(job.phase, job.url)))
                    batch.abort.set()
            if batch.abort.is_set():
                # Stop waiting for files that have not reached the log: wait only for log
                # calls in flight (bounded by the timeout) and for sidecars being written.
                for future, job in list(pending.items()):
                    if job.abandon_unless_committing():
                        del pending[future]
        return failures

    def _summarize(
        self, jobs: Sequence[_Job], failures: Sequence[tuple[_Job, BaseException]]
    ) -> HatchSigstoreError:
        job, exc = failures[0]
        error = self._explain(job, exc)
        signed = [
            j.path.name
            for j in jobs
            if j.future.done() and not j.future.cancelled() and j.future.exception() is None
        ]
        failed_names = [j.path.name for j, _ in failures]
        if signed:
            note = (
                f" No signature was written for {', '.join(failed_names)}; "
                f"signed: {', '.join(signed)}"
            )
            others = len(jobs) - len(signed) - len(failed_names)
            if others:
                note += f"; {others} other file(s) not signed (stopped after the failure)"
        else:
            note = " Nothing was signed: no signature file was written"
        message = error.message.rstrip() + note + "."
        if len(failures) > 1:
            message += f" ({len(failures)} files failed; the first failure is shown.)"
        cls = type(error)
        return cls(message, remediation=error.remediation)

    def _explain(self, job: _Job, exc: BaseException) -> HatchSigstoreError:
        if isinstance(exc, _CallTimeoutError):
            service = "Sigstore CA" if job.phase == "fulcio" else "transparency log"
            return SigningError(
                f"The {service} at {job.url} did not answer within {self.options.timeout:g} s "
                f"while signing {job.path.name}.",
                remediation="Check the network path to it and its status; raise the timeout "
                "if it is merely slow.",
            )
        if isinstance(exc, HatchSigstoreError):
            return exc
        if isinstance(exc, OSError):
            return SigningError(
                f"Cannot write the signature files of {str(job.path)!r}: "
                f"{exc.strerror or type(exc).__name__}"
                + (f" ({exc.filename})" if exc.filename else "")
                + ".",
                remediation="Make the folder writable (and check free space), then sign again.",
            )
        return SigningError(
            f"Signing {job.path.name} failed unexpectedly: {type(exc).__name__}: "
            f"{_first_line(str(exc))}.",
            remediation="Please report this with the command you ran.",
        )

    def _sign_one(self, job: _Job, batch: _Batch) -> SignedFile:
        from sigstore.hashes import Hashed
        from sigstore_models.common.v1 import HashAlgorithm

        job.enter("hash", batch)
        job.sha256 = digest = _sha256(job.path)
        hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(digest))

        signer = self._current_signer(job, batch)
        bundle = self._with_retries(job, batch, lambda: signer.sign_artifact(hashed))
        with self._lock:
            if self._signer is signer and self._signer_cert is None:
                self._signer_cert = bundle.signing_certificate
        cert = bundle.signing_certificate

        outputs: dict[Path, bytes] = {
            _sidecar(job.path, _sidecars.BUNDLE_SUFFIX): bundle.to_json().encode("utf-8")
        }
        if "cosign" in self.options.outputs:
            outputs[_sidecar(job.path, _sidecars.SIGNATURE_SUFFIX)] = base64.b64encode(
                bundle.signature
            )
            from cryptography.hazmat.primitives.serialization import Encoding

            outputs[_sidecar(job.path, _sidecars.CERTIFICATE_SUFFIX)] = cert.public_bytes(
                Encoding.PEM
            )
        if "attestation" in self.options.outputs:
            from pypi_attestations import Attestation, Distribution

            dist = Distribution(name=job.path.name, digest=digest)
            attest_signer = self._current_signer(job, batch)
            attestation = self._with_retries(
                job, batch, lambda: Attestation.sign(attest_signer, dist)
            )
            outputs[_sidecar(job.path, _sidecars.ATTESTATION_SUFFIX)] = (
                attestation.model_dump_json().encode("utf-8")
            )

        job.enter("commit", batch)
        atomic_write_group(outputs)
        return SignedFile(
            artifact=job.path,
            sha256=digest,
            written=tuple(outputs),
            identity=certificate_identity(cert),
        )

    def _current_signer(self, job: _Job, batch: _Batch) -> Signer:
        """The session's signer, opening (or renewing) it when needed. One at a time."""
        job.enter("signer", batch)
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

    def _open_signer(self, job: _Job, batch: _Batch, *, renewing: bool, now: float) -> Signer:
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
                f"{_first_line(str(exc)) or type(exc).__name__}.",
                remediation="Use an OIDC ID token from your CI with audience 'sigstore'.",
            ) from None
        context = self._context

        def open_once() -> Signer:
            job.enter("fulcio", batch, self._fulcio_url)
            with context.signer(token, cache=True) as signer:  # the Fulcio call happens here
                return signer

        try:
            return self._with_retries(job, batch, open_once, service="fulcio")
        except _AbandonedError:
            raise
        except HatchSigstoreError:
            raise
        except Exception as exc:
            raise self._fulcio_error(exc, info) from None

    def _with_retries(
        self, job: _Job, batch: _Batch, call: Callable[[], _T], *, service: str = "rekor"
    ) -> _T:
        attempt = 0
        while True:
            if service == "rekor":
                job.enter("rekor", batch, self._rekor_url)
            try:
                return call()
            except _AbandonedError:
                raise
            except Exception as exc:
                if attempt < self.options.retries and _is_transient(exc):
                    attempt += 1
                    time.sleep(min(0.25 * 2**attempt, 2.0))
                    continue
                if service == "rekor":
                    raise self._rekor_error(job, exc, attempt) from None
                raise

    def _fulcio_error(self, exc: BaseException, info: TokenInfo) -> HatchSigstoreError:
        import requests

        url = self._fulcio_url
        status, detail = _http_status(exc)
        detail_text = f": {detail}" if detail else ""
        if status is not None and 400 <= status < 500:
            return SigningError(
                f"The Sigstore CA at {url} refused the identity token from {info.source} "
                f"(HTTP {status}{detail_text}; token issuer {info.issuer}).",
                remediation="Check that this CA trusts that issuer (the public Sigstore accepts "
                "gitlab.com but not self-managed GitLab: use --trust-config for a private "
                "instance), that the token's audience is 'sigstore', and that it has not "
                "expired.",
            )
        if status is not None:
            return SigningError(
                f"The Sigstore CA at {url} failed (HTTP {status}{detail_text}) after "
                f"{self.options.retries + 1} attempt(s).",
                remediation="The CA is having trouble; retry later, or check its status.",
            )
        if isinstance(exc, requests.RequestException) and not isinstance(exc, ValueError):
            return SigningError(
                f"Could not reach the Sigstore CA at {url} ({type(exc).__name__}).",
                remediation="Check the network and the CA URL in the trust config.",
            )
        return SigningError(
            f"The Sigstore CA at {url} answered something unusable "
            f"({type(exc).__name__}: {_first_line(str(exc)) or 'no detail'}).",
            remediation="Check that the trust config matches this CA (its certificate "
            "authorities and CT log keys).",
        )

    def _rekor_error(self, job: _Job, exc: BaseException, retried: int) -> HatchSigstoreError:
        import requests

        url = self._rekor_url
        status, detail = _http_status(exc)
        names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e}
        if names & {"ExpiredCertificate", "ExpiredIdentity"}:
            return SigningError(
                f"The signing certificate expired while signing {job.path.name}.",
                remediation="Sign again; keep the time between the build and signing short.",
            )
        if status is not None:
            text = _first_line(str(exc)) or detail
            text = text.removeprefix(f"{status}: ")
            attempts = f" after {retried + 1} attempts" if retried else ""
            kind = "refused the entry" if status < 500 else "failed"
            return SigningError(
                f"The transparency log at {url} {kind} for {job.path.name} "
                f"(HTTP {status}: {text}){attempts}.",
                remediation="Check the log's status and that the trust config names the "
                "right log; nothing was written for this file.",
            )
        if isinstance(exc, requests.RequestException) and not isinstance(exc, ValueError):
            return SigningError(
                f"Could not reach the transparency log at {url} while signing "
                f"{job.path.name} ({type(exc).__name__}).",
                remediation="Check the network and the log URL in the trust config.",
            )
        if "signed timestamp" in str(exc):
            # sigstore only warns when a timestamp authority fails; without the timestamp a
            # Rekor v2 entry (which has no inclusion promise) cannot make a bundle.
            return SigningError(
                f"No signed timestamp for {job.path.name}: the timestamp authority in the trust "
                "config did not answer or refused, and a Rekor v2 entry needs one.",
                remediation="Check the timestamp authority (tsaUrls in the trust config's "
                "signing config), or sign with Rekor version 1.",
            )
        return SigningError(
            f"The transparency log at {url} answered something that is not a valid log "
            f"entry for {job.path.name} ({type(exc).__name__}: "
            f"{_first_line(str(exc)) or 'no detail'}).",
            remediation="Check that the trust config points at a Rekor "
            f"v{self.options.rekor_version} log and that its keys match.",
        )


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
