"""State of the GitLab stand-in: projects, users, tokens, PyPI and generic packages.

Metadata lives in memory (guarded by one lock); file contents live on disk under the state dir.
"""

from __future__ import annotations

import itertools
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, NamedTuple

__all__ = [
    "ACCESS_LEVELS",
    "ROLES",
    "DeployToken",
    "GenericFile",
    "GenericFileTuple",
    "GenericPackage",
    "JobToken",
    "PersonalToken",
    "Project",
    "ProtectionRule",
    "PypiFile",
    "PypiFileTuple",
    "PypiPackage",
    "Store",
    "User",
    "now",
]

Visibility = Literal["private", "internal", "public"]
ROLES: dict[str, int] = {
    "guest": 10,
    "planner": 15,
    "reporter": 20,
    "developer": 30,
    "maintainer": 40,
    "owner": 50,
}
# Gitlab::Access.sym_options_with_admin: the levels a protection rule can require
ACCESS_LEVELS: dict[str, int] = {"maintainer": 40, "owner": 50, "admin": 60}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Project:
    """A project of the stand-in. ``url`` is its web URL, ``api_url`` its API root."""

    id: int
    path: str
    url: str
    visibility: str = "private"

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def api_url(self) -> str:
        base = self.url[: -len(self.path) - 1]
        return f"{base}/api/v4/projects/{self.id}"


@dataclass
class User:
    id: int
    username: str
    default_role: int = 0  # the role in every project not listed in ``roles``
    roles: dict[int, int] = field(default_factory=dict)

    def role_in(self, project_id: int) -> int:
        return self.roles.get(project_id, self.default_role)


@dataclass
class PersonalToken:
    token: str
    user: User
    scopes: frozenset[str]
    revoked: bool = False
    expired: bool = False


@dataclass
class DeployToken:
    token: str
    username: str
    project_id: int
    scopes: frozenset[str]
    revoked: bool = False


@dataclass
class JobToken:
    token: str
    user: User
    project_id: int
    running: bool = True


@dataclass
class PypiFile:
    id: int
    package_id: int
    file_name: str
    sha256_digest: str | None  # as sent by the client (what GitLab indexes and serves)
    md5_digest: str | None
    sha256: str  # of the bytes actually stored
    size: int
    blob: Path
    seq: int
    created_at: str
    requires_python: str = ""
    file_store: int = 1  # 1 local, 2 object storage
    object_key: str = ""


@dataclass
class PypiPackage:
    id: int
    project_id: int
    name: str
    version: str
    metadata: dict[str, str]
    files: list[PypiFile] = field(default_factory=list)
    created_at: str = field(default_factory=now)
    last_downloaded_at: str | None = None


@dataclass
class GenericFile:
    id: int
    package_id: int
    file_name: str
    sha256: str
    size: int
    blob: Path
    seq: int
    created_at: str
    file_store: int = 1  # 1 local, 2 object storage
    object_key: str = ""


@dataclass
class GenericPackage:
    id: int
    project_id: int
    name: str
    version: str
    status: str = "default"
    files: list[GenericFile] = field(default_factory=list)
    created_at: str = field(default_factory=now)
    last_downloaded_at: str | None = None


@dataclass(frozen=True)
class ProtectionRule:
    """``Packages::Protection::Rule`` (app/models/packages/protection/rule.rb)."""

    id: int
    project_id: int
    package_name_pattern: str
    package_type: str
    minimum_access_level_for_push: str | None
    minimum_access_level_for_delete: str | None = None


class PypiFileTuple(NamedTuple):
    name: str
    version: str
    filename: str
    sha256: str  # of the stored bytes


class GenericFileTuple(NamedTuple):
    name: str
    version: str
    filename: str
    sha256: str
    created_seq: int


class Store:
    """All state, thread-safe. ``root`` holds the blobs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self._project_ids = itertools.count(1)
        self._group_ids = itertools.count(1001)  # apart from project ids, as in a real GitLab
        self.group_ids: dict[str, int] = {}
        self._seq = itertools.count(1)
        self.projects: dict[int, Project] = {}
        self.users: dict[int, User] = {}
        self.personal_tokens: dict[str, PersonalToken] = {}
        self.deploy_tokens: dict[str, DeployToken] = {}
        self.job_tokens: dict[str, JobToken] = {}
        self.pypi: dict[int, list[PypiPackage]] = {}
        self.generic: dict[int, list[GenericPackage]] = {}
        self.protection_rules: dict[int, list[ProtectionRule]] = {}

    # ids -----------------------------------------------------------------------------------
    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    def next_seq(self) -> int:
        with self.lock:
            return next(self._seq)

    def tmp_path(self) -> Path:
        return self.root / "tmp" / secrets.token_hex(12)

    def blob_path(self, kind: str, file_id: int) -> Path:
        d = self.root / "blobs" / kind
        d.mkdir(exist_ok=True)
        return d / str(file_id)

    # projects ------------------------------------------------------------------------------
    def add_project(self, path: str, visibility: str, base_url: str) -> Project:
        with self.lock:
            if self.find_project_by_path(path) is not None:
                raise ValueError(f"project {path!r} already exists")
            pid = next(self._project_ids)
            project = Project(pid, path, f"{base_url}/{path}", visibility)
            self.projects[pid] = project
            self.pypi[pid] = []
            self.generic[pid] = []
            self.protection_rules[pid] = []
            return project

    def find_project_by_path(self, path: str) -> Project | None:
        lowered = path.lower()
        for project in self.projects.values():
            if project.path.lower() == lowered:
                return project
        return None

    def find_project(self, ident: str) -> Project | None:
        """By numeric id or full path (already percent-decoded), as ``find_project`` does."""
        with self.lock:
            if ident.isdigit() and ident.isascii():
                return self.projects.get(int(ident))
            return self.find_project_by_path(ident)

    def resolve(self, project: Project | int | str) -> Project:
        with self.lock:
            if isinstance(project, Project):
                found: Project | None = self.projects.get(project.id)
            elif isinstance(project, int):
                found = self.projects.get(project)
            else:
                found = self.find_project(project)
            if found is None:
                raise KeyError(f"no such project: {project!r}")
            return found

    # groups: the namespaces of projects ---------------------------------------------------
    def projects_in_group(self, path: str) -> list[Project]:
        prefix = path.lower().rstrip("/") + "/"
        with self.lock:
            return [p for p in self.projects.values() if p.path.lower().startswith(prefix)]

    def group_path(self, ident: str) -> str | None:
        """A group's full path from its numeric id or path (None: no such group)."""
        with self.lock:
            if ident.isdigit() and ident.isascii():
                return next((p for p, i in self.group_ids.items() if i == int(ident)), None)
            return ident.strip("/") if self.projects_in_group(ident) else None

    def group_id(self, path: str) -> int:
        with self.lock:
            key = path.lower()
            if key not in self.group_ids:
                self.group_ids[key] = next(self._group_ids)
            return self.group_ids[key]

    # users and tokens ----------------------------------------------------------------------
    def add_user(self, *, default_role: int = 0, roles: dict[int, int] | None = None) -> User:
        with self.lock:
            uid = len(self.users) + 1
            user = User(uid, f"user{uid}", default_role, dict(roles or {}))
            self.users[uid] = user
            return user

    # files ---------------------------------------------------------------------------------
    def cleanup(self) -> None:
        shutil.rmtree(self.root / "tmp", ignore_errors=True)
