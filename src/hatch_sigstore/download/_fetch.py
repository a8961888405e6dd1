"""Fetching: the selected files and their signature files, into staging, within one deadline.

Everything lands in a private staging folder; one deadline bounds the whole command; nothing
here raises for a single file (its problem becomes its reason).
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatch_sigstore._files import (
    ATTESTATION_SUFFIX,
    BUNDLE_SUFFIX,
    CERTIFICATE_SUFFIX,
    SIGNATURE_SUFFIX,
)
from hatch_sigstore._names import generic_coordinates
from hatch_sigstore.download._select import SelectedFile
from hatch_sigstore.errors import HatchSigstoreError, RegistryError

if TYPE_CHECKING:
    from hatch_sigstore.gitlab import IndexFile, RegistryClient

__all__ = [
    "SIDECAR_MAX_BYTES",
    "SIDECAR_NAMES",
    "Deadline",
    "Fetcher",
    "Work",
    "fetch_all",
    "fetch_signatures",
    "index_within",
]

SIDECAR_MAX_BYTES = 4 * 1024 * 1024  # bundles and attestations are a few kB; certificates ~1 kB
_SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")

# Sidecars fetched from the generic registry, in order of preference. The first group that is
# complete is used; ``.sig`` needs its ``.crt``.
_SIDECAR_GROUPS: tuple[tuple[str, ...], ...] = (
    (BUNDLE_SUFFIX,),
    (ATTESTATION_SUFFIX,),
    (SIGNATURE_SUFFIX, CERTIFICATE_SUFFIX),
)
# For messages: FILENAME{.sigstore.json,.publish.attestation,.sig+.crt}
SIDECAR_NAMES = "{" + ",".join("+".join(group) for group in _SIDECAR_GROUPS) + "}"


def fetch_signatures(
    client: RegistryClient,
    package: str,
    version: str,
    filename: str,
    dest: Path,
    *,
    deadline: Callable[[], float] | None = None,
) -> list[Path]:
    """The signature files of ``filename`` in the generic registry of ``client``'s project at
    ``package``/``version``, downloaded into the folder ``dest``: the first complete group in
    order of preference (a bundle, a PEP 740 attestation, a ``.sig`` with its ``.crt``), as
    the publisher uploads them. Empty when there is none; a group with a file missing (404) is
    skipped, any other failure raises. ``deadline``: the seconds left for each download."""
    for group in _SIDECAR_GROUPS:
        got: list[Path] = []
        for suffix in group:
            name = filename + suffix
            try:
                got.append(
                    client.download(
                        client.generic_url(package, version, name),
                        dest / name,
                        max_bytes=SIDECAR_MAX_BYTES,
                        route="generic",
                        deadline=None if deadline is None else deadline(),
                    ).path
                )
            except RegistryError as exc:
                if exc.status == 404:
                    break
                raise
        else:
            return got
        for path in got:
            path.unlink(missing_ok=True)
    return []


class Deadline:
    """One deadline for the whole command: every wait takes what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise RegistryError(
                f"The download did not finish within {self.seconds:g} seconds (the total "
                "deadline); a server that keeps a response open without finishing it is "
                "cut off here.",
                remediation="Retry, or raise --timeout if the registry is just slow.",
            )
        return left


def index_within(client: RegistryClient, name: str, budget: Deadline) -> list[IndexFile]:
    """``client.pypi_simple_files(name)``, abandoned when the deadline passes.

    The client caps the page's size and each read's wait, but a server can drip a byte at a
    time forever; the request runs in a daemon thread that is left behind (and its connection
    closed) when the command's deadline is over.
    """
    box: dict[str, Any] = {}

    def fetch() -> None:
        try:
            box["files"] = client.pypi_simple_files(name)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=fetch, name="hatch-sigstore-index", daemon=True)
    thread.start()
    thread.join(max(0.0, budget.end - time.monotonic()))
    if thread.is_alive():
        client.close()
        budget.remaining()  # raises: the deadline is over
        raise RegistryError("The simple index did not arrive in time.")  # pragma: no cover
    if "error" in box:
        raise box["error"]
    files: list[IndexFile] = box["files"]
    return files


