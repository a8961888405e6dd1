"""The summary: what the registry holds after a run, and what a re-run will do."""

from __future__ import annotations

from pathlib import Path

from test_run import ListReporter, RecordingRegistry

from hatch_sigstore.publish import ItemResult, Summary, execute
from publish_helpers import make_plan


def test_pypi_failure_state(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, [("alpha", "1.0")], concurrency=1)
    registry = RecordingRegistry(fail_on="alpha-1.0.tar.gz")
    summary = execute(plan, registry, ListReporter())
    assert "All 6 signature file(s) are in the generic registry" in summary.registry_state()


def test_rerun_reports_present(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, [("alpha", "1.0")])
    names = frozenset(i.filename for i in plan.items)
    summary = execute(plan, RecordingRegistry(present=names), ListReporter())
    assert {r.status for r in summary.results} == {"present"}
    assert "0 uploaded now, 8 already there" in summary.registry_state()
    assert ("generic", plan.generic[0].filename, "already there (same sha256)", "30 B") in (
        summary.table()
    )


def test_nothing_uploaded_state(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, [("alpha", "1.0")])
    absent = tuple(ItemResult(i, "not attempted", held="absent") for i in plan.items)
    summary = Summary(plan, absent)
    assert summary.registry_state().startswith(
        "The registry is unchanged: nothing of this release is in it (every file was checked)."
    )
    # not observed: the summary says it does not know, never "unchanged"
    unseen = Summary(plan, tuple(ItemResult(i, "not attempted") for i in plan.items))
    assert unseen.registry_state().startswith("Unknown: the registry could not be asked")
