"""Download a release from GitLab, check its hashes, verify it, and keep only what verified.

The consumer's side of the data flow::

    GitLab ──► registry client ──► consumer (this module) ──► verification ──► verified files

``download`` resolves ``NAME==VERSION`` in a project's PyPI simple index, downloads every wheel
and sdist of exactly that version, fetches their signature files from the generic package
registry, checks each file against the index's ``#sha256=``, verifies it against a
:class:`~hatch_sigstore.verify.Policy`, and moves only the files that verified (with their
signature files) into the target directory. Everything happens in a private staging directory
inside the target, so a file that did not verify never appears there, not even for a moment.

Knows nothing of hatch. HTTP lives in :mod:`hatch_sigstore.gitlab` and cryptography in
:mod:`hatch_sigstore.verify`; both are imported only when ``download`` runs.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from hatch_sigstore._files import (
    ATTESTATION_SUFFIX,
    BUNDLE_SUFFIX,
    CERTIFICATE_SUFFIX,
    SIGNATURE_SUFFIX,
    sidecars_of,
)
from hatch_sigstore._names import generic_coordinates
from hatch_sigstore.errors import ConfigError, HatchSigstoreError, RegistryError, redact

if TYPE_CHECKING:
    from hatch_sigstore.gitlab import Credentials, IndexFile, RegistryClient
    from hatch_sigstore.trust import TrustChoice
    from hatch_sigstore.verify import FileResult, Policy

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_BYTES",
    "SIDECAR_MAX_BYTES",
    "DownloadReport",
    "FileOutcome",
    "SelectedFile",
    "download",
    "format_table",
    "generic_package_coordinates",
    "parse_requirement",
    "parse_size",
    "select_files",
]

DEFAULT_MAX_BYTES = 512 * 1024 * 1024  # larger than any real wheel or sdist (PyPI's limit: 100 MB)
SIDECAR_MAX_BYTES = 4 * 1024 * 1024  # bundles and attestations are a few kB; certificates ~1 kB
DEFAULT_DEADLINE = 900.0  # seconds for the whole command: a server that never ends gets cut off
DEFAULT_WORKERS = 8

Kind = Literal["wheel", "sdist"]

# What a distribution file name may contain: PEP 427/625 names use [A-Za-z0-9_.], versions add
# "+" (local) and "!" (epoch), legacy sdists "-". Anything else (slashes, backslashes, "%",
# spaces, control characters, non-ASCII) is a server trying something.
_SAFE_FILENAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._+!-]*\Z")
_SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")

# Sidecars fetched from the generic registry, in order of preference. The first group that is
# complete is used; ``.sig`` needs its ``.crt``.
_SIDECAR_GROUPS: tuple[tuple[str, ...], ...] = (
    (BUNDLE_SUFFIX,),
    (ATTESTATION_SUFFIX,),
    (SIGNATURE_SUFFIX, CERTIFICATE_SUFFIX),
)


# --------------------------------------------------------------------------------------------
# Names, versions, coordinates


def parse_requirement(text: str) -> tuple[NormalizedName, Version]:
    """``NAME==VERSION`` → (normalized name, version). Nothing but one exact version is accepted."""
    hint = "Ask for one exact release, e.g. 'hatch-sigstore download my-package==1.2.0 …'."
    try:
        requirement = Requirement(text.strip())
    except InvalidRequirement:
        raise ConfigError(
            f"{text!r} is not a requirement of the form NAME==VERSION.", remediation=hint
        ) from None
    specifiers = list(requirement.specifier)
    if (
        requirement.url
        or requirement.extras
        or requirement.marker
        or len(specifiers) != 1
        or specifiers[0].operator not in ("==", "===")
        or "*" in specifiers[0].version
    ):
        raise ConfigError(
            f"{text!r} does not name one exact version: download verifies a release, "
            "not a range (no extras, markers, URLs or wildcards).",
            remediation=hint,
        )
    try:
        version = Version(specifiers[0].version)
    except InvalidVersion:
        raise ConfigError(
            f"{specifiers[0].version!r} in {text!r} is not a PEP 440 version.", remediation=hint
        ) from None
    return canonicalize_name(requirement.name), version


def generic_package_coordinates(name: str, version: str | Version) -> tuple[str, str]:
    """Where a release's signature files live in GitLab's generic registry: (package, version).

    The one rule shared with the publisher, which uploads the sidecars there: the PEP 503
    normalized project name and the normalized PEP 440 version (``My_Pkg`` 1.0.0-RC.1 →
    ``my-pkg``/``1.0.0rc1``; an epoch's ``!``, which GitLab rejects, becomes ``-``). This is
    :func:`hatch_sigstore._names.generic_coordinates`; both sides compute it from the
    distribution's name and version however a file name or a request spells them.
    """
    return generic_coordinates(name, version)


def parse_size(text: str) -> int:
    """``500M``, ``1G``, ``1048576``, ``64KiB`` → bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(
            f"{text!r} is not a size.",
            remediation="Give --max-size as a positive number of bytes or with a unit: "
            "500M, 1G, 64K.",
        )
    power = "kmgt".find(match.group(2).lower()) + 1 if match.group(2) else 0
    return int(match.group(1)) << (10 * power)


# --------------------------------------------------------------------------------------------
# Choosing files from the index


@dataclass(frozen=True)
class SelectedFile:
    filename: str
    kind: Kind
    url: str
    index_sha256: str | None
    version: Version


def _same_origin(url: str, base: str) -> bool:
    one, two = urlsplit(url), urlsplit(base)
    return (
        one.scheme.lower() == two.scheme.lower()
        and (one.hostname or "").lower() == (two.hostname or "").lower()
        and (one.port or _default_port(one.scheme)) == (two.port or _default_port(two.scheme))
    )


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "https": 443}.get(scheme.lower())


