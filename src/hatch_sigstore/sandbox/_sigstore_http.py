"""The local Sigstore's HTTP side: one handler for OIDC, Fulcio, Rekor v1 and v2, the TSA and the
sandbox's own routes (the wire formats are described in :mod:`hatch_sigstore.sandbox.sigstore`).

Errors answer as the real services do: Fulcio's gRPC-gateway JSON (``code`` 16 UNAUTHENTICATED or
3 INVALID_ARGUMENT), Rekor's ``{"code", "message"}``; a bug in the sandbox answers 500 and the
service keeps serving. Faults planned with ``fail_next``/``hang_next`` apply per service
(:func:`service_of`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization

from hatch_sigstore.sandbox._fulcio import CertificateAuthority, FulcioRequestError
from hatch_sigstore.sandbox._oidc import TokenIssuer, TokenVerificationError
from hatch_sigstore.sandbox._rekor import RekorRequestError, TransparencyLog
from hatch_sigstore.sandbox._rekor_v2 import TransparencyLogV2
from hatch_sigstore.sandbox._tsa import TimestampAuthority, TimestampRequestError

__all__ = ["TSA_PATH", "Owner", "Services", "SigstoreHandler", "service_of", "signing_cert"]

MAX_BODY = 16 * 1024 * 1024
TSA_PATH = "/api/v1/timestamp"


@dataclass(frozen=True)
class Services:
    """The services behind the listener (``log_v2`` and ``tsa`` only with Rekor v2)."""

    oidc: TokenIssuer
    ca: CertificateAuthority
    log: TransparencyLog
    log_v2: TransparencyLogV2 | None
    tsa: TimestampAuthority | None
    gitlab_url: str  # the OIDC issuer: the GitLab instance the tokens come from


class Owner(Protocol):
    """What the handler needs of the :class:`LocalSigstore` that owns its server."""

    services: Services

    @property
    def url(self) -> str: ...

    @property
    def trust_config(self) -> dict[str, Any]: ...

    def _arrive(self, service: str | None) -> tuple[int, bytes | None] | None: ...

    def mint_token(self, **options: Any) -> str: ...


def signing_cert(services: Services, authorization: str | None, request: object) -> dict[str, Any]:
    """Fulcio's ``POST /api/v2/signingCert``: the bearer token checked, the CSR's key
    certified for its claims."""
    if not authorization or not authorization.startswith("Bearer "):
        raise FulcioRequestError(401, "There was an error processing the identity token")
    try:
        claims = services.oidc.verify(authorization[len("Bearer ") :].strip())
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
    pems = services.ca.issue(csr, claims, url=services.gitlab_url)
    return {"signedCertificateEmbeddedSct": {"chain": {"certificates": pems}}}


class SigstoreHandler(BaseHTTPRequestHandler):
    """Serves one connection of the local Sigstore (see the module's docstring)."""

    protocol_version = "HTTP/1.1"
    # One write per answer and no Nagle: headers and body in separate segments meet the
    # client's delayed ACK and cost ~40 ms per keep-alive request.
    wbufsize = -1
    disable_nagle_algorithm = True
    server_version = "hatch-sigstore-sandbox"
    sys_version = ""

    @property
    def owner(self) -> Owner:
        owner: Owner = self.server.owner  # type: ignore[attr-defined]
        return owner

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet; and a request line never carries a token, but headers might

    # -- plumbing --------------------------------------------------------------------------
    def _read_raw(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError as exc:
            raise HTTPError(400, {"code": 400, "message": "bad Content-Length"}) from exc
        if length < 0 or length > MAX_BODY:
            raise HTTPError(413, {"code": 413, "message": "request body too large"})
        return self.rfile.read(length) if length else b""

    def _read_json(self) -> object:
        raw = self._read_raw()
        try:
            return json.loads(raw) if raw else None
        except ValueError as exc:
            raise HTTPError(400, {"code": 400, "message": "request body is not JSON"}) from exc

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
        service = service_of(method, path)
        try:
            if method != "POST":
                body: object = None
            elif path == TSA_PATH and self.owner.services.tsa is not None:
                body = self._read_raw()  # DER, not JSON
            else:
                body = self._read_json()
        except HTTPError as exc:
            self.close_connection = True  # the unread body would poison the next request
            self._json(exc.status, exc.data)
            return
        fault = self.owner._arrive(service)
        if fault is not None:
            status, fault_body = fault
            if fault_body is not None:
                self._send(status, fault_body)
            else:
                self._json(status, {"code": status, "message": "injected failure (sandbox)"})
            return
        try:
            self._dispatch(method, path, body)
        except HTTPError as exc:
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
        owner, services = self.owner, self.owner.services
        if method == "GET":
            if path == "/.well-known/openid-configuration":
                self._json(200, services.oidc.discovery(f"{owner.url}/oauth/discovery/keys"))
            elif path in ("/oauth/discovery/keys", "/-/jwks"):
                self._json(200, services.oidc.jwks())
            elif path == "/sandbox/trust-config":
                self._json(200, owner.trust_config)
            elif path == "/api/v2/trustBundle":
                self._json(200, {"chains": [{"certificates": services.ca.chain_pems()}]})
            elif path == "/api/v1/rootCert":
                self._send(
                    200,
                    "".join(services.ca.chain_pems()).encode(),
                    "application/pem-certificate-chain",
                )
            elif path == "/api/v1/log":
                self._json(200, services.log.info())
            elif path == "/api/v1/log/publicKey":
                self._send(200, services.log.public_key_pem().encode(), "application/x-pem-file")
            elif path.startswith("/api/v1/log/entries/") and path.count("/") == 5:
                entry = services.log.get(path.rsplit("/", 1)[1])
                if entry is None:
                    raise HTTPError(404, {"code": 404, "message": "entry not found"})
                self._json(200, entry)
            elif path == TSA_PATH + "/certchain" and services.tsa is not None:
                pems = (c.public_bytes(serialization.Encoding.PEM) for c in services.tsa.chain)
                self._send(200, b"".join(pems), "application/pem-certificate-chain")
            elif path in ("/", "/sandbox"):
                self._send(200, _INDEX.format(url=owner.url).encode(), "text/plain; charset=utf-8")
            else:
                raise HTTPError(404, {"code": 404, "message": f"no route GET {path}"})
            return
        if path == "/api/v2/signingCert":
            self._json(201, signing_cert(services, self.headers.get("Authorization"), body))
        elif path == "/api/v1/log/entries":
            self._json(201, services.log.create(body))
        elif path in ("/api/v1/log/entries/retrieve", "/api/v1/log/entries/retrieve/"):
            if not isinstance(body, dict):
                raise RekorRequestError(400, "request body must be a JSON object")
            self._json(200, services.log.retrieve(body.get("entries")))
        elif path == "/api/v2/log/entries" and services.log_v2 is not None:
            self._json(200, services.log_v2.create(body))
        elif path == TSA_PATH and services.tsa is not None:
            assert isinstance(body, bytes)
            if self.headers.get("Content-Type", "").split(";")[0].strip() != (
                "application/timestamp-query"
            ):
                raise HTTPError(415, {"code": 415, "message": "want application/timestamp-query"})
            try:
                reply = services.tsa.respond(body)
            except TimestampRequestError as exc:
                raise HTTPError(400, {"code": 400, "message": str(exc)}) from exc
            self._send(200, reply, "application/timestamp-reply")
        elif path == "/sandbox/token":
            self._send(200, _mint_from_request(owner, body).encode(), "text/plain; charset=utf-8")
        else:
            raise HTTPError(404, {"code": 404, "message": f"no route POST {path}"})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")


class HTTPError(Exception):
    """Ends a request with ``status`` and a JSON body."""

    def __init__(self, status: int, data: object) -> None:
        super().__init__(status)
        self.status = status
        self.data = data


def service_of(method: str, path: str) -> str | None:
    if path == "/api/v2/signingCert":
        return "fulcio"
    if method == "POST" and path in ("/api/v1/log/entries", "/api/v2/log/entries"):
        return "rekor_create"
    if method == "POST" and path == TSA_PATH:
        return "tsa"
    if path.startswith("/api/v1/log/entries/retrieve"):
        return "rekor_retrieve"
    if path in ("/sandbox/token", "/.well-known/openid-configuration", "/oauth/discovery/keys"):
        return "oidc"
    return None


def _mint_from_request(owner: Owner, body: object) -> str:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise HTTPError(400, {"code": 400, "message": "body must be a JSON object of claims"})
    try:
        return owner.mint_token(**body)
    except (TypeError, ValueError) as exc:
        raise HTTPError(400, {"code": 400, "message": f"cannot mint: {exc}"}) from exc


_INDEX = """hatch-sigstore sandbox: a local Sigstore (OIDC, Fulcio, Rekor v1). NEVER FOR PRODUCTION.

Trust config:  GET {url}/sandbox/trust-config
Mint a token:  POST {url}/sandbox/token
               body: JSON claims, e.g. {{"project_path": "group/project", "ref": "main"}}
Fulcio:        POST {url}/api/v2/signingCert
Rekor v1:      {url}/api/v1/log
"""
