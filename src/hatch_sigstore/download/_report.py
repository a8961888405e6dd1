"""What a download did: one outcome per file, the report, and the table or JSON it prints as."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from hatch_sigstore._text import printable
from hatch_sigstore.download._select import Kind

__all__ = ["DownloadReport", "FileOutcome", "format_table"]


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file. ``path`` is set only for a verified file kept in the directory."""

    filename: str
    kind: Kind
    index_sha256: str | None
    sha256: str | None = None
    hash_ok: bool = False
    sidecar: str | None = None
    sidecar_files: tuple[str, ...] = ()
    verified: bool = False
    identity: str | None = None
    issuer: str | None = None
    reason: str | None = None
    path: str | None = None

    @property
    def ok(self) -> bool:
        return self.verified and self.path is not None


@dataclass(frozen=True)
class DownloadReport:
    requirement: str
    name: str
    version: str
    project: str
    registry: str
    directory: str
    policy: str
    trust: str
    generic_package: str
    generic_version: str
    files: tuple[FileOutcome, ...]
    removed: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return bool(self.files) and all(f.ok for f in self.files)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["files"] = [{**asdict(f), "ok": f.ok} for f in self.files]
        return data

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False)


def format_table(report: DownloadReport) -> str:
    """A plain-text result table plus a summary line (what was kept, what was deleted).

    Every cell and line is made printable: identities come from certificates, reasons may
    quote a server, and an escape sequence or a newline there must not fake a row."""
    header = ("FILE", "KIND", "SHA256", "SIGNATURE", "RESULT", "DETAIL")
    rows: list[tuple[str, ...]] = []
    for f in report.files:
        hash_text = "-" if f.sha256 is None else ("ok" if f.hash_ok else "MISMATCH")
        detail = (f.identity or "") if f.ok else (f.reason or "")
        rows.append(
            (
                _one_line(f.filename),
                f.kind,
                hash_text,
                _one_line(f.sidecar or "-"),
                "verified" if f.ok else "FAILED",
                _one_line(detail),
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    kept = [f for f in report.files if f.ok]
    failed = [f for f in report.files if not f.ok]
    lines.append("")
    lines.append(_one_line(f"policy: {report.policy}"))
    lines.append(_one_line(f"trust:  {report.trust}"))
    if kept:
        lines.append(_one_line(f"kept {len(kept)} verified file(s) in {report.directory}"))
    for note in report.notes:
        lines.append(_one_line(note))
    if failed:
        lines.append(
            _one_line(
                f"{len(failed)} file(s) did not verify and were deleted (with their signature "
                f"files); {report.directory} holds none of them: "
                + ", ".join(f.filename for f in failed)
            )
        )
    for path in report.removed:
        lines.append(_one_line(f"deleted {path}"))
    lines.append(
        f"OK: every file of {report.requirement} verified"
        if report.ok
        else f"FAILED: {report.requirement} did not fully verify"
    )
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(printable(text).split())
