"""The GitLab stand-in for the registry client's tests: a fresh project per test and a client
wired to it with fast retries and recorded sleeps."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatch_sigstore.gitlab import Credentials, RegistryClient, RetryPolicy

if TYPE_CHECKING:
    from hatch_sigstore.sandbox.gitlab import GitLabRegistry, Project

FAST = RetryPolicy(retries=6, base_delay=0.01, max_delay=0.05, total_time=60.0, seed=7)


class Env:
    """A fresh project with a job token, and helpers to make files and clients."""

    def __init__(self, registry: GitLabRegistry, tmp_path: Path) -> None:
        self.registry = registry
        self.project: Project = registry.create_project("group/client-test")
        self.token = registry.job_token(self.project)
        self.creds = Credentials("job", self.token, source="CI_JOB_TOKEN")
        self.tmp = tmp_path
        self.sleeps: list[float] = []
        self.prefix = f"/api/v4/projects/{self.project.id}/"

    def client(self, creds: Credentials | None = None, **kwargs: Any) -> RegistryClient:
        kwargs.setdefault("retry_policy", FAST)
        kwargs.setdefault("sleep", self.sleeps.append)
        return RegistryClient(
            self.registry.api_url, str(self.project.id), creds or self.creds, **kwargs
        )

    def file(self, name: str, data: bytes | None = None) -> tuple[Path, str]:
        data = data if data is not None else f"contents of {name}".encode() * 100
        path = self.tmp / "dist" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path, hashlib.sha256(data).hexdigest()

    def requests(self, method: str | None = None, contains: str = "") -> list[Any]:
        # The stand-in logs each request before its answer goes out: no settling needed.
        return [
            r
            for r in self.registry.requests
            if r.path.startswith(self.prefix)
            and (method is None or r.method == method)
            and contains in r.path
        ]


def assert_no_token(text: str, *tokens: str) -> None:
    for token in tokens:
        assert token not in text
