"""A local stand-in for PyPI (warehouse): trusted publishing, PEP 740 uploads, the read APIs.

NEVER for production. It speaks warehouse's wire protocol over HTTP on loopback, modelled on
warehouse's source (each private module cites the files it follows):

- trusted publishing from GitLab: ``GET /_/oidc/audience``, ``POST /_/oidc/mint-token`` (ID
  token in, 900-second project-scoped ``pypi-…`` token out; every warehouse error);
- the legacy upload, ``POST /legacy/`` (twine's multipart form), with warehouse's checks in
  order, its status codes and its reason phrases, PEP 740 attestations verified against the
  publisher's identity and the configured Sigstore trust root;
- the simple API (PEP 503 HTML / PEP 691 JSON, PEP 658 metadata, PEP 740 provenance URLs), the
  JSON API, the integrity API and the files;
- fault injection (the GitLab stand-in's :class:`FaultInjector`).

PyPI serves uploads on ``upload.pypi.org`` and everything else on ``pypi.org`` (files on
``files.pythonhosted.org``); the stand-in serves all of them on one listener, by path:
``{url}/legacy/`` stands for ``https://upload.pypi.org/legacy/`` and ``{url}`` for
``https://pypi.org``. A client finds the token exchange at the upload URL's origin
(``https://upload.pypi.org/_/oidc/mint-token`` works on PyPI too, which is what twine and
pypa/gh-action-pypi-publish use), so here: ``urljoin(upload_url, "/_/oidc/mint-token")``.

    with LocalSigstore(gitlab_url="https://gitlab.com") as sigstore, PyPIIndex() as pypi:
        pypi.trust_sigstore(sigstore)
        pypi.create_project("demo-pkg")
        pypi.add_gitlab_publisher("demo-pkg", "group/project")
        id_token = sigstore.mint_token(project_path="group/project", audience="pypi")
        ...  # POST {pypi.url}/_/oidc/mint-token, then twine upload --repository-url
        ...  # {pypi.upload_url} -u __token__ -p <token> --attestations dist/*
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from hatch_sigstore.sandbox._pypi_admin import admin
from hatch_sigstore.sandbox._pypi_http import PyPIRequest, pyramid_response
from hatch_sigstore.sandbox._pypi_oidc import OIDCSettings, TrustedPublishing
from hatch_sigstore.sandbox._pypi_read import Reader
from hatch_sigstore.sandbox._pypi_store import (
    GITLAB_COM,
    GitLabPublisher,
    PendingGitLabPublisher,
    Project,
    Store,
)
from hatch_sigstore.sandbox._pypi_tokens import issue_user_token
from hatch_sigstore.sandbox._pypi_upload import UploadSettings, handle_legacy
from hatch_sigstore.sandbox._standin import StandIn
from hatch_sigstore.sandbox._wire import RequestInfo, RequestRecord, Response

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

    from hatch_sigstore.sandbox.sigstore import LocalSigstore

__all__ = ["FileRecord", "PyPIIndex", "RequestInfo", "RequestRecord"]


class FileRecord(NamedTuple):
    """One stored file: ``(project, version, filename, sha256, has_provenance)``."""

    project: str
    version: str
    filename: str
    sha256: str
    has_provenance: bool


def _publisher(
    repository: str, workflow_filepath: str, environment: str, issuer_url: str
) -> tuple[str, str, str, str, str]:
    """A GitLab publisher's identity: namespace, project, CI file, environment, issuer."""
    if "/" not in repository:
        raise ValueError(f"repository must be 'namespace/project', not {repository!r}")
    namespace, name = repository.rsplit("/", 1)
    return namespace, name, workflow_filepath, environment, issuer_url.rstrip("/")