@dataclass
class Work:
    selected: SelectedFile
    staged: Path | None = None
    sha256: str | None = None
    hash_ok: bool = False
    sidecar_paths: list[Path] = field(default_factory=list)
    reason: str | None = None


def fetch_all(
    fetch: Fetcher,
    selected: Sequence[SelectedFile],
    *,
    workers: int,
    budget: Deadline,
    say: Callable[[str], None],
) -> list[Work]:
    """Run ``fetch`` over the files in daemon threads, giving up on any still running at the
    deadline (a server can keep a response alive forever; a daemon thread left behind cannot
    keep the process from exiting). Abandoned files fail with the deadline as the reason."""
    todo: queue.SimpleQueue[SelectedFile] = queue.SimpleQueue()
    for item in selected:
        todo.put(item)
    finished: dict[str, Work] = {}
    lock = threading.Lock()
    over = threading.Event()

    def worker() -> None:
        while not over.is_set():
            try:
                item = todo.get_nowait()
            except queue.Empty:
                return
            result = fetch(Work(item))
            with lock:
                if not over.is_set():
                    finished[item.filename] = result
                    say(f"downloaded {item.filename}")

    threads = [
        threading.Thread(target=worker, name=f"hatch-sigstore-download-{n}", daemon=True)
        for n in range(max(1, min(workers, len(selected))))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, budget.end - time.monotonic()))
    with lock:
        over.set()
        late = [
            Work(
                item,
                reason=f"not finished within the {budget.seconds:g}-second deadline (--timeout): "
                "the server did not complete its responses in time; nothing of it was kept",
            )
            for item in selected
            if item.filename not in finished
        ]
        if late:
            fetch.client.close()
        return [finished.get(item.filename) or late.pop(0) for item in selected]


class Fetcher:
    """Downloads one file and its sidecars into the staging directory; never raises."""

    def __init__(
        self,
        client: RegistryClient,
        *,
        staging: Path,
        package: str,
        package_override: bool,
        max_bytes: int,
        budget: Deadline,
    ) -> None:
        self.client = client
        self.staging = staging
        self.package = package
        self.package_override = package_override
        self.max_bytes = max_bytes
        self.budget = budget

    def __call__(self, item: Work) -> Work:
        selected = item.selected
        try:
            if selected.index_sha256 is None or not _SHA256.fullmatch(selected.index_sha256):
                item.reason = (
                    "the simple index gives no valid #sha256= for it, so its bytes cannot be "
                    "checked; not downloaded"
                )
                return item
            # Downloaded unchecked into the private staging directory, then compared here, so
            # the report can show both hashes; a mismatching file never leaves staging.
            got = self.client.download(
                selected.url,
                self.staging / selected.filename,
                max_bytes=self.max_bytes,
                route="pypi",
                deadline=self.budget.remaining(),
            )
            item.staged = got.path
            item.sha256 = got.sha256
            item.hash_ok = got.sha256 == selected.index_sha256
            if not item.hash_ok:
                item.reason = (
                    f"sha256 mismatch: the index says {selected.index_sha256}, the registry "
                    f"served {got.sha256}; the file was deleted"
                )
                return item
            package, version = generic_coordinates(self.package, selected.version)
            if self.package_override:
                package = self.package
            item.sidecar_paths = fetch_signatures(
                self.client,
                package,
                version,
                selected.filename,
                self.staging,
                deadline=self.budget.remaining,
            )
            if not item.sidecar_paths:
                item.reason = (
                    "no signature files in the generic registry at "
                    f"{package}/{version}/{selected.filename}{SIDECAR_NAMES}"
                )
        except HatchSigstoreError as exc:
            item.reason = str(exc)
        except OSError as exc:
            item.reason = f"could not write the download: {exc.strerror or exc}"
        return item
