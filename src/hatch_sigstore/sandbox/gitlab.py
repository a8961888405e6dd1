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

import json
import secrets
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from hatch_sigstore.sandbox._faults import FaultInjector
from hatch_sigstore.sandbox._gitlab_files import FILE_STORE_LOCAL, FILE_STORE_REMOTE
from hatch_sigstore.sandbox._gitlab_protection import PACKAGE_TYPES, add_rule
from hatch_sigstore.sandbox._gitlab_routes import internal_error, route
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
from hatch_sigstore.sandbox._gitlab_wire import Context, Request, Response
from hatch_sigstore.sandbox._object_store import ObjectStore
from hatch_sigstore.sandbox._standin import StandIn
from hatch_sigstore.sandbox._wire import RequestInfo, RequestRecord

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


class GitLabRegistry(StandIn[Context]):
    """The GitLab package-registry stand-in. A context manager; also ``start()``/``stop()``.

    ``state_dir`` holds the stored files (a temp dir, removed on ``stop()``, when None).
    """

    service = "gitlab"
    server_header = "nginx"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: Path | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(host=host, port=port, state_dir=state_dir, temp_prefix="gitlab-registry-")
        self.store = Store(self.state_dir)
        self.settings = settings if settings is not None else Settings()
        self._deploy_seq = 0
        # Started on first use: where package files go while settings.object_storage is on.
        self.object_store = ObjectStore(
            self.state_dir / "object-store",
            host=host,
            record=self._record,
            on_error=self._server_error,
        )

    # coordinates ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (== ``CI_SERVER_URL``)."""
        return super().url

    @property
    def api_url(self) -> str:
        """``url + "/api/v4"`` (== ``CI_API_V4_URL``)."""
        return f"{self.url}/api/v4"

    @property
    def external_url(self) -> str:
        """The instance's ``external_url``: ``settings.external_url``, else :attr:`url`. Every
        absolute URL the stand-in builds (simple-index links, pagination) starts with it;
        :meth:`add_listener` aliases keep pointing at it."""
        return self.settings.external_url.rstrip("/") or self.url

    def _cleanup(self) -> None:
        self.object_store.stop()
        if self._temp is None:
            self.store.cleanup()

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

    def object_store_requests(self) -> list[RequestInfo]:
        """The requests the object store answered (a copy)."""
        return [i for i in self.request_log if i.service == "object-store"]

    # what the handler asks ---------------------------------------------------------------------
    def _context(self) -> Context:
        return Context(self.store, self.settings, self.external_url, self.object_store)

    def _route(self, req: Request) -> Response:
        return route(req)

    def _internal_error(self, req: Request) -> Response:
        return internal_error()


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - manual use
    """``python -m hatch_sigstore.sandbox.gitlab [--port N] [--state-dir D] [--object-storage
    [--proxy-download]] [--external-url URL] [--pypi-forwarding]``: serve until ^C, after
    printing one JSON line with the URLs, a project and its tokens."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hatch_sigstore.sandbox.gitlab")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--project", default="group/project")
    parser.add_argument("--visibility", default="private")
    parser.add_argument("--object-storage", action="store_true")
    parser.add_argument("--proxy-download", action="store_true")
    parser.add_argument("--external-url", default="")
    # off unless asked for: whoever points pip here must not be sent to pypi.org unawares
    parser.add_argument("--pypi-forwarding", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings(
        object_storage=args.object_storage,
        proxy_download=args.proxy_download,
        external_url=args.external_url,
        pypi_forwarding=args.pypi_forwarding,
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
        registry.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
