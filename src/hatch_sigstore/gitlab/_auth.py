"""Credentials for GitLab's package registries, and the exact headers each route accepts.

GitLab's rules (gitlab-org/gitlab ``lib/api/pypi_packages.rb`` and
``lib/api/generic_packages.rb``, their ``authenticate_with`` and the finders they name):

* PyPI routes take every credential as HTTP Basic. A CI job token works *only* as Basic with the
  user name ``gitlab-ci-token``; the ``JOB-TOKEN`` header is ignored there (the request is then
  anonymous → 401). Personal/project/group access tokens and deploy tokens go in the password; the
  user name is ignored.
* Generic routes take the ``JOB-TOKEN`` header (Basic job-token uploads get 401 before GitLab 19.0),
  ``PRIVATE-TOKEN`` for access tokens and ``DEPLOY-TOKEN`` for deploy tokens.

* The REST API (the Packages API a client asks for a file's sha256) takes ``JOB-TOKEN`` and
  ``PRIVATE-TOKEN`` (or Bearer) but neither Basic auth nor deploy tokens (``lib/api/api_guard.rb``:
  such a request is anonymous).

Tokens are read from environment variables whose *name* is configured; the value never appears
in ``repr``, messages or URLs. Where a token may go (:meth:`Credentials.check_destination`):
never over plain http except to a loopback address, and the CI job token picked up from
``CI_JOB_TOKEN`` without being named only to the job's own GitLab (the origins of
``CI_API_V4_URL`` and ``CI_SERVER_URL``): a consumer job pointed at another instance must not
hand it a live job token.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from hatch_sigstore._urls import origin, plain_http_refusal, same_origin
from hatch_sigstore.errors import ConfigError

__all__ = [
    "CI_JOB_TOKEN_ENV",
    "DEFAULT_TOKEN_ENV",
    "JOB_TOKEN_USER",
    "CredentialKind",
    "Credentials",
]

CredentialKind = Literal["job", "personal", "deploy", "anonymous"]
KINDS: tuple[str, ...] = get_args(CredentialKind)

JOB_TOKEN_USER = "gitlab-ci-token"  # noqa: S105 (a user name)
CI_JOB_TOKEN_ENV = "CI_JOB_TOKEN"  # noqa: S105 (a variable name)
# Where a token is looked for when only its kind is given.
DEFAULT_TOKEN_ENV: dict[str, str] = {
    "job": CI_JOB_TOKEN_ENV,
    "personal": "GITLAB_TOKEN",
    "deploy": "GITLAB_DEPLOY_TOKEN",
}
DEFAULT_DEPLOY_USER_ENV = "GITLAB_DEPLOY_USER"
# GitLab ignores the Basic user name for access and deploy tokens; twine's convention.
_TOKEN_USER = "__token__"  # noqa: S105 (a user name)
# A token goes into an HTTP header: no whitespace or control characters (header injection), and
# nothing absurdly long.
_TOKEN_RE = re.compile(r"\A[\x21-\x7e]{1,4096}\Z")
_ENV_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_GENERIC_HEADER = {"job": "JOB-TOKEN", "personal": "PRIVATE-TOKEN", "deploy": "DEPLOY-TOKEN"}
_PREFIX_KIND = (("glcbt-", "job"), ("gldt-", "deploy"), ("glpat-", "personal"))


def _job_home(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The origins of this job's GitLab: where its job token belongs."""
    homes: list[str] = []
    for var in ("CI_API_V4_URL", "CI_SERVER_URL"):
        value = (environ.get(var) or "").strip()
        if value.startswith(("https://", "http://")) and origin(value) not in homes:
            homes.append(origin(value))
    return tuple(homes)


def _describe_kind(kind: str) -> str:
    return {
        "job": "CI job token",
        "personal": "personal/project/group access token",
        "deploy": "deploy token",
        "anonymous": "no credentials (anonymous)",
    }[kind]


