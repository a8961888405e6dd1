"""A local Sigstore on loopback: OIDC issuer, Fulcio, Rekor v1, trust config. NEVER for production.

:class:`LocalSigstore` runs the three services on one port, in a background thread (tests) or in
the foreground (``hatch-sigstore sandbox serve``). They speak the wire formats of the real
services, so the unmodified sigstore-python (API and ``python -m sigstore``) signs and verifies
against them when given :attr:`LocalSigstore.trust_config_path`. Every key is generated at start
and lives only in memory: whatever this sandbox signs proves nothing to anyone else.

Routes (all JSON unless noted):

- OIDC: ``GET /.well-known/openid-configuration``, ``GET /oauth/discovery/keys`` (JWKS),
  ``POST /sandbox/token`` (sandbox only: JSON claims in, token text out);
- Fulcio: ``POST /api/v2/signingCert``, ``GET /api/v2/trustBundle``, ``GET /api/v1/rootCert``;
- Rekor v1: ``POST /api/v1/log/entries``, ``POST /api/v1/log/entries/retrieve[/]``,
  ``GET /api/v1/log``, ``GET /api/v1/log/publicKey``, ``GET /api/v1/log/entries/{uuid}``;
- only with ``LocalSigstore(rekor_v2=True)``: Rekor v2 ``POST /api/v2/log/entries`` (JSON
  ``CreateEntryRequest`` in, ``TransparencyLogEntry`` out) and an RFC 3161 timestamp authority,
  ``POST /api/v1/timestamp`` (``application/timestamp-query`` in, ``-reply`` out), ``GET
  /api/v1/timestamp/certchain`` (PEM); both are then in the trust config;
- ``GET /sandbox/trust-config``: the ClientTrustConfig JSON.
"""

from __future__ import annotations

import collections
import datetime
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hatch_sigstore.sandbox import _trust
from hatch_sigstore.sandbox._fulcio import CertificateAuthority, FulcioRequestError
from hatch_sigstore.sandbox._http import LoopbackServer
from hatch_sigstore.sandbox._oidc import TokenIssuer, TokenVerificationError, full_ref
from hatch_sigstore.sandbox._rekor import RekorRequestError, TransparencyLog
from hatch_sigstore.sandbox._rekor_v2 import TransparencyLogV2
from hatch_sigstore.sandbox._tsa import TimestampAuthority, TimestampRequestError

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig, TrustedRoot

    from hatch_sigstore.identity import ExpectedIdentity

__all__ = ["SERVICES", "LocalSigstore"]

Service = Literal["fulcio", "rekor", "rekor_create", "rekor_retrieve", "oidc", "tsa"]
SERVICES: tuple[str, ...] = ("fulcio", "rekor", "rekor_create", "rekor_retrieve", "oidc")
# A sandbox with ``rekor_v2=True`` also knows this one (its timestamp authority).
_TSA_SERVICE = "tsa"
_MAX_BODY = 16 * 1024 * 1024
_TSA_PATH = "/api/v1/timestamp"
_MINT_OPTIONS = (
    "project_path",
    "ref",
    "ref_type",
    "config_path",
    "project_id",
    "expires_in",
    "audience",
)


@dataclass
class _Fault:
    status: int | None = None  # answer this status instead of serving
    body: bytes | None = None
    hang: float = 0.0  # or: wait this long first, then serve normally


