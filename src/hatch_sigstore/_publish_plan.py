"""Publishing a signed release to GitLab: settings → dists → preflight → plan → run → summary.

The hatch-free core of ``hatch publish -p gitlab`` (:mod:`hatch_sigstore.hatch.publisher` is
only glue), so any frontend can reuse it. The order of events is the point of this module:

1. **Settings** from ``-o key=value`` > ``[tool.hatch.publish.gitlab]`` > hatch's user config >
   GitLab CI variables. Tokens are only ever read from an environment variable the settings *name*.
2. **Dists**: every wheel and sdist, its metadata read and checked against its file name, paired
   with its signature files.
3. **Preflight**, failing closed: every dist must verify against the expected identity; one
   unsigned or mis-signed dist stops everything before a single request is sent (unless the
   explicit ``allow-unsigned`` opt-out is given).
4. **Run**: the signature files go to the generic registry first (per package version the first
   file alone, as GitLab requires, then the rest concurrently), and only when all of them are in
   place do the dists go to the PyPI registry: no package is ever visible without its signatures.
   The registry client skips files already present with the same sha256 and refuses ones present
   with different bytes, so a re-run after any failure finishes the job without duplicates.
5. **Summary**: what was uploaded, skipped, failed or not attempted, and what state that leaves
   the registry in.

Nothing here imports hatch, httpx or sigstore at module level.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import re
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from hatch_sigstore._files import (
    BUNDLE_SUFFIX,
    SIGNATURE_SUFFIX,
    is_sidecar,
    sidecars_of,
)
from hatch_sigstore.ci import CIContext
from hatch_sigstore.errors import ConfigError, HatchSigstoreError, PublishError, redact
from hatch_sigstore.trust import TRUST_CONFIG_ENV, TrustChoice

if TYPE_CHECKING:
    from hatch_sigstore.gitlab import Credentials
    from hatch_sigstore.verify import FileResult, Policy

__all__ = [
    "OPTIONS",
    "Dist",
    "ItemResult",
    "Plan",
    "PublishSettings",
    "Reporter",
    "Summary",
    "UploadItem",
    "build_plan",
    "collect_dists",
    "execute",
    "generic_coordinates",
    "preflight",
    "resolve_settings",
]

PLUGIN_NAME = "gitlab"
TABLE = f"[tool.hatch.publish.{PLUGIN_NAME}]"
DEFAULT_CONCURRENCY = 4
_CHUNK = 1024 * 1024

# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------

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


def _norm_key(key: str) -> str:
    key = key.strip().lower().replace("_", "-")
    return _ALIASES.get(key, key)


def _describe_source(kind: str, key: str) -> str:
    if kind == "option":
        return f"-o {key}=…"
    if kind == "project":
        return f"{TABLE} {key}"
    return f"[publish.{PLUGIN_NAME}] {key} in hatch's config.toml"


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


def _merge(
    options: Mapping[str, object],
    project_config: Mapping[str, object],
    user_config: Mapping[str, object],
) -> dict[str, _Value]:
    merged: dict[str, _Value] = {}
    for kind, table in (("user", user_config), ("project", project_config), ("option", options)):
        for raw_key, value in table.items():
            key = _norm_key(str(raw_key))
            if key in _HATCH_KEYS:
                continue
            where = _describe_source(kind, str(raw_key))
            if key in _SECRET_KEYS:
                raise ConfigError(
                    f"{where} would put a GitLab token in plain text "
                    f"({'on the command line' if kind == 'option' else 'in a file'}); "
                    "hatch-sigstore refuses literal tokens.",
                    remediation="Put the token in an environment variable and name it: "
                    'token-env = "GITLAB_TOKEN" (token-kind = "personal" or "deploy"); in '
                    "GitLab CI the job token CI_JOB_TOKEN is used by default.",
                )
            if key not in OPTIONS:
                raise ConfigError(
                    f"Unknown publisher option {where!s}.",
                    remediation=f"Known options: {', '.join(sorted(OPTIONS))}.",
                )
            merged[key] = _Value(value, where)
    return merged


def _policy_from(
    values: Mapping[str, _Value], ci: CIContext, api_url: str | None
) -> tuple[Policy | None, str]:
    """The verification policy from explicit options, else from CI; None if nothing names one."""
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
            cert_identity=identity, cert_identity_regexp=identity_re, cert_oidc_issuer=issuer
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
        if ref is None and ref_glob is None and "gitlab-project" not in values:
            ref = ci.ref_given()  # same project as the pipeline: default to its ref
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
        policy = Policy.gitlab(expected)
        return policy, policy.describe()
    expected_ci = ci.expected_identity()
    if expected_ci is None:
        return None, "none"
    policy = Policy.gitlab(expected_ci)
    return policy, policy.describe()


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

    Raises :class:`ConfigError` naming the key or variable to fix. Reads no token value.
    """
    values = _merge(options, project_config or {}, user_config or {})
    ci = CIContext.from_env(env)

    def flag(key: str) -> bool:
        return _as_bool(values[key]) if key in values else False

    if "url" in values:
        api_url = _normalize_api_url(_as_str(values["url"]), values["url"].source)
    elif ci.api_v4_url:
        api_url = _normalize_api_url(ci.api_v4_url, "CI_API_V4_URL")
    else:
        raise ConfigError(
            "The GitLab API URL is unknown: no url option and no CI_API_V4_URL variable.",
            remediation=f'Set url = "https://gitlab.example.com/api/v4" in {TABLE}, or pass '
            "-o url=…; in GitLab CI it defaults to CI_API_V4_URL.",
        )
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

    if artifacts:
        paths = tuple(Path(a) for a in artifacts)
    elif "artifacts" in values:
        raw = values["artifacts"].value
        items = raw if isinstance(raw, list) else [raw]
        paths = tuple((root / _as_str(_Value(i, values["artifacts"].source))) for i in items)
    else:
        paths = (root / "dist",)

    allow_unsigned = flag("allow-unsigned")
    try:
        policy, policy_text = _policy_from(values, ci, api_url)
    except ConfigError:
        if not allow_unsigned:
            raise
        policy, policy_text = None, "none"
    trust_value = _as_str(values["trust-config"]) if "trust-config" in values else None
    trust = TrustChoice.resolve(
        staging=flag("staging"),
        trust_config=None if trust_value is None else (root / trust_value),
        env=env,
        source=values["trust-config"].source if "trust-config" in values else "trust-config",
    )
    if policy is None and not allow_unsigned:
        raise ConfigError(
            "No expected signing identity: outside GitLab CI hatch-sigstore cannot tell who "
            "must have signed the dists, and it does not publish what it cannot check.",
            remediation=f'Set gitlab-project = "group/project" (and ref or ref-glob) in {TABLE}, '
            "or identity + issuer; in GitLab CI it defaults to the pipeline's own identity "
            "(CI_SERVER_URL, CI_PROJECT_PATH, CI_COMMIT_TAG/CI_COMMIT_BRANCH). To publish "
            "without checking signatures, pass -o allow-unsigned=true.",
        )
    generic = _as_str(values["generic-package"]) if "generic-package" in values else None
    if generic is not None and not _GENERIC_NAME_RE.match(generic):
        raise ConfigError(
            f"{values['generic-package'].source} is {generic!r}; GitLab's generic registry only "
            "accepts letters, digits and . _ - + in package names.",
            remediation="Choose a name from those characters.",
        )
    return PublishSettings(
        api_url=api_url,
        project=project,
        token=token,
        artifacts=paths,
        policy=policy,
        policy_text=policy_text,
        trust=trust,
        allow_unsigned=allow_unsigned,
        dry_run=flag("dry-run"),
        generic_package=generic,
        concurrency=int(_as_number(values["concurrency"], integer=True, minimum=1))
        if "concurrency" in values
        else DEFAULT_CONCURRENCY,
        timeout=_as_number(values["timeout"], integer=False, minimum=0.1)
        if "timeout" in values
        else None,
        retries=int(_as_number(values["retries"], integer=True, minimum=0))
        if "retries" in values
        else None,
        env=dict(env),
    )


