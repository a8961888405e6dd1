"""Running ``hatch-sigstore download`` in-process (tests/cli/test_download.py, test_consumer.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from hatch_sigstore.cli import main

# What would make the command pick up the running CI job instead of the test's own flags.
CI_VARIABLES = (
    "CI_JOB_TOKEN",
    "HATCH_SIGSTORE_TRUST_CONFIG",
    "GITLAB_CI",
    "CI_API_V4_URL",
    "CI_PROJECT_ID",
    "CI_SERVER_URL",
    "CI_PROJECT_PATH",
    "CI_COMMIT_TAG",
    "CI_COMMIT_BRANCH",
    "GITLAB_TOKEN",
)


def clear_download_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in CI_VARIABLES:
        monkeypatch.delenv(var, raising=False)


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.out)
        return data


def run_download(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """``hatch-sigstore download ARGS``: its exit code and what it printed."""
    code = main(["download", *args])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)
