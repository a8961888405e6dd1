"""The summary: what the registry holds after a run, and what a re-run will do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_run import ListReporter, RecordingRegistry

from hatch_sigstore.errors import RegistryError
from hatch_sigstore.publish import ItemResult, Plan, Summary, execute
from hatch_sigstore.publish.run import observe
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


def _results(plan: Plan, held: dict[str, str], status: str = "not attempted") -> Summary:
    out = []
    for item in plan.items:
        state = held.get(item.filename, "absent")
        out.append(
            ItemResult(item, "present", held="same")
            if state == "present"
            else ItemResult(item, status, held=state)  # type: ignore[arg-type]
        )
    return Summary(plan, tuple(out))


def test_the_state_line_reports_what_was_seen_per_file(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, [("alpha", "1.0")])
    names = [i.filename for i in plan.items]
    generic = [i.filename for i in plan.generic]
    held = {n: "same" for n in generic[:4]}
    held[generic[4]] = "other"
    held[generic[5]] = "unknown"
    state = _results(plan, held).registry_state()
    assert state.startswith(
        "Only 4 of 6 signature file(s) are in the generic registry, and no dist in the PyPI "
        "registry, so no package version is visible without its signatures (the same bytes "
        "as here)."
    )
    assert f"Absent: {', '.join(i.filename for i in plan.pypi)}." in state
    assert f"Not known (the registry did not answer when asked): {generic[5]}." in state
    assert f"OTHER bytes under the name(s) {generic[4]}" in state
    assert "Bump the version and rebuild, or delete the package version (alpha 1.0)" in state
    assert "Re-run the same command" not in state  # a re-run would be refused again
    assert len(names) == 8


def test_a_complete_registry_after_a_failure_is_said_so(tmp_path: Path) -> None:
    """The issue's case: a run that failed while the registry holds the whole release."""
    plan = make_plan(tmp_path, [("alpha", "1.0")])
    items = list(plan.items)
    results = [ItemResult(items[0], "failed", "HTTP 500", held="same")]
    results += [ItemResult(i, "not attempted", held="same") for i in items[1:]]
    state = Summary(plan, tuple(results)).registry_state()
    assert "unchanged" not in state
    assert state.startswith(
        "All 6 signature file(s) are in the generic registry; 2 of 2 dist(s) are in the PyPI "
        "registry (the same bytes as here)."
    )


def test_many_names_are_listed_briefly(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, [("alpha", "1.0"), ("beta", "1.0")])
    held = {i.filename: "same" for i in plan.items[:2]}
    state = _results(plan, held).registry_state()
    assert "and 10 more." in state


def test_observe_asks_only_what_no_answer_showed_and_stops_when_the_registry_does(
    tmp_path: Path,
) -> None:
    plan = make_plan(tmp_path, [("alpha", "1.0")])
    first, *rest = plan.items
    registry = RecordingRegistry(present=frozenset(i.filename for i in plan.generic[:3]))
    results = [ItemResult(first, "uploaded")] + [ItemResult(i, "not attempted") for i in rest]
    seen = observe(registry, results)
    assert first.filename not in registry.asked  # an upload's answer is an observation
    assert [r.observed for r in seen] == ["same", "same", "same", "absent", "absent", "absent",
                                          "absent", "absent"]  # fmt: skip

    class Down(RecordingRegistry):
        def generic_file_state(self, package: str, version: str, filename: str, sha256: str) -> Any:
            self.asked.append(filename)
            raise RegistryError("connection refused")

    down = Down()
    seen = observe(down, [ItemResult(i, "not attempted") for i in plan.items])
    assert len(down.asked) == 1  # the first refusal ends the asking
    assert {r.observed for r in seen} == {"unknown"}
