"""What went wrong while signing, in one paragraph: CA, log and local failures as SigningError.

sigstore's clients raise ``requests`` errors, its own errors and the odd ``ValueError``; each is
turned into a message naming the service, its URL, the file and what to do. Also decides which
failures are worth another try (:func:`is_transient`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hatch_sigstore.errors import HatchSigstoreError, SigningError, first_line
from hatch_sigstore.sign._jobs import CallTimeoutError, Job

if TYPE_CHECKING:
    from hatch_sigstore.sign._tokens import TokenInfo

__all__ = ["fulcio_error", "is_transient", "job_error", "rekor_error", "summarize"]

_LIMIT = 200  # characters quoted from a server or library message


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
            return response.status_code, first_line(message, limit=_LIMIT)
    return None, ""


def _unreachable(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.RequestException) and not isinstance(exc, ValueError)


def is_transient(exc: BaseException) -> bool:
    """An HTTP 5xx or a refused connection: worth another try."""
    import requests

    status, _ = _http_status(exc)
    if status is not None:
        return status >= 500
    return isinstance(exc, requests.ConnectionError)


def fulcio_error(exc: BaseException, *, url: str, info: TokenInfo, attempts: int) -> SigningError:
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
            f"{attempts} attempt(s).",
            remediation="The CA is having trouble; retry later, or check its status.",
        )
    if _unreachable(exc):
        return SigningError(
            f"Could not reach the Sigstore CA at {url} ({type(exc).__name__}).",
            remediation="Check the network and the CA URL in the trust config.",
        )
    return SigningError(
        f"The Sigstore CA at {url} answered something unusable "
        f"({type(exc).__name__}: {first_line(exc, limit=_LIMIT) or 'no detail'}).",
        remediation="Check that the trust config matches this CA (its certificate "
        "authorities and CT log keys).",
    )


def rekor_error(
    exc: BaseException, *, url: str, job: Job, retried: int, rekor_version: int
) -> SigningError:
    status, detail = _http_status(exc)
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e}
    if names & {"ExpiredCertificate", "ExpiredIdentity"}:
        return SigningError(
            f"The signing certificate expired while signing {job.path.name}.",
            remediation="Sign again; keep the time between the build and signing short.",
        )
    if status is not None:
        text = first_line(exc, limit=_LIMIT) or detail
        text = text.removeprefix(f"{status}: ")
        attempts = f" after {retried + 1} attempts" if retried else ""
        kind = "refused the entry" if status < 500 else "failed"
        return SigningError(
            f"The transparency log at {url} {kind} for {job.path.name} "
            f"(HTTP {status}: {text}){attempts}.",
            remediation="Check the log's status and that the trust config names the "
            "right log; nothing was written for this file.",
        )
    if _unreachable(exc):
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
        f"{first_line(exc, limit=_LIMIT) or 'no detail'}).",
        remediation="Check that the trust config points at a Rekor "
        f"v{rekor_version} log and that its keys match.",
    )


def job_error(job: Job, exc: BaseException, *, timeout: float) -> HatchSigstoreError:
    """Why one file failed: a timeout, one of our errors, a write error, or a surprise."""
    if isinstance(exc, CallTimeoutError):
        service = "Sigstore CA" if job.phase == "fulcio" else "transparency log"
        return SigningError(
            f"The {service} at {job.url} did not answer within {timeout:g} s "
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
        f"{first_line(exc, limit=_LIMIT)}.",
        remediation="Please report this with the command you ran.",
    )


def summarize(
    jobs: Sequence[Job], failures: Sequence[tuple[Job, BaseException]], *, timeout: float
) -> HatchSigstoreError:
    """One error for a failed batch: the first failure, and what was and was not signed."""
    job, exc = failures[0]
    error = job_error(job, exc, timeout=timeout)
    signed = [
        j.path.name
        for j in jobs
        if j.future.done() and not j.future.cancelled() and j.future.exception() is None
    ]
    failed_names = [j.path.name for j, _ in failures]
    if signed:
        note = (
            f" No signature was written for {', '.join(failed_names)}; signed: {', '.join(signed)}"
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
