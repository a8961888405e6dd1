"""Which files of a project the index lists, and the bytes it serves for them.

A verified project's page lists a file only after the file was downloaded, checked against the
upstream's sha256, verified against the project's policy and bound to its name and version;
files are fetched and verified in a worker pool, each (sha256, name, policy, trust) once at a
time however many clients ask, and successes are remembered on disk. A pass-through project
lists what the upstream lists (each link still checked for a usable name and sha256) and
fetches a file when a client asks for it, checking its sha256, logging it as unverified.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from hatch_sigstore.errors import HatchSigstoreError
from hatch_sigstore.index._cache import Cache, policy_fingerprint, trust_fingerprint, verdict_key
from hatch_sigstore.index._names import Dist, parse_dist
from hatch_sigstore.index._status import Event, Status
from hatch_sigstore.index._upstreams import Link, Source, open_sources
from hatch_sigstore.index.config import IndexConfig, PackageRule

__all__ = ["Catalog", "ProjectPage", "ServedFile", "UpstreamError"]

T = TypeVar("T")


class UpstreamError(Exception):
    """The upstream's page for a project could not be read: nothing can be listed."""


@dataclass(frozen=True)
class ServedFile:
    filename: str
    sha256: str
    requires_python: str | None
    yanked: bool | str
    verified: bool
    provenance: bool
    upstream: str
    source_url: str  # the upstream's URL: used to fetch, never shown to a client


@dataclass(frozen=True)
class ProjectPage:
    name: str
    files: tuple[ServedFile, ...]
    verified: bool

    @property
    def versions(self) -> list[str]:
        parsed = [parse_dist(f.filename) for f in self.files]
        return [str(v) for v in sorted({d.version for d in parsed if d is not None})]


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    detail: str
    cached: bool = False
    transient: bool = False  # a network or local error: the page is not remembered
    provenance: bool = False