# ---------------------------------------------------------------------------------------------
# Dists
# ---------------------------------------------------------------------------------------------

# The conservative intersection of every GitLab version's generic regexes (reference §3.2, §7).
_GENERIC_NAME_RE = re.compile(r"\A[A-Za-z0-9._+-]+\Z")
_GENERIC_VERSION_RE = re.compile(r"\A(?!.*\.\.)[A-Za-z0-9_+.-]+\Z")
_GENERIC_FILE_RE = re.compile(r"\A[A-Za-z0-9._+-]+\Z")
_MAX_NAME = 255
# Metadata fields sent with a PyPI upload, with GitLab's length limits (reference §1.1).
_PYPI_FIELDS = {
    "metadata_version": ("Metadata-Version", 16),
    "summary": ("Summary", 255),
    "requires_python": ("Requires-Python", 255),
    "author_email": ("Author-email", 2048),
    "keywords": ("Keywords", 1024),
    "description_content_type": ("Description-Content-Type", 128),
}
_DESCRIPTION_MAX = 4000


def generic_coordinates(name: str, version: str) -> tuple[str, str]:
    """The generic registry package name and version holding a release's signature files.

    Name: the PEP 503 normalized project name (``My_Pkg`` → ``my-pkg``). Version: the PEP 440
    normalized version, with an epoch's ``!`` (which GitLab rejects) written as ``-``
    (``1!2.0`` → ``1-2.0``; normalized versions never contain ``-`` otherwise, so this cannot
    collide). Consumers compute the same coordinates from ``NAME==VERSION``.
    """
    package = canonicalize_name(name)
    try:
        normalized = str(Version(version))
    except InvalidVersion:
        raise PublishError(
            f"The version {version!r} is not a valid PEP 440 version.",
            remediation="Fix the project's version and rebuild.",
        ) from None
    generic_version = normalized.replace("!", "-")
    if not _GENERIC_NAME_RE.match(package) or len(package) > _MAX_NAME:
        raise PublishError(f"The name {name!r} cannot be a GitLab generic package name.")
    if not _GENERIC_VERSION_RE.match(generic_version):
        raise PublishError(
            f"The version {version!r} cannot be written as a GitLab generic package version."
        )
    return package, generic_version


