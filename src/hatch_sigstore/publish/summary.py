"""The summary of a publish run: each file's outcome, and what the registry holds afterwards.

Uploaded, skipped (already there), failed or not attempted; and, per file, what the registry
was *seen* to hold: the same bytes, other bytes, nothing, or unknown (it could not be asked).
The ``Registry state:`` line is built from those observations, never from what was attempted:
a run that stopped early asks the registry before it says anything (:mod:`.run`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from hatch_sigstore.errors import PublishError
from hatch_sigstore.publish.plan import Plan, Registry, UploadItem, format_size

__all__ = ["Held", "ItemResult", "Status", "Summary", "failure_error"]

Status = Literal["uploaded", "present", "failed", "not attempted"]
# What the registry holds under the file's name: our bytes, other bytes, nothing, or unknown.
Held = Literal["same", "other", "absent", "unknown"]
_LISTED = 4  # file names listed per kind of state before "and N more"


@dataclass(frozen=True)
class ItemResult:
    item: UploadItem
    status: Status
    message: str = ""
    held: Held | None = None  # None: not observed yet (uploaded/present imply "same")

    @property
    def observed(self) -> Held:
        if self.status in ("uploaded", "present"):
            return "same"
        return self.held or "unknown"


def _names(results: Sequence[ItemResult]) -> str:
    names = [r.item.filename for r in results]
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


@dataclass(frozen=True)
class Summary:
    plan: Plan
    results: tuple[ItemResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.status in ("uploaded", "present") for r in self.results)

    def count(self, registry: Registry, *statuses: Status) -> int:
        return sum(1 for r in self.results if r.item.registry == registry and r.status in statuses)

    def held(self, registry: Registry, state: Held) -> list[ItemResult]:
        return [r for r in self.results if r.item.registry == registry and r.observed == state]

    def failures(self) -> list[ItemResult]:
        return [r for r in self.results if r.status == "failed"]

    def table(self) -> list[tuple[str, str, str, str]]:
        """(registry, file, result, size) rows."""
        rows: list[tuple[str, str, str, str]] = []
        for r in self.results:
            status = {"present": "already there (same sha256)"}.get(r.status, r.status)
            rows.append((r.item.registry, r.item.filename, status, format_size(r.item.size)))
        return rows

    def registry_state(self) -> str:
        """One paragraph: what the registry was seen to hold, and what to do next."""
        g_total, p_total = len(self.plan.generic), len(self.plan.pypi)
        g_same, p_same = len(self.held("generic", "same")), len(self.held("pypi", "same"))
        uploaded = self.count("generic", "uploaded") + self.count("pypi", "uploaded")
        if self.ok:
            return (
                f"The registry holds the whole release: {p_same} dist(s) in the PyPI registry "
                f"and {g_same} signature file(s) in the generic registry ({uploaded} uploaded "
                f"now, {p_same + g_same - uploaded} already there)."
            )
        other = [r for r in self.results if r.observed == "other"]
        absent = [r for r in self.results if r.observed == "absent"]
        unknown = [r for r in self.results if r.observed == "unknown"]
        if len(absent) == len(self.results):
            return (
                "The registry is unchanged: nothing of this release is in it (every file was "
                "checked). Fix the problem above and re-run the same command."
            )
        if len(unknown) == len(self.results):
            return (
                "Unknown: the registry could not be asked what it holds of this release (it "
                "refused or did not answer the checks). Fix the problem above and re-run the "
                "same command: files already there with the same sha256 are skipped."
            )
        if g_same == g_total and g_total:
            held = (
                f"All {g_total} signature file(s) are in the generic registry; {p_same} of "
                f"{p_total} dist(s) are in the PyPI registry"
            )
        elif p_same == 0 and not self.held("pypi", "other"):
            held = (
                f"Only {g_same} of {g_total} signature file(s) are in the generic registry, and "
                "no dist in the PyPI registry, so no package version is visible without its "
                "signatures"
            )
        else:
            held = (
                f"{g_same} of {g_total} signature file(s) are in the generic registry and "
                f"{p_same} of {p_total} dist(s) in the PyPI registry"
            )
        parts = [held + " (the same bytes as here)."]
        if absent:
            parts.append(f"Absent: {_names(absent)}.")
        if unknown:
            parts.append(f"Not known (the registry did not answer when asked): {_names(unknown)}.")
        if other:
            versions = sorted({f"{r.item.package} {r.item.version}" for r in other})
            parts.append(
                f"The registry holds OTHER bytes under the name(s) {_names(other)}: a re-run "
                "refuses them again. Bump the version and rebuild, or delete the package "
                f"version ({'; '.join(versions)}) in GitLab (Deploy > Package registry) and "
                "publish again."
            )
        else:
            parts.append("Re-run the same command to finish; files already there are skipped.")
        return " ".join(parts)

    def error(self, *, with_state: bool = True) -> PublishError:
        return failure_error(self.failures(), self.registry_state() if with_state else "")


def failure_error(fails: Sequence[ItemResult], state: str = "") -> PublishError:
    """One paragraph for a failed run: the first failure, how many more, the state it leaves
    (also the pypi target's, :mod:`.pypi_summary`)."""
    first = f"{fails[0].item.filename}: {fails[0].message.rstrip('. ')}" if fails else "-"
    more = f" ({len(fails) - 1} more failure(s) listed above)" if len(fails) > 1 else ""
    return PublishError(f"Publishing failed: {first}.{more}{' ' + state if state else ''}")
