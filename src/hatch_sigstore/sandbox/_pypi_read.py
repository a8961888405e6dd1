"""The read side of the PyPI stand-in: simple API, JSON API, integrity API, files.

- ``/simple/`` and ``/simple/<name>/``: ``warehouse/api/simple.py`` + ``warehouse/packaging/
  utils.py`` (``_simple_index``, ``_simple_detail``) + ``templates/api/simple/*.html``: PEP 503
  HTML or PEP 691 JSON by ``Accept`` (API version 1.4), ``#sha256=``, ``data-requires-python``,
  PEP 658/714 metadata (``data-dist-info-metadata`` / ``data-core-metadata``), PEP 740
  ``provenance`` / ``data-provenance``, ``X-PyPI-Last-Serial``, a 301 to the normalized name.
- ``/pypi/<name>/json`` and ``/pypi/<name>/<version>/json``: ``warehouse/legacy/api/json.py``.
- ``/integrity/<project>/<version>/<filename>/provenance``: ``warehouse/api/integrity.py``.
- ``/packages/<blake2 path>`` (files.pythonhosted.org) and ``….metadata`` (PEP 658).
"""

from __future__ import annotations

import html
from typing import Any

from packaging.utils import canonicalize_name

from hatch_sigstore.sandbox._pypi_http import json_response, negotiate
from hatch_sigstore.sandbox._pypi_store import File, Project, Release, Store
from hatch_sigstore.sandbox._wire import Response

__all__ = ["Reader"]

API_VERSION = "1.4"
TEXT_HTML = "text/html"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
INTEGRITY_JSON = "application/vnd.pypi.integrity.v1+json"
# warehouse/utils/cors.py
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": (
        "Content-Type, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since"
    ),
    "Access-Control-Allow-Methods": "GET",
    "Access-Control-Max-Age": "86400",
    "Access-Control-Expose-Headers": "X-PyPI-Last-Serial",
}


def _not_found_simple() -> Response:
    return Response(404, {"Content-Type": "text/plain; charset=UTF-8", **CORS}, b"404 Not Found")


def _not_found_json() -> Response:
    body = b'{"message": "Not Found"}'
    return Response(404, {"Content-Type": "application/json; charset=utf-8", **CORS}, body)


def _not_found_page() -> Response:
    page = b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>"
    return Response(404, {"Content-Type": "text/html; charset=UTF-8"}, page)


def _moved(location: str) -> Response:
    return Response(301, {"Location": location, **CORS}, b"")


