"""A GitLab CI job, described once: the claims of its ID tokens and its predefined CI variables.

The sandbox's token issuer and its CI environment both read a :class:`Job`, so a token and the
variables beside it always tell the same story (project, ref, protection, pipeline, job, sha).

Claims as ``Gitlab::Ci::JwtV2`` mints them for ``id_tokens:`` (``lib/gitlab/ci/jwt_v2.rb`` over
``lib/gitlab/ci/jwt.rb``, ``lib/json_web_token/user_project_token_claims.rb`` and
``lib/gitlab/ci/jwt_v2/claim_mapper.rb``): every id a string except ``runner_id``; ``nbf`` five
seconds before ``iat`` (``Ci::Jwt::NOT_BEFORE_TIME``); ``sub`` built from project path, ref type
and ref; ``ci_config_ref_uri`` without a scheme, from ``Settings.build_server_fqdn``.

Variables as ``Project#predefined_variables`` (``app/models/project.rb``),
``Gitlab::Ci::Variables::Builder`` and ``Builder::Pipeline``
(``lib/gitlab/ci/variables/builder.rb``, ``builder/pipeline.rb``) and ``Ci::Pipeline`` /
``Ci::Build`` set them: ``CI_COMMIT_BRANCH`` only in branch pipelines, ``CI_COMMIT_TAG`` and
``CI_COMMIT_TAG_MESSAGE`` only in tag pipelines.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "NOT_BEFORE_TIME",
    "Job",
    "full_ref",
    "ref_slug",
    "server_fqdn",
]

NOT_BEFORE_TIME = 5  # Ci::Jwt::NOT_BEFORE_TIME: nbf = iat - 5
_NULL_SHA = "0" * 40
GITLAB_COM = "https://gitlab.com"


def server_fqdn(server_url: str) -> str:
    """``Settings.build_server_fqdn`` (``CI_SERVER_FQDN``): host, ``:port`` unless it is the
    scheme's default, and the relative URL root, without the scheme."""
    parts = urlsplit(server_url.rstrip("/"))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    default = {"http": ":80", "https": ":443"}.get(parts.scheme)
    if default is not None and netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return f"{netloc}{parts.path}"


def full_ref(ref: str, ref_type: str) -> str:
    """``refs/heads/REF`` for a branch, ``refs/tags/REF`` for a tag (already-full refs pass)."""
    if ref.startswith("refs/"):
        return ref
    return f"refs/tags/{ref}" if ref_type == "tag" else f"refs/heads/{ref}"


def ref_slug(ref: str) -> str:
    """``Gitlab::Utils.slugify`` (``CI_COMMIT_REF_SLUG``): lowercased, ``[^a-z0-9]`` → ``-``,
    63 bytes, dashes trimmed."""
    return re.sub(r"[^a-z0-9]", "-", ref.lower())[:63].strip("-")


