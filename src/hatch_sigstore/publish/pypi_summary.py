"""The summary of a PyPI publish: each dist's outcome, and what the index holds now.

Uploaded (with its attestation, which the index verified before storing it), skipped (already
there with the same sha256), failed or not attempted; and what a re-run will do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hatch_sigstore.errors import PublishError
from hatch_sigstore.publish.plan import format_size
from hatch_sigstore.publish.summary import ItemResult, Status, failure_error

if TYPE_CHECKING:
    from hatch_sigstore.publish.pypi_plan import PyPIPlan

__all__ = ["PyPISummary"]


@dataclass(frozen=True)
class PyPISummary:
    plan: PyPIPlan
    results: tuple[ItemResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.status in ("uploaded", "present") for r in self.results)

    def count(self, *statuses: Status) -> int:
        return sum(1 for r in self.results if r.status in statuses)

    def failures(self) -> list[ItemResult]:
        return [r for r in self.results if r.status == "failed"]

    def table(self) -> list[tuple[str, str, str, str]]:
        """(index, file, result, size) rows."""
        name = self.plan.settings.urls.name
        rows = []
        for r in self.results:
            status = {"present": "already there (same sha256)"}.get(r.status, r.status)
            if r.status == "uploaded" and r.item.filename in self.plan.attestations:
                status = "uploaded with attestation"
            rows.append((name, r.item.filename, status, format_size(r.item.size)))
        return rows

    def registry_state(self) -> str:
        """One paragraph: what the index holds now and what a re-run will do."""
        index = self.plan.settings.urls.name
        total = len(self.results)
        there = self.count("uploaded", "present")
        uploaded = self.count("uploaded")
        attested = sum(
            1
            for r in self.results
            if r.status == "uploaded" and r.item.filename in self.plan.attestations
        )
        if self.ok:
            with_att = (
                f", {attested} with an attestation the index verified before storing it"
                if attested
                else ""
            )
            return (
                f"{index} holds the whole release: {total} dist(s) ({uploaded} uploaded now"
                f"{with_att}; {there - uploaded} already there)."
            )
        if there == 0:
            return f"{index} is unchanged: nothing of this release is on it."
        return (
            f"{there} of {total} dist(s) are on {index}. Re-run the same command to finish; "
            "files already there are skipped."
        )

    def error(self, *, with_state: bool = True) -> PublishError:
        return failure_error(self.failures(), self.registry_state() if with_state else "")
