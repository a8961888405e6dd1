"""Run a PyPI plan: each dist with its attestation, skipping what the index already holds.

Per release the index is asked once (the JSON API) before anything is sent: a file there with
the same sha256 is skipped, one there with other bytes stops everything (PyPI never replaces a
file). Then the uploads run as the GitLab target's do (:func:`.run.run_groups`): the first file
of each release alone (it creates the release), the rest concurrently, no new upload after the
first failure. After an ambiguous failure the client asks the index again before re-sending,
so a re-run after any failure finishes the job and never sends a file twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from hatch_sigstore.errors import HatchSigstoreError, redact
from hatch_sigstore.gitlab import UploadOutcome
from hatch_sigstore.publish.plan import UploadItem
from hatch_sigstore.publish.pypi_plan import PyPIPlan
from hatch_sigstore.publish.pypi_summary import PyPISummary
from hatch_sigstore.publish.run import Reporter, run_groups, triage
from hatch_sigstore.publish.summary import ItemResult, Status

__all__ = ["IndexAPI", "execute_pypi"]

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


def execute_pypi(
    plan: PyPIPlan,
    client: IndexAPI,
    reporter: Reporter,
    *,
    secrets: Sequence[str] = (),
) -> PyPISummary:
    """Upload the plan: each dist with its metadata fields and its attestation, if any."""
    results: dict[UploadItem, ItemResult] = {}
    lock = threading.Lock()
    stop = threading.Event()
    index = plan.settings.urls.name

    def settle(result: ItemResult) -> None:
        with lock:
            results[result.item] = result
        reporter.upload_finished(result)

    def failed(item: UploadItem, exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, HatchSigstoreError) else f"{type(exc).__name__}: {exc}"
        stop.set()
        settle(ItemResult(item, "failed", redact(text, secrets)))

    def precheck(items: Sequence[UploadItem]) -> list[UploadItem]:
        """One JSON API read per release: skip files already there, refuse other bytes."""
        releases: dict[tuple[str, str], list[UploadItem]] = {}
        for it in items:
            releases.setdefault((it.package, it.version), []).append(it)
        todo: list[UploadItem] = []
        for (name, version), members in releases.items():
            try:
                listed = client.release_files(name, version) or {}
            except Exception as exc:  # reported per file, never lost
                failed(members[0], exc)
                return []
            todo += triage(
                members,
                listed,
                settle,
                stop,
                lambda it, other: (
                    f"{it.filename} is already on {index} with different contents "
                    f"(sha256 {other or 'unknown'}; local {it.sha256}). PyPI never replaces a "
                    "file nor lets a file name be used again (file-name-reuse): publish a new "
                    "version, e.g. a post-release"
                ),
            )
        return [] if stop.is_set() else todo

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
            failed(item, exc)
            return
        settle(ItemResult(item, _STATUS[outcome]))

    run_groups(precheck(plan.items), run_one, workers=plan.settings.concurrency, stop=stop)
    ordered = [results.get(it, ItemResult(it, "not attempted")) for it in plan.items]
    return PyPISummary(plan, tuple(ordered))
