"""A local stand-in for GitLab's PyPI and generic package registries. NEVER for production.

It speaks the real wire protocol over HTTP on loopback (lib/api/pypi_packages.rb,
lib/api/generic_packages.rb, lib/api/project_packages.rb, lib/api/package_files.rb,
lib/api/project_packages_protection_rules.rb): PyPI upload, simple index and downloads; generic
PUT and GET; the packages and package-files API; package protection rules; personal, deploy and
job tokens with GitLab's auth rules; GitLab's error bodies; and fault injection for flaky-network
tests. Uploads stream to disk in the state dir. ``Settings`` switches on the deployment variants:
object storage (downloads redirect to an S3-like store on a second listener, or are proxied),
Workhorse's upload size limit, an ``external_url`` other than the listening address.

    with GitLabRegistry() as gitlab:
        project = gitlab.create_project("group/project")
        token = gitlab.job_token(project)
        ...  # POST {gitlab.api_url}/projects/{project.id}/packages/pypi, user gitlab-ci-token
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, urlsplit

from hatch_sigstore.sandbox._gitlab_body import BodyError, BodyReader
from hatch_sigstore.sandbox._gitlab_faults import DEFAULT_STORE_DELAY, Fault, FaultInjector
from hatch_sigstore.sandbox._gitlab_files import FILE_STORE_LOCAL, FILE_STORE_REMOTE
from hatch_sigstore.sandbox._gitlab_generic import handle_generic
from hatch_sigstore.sandbox._gitlab_group import handle_group_pypi
from hatch_sigstore.sandbox._gitlab_packages_api import handle_packages_api
from hatch_sigstore.sandbox._gitlab_protection import add_rule, handle_rules
from hatch_sigstore.sandbox._gitlab_pypi import handle_pypi
from hatch_sigstore.sandbox._gitlab_settings import Settings
from hatch_sigstore.sandbox._gitlab_store import (
    ROLES,
    DeployToken,
    GenericFile,
    GenericFileTuple,
    GenericPackage,
    JobToken,
    PersonalToken,
    Project,
    ProtectionRule,
    PypiFileTuple,
    PypiPackage,
    Store,
)
from hatch_sigstore.sandbox._gitlab_wire import ApiError, Context, Request, Response, json_response
from hatch_sigstore.sandbox._http import LoopbackServer, QuietHandler
from hatch_sigstore.sandbox._object_store import CREDENTIAL_HEADERS, ObjectRequest, ObjectStore

__all__ = [
    "FaultInjector",
    "GenericFileTuple",
    "GitLabRegistry",
    "ObjectStore",
    "Project",
    "ProtectionRule",
    "PypiFileTuple",
    "RequestInfo",
    "RequestRecord",
    "Settings",
]

DRAIN_LIMIT = 64 << 20  # a refused upload larger than this gets its connection closed instead


class RequestRecord(NamedTuple):
    """``(method, path, status)``; path without the query; status 0 = no answer (reset)."""

    method: str
    path: str
    status: int


@dataclass(frozen=True)
class RequestInfo:
    """The full log entry behind a RequestRecord (never holds a credential)."""

    method: str
    target: str  # with credential query parameters masked
    path: str
    status: int
    auth: str  # anonymous | personal | deploy | job | - (not reached)
    fault: str | None
    bytes_in: int
    seconds: float
    service: str = "gitlab"  # gitlab | object-store
    credentials: tuple[str, ...] = ()  # names of the credential headers sent (never values)


class _Handler(QuietHandler):
    server_version = "nginx"

    def dispatch(self) -> None:
        registry: GitLabRegistry = self.server.owner  # type: ignore[attr-defined]
        registry._busy(+1)
        try:
            self._handle(registry)
        finally:
            registry._busy(-1)

    def _handle(self, registry: GitLabRegistry) -> None:
        started = time.monotonic()
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        try:
            length = None if chunked else int(headers.get("content-length", "0") or 0)
        except ValueError:
            length = 0
        reader = BodyReader(self.rfile, length=length, chunked=chunked)
        req = Request(
            method=self.command,
            target=self.path,
            path=split.path,
            query=query,
            headers=headers,
            body=reader,
            ctx=Context(
                registry.store, registry.settings, registry.external_url, registry.object_store
            ),
            http_version=self.request_version,
        )
        latency, fault = registry.faults.pick(self.command, split.path)
        recorded = False

        def record(status: int) -> None:
            # Called before the answer (or the reset) goes out: a client that has the whole
            # answer always finds its request in the log.
            nonlocal recorded
            if recorded:
                return
            recorded = True
            registry._record(
                RequestInfo(
                    method=self.command,
                    target=_redacted_target(split.path, split.query),
                    path=split.path,
                    status=status,
                    auth=req.auth_kind,
                    fault=None if fault is None else fault.kind,
                    bytes_in=reader.consumed,
                    seconds=time.monotonic() - started,
                    credentials=tuple(h for h in CREDENTIAL_HEADERS if h in headers),
                )
            )

        if latency:
            time.sleep(latency)
        try:
            if fault is not None and fault.kind == "reset":
                self._reset(reader, fault, record)
                return
            if fault is not None and fault.kind == "store_after_502":
                self._store_after_502(req, reader, fault, record)
                return
            if fault is not None and fault.kind == "status":
                response = self._fault_response(fault)
            else:
                response = registry._route(req)
                if fault is not None and fault.kind == "stored_then_502":
                    response = self._fault_response(fault)
            if not reader.done and not reader.drain(DRAIN_LIMIT):
                self.close_connection = True
                response.headers["Connection"] = "close"
            record(response.status)
            self._send(response)
        except BodyError:
            self.close_connection = True  # the client went away mid-body
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        finally:
            if not recorded:
                record(0)

    def _fault_response(self, fault: Fault) -> Response:
        status, headers, body = fault.response()
        return Response(status, headers, body)

    def _store_after_502(
        self, req: Request, reader: BodyReader, fault: Fault, record: Callable[[int], None]
    ) -> None:
        """Take the whole body, answer 502 and close (a proxy giving up on a slow upstream),
        then handle the request for real ``fault.seconds`` later, as GitLab would finish
        storing it. The late answer goes nowhere."""
        registry: GitLabRegistry = self.server.owner  # type: ignore[attr-defined]
        spool_dir = registry.state_dir / "tmp"
        spool_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=spool_dir) as spool:
            while not reader.done:
                data = reader.read()
                if not data and not reader.done:
                    break
                spool.write(data)
            size = spool.tell()
            spool.seek(0)
            response = self._fault_response(fault)
            response.headers["Connection"] = "close"
            self.close_connection = True
            record(response.status)
            with contextlib.suppress(OSError):
                self._send(response)
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_WR)
            if registry._stopping.wait(fault.seconds if fault.seconds > 0 else DEFAULT_STORE_DELAY):
                return  # the registry is shutting down: its state dir is going away
            late = dataclasses.replace(req, body=BodyReader(spool, length=size, chunked=False))
            registry._route(late)

    def _reset(self, reader: BodyReader, fault: Fault, record: Callable[[int], None]) -> None:
        """Read part of the body, record the request, then abort the connection (RST)
        without answering."""
        length = reader.length
        after = fault.after_bytes
        if after is None:
            after = (length // 2) if length else 0
        if length is not None:
            after = min(after, max(length - 1, 0))
        with contextlib.suppress(BodyError, OSError):
            while reader.consumed < after:
                if not reader.read(min(1 << 16, after - reader.consumed)):
                    break
        self.close_connection = True
        record(0)
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _send(self, response: Response) -> None:
        if response.stream is not None:
            self._send_stream(response)
            return
        self.send_response(response.status)
        if response.file is not None:
            # the size on disk now, not the recorded one: tests may tamper with stored blobs
            fh = response.file.open("rb")
            size = os.fstat(fh.fileno()).st_size
        else:
            fh = None
            size = len(response.body)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(size))
        if self.command != "HEAD" and response.file is None:
            # one write for headers + body
            self._headers_buffer.append(b"\r\n" + response.body)  # type: ignore[attr-defined]
            self.flush_headers()
            return
        self.end_headers()
        if fh is None:
            return
        with fh:
            if self.command != "HEAD":
                shutil.copyfileobj(fh, self.wfile, 1 << 20)

    def _send_stream(self, response: Response) -> None:
        """An answer proxied from another server (Workhorse send-url)."""
        stream = response.stream
        assert stream is not None
        try:
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            if response.stream_length is None:
                self.close_connection = True
                self.send_header("Connection", "close")
            else:
                self.send_header("Content-Length", str(response.stream_length))
            self.end_headers()
            if self.command != "HEAD":
                shutil.copyfileobj(stream, self.wfile, 1 << 20)
        finally:
            stream.close()


_SECRET_PARAMS = frozenset({"private_token", "job_token", "token", "access_token"})


def _redacted_target(path: str, query: str) -> str:
    """The request target with credential query parameters masked (for the log)."""
    if not query:
        return path
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k in _SECRET_PARAMS for k, _ in pairs):
        return f"{path}?{query}"
    shown = [f"{k}=[MASKED]" if k in _SECRET_PARAMS else f"{k}={v}" for k, v in pairs]
    return f"{path}?{'&'.join(shown)}"


def _not_found() -> Response:
    return json_response(404, {"error": "404 Not Found"})


class GitLabRegistry:
    """The GitLab package-registry stand-in. A context manager; also ``start()``/``stop()``.

    ``state_dir`` holds the stored files (a temp dir, removed on ``stop()``, when None).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: Path | None = None,
        settings: Settings | None = None,
    ) -> None:
        self._temp: Path | None = None
        if state_dir is None:
            self._temp = Path(tempfile.mkdtemp(prefix="gitlab-registry-"))
            state_dir = self._temp
        self.state_dir = Path(state_dir)
        self.store = Store(self.state_dir)
        self.settings = settings if settings is not None else Settings()
        self.faults = FaultInjector()
        self._log: list[RequestInfo] = []
        self._log_lock = threading.Lock()
        self.errors: list[str] = []  # tracebacks of internal errors (500s), for debugging
        self._stopping = threading.Event()
        self._inflight = 0  # requests being handled (including late stores)
        self._idle = threading.Condition()
        self._disconnects = 0  # clients that went away abruptly (not errors; not printed)
        self._disconnect_cond = threading.Condition()
        self._server = LoopbackServer(_Handler, owner=self, host=host, port=port)
        self._host = host
        self._listeners: list[LoopbackServer] = []
        self._deploy_seq = 0
        # Started on first use: where package files go while settings.object_storage is on.
        self.object_store = ObjectStore(
            self.state_dir / "object-store",
            host=host,
            record=self._record_object_request,
            on_error=self._server_error,
        )

    # lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (== ``CI_SERVER_URL``)."""
        return self._server.url

    @property
    def api_url(self) -> str:
        """``url + "/api/v4"`` (== ``CI_API_V4_URL``)."""
        return f"{self.url}/api/v4"

    @property
    def external_url(self) -> str:
        """The instance's ``external_url``: ``settings.external_url``, else :attr:`url`. Every
        absolute URL the stand-in builds (simple-index links, pagination) starts with it."""
        return self.settings.external_url.rstrip("/") or self.url

    def add_listener(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the same instance on another address too (an alias host or port, as a
        reverse proxy or a second DNS name gives a real instance); returns its URL. Links
        keep pointing at :attr:`external_url`."""
        server = LoopbackServer(_Handler, owner=self, host=host, port=port).start()
        self._listeners.append(server)
        return server.url

    def start(self) -> GitLabRegistry:
        self._stopping.clear()
        self._server.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.stop()
        for server in self._listeners:
            server.stop()
        self._listeners.clear()
        self.object_store.stop()
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
        else:
            self.store.cleanup()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> GitLabRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # projects -------------------------------------------------------------------------------
    def create_project(
        self, path: str = "group/project", *, visibility: str = "private"
    ) -> Project:
        """A new project. If ``path`` is taken, ``-2``, ``-3``… is appended (see ``.path``)."""
        if visibility not in ("private", "internal", "public"):
            raise ValueError(f"visibility must be private, internal or public, not {visibility!r}")
        if "/" not in path.strip("/"):
            raise ValueError(f"a project path needs a namespace: 'group/name', not {path!r}")
        path = path.strip("/")
        with self.store.lock:
            candidate, n = path, 1
            while self.store.find_project_by_path(candidate) is not None:
                n += 1
                candidate = f"{path}-{n}"
            return self.store.add_project(candidate, visibility, self.external_url)

    def project(self, ident: Project | int | str) -> Project:
        """Look a project up by Project, numeric id or full path."""
        return self.store.resolve(ident)

    def project_api_url(self, project: Project | int | str) -> str:
        """``{api_url}/projects/{id}``."""
        return f"{self.api_url}/projects/{self.project(project).id}"

    def pypi_url(self, project: Project | int | str) -> str:
        """The twine/hatch repository URL: ``{api_url}/projects/{id}/packages/pypi``."""
        return f"{self.project_api_url(project)}/packages/pypi"

    def simple_url(self, project: Project | int | str, *, token: str | None = None) -> str:
        """The pip index URL, with ``__token__:<token>@`` credentials when given."""
        url = f"{self.pypi_url(project)}/simple"
        if token is not None:
            url = url.replace("://", f"://__token__:{token}@", 1)
        return url

    def group_simple_url(self, group: str) -> str:
        """A group's pip index URL (by full path): its projects' PyPI packages."""
        return f"{self.api_url}/groups/{quote(group, safe='')}/-/packages/pypi/simple"

    def generic_url(
        self, project: Project | int | str, name: str, version: str, filename: str
    ) -> str:
        return f"{self.project_api_url(project)}/packages/generic/{name}/{version}/{filename}"

    # tokens ---------------------------------------------------------------------------------
    @staticmethod
    def _role(role: str | None) -> int:
        if role is None or role == "none":
            return 0
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLES)} or None")
        return ROLES[role]

    def personal_token(
        self,
        *,
        scopes: Iterable[str] = ("api",),
        role: str | None = "maintainer",
        project: Project | int | str | None = None,
        expired: bool = False,
        revoked: bool = False,
    ) -> str:
        """A personal access token (``glpat-…``) of a new user.

        The user has ``role`` in ``project``, or in every project when ``project`` is None;
        ``role=None`` makes a non-member. ``expired``/``revoked`` tokens get GitLab's OAuth
        errors.
        """
        level = self._role(role)
        with self.store.lock:
            if project is None:
                user = self.store.add_user(default_role=level)
            else:
                user = self.store.add_user(roles={self.project(project).id: level})
            token = "glpat-" + secrets.token_urlsafe(15)
            self.store.personal_tokens[token] = PersonalToken(
                token, user, frozenset(scopes), revoked=revoked, expired=expired
            )
            return token

    def deploy_token(
        self,
        project: Project | int | str,
        *,
        scopes: Iterable[str] = ("read_package_registry", "write_package_registry"),
    ) -> tuple[str, str]:
        """A project deploy token: ``(username, token)``."""
        with self.store.lock:
            pid = self.project(project).id
            self._deploy_seq += 1
            username = f"gitlab+deploy-token-{self._deploy_seq}"
            token = "gldt-" + secrets.token_urlsafe(15)
            self.store.deploy_tokens[token] = DeployToken(token, username, pid, frozenset(scopes))
            return username, token

    def job_token(self, project: Project | int | str, *, role: str | None = "developer") -> str:
        """A CI job token (``glcbt-…``) of a running job in ``project``, run by a user with
        ``role`` there (and no membership elsewhere)."""
        level = self._role(role)
        with self.store.lock:
            pid = self.project(project).id
            user = self.store.add_user(roles={pid: level})
            token = f"glcbt-{secrets.token_hex(2)}_{secrets.token_urlsafe(15)}"
            self.store.job_tokens[token] = JobToken(token, user, pid)
            return token

    def revoke(self, token: str) -> None:
        """Revoke a personal or deploy token, or finish the job of a job token."""
        with self.store.lock:
            if token in self.store.personal_tokens:
                self.store.personal_tokens[token].revoked = True
            elif token in self.store.deploy_tokens:
                self.store.deploy_tokens[token].revoked = True
            elif token in self.store.job_tokens:
                self.store.job_tokens[token].running = False
            else:
                raise KeyError("unknown token")

    def expire(self, token: str) -> None:
        """Make a personal access token expired."""
        with self.store.lock:
            self.store.personal_tokens[token].expired = True

    # package protection and storage ------------------------------------------------------
    def protect_package(
        self,
        project: Project | int | str,
        package_name_pattern: str,
        *,
        package_type: str = "pypi",
        minimum_access_level_for_push: str | None = "maintainer",
        minimum_access_level_for_delete: str | None = None,
    ) -> ProtectionRule:
        """A package protection rule (what a Maintainer creates under Settings > Packages and
        registries, or ``POST /projects/:id/packages/protection/rules``). ``*`` is a wildcard;
        pushes by users below ``minimum_access_level_for_push`` (maintainer | owner | admin)
        and by every deploy token get 403 "Package protected."."""
        from hatch_sigstore.sandbox._gitlab_protection import PACKAGE_TYPES

        if package_type not in PACKAGE_TYPES:
            raise ValueError(f"package_type must be one of {PACKAGE_TYPES}, not {package_type!r}")
        for label, value, allowed in (
            ("minimum_access_level_for_push", minimum_access_level_for_push,
             ("maintainer", "owner", "admin")),
            ("minimum_access_level_for_delete", minimum_access_level_for_delete,
             ("owner", "admin")),
        ):  # fmt: skip
            if value is not None and value not in allowed:
                raise ValueError(f"{label} must be one of {allowed} or None, not {value!r}")
        result = add_rule(
            self.store,
            self.project(project),
            pattern=package_name_pattern,
            package_type=package_type,
            push=minimum_access_level_for_push,
            delete=minimum_access_level_for_delete,
        )
        if isinstance(result, list):
            raise ValueError("; ".join(result))
        return result

    def protection_rules(self, project: Project | int | str) -> list[ProtectionRule]:
        with self.store.lock:
            return list(self.store.protection_rules[self.project(project).id])

    def migrate_to_object_storage(self, project: Project | int | str | None = None) -> int:
        """Move the files still in local storage to the object store (the
        ``gitlab:packages:migrate`` Rake task); returns how many moved."""
        moved = 0
        with self.store.lock:
            pids = [self.project(project).id] if project is not None else list(self.store.pypi)
            records: list[PypiPackage | GenericPackage] = []
            for pid in pids:
                records += self.store.pypi[pid]
                records += self.store.generic[pid]
            for package in records:
                for f in package.files:
                    if f.file_store != FILE_STORE_LOCAL:
                        continue
                    f.blob = self.object_store.put_file(f.object_key, f.blob)
                    f.file_store = FILE_STORE_REMOTE
                    moved += 1
        return moved

    # inspection -----------------------------------------------------------------------------
    def pypi_packages(self, project: Project | int | str) -> list[PypiPackage]:
        """The PyPI package records (name+version) with their files, oldest first."""
        with self.store.lock:
            return list(self.store.pypi[self.project(project).id])

    def pypi_files(self, project: Project | int | str) -> list[PypiFileTuple]:
        """``(name, version, filename, sha256)`` per stored PyPI file, in upload order.

        ``sha256`` is of the bytes actually stored (the client's ``sha256_digest``, which the
        index shows, is in ``pypi_packages(...)[i].files[j].sha256_digest``).
        """
        with self.store.lock:
            rows = [
                (f.seq, PypiFileTuple(p.name, p.version, f.file_name, f.sha256))
                for p in self.store.pypi[self.project(project).id]
                for f in p.files
            ]
        return [row for _, row in sorted(rows)]

    def pypi_file_path(self, project: Project | int | str, filename: str) -> Path:
        """Where the (newest) stored PyPI file called ``filename`` is on disk."""
        found = [f for p in self.pypi_packages(project) for f in p.files if f.file_name == filename]
        if not found:
            raise KeyError(filename)
        return max(found, key=lambda f: f.id).blob

    def generic_packages(self, project: Project | int | str) -> list[GenericPackage]:
        with self.store.lock:
            return list(self.store.generic[self.project(project).id])

    def generic_files(self, project: Project | int | str) -> list[GenericFileTuple]:
        """``(name, version, filename, sha256, created_seq)`` per stored generic file record
        (duplicates included), in upload order."""
        with self.store.lock:
            rows = [
                GenericFileTuple(p.name, p.version, f.file_name, f.sha256, f.seq)
                for p in self.store.generic[self.project(project).id]
                for f in p.files
            ]
        return sorted(rows, key=lambda r: r.created_seq)

    def generic_file_path(
        self, project: Project | int | str, name: str, version: str, filename: str
    ) -> Path:
        """Where the newest generic file record is on disk (what GET would serve)."""
        files: list[GenericFile] = [
            f
            for p in self.generic_packages(project)
            if p.name == name and p.version == version
            for f in p.files
            if f.file_name == filename
        ]
        if not files:
            raise KeyError(filename)
        return max(files, key=lambda f: f.id).blob

    @property
    def requests(self) -> list[RequestRecord]:
        """``(method, path, status)`` of every request so far (a copy)."""
        with self._log_lock:
            return [RequestRecord(i.method, i.path, i.status) for i in self._log]

    @property
    def request_log(self) -> list[RequestInfo]:
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def _record(self, info: RequestInfo) -> None:
        with self._log_lock:
            self._log.append(info)

    def _record_object_request(self, req: ObjectRequest) -> None:
        self._record(
            RequestInfo(
                method=req.method,
                target=req.target,
                path=req.path,
                status=req.status,
                auth="-",
                fault=None,
                bytes_in=req.bytes_in,
                seconds=req.seconds,
                service="object-store",
                credentials=req.credentials,
            )
        )

    def object_store_requests(self) -> list[RequestInfo]:
        """The requests the object store answered (a copy)."""
        return [i for i in self.request_log if i.service == "object-store"]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no request is being handled (a slow or late store included); False on
        timeout. For tests that provoke work the client does not wait for."""
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout)

    def _busy(self, delta: int) -> None:
        with self._idle:
            self._inflight += delta
            if self._inflight == 0:
                self._idle.notify_all()

    @property
    def disconnects(self) -> int:
        """How many connections clients reset or dropped outside a request (e.g. an idle
        keep-alive connection closed with RST). Routine, so never printed."""
        with self._disconnect_cond:
            return self._disconnects

    def wait_for_disconnects(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until :attr:`disconnects` reaches ``count``; False on timeout."""
        with self._disconnect_cond:
            return self._disconnect_cond.wait_for(lambda: self._disconnects >= count, timeout)

    def _client_disconnected(self) -> None:
        with self._disconnect_cond:
            self._disconnects += 1
            self._disconnect_cond.notify_all()

    def _server_error(self, text: str) -> None:
        """An internal error: kept in :attr:`errors` and shown on stderr (never silenced)."""
        self.errors.append(text)
        print(text, file=sys.stderr)

    # routing --------------------------------------------------------------------------------
    def _route(self, req: Request) -> Response:
        segs = req.path.split("/")[1:]
        while segs and segs[-1] == "":
            segs.pop()  # Grape ignores trailing slashes
        try:
            if segs[:3] == ["api", "v4", "groups"] and segs[4:7] == ["-", "packages", "pypi"]:
                if not self.settings.packages_enabled:
                    return json_response(404, {"message": "404 Not Found"})
                return handle_group_pypi(req, segs[3], segs[7:]) or _not_found()
            if len(segs) < 5 or segs[:3] != ["api", "v4", "projects"] or segs[4] != "packages":
                return _not_found()
            raw_id, rest = segs[3], segs[5:]
            response: Response | None = None
            if rest[:1] == ["protection"]:
                response = handle_rules(req, raw_id, rest[1:])
            elif rest[:1] in (["pypi"], ["generic"]):
                if not self.settings.packages_enabled:
                    return json_response(404, {"message": "404 Not Found"})
                if rest[0] == "pypi":
                    response = handle_pypi(req, raw_id, rest[1:])
                elif len(rest) >= 2:
                    response = handle_generic(req, raw_id, rest[1:])
            else:
                response = handle_packages_api(req, raw_id, rest)
            return response if response is not None else _not_found()
        except ApiError as err:
            return err.response
        except BodyError:
            raise
        except Exception:
            self._server_error(traceback.format_exc())
            return json_response(500, {"message": "500 Internal Server Error"})


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - manual use
    """``python -m hatch_sigstore.sandbox.gitlab [--port N] [--state-dir D] [--object-storage
    [--proxy-download]] [--external-url URL]``: serve until ^C, after printing one JSON line
    with the URLs, a project and its tokens."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hatch_sigstore.sandbox.gitlab")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--project", default="group/project")
    parser.add_argument("--visibility", default="private")
    parser.add_argument("--object-storage", action="store_true")
    parser.add_argument("--proxy-download", action="store_true")
    parser.add_argument("--external-url", default="")
    args = parser.parse_args(argv)
    settings = Settings(
        object_storage=args.object_storage,
        proxy_download=args.proxy_download,
        external_url=args.external_url,
    )
    registry = GitLabRegistry(port=args.port, state_dir=args.state_dir, settings=settings)
    project = registry.create_project(args.project, visibility=args.visibility)
    info = {
        "url": registry.url,
        "api_url": registry.api_url,
        "project_id": project.id,
        "project_path": project.path,
        "job_token": registry.job_token(project),
        "personal_token": registry.personal_token(),
    }
    print(json.dumps(info), flush=True)
    try:
        registry.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        registry.object_store.stop()
        if registry._temp is not None:
            shutil.rmtree(registry._temp, ignore_errors=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
