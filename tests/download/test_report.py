"""The download's report: the table a person reads and the JSON a script reads."""

from __future__ import annotations

import json

from hatch_sigstore.download import (
    DownloadReport,
    FileOutcome,
    format_table,
)

API = "https://gitlab.example.com/api/v4"
SHA = "ab" * 32


def _report(*files: FileOutcome, removed: tuple[str, ...] = ()) -> DownloadReport:
    return DownloadReport(
        requirement="pkg==1.0",
        name="pkg",
        version="1.0",
        project="group/project",
        registry=API,
        directory="/tmp/out",
        policy="GitLab CI of group/project",
        trust="the public production Sigstore",
        generic_package="pkg",
        generic_version="1.0",
        files=files,
        removed=removed,
    )


def test_table_and_json_say_what_was_kept_and_deleted() -> None:
    good = FileOutcome(
        "pkg-1.0-py3-none-any.whl",
        "wheel",
        SHA,
        sha256=SHA,
        hash_ok=True,
        sidecar="bundle",
        verified=True,
        identity="https://gitlab.example.com/group/project//.gitlab-ci.yml@refs/tags/v1.0",
        path="/tmp/out/pkg-1.0-py3-none-any.whl",
    )
    bad = FileOutcome("pkg-1.0.tar.gz", "sdist", SHA, sha256="cd" * 32, reason="sha256 mismatch: …")
    report = _report(good, bad, removed=("/tmp/out/pkg-1.0.tar.gz",))
    table = format_table(report)
    assert "pkg-1.0-py3-none-any.whl  wheel  ok" in table
    assert "MISMATCH" in table
    assert "FAILED" in table
    assert "did not verify and were deleted" in table
    assert "deleted /tmp/out/pkg-1.0.tar.gz" in table
    assert table.rstrip().endswith("FAILED: pkg==1.0 did not fully verify")
    data = json.loads(report.to_json_text())
    assert data["ok"] is False
    assert [f["ok"] for f in data["files"]] == [True, False]
    assert data["removed"] == ["/tmp/out/pkg-1.0.tar.gz"]
    assert format_table(_report(good)).rstrip().endswith("OK: every file of pkg==1.0 verified")
    assert _report().ok is False  # nothing downloaded is not success