@dataclass(frozen=True)
class Dist:
    """A wheel or sdist, its core metadata, and the signature files found beside it."""

    path: Path
    kind: Literal["wheel", "sdist"]
    name: str  # as in the metadata
    version: str  # as in the metadata
    size: int
    sidecars: tuple[Path, ...]
    pypi_metadata: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def filename(self) -> str:
        return self.path.name


def _read_metadata_bytes(path: Path, kind: str) -> bytes:
    if kind == "wheel":
        with zipfile.ZipFile(path) as zf:
            candidates = [
                n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(candidates) != 1:
                raise PublishError(
                    f"{path.name} has {len(candidates)} .dist-info/METADATA files; a wheel has "
                    "exactly one.",
                    remediation="Rebuild it (hatch build).",
                )
            info = zf.getinfo(candidates[0])
            if info.file_size > 16 * 1024 * 1024:
                raise PublishError(f"{path.name}: METADATA is implausibly large.")
            return zf.read(info)
    # sdist: the top-level PKG-INFO (hatchling writes it; PEP 643 requires it).
    with tarfile.open(path, "r:gz") as tf:
        for member in tf:
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                if member.size > 16 * 1024 * 1024:
                    raise PublishError(f"{path.name}: PKG-INFO is implausibly large.")
                handle = tf.extractfile(member)
                assert handle is not None
                return handle.read()
    raise PublishError(
        f"{path.name} has no top-level PKG-INFO, so its name and version cannot be read.",
        remediation="Rebuild the sdist with a PEP 517 backend (hatch build -t sdist).",
    )


def _parse_metadata(raw: bytes) -> Message:
    parser = email.parser.BytesParser(policy=email.policy.compat32)
    return parser.parsebytes(raw)


def read_dist(path: Path) -> Dist:
    """Read a dist's metadata and check it against its file name; PublishError on any mismatch."""
    filename = path.name
    kind: Literal["wheel", "sdist"]
    try:
        if filename.endswith(".whl"):
            kind = "wheel"
            fn_name, fn_version, _build, _tags = parse_wheel_filename(filename)
        else:
            kind = "sdist"
            fn_name, fn_version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise PublishError(
            f"{filename} is not a valid {'wheel' if filename.endswith('.whl') else 'sdist'} "
            f"file name ({exc}).",
            remediation="Publish the files exactly as the build backend named them.",
        ) from None
    if kind == "sdist" and not filename.endswith(".tar.gz"):
        raise PublishError(
            f"{filename} is a .zip sdist; PEP 625 sdists are .tar.gz.",
            remediation="Rebuild the sdist (hatch build -t sdist).",
        )
    try:
        raw = _read_metadata_bytes(path, kind)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise PublishError(
            f"{filename} cannot be read as a {kind} ({exc.__class__.__name__}: {exc}).",
            remediation="Rebuild it; the file is damaged or not what its name says.",
        ) from None
    meta = _parse_metadata(raw)
    name, version = (meta.get("Name") or "").strip(), (meta.get("Version") or "").strip()
    source = "METADATA" if kind == "wheel" else "PKG-INFO"
    if not name or not version:
        raise PublishError(
            f"{filename}: its {source} has no {'Name' if not name else 'Version'}.",
            remediation="Rebuild it with a PEP 517 backend.",
        )
    try:
        meta_version = Version(version)
    except InvalidVersion:
        raise PublishError(
            f"{filename}: its {source} says Version: {version}, which is not a PEP 440 version.",
            remediation="Fix the version and rebuild.",
        ) from None
    if canonicalize_name(name) != fn_name or meta_version != fn_version:
        raise PublishError(
            f"{filename} does not agree with its own {source}: the file name says "
            f"{fn_name} {fn_version}, the metadata says {name} {version}.",
            remediation="Rebuild the dist instead of renaming it (the index would serve a "
            "package under a name or version its installer does not expect).",
        )
    for part in (filename, *(filename + s for s in (BUNDLE_SUFFIX, SIGNATURE_SUFFIX))):
        if not _GENERIC_FILE_RE.match(part):
            raise PublishError(
                f"{filename} has characters GitLab's generic registry refuses in file names.",
                remediation="Only letters, digits and . _ - + are accepted.",
            )
    pypi: dict[str, str] = {}
    for form_key, (header, limit) in _PYPI_FIELDS.items():
        value = meta.get(header)
        if value:
            pypi[form_key] = str(value).strip()[:limit]
    body = meta.get_payload()
    description = meta.get("Description") or (body if isinstance(body, str) else "")
    if description and description.strip():
        pypi["description"] = description.strip()[:_DESCRIPTION_MAX]
    sidecars = tuple(sorted(sidecars_of(path).values(), key=lambda p: p.name))
    return Dist(
        path=path,
        kind=kind,
        name=name,
        version=version,
        size=path.stat().st_size,
        sidecars=sidecars,
        pypi_metadata=pypi,
    )


def collect_dists(artifacts: Iterable[Path]) -> list[Dist]:
    """Wheels and sdists among ``artifacts`` (files as given, directories one level deep)."""
    files: list[Path] = []
    for artifact in artifacts:
        if artifact.is_dir():
            files.extend(sorted(p for p in artifact.iterdir() if p.is_file()))
        elif artifact.is_file():
            files.append(artifact)
        else:
            raise PublishError(
                f"The artifact path {str(artifact)!r} does not exist.",
                remediation="Build first (hatch build), or pass existing files or directories "
                "to hatch publish (default: dist/).",
            )
    seen: dict[str, Path] = {}
    dists: list[Dist] = []
    for f in files:
        if is_sidecar(f) or not (f.name.endswith(".whl") or f.name.endswith(".tar.gz")):
            continue
        if f.name in seen:
            if seen[f.name].resolve() == f.resolve():
                continue
            raise PublishError(
                f"Two different files are both named {f.name}: {seen[f.name]} and {f}.",
                remediation="Publish one of them.",
            )
        seen[f.name] = f
        dists.append(read_dist(f))
    if not dists:
        where = ", ".join(str(a) for a in artifacts)
        raise PublishError(
            f"No wheel or sdist found in {where}.",
            remediation="Build first (hatch build), or pass the files to publish.",
        )
    return dists


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Preflight and plan
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreflightResult:
    dist: Dist
    ok: bool
    sha256: str
    detail: str  # who signed, or why not


def preflight(dists: Sequence[Dist], settings: PublishSettings) -> list[PreflightResult]:
    """Verify every dist against the policy. Returns all results; the caller decides.

    Without a policy (only possible with ``allow-unsigned``) nothing is verified.
    """
    if settings.policy is None:
        return [
            PreflightResult(d, False, sha256_file(d.path), "not verified: no expected identity")
            for d in dists
        ]
    from hatch_sigstore.verify import verify_files

    results: list[FileResult] = verify_files(
        [d.path for d in dists], settings.policy, settings.trust
    )
    out = []
    for d, r in zip(dists, results, strict=True):
        sha = r.sha256 or sha256_file(d.path)
        detail = f"signed by {r.identity} ({r.sidecar})" if r.ok else (r.reason or "failed")
        out.append(PreflightResult(d, r.ok, sha, detail))
    return out


def require_preflight(results: Sequence[PreflightResult], settings: PublishSettings) -> None:
    """Fail closed: raise PublishError naming every dist that did not verify."""
    bad = [r for r in results if not r.ok]
    if not bad or settings.allow_unsigned:
        return
    lines = "; ".join(f"{r.dist.filename}: {r.detail}" for r in bad)
    raise PublishError(
        f"Preflight failed: {len(bad)} of {len(results)} dist(s) are not signed by the expected "
        f"identity ({settings.policy_text}) — {lines}. Nothing was uploaded; the registry is "
        "unchanged.",
        remediation="Sign the dists in the pipeline that builds them (the sigstore build hook, "
        "or hatch-sigstore sign), or fix the expected identity (gitlab-project, ref, ref-glob, "
        "identity, trust-config). To publish anyway, pass -o allow-unsigned=true.",
    )


Registry = Literal["generic", "pypi"]


@dataclass(frozen=True)
class UploadItem:
    registry: Registry
    path: Path
    sha256: str
    size: int
    package: str  # generic: package name; pypi: the metadata Name
    version: str  # generic: generic version; pypi: the metadata Version
    dist: Dist = field(repr=False, compare=False, hash=False)

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.registry, self.package, self.version)


