"""Publisher settings: options, project table, user config and CI variables, merged and checked.

Precedence: ``-o key=value`` > ``[tool.hatch.publish.gitlab]`` > hatch's user config > GitLab
CI variables; the result is :class:`PublishSettings`, and every problem is reported at once.

Tokens are only ever read from an environment variable the settings *name*; keys that would
hold a literal token are refused wherever they come from. The expected signer is built through
the one identity model (:func:`hatch_sigstore.identity.expect`), each value named by the
option (or CI variable) it came from. Nothing here imports hatch, httpx or sigstore.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from hatch_sigstore._config import did_you_mean
from hatch_sigstore._names import is_generic_name
from hatch_sigstore.ci import CIContext
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.trust import TRUST_CONFIG_ENV, TrustChoice

if TYPE_CHECKING:
    from hatch_sigstore.gitlab import Credentials
    from hatch_sigstore.verify import Policy

__all__ = [
    "DEFAULT_CONCURRENCY",
    "OPTIONS",
    "PLUGIN_NAME",
    "TABLE",
    "PublishSettings",
    "TokenSettings",
    "resolve_settings",
]

PLUGIN_NAME = "gitlab"
TABLE = f"[tool.hatch.publish.{PLUGIN_NAME}]"
DEFAULT_CONCURRENCY = 4
_T = TypeVar("_T")

# key -> (default, help). The single source for validation, error messages and the README table.
OPTIONS: dict[str, tuple[str, str]] = {
    "url": ("CI_API_V4_URL", "GitLab API v4 URL, e.g. https://gitlab.example.com/api/v4"),
    "project": ("CI_PROJECT_ID", "project ID or full path (group/project) to publish into"),
    "token-kind": (
        "job in CI, else personal",
        "job | personal | deploy (project/group access tokens are 'personal')",
    ),
    "token-env": (
        "CI_JOB_TOKEN / GITLAB_TOKEN / GITLAB_DEPLOY_TOKEN by kind",
        "NAME of the environment variable holding the token (never the token)",
    ),
    "username": ("GITLAB_DEPLOY_USER", "deploy token user name (GitLab ignores it; optional)"),
    "username-env": ("GITLAB_DEPLOY_USER", "NAME of the variable holding the deploy user name"),
    "artifacts": ("dist/", "files or directories to publish (hatch publish ARGS override it)"),
    "identity": ("-", "exact certificate identity (SAN) the signatures must carry"),
    "identity-regexp": ("-", "regular expression the certificate identity must match"),
    "issuer": ("CI_SERVER_URL", "OIDC issuer for identity/identity-regexp"),
    "gitlab-project": (
        "CI_PROJECT_PATH",
        "GitLab project path whose pipeline must have signed (GitLab policy)",
    ),
    "gitlab-server": ("CI_SERVER_URL, else url minus /api/v4", "GitLab server of that pipeline"),
    "ref": ("pipeline ref in CI, else any", "full ref that signed: refs/heads/main, refs/tags/v1"),
    "ref-glob": ("-", "glob over the signing ref instead, e.g. refs/tags/v*"),
    "version-from-tag": (
        "false",
        "each dist's version must be its certificate's tag: refs/tags/v1.2.3 ⇒ 1.2.3",
    ),
    "config-path": ("CI_CONFIG_PATH or .gitlab-ci.yml", "CI config path in the identity"),
    "trust-config": (
        TRUST_CONFIG_ENV,
        "ClientTrustConfig JSON of a private Sigstore (default: public)",
    ),
    "staging": ("false", "trust the public staging Sigstore"),
    "allow-unsigned": ("false", "publish dists that fail verification (prints a warning)"),
    "dry-run": ("false", "print the plan, send nothing"),
    "generic-package": ("normalized dist name", "generic package name for the signature files"),
    "concurrency": (str(DEFAULT_CONCURRENCY), "parallel uploads"),
    "timeout": ("client default", "seconds per HTTP request"),
    "retries": ("client default", "attempts for transient failures"),
}
# hatch's own keys, always present in ``options`` or its config: accepted and ignored.
_HATCH_KEYS = frozenset({"no-prompt", "initialize-auth", "disable"})
# Keys that would hold a secret in plain text: refused wherever they come from.
_SECRET_KEYS = frozenset(
    {"token", "password", "auth", "private-token", "job-token", "deploy-token", "api-token"}
)
_ALIASES = {"api-url": "url", "project-id": "project", "unsigned": "allow-unsigned"}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class _Value:
    value: object
    source: str  # for messages: "-o url=…", "[tool.hatch.publish.gitlab] url", "CI_API_V4_URL"


def _norm_key(key: str, aliases: Mapping[str, str] = _ALIASES) -> str:
    key = key.strip().lower().replace("_", "-")
    return aliases.get(key, key)


def _describe_source(kind: str, key: str, plugin: str = PLUGIN_NAME) -> str:
    if kind == "option":
        return f"-o {key}=…"
    if kind == "project":
        return f"[tool.hatch.publish.{plugin}] {key}"
    return f"[publish.{plugin}] {key} in hatch's config.toml"


@dataclass(frozen=True)
class TokenSettings:
    kind: str | None
    env: str | None
    username: str | None
    username_env: str | None


@dataclass(frozen=True)
class PublishSettings:
    """Everything a publish needs, resolved and validated; no secrets inside."""

    api_url: str
    project: str
    token: TokenSettings
    artifacts: tuple[Path, ...]
    policy: Policy | None
    policy_text: str
    trust: TrustChoice
    allow_unsigned: bool = False
    dry_run: bool = False
    generic_package: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float | None = None
    retries: int | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def credentials(self) -> Credentials:
        """Read the token now, from the variable named in the settings."""
        from hatch_sigstore.gitlab import Credentials

        return Credentials.from_env(
            self.token.kind,
            self.token.env,
            username=self.token.username,
            username_env=self.token.username_env,
            env=self.env,
            required=True,
        )

    @property
    def project_api_url(self) -> str:
        from urllib.parse import quote

        return f"{self.api_url}/projects/{quote(self.project, safe='')}"


def _as_bool(v: _Value) -> bool:
    if isinstance(v.value, bool):
        return v.value
    text = str(v.value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(
        f"{v.source} is {str(v.value)!r}, which is not a yes/no value.",
        remediation="Use true or false.",
    )


def _as_str(v: _Value) -> str:
    if isinstance(v.value, (str, int)) and not isinstance(v.value, bool):
        text = str(v.value).strip()
        if text:
            return text
    raise ConfigError(
        f"{v.source} must be a non-empty string.", remediation="Give a value or remove the key."
    )


def _as_number(v: _Value, *, integer: bool, minimum: float) -> float:
    try:
        number = float(str(v.value).strip())
        if integer and number != int(number):
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"{v.source} is {str(v.value)!r}, not a {'whole ' if integer else ''}number.",
            remediation=f"Give a number ≥ {minimum:g}.",
        ) from None
    if number < minimum:
        raise ConfigError(f"{v.source} is {number:g}.", remediation=f"Give a number ≥ {minimum:g}.")
    return number


def _normalize_api_url(url: str, source: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"{source} is {url!r}, not an http(s) URL of a GitLab API.",
            remediation='Give the API v4 root, e.g. url = "https://gitlab.example.com/api/v4" '
            "(in CI it defaults to CI_API_V4_URL).",
        )
    if "@" in parts.netloc:
        raise ConfigError(
            f"{source} contains credentials (user@host).",
            remediation="Remove them from the URL; name the token's variable with token-env.",
        )
    url = url.rstrip("/")
    if not parts.path.rstrip("/").endswith("/api/v4"):
        url += "/api/v4"
    return url


_GITLAB_LITERAL_FIX = (
    'Put the token in an environment variable and name it: token-env = "GITLAB_TOKEN" '
    '(token-kind = "personal" or "deploy"); in GitLab CI the job token CI_JOB_TOKEN is used '
    "by default."
)


def _merge(
    options: Mapping[str, object],
    project_config: Mapping[str, object],
    user_config: Mapping[str, object],
    errors: list[ConfigError],
    *,
    known: Mapping[str, object] = OPTIONS,
    plugin: str = PLUGIN_NAME,
    aliases: Mapping[str, str] = _ALIASES,
    literal: str = "a GitLab token",
    literal_fix: str = _GITLAB_LITERAL_FIX,
) -> dict[str, _Value]:
    """Every value with where it came from; refused keys go to ``errors`` (all of them).

    The keywords are the pypi target's (:mod:`.pypi_settings`): its option table, its table
    name, and its advice for a literal token."""
    merged: dict[str, _Value] = {}
    for kind, table in (("user", user_config), ("project", project_config), ("option", options)):
        for raw_key, value in table.items():
            key = _norm_key(str(raw_key), aliases)
            if key in _HATCH_KEYS:
                continue
            where = _describe_source(kind, str(raw_key), plugin)
            if key in _SECRET_KEYS:
                errors.append(
                    ConfigError(
                        f"{where} would put {literal} in plain text "
                        f"({'on the command line' if kind == 'option' else 'in a file'}); "
                        "hatch-sigstore refuses literal tokens.",
                        remediation=literal_fix,
                    )
                )
                continue
            if key not in known:
                errors.append(
                    ConfigError(
                        f"Unknown publisher option {where!s}{did_you_mean(key, known)}.",
                        remediation=f"Known options: {', '.join(sorted(known))}.",
                    )
                )
                continue
            merged[key] = _Value(value, where)
    return merged


def _policy_from(
    values: Mapping[str, _Value], ci: CIContext, api_url: str | None, *, from_tag: bool = False
) -> tuple[Policy | None, str]:
    """The verification policy from explicit options, else from CI; None if nothing names one.

    Options never widen the pipeline's own policy silently: in CI the ref stays the pipeline's
    unless ``ref`` or ``ref-glob`` is given, and naming the pipeline's own project (on its own
    server) keeps the project id pin (CI_PROJECT_ID).
    """
    from hatch_sigstore.identity import Given, Source, expect
    from hatch_sigstore.verify import Policy
    from hatch_sigstore.verify.policy import check_regexp

    def opt(key: str) -> str | None:
        return _as_str(values[key]) if key in values else None

    def given(key: str) -> Given | None:
        value = opt(key)
        if value is None:
            return None
        return Given(value, Source(key, "option", cited=values[key].source))

    server_default = ci.server_url or (api_url.removesuffix("/api/v4") if api_url else None)
    identity, identity_re = opt("identity"), opt("identity-regexp")
    gitlab_keys = [k for k in ("gitlab-project", "ref", "ref-glob", "config-path") if k in values]
    if identity and identity_re:
        raise ConfigError(
            f"Both {values['identity'].source} and {values['identity-regexp'].source} are set.",
            remediation="Give one of identity or identity-regexp.",
        )
    if identity or identity_re:
        if gitlab_keys:
            raise ConfigError(
                f"{values[gitlab_keys[0]].source} (a GitLab pipeline policy) cannot be combined "
                "with identity/identity-regexp (a plain certificate identity).",
                remediation="Keep one way of naming the signer.",
            )
        issuer = opt("issuer") or opt("gitlab-server") or server_default
        if not issuer:
            raise ConfigError(
                "The OIDC issuer that must have vouched for the signer is unknown.",
                remediation='Set issuer (e.g. issuer = "https://gitlab.com"), or run in GitLab CI '
                "(CI_SERVER_URL).",
            )
        if identity_re is not None:
            check_regexp(identity_re, values["identity-regexp"].source)
        cosign = Policy.cosign(
            cert_identity=identity,
            cert_identity_regexp=identity_re,
            cert_oidc_issuer=issuer,
            version_from_tag=from_tag,
        )
        return cosign, cosign.describe()
    if "issuer" in values:
        raise ConfigError(
            f"{values['issuer'].source} is set without identity or identity-regexp.",
            remediation="Add identity (or identity-regexp), or drop issuer and use gitlab-project.",
        )
    if gitlab_keys or "gitlab-server" in values:
        project = given("gitlab-project") or (
            Given(ci.project_path, Source.variable("CI_PROJECT_PATH")) if ci.project_path else None
        )
        if project is None:
            raise ConfigError(
                "The GitLab project whose pipeline must have signed the dists is unknown.",
                remediation='Set gitlab-project = "group/project" (in CI: CI_PROJECT_PATH).',
            )
        server = given("gitlab-server")
        if server is None and ci.server_url:
            server = Given(ci.server_url, Source.variable("CI_SERVER_URL"))
        elif server is None and server_default:
            server = Given(server_default, Source("url", "option", cited=values["url"].source))
        if server is None:
            raise ConfigError(
                "The GitLab server of the signing pipeline is unknown.",
                remediation='Set gitlab-server = "https://gitlab.example.com".',
            )
        ref, ref_glob = given("ref"), given("ref-glob")
        if ref is None and ref_glob is None:
            # never wider than the pipeline's own policy unless a ref or ref-glob says so
            ref = ci.ref_given()
        config_path = given("config-path") or Given(
            ci.config_path, Source.variable("CI_CONFIG_PATH")
        )
        expected = expect(
            server=server,
            project_path=project,
            ref=ref,
            ref_glob=ref_glob,
            config_path=config_path,
        )
        if ci.project_id and _is_own_project(expected.server, expected.project_path, ci):
            # the pipeline's own project: keep its id pin (it survives renames and transfers);
            # Policy.gitlab checks the value
            expected = expected._replace(project_id=ci.project_id)
        policy = Policy.gitlab(expected, version_from_tag=from_tag)
        return policy, policy.describe()
    expected_ci = ci.expected_identity(
        ref_fix='set ref = "refs/tags/v1.0" (or ref-glob) in [tool.hatch.publish.gitlab], '
        "or pass -o ref=…"
    )
    if expected_ci is None:
        return None, "none"
    policy = Policy.gitlab(expected_ci, version_from_tag=from_tag)
    return policy, policy.describe()


class _Reader:
    """Typed reads of merged values that record a problem and go on with the default (every
    problem is reported at the end). The pypi target reads its table the same way."""

    def __init__(self, values: Mapping[str, _Value], errors: list[ConfigError]) -> None:
        self.values = values
        self.errors = errors

    def read(self, parse: Callable[[], _T], default: _T) -> _T:
        try:
            return parse()
        except ConfigError as exc:
            self.errors.append(exc)
            return default

    def flag(self, key: str, default: bool = False) -> bool:
        if key not in self.values:
            return default
        return self.read(lambda: _as_bool(self.values[key]), default)

    def text(self, key: str) -> str | None:
        if key not in self.values:
            return None
        return self.read(lambda: _as_str(self.values[key]), None)

    def number(self, key: str, *, integer: bool, minimum: float) -> float | None:
        if key not in self.values:
            return None
        value = self.values[key]
        return self.read(lambda: _as_number(value, integer=integer, minimum=minimum), None)


def _is_own_project(server: str, project_path: str, ci: CIContext) -> bool:
    """Is this the running pipeline's project? (GitLab paths and hosts ignore case.)"""
    own_server, own_project = ci.server_url, ci.project_path
    if not own_server or not own_project:
        return False
    return (
        server.rstrip("/").lower() == own_server.rstrip("/").lower()
        and project_path.strip("/").lower() == own_project.strip("/").lower()
    )


