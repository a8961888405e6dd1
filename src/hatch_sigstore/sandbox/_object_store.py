"""An S3-like object store on loopback: where the GitLab stand-in keeps package files when object
storage is on. NEVER for production.

It answers what Amazon S3 answers to the requests GitLab's clients make of it: GET and HEAD of an
object through a pre-signed URL (AWS Signature Version 4 in the query, path-style, as fog-aws
builds them for ``ObjectStorage`` uploaders), with Range requests, and S3's XML errors
(``AccessDenied`` "Request has expired", ``SignatureDoesNotMatch``, ``NoSuchKey``,
``InvalidRange``, ``InvalidArgument`` "Only one auth mechanism allowed; ..."). References: the
Amazon S3 API reference ("Authenticating Requests: Using Query Parameters (AWS Signature
Version 4)", "Error responses", GetObject), and that ``InvalidArgument`` body as S3 sends it
(catalyst/moodle-tool_objectfs#303, penpot/penpot#10776).

One deliberate difference: S3 refuses only a second *auth mechanism* (an ``Authorization``
header). A GitLab token in any other header (``JOB-TOKEN``, ``PRIVATE-TOKEN``, ``DEPLOY-TOKEN``)
or a ``Cookie`` would reach S3 and be ignored: the download works and the token has leaked to
the storage provider. This store refuses those the same way, so that a client that leaks a
token across the redirect fails a test instead of passing it. Every request is reported to
``record`` with the *names* of the credential headers it carried (never their values).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from hatch_sigstore.sandbox._http import LoopbackServer, QuietHandler
from hatch_sigstore.sandbox._wire import CREDENTIAL_HEADERS, RequestInfo, redacted_target

__all__ = ["ObjectStore"]

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES = 604800  # S3: "X-Amz-Expires must be less than a week (in seconds)"
ONE_AUTH = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
    "string parameter or the Authorization header should be specified"
)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
_SIGNATURE = frozenset({"X-Amz-Signature"})  # masked in the request log
_DRAIN_LIMIT = 1 << 20
_CHUNK = 1 << 20


@dataclass(frozen=True)
class _Object:
    path: Path
    content_type: str
    etag: str
    last_modified: float


def _uri_encode(value: str, *, slash: bool = True) -> str:
    """SigV4's UriEncode: RFC 3986 unreserved characters kept, '/' kept in paths only."""
    return quote(value, safe="-_.~/" if slash else "-_.~")


def _canonical_query(params: Mapping[str, str]) -> str:
    enc = [(_uri_encode(k, slash=False), _uri_encode(v, slash=False)) for k, v in params.items()]
    pairs = sorted(enc)
    return "&".join(f"{k}={v}" for k, v in pairs)


