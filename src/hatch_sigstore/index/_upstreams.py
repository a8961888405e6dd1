"""The two kinds of upstream behind one face: list a project's links, download a file, and
verify a downloaded file the way that upstream publishes signatures.

GitLab: the signature files sit in a project's generic registry at the release's coordinates
(as ``hatch publish`` puts them, and ``download`` looks for them). PyPI-compatible indexes:
the PEP 740 provenance the simple API links to.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from hatch_sigstore.index._link import Link
from hatch_sigstore.index._names import Dist
from hatch_sigstore.index._sources import (
    ConfigError,
    GitLabClient,
    TrustChoice,
    Verdict,
    generic_coordinates,
    verify_attestations,
    verify_with_sidecars,
)
from hatch_sigstore.index.config import (
    GitLabUpstream,
    IndexConfig,
    PackageRule,
    PyPIUpstream,
    toml_path,
)

__all__ = ["Link", "Source", "open_sources"]


class Source(Protocol):
    name: str
    secrets: tuple[str, ...]

    def links(self, project: str) -> list[Link]: ...

    def download(self, url: str, dest: Path, *, max_bytes: int, deadline: float) -> str: ...

    def verify(
        self, rule: PackageRule, dist: Dist, link: Link, path: Path, trust: TrustChoice
    ) -> tuple[Verdict, bytes | None]: ...

    def close(self) -> None: ...


class _Client(Protocol):
    def download(self, url: str, dest: Path, *, max_bytes: int, deadline: float) -> str: ...

    def close(self) -> None: ...


class _Source:
    client: _Client

    def download(self, url: str, dest: Path, *, max_bytes: int, deadline: float) -> str:
        return self.client.download(url, dest, max_bytes=max_bytes, deadline=deadline)

    def close(self) -> None:
        self.client.close()


class GitLabSource(_Source):
    def __init__(self, upstream: GitLabUpstream, env: Mapping[str, str], timeout: float) -> None:
        self.name = upstream.name
        self.client: GitLabClient = GitLabClient(
            upstream.url,
            project=upstream.project,
            group=upstream.group,
            token_env=upstream.token_env,
            env=env,
            timeout=timeout,
        )
        self.secrets = self.client.secrets

    def links(self, project: str) -> list[Link]:
        return [
            Link(f.filename, f.url, f.sha256, f.requires_python)
            for f in self.client.list_files(project)
        ]

    def verify(
        self, rule: PackageRule, dist: Dist, link: Link, path: Path, trust: TrustChoice
    ) -> tuple[Verdict, bytes | None]:
        package, version = generic_coordinates(dist.name, str(dist.version))
        package = rule.generic_package or package
        assert rule.generic_project is not None
        sidecars = self.client.fetch_signatures(
            rule.generic_project, package, version, dist.filename, path.parent
        )
        if not sidecars:
            return Verdict(
                False,
                f"unsigned: no signature files in the generic registry of project "
                f"{rule.generic_project} at {package}/{version}/{dist.filename}"
                "{.sigstore.json,.publish.attestation,.sig+.crt}",
            ), None
        return verify_with_sidecars(path, rule.policy, trust), None


class PyPISource(_Source):
    def __init__(self, upstream: PyPIUpstream, env: Mapping[str, str], timeout: float) -> None:
        from hatch_sigstore.index._pypi import PyPIClient

        self.name = upstream.name
        self.client: PyPIClient = PyPIClient(upstream, env=env, timeout=timeout)
        self.secrets = self.client.secrets

    def links(self, project: str) -> list[Link]:
        return self.client.list_files(project)

    def verify(
        self, rule: PackageRule, dist: Dist, link: Link, path: Path, trust: TrustChoice
    ) -> tuple[Verdict, bytes | None]:
        if link.provenance_url is None:
            return Verdict(False, "unsigned: the index links no PEP 740 provenance for it"), None
        document, attestations = self.client.provenance(link.provenance_url)
        if not attestations:
            return Verdict(False, "unsigned: its PEP 740 provenance holds no attestation"), None
        verdict = verify_attestations(path, attestations, rule.policy, trust)
        return verdict, document if verdict.ok else None


def open_sources(config: IndexConfig, env: Mapping[str, str]) -> dict[str, Source]:
    """One client per upstream; a token variable that cannot be used fails here, named."""
    sources: dict[str, Source] = {}
    try:
        for name, upstream in config.upstreams.items():
            try:
                if isinstance(upstream, GitLabUpstream):
                    sources[name] = GitLabSource(upstream, env, config.timeout)
                else:
                    sources[name] = PyPISource(upstream, env, config.timeout)
            except ConfigError as exc:
                raise ConfigError(
                    f"{toml_path('upstream', name)}: {exc.message}", remediation=exc.remediation
                ) from None
    except BaseException:
        for source in sources.values():
            source.close()
        raise
    return sources
