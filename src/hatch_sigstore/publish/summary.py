"""The summary of a publish run: each file's outcome, and the state it leaves the registry in.

Uploaded, skipped (already there), failed or not attempted; and what a re-run will do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from hatch_sigstore.errors import PublishError
from hatch_sigstore.publish.plan import Plan, Registry, UploadItem, format_size

__all__ = ["ItemResult", "Status", "Summary", "failure_error"]

Status = Literal["uploaded", "present", "failed", "not attempted"]


@dataclass(frozen=True)
class ItemResult:
    item: UploadItem
    status: Status
    message: str = ""


@dataclass(frozen=True)
class Summary:
    plan: Plan
    results: tuple[ItemResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.status in ("uploaded", "present") for r in self.results)

    def count(self, registry: Registry, *statuses: Status) -> int:
        return sum(1 for r in self.results if r.item.registry == registry and r.status in statuses)

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
        """One paragraph: what the registry holds now and what a re-run will do."""
        g_total, p_total = len(self.plan.generic), len(self.plan.pypi)
        g_in = self.count("generic", "uploaded", "present")
        p_in = self.count("pypi", "uploaded", "present")
        uploaded = self.count("generic", "uploaded") + self.count("pypi", "uploaded")
        if self.ok:
            return (
                f"The registry holds the whole release: {p_in} dist(s) in the PyPI registry and "
                f"{g_in} signature file(s) in the generic registry ({uploaded} uploaded now, "
                f"{p_in + g_in - uploaded} already there)."
            )
        if g_in == 0 and p_in == 0:
            return "The registry is unchanged: nothing of this release is in it."
        if p_in == 0:
            return (
                f"Only signature files are in the registry: {g_in} of {g_total} in the generic "
                "registry, and no dist in the PyPI registry, so no package version is visible "
                "without its signatures. Re-run the same command to finish; files already "
                "there are skipped."
            )
        return (
            f"All {g_total} signature file(s) are in the generic registry; {p_in} of {p_total} "
            "dist(s) are in the PyPI registry. Re-run the same command to finish; files "
            "already there are skipped."
        )

    def error(self, *, with_state: bool = True) -> PublishError:
        return failure_error(self.failures(), self.registry_state() if with_state else "")


def failure_error(fails: Sequence[ItemResult], state: str = "") -> PublishError:
    """One paragraph for a failed run: the first failure, how many more, the state it leaves
    (also the pypi target's, :mod:`.pypi_summary`)."""
    first = f"{fails[0].item.filename}: {fails[0].message.rstrip('. ')}" if fails else "-"
    more = f" ({len(fails) - 1} more failure(s) listed above)" if len(fails) > 1 else ""
    return PublishError(f"Publishing failed: {first}.{more}{' ' + state if state else ''}")