@dataclass(frozen=True)
class Plan:
    settings: PublishSettings
    preflight: tuple[PreflightResult, ...]
    generic: tuple[UploadItem, ...]
    pypi: tuple[UploadItem, ...]

    @property
    def items(self) -> tuple[UploadItem, ...]:
        return self.generic + self.pypi

    def render(self) -> list[str]:
        s = self.settings
        lines = [
            f"Registry: {s.project_api_url}/packages",
            f"Expected signer: {s.policy_text} (trust: {s.trust.describe()})",
            "Preflight:",
        ]
        for r in self.preflight:
            mark = "ok" if r.ok else ("UNSIGNED (allowed)" if s.allow_unsigned else "FAILED")
            lines.append(f"  {mark:<10} {r.dist.filename}: {r.detail}")
        lines.append("1. Signature files → generic registry (first file of a version alone):")
        for it in self.generic or ():
            lines.append(
                f"   PUT packages/generic/{it.package}/{it.version}/{it.filename}"
                f"  ({_size(it.size)}, sha256 {it.sha256[:12]}…)"
            )
        if not self.generic:
            lines.append("   (none)")
        lines.append("2. Dists → PyPI registry:")
        for it in self.pypi:
            lines.append(
                f"   POST packages/pypi  {it.filename}  ({it.package} {it.version}, "
                f"{_size(it.size)}, sha256 {it.sha256[:12]}…)"
            )
        return lines