def check_filename(filename: str, *, source: str) -> None:
    """Refuse names that are not plain distribution file names (traversal, odd characters)."""
    if not _SAFE_FILENAME.fullmatch(filename) or ".." in filename or len(filename) > 255:
        raise RegistryError(
            f"The registry's {source} lists a file named {filename[:120]!r}, which is not a "
            "plain distribution file name (path separators, '..', or characters that no wheel "
            "or sdist name contains). Refusing to write anything it names.",
            remediation="The server is broken or hostile: check the --url and --project you "
            "gave, and tell the registry's administrators.",
        )


def select_files(
    files: Iterable[IndexFile],
    name: str,
    version: Version,
    *,
    api_url: str,
    only: Kind | None = None,
) -> list[SelectedFile]:
    """The wheels and sdists of exactly ``name==version`` among an index page's links.

    Raises :class:`RegistryError` if any link points to another host or names a file that is
    not a plain file name: a page with one hostile link is not trusted for the others either.
    Links of other versions, other projects and unknown file types are left out.
    """
    wanted = canonicalize_name(name)
    chosen: dict[str, SelectedFile] = {}
    for entry in files:
        filename = entry.filename
        check_filename(filename, source="simple index")
        parts = urlsplit(entry.url)
        if parts.username is not None or parts.password is not None:
            raise RegistryError(
                f"The simple index links {filename!r} to a URL with credentials in it. "
                "Refusing it.",
                remediation="The server is broken or hostile; tell its administrators.",
            )
        if not _same_origin(entry.url, api_url):
            raise RegistryError(
                f"The simple index links {filename!r} to another host "
                f"({_origin(entry.url)}, not the registry at {_origin(api_url)}). "
                "Refusing to follow it: a file "
                "must come from the registry you asked.",
                remediation="Check --url; if the registry really serves files from another "
                "host, download them yourself and use 'hatch-sigstore verify'.",
            )
        last = unquote(parts.path.rsplit("/", 1)[-1])
        if last != filename:
            raise RegistryError(
                f"The simple index links {filename!r} to a URL for another file "
                f"({last[:80]!r}). Refusing it.",
                remediation="The server is broken or hostile; tell its administrators.",
            )
        parsed = _parse_dist_filename(filename)
        if parsed is None:
            continue
        kind, dist_name, dist_version = parsed
        if dist_name != wanted or dist_version != version or (only and kind != only):
            continue
        sha = (entry.sha256 or "").lower() or None
        chosen.setdefault(
            filename,
            SelectedFile(filename, kind, entry.url, sha, dist_version),
        )
    return sorted(chosen.values(), key=lambda f: (f.kind != "wheel", f.filename))