@dataclass(frozen=True)
class Credentials:
    """Who we are to the registry. Build with :meth:`from_env` (or directly in tests).

    ``source`` is the name of the environment variable the token came from (for messages).
    ``home``: the origins the token may be sent to (``None``: wherever the user points the
    client, since they named the token for it); see :meth:`check_destination`.
    """

    kind: CredentialKind
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    source: str | None = None
    home: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(
                f"Unknown GitLab credential kind {self.kind!r}.",
                remediation=f"Use one of: {', '.join(KINDS)}.",
            )
        if self.kind == "anonymous":
            if self.token is not None:
                raise ConfigError("Anonymous credentials cannot carry a token.")
            return
        where = f"the variable {self.source}" if self.source else "the configured token"
        if not self.token:
            raise ConfigError(
                f"The GitLab {_describe_kind(self.kind)} is empty.",
                remediation=f"Set {where} to the token value.",
            )
        if not _TOKEN_RE.match(self.token):
            # Never echo the value: it may be a real token with a stray newline.
            raise ConfigError(
                f"The GitLab {_describe_kind(self.kind)} from {where} contains whitespace, control "
                "or non-ASCII characters, so it cannot be sent in an HTTP header.",
                remediation="Check for a trailing newline or quotes around the value.",
            )
        if self.username is not None and (
            not _TOKEN_RE.match(self.username) or ":" in self.username
        ):
            raise ConfigError(
                "The deploy token user name contains a colon, whitespace or control characters.",
                remediation=(
                    "Use the user name GitLab shows for the deploy token (gitlab+deploy-token-N)."
                ),
            )

    def __repr__(self) -> str:
        token = "<hidden>" if self.token else None
        return (
            f"Credentials(kind={self.kind!r}, token={token!s}, username={self.username!r}, "
            f"source={self.source!r}, home={self.home!r})"
        )

    __str__ = __repr__

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def anonymous(cls) -> Credentials:
        return cls("anonymous")

    @classmethod
    def from_env(
        cls,
        kind: str | None = None,
        token_env: str | None = None,
        *,
        username: str | None = None,
        username_env: str | None = None,
        env: Mapping[str, str] | None = None,
        required: bool = False,
    ) -> Credentials:
        """Read a token from the environment variable named ``token_env``.

        * ``kind`` and ``token_env`` both ``None``: ``CI_JOB_TOKEN`` if set (inside a GitLab CI
          job), else anonymous (or :class:`ConfigError` when ``required``).
        * ``kind`` given, ``token_env`` not: the kind's default variable (``CI_JOB_TOKEN``,
          ``GITLAB_TOKEN``, ``GITLAB_DEPLOY_TOKEN``).
        * ``token_env`` given, ``kind`` not: ``job`` for ``CI_JOB_TOKEN``, else guessed from the
          token's GitLab prefix (``glcbt-`` job, ``gldt-`` deploy, otherwise personal).
        * deploy tokens: ``username`` or the variable ``username_env``
          (default ``GITLAB_DEPLOY_USER``) if set; GitLab ignores the user name anyway.
        """
        environ: Mapping[str, str] = os.environ if env is None else env
        if kind is not None and kind not in KINDS:
            raise ConfigError(
                f"Unknown GitLab token kind {kind!r}.",
                remediation=f"Set the token kind to one of: {', '.join(KINDS)}.",
            )
        if token_env is not None and not _ENV_NAME_RE.match(token_env):
            # Not echoed: a token pasted where the variable's name belongs is a secret.
            raise ConfigError(
                "The configured token variable is not an environment variable name "
                "(letters, digits and _).",
                remediation=(
                    "Give the NAME of the variable that holds the token (for example "
                    "GITLAB_TOKEN), never the token itself."
                ),
            )
        if kind == "anonymous":
            return cls.anonymous()
        if kind is None and token_env is None:
            value = environ.get(CI_JOB_TOKEN_ENV)
            if value:
                return cls("job", value, source=CI_JOB_TOKEN_ENV, home=_job_home(environ))
            if required:
                raise ConfigError(
                    "No GitLab token: CI_JOB_TOKEN is not set (it only exists inside a running "
                    "GitLab CI job) and no token variable is configured.",
                    remediation=(
                        "Outside CI, put an access token (scope api) in an environment variable "
                        "and name it with the token-env option, e.g. GITLAB_TOKEN."
                    ),
                )
            return cls.anonymous()
        var = token_env if token_env is not None else DEFAULT_TOKEN_ENV[str(kind)]
        value = environ.get(var)
        if not value:
            hint = (
                " CI_JOB_TOKEN only exists inside a running GitLab CI job."
                if var == CI_JOB_TOKEN_ENV
                else ""
            )
            raise ConfigError(
                f"The environment variable {var} that should hold the GitLab token is "
                f"{'empty' if value == '' else 'not set'}.{hint}",
                remediation=f"Export {var} with the token, or configure another variable name.",
            )
        resolved: str
        if kind is not None:
            resolved = kind
        elif var == CI_JOB_TOKEN_ENV:
            resolved = "job"
        else:
            resolved = next((k for p, k in _PREFIX_KIND if value.startswith(p)), "personal")
        user: str | None = None
        if resolved == "deploy":
            user = username
            if user is None:
                user = environ.get(username_env or DEFAULT_DEPLOY_USER_ENV) or None
        # The job token read from its default variable (not named by the user) stays home.
        home = _job_home(environ) if token_env is None and var == CI_JOB_TOKEN_ENV else None
        return cls(resolved, value, username=user, source=var, home=home)  # type: ignore[arg-type]

    # -- where it may go --------------------------------------------------------------------

    def check_destination(self, url: str) -> None:
        """Raise :class:`ConfigError` unless this token may be sent to ``url``'s origin.

        Never over plain http except to a loopback address; a job token found in
        ``CI_JOB_TOKEN`` without being named only to the job's own GitLab. Anonymous
        credentials go anywhere.
        """
        if self.kind == "anonymous":
            return
        refusal = plain_http_refusal(url, self.describe())
        if refusal is not None:
            raise ConfigError(
                refusal,
                remediation="Use the instance's https:// URL (--url, -o url=, CI_API_V4_URL). "
                "Plain http is accepted only for a loopback address (a local sandbox).",
            )
        if self.home is None or any(same_origin(url, home) for home in self.home):
            return
        homes = (
            f"{' and '.join(self.home)}, from CI_API_V4_URL and CI_SERVER_URL"
            if self.home
            else "named by CI_API_V4_URL and CI_SERVER_URL, which are both unset here"
        )
        raise ConfigError(
            f"The {self.describe()} is sent only to this job's own GitLab ({homes}), not to "
            f"{origin(url)}.",
            remediation="For another GitLab, put a token of that instance in a variable and "
            "name it: --token-env OTHER_GITLAB_TOKEN (hatch publish: -o token-env=…); for a "
            "public project there, --token-kind anonymous. Naming CI_JOB_TOKEN itself "
            "(--token-env CI_JOB_TOKEN) sends the job token there on purpose.",
        )

    # -- headers ----------------------------------------------------------------------------

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to redact from any text we show."""
        out = [self.token] if self.token else []
        if self.token:
            out.append(self._basic_value().split(" ", 1)[1])
        return tuple(out)

    def _basic_value(self) -> str:
        assert self.token is not None
        if self.kind == "job":
            user = JOB_TOKEN_USER
        elif self.kind == "deploy":
            user = self.username or _TOKEN_USER
        else:
            user = _TOKEN_USER
        raw = f"{user}:{self.token}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def pypi_headers(self) -> dict[str, str]:
        """Headers for the PyPI routes (upload, simple index, file download): always Basic."""
        if self.kind == "anonymous":
            return {}
        return {"Authorization": self._basic_value()}

    def generic_headers(self) -> dict[str, str]:
        """Headers for the generic routes (PUT and GET)."""
        if self.kind == "anonymous":
            return {}
        assert self.token is not None
        name = _GENERIC_HEADER[self.kind]
        return {name: self.token}

    def api_headers(self) -> dict[str, str] | None:
        """Headers for the REST API (the Packages API), or ``None`` when this credential cannot
        be used there (deploy tokens are ignored by the API guard: the request is anonymous)."""
        if self.kind == "deploy":
            return None
        return self.generic_headers()  # JOB-TOKEN / PRIVATE-TOKEN, as the API guard reads them

    def describe(self) -> str:
        """``CI job token from CI_JOB_TOKEN``: for messages; never the value."""
        text = _describe_kind(self.kind)
        if self.source:
            text += f" from {self.source}"
        return text

    def fix_hint(self) -> str:
        """What to check when GitLab answers 401."""
        if self.kind == "anonymous":
            return (
                "No token was sent. Configure a token: in CI the job token (CI_JOB_TOKEN) is used "
                "automatically; elsewhere name the environment variable that holds a personal, "
                "project or deploy token."
            )
        var = self.source or "the token variable"
        if self.kind == "job":
            return (
                f"Check {var}: a job token is only valid while its job runs, and on PyPI routes "
                "only as Basic auth with the user gitlab-ci-token (which this client uses)."
            )
        return f"Check that {var} holds a valid, unexpired, unrevoked {_describe_kind(self.kind)}."
