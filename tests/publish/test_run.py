"""The run order: generic before PyPI, the first file of each package version alone, the rest
concurrently; a failure stops new uploads. A registry double records the calls in a logical
order (no clocks), so every assertion here is deterministic.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from hatch_sigstore.errors import RegistryError
from hatch_sigstore.gitlab import FileState, Held, UploadOutcome
from hatch_sigstore.publish import ItemResult, UploadItem, execute
from publish_helpers import SECRET, make_plan


class RecordingRegistry:
    """Records uploads; ``fail_on`` a file name raises a RegistryError for it.

    ``calls`` holds ``(registry, file, start, end)`` where start and end are ticks of one
    logical clock taken under a lock: "b started after a ended" is ``b.start > a.end``,
    whatever the machine's load. With ``together=n`` the first ``n`` uploads wait for each
    other at a barrier before finishing: if the run loop sent them one at a time, the first
    would wait alone and fail, so a passing run proves they were in flight at once.
    """

    def __init__(
        self,
        *,
        fail_on: str | None = None,
        present: frozenset[str] = frozenset(),
        together: int = 0,
    ) -> None:
        self.calls: list[tuple[str, str, int, int]] = []
        self.stored: set[str] = set(present)  # what the double holds (always our bytes)
        self.asked: list[str] = []  # files whose state was asked for
        self.fail_on = fail_on
        self.present = present
        self.lock = threading.Lock()
        self._ticks = itertools.count()
        self._together = threading.Barrier(together, timeout=60) if together else None

    def _record(self, registry: str, path: Path) -> UploadOutcome:
        with self.lock:
            start = next(self._ticks)
        if self._together is not None and start < self._together.parties:
            self._together.wait()  # BrokenBarrierError (an upload failure) if alone
        with self.lock:
            self.calls.append((registry, path.name, start, next(self._ticks)))
        if path.name == self.fail_on:
            raise RegistryError(f"GitLab answered 403 Forbidden ({SECRET})", status=403)
        if path.name in self.present:
            return UploadOutcome.EXISTS_SAME
        with self.lock:
            self.stored.add(path.name)
        return UploadOutcome.UPLOADED

    def generic_upload(
        self,
        package: str,
        version: str,
        path: Path,
        *,
        sha256: str,
        progress: Callable[[int], None] | None = None,
    ) -> UploadOutcome:
        return self._record("generic", path)

    def pypi_upload(
        self,
        path: Path,
        *,
        name: str,
        version: str,
        sha256: str,
        metadata: Mapping[str, str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> UploadOutcome:
        return self._record("pypi", path)

    def _state(self, filename: str, sha256: str) -> FileState:
        self.asked.append(filename)
        return FileState(Held.SAME, sha256) if filename in self.stored else FileState(Held.ABSENT)

    def pypi_file_states(self, name: str, files: Mapping[str, str]) -> dict[str, FileState]:
        return {f: self._state(f, sha) for f, sha in files.items()}

    def generic_file_state(
        self, package: str, version: str, filename: str, sha256: str
    ) -> FileState:
        return self._state(filename, sha256)


class ListReporter:
    def __init__(self) -> None:
        self.finished: list[ItemResult] = []

    def upload_started(self, item: UploadItem) -> Callable[[int], None] | None:
        return None

    def upload_finished(self, result: ItemResult) -> None:
        self.finished.append(result)


def test_generic_first_then_pypi_first_file_of_each_version_alone(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, [("alpha", "1.0"), ("beta", "2.0"), ("gamma", "3.0")])
    # the first files of the three package versions may go at once: make two of them meet
    registry, reporter = RecordingRegistry(together=2), ListReporter()
    summary = execute(plan, registry, reporter)
    assert summary.ok
    assert len(reporter.finished) == len(plan.items) == 24
    last_generic_end = max(end for reg, _n, _s, end in registry.calls if reg == "generic")
    first_pypi_start = min(start for reg, _n, start, _e in registry.calls if reg == "pypi")
    assert last_generic_end <= first_pypi_start
    for registry_name in ("generic", "pypi"):
        for name in ("alpha", "beta", "gamma"):
            calls = sorted(
                (c for c in registry.calls if c[0] == registry_name and c[1].startswith(name)),
                key=lambda c: c[2],
            )
            first_end = calls[0][3]
            assert all(c[2] >= first_end for c in calls[1:]), (registry_name, name)
    # and the rest really runs concurrently: the two that met were in flight together
    first, second = sorted(registry.calls, key=lambda c: c[2])[:2]
    assert second[2] < first[3]
    assert "The registry holds the whole release: 6 dist(s)" in summary.registry_state()


def test_generic_failure_stops_before_pypi(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, [("alpha", "1.0")], concurrency=1)
    bad = "alpha-1.0.tar.gz.sig"
    registry = RecordingRegistry(fail_on=bad)
    summary = execute(plan, registry, ListReporter(), secrets=[SECRET])
    assert not summary.ok
    assert not [c for c in registry.calls if c[0] == "pypi"]
    statuses = {r.item.filename: r.status for r in summary.results}
    assert statuses[bad] == "failed"
    assert {statuses[i.filename] for i in plan.pypi} == {"not attempted"}
    state = summary.registry_state()
    assert "no dist in the PyPI registry" in state
    assert "Re-run" in state
    error = str(summary.error())
    assert SECRET not in error
    assert "***" in error
    assert bad in error


def test_pypi_file_with_other_bytes_is_refused_without_sending(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, [("alpha", "1.0")])

    class Conflicting(RecordingRegistry):
        def pypi_file_states(self, name: str, files: Mapping[str, str]) -> dict[str, FileState]:
            states = super().pypi_file_states(name, files)
            states["alpha-1.0.tar.gz"] = FileState(Held.OTHER, "f" * 64)
            return states

    registry = Conflicting()
    summary = execute(plan, registry, ListReporter())
    assert not summary.ok
    assert not [c for c in registry.calls if c[0] == "pypi"]
    failed = summary.failures()
    assert [f.item.filename for f in failed] == ["alpha-1.0.tar.gz"]
    assert "different contents" in failed[0].message
    assert "Refusing to overwrite" in failed[0].message


def test_a_generic_name_gitlab_refuses_stops_the_run_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    plan = make_plan(tmp_path, [("alpha", "1.0")])
    bad = plan.generic[1]
    renamed = bad.path.rename(bad.path.with_name(bad.path.name.replace("-1.0", "-1.0@x")))
    plan = dataclasses.replace(
        plan, generic=(plan.generic[0], dataclasses.replace(bad, path=renamed), *plan.generic[2:])
    )
    registry = RecordingRegistry()
    summary = execute(plan, registry, ListReporter())
    assert registry.calls == []
    (failed,) = summary.failures()
    assert failed.item.filename == renamed.name
    assert "'@'" in failed.message
    assert "Nothing was sent." in failed.message
    assert "The registry is unchanged" in summary.registry_state()  # asked: all absent
