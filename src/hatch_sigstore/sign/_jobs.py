"""The session's thread scheduler: one job per file, daemon workers, deadlines on network calls.

Each file is a :class:`Job` that moves through phases (hash → signer → fulcio → rekor →
commit). :func:`run_in_daemon_threads` works through the jobs; :func:`wait_for` collects the
results, stops the batch at the first failure and gives up on a network call that overruns its
timeout (sigstore sets none). Standard library only.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hatch_sigstore.sign._options import SignedFile

__all__ = [
    "AbandonedError",
    "Batch",
    "CallTimeoutError",
    "Job",
    "run_in_daemon_threads",
    "wait_for",
]

_POLL = 0.05  # seconds between deadline checks while waiting


class AbandonedError(Exception):
    """The batch stopped (another file failed, or this call overran): drop this file."""


class CallTimeoutError(Exception):
    """A call to the CA or the log ran past the session's timeout."""


@dataclass
class Batch:
    """The files of one ``sign`` call; ``abort`` stops every job at its next phase."""

    abort: threading.Event = field(default_factory=threading.Event)


@dataclass
class Job:
    path: Path
    future: Future[SignedFile] = field(default_factory=Future)
    lock: threading.Lock = field(default_factory=threading.Lock)
    phase: str = "queued"  # queued | hash | signer | fulcio | rekor | commit
    url: str = ""
    started: float = 0.0
    abandoned: bool = False
    sha256: str | None = None

    def enter(self, phase: str, batch: Batch, url: str = "") -> None:
        """Start ``phase`` (a call to ``url``), unless the batch stopped: then abandon."""
        with self.lock:
            if self.abandoned or batch.abort.is_set():
                self.abandoned = True
                raise AbandonedError
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


def run_in_daemon_threads(jobs: Sequence[Job], work: Callable[[Job], SignedFile], n: int) -> None:
    """Start ``n`` daemon threads working through ``jobs``; each sets its job's future.

    Daemon threads, not a ThreadPoolExecutor: a call stuck in sigstore (which sets no HTTP
    timeout) must not keep the interpreter from exiting after we gave up on it.
    """
    pending: queue.SimpleQueue[Job] = queue.SimpleQueue()
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


def wait_for(jobs: Sequence[Job], batch: Batch, timeout: float) -> list[tuple[Job, BaseException]]:
    """Wait for every job; return the failures (the first one stops the batch)."""
    pending = {job.future: job for job in jobs}
    failures: list[tuple[Job, BaseException]] = []
    while pending:
        done, _ = wait(list(pending), timeout=_POLL, return_when=FIRST_COMPLETED)
        for future in done:
            job = pending.pop(future)
            exc = future.exception()
            if exc is not None and not isinstance(exc, AbandonedError):
                failures.append((job, exc))
                batch.abort.set()
        now = time.monotonic()
        for future, job in list(pending.items()):
            if job.overran(timeout, now):
                del pending[future]
                failures.append((job, CallTimeoutError(job.phase, job.url)))
                batch.abort.set()
        if batch.abort.is_set():
            # Stop waiting for files that have not reached the log: wait only for log
            # calls in flight (bounded by the timeout) and for sidecars being written.
            for future, job in list(pending.items()):
                if job.abandon_unless_committing():
                    del pending[future]
    return failures