def _amz_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ObjectStore:
    """A bucket on its own loopback listener. Started lazily (the first URL asked for), so a
    registry without object storage costs nothing."""

    def __init__(
        self,
        root: Path,
        *,
        host: str = "127.0.0.1",
        bucket: str = "gitlab-packages",
        record: Callable[[RequestInfo], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.root = root
        self.host = host
        self.bucket = bucket
        self.region = "us-east-1"
        self.access_key_id = "AKIA" + secrets.token_hex(8).upper()
        self._secret = secrets.token_urlsafe(30)
        self._record = record
        self._on_error = on_error
        self._objects: dict[str, _Object] = {}
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None
        self._clock_offset = 0.0

    # lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (starts the listener)."""
        with self._lock:
            if self._server is None:
                self._server = LoopbackServer(_Handler, owner=self, host=self.host).start()
            return self._server.url

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop()

    # time -----------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Let the store's clock run ``seconds`` ahead: URLs signed before expire sooner
        (tests of expiry without sleeping)."""
        self._clock_offset += seconds

    # objects --------------------------------------------------------------------------------
    def _blob_path(self, key: str) -> Path:
        # keys hold client-chosen file names: never let them pick the path on disk
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / self.bucket / digest[:2] / digest

    def put_file(
        self, key: str, source: Path, *, content_type: str = "application/octet-stream"
    ) -> Path:
        """Move ``source`` into the bucket under ``key`` (what Workhorse's direct upload and
        Rails' finalize amount to); returns where the object's bytes now live."""
        md5 = hashlib.md5(usedforsecurity=False)
        with source.open("rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                md5.update(chunk)
        dest = self._blob_path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, dest)
        with self._lock:
            self._objects[key] = _Object(dest, content_type, md5.hexdigest(), time.time())
        return dest

    # pre-signed URLs ------------------------------------------------------------------------
    def _signing_key(self, day: str) -> bytes:
        key = ("AWS4" + self._secret).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return key

    def _signature(
        self, method: str, path: str, params: Mapping[str, str], host: str
    ) -> tuple[str, str, str]:
        """``(signature, string to sign, canonical request)`` for a query-signed request."""
        unsigned = {k: v for k, v in params.items() if k != "X-Amz-Signature"}
        canonical = "\n".join(
            [
                method,
                _uri_encode(path),
                _canonical_query(unsigned),
                f"host:{host}\n",
                "host",
                "UNSIGNED-PAYLOAD",
            ]
        )
        amz_date = params.get("X-Amz-Date", "")
        scope = params.get("X-Amz-Credential", "").split("/", 1)[-1]
        to_sign = "\n".join(
            [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        signature = hmac.new(
            self._signing_key(amz_date[:8]), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        return signature, to_sign, canonical

    def presign(
        self,
        method: str,
        key: str,
        *,
        expires: int,
        params: Mapping[str, str] | None = None,
    ) -> str:
        """A pre-signed URL for ``method`` on ``key``, valid ``expires`` seconds from now (on
        the store's clock). ``params`` are signed too (e.g. ``response-content-disposition``)."""
        base = urlsplit(self.url)
        now = self.now()
        day = _amz_time(now)[:8]
        query = {
            **(params or {}),
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{self.access_key_id}/{day}/{self.region}/s3/aws4_request",
            "X-Amz-Date": _amz_time(now),
            "X-Amz-Expires": str(expires),
            "X-Amz-SignedHeaders": "host",
        }
        path = f"/{self.bucket}/{key}"
        query["X-Amz-Signature"] = self._signature(method, path, query, base.netloc)[0]
        return f"{base.scheme}://{base.netloc}{_uri_encode(path)}?{_canonical_query(query)}"

    # serving --------------------------------------------------------------------------------
    def _lookup(self, key: str) -> _Object | None:
        with self._lock:
            return self._objects.get(key)

    def _report(self, info: RequestInfo) -> None:
        if self._record is not None:
            self._record(info)

    def _server_error(self, text: str) -> None:
        if self._on_error is not None:
            self._on_error(text)

    def _client_disconnected(self) -> None:
        pass  # routine


def _error(code: str, message: str, **fields: str) -> bytes:
    extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    request_id = secrets.token_hex(8).upper()
    host_id = secrets.token_urlsafe(48)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{extra}"
        f"<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>"
    ).encode()


class _Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes = b""
    obj: _Object | None = None
    span: tuple[int, int] | None = None  # inclusive byte range of obj to send


def _parse_range(value: str, size: int) -> tuple[int, int] | bool | None:
    """A single ``bytes=`` range: ``(first, last)``; None when the header is to be ignored (S3
    ignores malformed and multi-range headers); False when it cannot be satisfied."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, sep, last_text = spec.strip().partition("-")
    if not sep:
        return None
    try:
        if not first_text:  # suffix: the last N bytes
            n = int(last_text)
            if n <= 0:
                return False
            return (max(size - n, 0), size - 1) if size else False
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first >= size:
        return False
    if last < first:
        return None
    return first, min(last, size - 1)


class _Handler(QuietHandler):
    server_version = "AmazonS3"

    def dispatch(self) -> None:
        store: ObjectStore = self.server.owner  # type: ignore[attr-defined]
        started = time.monotonic()
        headers = {k.lower(): v for k, v in self.headers.items()}
        split = urlsplit(self.path)
        credentials = tuple(h for h in CREDENTIAL_HEADERS if h in headers)
        bytes_in = self._drain(headers)
        answer = self._answer(store, split.path, split.query, headers, credentials)
        store._report(
            RequestInfo(
                method=self.command,
                target=redacted_target(split.path, split.query, secrets=_SIGNATURE),
                path=split.path,
                status=answer.status,
                auth="-",  # S3 has no GitLab principal
                fault=None,
                bytes_in=bytes_in,
                seconds=time.monotonic() - started,
                service="object-store",
                credentials=credentials,
            )
        )
        self._send(answer)

    def _drain(self, headers: Mapping[str, str]) -> int:
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            length = 0
        if "chunked" in headers.get("transfer-encoding", "").lower() or length > _DRAIN_LIMIT:
            self.close_connection = True
            return 0
        if length:
            self.rfile.read(length)
        return length

    def _answer(
        self,
        store: ObjectStore,
        raw_path: str,
        query: str,
        headers: Mapping[str, str],
        credentials: tuple[str, ...],
    ) -> _Answer:
        xml = {"Content-Type": "application/xml"}
        params = dict(parse_qsl(query, keep_blank_values=True))
        path = unquote(raw_path)
        if "X-Amz-Algorithm" in params:
            if credentials:
                # S3 answers this for an Authorization header; the others are refused here
                # too (see the module docstring). S3 echoes the header's value.
                name = "Authorization" if "authorization" in credentials else credentials[0]
                value = headers.get(name.lower(), "")
                return _Answer(
                    400, xml, _error("InvalidArgument", ONE_AUTH, ArgumentName=name,
                                     ArgumentValue=value)
                )  # fmt: skip
            return self._presigned(store, path, params, headers)
        if "authorization" in headers:
            return _Answer(
                400,
                xml,
                _error(
                    "InvalidArgument",
                    "Unsupported Authorization Type",
                    ArgumentName="Authorization",
                    ArgumentValue=headers["authorization"],
                ),
            )
        return _Answer(403, xml, _error("AccessDenied", "Access Denied"))

    def _presigned(
        self, store: ObjectStore, path: str, params: dict[str, str], headers: Mapping[str, str]
    ) -> _Answer:
        xml = {"Content-Type": "application/xml"}
        required = ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders")
        missing = [p for p in (*required, "X-Amz-Signature") if p not in params]
        if params["X-Amz-Algorithm"] != ALGORITHM or missing:
            return _Answer(
                400,
                xml,
                _error(
                    "AuthorizationQueryParametersError",
                    "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                    "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                    "and X-Amz-Expires parameters.",
                ),
            )
        try:
            expires = int(params["X-Amz-Expires"])
            signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
                tzinfo=timezone.utc
            )
        except ValueError:
            return _Answer(
                400,
                xml,
                _error(
                    "AuthorizationQueryParametersError",
                    "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\" "
                    "and X-Amz-Expires a number of seconds",
                ),
            )
        if expires > MAX_EXPIRES:
            return _Answer(
                400,
                xml,
                _error(
                    "AuthorizationQueryParametersError",
                    f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}",
                ),
            )
        host = headers.get("host", "")
        expected, to_sign, canonical = store._signature(self.command, path, params, host)
        if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
            return _Answer(
                403,
                xml,
                _error(
                    "SignatureDoesNotMatch",
                    MISMATCH,
                    AWSAccessKeyId=params["X-Amz-Credential"].split("/", 1)[0],
                    StringToSign=to_sign,
                    SignatureProvided=params["X-Amz-Signature"],
                    CanonicalRequest=canonical,
                ),
            )
        deadline = signed_at.timestamp() + expires
        now = store.now()
        if now > deadline:
            return _Answer(
                403,
                xml,
                _error(
                    "AccessDenied",
                    "Request has expired",
                    **{"X-Amz-Expires": str(expires)},
                    Expires=_iso(deadline),
                    ServerTime=_iso(now),
                ),
            )
        prefix = f"/{store.bucket}/"
        key = path[len(prefix) :] if path.startswith(prefix) else ""
        obj = store._lookup(key)
        if obj is None or not obj.path.exists():
            return _Answer(
                404, xml, _error("NoSuchKey", "The specified key does not exist.", Key=key)
            )
        return self._object(obj, params, headers)

    def _object(
        self, obj: _Object, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> _Answer:
        size = obj.path.stat().st_size  # what is stored now: tests may tamper with it
        out = {
            "Content-Type": params.get("response-content-type") or obj.content_type,
            "ETag": f'"{obj.etag}"',
            "Last-Modified": formatdate(obj.last_modified, usegmt=True),
            "Accept-Ranges": "bytes",
            "x-amz-request-id": secrets.token_hex(8).upper(),
            "x-amz-id-2": secrets.token_urlsafe(48),
        }
        if params.get("response-content-disposition"):
            out["Content-Disposition"] = params["response-content-disposition"]
        span: tuple[int, int] | None = (0, size - 1) if size else None
        status = 200
        if "range" in headers:
            wanted = _parse_range(headers["range"], size)
            if wanted is False:
                return _Answer(
                    416,
                    {"Content-Type": "application/xml"},
                    _error(
                        "InvalidRange",
                        "The requested range is not satisfiable",
                        RangeRequested=headers["range"],
                        ActualObjectSize=str(size),
                    ),
                )
            if isinstance(wanted, tuple):
                span, status = wanted, 206
                out["Content-Range"] = f"bytes {wanted[0]}-{wanted[1]}/{size}"
        return _Answer(status, out, obj=obj, span=span)

    def _send(self, answer: _Answer) -> None:
        try:
            self.send_response(answer.status)
            length = (
                (answer.span[1] - answer.span[0] + 1 if answer.span else 0)
                if answer.obj is not None
                else len(answer.body)
            )
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(length))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD":
                return
            if answer.obj is None:
                self.wfile.write(answer.body)
                return
            if answer.span is None:
                return
            first, last = answer.span
            with answer.obj.path.open("rb") as fh:
                fh.seek(first)
                remaining = last - first + 1
                while remaining > 0:
                    data = fh.read(min(_CHUNK, remaining))
                    if not data:
                        break  # truncated under us: the client sees a short body
                    self.wfile.write(data)
                    remaining -= len(data)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
