"""The index source: a release from PyPI (or any PEP 691/740 index), kept only if its provenance
verifies.

``hatch-sigstore download NAME==VERSION --index-url https://pypi.org/simple/``: the project page
(PEP 691 JSON, else PEP 503 HTML) names each file, its sha256 and its PEP 740 provenance (the
``provenance`` URL, else the integrity API beside the simple API). Each wheel and sdist of
exactly that release is downloaded into the private staging folder, checked against the
page's sha256, and verified against its provenance: some publish attestation must pass both
PyPI's rules for the trusted publisher the index recorded and the signer policy the consumer
named (:func:`hatch_sigstore.verify.verify_provenance`). Only what verified is moved into the
target folder, with the attestation as its ``.publish.attestation`` (so ``hatch-sigstore
verify`` can check it again offline); the rest is deleted, as for the GitLab source.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from hatch_sigstore.download._fetch import Deadline, Work
from hatch_sigstore.download._report import DownloadReport
from hatch_sigstore.download._run import _place
from hatch_sigstore.download._select import (
    Kind,
    SelectedFile,
    check_filename,
    parse_dist_filename,
    parse_requirement,
)
from hatch_sigstore.errors import ConfigError, HatchSigstoreError, RegistryError

if TYPE_CHECKING:
    from hatch_sigstore.pypi import IndexClient, IndexedFile
    from hatch_sigstore.trust import TrustChoice
    from hatch_sigstore.verify import FileResult, Policy, TrustedPublisher

__all__ = ["download_from_index"]


def download_from_index(
    requirement: str,
    *,
    index_url: str,
    directory: str | os.PathLike[str],
    policy: Policy,
    trust: TrustChoice,
    only: Kind | None = None,
    max_bytes: int,
    deadline: float,
    workers: int,
    client_options: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> DownloadReport:
    """Download ``NAME==VERSION`` from the index at ``index_url`` (its ``…/simple/`` root) into
    ``directory``, keeping only the files whose provenance verifies against ``policy``.

    Per-file problems are in the report; raises only when nothing can be done at all.
    """
    from hatch_sigstore.pypi import IndexClient, IndexURLs, RetryPolicy

    name, version = parse_requirement(requirement)
    urls = IndexURLs.from_simple_url(index_url, "--index-url")
    target = Path(directory).expanduser()
    budget = Deadline(deadline)
    lock = threading.Lock()

    def say(message: str) -> None:  # the fetches report from their threads: one line each
        if progress is not None:
            with lock:
                progress(message)

    options: dict[str, Any] = {
        "timeout": min(60.0, deadline),
        "retry_policy": RetryPolicy(total_time=deadline),
        **(client_options or {}),
    }
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot use {str(target)!r} as the download folder: "
            f"{exc.strerror or exc.__class__.__name__}.",
            remediation="Pass -d a folder you can write to (it is created if missing).",
        ) from None
    with IndexClient(urls, **options) as client:
        listed = client.project_files(name)
        if listed is None:
            raise RegistryError(
                f"{urls.name} has no project {name!r} ({urls.simple_url(name)} answered 404).",
                remediation="Check the name and --index-url (the simple API root, ending in "
                "/simple/).",
            )
        selected = _select(listed, name, version, only)
        if not selected:
            raise RegistryError(_nothing(urls.name, name, version, only, listed))
        say(f"found {len(selected)} file(s) of {name}=={version} on {urls.name}")
        staging = Path(tempfile.mkdtemp(prefix=".hatch-sigstore-", dir=target))
        try:
            fetched = _fetch_all(
                client, selected, staging, name, max_bytes=max_bytes, budget=budget,
                workers=workers, say=say,
            )  # fmt: skip
            results: dict[str, FileResult] = {}
            publishers: dict[str, TrustedPublisher] = {}
            for work, provenance in fetched:
                if work.reason is not None or work.staged is None or provenance is None:
                    continue
                from hatch_sigstore.verify import verify_provenance

                result, publisher = verify_provenance(work.staged, provenance, policy, trust)
                results[work.selected.filename] = result
                if result.ok and publisher is not None:
                    publishers[work.selected.filename] = publisher
                    work.sidecar_paths = [Path(f"{work.staged}.publish.attestation")]
            works = [work for work, _ in fetched]
            outcomes, removed = _place(works, results, target, client.secrets)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    notes = tuple(
        f"{filename}: published by the {publisher.describe()} (recorded by {urls.name})"
        for filename, publisher in publishers.items()
    )
    return DownloadReport(
        requirement=f"{name}=={version}",
        name=name,
        version=str(version),
        project=name,
        registry=urls.simple_root,
        directory=str(target),
        policy=policy.describe(),
        trust=trust.describe(),
        generic_package="-",
        generic_version="-",
        files=tuple(outcomes),
        removed=tuple(removed),
        notes=notes,
    )


def _select(
    listed: Sequence[IndexedFile], name: str, version: Version, only: Kind | None
) -> list[tuple[SelectedFile, IndexedFile]]:
    wanted = canonicalize_name(name)
    chosen: dict[str, tuple[SelectedFile, IndexedFile]] = {}
    for entry in listed:
        check_filename(entry.filename, source="simple index")
        parsed = parse_dist_filename(entry.filename)
        if parsed is None:
            continue
        kind, dist_name, dist_version = parsed
        if dist_name != wanted or dist_version != version or (only and kind != only):
            continue
        selected = SelectedFile(entry.filename, kind, entry.url, entry.sha256, dist_version)
        chosen.setdefault(entry.filename, (selected, entry))
    return sorted(chosen.values(), key=lambda pair: (pair[0].kind != "wheel", pair[0].filename))


def _nothing(
    index: str, name: str, version: Version, only: str | None, listed: Sequence[IndexedFile]
) -> str:
    versions = sorted(
        {
            str(parsed[2])
            for entry in listed
            if (parsed := parse_dist_filename(entry.filename)) and parsed[1] == name
        },
        key=Version,
    )
    what = f"{only} of " if only else "wheel or sdist of "
    shown = f" It lists: {', '.join(versions[-10:])}." if versions else " It lists no files."
    return f"{index} has no {what}{name}=={version}.{shown} Check the name and the version."


def _fetch_all(
    client: IndexClient,
    selected: Sequence[tuple[SelectedFile, IndexedFile]],
    staging: Path,
    name: str,
    *,
    max_bytes: int,
    budget: Deadline,
    workers: int,
    say: Callable[[str], None],
) -> list[tuple[Work, bytes | None]]:
    """Every file and its provenance into staging (concurrently); problems become reasons."""

    def fetch(pair: tuple[SelectedFile, IndexedFile]) -> tuple[Work, bytes | None]:
        chosen, entry = pair
        work = Work(chosen)
        provenance: bytes | None = None
        try:
            if chosen.index_sha256 is None:
                work.reason = (
                    "the index gives no sha256 for it, so its bytes cannot be checked; "
                    "not downloaded"
                )
                return work, None
            got = client.download(
                entry.url, staging / chosen.filename, max_bytes=max_bytes,
                deadline=budget.remaining(),
            )  # fmt: skip
            work.staged, work.sha256 = got.path, got.sha256
            work.hash_ok = got.sha256 == chosen.index_sha256
            if not work.hash_ok:
                work.reason = (
                    f"sha256 mismatch: the index says {chosen.index_sha256}, the server sent "
                    f"{got.sha256}; the file was deleted"
                )
                return work, None
            url = entry.provenance
            if url == "":  # the page does not speak PEP 740: ask the integrity API
                url = client.integrity_url(name, str(chosen.version), chosen.filename)
            provenance = None if url is None else client.provenance(url, chosen.filename)
            if provenance is None:
                work.reason = (
                    f"the index has no provenance (PEP 740 attestations) for {chosen.filename}: "
                    "it was uploaded without attestations, so its origin cannot be checked"
                )
            say(f"downloaded {chosen.filename}")
        except HatchSigstoreError as exc:
            work.reason = str(exc)
        except OSError as exc:
            work.reason = f"could not write the download: {exc.strerror or exc}"
        return work, provenance

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(selected)))) as pool:
        return list(pool.map(fetch, selected))
