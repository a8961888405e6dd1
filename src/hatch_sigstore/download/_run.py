"""The download: resolve ``NAME==VERSION``, fetch, check hashes, verify, keep only what verified.

Everything happens in a private staging folder inside the target, so a file that did not
verify never appears there, not even for a moment. "Verified" includes the release: each
file's own metadata must name the requested project and version (a signed 0.9.0 wheel served
as 1.0.0 is refused and deleted, with both versions in the reason).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from hatch_sigstore._files import ATTESTATION_SUFFIX, BUNDLE_SUFFIX, sidecars_of
from hatch_sigstore._names import generic_coordinates
from hatch_sigstore.download._fetch import Deadline, Fetcher, Work, fetch_all, index_within
from hatch_sigstore.download._report import DownloadReport, FileOutcome
from hatch_sigstore.download._select import (
    Kind,
    parse_dist_filename,
    parse_requirement,
    select_files,
)
from hatch_sigstore.errors import ConfigError, RegistryError, redact

if TYPE_CHECKING:
    from hatch_sigstore.gitlab import Credentials, IndexFile
    from hatch_sigstore.trust import TrustChoice
    from hatch_sigstore.verify import FileResult, Policy

__all__ = ["DEFAULT_DEADLINE", "DEFAULT_MAX_BYTES", "DEFAULT_WORKERS", "download"]

DEFAULT_MAX_BYTES = 512 * 1024 * 1024  # larger than any real wheel or sdist (PyPI's limit: 100 MB)
DEFAULT_DEADLINE = 900.0  # seconds for the whole command: a server that never ends gets cut off
DEFAULT_WORKERS = 8


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
    server_url: str | None = None,
) -> DownloadReport:
    """Download, check, verify ``requirement`` (``NAME==VERSION``) into ``directory``.

    Returns a report; per-file problems (hash mismatch, missing or bad signature, a file the
    server refused) are in it, not raised. Raises :class:`HatchSigstoreError` subclasses when
    nothing can be done at all: bad arguments, the index refused or hostile, nothing to download.
    ``offline``: ``None`` verifies offline unless a file only has ``.sig``+``.crt`` (which need
    the transparency log). ``generic_package`` overrides the generic package name, for a
    publisher configured with its ``generic-package`` option. ``server_url``: the GitLab
    instance's own URL (``CI_SERVER_URL``): index links on it are accepted too (GitLab builds
    them on its external_url, which may differ from ``api_url``).
    """
    from hatch_sigstore.gitlab import RegistryClient

    name, version = parse_requirement(requirement)
    # The sidecars sit at the coordinates of each dist's own version (the file name's, which is
    # the metadata's), not of the request's spelling: ``==1.0`` finds 1.0.0 files under 1.0.0.
    package = generic_coordinates(name, version)[0]
    if generic_package is not None:
        if not re.fullmatch(r"[A-Za-z0-9._+-]{1,255}", generic_package):
            raise ConfigError(
                f"--generic-package {generic_package!r} is not a GitLab generic package name.",
                remediation="Use letters, digits, '.', '_', '+' and '-' only: the value of the "
                "publisher's generic-package option.",
            )
        package = generic_package
    target = Path(directory).expanduser()
    budget = Deadline(deadline)
    say = progress or (lambda _message: None)
    options: dict[str, Any] = {
        "timeout": min(60.0, deadline),  # also the longest wait for the next byte
        "download_deadline": deadline,
        "server_url": server_url,
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
        index = index_within(client, name, budget)
        selected = select_files(
            index, name, version, api_url=api_url, only=only, server_url=client.server_url
        )
        if not selected:
            raise RegistryError(_nothing_found(name, version, only, index, project))
        say(f"found {len(selected)} file(s) of {name}=={version} in project {project}")

        staging = Path(tempfile.mkdtemp(prefix=".hatch-sigstore-", dir=target))
        try:
            fetch = Fetcher(
                client,
                staging=staging,
                package=package,
                package_override=generic_package is not None,
                max_bytes=max_bytes,
                budget=budget,
            )
            work = fetch_all(fetch, selected, workers=workers, budget=budget, say=say)
            results = _verify(work, policy, trust, offline, name=name, version=version)
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
            sorted({generic_coordinates(name, f.version)[1] for f in selected})
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
            if (parsed := parse_dist_filename(entry.filename)) and parsed[1] == name
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


def _verify(
    work: Sequence[Work],
    policy: Policy,
    trust: TrustChoice,
    offline: bool | None,
    *,
    name: str,
    version: Version,
) -> dict[str, FileResult]:
    """Verify the staged files, each bound to the release asked for: a file whose own metadata
    names another project or version (a rollback, a sibling package) is refused."""
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
    results = verify_files(
        paths,
        policy,
        trust,
        offline=offline,
        expected_name=name,
        expected_version=str(version),
    )
    return {Path(result.artifact).name: result for result in results}


def _secrets(credentials: Credentials) -> tuple[str, ...]:
    secrets = getattr(credentials, "secrets", None)
    if isinstance(secrets, tuple):
        return secrets
    token = getattr(credentials, "token", None)
    return (token,) if isinstance(token, str) else ()


def _place(
    work: Sequence[Work],
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