@dataclass(frozen=True)
class Job:
    """One job of a pipeline; field names are the claims' where a claim carries them.

    ``ref`` is short (``main``, ``v1.2.3``) or full (``refs/tags/v1.2.3``, which sets the ref
    type). ``ref_protected`` None: protected if it is the default branch or a tag (GitLab
    protects the default branch on creation; a release process protects its tags). Ids left
    None are derived: ``job_id`` is the pipeline's first job, ``sha`` a stable fake commit of
    the project at that ref.
    """

    project_path: str = "group/project"
    project_id: str = "42"
    ref: str = "main"
    ref_type: str = "branch"
    config_path: str = ".gitlab-ci.yml"
    ref_protected: bool | None = None
    default_branch: str = "main"
    pipeline_id: str = "1001"
    pipeline_iid: str | None = None
    pipeline_source: str = "push"
    job_id: str | None = None
    sha: str | None = None
    project_visibility: str = "private"
    namespace_id: str | None = None
    user_id: str = "1"
    user_login: str = "sandbox-user"
    user_email: str = "sandbox-user@example.invalid"
    user_access_level: str = "developer"
    runner_id: int = 1
    runner_environment: str | None = None  # None: gitlab-hosted on gitlab.com, else self-hosted

    def __post_init__(self) -> None:
        if self.ref_type not in ("branch", "tag"):
            raise ValueError(f"ref_type must be 'branch' or 'tag', not {self.ref_type!r}")
        for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
            if self.ref.startswith(prefix):
                object.__setattr__(self, "ref", self.ref[len(prefix) :])
                object.__setattr__(self, "ref_type", kind)
        for name in ("project_id", "pipeline_id", "pipeline_iid", "job_id", "namespace_id",
                     "user_id"):  # fmt: skip
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, str(value))
        protected: object = self.ref_protected
        if isinstance(protected, str):  # the claim's spelling: "true" / "false"
            object.__setattr__(self, "ref_protected", protected == "true")

    @classmethod
    def of(cls, options: dict[str, Any]) -> tuple[Job, dict[str, Any]]:
        """Split keyword options into a job and the claims to override (the rest)."""
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in options.items() if k in names and v is not None}
        return cls(**fields), {k: v for k, v in options.items() if k not in fields}

    # -- derived facts ----------------------------------------------------------------------
    @property
    def ref_path(self) -> str:
        return full_ref(self.ref, self.ref_type)

    @property
    def protected(self) -> bool:
        if self.ref_protected is not None:
            return self.ref_protected
        return self.ref_type == "tag" or self.ref == self.default_branch

    @property
    def namespace_path(self) -> str:
        path = self.project_path
        return path.rsplit("/", 1)[0] if "/" in path else path

    @property
    def namespace(self) -> str:
        """The namespace's id (stable for its path when not given)."""
        if self.namespace_id is not None:
            return self.namespace_id
        return str(zlib.crc32(self.namespace_path.encode()) % 900000 + 100000)

    @property
    def commit(self) -> str:
        """The commit the pipeline runs for (``CI_COMMIT_SHA``)."""
        if self.sha:
            return self.sha
        key = f"{self.project_path}@{self.ref_path}".encode()
        return hashlib.sha1(key, usedforsecurity=False).hexdigest()

    @property
    def job(self) -> str:
        return self.job_id if self.job_id is not None else str(int(self.pipeline_id) * 10 + 1)

    @property
    def iid(self) -> str:
        """The pipeline's number within its project (``CI_PIPELINE_IID``)."""
        if self.pipeline_iid is not None:
            return self.pipeline_iid
        return str(int(self.pipeline_id) % 1000 or 1000)  # 1 and up

    def runner(self, server_url: str) -> str:
        """``runner_environment``: GitLab.com's instance runners are ``gitlab-hosted``; every
        runner of a self-managed instance is ``self-hosted``."""
        if self.runner_environment is not None:
            return self.runner_environment
        return "gitlab-hosted" if server_url.rstrip("/") == GITLAB_COM else "self-hosted"

    # -- what GitLab gives the job ------------------------------------------------------------
    def claims(self, *, issuer: str, audience: str, iat: int, exp: int, jti: str) -> dict[str, Any]:
        """The ID token's claims (``Gitlab::Ci::JwtV2#payload``), issued by ``issuer`` (the
        instance URL, ``ci_id_tokens.issuer_url``)."""
        bool_text = "true" if self.protected else "false"
        return {
            # JSONWebToken::UserProjectTokenClaims (project_claims + user_claims)
            "namespace_id": self.namespace,
            "namespace_path": self.namespace_path,
            "project_id": self.project_id,
            "project_path": self.project_path,
            "user_id": self.user_id,
            "user_login": self.user_login,
            "user_email": self.user_email,
            "user_access_level": self.user_access_level,
            # job_project_claims: the project running the job (the same outside fork MRs)
            "job_project_id": self.project_id,
            "job_project_path": self.project_path,
            "job_namespace_id": self.namespace,
            "job_namespace_path": self.namespace_path,
            # Ci::Jwt#ci_claims
            "pipeline_id": self.pipeline_id,
            "pipeline_source": self.pipeline_source,
            "job_id": self.job,
            "ref": self.ref,
            "ref_type": self.ref_type,
            "ref_path": self.ref_path,
            "ref_protected": bool_text,
            # JwtV2#predefined_claims
            "runner_id": self.runner_id,
            "runner_environment": self.runner(issuer),
            "sha": self.commit,
            "project_visibility": self.project_visibility,
            # ClaimMapper (repository source)
            "ci_config_ref_uri": (
                f"{server_fqdn(issuer)}/{self.project_path}//{self.config_path}@{self.ref_path}"
            ),
            "ci_config_sha": self.commit,
            # default_payload
            "jti": jti,
            "iss": issuer,
            "iat": iat,
            "nbf": iat - NOT_BEFORE_TIME,
            "exp": exp,
            "sub": f"project_path:{self.project_path}:ref_type:{self.ref_type}:ref:{self.ref}",
            "aud": audience,
        }

    def variables(self, server_url: str) -> dict[str, str]:
        """The predefined variables GitLab gives the job on the instance at ``server_url``."""
        server = server_url.rstrip("/")
        split = urlsplit(server)
        project_url = f"{server}/{self.project_path}"
        env = {
            # Project#predefined_ci_server_variables, #api_variables
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_SERVER_URL": server,
            "CI_SERVER_HOST": split.hostname or "",
            "CI_SERVER_PORT": str(split.port or (443 if split.scheme == "https" else 80)),
            "CI_SERVER_PROTOCOL": split.scheme,
            "CI_SERVER_FQDN": server_fqdn(server),
            "CI_SERVER_NAME": "GitLab",
            "CI_API_V4_URL": f"{server}/api/v4",
            # Project#predefined_project_variables
            "CI_PROJECT_ID": self.project_id,
            "CI_PROJECT_NAME": self.project_path.rsplit("/", 1)[-1],
            "CI_PROJECT_PATH": self.project_path,
            "CI_PROJECT_PATH_SLUG": ref_slug(self.project_path),
            "CI_PROJECT_NAMESPACE": self.namespace_path,
            "CI_PROJECT_NAMESPACE_ID": self.namespace,
            "CI_PROJECT_ROOT_NAMESPACE": self.project_path.split("/", 1)[0],
            "CI_PROJECT_URL": project_url,
            "CI_PROJECT_VISIBILITY": self.project_visibility,
            "CI_DEFAULT_BRANCH": self.default_branch,
            "CI_CONFIG_PATH": self.config_path,
            # Ci::Pipeline#persisted_variables, Builder::Pipeline
            "CI_PIPELINE_ID": self.pipeline_id,
            "CI_PIPELINE_URL": f"{project_url}/-/pipelines/{self.pipeline_id}",
            "CI_PIPELINE_IID": self.iid,
            "CI_PIPELINE_SOURCE": self.pipeline_source,
            "CI_COMMIT_SHA": self.commit,
            "CI_COMMIT_SHORT_SHA": self.commit[:8],
            "CI_COMMIT_BEFORE_SHA": _NULL_SHA,
            "CI_COMMIT_REF_NAME": self.ref,
            "CI_COMMIT_REF_SLUG": ref_slug(self.ref),
            "CI_COMMIT_REF_PROTECTED": "true" if self.protected else "false",
            # Ci::Build#persisted_variables
            "CI_JOB_ID": self.job,
            "CI_JOB_URL": f"{project_url}/-/jobs/{self.job}",
            # Builder#user_variables
            "GITLAB_USER_ID": self.user_id,
            "GITLAB_USER_LOGIN": self.user_login,
            "GITLAB_USER_EMAIL": self.user_email,
        }
        if self.ref_type == "tag":
            env["CI_COMMIT_TAG"] = self.ref
            env["CI_COMMIT_TAG_MESSAGE"] = ""  # a lightweight tag
        else:
            env["CI_COMMIT_BRANCH"] = self.ref
        return env
