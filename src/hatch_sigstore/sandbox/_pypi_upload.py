"""The legacy upload API of the PyPI stand-in (``POST /legacy/``, ``:action=file_upload``).

``warehouse/forklift/legacy.py`` ``file_upload``, its decorators (``sanitize``,
``ensure_uploads_allowed``) and the other legacy actions, check for check in warehouse's order.
Every refusal is a Pyramid error page whose reason phrase is the message (what twine prints).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

from hatch_sigstore.sandbox import _pypi_dist as dist
from hatch_sigstore.sandbox._body import boundary_of, parse_multipart
from hatch_sigstore.sandbox._pypi_attest import (
    AttestationUploadError,
    build_provenance,
    parse_attestations,
)
from hatch_sigstore.sandbox._pypi_form import parse_metadata, sanitize, validate_form
from hatch_sigstore.sandbox._pypi_http import HTTPError, PyPIRequest, pyramid_response
from hatch_sigstore.sandbox._pypi_store import File, Project, Release, Store, now
from hatch_sigstore.sandbox._pypi_tokens import Identity, authenticate, permits
from hatch_sigstore.sandbox._wire import Response

if TYPE_CHECKING:
    from packaging.metadata import Metadata
    from sigstore.verify import Verifier

__all__ = ["UploadSettings", "handle_legacy"]

MAX_AGE_FOR_NEW_UPLOADS_DAYS = 14  # MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS
_MAX_FIELD = 16 << 20


@dataclass
class UploadSettings:
    """Admin flags (``warehouse/admin/flags.py``) that change the upload."""

    read_only: bool = False  # READ_ONLY
    uploads_enabled: bool = True  # not DISALLOW_NEW_UPLOAD
    pep740_enabled: bool = True  # not DISABLE_PEP740


@dataclass
class _Context:
    store: Store
    settings: UploadSettings
    verifier: Any  # () -> sigstore Verifier, made on first use
    help_url: str  # "https://pypi.org/help/" of this index
    clock: Any


@dataclass
class _Body:
    values: dict[str, list[str]]
    file_fields: list[str]
    content: Path | None
    content_filename: str | None
    content_type: str | None


def _read_body(req: PyPIRequest, spool_dir: Path) -> _Body:
    ctype = req.headers.get("content-type", "")
    boundary = boundary_of(ctype)
    if boundary is None:
        text = req.body.read(_MAX_FIELD).decode("utf-8", "replace")
        values: dict[str, list[str]] = {}
        for key, value in parse_qsl(text, keep_blank_values=True):
            values.setdefault(key, []).append(value)
        return _Body(values, [], None, None, None)
    sinks: dict[str, IO[bytes]] = {}

    def open_sink(name: str, _filename: str) -> IO[bytes]:
        sink = tempfile.NamedTemporaryFile(dir=spool_dir, delete=False)  # noqa: SIM115
        old = sinks.pop(name, None)
        if old is not None:
            old.close()
            os.unlink(old.name)
        sinks[name] = sink
        return sink

    try:
        parsed = parse_multipart(req.body, boundary, open_sink=open_sink, max_field=_MAX_FIELD)
    except BaseException:
        for sink in sinks.values():
            sink.close()
            os.unlink(sink.name)
        raise
    content = parsed.files.get("content")
    for name, sink in sinks.items():
        sink.close()
        if name != "content":
            os.unlink(sink.name)
    return _Body(
        parsed.values,
        parsed.file_names,
        Path(sinks["content"].name) if content is not None else None,
        content.filename if content is not None else None,
        content.content_type if content is not None else None,
    )


def handle_legacy(
    req: PyPIRequest,
    *,
    store: Store,
    settings: UploadSettings,
    verifier: Any,
    help_url: str,
    clock: Any,
) -> Response:
    """``POST /legacy/``: dispatch on ``:action`` (``warehouse/forklift/__init__.py``)."""
    accept = req.headers.get("accept")
    body = _read_body(req, store.spool_dir)  # BodyError: the client went away
    try:
        action = (body.values.get(":action") or [req.query.get(":action", "")])[0]
        if action == "file_upload":
            ctx = _Context(store, settings, verifier, help_url, clock)
            return _file_upload(ctx, req, body)
        if action in ("submit", "submit_pkg_info"):
            raise HTTPError(
                410,
                "Project pre-registration is no longer required or supported, upload your "
                "files instead.",
            )
        if action == "doc_upload":
            raise HTTPError(
                410,
                "Uploading documentation is no longer supported, we recommend using "
                "https://readthedocs.org/.",
            )
        # forklift.legacy.invalid_request: the upload.html page, 200
        page = b"<!DOCTYPE html><html><body><h1>Upload API</h1></body></html>"
        return Response(200, {"Content-Type": "text/html; charset=UTF-8"}, page)
    except HTTPError as exc:
        return pyramid_response(
            exc.status,
            exc.detail,
            accept=accept,
            reason=exc.detail if exc.with_reason else None,
        )
    finally:
        if body.content is not None:
            with contextlib.suppress(OSError):
                body.content.unlink()


def _ensure_uploads_allowed(ctx: _Context, req: PyPIRequest) -> Identity:
    if ctx.settings.read_only:
        raise HTTPError(403, "Read-only mode: Uploads are temporarily disabled.")
    if not ctx.settings.uploads_enabled:
        raise HTTPError(
            403,
            "New uploads are temporarily disabled. "
            f"See {ctx.help_url}#admin-intervention for more information.",
        )
    identity = authenticate(ctx.store, req.headers.get("authorization"), ctx.help_url)
    if identity is None:
        req.auth = "invalid" if req.headers.get("authorization") else "anonymous"
        raise HTTPError(
            403,
            "Invalid or non-existent authentication information. "
            f"See {ctx.help_url}#invalid-auth for more information.",
        )
    req.auth = "oidc" if identity.publisher is not None else "user"
    return identity


def _project_for_upload(ctx: _Context, identity: Identity, name: str) -> Project:
    project = ctx.store.project(name)
    if project is None:
        if identity.user is None:
            raise HTTPError(
                400,
                "Non-user identities cannot create new projects. This was probably caused by "
                "successfully using a pending publisher but specifying the project name "
                "incorrectly (either in the publisher or in your project's metadata). Please "
                "ensure that both match. See: "
                "https://docs.pypi.org/trusted-publishers/troubleshooting/",
            )
        project = ctx.store.add_project(name, identity.user)
    denied = permits(identity, project, ctx.help_url, now=ctx.clock())
    if denied is not None:
        raise HTTPError(403, denied)
    return project


def _release(ctx: _Context, project: Project, metadata: Metadata, user_agent: str) -> Release:
    from packaging.utils import canonicalize_version

    release = project.release(str(metadata.version))
    if release is not None:
        return release
    info = {
        "summary": metadata.summary,
        "description": metadata.description or "",
        "description_content_type": metadata.description_content_type,
        "keywords": ", ".join(metadata.keywords) if metadata.keywords else None,
        "license": metadata.license,
        "license_expression": metadata.license_expression,
        "license_files": metadata.license_files,
        "classifiers": list(metadata.classifiers or []),
        "author": metadata.author,
        "author_email": metadata.author_email,
        "maintainer": metadata.maintainer,
        "maintainer_email": metadata.maintainer_email,
        "platform": metadata.platforms[0] if metadata.platforms else None,
        "home_page": metadata.home_page,
        "download_url": metadata.download_url,
        "project_urls": dict(metadata.project_urls or {}),
        "requires_dist": [str(r) for r in metadata.requires_dist or []] or None,
        "provides_extra": [str(e) for e in metadata.provides_extra or []] or None,
        "dynamic": [d.title() for d in metadata.dynamic or []] or None,
        "uploaded_via": user_agent,
    }
    release = Release(
        version=str(metadata.version),
        canonical_version=canonicalize_version(str(metadata.version)),
        created=now(),
        requires_python=str(metadata.requires_python) if metadata.requires_python else None,
        info=info,
        is_prerelease=metadata.version.is_prerelease,
        project=project,
    )
    project.releases.append(release)
    ctx.store.journal(project)  # "new release"
    return release


def _hash(path: Path, limit: int, project: Project) -> tuple[int, dict[str, str]]:
    hashers: dict[str, Any] = {
        "md5": hashlib.md5(usedforsecurity=False),
        "sha256": hashlib.sha256(),
        "blake2_256": hashlib.blake2b(digest_size=32),
    }
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise HTTPError(
                    400,
                    f"File too large. Limit for project {project.name!r} is "
                    f"{limit // (1024 * 1024)} MB. See https://docs.pypi.org/project-management/"
                    "storage-limits#requesting-a-file-size-limit-increase for more information.",
                )
            if size + project.total_size > project.total_size_limit_value:
                raise HTTPError(
                    400,
                    f"Project size too large. Limit for project {project.name!r} total size is "
                    f"{project.total_size_limit_value // (1024**3)} GB. See https://docs.pypi.org/"
                    "project-management/storage-limits#requesting-a-project-size-limit-increase",
                )
            for hasher in hashers.values():
                hasher.update(chunk)
    return size, {k: h.hexdigest().lower() for k, h in hashers.items()}


def _file_upload(ctx: _Context, req: PyPIRequest, body: _Body) -> Response:
    values = sanitize(body.values, body.file_fields)
    identity = _ensure_uploads_allowed(ctx, req)
    if (values.get("protocol_version") or ["1"])[0] != "1":
        raise HTTPError(400, "Unknown protocol version.")
    form = validate_form(values)
    metadata = parse_metadata(values)
    if body.content is None or body.content_filename is None:
        raise HTTPError(400, "Upload payload does not have a file.")
    store = ctx.store
    with store.lock:
        project = _project_for_upload(ctx, identity, form.name)
        if project.name != metadata.name:
            project.name = metadata.name
        release = _release(ctx, project, metadata, req.headers.get("user-agent", ""))
        filename = body.content_filename
        dist.validate_filename(filename, form.filetype)
        if not body.content_type or body.content_type.startswith("image/"):
            raise HTTPError(400, "Invalid distribution file.")
        size, hashes = _hash(body.content, project.upload_limit_size, project)
        given = {
            "md5": form.md5_digest,
            "sha256": form.sha256_digest,
            "blake2_256": form.blake2_256_digest,
        }
        if not all(hmac.compare_digest(given[k].lower(), v) for k, v in hashes.items() if given[k]):
            raise HTTPError(
                400,
                "The digest supplied does not match a digest calculated from the uploaded file.",
            )
        existing = store.file_by_name_or_blake2(filename, hashes["blake2_256"])
        if existing is not None:
            if (
                existing.filename == filename
                and existing.sha256 == hashes["sha256"]
                and existing.blake2_256 == hashes["blake2_256"]
            ):
                return pyramid_response(200, accept=req.headers.get("accept"))  # a no-op
            raise HTTPError(
                400,
                f"File already exists ({filename!r}, with blake2_256 hash "
                f"{hashes['blake2_256']!r}). See {ctx.help_url}#file-name-reuse for more "
                "information.",
            )
        if filename in store.filename_log:
            raise HTTPError(
                400,
                "This filename was previously used by a file that has since been deleted. Use "
                f"a different version. See {ctx.help_url}#file-name-reuse for more information.",
            )
        oldest = now() - datetime.timedelta(days=MAX_AGE_FOR_NEW_UPLOADS_DAYS)
        if release.created < oldest:
            raise HTTPError(
                400,
                "Uploading new files to releases older than "
                f"{MAX_AGE_FOR_NEW_UPLOADS_DAYS} days is not allowed.",
            )
        if form.filetype == "sdist" and any(f.packagetype == "sdist" for f in release.files):
            raise HTTPError(400, "Only one sdist may be uploaded per release.")
        reason = dist.check_archive(body.content, filename)
        if reason is not None:
            raise HTTPError(400, f"Invalid distribution file. {reason}")
        core_metadata = None
        if form.filetype == "sdist":
            dist.check_sdist_name(filename, metadata, project)
            dist.check_license_files(body.content, filename, metadata)
        if filename.endswith(".whl"):
            core_metadata = dist.check_wheel(body.content, filename, metadata, project)
        attestations: list[Any] = []
        if "attestations" in values and ctx.settings.pep740_enabled:
            try:
                attestations = parse_attestations(
                    values["attestations"][-1],
                    identity.publisher,
                    filename=filename,
                    sha256=hashes["sha256"],
                    verifier=cast("Verifier", ctx.verifier()),
                )
            except AttestationUploadError as exc:
                raise HTTPError(
                    400, f"Invalid attestations supplied during upload: {exc}"
                ) from None
        _store_file(
            ctx,
            content=body.content,
            release=release,
            form=form,
            filename=filename,
            size=size,
            hashes=hashes,
            core_metadata=core_metadata,
            req=req,
        )
        new_file = release.files[-1]
        if attestations and identity.publisher is not None:
            new_file.provenance = build_provenance(identity.publisher, attestations)
        store.journal(project)  # "add {python_version} file {filename}"
    return Response(200, {"Content-Type": "text/html; charset=UTF-8"}, b"")


def _store_file(
    ctx: _Context,
    *,
    content: Path,
    release: Release,
    form: Any,
    filename: str,
    size: int,
    hashes: dict[str, str],
    core_metadata: bytes | None,
    req: PyPIRequest,
) -> None:
    b2 = hashes["blake2_256"]
    file = File(
        filename=filename,
        packagetype=form.filetype,
        python_version=form.pyversion,
        comment_text=form.comment,
        size=size,
        md5=hashes["md5"],
        sha256=hashes["sha256"],
        blake2_256=b2,
        path=f"{b2[:2]}/{b2[2:4]}/{b2[4:]}/{filename}",
        upload_time=now(),
        uploaded_via=req.headers.get("user-agent"),
        release=release,
    )
    blob = ctx.store.blob(file)
    blob.parent.mkdir(parents=True, exist_ok=True)
    os.replace(content, blob)
    if core_metadata is not None:
        file.metadata_sha256 = hashlib.sha256(core_metadata).hexdigest()
        file.metadata_blake2_256 = hashlib.blake2b(core_metadata, digest_size=32).hexdigest()
        Path(f"{blob}.metadata").write_bytes(core_metadata)
    release.files.append(file)
    ctx.store.filename_log.add(filename)
