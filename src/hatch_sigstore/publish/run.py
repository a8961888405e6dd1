"""Run a plan: signature files to the generic registry first, then the dists to PyPI; re-runnable.

Per package version the first signature file goes alone (as GitLab requires), then the rest
concurrently; only when all of them are in place do the dists go to the PyPI registry, so no
package is ever visible without its signatures. The registry client skips files already present
with the same sha256 and refuses ones present with different bytes, so a re-run after any
failure finishes the job without duplicates. Names GitLab's generic registry would refuse stop
the run before anything is sent. When a run stops early, the registry is asked what it holds
of every file whose state no answer showed, so the summary says what is there, not what was
tried.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from hatch_sigstore.errors import ConfigError, HatchSigstoreError, PublishError, redact
from hatch_sigstore.gitlab import (
    FileConflictError,
    FileState,
    Held,
    UploadOutcome,
    check_generic_location,
)
from hatch_sigstore.publish.plan import Plan, UploadItem
from hatch_sigstore.publish.summary import ItemResult, Status, Summary

__all__ = ["RegistryAPI", "Reporter", "execute", "observe", "run_groups"]


class RegistryAPI(Protocol):
    """The part of :class:`hatch_sigstore.gitlab.RegistryClient` the publisher uses."""

    def generic_upload(
        self,
        package: str,
        version: str,
        path: Path,
        *,
        sha256: str,
        progress: Callable[[int], None] | None = ...,
    ) -> UploadOutcome: ...

    def pypi_upload(
        self,
        path: Path,
        *,
        name: str,
        version: str,
        sha256: str,
        metadata: Mapping[str, str] = ...,
        progress: Callable[[int], None] | None = ...,
    ) -> UploadOutcome: ...

    def pypi_file_states(self, name: str, files: Mapping[str, str]) -> dict[str, FileState]:
        """What the PyPI registry holds of each ``filename -> sha256`` of package ``name``."""

    def generic_file_state(
        self, package: str, version: str, filename: str, sha256: str
    ) -> FileState: ...


class Reporter(Protocol):
    """Where progress goes: hatch's terminal, a CLI, or a list in a test."""

    def upload_started(self, item: UploadItem) -> Callable[[int], None] | None:
        """Called before each upload; may return a progress callback (bytes sent so far)."""

    def upload_finished(self, result: ItemResult) -> None: ...


_STATUS: Mapping[UploadOutcome, Status] = {
    UploadOutcome.UPLOADED: "uploaded",
    UploadOutcome.EXISTS_SAME: "present",
}


def _status(outcome: UploadOutcome) -> Status:
    status = _STATUS.get(outcome)
    if status is None:  # a client that breaks its own contract: never guess
        raise PublishError(f"The registry client returned an unexpected outcome {outcome!r}.")
    return status


def run_groups(
    items: Sequence[UploadItem],
    run_one: Callable[[UploadItem], None],
    *,
    workers: int,
    stop: threading.Event,
) -> None:
    """Run ``run_one`` over ``items``: per package version (:attr:`UploadItem.group`) the first
    file alone, then the others concurrently; nothing more of a group starts once ``stop`` is
    set. (The pypi target, :mod:`.pypi_run`, runs its uploads the same way.)"""
    groups: dict[tuple[str, str, str], list[UploadItem]] = {}
    for it in items:
        groups.setdefault(it.group, []).append(it)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="publish") as pool:
        pending: dict[Future[None], tuple[tuple[str, str, str], bool]] = {}
        for key, members in groups.items():
            # The first file of each package version alone: the registry creates the package
            # (or release) record on it, and concurrent creations race (GitLab: HTTP 500).
            pending[pool.submit(run_one, members[0])] = (key, True)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                key, first = pending.pop(fut)
                fut.result()
                if first and not stop.is_set():
                    for member in groups[key][1:]:
                        pending[pool.submit(run_one, member)] = (key, False)