def _version_key(version: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


class Reader:
    def __init__(self, store: Store, base_url: str) -> None:
        self.store = store
        self.base = base_url.rstrip("/")

    def file_url(self, file: File) -> str:
        return f"{self.base}/packages/{file.path}"

    def provenance_url(self, project: Project, release: Release, file: File) -> str:
        return (
            f"{self.base}/integrity/{project.normalized_name}/{release.version}/"
            f"{file.filename}/provenance"
        )

    # -- simple ------------------------------------------------------------------------------
    def simple_index(self, accept: str | None) -> Response:
        ctype = (negotiate(accept, [TEXT_HTML, SIMPLE_HTML, SIMPLE_JSON]) or [TEXT_HTML])[0]
        with self.store.lock:
            projects = sorted(self.store.projects.values(), key=lambda p: p.normalized_name)
            rows: list[dict[str, Any]] = [
                {"name": p.name, "_last-serial": p.last_serial} for p in projects
            ]
            serial = self.store.serial
        headers = {
            "Content-Type": ctype,
            "Vary": "Accept",
            "X-PyPI-Last-Serial": str(serial),
            **CORS,
        }
        if ctype == SIMPLE_JSON:
            payload = {
                "meta": {"api-version": API_VERSION, "_last-serial": serial},
                "projects": rows,
            }
            return json_response(200, payload, headers=headers, newline=True)
        links = "".join(
            f'    <a href="/simple/{canonicalize_name(r["name"])}/">{html.escape(r["name"])}</a>\n'
            for r in rows
        )
        page = (
            '<!DOCTYPE html>\n<html lang="en">\n  <head>\n'
            f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
            "    <title>Simple index</title>\n  </head>\n  <body>\n"
            f"{links}  </body>\n</html>"
        )
        return Response(200, headers, page.encode())

    def _detail(self, project: Project) -> dict[str, Any]:
        files = sorted(
            ((r, f) for r in project.releases for f in r.files),
            key=lambda rf: (_version_key(rf[0].version), rf[1].filename),
        )
        versions = sorted({r.version for r, _ in files}, key=_version_key)
        return {
            "meta": {"api-version": API_VERSION, "_last-serial": project.last_serial},
            "name": project.normalized_name,
            "project-status": {"status": "active"},
            "versions": versions,
            "files": [
                {
                    "filename": f.filename,
                    "url": self.file_url(f),
                    "hashes": {"sha256": f.sha256},
                    "requires-python": r.requires_python or None,
                    "size": f.size,
                    "upload-time": f.upload_time.isoformat() + "Z",
                    "yanked": (r.yanked_reason if r.yanked and r.yanked_reason else r.yanked),
                    "data-dist-info-metadata": (
                        {"sha256": f.metadata_sha256} if f.metadata_sha256 else False
                    ),
                    "core-metadata": {"sha256": f.metadata_sha256} if f.metadata_sha256 else False,
                    "provenance": (
                        self.provenance_url(project, r, f) if f.provenance is not None else None
                    ),
                }
                for r, f in files
            ],
        }

    def simple_detail(self, name: str, accept: str | None) -> Response:
        with self.store.lock:
            project = self.store.project(name)
            if project is None:
                return _not_found_simple()
            if project.normalized_name != name:
                return _moved(f"/simple/{project.normalized_name}/")
            context = self._detail(project)
        ctype = (negotiate(accept, [TEXT_HTML, SIMPLE_HTML, SIMPLE_JSON]) or [TEXT_HTML])[0]
        headers = {
            "Content-Type": ctype,
            "Vary": "Accept",
            "X-PyPI-Last-Serial": str(context["meta"]["_last-serial"]),
            **CORS,
        }
        if ctype == SIMPLE_JSON:
            return json_response(200, context, headers=headers, newline=True)
        return Response(200, headers, self._detail_html(context).encode())

    @staticmethod
    def _detail_html(context: dict[str, Any]) -> str:
        """``templates/api/simple/detail.html``."""
        esc = html.escape
        lines = []
        for f in context["files"]:
            attrs = f'href="{esc(f["url"])}#sha256={f["hashes"]["sha256"]}" '
            if f["requires-python"]:
                attrs += f'data-requires-python="{esc(f["requires-python"])}" '
            if f["yanked"]:
                reason = f["yanked"] if isinstance(f["yanked"], str) else ""
                attrs += f'data-yanked="{esc(reason)}" '
            if f["core-metadata"]:
                digest = f["core-metadata"]["sha256"]
                attrs += (
                    f'data-dist-info-metadata="sha256={digest}" '
                    f'data-core-metadata="sha256={digest}"'
                )
            if f["provenance"]:
                attrs += f' data-provenance="{esc(f["provenance"])}"'
            lines.append(f"    <a {attrs}>{esc(f['filename'])}</a><br />\n")
        meta = context["meta"]
        return (
            '<!DOCTYPE html>\n<html lang="en">\n  <head>\n'
            f'    <meta name="pypi:repository-version" content="{meta["api-version"]}">\n'
            '    <meta name="pypi:project-status" '
            f'content="{context["project-status"]["status"]}">\n'
            f"    <title>Links for {esc(context['name'])}</title>\n  </head>\n  <body>\n"
            f"    <h1>Links for {esc(context['name'])}</h1>\n"
            + "".join(lines)
            + f"  </body>\n</html>\n<!--SERIAL {meta['_last-serial']}-->"
        )

    # -- JSON API ----------------------------------------------------------------------------
    def _file_json(self, release: Release, f: File) -> dict[str, Any]:
        return {
            "filename": f.filename,
            "packagetype": f.packagetype,
            "python_version": f.python_version,
            "has_sig": False,
            "comment_text": f.comment_text,
            "md5_digest": f.md5,
            "digests": {"md5": f.md5, "sha256": f.sha256, "blake2b_256": f.blake2_256},
            "core-metadata": {"sha256": f.metadata_sha256} if f.metadata_sha256 else False,
            "size": f.size,
            "downloads": -1,
            "upload_time": f.upload_time.strftime("%Y-%m-%dT%H:%M:%S"),
            "upload_time_iso_8601": f.upload_time.isoformat() + "Z",
            "url": self.file_url(f),
            "requires_python": release.requires_python or None,
            "yanked": release.yanked,
            "yanked_reason": release.yanked_reason or None,
        }

    def _json_data(self, project: Project, release: Release, *, all_releases: bool) -> Any:
        ordered = sorted(project.releases, key=lambda r: _version_key(r.version), reverse=True)
        releases = {
            r.version: [self._file_json(r, f) for f in sorted(r.files, key=lambda f: f.filename)]
            for r in ordered
        }
        info = {k: v for k, v in release.info.items() if k not in ("uploaded_via", "project_urls")}
        urls = dict(release.info.get("project_urls") or {})
        if release.info.get("home_page"):
            urls = {"Homepage": release.info["home_page"], **urls}
        base = f"{self.base}/project/{project.name}/"
        data: dict[str, Any] = {
            "info": {
                "name": project.name,
                "version": release.version,
                **info,
                "requires_python": release.requires_python,
                "downloads": {"last_day": -1, "last_week": -1, "last_month": -1},
                "package_url": base,
                "project_url": base,
                "project_urls": urls or None,
                "release_url": f"{base}{release.version}/",
                "docs_url": None,
                "bugtrack_url": None,
                "yanked": release.yanked,
                "yanked_reason": release.yanked_reason or None,
            },
            "urls": releases[release.version],
            "vulnerabilities": [],
            "last_serial": project.last_serial,
            "ownership": {"roles": [], "organization": None},
        }
        if all_releases:
            data["releases"] = releases
        return data

    def json_project(self, name: str, version: str | None, path: str) -> Response:
        with self.store.lock:
            project = self.store.project(name)
            if project is None:
                return _not_found_json()
            if version is None:
                # latest_release_factory: not yanked first, final before pre, newest
                candidates = sorted(
                    project.releases,
                    key=lambda r: (not r.yanked, not r.is_prerelease, _version_key(r.version)),
                )
                release = candidates[-1] if candidates else None
            else:
                release = project.release(version)
            if release is None:
                return _not_found_json()
            if project.normalized_name != name:
                return _moved(
                    path.replace(f"/pypi/{name}/", f"/pypi/{project.normalized_name}/", 1)
                )
            data = self._json_data(project, release, all_releases=version is None)
            headers = {"X-PyPI-Last-Serial": str(project.last_serial), **CORS}
        return json_response(200, data, headers=headers, newline=True)

    # -- integrity ---------------------------------------------------------------------------
    def provenance(
        self, name: str, version: str, filename: str, accept: str | None, enabled: bool
    ) -> Response:
        with self.store.lock:
            project = self.store.project(name)
            release = project.release(version) if project is not None else None
            file = (
                next((f for f in release.files if f.filename == filename), None)
                if release
                else None
            )
            if file is None:
                return _not_found_page()
            provenance = file.provenance
        offers = negotiate(accept, [INTEGRITY_JSON, "application/json"])
        if not offers:
            return json_response(406, {"message": "Request not acceptable"})
        if not enabled:
            return json_response(403, {"message": "Attestations temporarily disabled"})
        if provenance is None:
            return json_response(404, {"message": f"No provenance available for {filename}"})
        return json_response(
            200, provenance, headers={"Content-Type": offers[0], "Vary": "Accept", **CORS}
        )

    # -- files -------------------------------------------------------------------------------
    def package_file(self, path: str) -> Response:
        rel = path.removeprefix("/packages/")
        metadata = rel.endswith(".metadata")
        with self.store.lock:
            file = next(
                (
                    f
                    for p in self.store.projects.values()
                    for f in p.files()
                    if f.path == rel
                    or (metadata and f.metadata_sha256 and f"{f.path}.metadata" == rel)
                ),
                None,
            )
        if file is None:
            return _not_found_page()
        blob = self.store.blob(file)
        if metadata and rel != file.path:
            blob = blob.with_name(blob.name + ".metadata")
        ctype = "application/octet-stream" if not metadata else "text/plain; charset=utf-8"
        return Response(200, {"Content-Type": ctype}, b"", file=blob)