def build_plan(
    dists: Sequence[Dist], results: Sequence[PreflightResult], settings: PublishSettings
) -> Plan:
    generic: list[UploadItem] = []
    pypi: list[UploadItem] = []
    for r in results:
        d = r.dist
        package, version = generic_coordinates(d.name, d.version)
        if settings.generic_package:
            package = settings.generic_package
        for sc in d.sidecars:
            generic.append(
                UploadItem("generic", sc, sha256_file(sc), sc.stat().st_size, package, version, d)
            )
        pypi.append(UploadItem("pypi", d.path, r.sha256, d.size, d.name, d.version, d))
    return Plan(settings, tuple(results), tuple(generic), tuple(pypi))


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------

Status = Literal["uploaded", "present", "failed", "not attempted"]


@dataclass(frozen=True)
class ItemResult:
    item: UploadItem
    status: Status
    message: str = ""


class RegistryAPI(Protocol):
    """The part of :class:`hatch_sigstore.gitlab.RegistryClient` the publisher uses."""

    def generic_upload(
        self,
        package: str,
        version: str,
        path: Path,
        *,
        sha256: str,
        progress: Callable[[int], None] | None = ...,
    ) -> Any: ...

    def pypi_upload(
        self,
        path: Path,
        *,
        name: str,
        version: str,
        sha256: str,
        metadata: Mapping[str, str] = ...,
        progress: Callable[[int], None] | None = ...,
    ) -> Any: ...

    def pypi_simple_files(self, name: str) -> Sequence[_ListedFile]: ...