class LocalSigstore:
    """OIDC issuer + Fulcio + Rekor v1 on ``http://HOST:PORT``. NEVER for production.

    Usable as a context manager, or with :meth:`start`/:meth:`stop`. ``state_dir`` receives the
    trust config (a temporary directory, removed at :meth:`stop`, when ``None``).

    ``rekor_v2=True`` also serves a Rekor v2 log and a timestamp authority and lists both in
    the trust config (v1 stays first, so a client that does not ask for v2 keeps using v1).
    """

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        gitlab_url: str = "https://gitlab.example.com",
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        rekor_v2: bool = False,
    ) -> None:
        self.latency = latency
        self.rekor_v2 = rekor_v2
        self._gitlab_url = gitlab_url.rstrip("/")
        self._oidc = TokenIssuer(self._gitlab_url)
        self._ca = CertificateAuthority()
        self._log = TransparencyLog()
        self._log_v2 = TransparencyLogV2() if rekor_v2 else None
        self._tsa = TimestampAuthority() if rekor_v2 else None
        self._lock = threading.Lock()
        self._stats: dict[str, int] = {"fulcio": 0, "rekor_create": 0, "rekor_retrieve": 0}
        if rekor_v2:
            self._stats["tsa"] = 0
        self._services = (*SERVICES, _TSA_SERVICE) if rekor_v2 else SERVICES
        self._faults: dict[str, collections.deque[_Fault]] = {
            s: collections.deque() for s in self._services
        }
        self._stopping = threading.Event()
        self._stop_requested = threading.Event()
        self._server = LoopbackServer(_Handler, owner=self, host=host, port=port)
        self._own_dir = state_dir is None
        try:
            self._state_dir = (
                Path(tempfile.mkdtemp(prefix="hatch-sigstore-sandbox-"))
                if state_dir is None
                else Path(state_dir)
            )
            self._state_dir.mkdir(parents=True, exist_ok=True)
            self._trust_config = self._build_trust_config()
            self._write_state()
        except BaseException:
            self._server.stop()  # release the port
            raise

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalSigstore:
        self._stopping.clear()
        self._server.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.stop()
        if self._own_dir:
            shutil.rmtree(self._state_dir, ignore_errors=True)

    def serve_forever(self) -> None:
        """Serve until :meth:`request_stop` (e.g. from a signal handler), then stop."""
        self.start()
        try:
            while not self._stop_requested.wait(0.2):
                pass
        finally:
            self.stop()

    def request_stop(self) -> None:
        self._stop_requested.set()

    def __enter__(self) -> LocalSigstore:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- coordinates -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._server.url

    @property
    def gitlab_url(self) -> str:
        return self._gitlab_url

    @property
    def state_dir(self) -> Path:
        return self._state_dir

    @property
    def trust_config_path(self) -> Path:
        return self._state_dir / "trust_config.json"

    @property
    def certificate_authority(self) -> CertificateAuthority:
        """The sandbox Fulcio's CA (tests set its test-only ``extra_sans`` knob)."""
        return self._ca

    @property
    def trusted_root_path(self) -> Path:
        return self._state_dir / "trusted_root.json"

    @property
    def trust_config(self) -> dict[str, Any]:
        """The ClientTrustConfig as a JSON-ready dict (a copy)."""
        copied: dict[str, Any] = json.loads(json.dumps(self._trust_config))
        return copied

    def client_trust_config(self) -> ClientTrustConfig:
        """The trust config as sigstore-python's object (imports sigstore)."""
        from sigstore.models import ClientTrustConfig

        return ClientTrustConfig.from_json(json.dumps(self._trust_config))

    def trusted_root(self) -> TrustedRoot:
        from sigstore.models import TrustedRoot

        return TrustedRoot.from_file(str(self.trusted_root_path))

    # -- identities ------------------------------------------------------------------------
    def token_claims(self, **options: Any) -> dict[str, Any]:
        """The claims :meth:`mint_token` would sign for the same arguments."""
        return self._oidc.claims(**options)

    def mint_token(
        self,
        *,
        project_path: str = "group/project",
        ref: str = "main",
        ref_type: str = "branch",
        config_path: str = ".gitlab-ci.yml",
        project_id: str = "42",
        expires_in: float = 600,
        audience: str = "sigstore",
        **claims: Any,
    ) -> str:
        """A GitLab-CI-shaped ID token from the sandbox issuer; any claim overridable.

        ``claim=None`` removes it; ``expires_in <= 0`` gives an already-expired token.
        """
        return self._oidc.mint(
            self._oidc.claims(
                project_path=project_path,
                ref=ref,
                ref_type=ref_type,
                config_path=config_path,
                project_id=project_id,
                expires_in=expires_in,
                audience=audience,
                **claims,
            )
        )

    def ci_env(
        self,
        *,
        project_path: str = "group/project",
        ref: str = "main",
        ref_type: str = "branch",
        project_id: str = "42",
        **token_claims: Any,
    ) -> dict[str, str]:
        """The GitLab CI variables of a job in ``project_path`` at ``ref``, with its token."""
        config_path = str(token_claims.get("config_path", ".gitlab-ci.yml"))
        claims = self._oidc.claims(
            project_path=project_path,
            ref=ref,
            ref_type=ref_type,
            project_id=project_id,
            **token_claims,
        )
        token = self._oidc.mint(claims)
        short_ref = full_ref(ref, ref_type).split("/", 2)[2]
        server = self._gitlab_url
        env = {
            "GITLAB_CI": "true",
            "CI": "true",
            "CI_SERVER_URL": server,
            "CI_SERVER_HOST": server.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0],
            "CI_API_V4_URL": f"{server}/api/v4",
            "CI_PROJECT_PATH": project_path,
            "CI_PROJECT_NAME": project_path.rsplit("/", 1)[-1],
            "CI_PROJECT_NAMESPACE": project_path.rsplit("/", 1)[0] if "/" in project_path else "",
            "CI_PROJECT_URL": f"{server}/{project_path}",
            "CI_PROJECT_ID": str(project_id),
            "CI_CONFIG_PATH": config_path,
            "CI_COMMIT_REF_NAME": short_ref,
            "CI_PIPELINE_SOURCE": str(claims.get("pipeline_source", "push")),
            "SIGSTORE_ID_TOKEN": token,
            "HATCH_SIGSTORE_TRUST_CONFIG": str(self.trust_config_path),
        }
        if claims.get("sha"):
            env["CI_COMMIT_SHA"] = str(claims["sha"])
        if ref_type == "tag":
            env["CI_COMMIT_TAG"] = short_ref
        else:
            env["CI_COMMIT_BRANCH"] = short_ref
        return env

    def expected_identity(
        self,
        *,
        project_path: str = "group/project",
        ref: str = "main",
        ref_type: str = "branch",
        project_id: str = "42",
        **token_claims: Any,
    ) -> ExpectedIdentity:
        """Who a token minted with the same arguments signs as."""
        from hatch_sigstore.identity import ExpectedIdentity

        return ExpectedIdentity(
            server=self._gitlab_url,
            project_path=project_path,
            ref=full_ref(ref, ref_type),
            config_path=str(token_claims.get("config_path", ".gitlab-ci.yml")),
            project_id=str(project_id),
        )

    # -- observation and fault injection ---------------------------------------------------
    @property
    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            for name in self._stats:
                self._stats[name] = 0

    @property
    def log_size(self) -> int:
        return len(self._log)

    @property
    def log_v2_size(self) -> int:
        """Entries in the Rekor v2 log (0 without ``rekor_v2``)."""
        return 0 if self._log_v2 is None else len(self._log_v2)

    @property
    def tsa_chain(self) -> tuple[x509.Certificate, ...]:
        """The timestamp authority's certificates, leaf first (``rekor_v2`` only)."""
        if self._tsa is None:
            raise RuntimeError("this LocalSigstore has no timestamp authority (rekor_v2=False)")
        return self._tsa.chain

    def fail_next(
        self, service: str, status: int = 500, times: int = 1, body: bytes | None = None
    ) -> None:
        """Answer the next ``times`` requests to ``service`` with ``status`` (and ``body``).

        ``service``: ``fulcio``, ``rekor`` (create and retrieve), ``rekor_create`` (v1 and v2),
        ``rekor_retrieve``, ``oidc`` (the token and discovery routes), or ``tsa`` (the
        timestamp authority, ``rekor_v2`` only).
        """
        self._plan(service, times, _Fault(status=status, body=body))

    def hang_next(self, service: str, seconds: float, times: int = 1) -> None:
        """Make the next ``times`` requests to ``service`` wait ``seconds`` before answering."""
        self._plan(service, times, _Fault(hang=seconds))

    def clear_faults(self) -> None:
        with self._lock:
            for queue in self._faults.values():
                queue.clear()

    def _plan(self, service: str, times: int, fault: _Fault) -> None:
        if service not in self._faults:
            raise ValueError(f"unknown service {service!r}; use one of {', '.join(self._services)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if fault.status is not None and not 100 <= fault.status <= 599:
            raise ValueError(f"{fault.status} is not an HTTP status")
        if fault.hang < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self._faults[service].extend(
                _Fault(fault.status, fault.body, fault.hang) for _ in range(times)
            )

    def _arrive(self, service: str | None) -> _Fault | None:
        """Count the request, apply latency, and pop the fault planned for it (if any)."""
        fault = None
        with self._lock:
            if service in self._stats:
                self._stats[service] += 1
            if service is not None:
                for key in (service, "rekor") if service.startswith("rekor_") else (service,):
                    if self._faults.get(key):
                        fault = self._faults[key].popleft()
                        break
        delay = self.latency + (fault.hang if fault else 0.0)
        if delay > 0:
            self._stopping.wait(delay)
        return fault if fault is not None and fault.status is not None else None

    # -- service logic used by the handler -------------------------------------------------
    def _fulcio_sign(self, authorization: str | None, request: object) -> dict[str, Any]:
        if not authorization or not authorization.startswith("Bearer "):
            raise FulcioRequestError(401, "There was an error processing the identity token")
        try:
            claims = self._oidc.verify(authorization[len("Bearer ") :].strip())
        except TokenVerificationError as exc:
            raise FulcioRequestError(
                401, f"There was an error processing the identity token: {exc}"
            ) from exc
        if not isinstance(request, dict):
            raise FulcioRequestError(400, "request body must be a JSON object")
        csr = request.get("certificateSigningRequest")
        if csr is None:
            raise FulcioRequestError(
                400, "certificateSigningRequest is required (publicKeyRequest is not supported)"
            )
        pems = self._ca.issue(csr, claims, url=self._gitlab_url)
        return {"signedCertificateEmbeddedSct": {"chain": {"certificates": pems}}}

    def _build_trust_config(self) -> dict[str, Any]:
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
        rekor_key = self._log.key.public_key()
        root = _trust.trusted_root(
            url=self.url,
            chain=self._ca.chain,
            rekor_key=rekor_key,
            rekor_log_id=self._log.log_id,
            ct_key=self._ca.ct_key.public_key(),
            ct_log_id=self._ca.ct_log_id,
            start=start,
        )
        config = _trust.signing_config(url=self.url, start=start)
        if self._log_v2 is not None and self._tsa is not None:
            _trust.add_rekor_v2_and_tsa(
                root,
                config,
                url=self.url,
                rekor_key=self._log_v2.key.public_key(),
                rekor_log_id=self._log_v2.log_id,
                tsa_url=self.url + _TSA_PATH,
                tsa_chain=self._tsa.chain,
                start=start,
            )
        return _trust.client_trust_config(root, config)

    def _write_state(self) -> None:
        def write(path: Path, data: object) -> None:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            tmp.replace(path)

        write(self._state_dir / "trusted_root.json", self._trust_config["trustedRoot"])
        write(self._state_dir / "signing_config.json", self._trust_config["signingConfig"])
        write(self.trust_config_path, self._trust_config)
        write(
            self._state_dir / "sandbox.json",
            {
                "url": self.url,
                "gitlab_url": self._gitlab_url,
                "trust_config": str(self.trust_config_path),
                "trusted_root": str(self.trusted_root_path),
                "token_endpoint": f"{self.url}/sandbox/token",
                "warning": "hatch-sigstore sandbox: NEVER FOR PRODUCTION",
            },
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per answer and no Nagle: headers and body in separate segments meet the
    # client's delayed ACK and cost ~40 ms per keep-alive request.
    wbufsize = -1
    disable_nagle_algorithm = True
    server_version = "hatch-sigstore-sandbox"
    sys_version = ""

    @property
    def owner(self) -> LocalSigstore:
        owner: LocalSigstore = self.server.owner  # type: ignore[attr-defined]
        return owner

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet; and a request line never carries a token, but headers might

    # -- plumbing --------------------------------------------------------------------------
    def _read_raw(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError as exc:
            raise _HTTPError(400, {"code": 400, "message": "bad Content-Length"}) from exc
        if length < 0 or length > _MAX_BODY:
            raise _HTTPError(413, {"code": 413, "message": "request body too large"})
        return self.rfile.read(length) if length else b""

    def _read_json(self) -> object:
        raw = self._read_raw()
        try:
            return json.loads(raw) if raw else None
        except ValueError as exc:
            raise _HTTPError(400, {"code": 400, "message": "request body is not JSON"}) from exc

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
            self.close_connection = True

    def _json(self, status: int, data: object) -> None:
        self._send(status, json.dumps(data).encode())

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        service = _service_of(method, path)
        try:
            if method != "POST":
                body: object = None
            elif path == _TSA_PATH and self.owner._tsa is not None:
                body = self._read_raw()  # DER, not JSON
            else:
                body = self._read_json()
        except _HTTPError as exc:
            self.close_connection = True  # the unread body would poison the next request
            self._json(exc.status, exc.data)
            return
        fault = self.owner._arrive(service)
        if fault is not None:
            assert fault.status is not None
            if fault.body is not None:
                self._send(fault.status, fault.body)
            else:
                self._json(
                    fault.status, {"code": fault.status, "message": "injected failure (sandbox)"}
                )
            return
        try:
            self._dispatch(method, path, body)
        except _HTTPError as exc:
            self._json(exc.status, exc.data)
        except FulcioRequestError as exc:
            code = 16 if exc.status == 401 else 3  # gRPC UNAUTHENTICATED / INVALID_ARGUMENT
            self._json(exc.status, {"code": code, "message": exc.message, "details": []})
        except RekorRequestError as exc:
            self._json(exc.status, {"code": exc.status, "message": exc.message})
        except Exception as exc:  # a sandbox bug: answer like a server would, keep serving
            self._json(
                500, {"code": 500, "message": f"sandbox internal error: {type(exc).__name__}"}
            )

    def _dispatch(self, method: str, path: str, body: object) -> None:
        owner = self.owner
        if method == "GET":
            if path == "/.well-known/openid-configuration":
                self._json(200, owner._oidc.discovery(f"{owner.url}/oauth/discovery/keys"))
            elif path in ("/oauth/discovery/keys", "/-/jwks"):
                self._json(200, owner._oidc.jwks())
            elif path == "/sandbox/trust-config":
                self._json(200, owner._trust_config)
            elif path == "/api/v2/trustBundle":
                self._json(200, {"chains": [{"certificates": owner._ca.chain_pems()}]})
            elif path == "/api/v1/rootCert":
                self._send(
                    200,
                    "".join(owner._ca.chain_pems()).encode(),
                    "application/pem-certificate-chain",
                )
            elif path == "/api/v1/log":
                self._json(200, owner._log.info())
            elif path == "/api/v1/log/publicKey":
                self._send(200, owner._log.public_key_pem().encode(), "application/x-pem-file")
            elif path.startswith("/api/v1/log/entries/") and path.count("/") == 5:
                entry = owner._log.get(path.rsplit("/", 1)[1])
                if entry is None:
                    raise _HTTPError(404, {"code": 404, "message": "entry not found"})
                self._json(200, entry)
            elif path == _TSA_PATH + "/certchain" and owner._tsa is not None:
                pems = (c.public_bytes(serialization.Encoding.PEM) for c in owner._tsa.chain)
                self._send(200, b"".join(pems), "application/pem-certificate-chain")
            elif path in ("/", "/sandbox"):
                self._send(200, _INDEX.format(url=owner.url).encode(), "text/plain; charset=utf-8")
            else:
                raise _HTTPError(404, {"code": 404, "message": f"no route GET {path}"})
            return
        if path == "/api/v2/signingCert":
            self._json(201, owner._fulcio_sign(self.headers.get("Authorization"), body))
        elif path == "/api/v1/log/entries":
            self._json(201, owner._log.create(body))
        elif path in ("/api/v1/log/entries/retrieve", "/api/v1/log/entries/retrieve/"):
            if not isinstance(body, dict):
                raise RekorRequestError(400, "request body must be a JSON object")
            self._json(200, owner._log.retrieve(body.get("entries")))
        elif path == "/api/v2/log/entries" and owner._log_v2 is not None:
            self._json(200, owner._log_v2.create(body))
        elif path == _TSA_PATH and owner._tsa is not None:
            assert isinstance(body, bytes)
            if self.headers.get("Content-Type", "").split(";")[0].strip() != (
                "application/timestamp-query"
            ):
                raise _HTTPError(415, {"code": 415, "message": "want application/timestamp-query"})
            try:
                reply = owner._tsa.respond(body)
            except TimestampRequestError as exc:
                raise _HTTPError(400, {"code": 400, "message": str(exc)}) from exc
            self._send(200, reply, "application/timestamp-reply")
        elif path == "/sandbox/token":
            self._send(200, _mint_from_request(owner, body).encode(), "text/plain; charset=utf-8")
        else:
            raise _HTTPError(404, {"code": 404, "message": f"no route POST {path}"})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")


class _HTTPError(Exception):
    def __init__(self, status: int, data: object) -> None:
        super().__init__(status)
        self.status = status
        self.data = data


def _service_of(method: str, path: str) -> str | None:
    if path == "/api/v2/signingCert":
        return "fulcio"
    if method == "POST" and path in ("/api/v1/log/entries", "/api/v2/log/entries"):
        return "rekor_create"
    if method == "POST" and path == _TSA_PATH:
        return "tsa"
    if path.startswith("/api/v1/log/entries/retrieve"):
        return "rekor_retrieve"
    if path in ("/sandbox/token", "/.well-known/openid-configuration", "/oauth/discovery/keys"):
        return "oidc"
    return None


def _mint_from_request(owner: LocalSigstore, body: object) -> str:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise _HTTPError(400, {"code": 400, "message": "body must be a JSON object of claims"})
    options = {k: body.pop(k) for k in _MINT_OPTIONS if k in body}
    try:
        return owner.mint_token(**options, **body)
    except (TypeError, ValueError) as exc:
        raise _HTTPError(400, {"code": 400, "message": f"cannot mint: {exc}"}) from exc


_INDEX = """hatch-sigstore sandbox: a local Sigstore (OIDC, Fulcio, Rekor v1). NEVER FOR PRODUCTION.

Trust config:  GET {url}/sandbox/trust-config
Mint a token:  POST {url}/sandbox/token
               body: JSON claims, e.g. {{"project_path": "group/project", "ref": "main"}}
Fulcio:        POST {url}/api/v2/signingCert
Rekor v1:      {url}/api/v1/log
"""
