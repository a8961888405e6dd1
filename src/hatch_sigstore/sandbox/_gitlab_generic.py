"""Generic-package routes of the GitLab stand-in (lib/api/generic_packages.rb): raw-body PUT
and GET."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from urllib.parse import quote, unquote

from hatch_sigstore.sandbox._body import CHUNK
from hatch_sigstore.sandbox._gitlab_auth import (
    Principal,
    RouteAuth,
    authenticate,
    authorize,
    principal_kind,
    unauthorized,
)
from hatch_sigstore.sandbox._gitlab_files import (
    FILE_STORE_LOCAL,
    FILE_STORE_REMOTE,
    StoredFile,
    object_key,
    present_file,
)
from hatch_sigstore.sandbox._gitlab_packages_api import touch_downloaded
from hatch_sigstore.sandbox._gitlab_protection import PROTECTED, is_protected
from hatch_sigstore.sandbox._gitlab_regex import (
    GENERIC_FILE_NAME_V17,
    GENERIC_FILE_NAME_V18,
    GENERIC_FILE_NAME_V18_AT,
    GENERIC_PACKAGE_NAME,
    GENERIC_VERSION,
)
from hatch_sigstore.sandbox._gitlab_store import GenericFile, GenericPackage, Project, now
from hatch_sigstore.sandbox._gitlab_wire import (
    Request,
    Response,
    bad_request,
    json_response,
    message,
    param_errors,
)

__all__ = ["handle_generic", "package_file_json"]

ALLOWED_STATUSES = ("default", "hidden")
INSTALLABLE = ("default", "hidden", "deprecated")
FILE_NAME_REGEXES = {
    "17": GENERIC_FILE_NAME_V17,
    "18": GENERIC_FILE_NAME_V18,
    "newest": GENERIC_FILE_NAME_V18,
    "18-at": GENERIC_FILE_NAME_V18_AT,
}


def _route_auth(req: Request) -> RouteAuth:
    if req.method == "PUT":
        basic = req.ctx.settings.generic_job_token_basic_auth
        return RouteAuth(job_token_request=True, job_token_basic=basic)
    return RouteAuth(job_token_request=True, job_token_basic=True)


def _principal(req: Request) -> Principal:
    principal = authenticate(req.ctx.store, req.headers, req.query, _route_auth(req), req.method)
    req.auth = principal_kind(principal)
    return principal


def _traversal(value: str) -> bool:
    return value in (".", "..") or "\n" in value


def _validate(req: Request, name: str, version: str, path: list[str], file_name: str) -> None:
    errors: list[str] = []
    if not GENERIC_PACKAGE_NAME.match(name):
        errors.append("package_name is invalid")
    if not GENERIC_VERSION.match(version):
        errors.append("package_version is invalid")
    setting = req.ctx.settings.generic_file_name_regex
    if setting not in FILE_NAME_REGEXES:
        expected = sorted(FILE_NAME_REGEXES)
        raise ValueError(f"generic_file_name_regex {setting!r}: expected one of {expected}")
    file_re = FILE_NAME_REGEXES[setting]
    if path:
        if any(_traversal(seg) for seg in path):
            errors.append("path should be a valid file path")
        elif not all(file_re.match(seg) for seg in path):
            errors.append("path is invalid")
    if not file_re.match(file_name):
        errors.append("file_name is invalid")
    elif _traversal(file_name):
        errors.append("file_name should be a valid file path")
    status = req.query.get("status")
    if status is not None and status not in ALLOWED_STATUSES:
        errors.append("status does not have a valid value")
    select = req.query.get("select")
    if select is not None and select != "package_file":
        errors.append("select does not have a valid value")
    if errors:
        raise param_errors(errors)


def handle_generic(req: Request, raw_id: str, rest: list[str]) -> Response | None:
    """Dispatch ``/projects/:id/packages/generic/<rest>``; None when no route matches."""
    if req.method not in ("PUT", "GET", "HEAD") or len(rest) < 3 or not all(rest):
        return None
    segs = [unquote(s) for s in rest]
    name, version, *path, file_name = segs
    if not path and req.query.get("path"):
        path = [p for p in req.query["path"].split("/") if p]
    principal = _principal(req) if req.method == "PUT" else None  # authenticate_non_get!
    if principal is not None and principal.anonymous:
        raise unauthorized()
    _validate(req, name, version, path, file_name)
    if principal is None:
        principal = _principal(req)
    project = req.ctx.store.find_project(unquote(raw_id))
    if project is None:
        if principal.anonymous:
            raise unauthorized()
        raise message(404, "404 Not Found")
    authorize(principal, project, "write" if req.method == "PUT" else "read")
    if (
        req.method == "PUT"
        and req.ctx.settings.protect_generic_packages
        and is_protected(req.ctx.store, principal, project, name, "generic")
    ):
        # protect_package! in the Workhorse authorize step: before the body is sent
        raise message(403, PROTECTED)
    stored_name = quote("/".join([*path, file_name]), safe="*-._") if path else file_name
    if req.method == "PUT":
        return _upload(req, project, name, version, stored_name)
    return _download(req, project, name, version, stored_name)


def _duplicates_allowed(req: Request, name: str, version: str) -> bool:
    settings = req.ctx.settings
    pattern = settings.generic_duplicate_exception_regex
    if not pattern:
        return settings.allow_generic_duplicates
    regex = re.compile(rf"\A(?:{pattern})\Z")
    matched = bool(regex.match(name) or regex.match(version))
    return not matched if settings.allow_generic_duplicates else matched


def _upload(req: Request, project: Project, name: str, version: str, file_name: str) -> Response:
    store, settings = req.ctx.store, req.ctx.settings
    limit = settings.max_generic_file_size
    declared = req.body.length
    if declared is not None and declared > limit:
        raise bad_request("File is too large")
    remote = settings.object_storage
    tmp = store.tmp_path()
    sha256 = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as fh:
            while True:
                data = req.body.read(CHUNK)
                if not data:
                    break
                size += len(data)
                if size > limit:
                    raise bad_request("File is too large")
                sha256.update(data)
                fh.write(data)
        with store.lock:
            packages = store.generic[project.id]
            package = next((p for p in packages if p.name == name and p.version == version), None)
            if (
                package is not None
                and any(f.file_name == file_name for f in package.files)
                and not _duplicates_allowed(req, name, version)
            ):
                raise bad_request("Duplicate package is not allowed")
            if package is None:
                package = GenericPackage(store.next_id(), project.id, name, version)
                packages.append(package)
            status = req.query.get("status")
            if status is not None:
                package.status = status  # applies to the whole package
            file_id = store.next_id()
            key = object_key(project.id, package.id, file_id, file_name)
            if remote:
                blob = req.ctx.objects.put_file(key, tmp)
            else:
                blob = store.blob_path("generic", file_id)
                os.replace(tmp, blob)
            record = GenericFile(
                id=file_id,
                package_id=package.id,
                file_name=file_name,
                sha256=sha256.hexdigest(),
                size=size,
                blob=blob,
                seq=store.next_seq(),
                created_at=now(),
                file_store=FILE_STORE_REMOTE if remote else FILE_STORE_LOCAL,
                object_key=key,
            )
            package.files.append(record)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    if req.query.get("select") == "package_file":
        return json_response(200, package_file_json(req, project, package, record))
    return json_response(201, {"message": "201 Created"})


def package_file_json(
    req: Request, project: Project, package: GenericPackage, f: GenericFile
) -> dict[str, object]:
    """The raw PackageFile record (``to_json``) that ``?select=package_file`` returns. Its
    ``file`` is CarrierWave's ``{url: file.url}``: the store path for local storage, a
    pre-signed URL of the object under object storage (``file_store`` 2)."""
    if f.file_store == FILE_STORE_REMOTE:
        url = req.ctx.objects.presign(
            "GET", f.object_key, expires=req.ctx.settings.object_store_url_expiry
        )
    else:
        url = f"/{f.object_key}"
    return {
        "id": f.id,
        "package_id": package.id,
        "created_at": f.created_at,
        "updated_at": f.created_at,
        "size": f.size,
        "file_store": f.file_store,
        "file_md5": None,
        "file_sha1": None,
        "file_name": f.file_name,
        "file": {"url": url},
        "file_sha256": f.sha256,
        "verification_retry_at": None,
        "verified_at": None,
        "verification_failure": None,
        "verification_retry_count": None,
        "verification_checksum": None,
        "verification_state": 0,
        "verification_started_at": None,
        "new_file_path": None,
        "status": "default",
        "file_final_path": None,
        "project_id": project.id,
    }


def _download(req: Request, project: Project, name: str, version: str, file_name: str) -> Response:
    with req.ctx.store.lock:
        package = next(
            (
                p
                for p in req.ctx.store.generic[project.id]
                if p.name == name and p.version == version and p.status in INSTALLABLE
            ),
            None,
        )
        files = [f for f in package.files if f.file_name == file_name] if package else []
    if not files:
        raise message(404, "404 Not found")
    newest = max(files, key=lambda f: f.id)
    assert package is not None
    with req.ctx.store.lock:
        touch_downloaded(package)
    stored = StoredFile(newest.blob, newest.size, newest.file_name, newest.file_store,
                        newest.object_key)  # fmt: skip
    # present_package_file!(package_file, content_disposition: :attachment,
    #                       extra_response_headers: { 'X-Checksum-SHA256' => file_sha256 })
    return present_file(req, stored, attachment=True, extra={"X-Checksum-SHA256": newest.sha256})