def resolve_settings(
    options: Mapping[str, object],
    project_config: Mapping[str, object] | None = None,
    user_config: Mapping[str, object] | None = None,
    *,
    artifacts: Sequence[str] = (),
    root: Path,
    env: Mapping[str, str],
) -> PublishSettings:
    """Merge ``-o`` options > project table > user table > CI variables, and validate all of it.

    Raises one :class:`ConfigError` listing every key or variable to fix, each named as it was
    given (``-o key=…``, ``[tool.hatch.publish.gitlab] key``). Reads no token value.
    """
    errors: list[ConfigError] = []  # every problem, reported together at the end
    values = _merge(options, project_config or {}, user_config or {}, errors)
    ci = CIContext.from_env(env)
    reader = _Reader(values, errors)
    read, flag, text, number = reader.read, reader.flag, reader.text, reader.number

    api_url = read(lambda: _api_url(values, ci), None)
    project = read(lambda: _project(values, ci), None)
    token = read(lambda: _token(values), TokenSettings(None, None, None, None))

    if artifacts:
        paths = tuple(Path(a) for a in artifacts)
    elif "artifacts" in values:
        raw = values["artifacts"].value
        items = raw if isinstance(raw, list) else [raw]
        where = values["artifacts"].source
        paths = tuple(root / read(partial(_as_str, _Value(item, where)), "") for item in items)
    else:
        paths = (root / "dist",)

    allow_unsigned = flag("allow-unsigned")
    from_tag = flag("version-from-tag")
    named = True  # did the options name an expected signer (rightly or wrongly)?
    try:
        policy, policy_text = _policy_from(values, ci, api_url, from_tag=from_tag)
        named = policy is not None
    except ConfigError as exc:
        if not allow_unsigned:
            errors.append(exc)
        policy, policy_text = None, "none"
    trust_value = text("trust-config")
    trust = read(
        lambda: TrustChoice.resolve(
            staging=flag("staging"),
            trust_config=None if trust_value is None else (root / trust_value),
            env=env,
            source=values["trust-config"].source if "trust-config" in values else "trust-config",
        ),
        TrustChoice(),
    )
    if from_tag and not named:
        errors.append(
            ConfigError(
                f"{values['version-from-tag'].source} ties each dist's version to the tag its "
                "certificate was issued at, but no expected signer is named, so no certificate "
                "is checked.",
                remediation='Name the signer (gitlab-project = "group/project", or run in '
                "GitLab CI), or drop version-from-tag.",
            )
        )
    if not named and not allow_unsigned and api_url is not None:
        errors.append(
            ConfigError(
                "No expected signing identity: outside GitLab CI hatch-sigstore cannot tell who "
                "must have signed the dists, and it does not publish what it cannot check.",
                remediation=f'Set gitlab-project = "group/project" (and ref or ref-glob) in '
                f"{TABLE}, or identity + issuer; in GitLab CI it defaults to the pipeline's own "
                "identity (CI_SERVER_URL, CI_PROJECT_PATH, CI_COMMIT_TAG/CI_COMMIT_BRANCH). To "
                "publish without checking signatures, pass -o allow-unsigned=true.",
            )
        )
    generic = text("generic-package")
    if generic is not None and not is_generic_name(generic):
        errors.append(
            ConfigError(
                f"{values['generic-package'].source} is {generic!r}; GitLab's generic registry "
                "only accepts letters, digits and . _ - + in package names.",
                remediation="Choose a name from those characters.",
            )
        )
    concurrency = number("concurrency", integer=True, minimum=1)
    timeout = number("timeout", integer=False, minimum=0.1)
    retries = number("retries", integer=True, minimum=0)
    dry_run = flag("dry-run")
    if errors:
        raise ConfigError.collect(errors)
    assert api_url is not None  # else an error was recorded
    assert project is not None
    return PublishSettings(
        api_url=api_url,
        project=project,
        token=token,
        artifacts=paths,
        policy=policy,
        policy_text=policy_text,
        trust=trust,
        allow_unsigned=allow_unsigned,
        dry_run=dry_run,
        generic_package=generic,
        concurrency=DEFAULT_CONCURRENCY if concurrency is None else int(concurrency),
        timeout=timeout,
        retries=None if retries is None else int(retries),
        env=dict(env),
    )