class PyPIIndex(StandIn[None]):
    """The PyPI stand-in. A context manager; also ``start()``/``stop()``.

    ``trusted_root``: the Sigstore trust root attestations are verified against: ``None``
    for production's (embedded in sigstore-python, used offline), a ``TrustedRoot``, or the
    path of a ``trusted_root.json`` or ClientTrustConfig file. :meth:`trust_sigstore` sets it
    to a :class:`LocalSigstore`'s. ``state_dir`` holds the files (a temp dir, removed on
    ``stop()``, when None). ``clock`` gives the time tokens are checked against.
    """

    service = "pypi"
    server_header = "hatch-sigstore-pypi-sandbox"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: Path | None = None,
        trusted_root: TrustedRoot | Path | str | None = None,
        audience: str = "pypi",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host=host, port=port, state_dir=state_dir, temp_prefix="pypi-index-")
        self.store = Store(self.state_dir)
        self.clock = clock
        self.oidc = OIDCSettings(audience=audience)
        self.uploads = UploadSettings()
        self._trusted_root: Any = trusted_root
        self._verifier: Verifier | None = None
        self._verifier_lock = threading.Lock()
        self._publishing = TrustedPublishing(self.store, self.oidc, clock)
        self._reader = Reader(self.store, self.url)

    # -- coordinates -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The index, ``https://pypi.org`` (no trailing slash)."""
        return super().url

    @property
    def upload_url(self) -> str:
        """The upload endpoint, ``https://upload.pypi.org/legacy/`` (twine's
        ``--repository-url``)."""
        return f"{self.url}/legacy/"

    @property
    def simple_url(self) -> str:
        """pip's ``--index-url``: ``https://pypi.org/simple/``."""
        return f"{self.url}/simple/"

    @property
    def help_url(self) -> str:
        return f"{self.url}/help/"

    @classmethod
    def beside(cls, sigstore: LocalSigstore, *, host: str = "127.0.0.1") -> PyPIIndex:
        """A started index trusting ``sigstore`` (``sandbox serve --pypi``); its URLs go to
        ``pypi.json`` in the sandbox's state dir."""
        index = cls(host=host)
        index.trust_sigstore(sigstore)
        index.start()
        info = {
            "url": index.url,
            "upload_url": index.upload_url,
            "simple_url": index.simple_url,
            "issuer": sigstore.gitlab_url,
            "warning": "hatch-sigstore sandbox: NEVER FOR PRODUCTION",
        }
        path = sigstore.state_dir / "pypi.json"
        path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        return index

    def banner(self) -> str:
        """What ``sandbox serve --pypi`` prints about this index."""
        return (
            "hatch-sigstore sandbox: PyPI stand-in. NEVER FOR PRODUCTION.\n"
            f"  index:         {self.url}   (pypi.org; pip --index-url {self.simple_url})\n"
            f"  upload:        {self.upload_url}   (upload.pypi.org/legacy/)\n"
            f"  audience:      {self.url}/_/oidc/audience\n"
            f'  token:         POST {self.url}/_/oidc/mint-token  {{"token": <ID token>}}\n'
            f"  publisher:     curl -s -X POST {self.url}/_sandbox/publishers -d "
            """'{"project": "my-pkg", "repository": "group/project"}'\n"""
        )

    # -- trust -------------------------------------------------------------------------------
    def resolve_issuer(self, issuer_url: str, discovery_url: str) -> None:
        """Fetch ``issuer_url``'s OIDC discovery document (and so its JWKS) from
        ``discovery_url`` (a loopback URL): the sandbox's stand-in for DNS."""
        self.oidc.discovery[issuer_url.rstrip("/")] = discovery_url.rstrip("/")

    def add_custom_gitlab_issuer(self, issuer_url: str) -> None:
        """Accept ID tokens of a self-managed GitLab (an organization's custom issuer;
        ``https://gitlab.com`` is built in)."""
        self.oidc.custom_gitlab_issuers.add(issuer_url.rstrip("/"))

    def set_trusted_root(self, trusted_root: TrustedRoot | Path | str | None) -> None:
        with self._verifier_lock:
            self._trusted_root = trusted_root
            self._verifier = None

    def trust_sigstore(self, sigstore: LocalSigstore) -> None:
        """Take ID tokens from ``sigstore``'s issuer (its ``gitlab_url``, a custom issuer
        unless it is ``https://gitlab.com``) and verify attestations with its trust root."""
        issuer = sigstore.gitlab_url
        self.resolve_issuer(issuer, sigstore.url)
        if issuer != GITLAB_COM:
            self.add_custom_gitlab_issuer(issuer)
        self.set_trusted_root(sigstore.trusted_root())

    def verifier(self) -> Verifier:
        """The sigstore ``Verifier`` attestations are checked with (made on first use)."""
        with self._verifier_lock:
            if self._verifier is None:
                from sigstore.models import ClientTrustConfig, TrustedRoot
                from sigstore.verify import Verifier

                root = self._trusted_root
                if root is None:
                    self._verifier = Verifier.production(offline=True)
                else:
                    if isinstance(root, (str, Path)):
                        text = Path(root).read_text(encoding="utf-8")
                        if "trustedRoot" in json.loads(text):
                            root = ClientTrustConfig.from_json(text).trusted_root
                        else:
                            root = TrustedRoot.from_file(str(root))
                    self._verifier = Verifier(trusted_root=root)
            return self._verifier

    # -- projects, publishers, tokens --------------------------------------------------------
    def create_project(self, name: str, *, owner: str = "owner") -> Project:
        """A project (empty: warehouse creates one on its first upload) owned by ``owner``."""
        with self.store.lock:
            if self.store.project(name) is not None:
                raise ValueError(f"project {name!r} exists")
            return self.store.add_project(name, self.store.user(owner))

    def project(self, name: str) -> Project | None:
        with self.store.lock:
            return self.store.project(name)

    def add_gitlab_publisher(
        self,
        project: str,
        repository: str = "group/project",
        *,
        workflow_filepath: str = ".gitlab-ci.yml",
        environment: str = "",
        issuer_url: str = GITLAB_COM,
    ) -> GitLabPublisher:
        """Register a GitLab trusted publisher for ``project`` (an existing project): the
        GitLab project ``repository`` (``namespace/project``, case-insensitive), its CI file,
        an optional environment. The same publisher on two projects is one row."""
        key = _publisher(repository, workflow_filepath, environment, issuer_url)
        with self.store.lock:
            target = self.store.project(project)
            if target is None:
                raise KeyError(f"no project {project!r}; create_project() it first")
            publisher = next(
                (
                    p
                    for p in self.store.publishers
                    if (p.namespace, p.project, p.workflow_filepath, p.environment, p.issuer_url)
                    == key
                ),
                None,
            )
            if publisher is None:
                publisher = GitLabPublisher(*key)
                self.store.publishers.append(publisher)
            if target not in publisher.projects:
                publisher.projects.append(target)
                target.publishers.append(publisher)
            return publisher

    def add_pending_gitlab_publisher(
        self,
        project: str,
        repository: str = "group/project",
        *,
        workflow_filepath: str = ".gitlab-ci.yml",
        environment: str = "",
        issuer_url: str = GITLAB_COM,
        added_by: str = "owner",
    ) -> PendingGitLabPublisher:
        """A pending publisher: its first token exchange creates ``project``."""
        key = _publisher(repository, workflow_filepath, environment, issuer_url)
        with self.store.lock:
            pending = PendingGitLabPublisher(project, self.store.user(added_by), *key)
            self.store.pending.append(pending)
            return pending

    def api_token(self, *, user: str = "owner", project: str | None = None) -> str:
        """A user's API token: for every project of ``user`` (None), or scoped to one.
        Uploads with it cannot carry attestations (PyPI needs trusted publishing for them)."""
        with self.store.lock:
            scope = None
            if project is not None:
                found = self.store.project(project)
                if found is None:
                    raise KeyError(f"no project {project!r}")
                scope = [found]
            account = self.store.user(user)
            return issue_user_token(self.store, account, projects=scope, description="api").token

    def add_maintainer(self, project: str, user: str) -> None:
        with self.store.lock:
            found = self.store.project(project)
            if found is None:
                raise KeyError(f"no project {project!r}")
            found.maintainers.add(self.store.user(user).id)

    def expire_token(self, token: str) -> None:
        """Make an API or trusted-publishing token expired (as after its 900 s)."""
        with self.store.lock:
            macaroon = self.store.macaroons[token]
            past = int(self.clock()) - 1
            macaroon.caveats = [
                ("expiration", past, past - 900) if c[0] == "expiration" else c
                for c in macaroon.caveats
            ]
            if not any(c[0] == "expiration" for c in macaroon.caveats):
                macaroon.caveats.append(("expiration", past, past - 900))

    def delete_token(self, token: str) -> None:
        with self.store.lock:
            del self.store.macaroons[token]

    def delete_file(self, filename: str) -> None:
        """Delete a file; its name stays used forever (PyPI's file-name-reuse rule)."""
        with self.store.lock:
            for project in self.store.projects.values():
                for release in project.releases:
                    for file in release.files:
                        if file.filename == filename:
                            release.files.remove(file)
                            self.store.blob(file).unlink(missing_ok=True)
                            self.store.journal(project)
                            return
        raise KeyError(filename)

    def age_release(self, project: str, version: str, days: float) -> None:
        """Backdate a release by ``days`` (uploads to releases older than 14 days fail)."""
        with self.store.lock:
            found = self.store.project(project)
            release = found.release(version) if found is not None else None
            if release is None:
                raise KeyError(f"{project} {version}")
            release.created -= datetime.timedelta(days=days)

    # -- inspection --------------------------------------------------------------------------
    def files(self, project: str | None = None) -> list[FileRecord]:
        with self.store.lock:
            projects = (
                list(self.store.projects.values())
                if project is None
                else [p for p in [self.store.project(project)] if p is not None]
            )
            return [
                FileRecord(p.name, r.version, f.filename, f.sha256, f.provenance is not None)
                for p in projects
                for r in p.releases
                for f in r.files
            ]

    def file_path(self, filename: str) -> Path:
        with self.store.lock:
            for project in self.store.projects.values():
                for file in project.files():
                    if file.filename == filename:
                        return self.store.blob(file)
        raise KeyError(filename)

    def provenance(self, filename: str) -> dict[str, Any] | None:
        with self.store.lock:
            for project in self.store.projects.values():
                for file in project.files():
                    if file.filename == filename:
                        return file.provenance
        raise KeyError(filename)

    @property
    def jwks_fetches(self) -> int:
        """How often the JWKS was fetched from an issuer (warehouse caches it)."""
        return self._publishing.keys.fetches

    # -- what the handler asks -----------------------------------------------------------------
    def _context(self) -> None:
        return None

    def _internal_error(self, req: PyPIRequest) -> Response:
        return pyramid_response(500, accept=req.headers.get("accept"))

    def _route(self, req: PyPIRequest) -> Response:
        path, method = req.path, req.method
        accept = req.headers.get("accept")
        segs = path.split("/")[1:]
        if path in ("/_/oidc/audience",):
            if method not in ("GET", "HEAD"):
                return pyramid_response(405, accept=accept)
            return self._publishing.audience()
        if path in ("/_/oidc/mint-token", "/_/oidc/github/mint-token"):
            if method != "POST":
                return pyramid_response(405, accept=accept)
            return self._publishing.mint_token(req.body.read(1 << 20))
        if path == "/legacy/" and method == "POST":
            return handle_legacy(
                req,
                store=self.store,
                settings=self.uploads,
                verifier=self.verifier,
                help_url=self.help_url,
                clock=self.clock,
            )
        if path == "/legacy" and method == "POST":
            message = (
                "An upload was attempted to /legacy but the expected upload URL is /legacy/ "
                "(with a trailing slash)"
            )
            return pyramid_response(308, message, accept=accept, reason=message,
                                    headers={"Location": "/legacy/"})  # fmt: skip
        if path.startswith("/_sandbox/") and method == "POST":
            return admin(self, path, req.body.read(1 << 20))
        if method not in ("GET", "HEAD"):
            return pyramid_response(405, accept=accept)
        if path == "/simple/":
            return self._reader.simple_index(accept)
        if len(segs) == 3 and segs[0] == "simple" and segs[1] and segs[2] == "":
            return self._reader.simple_detail(segs[1], accept)
        if len(segs) == 2 and segs[0] == "simple" and segs[1]:
            return Response(301, {"Location": f"{path}/"}, b"")  # append_slash
        if segs[:1] == ["pypi"] and (segs[-1] == "json" or segs[-2:] == ["json", ""]):
            inner = segs[1:-1] if segs[-1] == "json" else segs[1:-2]
            if len(inner) in (1, 2) and all(inner):
                version = inner[1] if len(inner) == 2 else None
                return self._reader.json_project(inner[0], version, path)
        if len(segs) == 5 and segs[0] == "integrity" and segs[4] == "provenance":
            return self._reader.provenance(
                segs[1], segs[2], segs[3], accept, self.uploads.pep740_enabled
            )
        if path.startswith("/packages/"):
            return self._reader.package_file(path)
        if path == "/legacy/":
            page = b"<!DOCTYPE html><html><body><h1>Upload API</h1></body></html>"
            return Response(200, {"Content-Type": "text/html; charset=UTF-8"}, page)
        return Response(404, {"Content-Type": "text/html; charset=UTF-8"}, b"Not Found")
