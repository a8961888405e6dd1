"""How the GitLab stand-in answers a package-file download, by where the file is stored.

``lib/api/helpers.rb`` ``present_carrierwave_file!``:

* local storage (``file_store`` 1): Rails sends the file (``present_disk_file!``) with
  ``Content-Disposition: attachment`` and the route's extra headers (``X-Checksum-SHA256``);
* object storage (``file_store`` 2), direct download (``proxy_download`` off, the default, and
  ``supports_direct_download: true`` on the PyPI files route, the generic GET and the
  package-files download): a redirect to a pre-signed URL. For a HEAD on S3 the URL is signed
  for HEAD (``ObjectStorage::S3.signed_head_url``). With ``content_disposition`` (the generic
  GET) the URL carries ``response-content-disposition``/``response-content-type``; the extra
  headers are *not* sent ("Not used in the direct download supported case");
* object storage with ``proxy_download``: Workhorse fetches the object (send-url,
  ``workhorse/internal/sendurl/sendurl.go``: GET, Range and conditional headers forwarded, the
  store's headers copied except the cache headers Rails keeps) with Rails' ``response_headers``
  (the extra headers and Content-Disposition) on top.

The redirect is Grape's ``redirect`` (``lib/grape/dsl/inside_route.rb``): 302 "This resource has
been moved temporarily to URL." for GET, 303 "An alternate resource is located at URL." for any
other method on HTTP/1.1 (a HEAD included), text/plain.
"""

from __future__ import annotations

import hashlib
import http.client
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from hatch_sigstore.sandbox._gitlab_wire import Request, Response

__all__ = [
    "FILE_STORE_LOCAL",
    "FILE_STORE_REMOTE",
    "StoredFile",
    "content_disposition",
    "file_response",
    "object_key",
    "present_file",
    "redirect",
]

FILE_STORE_LOCAL = 1  # ObjectStorage::Store::LOCAL
FILE_STORE_REMOTE = 2  # ObjectStorage::Store::REMOTE
# sendurl.go preserveHeaderKeys, plus what this server writes itself
_NOT_FORWARDED = frozenset(
    {"cache-control", "expires", "date", "pragma", "server", "connection", "keep-alive",
     "transfer-encoding", "content-length"}
)  # fmt: skip
_FORWARDED_REQUEST = ("If-Match", "If-Unmodified-Since", "If-None-Match", "If-Modified-Since",
                      "If-Range", "Range")  # fmt: skip


@dataclass(frozen=True)
class StoredFile:
    """What ``present_file`` needs of a package file record."""

    blob: Path
    size: int
    file_name: str
    file_store: int
    object_key: str


def object_key(project_id: int, package_id: int, file_id: int, file_name: str) -> str:
    """``Packages::PackageFileUploader`` store path: ``Gitlab::HashedPath.new('packages',
    package_id, 'files', file_id, root_hash: project_id)`` then the file name
    (``app/uploaders/packages/package_file_uploader.rb``, ``lib/gitlab/hashed_path.rb``)."""
    h = hashlib.sha256(str(project_id).encode()).hexdigest()
    return f"{h[:2]}/{h[2:4]}/{h}/packages/{package_id}/files/{file_id}/{file_name}"


def content_disposition(filename: str) -> str:
    """``ActionDispatch::Http::ContentDisposition.format(disposition: 'attachment', ...)``."""
    return f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"


def file_response(blob: Path, filename: str, **extra: str) -> Response:
    """``present_disk_file!``: the file itself, as an attachment."""
    headers = {
        **extra,
        "Content-Disposition": content_disposition(filename),
        "Content-Transfer-Encoding": "binary",
        "Content-Type": "application/octet-stream",
    }
    return Response(200, headers, file=blob)


def redirect(req: Request, url: str) -> Response:
    if req.method == "GET" or req.http_version != "HTTP/1.1":
        status, text = 302, f"This resource has been moved temporarily to {url}."
    else:
        status, text = 303, f"An alternate resource is located at {url}."
    return Response(status, {"Location": url, "Content-Type": "text/plain"}, text.encode())


def present_file(
    req: Request,
    stored: StoredFile,
    *,
    attachment: bool = False,
    extra: dict[str, str] | None = None,
) -> Response:
    """``present_carrierwave_file!`` for a package file; ``attachment`` is the route's
    ``content_disposition: :attachment``, ``extra`` its ``extra_response_headers``."""
    extra = {k: v for k, v in (extra or {}).items() if v}  # compact_blank
    if stored.file_store == FILE_STORE_LOCAL:
        return file_response(stored.blob, stored.file_name, **extra)
    settings, objects = req.ctx.settings, req.ctx.objects
    disposition = content_disposition(stored.file_name) if attachment else None
    if not settings.proxy_download:
        if req.method == "HEAD":
            url = objects.presign(
                "HEAD", stored.object_key, expires=settings.object_store_url_expiry
            )
        else:
            params = {}
            if disposition is not None:
                params = {
                    "response-content-disposition": disposition,
                    "response-content-type": "application/octet-stream",
                }
            url = objects.presign(
                "GET", stored.object_key, expires=settings.object_store_url_expiry, params=params
            )
        return redirect(req, url)
    overlay = {**extra}
    if disposition is not None:
        overlay["Content-Disposition"] = disposition
    return _send_url(req, stored.object_key, overlay)


def _send_url(req: Request, key: str, overlay: dict[str, str]) -> Response:
    """Workhorse send-url: GET the object with a fresh pre-signed URL, stream the answer."""
    objects = req.ctx.objects
    url = urlsplit(objects.presign("GET", key, expires=req.ctx.settings.object_store_url_expiry))
    conn = http.client.HTTPConnection(url.netloc, timeout=30)
    headers = {n: req.headers[n.lower()] for n in _FORWARDED_REQUEST if n.lower() in req.headers}
    headers["Connection"] = "close"  # one object per connection: nothing left open after it
    conn.request("GET", f"{url.path}?{url.query}", headers=headers)
    upstream = conn.getresponse()
    out = {k: v for k, v in upstream.getheaders() if k.lower() not in _NOT_FORWARDED}
    lowered = {k.lower() for k in overlay}
    out = {k: v for k, v in out.items() if k.lower() not in lowered}
    out.update(overlay)
    length = upstream.getheader("Content-Length")
    return Response(
        upstream.status,
        out,
        stream=upstream,
        stream_length=int(length) if length is not None else None,
    )
