"""The two kinds of upstream behind one face: list a project's links, download a file, and
verify a downloaded file the way that upstream publishes signatures.

* GitLab (:class:`hatch_sigstore.gitlab.RegistryClient`, a project's or a group's PyPI
  index): the signature files sit in a project's generic registry at the release's
  coordinates, as ``hatch publish`` puts them; :func:`hatch_sigstore.download.fetch_signatures`
  finds them as ``download`` does, and :func:`hatch_sigstore.verify.verify_file` checks them
  (and binds the dist to its release).
* PyPI-compatible indexes (:class:`hatch_sigstore.pypi.IndexClient`): the page is read
  leniently (a hostile link is refused on its own), reads go only to the index and its
  ``file-hosts``; the PEP 740 provenance the page links (or the integrity API beside it) is
  checked by :func:`hatch_sigstore.verify.verify_provenance`: PyPI's rules for the trusted
  publisher it records, and the rule's policy.

Tokens stay with their clients: in headers to their own origin only, redacted everywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hatch_sigstore._names import generic_coordinates
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.index._names import Dist
from hatch_sigstore.index.config import (
    GitLabUpstream,
    IndexConfig,
    PackageRule,
    PyPIUpstream,
    toml_path,
)

if TYPE_CHECKING:
    from hatch_sigstore.gitlab import RegistryClient
    from hatch_sigstore.pypi import IndexClient
    from hatch_sigstore.trust import TrustChoice

__all__ = ["Link", "Source", "Verdict", "open_sources"]


@dataclass(frozen=True)
class Link:
    """A file link as an upstream's simple page gives it, before the index trusts any of it.
    ``provenance_url``: PEP 740, ``None`` when the page says there is none, ``""`` when the
    page does not speak PEP 740; ``problem``: why this link alone is unusable."""

    filename: str
    url: str
    sha256: str | None
    requires_python: str | None = None
    yanked: bool | str = False
    provenance_url: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None
    identity: str | None = None
    issuer: str | None = None
    sidecar: str | None = None


class Source(Protocol):
    name: str
    secrets: tuple[str, ...]

    def links(self, project: str) -> list[Link]: ...

    def download(self, url: str, dest: Path, *, max_bytes: int, deadline: float) -> str: ...

    def verify(
        self, rule: PackageRule, dist: Dist, link: Link, path: Path, trust: TrustChoice
    ) -> tuple[Verdict, bytes | None]: ...

    def close(self) -> None: ...


class GitLabSource:
    """A GitLab project's or group's PyPI index, and the generic registries of the projects
    that hold signature files (one client each, made on first use)."""

    def __init__(self, upstream: GitLabUpstream, env: Mapping[str, str], timeout: float) -> None:
        from hatch_sigstore.gitlab import Credentials

        self.name = upstream.name
        self.upstream = upstream
        self.credentials = Credentials.from_env(None, upstream.token_env, env=env)
        self.secrets = self.credentials.secrets
        self._timeout = timeout
        self.listing = self._client(upstream.project, group=upstream.group)
        self._generic: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()

    def _client(self, project: str | None, *, group: str | None = None) -> RegistryClient:
        from hatch_sigstore.gitlab import RegistryClient

        return RegistryClient(
            self.upstream.url,
            project,
            self.credentials,
            group=group,
            timeout=self._timeout,
            retries=2,
        )

    def close(self) -> None:
        self.listing.close()
        for client in self._generic.values():
            client.close()

    def links(self, project: str) -> list[Link]:
        return [
            Link(f.filename, f.url, f.sha256, f.requires_python)
            for f in self.listing.pypi_simple_files(project)
        ]

    def download(self, url: str, dest: Path, *, max_bytes: int, deadline: float) -> str:
        got = self.listing.download(url, dest, max_bytes=max_bytes, route="pypi", deadline=deadline)
        return got.sha256

    def _generic_client(self, project: str) -> RegistryClient:
        if self.upstream.project == project:
            return self.listing
        with self._lock:  # one client per project, however many workers ask at once
            client = self._generic.get(project)
            if client is None:
                client = self._generic[project] = self._client(project)
            return client

    def verify(
        self, rule: PackageRule, dist: Dist, link: Link, path: Path, trust: TrustChoice
    ) -> tuple[Verdict, bytes | None]:
        from hatch_sigstore.download import SIDECAR_NAMES, fetch_signatures
        from hatch_sigstore.verify import verify_file

        package, version = generic_coordinates(dist.name, str(dist.version))
        package = rule.generic_package or package
        assert rule.generic_project is not None
        client = self._generic_client(rule.generic_project)
        if not fetch_signatures(client, package, version, dist.filename, path.parent):
            return Verdict(
                False,
                f"unsigned: no signature files in the generic registry of project "
                f"{rule.generic_project} at {package}/{version}/{dist.filename}{SIDECAR_NAMES}",
            ), None
        # offline=False only lets a .sig/.crt pair look its log entry up, as download does;
        # bundles and attestations are checked offline against the trusted root
        result = verify_file(path, rule.policy, trust, offline=False)
        return Verdict(
            result.ok, result.reason, result.identity, result.issuer, result.sidecar
        ), None


class PyPISource:
    """A PyPI-compatible index: PEP 691 JSON (PEP 503 HTML else) with PEP 740 provenance."""

    def __init__(self, upstream: PyPIUpstream, env: Mapping[str, str], timeout: float) -> None:
        from hatch_sigstore.pypi import IndexClient, IndexURLs

        self.name = upstream.name
        token = env.get(upstream.token_env) if upstream.token_env else None
        urls = IndexURLs.from_simple_url(upstream.index_url, "index-url")
        self.client: IndexClient = IndexClient(
            urls,
            timeout=timeout,
            retries=2,
            read_auth=(upstream.username or "__token__", token) if token else None,
            file_hosts=upstream.file_hosts,
            file_hosts_key=toml_path("upstream", upstream.name, "file-hosts"),
        )
        self.secrets = self.client.secrets

    def close(self) -> None:
        self.client.close()

    def links(self, project: str) -> list[Link]:
        files = self.client.project_files(project, strict=False)
        return [
            Link(f.filename, f.url, f.sha256, f.requires_python, f.yanked, f.provenance, f.problem)
            for f in files or ()
        ]

    def download(self, url: str, dest: Path, *, max_bytes: int, deadline: float) -> str:
        return self.client.download(url, dest, max_bytes=max_bytes, deadline=deadline).sha256

    def verify(
        self, rule: PackageRule, dist: Dist, link: Link, path: Path, trust: TrustChoice
    ) -> tuple[Verdict, bytes | None]:
        from hatch_sigstore.verify import verify_provenance

        url = link.provenance_url
        if url == "":  # the page does not speak PEP 740: ask the integrity API
            url = self.client.integrity_url(dist.name, str(dist.version), dist.filename)
        if url is None:
            return Verdict(False, "unsigned: the index links no PEP 740 provenance for it"), None
        document = self.client.provenance(url, dist.filename)
        if document is None:
            return Verdict(False, "unsigned: the index has no PEP 740 provenance for it"), None
        result, publisher = verify_provenance(path, document, rule.policy, trust)
        if not result.ok or publisher is None:
            return Verdict(False, result.reason or "did not verify"), None
        sidecar = f"PEP 740 provenance of the {publisher.describe()}"
        return Verdict(True, None, result.identity, result.issuer, sidecar), document


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