def _parse_dist_filename(filename: str) -> tuple[Kind, NormalizedName, Version] | None:
    if filename.endswith(".whl"):
        try:
            name, version, _build, _tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion):
            return None
        return "wheel", name, version
    if filename.endswith((".tar.gz", ".zip")):
        try:
            name, version = parse_sdist_filename(filename)
        except (InvalidSdistFilename, InvalidVersion):
            return None
        return "sdist", name, version
    return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


# --------------------------------------------------------------------------------------------
# Results


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
    """A plain-text result table plus a summary line (what was kept, what was deleted)."""
    header = ("FILE", "KIND", "SHA256", "SIGNATURE", "RESULT", "DETAIL")
    rows: list[tuple[str, ...]] = []
    for f in report.files:
        hash_text = "-" if f.sha256 is None else ("ok" if f.hash_ok else "MISMATCH")
        detail = (f.identity or "") if f.ok else (f.reason or "")
        rows.append(
            (
                f.filename,
                f.kind,
                hash_text,
                f.sidecar or "-",
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
    lines.append(f"policy: {report.policy}")
    lines.append(f"trust:  {report.trust}")
    if kept:
        lines.append(f"kept {len(kept)} verified file(s) in {report.directory}")
    for note in report.notes:
        lines.append(note)
    if failed:
        lines.append(
            f"{len(failed)} file(s) did not verify and were deleted (with their signature "
            f"files); {report.directory} holds none of them: "
            + ", ".join(f.filename for f in failed)
        )
    for path in report.removed:
        lines.append(f"deleted {path}")
    lines.append(
        f"OK: every file of {report.requirement} verified"
        if report.ok
        else f"FAILED: {report.requirement} did not fully verify"
    )
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------
# The download


class _Deadline:
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


def _index_within(client: RegistryClient, name: str, budget: _Deadline) -> list[IndexFile]:
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
class _Work:
    selected: SelectedFile
    staged: Path | None = None
    sha256: str | None = None
    hash_ok: bool = False
    sidecar_paths: list[Path] = field(default_factory=list)
    reason: str | None = None


def download(
    requirement: str,
    *,
    api_url: str,
    project: str,
    credentials: Credentials,
    directory: str | os.PathLike[str],
    policy: Policy,
    trust: TrustChoice,
    only: Kind | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline: float = DEFAULT_DEADLINE,
    workers: int = DEFAULT_WORKERS,
    offline: bool | None = None,
    client_options: dict[str, Any] | None = None,
    generic_package: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> DownloadReport:
    """Download, check, verify ``requirement`` (``NAME==VERSION``) into ``directory``.

    Returns a report; per-file problems (hash mismatch, missing or bad signature, a file the
    server refused) are in it, not raised. Raises :class:`HatchSigstoreError` subclasses when
    nothing can be done at all: bad arguments, the index refused or hostile, nothing to download.
    ``offline``: ``None`` verifies offline unless a file only has ``.sig``+``.crt`` (which need
    the transparency log). ``generic_package`` overrides the generic package name, for a
    publisher configured with its ``generic-package`` option.
    """
    from hatch_sigstore.gitlab import RegistryClient

    name, version = parse_requirement(requirement)
    # The sidecars sit at the coordinates of each dist's own version (the file name's, which is
    # the metadata's), not of the request's spelling: ``==1.0`` finds 1.0.0 files under 1.0.0.
    package = generic_package_coordinates(name, version)[0]
    if generic_package is not None:
        if not re.fullmatch(r"[A-Za-z0-9._+-]{1,255}", generic_package):
            raise ConfigError(
                f"--generic-package {generic_package!r} is not a GitLab generic package name.",
                remediation="Use letters, digits, '.', '_', '+' and '-' only: the value of the "
                "publisher's generic-package option.",
            )
        package = generic_package
    target = Path(directory).expanduser()
    budget = _Deadline(deadline)
    say = progress or (lambda _message: None)
    options: dict[str, Any] = {
        "timeout": min(60.0, deadline),
        "download_deadline": deadline,
        **(client_options or {}),
    }
    try:  # the client validates the URL and project; nothing is created before that
        client = RegistryClient(api_url, project, credentials, **options)
    except ConfigError as exc:
        raise ConfigError(
            exc.message,
            remediation=f"{exc.remediation or ''} Check --url (default: $CI_API_V4_URL) and "
            "--project (default: $CI_PROJECT_ID).".strip(),
        ) from None
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        client.close()
        raise ConfigError(
            f"Cannot use {str(target)!r} as the download folder: "
            f"{exc.strerror or exc.__class__.__name__}.",
            remediation="Pass -d a folder you can write to (it is created if missing).",
        ) from None
    with client:
        index = _index_within(client, name, budget)
        selected = select_files(index, name, version, api_url=api_url, only=only)
        if not selected:
            raise RegistryError(_nothing_found(name, version, only, index, project))
        say(f"found {len(selected)} file(s) of {name}=={version} in project {project}")

        staging = Path(tempfile.mkdtemp(prefix=".hatch-sigstore-", dir=target))
        try:
            fetch = _Fetcher(
                client,
                staging=staging,
                package=package,
                package_override=generic_package is not None,
                max_bytes=max_bytes,
                budget=budget,
            )
            work = _fetch_all(fetch, selected, workers=workers, budget=budget, say=say)
            results = _verify(work, policy, trust, offline)
            outcomes, removed = _place(work, results, target, _secrets(credentials))
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return DownloadReport(
        requirement=f"{name}=={version}",
        name=name,
        version=str(version),
        project=project,
        registry=api_url,
        directory=str(target),
        policy=policy.describe(),
        trust=trust.describe(),
        generic_package=package,
        generic_version=", ".join(
            sorted({generic_package_coordinates(name, f.version)[1] for f in selected})
        ),
        files=tuple(outcomes),
        removed=tuple(removed),
    )


def _nothing_found(
    name: str, version: Version, only: str | None, index: Sequence[IndexFile], project: str
) -> str:
    versions = sorted(
        {
            str(parsed[2])
            for entry in index
            if (parsed := _parse_dist_filename(entry.filename)) and parsed[1] == name
        }
    )
    what = f"{only} of " if only else "wheel or sdist of "
    listed = (
        f" It lists: {', '.join(versions[-10:])}." if versions else " It lists no files for it."
    )
    return (
        f"Project {project}'s PyPI index has no {what}{name}=={version}.{listed} "
        "Check the name, the version (GitLab stores versions verbatim) and --project."
    )


def _fetch_all(
    fetch: _Fetcher,
    selected: Sequence[SelectedFile],
    *,
    workers: int,
    budget: _Deadline,
    say: Callable[[str], None],
) -> list[_Work]:
    """Run ``fetch`` over the files in daemon threads, giving up on any still running at the
    deadline (a server can keep a response alive forever; a daemon thread left behind cannot
    keep the process from exiting). Abandoned files fail with the deadline as the reason."""
    todo: queue.SimpleQueue[SelectedFile] = queue.SimpleQueue()
    for item in selected:
        todo.put(item)
    finished: dict[str, _Work] = {}
    lock = threading.Lock()
    over = threading.Event()

    def worker() -> None:
        while not over.is_set():
            try:
                item = todo.get_nowait()
            except queue.Empty:
                return
            result = fetch(_Work(item))
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
            _Work(
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


class _Fetcher:
    """Downloads one file and its sidecars into the staging directory; never raises."""

    def __init__(
        self,
        client: RegistryClient,
        *,
        staging: Path,
        package: str,
        package_override: bool,
        max_bytes: int,
        budget: _Deadline,
    ) -> None:
        self.client = client
        self.staging = staging
        self.package = package
        self.package_override = package_override
        self.max_bytes = max_bytes
        self.budget = budget

    def __call__(self, item: _Work) -> _Work:
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
            package, version = generic_package_coordinates(self.package, selected.version)
            if self.package_override:
                package = self.package
            item.sidecar_paths = self._sidecars(package, version, selected.filename)
            if not item.sidecar_paths:
                item.reason = (
                    "no signature files in the generic registry at "
                    f"{package}/{version}/{selected.filename}"
                    "{.sigstore.json,.publish.attestation,.sig+.crt}"
                )
        except HatchSigstoreError as exc:
            item.reason = str(exc)
        except OSError as exc:
            item.reason = f"could not write the download: {exc.strerror or exc}"
        return item

    def _sidecars(self, package: str, version: str, filename: str) -> list[Path]:
        for group in _SIDECAR_GROUPS:
            got: list[Path] = []
            for suffix in group:
                name = filename + suffix
                try:
                    got.append(
                        self.client.download(
                            self.client.generic_url(package, version, name),
                            self.staging / name,
                            max_bytes=SIDECAR_MAX_BYTES,
                            route="generic",
                            deadline=self.budget.remaining(),
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


def _verify(
    work: Sequence[_Work], policy: Policy, trust: TrustChoice, offline: bool | None
) -> dict[str, FileResult]:
    from hatch_sigstore.verify import verify_files

    ready = [item for item in work if item.reason is None and item.staged is not None]
    if not ready:
        return {}
    if offline is None:
        cosign_only = any(
            not any(
                p.name.endswith((BUNDLE_SUFFIX, ATTESTATION_SUFFIX)) for p in item.sidecar_paths
            )
            for item in ready
        )
        offline = not cosign_only
    paths = [item.staged for item in ready if item.staged is not None]
    results = verify_files(paths, policy, trust, offline=offline)
    return {Path(result.artifact).name: result for result in results}


def _secrets(credentials: Credentials) -> tuple[str, ...]:
    secrets = getattr(credentials, "secrets", None)
    if isinstance(secrets, tuple):
        return secrets
    token = getattr(credentials, "token", None)
    return (token,) if isinstance(token, str) else ()


def _place(
    work: Sequence[_Work],
    results: dict[str, FileResult],
    target: Path,
    secrets: Sequence[str] = (),
) -> tuple[list[FileOutcome], list[str]]:
    """Move verified files (and their sidecars) into ``target``; delete everything else.

    A file of this release already in ``target`` from an earlier run is replaced when the new
    one verified and deleted when it did not: afterwards the directory holds only verified
    files of the release.
    """
    outcomes: list[FileOutcome] = []
    removed: list[str] = []
    for item in work:
        selected = item.selected
        result = results.get(selected.filename)
        reason = item.reason
        if reason is None and result is None:
            reason = "the verifier returned no result for this file"
        elif reason is None and result is not None and not result.ok:
            reason = result.reason or "did not verify"
        verified = reason is None and result is not None and result.ok
        final = target / selected.filename
        stale = (
            [final, *sidecars_of(final).values()]
            if final.exists()
            else list(sidecars_of(final).values())
        )
        for old in stale:
            old.unlink(missing_ok=True)
            if not verified:
                removed.append(str(old))
        kept_path: str | None = None
        if verified and item.staged is not None:
            for sidecar in item.sidecar_paths:
                os.replace(sidecar, target / sidecar.name)
            os.replace(item.staged, final)
            kept_path = str(final)
        else:
            for path in [item.staged, *item.sidecar_paths]:
                if path is not None:
                    path.unlink(missing_ok=True)
        outcomes.append(
            FileOutcome(
                filename=selected.filename,
                kind=selected.kind,
                index_sha256=selected.index_sha256,
                sha256=item.sha256,
                hash_ok=item.hash_ok,
                sidecar=result.sidecar if result is not None else None,
                sidecar_files=tuple(p.name for p in item.sidecar_paths),
                verified=verified,
                identity=result.identity if result is not None else None,
                issuer=result.issuer if result is not None else None,
                reason=None if verified else redact(reason or "did not verify", secrets),
                path=kept_path,
            )
        )
    return outcomes, removed
