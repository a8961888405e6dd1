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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from cryptography import x509

from hatch_sigstore.sandbox import _trust
from hatch_sigstore.sandbox._fulcio import CertificateAuthority
from hatch_sigstore.sandbox._gitlab_job import Job
from hatch_sigstore.sandbox._http import LoopbackServer, Running
from hatch_sigstore.sandbox._oidc import TokenIssuer
from hatch_sigstore.sandbox._rekor import TransparencyLog
from hatch_sigstore.sandbox._rekor_v2 import TransparencyLogV2
from hatch_sigstore.sandbox._sigstore_http import TSA_PATH, Services, SigstoreHandler
from hatch_sigstore.sandbox._tsa import TimestampAuthority

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig, TrustedRoot

    from hatch_sigstore.identity import ExpectedIdentity

__all__ = ["SERVICES", "LocalSigstore"]

Service = Literal["fulcio", "rekor", "rekor_create", "rekor_retrieve", "oidc", "tsa"]
SERVICES: tuple[str, ...] = ("fulcio", "rekor", "rekor_create", "rekor_retrieve", "oidc")
# A sandbox with ``rekor_v2=True`` also knows this one (its timestamp authority).
_TSA_SERVICE = "tsa"


@dataclass
class _Fault:
    status: int | None = None  # answer this status instead of serving
    body: bytes | None = None
    hang: float = 0.0  # or: wait this long first, then serve normally


class LocalSigstore(Running):
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
        self._server = LoopbackServer(SigstoreHandler, owner=self, host=host, port=port)
        # Rekor signs its checkpoints in the name of its host (rekor: `rekor_server.hostname`,
        # pkg/api/tlog.go; rekor-tiles: the log's origin), and verifiers such as sigstore-js
        # take a checkpoint only from a log whose trusted-root baseUrl matches that name.
        log_host = urlsplit(self._server.url).netloc
        self._log = TransparencyLog(origin_host=log_host)
        self._log_v2 = TransparencyLogV2(origin=log_host) if rekor_v2 else None
        self._tsa = TimestampAuthority() if rekor_v2 else None
        self.services = Services(
            self._oidc, self._ca, self._log, self._log_v2, self._tsa, self._gitlab_url
        )
        self._lock = threading.Lock()
        self._stats: dict[str, int] = {"fulcio": 0, "rekor_create": 0, "rekor_retrieve": 0}
        if rekor_v2:
            self._stats["tsa"] = 0
        self._service_names = (*SERVICES, _TSA_SERVICE) if rekor_v2 else SERVICES
        self._faults: dict[str, collections.deque[_Fault]] = {
            s: collections.deque() for s in self._service_names
        }
        self._stopping = threading.Event()
        self._stop_requested = threading.Event()
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
    # Every method here takes the same options: the job (``project_path``, ``ref``, ``ref_type``,
    # ``config_path``, ``project_id``, ``ref_protected``, ``pipeline_id``, ``sha``, ... — the
    # fields of :class:`~hatch_sigstore.sandbox._gitlab_job.Job`) and claims to override.
    def token_claims(self, **options: Any) -> dict[str, Any]:
        """The claims :meth:`mint_token` would sign for the same options."""
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
        **options: Any,
    ) -> str:
        """An ID token of a GitLab CI job in ``project_path`` at ``ref``, as GitLab mints it
        for ``id_tokens:`` with ``aud: AUDIENCE``; any other :class:`Job` field in ``options``
        (``ref_protected``, ``pipeline_id``, ...), any other option overrides that claim.

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
                **options,
            )
        )

    def ci_env(
        self, *, expires_in: float = 600, audience: str = "sigstore", **options: Any
    ) -> dict[str, str]:
        """The predefined CI variables of that job, with its ``SIGSTORE_ID_TOKEN`` and the
        sandbox's ``HATCH_SIGSTORE_TRUST_CONFIG``."""
        job, overrides = self._oidc.job(**options)
        claims = self._oidc.claims_of(
            job, audience=audience, expires_in=expires_in, overrides=overrides
        )
        return {
            **job.variables(self._gitlab_url),
            "SIGSTORE_ID_TOKEN": self._oidc.mint(claims),
            "HATCH_SIGSTORE_TRUST_CONFIG": str(self.trust_config_path),
        }

    def expected_identity(self, **options: Any) -> ExpectedIdentity:
        """Who a token minted with the same options signs as."""
        from hatch_sigstore.identity import ExpectedIdentity

        job, _ = Job.of(options)
        return ExpectedIdentity(
            server=self._gitlab_url,
            project_path=job.project_path,
            ref=job.ref_path,
            config_path=job.config_path,
            project_id=job.project_id,
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
            known = ", ".join(self._service_names)
            raise ValueError(f"unknown service {service!r}; use one of {known}")
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

    def _arrive(self, service: str | None) -> tuple[int, bytes | None] | None:
        """Count the request, apply latency, and pop the fault planned for it: the status and
        body to answer with instead, if any."""
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
        if fault is None or fault.status is None:
            return None
        return fault.status, fault.body

    # -- trust config and state ---------------------------------------------------------
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
                tsa_url=self.url + TSA_PATH,
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
