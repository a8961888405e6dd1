"""PyPI routes of the GitLab stand-in (lib/api/pypi_packages.rb): upload, simple index and
downloads."""

from __future__ import annotations

import contextlib
import html
import json
import os
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl, quote, unquote

from hatch_sigstore.sandbox._gitlab_auth import (
    ANONYMOUS,
    AuthFailure,
    Principal,
    RouteAuth,
    authenticate,
    authorize,
    principal_kind,
)
from hatch_sigstore.sandbox._gitlab_body import FilePart, boundary_of, parse_multipart
from hatch_sigstore.sandbox._gitlab_files import (
    FILE_STORE_LOCAL,
    FILE_STORE_REMOTE,
    StoredFile,
    file_response,
    object_key,
    present_file,
    redirect,
)
from hatch_sigstore.sandbox._gitlab_packages_api import touch_downloaded
from hatch_sigstore.sandbox._gitlab_protection import PROTECTED, is_protected
from hatch_sigstore.sandbox._gitlab_regex import (
    PYPI_NAME,
    PYPI_VERSION,
    SHA256,
    normalize_pypi_name,
)
from hatch_sigstore.sandbox._gitlab_store import Project, PypiFile, PypiPackage, now
from hatch_sigstore.sandbox._gitlab_wire import (
    ApiError,
    Request,
    Response,
    bad_request,
    json_response,
    message,
    param_errors,
)

__all__ = [
    "PYPI_AUTH",
    "file_response",
    "find_file",
    "handle_pypi",
    "principal_kind",
    "render_simple_index",
    "render_simple_package",
]

PYPI_AUTH = RouteAuth(deploy_token=True, basic_pat=True, job_token_basic=True)

# Packages::Pypi::Metadatum limits (the current service truncates instead of failing).
METADATA_LIMITS = {
    "requires_python": 255,
    "metadata_version": 16,
    "author_email": 2048,
    "description": 4000,
    "description_content_type": 128,
    "summary": 255,
    "keywords": 1024,
}
JSON_TYPES = ("application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.latest+json")
PAGE = """<!DOCTYPE html>
<html>
  <head>
    <title>Links for {name}</title>
  </head>
  <body>
    <h1>Links for {name}</h1>
    {links}
  </body>
</html>
"""


def _esc(value: str) -> str:
    """``ERB::Util.html_escape``."""
    return html.escape(value, quote=True).replace("&#x27;", "&#39;")


def _project(req: Request, raw_id: str) -> Project:
    project = req.ctx.store.find_project(unquote(raw_id))
    if project is None:
        raise message(404, "404 Not Found")
    return project


def _auth(req: Request, project: Project, action: str) -> Principal:
    try:
        principal = authenticate(req.ctx.store, req.headers, req.query, PYPI_AUTH, req.method)
    except AuthFailure as failure:
        # a wrong Basic token on a public project falls back to anonymous for reads
        if not (failure.bad_credentials and action == "read" and project.visibility == "public"):
            raise ApiError(failure.status, failure.body, failure.headers) from None
        principal = ANONYMOUS
    req.auth_kind = principal_kind(principal)
    try:
        authorize(principal, project, "read" if action == "read" else "write")
    except AuthFailure as failure:
        raise ApiError(failure.status, failure.body, failure.headers) from None
    return principal


def handle_pypi(req: Request, raw_id: str, rest: list[str]) -> Response | None:
    """Dispatch ``/projects/:id/packages/pypi/<rest>``; None when no route matches."""
    method = req.method
    if method == "POST" and not rest:
        return upload(req, _project(req, raw_id))
    if method == "POST" and rest == ["authorize"]:
        project = _project(req, raw_id)
        _auth(req, project, "write")
        raise message(403, "403 Forbidden - Request should be executed via GitLab Workhorse")
    if method not in ("GET", "HEAD") or not rest:
        return None
    if rest == ["simple"]:
        project = _project(req, raw_id)
        _auth(req, project, "read")
        return simple_index(req, project)
    if rest[0] == "simple":
        project = _project(req, raw_id)
        _auth(req, project, "read")
        return simple_package(req, project, "/".join(unquote(s) for s in rest[1:]))
    if rest[0] == "files" and len(rest) >= 3:
        project = _project(req, raw_id)
        _auth(req, project, "read")
        return download(req, project, unquote(rest[1]), "/".join(unquote(s) for s in rest[2:]))
    return None


# upload ---------------------------------------------------------------------------------------


class _EntityTooLarge(Exception):  # noqa: N818 - Workhorse's destination.ErrEntityTooLarge
    """A file part grew past the authorize step's MaximumSize."""