class _ListedFile(Protocol):
    @property
    def filename(self) -> str: ...
    @property
    def sha256(self) -> str | None: ...


class Reporter(Protocol):
    """Where progress goes: hatch's terminal, a CLI, or a list in a test."""

    def upload_started(self, item: UploadItem) -> Callable[[int], None] | None:
        """Called before each upload; may return a progress callback (bytes sent so far)."""

    def upload_finished(self, result: ItemResult) -> None: ...


def _outcome_status(outcome: object) -> Status:
    """Map the client's UploadOutcome ("uploaded" | "exists-same", or an object carrying it)."""
    value = outcome
    for attr in ("status", "outcome", "kind", "value"):
        if hasattr(value, attr) and not isinstance(value, str):
            value = getattr(value, attr)
    text = str(value)
    if text == "uploaded":
        return "uploaded"
    if text in ("exists-same", "exists", "skipped", "present"):
        return "present"
    raise PublishError(f"The registry client returned an unexpected outcome {text!r}.")


def execute(
    plan: Plan,
    client: RegistryAPI,
    reporter: Reporter,
    *,
    secrets: Sequence[str] = (),
) -> Summary:
    """Upload the plan: generic first, then PyPI; stop starting new uploads at the first failure."""
    results: dict[UploadItem, ItemResult] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def run_one(item: UploadItem) -> None:
        if stop.is_set():
            return
        progress = reporter.upload_started(item)
        try:
            if item.registry == "generic":
                outcome = client.generic_upload(
                    item.package, item.version, item.path, sha256=item.sha256, progress=progress
                )
            else:
                outcome = client.pypi_upload(
                    item.path,
                    name=item.package,
                    version=item.version,
                    sha256=item.sha256,
                    metadata=item.dist.pypi_metadata,
                    progress=progress,
                )
            result = ItemResult(item, _outcome_status(outcome))
        except HatchSigstoreError as exc:
            result = ItemResult(item, "failed", redact(str(exc), secrets))
            stop.set()
        except Exception as exc:  # a bug or an unexpected library error: never lose the summary
            text = f"{exc.__class__.__name__}: {exc}"
            result = ItemResult(item, "failed", redact(text, secrets))
            stop.set()
        settle(result)

    def settle(result: ItemResult) -> None:
        with lock:
            results[result.item] = result
        reporter.upload_finished(result)

    def precheck_pypi(items: Sequence[UploadItem]) -> list[UploadItem]:
        """One index read per name: skip files already there without sending them again."""
        by_name: dict[str, list[UploadItem]] = {}
        for it in items:
            by_name.setdefault(it.package, []).append(it)
        todo: list[UploadItem] = []
        for name, members in by_name.items():
            try:
                listed = {f.filename: f.sha256 for f in client.pypi_simple_files(name)}
            except HatchSigstoreError as exc:
                settle(ItemResult(members[0], "failed", redact(str(exc), secrets)))
                stop.set()
                return []
            for it in members:
                if it.filename not in listed:
                    todo.append(it)
                elif listed[it.filename] == it.sha256:
                    settle(ItemResult(it, "present"))
                else:
                    stop.set()
                    settle(
                        ItemResult(
                            it,
                            "failed",
                            f"{it.filename} already exists in the GitLab PyPI registry with "
                            f"different contents (sha256 {listed[it.filename]}; local "
                            f"{it.sha256}). Refusing to overwrite: GitLab never replaces a PyPI "
                            "file. Publish a new version, or delete the file in GitLab first.",
                        )
                    )
        return [] if stop.is_set() else todo

    def run_phase(items: Sequence[UploadItem]) -> None:
        groups: dict[tuple[str, str, str], list[UploadItem]] = {}
        for it in items:
            groups.setdefault(it.group, []).append(it)
        workers = max(1, plan.settings.concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="publish") as pool:
            pending: dict[Future[None], tuple[tuple[str, str, str], bool]] = {}
            for key, members in groups.items():
                # The first file of each package version alone: GitLab creates the package
                # record on it, and concurrent creations race (HTTP 500).
                pending[pool.submit(run_one, members[0])] = (key, True)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    key, first = pending.pop(fut)
                    fut.result()
                    if first and not stop.is_set():
                        for member in groups[key][1:]:
                            pending[pool.submit(run_one, member)] = (key, False)

    run_phase(plan.generic)
    if not stop.is_set():
        run_phase(precheck_pypi(plan.pypi))
    ordered = [results.get(it, ItemResult(it, "not attempted")) for it in plan.items]
    return Summary(plan, tuple(ordered))


# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    plan: Plan
    results: tuple[ItemResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.status in ("uploaded", "present") for r in self.results)

    def count(self, registry: Registry, *statuses: Status) -> int:
        return sum(1 for r in self.results if r.item.registry == registry and r.status in statuses)

    def failures(self) -> list[ItemResult]:
        return [r for r in self.results if r.status == "failed"]

    def table(self) -> list[tuple[str, str, str, str]]:
        """(registry, file, result, size) rows."""
        rows: list[tuple[str, str, str, str]] = []
        for r in self.results:
            status = {"present": "already there (same sha256)"}.get(r.status, r.status)
            rows.append((r.item.registry, r.item.filename, status, _size(r.item.size)))
        return rows

    def registry_state(self) -> str:
        """One paragraph: what the registry holds now and what a re-run will do."""
        g_total, p_total = len(self.plan.generic), len(self.plan.pypi)
        g_in = self.count("generic", "uploaded", "present")
        p_in = self.count("pypi", "uploaded", "present")
        uploaded = self.count("generic", "uploaded") + self.count("pypi", "uploaded")
        if self.ok:
            return (
                f"The registry holds the whole release: {p_in} dist(s) in the PyPI registry and "
                f"{g_in} signature file(s) in the generic registry ({uploaded} uploaded now, "
                f"{p_in + g_in - uploaded} already there)."
            )
        if g_in == 0 and p_in == 0:
            return "The registry is unchanged: nothing of this release is in it."
        if p_in == 0:
            return (
                f"Only signature files are in the registry: {g_in} of {g_total} in the generic "
                "registry, and no dist in the PyPI registry, so no package version is visible "
                "without its signatures. Re-run the same command to finish; files already "
                "there are skipped."
            )
        return (
            f"All {g_total} signature file(s) are in the generic registry; {p_in} of {p_total} "
            "dist(s) are in the PyPI registry. Re-run the same command to finish; files "
            "already there are skipped."
        )

    def error(self, *, with_state: bool = True) -> PublishError:
        fails = self.failures()
        first = f"{fails[0].item.filename}: {fails[0].message.rstrip('. ')}" if fails else "-"
        more = f" ({len(fails) - 1} more failure(s) listed above)" if len(fails) > 1 else ""
        state = f" {self.registry_state()}" if with_state else ""
        return PublishError(f"Publishing failed: {first}.{more}{state}")
