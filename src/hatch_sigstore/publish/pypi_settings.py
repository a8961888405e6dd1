"""Settings of ``hatch publish -p pypi``: options, project table, user config, the job's ID token.

Precedence as for GitLab (:mod:`.settings`): ``-o key=value`` > ``[tool.hatch.publish.pypi]`` >
hatch's user config > the CI job; every problem is reported at once, each named as it was
given. The upload token comes from trusted publishing (the job's ID token, ``PYPI_ID_TOKEN``
by default) or, as a fallback, from an API token in a variable the settings *name*; literal
tokens are refused wherever they come from.

With attestations on (the default), what PyPI will check at upload is settled here, so a
refusal comes before anything is sent: PyPI verifies attestations only for a trusted
publisher, only from ``https://gitlab.com`` (pypi-attestations hard-codes the issuer) and only
against the public Sigstore. The expected publisher is the one the ID token will match: its
project path and CI file (``ci_config_ref_uri``), unless ``gitlab-project`` / ``config-path``
name another; the pipeline's ref pins which ref signed. Nothing here imports hatch, httpx or
sigstore.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from hatch_sigstore.ci import CIContext
from hatch_sigstore.errors import ConfigError, TokenError
from hatch_sigstore.identity import DEFAULT_CONFIG_PATH, Given, Source, expect
from hatch_sigstore.publish.settings import (
    DEFAULT_CONCURRENCY,
    _as_str,
    _merge,
    _Reader,
    _Value,
)
from hatch_sigstore.pypi import (
    DEFAULT_API_TOKEN_ENV,
    DEFAULT_ID_TOKEN_ENV,
    IDToken,
    IndexURLs,
    UploadToken,
)
from hatch_sigstore.trust import TRUST_CONFIG_ENV, TrustChoice

if TYPE_CHECKING:
    from hatch_sigstore.verify import Policy, TrustedPublisher

__all__ = ["PYPI_OPTIONS", "PYPI_PLUGIN_NAME", "PYPI_TABLE", "PyPISettings", "resolve_pypi"]

PYPI_PLUGIN_NAME = "pypi"
PYPI_TABLE = f"[tool.hatch.publish.{PYPI_PLUGIN_NAME}]"
PYPI_GITLAB = "https://gitlab.com"  # the only GitLab issuer PyPI verifies attestations from

# key -> (default, help). The single source for validation, messages and the README table.
PYPI_OPTIONS: dict[str, tuple[str, str]] = {
    "url": ("pypi", "pypi, testpypi, or an index's upload URL ending in /legacy/"),
    "id-token-env": (
        DEFAULT_ID_TOKEN_ENV,
        "NAME of the variable with the job's ID token (id_tokens: …: aud: pypi)",
    ),
    "token-env": (
        f"{DEFAULT_API_TOKEN_ENV}, only without an ID token",
        "NAME of the variable with an API token (fallback; no attestations then)",
    ),
    "attestations": ("true", "send each dist's .publish.attestation (false: upload without)"),
    "artifacts": ("dist/", "files or directories to publish (hatch publish ARGS override it)"),
    "gitlab-project": (
        "the ID token's project_path, else CI_PROJECT_PATH",
        "NAMESPACE/PROJECT of the GitLab trusted publisher registered on the index",
    ),
    "config-path": (
        "the ID token's CI file, else CI_CONFIG_PATH or .gitlab-ci.yml",
        "the publisher's top-level pipeline file path",
    ),
    "ref": ("the pipeline's ref", "full ref that must have signed: refs/tags/v1.0"),
    "ref-glob": ("-", "glob over the signing ref instead, e.g. refs/tags/v*"),
    "trust-config": (TRUST_CONFIG_ENV, "ClientTrustConfig JSON of the Sigstore the index trusts"),
    "staging": ("false", "trust the public staging Sigstore"),
    "ca-bundle": ("system CAs", "PEM file of the CA that signed the index's TLS certificate"),
    "dry-run": ("false", "print the plan, exchange no token, send nothing"),
    "concurrency": (str(DEFAULT_CONCURRENCY), "parallel uploads"),
    "timeout": ("client default", "seconds per HTTP request"),
    "retries": ("client default", "attempts for transient failures"),
}
_ALIASES = {"repository": "url", "repo": "url", "index": "url"}
_LITERAL_FIX = (
    "Publish with trusted publishing (the job's ID token: id_tokens: PYPI_ID_TOKEN: aud: pypi), "
    'or put an API token in a masked CI/CD variable and name it: token-env = "PYPI_API_TOKEN".'
)


@dataclass(frozen=True)
class PyPISettings:
    """Everything a PyPI publish needs, resolved and validated. The ID token's claims are read
    (to name the publisher); its value and any API token stay hidden."""

    urls: IndexURLs
    id_token: IDToken | None = field(repr=False)
    token_env: str
    token_env_given: bool
    attestations: bool
    artifacts: tuple[Path, ...]
    publisher: TrustedPublisher | None
    policy: Policy | None
    policy_text: str
    trust: TrustChoice
    ca_bundle: str | None = None
    dry_run: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float | None = None
    retries: int | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def trusted_publishing(self) -> bool:
        return self.id_token is not None

    def api_token(self) -> UploadToken:
        """The fallback API token, read now from the variable the settings name."""
        token = UploadToken.from_env(self.token_env, self.env)
        if token is None:
            raise TokenError(
                f"No token to upload with: the ID token variable is not set, and "
                f"{self.token_env} holds no API token.",
                remediation=_no_token_fix(self.urls),
            )
        return token

    def describe_auth(self) -> str:
        if self.id_token is not None:
            return f"trusted publishing (the ID token in {self.id_token.source})"
        return f"the API token in {self.token_env}"


def _no_token_fix(urls: IndexURLs) -> str:
    return (
        f"Publish with trusted publishing: register this GitLab project as a trusted publisher "
        f"of the project on {urls.name} (its Publishing settings) and give the job an ID token "
        "(id_tokens: PYPI_ID_TOKEN: aud: pypi); or put an API token in a masked variable and "
        'name it with token-env = "PYPI_API_TOKEN" (then -o attestations=false: PyPI takes '
        "attestations only with trusted publishing)."
    )


def resolve_pypi(
    options: Mapping[str, object],
    project_config: Mapping[str, object] | None = None,
    user_config: Mapping[str, object] | None = None,
    *,
    artifacts: Sequence[str] = (),
    root: Path,
    env: Mapping[str, str],
) -> PyPISettings:
    """Merge ``-o`` > project table > user table > the CI job, and check all of it.

    Raises one :class:`ConfigError` listing every problem, each named as it was given.
    """
    errors: list[ConfigError] = []
    values = _merge(
        options,
        project_config or {},
        user_config or {},
        errors,
        known=PYPI_OPTIONS,
        plugin=PYPI_PLUGIN_NAME,
        aliases=_ALIASES,
        literal="a PyPI token",
        literal_fix=_LITERAL_FIX,
    )
    ci = CIContext.from_env(env)

    reader = _Reader(values, errors)
    read, flag, text, number = reader.read, reader.flag, reader.text, reader.number

    url_source = values["url"].source if "url" in values else "url"
    urls = read(
        lambda: IndexURLs.resolve(text("url") or "pypi", url_source),
        IndexURLs.resolve("pypi", "url"),
    )
    id_env = text("id-token-env") or DEFAULT_ID_TOKEN_ENV
    token_env = text("token-env") or DEFAULT_API_TOKEN_ENV
    id_token = read(lambda: _id_token(id_env, env, values), None)
    read(lambda: _check_api_token_env(token_env, values), None)

    if artifacts:
        paths = tuple(Path(a) for a in artifacts)
    elif "artifacts" in values:
        raw = values["artifacts"].value
        items = raw if isinstance(raw, list) else [raw]
        where = values["artifacts"].source
        paths = tuple(root / read(partial(_as_str, _Value(item, where)), "") for item in items)
    else:
        paths = (root / "dist",)

    attestations = flag("attestations", True)
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
    publisher: TrustedPublisher | None = None
    policy: Policy | None = None
    policy_text = "none: attestations are off"
    if attestations:
        checked = read(
            lambda: _attestation_policy(
                values, ci, urls=urls, id_token=id_token, trust=trust, id_env=id_env
            ),
            None,
        )
        if checked is not None:
            publisher, policy = checked
            policy_text = policy.describe()
    ca_bundle = text("ca-bundle")
    if ca_bundle is not None and not (root / ca_bundle).is_file():
        errors.append(
            ConfigError(
                f"{values['ca-bundle'].source} names {ca_bundle!r}, which is not a file.",
                remediation="Give the path of a PEM file with the index's CA certificate(s).",
            )
        )
    concurrency = number("concurrency", integer=True, minimum=1)
    timeout = number("timeout", integer=False, minimum=0.1)
    retries = number("retries", integer=True, minimum=0)
    dry_run = flag("dry-run")
    if errors:
        raise ConfigError.collect(errors)
    return PyPISettings(
        urls=urls,
        id_token=id_token,
        token_env=token_env,
        token_env_given="token-env" in values,
        attestations=attestations,
        artifacts=paths,
        publisher=publisher,
        policy=policy,
        policy_text=policy_text,
        trust=trust,
        ca_bundle=None if ca_bundle is None else str(root / ca_bundle),
        dry_run=dry_run,
        concurrency=DEFAULT_CONCURRENCY if concurrency is None else int(concurrency),
        timeout=timeout,
        retries=None if retries is None else int(retries),
        env=dict(env),
    )


def _id_token(name: str, env: Mapping[str, str], values: Mapping[str, _Value]) -> IDToken | None:
    try:
        return IDToken.from_env(name, env)
    except ConfigError as exc:  # not a variable name
        source = values["id-token-env"].source if "id-token-env" in values else "id-token-env"
        raise ConfigError(f"{source}: {exc.message}", remediation=exc.remediation) from None
    except TokenError as exc:
        raise ConfigError(exc.message, remediation=exc.remediation) from None


def _check_api_token_env(name: str, values: Mapping[str, _Value]) -> None:
    try:
        UploadToken.from_env(name, {})
    except ConfigError as exc:
        source = values["token-env"].source if "token-env" in values else "token-env"
        raise ConfigError(f"{source}: {exc.message}", remediation=exc.remediation) from None


def _off(reason: str, fix: str) -> ConfigError:
    return ConfigError(
        f"Attestations cannot be sent: {reason}. Nothing was uploaded.",
        remediation=f"{fix} To publish without attestations, pass -o attestations=false (or "
        f"set attestations = false in {PYPI_TABLE}); consumers then cannot check the dists "
        "on the index.",
    )


def _attestation_policy(
    values: Mapping[str, _Value],
    ci: CIContext,
    *,
    urls: IndexURLs,
    id_token: IDToken | None,
    trust: TrustChoice,
    id_env: str,
) -> tuple[TrustedPublisher, Policy]:
    """The publisher PyPI will check attestations against, or why none can be sent."""
    from hatch_sigstore.verify import Policy, TrustedPublisher

    if id_token is None:
        raise _off(
            f"there is no ID token ({id_env} is not set), and PyPI accepts attestations only "
            "with trusted publishing, never with an API token",
            f"Give the job an ID token (id_tokens: {id_env}: aud: pypi) and register the "
            f"project as a trusted publisher on {urls.name}.",
        )
    issuer = (id_token.issuer or "").rstrip("/")
    if issuer != PYPI_GITLAB:
        raise _off(
            f"the ID token comes from {issuer or 'an unknown issuer'}, and PyPI verifies "
            f"attestations only from {PYPI_GITLAB} (pypi-attestations' GitLab publisher "
            "hard-codes that issuer), so it would refuse every upload with one",
            "Self-managed GitLab can still publish with trusted publishing (a custom issuer "
            "registered by the PyPI organization) but without attestations; its signatures "
            "stay verifiable from its own registry (hatch publish -p gitlab).",
        )
    if urls.known is not None and trust.kind != "production":
        raise _off(
            f"the dists are checked against {trust.describe()}, but {urls.name} verifies "
            "attestations only against the public production Sigstore",
            "Sign with the public Sigstore (no trust-config, no HATCH_SIGSTORE_TRUST_CONFIG) "
            "to attest on PyPI.",
        )

    def given(key: str, value: str | None, origin: str) -> Given | None:
        if key in values:
            return Given(_as_str(values[key]), Source(key, "option", cited=values[key].source))
        return None if value is None else Given(value, Source.variable(origin))

    project = given("gitlab-project", id_token.project_path, f"{id_token.source} (project_path)")
    project = project or given("gitlab-project", ci.project_path, "CI_PROJECT_PATH")
    if project is None:
        raise ConfigError(
            "The GitLab project of the trusted publisher is unknown: the ID token names none "
            "and CI_PROJECT_PATH is not set.",
            remediation=f'Set gitlab-project = "namespace/project" in {PYPI_TABLE}.',
        )
    config = given(
        "config-path", id_token.workflow_filepath, f"{id_token.source} (ci_config_ref_uri)"
    ) or Given(ci.config_path or DEFAULT_CONFIG_PATH, Source.variable("CI_CONFIG_PATH"))
    ref = given("ref", id_token.ref_path, f"{id_token.source} (ref_path)")
    ref_glob = given("ref-glob", None, "")
    if ref_glob is not None and "ref" not in values:
        ref = None  # a pattern replaces the pipeline's own ref
    identity = expect(
        server=Given(PYPI_GITLAB, Source.variable(f"{id_token.source} (iss)")),
        project_path=project,
        ref=ref,
        ref_glob=ref_glob,
        config_path=config,
    )
    publisher = TrustedPublisher.gitlab(
        identity.project_path, identity.config_path, id_token.environment
    )
    from hatch_sigstore.verify import PublisherPolicy

    return publisher, PublisherPolicy(publisher, also=Policy.gitlab(identity))