def _api_url(values: Mapping[str, _Value], ci: CIContext) -> str:
    if "url" in values:
        return _normalize_api_url(_as_str(values["url"]), values["url"].source)
    if ci.api_v4_url:
        return _normalize_api_url(ci.api_v4_url, "CI_API_V4_URL")
    raise ConfigError(
        "The GitLab API URL is unknown: no url option and no CI_API_V4_URL variable.",
        remediation=f'Set url = "https://gitlab.example.com/api/v4" in {TABLE}, or pass '
        "-o url=…; in GitLab CI it defaults to CI_API_V4_URL.",
    )


def _project(values: Mapping[str, _Value], ci: CIContext) -> str:
    if "project" in values:
        project = _as_str(values["project"]).strip("/")
    elif ci.project_id:
        project = ci.project_id
    else:
        raise ConfigError(
            "The GitLab project to publish into is unknown: no project option and no "
            "CI_PROJECT_ID variable.",
            remediation=f'Set project = "group/project" (or its numeric ID) in {TABLE}, or pass '
            "-o project=…; in GitLab CI it defaults to CI_PROJECT_ID.",
        )
    if not re.fullmatch(r"[0-9]+|[A-Za-z0-9_.+-]+(?:/[A-Za-z0-9_.+-]+)+", project):
        raise ConfigError(
            f"The project {project!r} is neither a numeric ID nor a full path like group/project.",
            remediation="Set project to the ID shown on the project's page or its full path.",
        )
    return project


def _token(values: Mapping[str, _Value]) -> TokenSettings:
    token = TokenSettings(
        kind=_as_str(values["token-kind"]).lower() if "token-kind" in values else None,
        env=_as_str(values["token-env"]) if "token-env" in values else None,
        username=_as_str(values["username"]) if "username" in values else None,
        username_env=_as_str(values["username-env"]) if "username-env" in values else None,
    )
    if token.kind in ("project", "group"):
        token = TokenSettings("personal", token.env, token.username, token.username_env)
    if token.kind is not None and token.kind not in ("job", "personal", "deploy"):
        raise ConfigError(
            f"{values['token-kind'].source} is {token.kind!r}.",
            remediation="Use job, personal (also for project/group access tokens) or deploy.",
        )
    if token.env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token.env):
        raise ConfigError(
            f"{values['token-env'].source} is not an environment variable name.",
            remediation="Give the NAME of the variable that holds the token, e.g. "
            'token-env = "GITLAB_TOKEN", never the token itself.',
        )
    return token