class _SingleFlight(Generic[T]):
    """One computation per key at a time; who asks meanwhile waits for the same result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Future[T]] = {}

    def run(self, key: str, compute: Callable[[], T]) -> T:
        with self._lock:
            running = self._running.get(key)
            owner = running is None
            if running is None:
                running = self._running[key] = Future()
        if not owner:
            return running.result()
        try:
            result = compute()
        except BaseException as exc:
            running.set_exception(exc)
            raise
        else:
            running.set_result(result)
            return result
        finally:
            with self._lock:
                del self._running[key]


class Catalog:
    def __init__(
        self, config: IndexConfig, cache: Cache, status: Status, env: Mapping[str, str]
    ) -> None:
        self.config = config
        self.cache = cache
        self.status = status
        self.sources: dict[str, Source] = open_sources(config, env)
        self.secrets = tuple(s for source in self.sources.values() for s in source.secrets)
        self._trust = trust_fingerprint(config.trust)
        self._policies = {id(rule): policy_fingerprint(rule.policy) for rule in config.rules}
        self._pool = ThreadPoolExecutor(config.workers, thread_name_prefix="index-verify")
        self._lock = threading.Lock()
        self._pages: dict[str, tuple[float, ProjectPage | None]] = {}
        self._page_flight: _SingleFlight[ProjectPage | None] = _SingleFlight()
        self._fetch_flight: _SingleFlight[Path | None] = _SingleFlight()
        self._jobs: dict[str, Future[_Outcome]] = {}
        self._passed: dict[tuple[str, str], ServedFile] = {}
        self._refused: dict[str, tuple[float, _Outcome]] = {}
        self.seen: set[str] = set()
        self._deadline = max(300.0, 5 * config.timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for source in self.sources.values():
            source.close()

    # -- pages ------------------------------------------------------------------------------

    def page(self, name: str) -> ProjectPage | None:
        """The project's page (``None``: the index does not serve it). Raises UpstreamError."""
        with self._lock:
            cached = self._pages.get(name)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        return self._page_flight.run(name, lambda: self._load(name))

    def _load(self, name: str) -> ProjectPage | None:
        page, remember = self._build(name)
        if remember:
            with self._lock:
                self._pages[name] = (time.monotonic() + self.config.listing_ttl, page)
        return page

    def _build(self, name: str) -> tuple[ProjectPage | None, bool]:
        rule = self.config.rule_for(name)
        if rule is None:
            if self.config.unlisted_upstream is None:
                self.status.record(
                    Event(
                        name,
                        "",
                        "-",
                        "refused",
                        'no [package] rule matches it and unlisted is "refuse"',
                    )
                )
                return None, True
            return self._pass_through(name, self.sources[self.config.unlisted_upstream])
        return self._verified(name, rule, self.sources[rule.upstream])

    def _links(self, name: str, source: Source) -> list[Link]:
        try:
            return source.links(name)
        except HatchSigstoreError as exc:
            self.status.record(Event(name, "", source.name, "upstream-error", str(exc)))
            raise UpstreamError(str(exc)) from None

    def _usable(self, name: str, source: Source, links: list[Link]) -> list[tuple[Link, Dist]]:
        """The links that name a wheel or sdist of this project with a sha256; the others
        are refused. A file name listed with two different hashes is refused altogether."""
        hashes: dict[str, set[str | None]] = {}
        for link in links:
            hashes.setdefault(link.filename, set()).add(link.sha256)
        usable: dict[str, tuple[Link, Dist]] = {}
        for link in links:
            dist = parse_dist(link.filename)
            problem = link.problem
            if problem is None and dist is None:
                problem = "not a wheel or sdist file name"
            elif problem is None and dist is not None and dist.name != name:
                problem = f"a file of another project ({dist.name}) on this project's page"
            elif problem is None and link.sha256 is None:
                problem = "the upstream gives no sha256 for it, so its bytes cannot be checked"
            elif problem is None and len(hashes[link.filename]) > 1:
                problem = "the upstream lists this file name twice with different sha256s"
            if problem is not None or dist is None:
                self.status.record(
                    Event(name, link.filename, source.name, "refused", problem or "", link.sha256)
                )
                continue
            usable.setdefault(link.filename, (link, dist))
        return list(usable.values())

    def _pass_through(self, name: str, source: Source) -> tuple[ProjectPage | None, bool]:
        links = self._links(name, source)
        if not links:
            return None, True
        files = []
        for link, _dist in self._usable(name, source, links):
            assert link.sha256 is not None
            served = ServedFile(
                link.filename,
                link.sha256,
                link.requires_python,
                link.yanked,
                verified=False,
                provenance=False,
                upstream=source.name,
                source_url=link.url,
            )
            files.append(served)
            with self._lock:
                self._passed[(served.sha256, served.filename)] = served
        self.status.record(
            Event(
                name,
                "",
                source.name,
                "pass-through",
                f"unlisted: {len(files)} file(s) listed unverified",
            )
        )
        self.seen.add(name)
        return ProjectPage(name, tuple(files), verified=False), True

    def _verified(
        self, name: str, rule: PackageRule, source: Source
    ) -> tuple[ProjectPage | None, bool]:
        links = self._links(name, source)
        if not links:
            return None, True
        self.seen.add(name)
        usable = self._usable(name, source, links)
        if len(usable) > self.config.max_files:
            detail = (
                f"the upstream lists {len(usable)} files, more than max-files "
                f"({self.config.max_files}); only the newest are verified"
            )
            self.status.record(Event(name, "", source.name, "refused", detail))
            usable = sorted(usable, key=lambda pair: pair[1].version)[-self.config.max_files :]
        jobs = [(link, dist, self._job(rule, source, link, dist)) for link, dist in usable]
        files = []
        remember = True
        for link, dist, job in jobs:
            outcome = job.result()
            assert link.sha256 is not None
            self.status.record(
                Event(
                    name,
                    link.filename,
                    source.name,
                    "verified" if outcome.ok else "refused",
                    outcome.detail,
                    link.sha256,
                    outcome.cached,
                )
            )
            remember = remember and not outcome.transient
            if outcome.ok:
                files.append(
                    ServedFile(
                        dist.filename,
                        link.sha256,
                        link.requires_python,
                        link.yanked,
                        verified=True,
                        provenance=self.cache.provenance_path(link.sha256) is not None,
                        upstream=source.name,
                        source_url=link.url,
                    )
                )
        return ProjectPage(name, tuple(files), verified=True), remember

    # -- verification -----------------------------------------------------------------------

    def _key(self, rule: PackageRule, sha256: str, filename: str) -> str:
        return verdict_key(sha256, filename, self._policies[id(rule)], self._trust)

    def _job(self, rule: PackageRule, source: Source, link: Link, dist: Dist) -> Future[_Outcome]:
        assert link.sha256 is not None
        key = self._key(rule, link.sha256, link.filename)
        with self._lock:
            running = self._jobs.get(key)
            if running is not None:
                return running
            job = self._jobs[key] = self._pool.submit(self._evaluate, rule, source, link, dist)
        job.add_done_callback(lambda _job: self._forget(key))
        return job

    def _forget(self, key: str) -> None:
        with self._lock:
            self._jobs.pop(key, None)

    def _evaluate(self, rule: PackageRule, source: Source, link: Link, dist: Dist) -> _Outcome:
        """A verdict from the disk (successes), from memory (refusals, for ``listing-ttl``:
        signatures uploaded after their dist show up then), or by fetching and verifying."""
        assert link.sha256 is not None
        key = self._key(rule, link.sha256, link.filename)
        with self._lock:
            refused = self._refused.get(key)
        if refused is not None and refused[0] > time.monotonic():
            return refused[1]
        outcome = self._fetch_and_verify(key, rule, source, link, dist)
        if not outcome.ok and not outcome.transient:
            with self._lock:
                self._refused[key] = (time.monotonic() + self.config.listing_ttl, outcome)
        return outcome

    def _fetch_and_verify(
        self, key: str, rule: PackageRule, source: Source, link: Link, dist: Dist
    ) -> _Outcome:
        assert link.sha256 is not None
        record = self.cache.verdict(key)
        if record is not None and self.cache.intact_file(link.sha256) is not None:
            return _Outcome(True, str(record.get("identity") or "verified"), cached=True)
        staging = self.cache.staging()
        try:
            path = staging / link.filename
            got = source.download(
                link.url, path, max_bytes=self.config.max_file_size, deadline=self._deadline
            )
            if got != link.sha256:
                return _Outcome(
                    False,
                    f"sha256 mismatch: the upstream index lists {link.sha256}, the upstream "
                    f"served {got}",
                )
            verdict, provenance = source.verify(rule, dist, link, path, self.config.trust)
            if not verdict.ok:
                reason = verdict.reason or "did not verify"
                return _Outcome(False, reason)
            # verify_file has bound the dist to the release its file name claims (its own
            # metadata: hatch_sigstore.verify.release), so a re-signed rollback never verifies.
            if provenance:
                self.cache.put_provenance(link.sha256, provenance)
            self.cache.put_file(path, link.sha256)
            identity = f"{verdict.identity} ({verdict.issuer}, {verdict.sidecar})"
            self.cache.put_verdict(
                key,
                {
                    "sha256": link.sha256,
                    "filename": link.filename,
                    "project": dist.name,
                    "version": str(dist.version),
                    "upstream": source.name,
                    "policy": rule.describe(),
                    "trust": self.config.trust.describe(),
                    "identity": identity,
                    "verified_at": time.time(),
                },
            )
            return _Outcome(True, identity, provenance=bool(provenance))
        except HatchSigstoreError as exc:
            return _Outcome(False, str(exc), transient=True)
        except OSError as exc:
            return _Outcome(False, f"local error: {exc.strerror or exc}", transient=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # -- files --------------------------------------------------------------------------------

    def verified_file(self, sha256: str, filename: str) -> Path | None:
        """A file this index verified for the policy it has now (from disk, any listing)."""
        dist = parse_dist(filename)
        rule = self.config.rule_for(dist.name) if dist is not None else None
        if rule is None:
            return None
        if self.cache.verdict(self._key(rule, sha256, filename)) is None:
            return None
        return self.cache.intact_file(sha256)

    def passed_file(self, sha256: str, filename: str) -> Path | None:
        """A pass-through file a listing named: fetched on first request, sha256-checked."""
        with self._lock:
            served = self._passed.get((sha256, filename))
        if served is None:
            return None
        path = self.cache.intact_file(sha256)
        if path is not None:
            self._log_passed(served)
            return path
        return self._fetch_flight.run(sha256, lambda: self._fetch_passed(served))

    def _fetch_passed(self, served: ServedFile) -> Path | None:
        project = parse_dist(served.filename)
        name = project.name if project is not None else served.filename
        staging = self.cache.staging()
        try:
            path = staging / served.filename
            got = self.sources[served.upstream].download(
                served.source_url,
                path,
                max_bytes=self.config.max_file_size,
                deadline=self._deadline,
            )
            if got != served.sha256:
                self.status.record(
                    Event(
                        name,
                        served.filename,
                        served.upstream,
                        "refused",
                        f"sha256 mismatch: listed {served.sha256}, served {got}",
                        served.sha256,
                    )
                )
                return None
            self.cache.put_file(path, served.sha256)
        except HatchSigstoreError as exc:
            self.status.record(
                Event(name, served.filename, served.upstream, "refused", str(exc), served.sha256)
            )
            return None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._log_passed(served)
        return self.cache.intact_file(served.sha256)

    def _log_passed(self, served: ServedFile) -> None:
        dist = parse_dist(served.filename)
        self.status.record(
            Event(
                dist.name if dist else served.filename,
                served.filename,
                served.upstream,
                "pass-through",
                "served unverified (sha256 checked)",
                served.sha256,
            )
        )

    def provenance(self, sha256: str, filename: str) -> Path | None:
        if self.verified_file(sha256, filename) is None:
            return None
        return self.cache.provenance_path(sha256)
