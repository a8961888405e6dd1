"""The PyPI stand-in's state: projects, releases, files, trusted publishers, tokens.

A small in-memory model of warehouse's tables (``warehouse/packaging/models.py``,
``warehouse/oidc/models/gitlab.py``, ``warehouse/macaroons/models.py``), guarded by one lock;
file contents live on disk under the state dir, at warehouse's content-addressed path.
"""

from __future__ import annotations

import datetime
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, canonicalize_version

__all__ = [
    "GITLAB_COM",
    "File",
    "GitLabPublisher",
    "Macaroon",
    "PendingGitLabPublisher",
    "Project",
    "Release",
    "Store",
    "User",
]

# warehouse/oidc/models/gitlab.py GITLAB_OIDC_ISSUER_URL
GITLAB_COM = "https://gitlab.com"
MAX_FILESIZE = 100 * 1024 * 1024  # warehouse/constants.py
MAX_PROJECT_SIZE = 10 * 1024 * 1024 * 1024


def _now() -> datetime.datetime:
    # warehouse stores naive UTC datetimes (``upload_time.isoformat() + "Z"``)
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


@dataclass(eq=False)
class User:
    username: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(eq=False)
class GitLabPublisher:
    """``warehouse/oidc/models/gitlab.py`` GitLabPublisher: one row, shared by its projects."""

    namespace: str
    project: str
    workflow_filepath: str
    environment: str = ""
    issuer_url: str = GITLAB_COM
    projects: list[Project] = field(default_factory=list)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def project_path(self) -> str:
        return f"{self.namespace}/{self.project}"

    @property
    def sub(self) -> str:
        return f"project_path:{self.project_path}"

    @property
    def ci_config_ref_uri(self) -> str:
        # the issuer without "https://", then the project and the CI file: the claim minus "@REF"
        domain = self.issuer_url.removeprefix("https://")
        return f"{domain}/{self.project_path}//{self.workflow_filepath}"

    def attestation_identity(self) -> dict[str, Any]:
        """``attestation_identity``: a pypi_attestations GitLabPublisher, as JSON. It names
        no issuer: pypi-attestations checks ``https://gitlab.com`` whatever the publisher's."""
        return {
            "kind": "GitLab",
            "repository": self.project_path,
            "workflow_filepath": self.workflow_filepath,
            "environment": self.environment or None,
        }

    def publisher_url(self, claims: dict[str, Any] | None = None) -> str:
        base = f"{self.issuer_url}/{self.project_path}"
        return f"{base}/commit/{claims['sha']}" if claims else base


@dataclass(eq=False)
class PendingGitLabPublisher:
    """A publisher that creates its project on first use (``PendingGitLabPublisher``)."""

    project_name: str
    added_by: User
    namespace: str
    project: str
    workflow_filepath: str
    environment: str = ""
    issuer_url: str = GITLAB_COM
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(eq=False)
class File:
    filename: str
    packagetype: str  # sdist | bdist_wheel
    python_version: str
    comment_text: str | None
    size: int
    md5: str
    sha256: str
    blake2_256: str
    path: str  # "ab/cd/rest-of-blake2/filename", as warehouse's File.path
    upload_time: datetime.datetime
    metadata_sha256: str | None = None
    metadata_blake2_256: str | None = None
    provenance: dict[str, Any] | None = None
    uploaded_via: str | None = None
    release: Release | None = None


@dataclass(eq=False)
class Release:
    version: str
    canonical_version: str
    created: datetime.datetime
    requires_python: str | None
    info: dict[str, Any]  # the metadata fields the JSON API shows
    is_prerelease: bool = False
    yanked: bool = False
    yanked_reason: str = ""
    files: list[File] = field(default_factory=list)
    project: Project | None = None


@dataclass(eq=False)
class Project:
    name: str
    created: datetime.datetime
    owners: set[str] = field(default_factory=set)  # user ids with the Owner role
    maintainers: set[str] = field(default_factory=set)  # user ids with the Maintainer role
    publishers: list[GitLabPublisher] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    upload_limit: int | None = None
    total_size_limit: int | None = None
    last_serial: int = 0
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def normalized_name(self) -> str:
        return canonicalize_name(self.name)

    @property
    def upload_limit_size(self) -> int:
        return max(MAX_FILESIZE, self.upload_limit or 0)

    @property
    def total_size_limit_value(self) -> int:
        return max(MAX_PROJECT_SIZE, self.total_size_limit or 0)

    @property
    def total_size(self) -> int:
        return sum(f.size for r in self.releases for f in r.files)

    def release(self, version: str) -> Release | None:
        """``Project.__getitem__``: by canonical version, else the exact one."""
        canonical = canonicalize_version(version)
        found = [r for r in self.releases if r.canonical_version == canonical]
        if len(found) > 1:
            found = [r for r in found if r.version == version]
        return found[0] if len(found) == 1 else None

    def files(self) -> list[File]:
        return [f for r in self.releases for f in r.files]


@dataclass(eq=False)
class Macaroon:
    """An API token (``pypi-…``): a user's, or one minted for a trusted publisher.

    ``caveats`` are warehouse's, in its order: ``("oidc_publisher", id)``,
    ``("project_ids", [ids])``, ``("project_names", [names])``, ``("user", id)``,
    ``("expiration", expires_at, not_before)`` (``warehouse/macaroons/caveats/__init__.py``).
    """

    token: str
    caveats: list[tuple[Any, ...]]
    user: User | None = None
    publisher: GitLabPublisher | None = None
    claims: dict[str, Any] | None = None  # publisher.stored_claims(): ref_path and sha
    description: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


class Store:
    """All of the stand-in's state. Hold :attr:`lock` across read-check-write sequences."""

    def __init__(self, state_dir: Path) -> None:
        self.lock = threading.RLock()
        self.files_dir = state_dir / "packages"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.spool_dir = state_dir / "tmp"
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.projects: dict[str, Project] = {}  # by normalized name
        self.users: dict[str, User] = {}  # by username
        self.publishers: list[GitLabPublisher] = []
        self.pending: list[PendingGitLabPublisher] = []
        self.macaroons: dict[str, Macaroon] = {}  # by token text
        self.filename_log: set[str] = set()  # every file name ever used (``Filename``)
        self.used_jtis: dict[str, int] = {}  # "issuer/jti" -> expiry (the Redis SET NX)
        self.serial = 0  # JournalEntry ids

    def journal(self, project: Project) -> None:
        self.serial += 1
        project.last_serial = self.serial

    def user(self, username: str) -> User:
        if username not in self.users:
            self.users[username] = User(username)
        return self.users[username]

    def project(self, name: str) -> Project | None:
        return self.projects.get(canonicalize_name(name))

    def add_project(self, name: str, owner: User | None) -> Project:
        project = Project(name=name, created=_now())
        if owner is not None:
            project.owners.add(owner.id)
        self.projects[project.normalized_name] = project
        return project

    def file_by_name_or_blake2(self, filename: str, blake2_256: str) -> File | None:
        for project in self.projects.values():
            for file in project.files():
                if file.filename == filename or file.blake2_256 == blake2_256:
                    return file
        return None

    def blob(self, file: File) -> Path:
        return self.files_dir / file.path


def now() -> datetime.datetime:
    return _now()