class _LimitedSink:
    """Workhorse's ``hardLimitReader`` (workhorse/internal/upload/destination/destination.go)."""

    def __init__(self, fh: BinaryIO, limit: int | None) -> None:
        self._fh = fh
        self._limit = limit
        self._written = 0

    def write(self, data: bytes) -> int:
        self._written += len(data)
        if self._limit is not None and self._written > self._limit:
            raise _EntityTooLarge
        return self._fh.write(data)


def _entity_too_large() -> Response:
    """``fail.Request(w, r, err, fail.WithStatus(http.StatusRequestEntityTooLarge))``
    (workhorse/internal/upload/uploads.go, internal/helper/fail/fail.go): Go's ``http.Error``
    with the status text."""
    headers = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}
    return Response(413, headers, b"Request Entity Too Large\n")


def upload(req: Request, project: Project) -> Response:
    principal = _auth(req, project, "write")  # the authorize step: before the body is read
    store, settings = req.ctx.store, req.ctx.settings
    opened: list[tuple[BinaryIO, Path]] = []
    sink_of: dict[str, Path] = {}
    # POST .../authorize answers has_length: false, MaximumSize: pypi_max_file_size
    limit = settings.max_pypi_file_size if settings.workhorse_maximum_size else None

    def open_sink(name: str, _filename: str) -> _LimitedSink:
        path = store.tmp_path()
        fh = path.open("wb")
        opened.append((fh, path))
        sink_of[name] = path  # a repeated field: the last one wins
        return _LimitedSink(fh, limit)

    fields: dict[str, str] = {}
    try:
        boundary = boundary_of(req.headers.get("content-type"))
        files: dict[str, FilePart] = {}
        if boundary is not None:
            try:
                result = parse_multipart(req.body, boundary, open_sink=open_sink)
            except _EntityTooLarge:
                return _entity_too_large()
            fields, files = result.fields, result.files
        elif req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raw = req.body.read(1 << 20) if (req.body.length or 0) <= (1 << 20) else b""
            fields = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        for fh, _ in opened:
            fh.close()
        content = files.get("content")
        content_path = sink_of.get("content")
        errors: list[str] = []
        if content is None:
            errors.append("content is invalid" if "content" in fields else "content is missing")
        for key in ("name", "version"):
            if key not in fields:
                errors.append(f"{key} is missing")
        digest = fields.get("sha256_digest")
        if digest is not None and not SHA256.match(digest):
            errors.append("sha256_digest is invalid")
        if errors:
            raise param_errors(errors)
        assert content is not None
        assert content_path is not None
        if content.size > settings.max_pypi_file_size:
            raise bad_request("File is too large")
        name, version = fields["name"], fields["version"]
        # Packages::Pypi::CreatePackageService: protection before any model validation
        if is_protected(store, principal, project, name, "pypi"):
            raise message(403, PROTECTED)
        invalid = []
        if not name:
            invalid.append("Name can't be blank")
        elif not PYPI_NAME.match(name):
            invalid.append("Name is invalid")
        if not version:
            invalid.append("Version can't be blank")
        elif not PYPI_VERSION.match(version):
            invalid.append("Version is invalid")
        if not content.filename:
            invalid.append("File name can't be blank")
        if invalid:
            raise bad_request("Validation failed: " + ", ".join(invalid))
        # truncated, not refused; required_python is '' when absent
        metadata = {"requires_python": ""}
        metadata.update(
            {key: fields[key][:cut] for key, cut in METADATA_LIMITS.items() if key in fields}
        )
        remote = settings.object_storage
        with store.lock:
            packages = store.pypi[project.id]
            package = next((p for p in packages if p.name == name and p.version == version), None)
            if package is not None and any(f.file_name == content.filename for f in package.files):
                raise bad_request("Validation failed: File name has already been taken")
            if package is None:
                package = PypiPackage(store.next_id(), project.id, name, version, metadata)
                packages.append(package)
            else:
                package.metadata = metadata  # Metadatum.upsert: the last upload wins
            file_id = store.next_id()
            key = object_key(project.id, package.id, file_id, content.filename)
            if remote:
                blob = req.ctx.objects.put_file(key, content_path)
            else:
                blob = store.blob_path("pypi", file_id)
                os.replace(content_path, blob)
            package.files.append(
                PypiFile(
                    id=file_id,
                    package_id=package.id,
                    file_name=content.filename,
                    sha256_digest=digest,
                    md5_digest=fields.get("md5_digest"),
                    sha256=content.sha256,
                    size=content.size,
                    blob=blob,
                    seq=store.next_seq(),
                    created_at=now(),
                    requires_python=metadata.get("requires_python", ""),
                    file_store=FILE_STORE_REMOTE if remote else FILE_STORE_LOCAL,
                    object_key=key,
                )
            )
        return json_response(201, {"message": "201 Created"})
    finally:
        for fh, path in opened:
            fh.close()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


# simple index -----------------------------------------------------------------------------------


def _wants_json(req: Request) -> bool:
    accept = req.headers.get("accept", "")
    return req.ctx.settings.pep691_json and accept.startswith(JSON_TYPES)


