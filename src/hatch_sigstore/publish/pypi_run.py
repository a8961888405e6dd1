"""Run a PyPI plan: ask the index what it holds first, then send each missing dist with its
attestation.

:func:`index_state` asks the index once per release (the JSON API, anonymously) before anything
is verified or sent: a file there with the same sha256 is skipped, one there with other bytes
stops everything at once (PyPI never replaces a file). So a re-run of a finished publish
verifies nothing, exchanges no ID token and sends nothing. :func:`execute_pypi` then uploads
what is missing as the GitLab target does (:func:`.run.run_groups`): the first file of each
release alone (it creates the release), the rest concurrently, no new upload after the first
failure. After an ambiguous failure the client asks the index again before re-sending, and
warehouse answers an identical re-upload with 200 and stores nothing: no file is ever sent
twice into the index.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from hatch_sigstore.errors import HatchSigstoreError, PublishError, redact
from hatch_sigstore.gitlab import UploadOutcome
from hatch_sigstore.publish.dists import Dist
from hatch_sigstore.publish.plan import UploadItem, dist_sha256
from hatch_sigstore.publish.pypi_plan import PyPIPlan
from hatch_sigstore.publish.pypi_summary import PyPISummary
from hatch_sigstore.publish.run import Reporter, run_groups
from hatch_sigstore.publish.summary import ItemResult, Status

__all__ = ["IndexAPI", "execute_pypi", "index_state"]

_STATUS: Mapping[UploadOutcome, Status] = {
    UploadOutcome.UPLOADED: "uploaded",  # also warehouse's 200 to an identical re-upload
    UploadOutcome.EXISTS_SAME: "present",
}


class IndexAPI(Protocol):
    """The part of :class:`hatch_sigstore.pypi.IndexClient` the publisher uses."""

    def release_files(self, name: str, version: str) -> dict[str, str | None] | None: ...

    def upload(
        self,
        path: Path,
        *,
        name: str,
        version: str,
        sha256: str,
        metadata: Sequence[tuple[str, str]],
        attestations: Sequence[str] = ...,
        progress: Callable[[int], None] | None = ...,
    ) -> UploadOutcome: ...


def index_state(dists: Sequence[Dist], client: IndexAPI, index: str) -> dict[str, str]:
    """The dists already on the index with the same sha256, ``file name → sha256`` (one JSON
    API read per release; only those files are hashed here). Raises :class:`PublishError`
    naming every dist the index holds with other bytes: nothing was sent."""
    releases: dict[tuple[str, str], list[Dist]] = {}
    for d in dists:
        releases.setdefault((d.name, d.version), []).append(d)
    present: dict[str, str] = {}
    clashes: list[str] = []
    for (name, version), members in releases.items():
        listed = client.release_files(name, version) or {}
        for d in members:
            if d.filename not in listed:
                continue
            local = dist_sha256(d)
            if listed[d.filename] == local:
                present[d.filename] = local
            else:
                clashes.append(
                    f"{d.filename} (sha256 {listed[d.filename] or 'unknown'} there, {local} here)"
                )
    if clashes:
        raise PublishError(
            f"{index} already holds {', '.join(clashes)} with different contents. Nothing was "
            "sent.",
            remediation="PyPI never replaces a file and never lets a file name be used again, "
            "even after deletion (file-name-reuse, https://pypi.org/help/#file-name-reuse): "
            "publish a new version (e.g. a post-release); never re-build a released version.",
        )
    return present


def execute_pypi(
    plan: PyPIPlan,
    client: IndexAPI,
    reporter: Reporter,
    *,
    secrets: Sequence[str] = (),
) -> PyPISummary:
    """Upload what the plan says is missing: each dist with its metadata and attestation."""
    results: dict[UploadItem, ItemResult] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def settle(result: ItemResult) -> None:
        with lock:
            results[result.item] = result
        reporter.upload_finished(result)

    def run_one(item: UploadItem) -> None:
        if stop.is_set():
            return
        progress = reporter.upload_started(item)
        try:
            outcome = client.upload(
                item.path,
                name=item.package,
                version=item.version,
                sha256=item.sha256,
                metadata=plan.form(item),
                attestations=plan.attestation_texts(item),
                progress=progress,
            )
        except Exception as exc:  # a bug or an unexpected library error: keep the summary
            text = (
                str(exc) if isinstance(exc, HatchSigstoreError) else f"{type(exc).__name__}: {exc}"
            )
            stop.set()
            settle(ItemResult(item, "failed", redact(text, secrets)))
            return
        settle(ItemResult(item, _STATUS[outcome]))

    for item in plan.items:
        if item.filename in plan.present:
            settle(ItemResult(item, "present"))
    todo = [item for item in plan.items if item.filename not in plan.present]
    run_groups(todo, run_one, workers=plan.settings.concurrency, stop=stop)
    ordered = [results.get(it, ItemResult(it, "not attempted")) for it in plan.items]
    return PyPISummary(plan, tuple(ordered))
