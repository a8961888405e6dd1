"""The Packages API of the GitLab stand-in: a project's packages and their files, with the
``file_sha256`` a client can compare without downloading the file.

* ``GET /projects/:id/packages`` (lib/api/project_packages.rb, ``Packages::PackagesFinder``):
  ``package_type``, ``package_name`` (``search_by_name``: a case-insensitive substring match),
  ``package_version`` (exact), ``status``, ``include_versionless``, ``order_by``
  (created_at | name | version | type), ``sort``; only versioned, displayable (default, error)
  packages unless asked; offset pagination.
* ``GET /projects/:id/packages/:package_id``: 404 ``{"message":"Package not found"}`` unless the
  package's status is default.
* ``GET /projects/:id/packages/:package_id/package_files`` (lib/api/package_files.rb):
  ``installable_package_files`` ordered by ``order_by`` (id | created_at | file_name) and
  ``sort``, ``API::Entities::PackageFile``: id, package_id, created_at, file_name, size,
  file_md5, file_sha1, file_sha256 (lib/api/entities/package_file.rb). For a PyPI file
  ``file_sha256`` is the ``sha256_digest`` the uploader sent (never checked against the bytes);
  for a generic file it is computed by Workhorse.
* ``GET /projects/:id/packages/:package_id/package_files/:package_file_id/download`` (GitLab
  18.4): ``present_package_file!``, so a redirect under object storage.

All of them: ``authorize_packages_access!(user_project)`` first (404 "Project Not Found", then
the packages switch, then 403 without ``read_package``); tokens as the API guard takes them,
job tokens included (``job_token_allowed: true``: header or ``job_token`` param), no deploy
tokens, no Basic auth.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from hatch_sigstore.sandbox._gitlab_api import api_principal, find_project, paginate
from hatch_sigstore.sandbox._gitlab_auth import can_admin_package, can_read_package
from hatch_sigstore.sandbox._gitlab_files import StoredFile, present_file
from hatch_sigstore.sandbox._gitlab_store import (
    GenericFile,
    GenericPackage,
    Project,
    PypiFile,
    PypiPackage,
    now,
)
from hatch_sigstore.sandbox._gitlab_wire import (
    Request,
    Response,
    json_response,
    message,
    param_errors,
)

__all__ = ["handle_packages_api", "touch_downloaded"]

PACKAGE_TYPES = (
    *("maven", "npm", "conan", "nuget", "pypi", "composer", "generic", "golang", "debian"),
    *("rubygems", "helm", "terraform_module", "rpm", "ml_model", "cargo"),
)
STATUSES = ("default", "hidden", "processing", "error", "pending_destruction", "deprecated")
DISPLAYABLE = ("default", "error")
INSTALLABLE_FILE = "default"

AnyPackage = PypiPackage | GenericPackage


@dataclass(frozen=True)
class _Row:
    package: AnyPackage
    package_type: str

    @property
    def status(self) -> str:
        return getattr(self.package, "status", "default")


def touch_downloaded(package: AnyPackage) -> None:
    """``package.touch_last_downloaded_at`` (present_package_file!)."""
    package.last_downloaded_at = now()


def _rows(req: Request, project: Project) -> list[_Row]:
    store = req.ctx.store
    with store.lock:
        rows = [_Row(p, "pypi") for p in store.pypi[project.id]]
        rows += [_Row(p, "generic") for p in store.generic[project.id]]
    return sorted(rows, key=lambda r: r.package.id)


def _choice(req: Request, name: str, values: tuple[str, ...], default: str) -> str:
    value = req.query.get(name, default)
    if value not in values:
        raise param_errors([f"{name} does not have a valid value"])
    return value


def _package_json(req: Request, project: Project, row: _Row, *, admin: bool) -> dict[str, object]:
    p = row.package
    links: dict[str, str] = {"web_path": f"/{project.path}/-/packages/{p.id}"}
    if admin:  # can_destroy(:package)
        api = f"{req.ctx.base_url}/api/v4/projects/{project.id}"
        links["delete_api_path"] = f"{api}/packages/{p.id}"
    return {
        "id": p.id,
        "name": p.name,
        "version": p.version,
        "package_type": row.package_type,
        "status": row.status,
        "_links": links,
        "created_at": p.created_at,
        "last_downloaded_at": p.last_downloaded_at,
        "tags": [],
    }


def _file_json(package: AnyPackage, f: PypiFile | GenericFile) -> dict[str, object]:
    if isinstance(f, PypiFile):
        md5, sha256 = f.md5_digest, f.sha256_digest  # what the uploader sent
    else:
        md5, sha256 = None, f.sha256
    return {
        "id": f.id,
        "package_id": package.id,
        "created_at": f.created_at,
        "file_name": f.file_name,
        "size": f.size,
        "file_md5": md5,
        "file_sha1": None,
        "file_sha256": sha256,
    }


def handle_packages_api(req: Request, raw_id: str, rest: list[str]) -> Response | None:
    """``/projects/:id/packages[/...]`` outside the package-manager formats; None when no
    route matches."""
    if req.method not in ("GET", "HEAD"):
        return None
    if rest and not (rest[0].isdigit() and rest[0].isascii()):
        return None
    if len(rest) > 4 or (len(rest) >= 2 and rest[1] != "package_files"):
        return None
    if len(rest) == 3 or (len(rest) == 4 and (rest[3] != "download" or not rest[2].isdigit())):
        return None
    principal = api_principal(req, job_token=True)
    project = find_project(req, raw_id, principal)
    if not req.ctx.settings.packages_enabled:
        raise message(404, "404 Not Found")
    if not can_read_package(principal, project):
        raise message(403, "403 Forbidden")
    rows = _rows(req, project)
    admin = can_admin_package(principal, project)
    route = {"id": unquote(raw_id)}
    if not rest:
        return _list(req, project, rows, route, admin=admin)
    route["package_id"] = rest[0]
    # Packages::PackageFinder: displayable packages of the project, else RecordNotFound
    row = next((r for r in rows if r.package.id == int(rest[0]) and r.status in DISPLAYABLE), None)
    if row is None:
        raise message(404, "404 Not found")
    if len(rest) == 1:
        if row.status != "default":
            raise message(404, "Package not found")
        body = _package_json(req, project, row, admin=admin)
        body["versions"] = [
            {"id": r.package.id, "version": r.package.version, "created_at": r.package.created_at,
             "tags": []}
            for r in rows
            if r.package_type == row.package_type and r.package.name == row.package.name
            and r.package.id != row.package.id and r.status in DISPLAYABLE
        ]  # fmt: skip
        return json_response(200, body)
    with req.ctx.store.lock:
        files: list[PypiFile | GenericFile] = list(row.package.files)
    if len(rest) == 4:
        found = next((f for f in files if f.id == int(rest[2])), None)
        if found is None:
            raise message(404, "404 Not Found")
        touch_downloaded(row.package)
        stored = StoredFile(found.blob, found.size, found.file_name, found.file_store,
                            found.object_key)  # fmt: skip
        return present_file(req, stored)
    order_by = _choice(req, "order_by", ("id", "created_at", "file_name"), "id")
    sort = _choice(req, "sort", ("asc", "desc"), "asc")
    key = {"id": lambda f: (f.id,), "created_at": lambda f: (f.created_at, f.id),
           "file_name": lambda f: (f.file_name, f.id)}[order_by]  # fmt: skip
    files.sort(key=key, reverse=sort == "desc")
    page, headers = paginate(req, files, route)
    return json_response(200, [_file_json(row.package, f) for f in page], headers)


def _list(
    req: Request, project: Project, rows: list[_Row], route: dict[str, str], *, admin: bool
) -> Response:
    order_by = _choice(req, "order_by", ("created_at", "name", "version", "type"), "created_at")
    sort = _choice(req, "sort", ("asc", "desc"), "asc")
    package_type = req.query.get("package_type")
    if package_type is not None and package_type not in PACKAGE_TYPES:
        raise param_errors(["package_type does not have a valid value"])
    status = req.query.get("status")
    if status is not None and status not in STATUSES:
        raise param_errors(["status does not have a valid value"])
    name = req.query.get("package_name")
    version = req.query.get("package_version")
    if not req.query.get("include_versionless"):
        rows = [r for r in rows if r.package.version]
    if package_type:
        rows = [r for r in rows if r.package_type == package_type]
    if name:
        rows = [r for r in rows if name.lower() in r.package.name.lower()]
    rows = [r for r in rows if (r.status == status if status else r.status in DISPLAYABLE)]
    if version:
        rows = [r for r in rows if r.package.version == version]
    attr = {"created_at": lambda r: (r.package.created_at, r.package.id),
            "name": lambda r: (r.package.name, r.package.id),
            "version": lambda r: (r.package.version, r.package.id),
            "type": lambda r: (r.package_type, r.package.id)}[order_by]  # fmt: skip
    rows.sort(key=attr, reverse=sort == "desc")
    page, headers = paginate(req, rows, route)
    return json_response(200, [_package_json(req, project, r, admin=admin) for r in page], headers)