def _vary(req: Request) -> dict[str, str]:
    return {"Vary": "Accept"} if req.ctx.settings.pep691_json else {}


def _html(req: Request, name: str, links: str) -> Response:
    body = PAGE.format(name=name, links=links).encode()
    return Response(200, {"Content-Type": "text/html; charset=utf-8", **_vary(req)}, body)


def _json(req: Request, payload: object) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    ctype = "application/vnd.pypi.simple.v1+json; charset=utf-8"
    return Response(200, {"Content-Type": ctype, **_vary(req)}, body)


def _base(req: Request, project: Project) -> str:
    return f"{req.ctx.base_url}/api/v4/projects/{project.id}/packages/pypi"


def simple_index(req: Request, project: Project) -> Response:
    return render_simple_index(req, [project], _base(req, project), project.name)


def simple_package(req: Request, project: Project, name: str) -> Response:
    return render_simple_package(req, [project], _base(req, project), name)


def render_simple_index(
    req: Request, projects: list[Project], base: str, display_name: str
) -> Response:
    """The index page of a project, or of a group (the packages of ``projects``)."""
    with req.ctx.store.lock:
        packages = [p for project in projects for p in req.ctx.store.pypi[project.id] if p.files]
        rows = [(p.name, p.metadata.get("requires_python", "")) for p in packages]
    if _wants_json(req):
        names = sorted({normalize_pypi_name(n) for n, _ in rows})
        listed = [{"name": n} for n in names]
        return _json(req, {"meta": {"api-version": "1.0"}, "projects": listed})
    links = "".join(
        f'<a href="{base}/simple/{normalize_pypi_name(n)}" data-requires-python="{_esc(rp)}">'
        f"{n}</a>"
        for n, rp in rows
    )
    return _html(req, display_name, links)


def render_simple_package(req: Request, projects: list[Project], base: str, name: str) -> Response:
    """A package's page in a project's or a group's index; links under ``base``."""
    wanted = name.lower()
    with req.ctx.store.lock:
        packages = [
            p
            for project in projects
            for p in req.ctx.store.pypi[project.id]
            if p.files and normalize_pypi_name(p.name) == wanted
        ]
        files = [(p, list(p.files)) for p in packages]
    if not packages:
        if req.ctx.settings.pypi_forwarding:
            forward = redirect(req, f"https://pypi.org/simple/{name}/")
            forward.headers.update(_vary(req))
            return forward
        raise ApiError(404, {"message": "404 Package Not Found"}, _vary(req))

    def url(f: PypiFile) -> str:
        sha = f.sha256_digest or ""
        return f"{base}/files/{sha}/{quote(f.file_name, safe='')}#sha256={sha}"

    if _wants_json(req):
        out = []
        for _package, pfiles in files:
            for f in pfiles:
                entry: dict[str, object] = {
                    "filename": f.file_name,
                    "url": url(f),
                    "hashes": {"sha256": f.sha256_digest or ""},
                }
                if f.requires_python:
                    entry["requires-python"] = f.requires_python
                out.append(entry)
        return _json(
            req,
            {"meta": {"api-version": "1.0"}, "name": normalize_pypi_name(name), "files": out},
        )
    links = "".join(
        f'<a href="{url(f)}" data-requires-python="'
        f'{_esc(package.metadata.get("requires_python", ""))}">{f.file_name}</a>'
        for package, pfiles in files
        for f in pfiles
    )
    return _html(req, packages[0].name, links)


def download(req: Request, project: Project, sha256: str, filename: str) -> Response:
    return serve_file(req, [project], sha256, filename, missing="404 Package Not Found")


def find_file(req: Request, projects: list[Project], sha256: str, filename: str) -> PypiFile | None:
    """The newest file of ``projects`` with this name and index sha256 (``PackageFinder``)."""
    with req.ctx.store.lock:
        matches = [
            f
            for project in projects
            for p in req.ctx.store.pypi[project.id]
            for f in p.files
            if f.file_name == filename and f.sha256_digest == sha256
        ]
    return max(matches, key=lambda f: f.id) if matches else None


def serve_file(
    req: Request, projects: list[Project], sha256: str, filename: str, *, missing: str
) -> Response:
    """The project and group file routes: ``present_package_file!(package_file,
    supports_direct_download: true)`` — a redirect under object storage, no disposition."""
    found = find_file(req, projects, sha256, filename)
    if found is None:
        raise message(404, missing)
    with req.ctx.store.lock:
        package = next(
            p for project in projects for p in req.ctx.store.pypi[project.id]
            if p.id == found.package_id
        )  # fmt: skip
        touch_downloaded(package)
    stored = StoredFile(found.blob, found.size, found.file_name, found.file_store,
                        found.object_key)  # fmt: skip
    return present_file(req, stored)