def execute(
    plan: Plan,
    client: RegistryAPI,
    reporter: Reporter,
    *,
    secrets: Sequence[str] = (),
) -> Summary:
    """Upload the plan: generic first, then PyPI; stop starting new uploads at the first failure."""
    results: dict[UploadItem, ItemResult] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def run_one(item: UploadItem) -> None:
        if stop.is_set():
            return
        progress = reporter.upload_started(item)
        try:
            if item.registry == "generic":
                outcome = client.generic_upload(
                    item.package, item.version, item.path, sha256=item.sha256, progress=progress
                )
            else:
                outcome = client.pypi_upload(
                    item.path,
                    name=item.package,
                    version=item.version,
                    sha256=item.sha256,
                    metadata=item.dist.pypi_metadata,
                    progress=progress,
                )
            result = ItemResult(item, _status(outcome))
        except HatchSigstoreError as exc:
            conflict = isinstance(exc, FileConflictError)
            result = ItemResult(
                item, "failed", redact(str(exc), secrets), "other" if conflict else None
            )
            stop.set()
        except Exception as exc:  # a bug or an unexpected library error: never lose the summary
            text = f"{exc.__class__.__name__}: {exc}"
            result = ItemResult(item, "failed", redact(text, secrets))
            stop.set()
        settle(result)

    def settle(result: ItemResult) -> None:
        with lock:
            results[result.item] = result
        reporter.upload_finished(result)

    def precheck_pypi(items: Sequence[UploadItem]) -> list[UploadItem]:
        """One index read per name: skip files already there (their bytes checked) without
        sending them again; refuse other bytes under our names before anything is sent."""
        by_name: dict[str, list[UploadItem]] = {}
        for it in items:
            by_name.setdefault(it.package, []).append(it)
        todo: list[UploadItem] = []
        for name, members in by_name.items():
            try:
                states = client.pypi_file_states(name, {it.filename: it.sha256 for it in members})
            except HatchSigstoreError as exc:
                settle(ItemResult(members[0], "failed", redact(str(exc), secrets)))
                stop.set()
                return []
            for it in members:
                state = states[it.filename]
                if state.held is Held.ABSENT:
                    todo.append(it)
                elif state.held is Held.SAME:
                    settle(ItemResult(it, "present"))
                else:
                    stop.set()
                    settle(ItemResult(it, "failed", _conflict_text(it, state), "other"))
        return [] if stop.is_set() else todo

    def check_names(items: Sequence[UploadItem]) -> None:
        """GitLab's generic-registry rules for every name, before anything is sent."""
        for it in items:
            try:
                check_generic_location(it.package, it.version, it.filename)
            except ConfigError as exc:
                settle(ItemResult(it, "failed", f"{exc} Nothing was sent."))
                stop.set()

    def run_phase(items: Sequence[UploadItem]) -> None:
        run_groups(items, run_one, workers=plan.settings.concurrency, stop=stop)

    check_names(plan.generic)
    if not stop.is_set():
        run_phase(plan.generic)
    if not stop.is_set():
        run_phase(precheck_pypi(plan.pypi))
    ordered = [results.get(it, ItemResult(it, "not attempted")) for it in plan.items]
    if stop.is_set():
        ordered = observe(client, ordered)
    return Summary(plan, tuple(ordered))


def _conflict_text(item: UploadItem, state: FileState) -> str:
    if state.claimed is not None:
        held = (
            f"its index claims sha256 {state.claimed}, the digest the uploader declared, but "
            f"it serves bytes with sha256 {state.sha256}"
        )
    else:
        held = f"sha256 {state.sha256}"
    return (
        f"{item.filename} already exists in the GitLab PyPI registry with different contents "
        f"({held}; local {item.sha256}). Refusing to overwrite: GitLab never replaces a PyPI "
        f"file. Bump the version and rebuild, or delete the package {item.package} "
        f"{item.version} in GitLab (Deploy > Package registry) and publish again."
    )


def observe(client: RegistryAPI, results: Sequence[ItemResult]) -> list[ItemResult]:
    """Ask the registry what it holds of every file no answer has shown yet (failed or not
    attempted), so the summary reports what was seen, not what was tried. The first check
    the registry refuses or does not answer ends the asking: the rest stay unknown."""
    out = list(results)
    todo = [i for i, r in enumerate(out) if r.observed == "unknown"]
    reachable = True

    def record(index: int, held: str) -> None:
        out[index] = replace(out[index], held=held)  # type: ignore[arg-type]

    pypi: dict[str, list[int]] = {}
    for index in todo:
        item = out[index].item
        if item.registry == "pypi":
            pypi.setdefault(item.package, []).append(index)
            continue
        if not reachable:
            continue
        try:
            state = client.generic_file_state(item.package, item.version, item.filename,
                                              item.sha256)  # fmt: skip
        except ConfigError:
            continue  # a name GitLab refuses: nothing to ask
        except HatchSigstoreError:
            reachable = False
            continue
        record(index, str(state.held))
    for name, indexes in pypi.items():
        if not reachable:
            break
        wanted = {out[i].item.filename: out[i].item.sha256 for i in indexes}
        try:
            states = client.pypi_file_states(name, wanted)
        except HatchSigstoreError:
            break
        for index in indexes:
            record(index, str(states[out[index].item.filename].held))
    return out
