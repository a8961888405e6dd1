"""The signer-policy keys, defined once: what each means and how their values make a Policy.

``hatch-sigstore verify`` and ``download`` offer them as flags (``--ref-glob``), the index's
``[package.NAME]`` tables as TOML keys (``ref-glob``): both read :data:`POLICY_KEYS` (name,
kind, help, which keys exclude each other, the help section) and build the policy with
:func:`build_policy`, so they accept and refuse exactly the same things. Errors name each key
in the caller's words (:data:`~hatch_sigstore.verify.policy.Naming`: ``--ref-glob`` for the
CLI, ``ref-glob`` for a TOML table) and carry the keys they are about
(:class:`~hatch_sigstore.identity.GivenError`), so a TOML reader files each under its path.

How the keys map onto the policies:

* ``gitlab`` (or ``from-ci``) makes a :meth:`Policy.gitlab`; ``server``, ``ref``/``ref-glob``,
  ``config-path`` and ``project-id`` refine its :class:`~hatch_sigstore.identity.ExpectedIdentity`,
  ``runner-environment`` and ``sha`` pin two more certificate claims;
* ``from-ci`` takes every part the keys leave out from the running pipeline's variables
  (``CI_SERVER_URL``, ``CI_PROJECT_PATH``, ``CI_PROJECT_ID``, ``CI_CONFIG_PATH``,
  ``CI_COMMIT_TAG``/``CI_COMMIT_BRANCH``); a ``ref-glob`` replaces the pipeline's ref, and
  naming another project drops the pipeline's project id;
* otherwise ``cert-identity[-regexp]`` and ``cert-oidc-issuer[-regexp]`` make a
  :meth:`Policy.cosign`; without any, nothing is guessed;
* ``version-from-tag`` applies to either.

Data and string work only: building a policy imports neither sigstore nor cryptography.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hatch_sigstore.identity import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_SERVER,
    ExpectedIdentity,
    Given,
    GivenError,
    Source,
    expect,
)
from hatch_sigstore.verify.policy import Naming, Policy

__all__ = ["POLICY_KEYS", "SECTIONS", "PolicyKey", "build_policy"]

Kind = Literal["text", "switch"]
Section = Literal["gitlab", "cosign", "release"]

# The sections the keys are shown in: (title, description), as ``--help`` prints them.
SECTIONS: Mapping[Section, tuple[str, str]] = {
    "gitlab": (
        "who must have signed (one policy is required): a GitLab CI pipeline",
        "The certificate must come from a pipeline of this project on this GitLab instance: "
        "issuer, SAN https://HOST/GROUP/PROJECT//CONFIG@REF (GitLab's '//'), source repository "
        "and ref extensions. Any ref unless --ref/--ref-glob; --project-id pins the numeric id, "
        "which survives renames and transfers.",
    ),
    "cosign": (
        "who must have signed (one policy is required): any signer, cosign's flags",
        "One identity and one issuer flag. Regexps are searched, like cosign's: anchor them "
        "with ^...$.",
    ),
    "release": (
        "what each dist must be",
        "A wheel's or sdist's own metadata (Name, Version) must always match its file name "
        "(and, for download, NAME==VERSION): a signature binds bytes, not a release.",
    ),
}


@dataclass(frozen=True)
class PolicyKey:
    """One key: ``name`` is the TOML key and, with ``--``, the flag. ``exclusive``: keys that
    share it exclude each other (at most one may be given)."""

    name: str
    section: Section
    help: str
    kind: Kind = "text"
    metavar: str | None = None
    exclusive: str | None = None

    @property
    def field(self) -> str:
        """The Python name of the value (argparse's ``dest``): ``ref-glob`` → ``ref_glob``."""
        return self.name.replace("-", "_")


POLICY_KEYS: tuple[PolicyKey, ...] = (
    PolicyKey("gitlab", "gitlab", "full path of the project whose pipeline signed",
              metavar="GROUP/PROJECT"),
    PolicyKey("server", "gitlab",
              f"the GitLab instance, the certificate's issuer (default: {DEFAULT_SERVER})",
              metavar="URL"),
    PolicyKey("ref", "gitlab", "exact full ref: refs/tags/v1.0 or refs/heads/main",
              metavar="REF", exclusive="ref"),
    PolicyKey("ref-glob", "gitlab",
              "shell-style pattern over the full ref, e.g. 'refs/tags/v*' (* also matches /)",
              metavar="PATTERN", exclusive="ref"),
    PolicyKey("config-path", "gitlab",
              f"CI config file path in the identity (default: {DEFAULT_CONFIG_PATH})",
              metavar="PATH"),
    PolicyKey("project-id", "gitlab", "numeric project id (OID .15)", metavar="ID"),
    PolicyKey("runner-environment", "gitlab", "gitlab-hosted or self-hosted (OID .11)",
              metavar="ENV"),
    PolicyKey("sha", "gitlab", "full commit SHA (OID .13)", metavar="SHA"),
    PolicyKey("from-ci", "gitlab",
              "expect the identity of the running GitLab pipeline (CI_SERVER_URL, "
              "CI_PROJECT_PATH, CI_PROJECT_ID, CI_CONFIG_PATH, CI_COMMIT_TAG/CI_COMMIT_BRANCH); "
              "the flags above override its parts",
              kind="switch"),
    PolicyKey("cert-identity", "cosign", "exact certificate identity (SAN)", metavar="SAN",
              exclusive="identity"),
    PolicyKey("cert-identity-regexp", "cosign", "regexp searched in the identity",
              metavar="REGEXP", exclusive="identity"),
    PolicyKey("cert-oidc-issuer", "cosign", "exact OIDC issuer", metavar="URL",
              exclusive="issuer"),
    PolicyKey("cert-oidc-issuer-regexp", "cosign", "regexp searched in the issuer",
              metavar="REGEXP", exclusive="issuer"),
    PolicyKey("version-from-tag", "release",
              "also require each dist's version to be the tag its certificate was issued at "
              "(refs/tags/v1.2.3 => 1.2.3, PEP 440-normalised); a dist signed on a branch, or at "
              "another release's tag, fails",
              kind="switch"),
)  # fmt: skip
_BY_NAME = {key.name: key for key in POLICY_KEYS}
_REFINEMENTS = ("server", "ref", "ref-glob", "config-path", "project-id", "runner-environment",
                "sha")  # fmt: skip
_COSIGN = ("cert-identity", "cert-identity-regexp", "cert-oidc-issuer", "cert-oidc-issuer-regexp")


def build_policy(
    values: Mapping[str, str | bool | None],
    *,
    named: Naming = Source.flag,
    env: Mapping[str, str] | None = None,
) -> Policy:
    """The policy the keys in ``values`` ask for (``None``/``False``/absent: not given).

    Raises :class:`~hatch_sigstore.identity.GivenError` (a ConfigError; several at once
    collected in one) naming each key as ``named`` says; never guesses a signer. ``env``:
    the variables ``from-ci`` reads (default: the process's).
    """
    for name, value in values.items():
        key = _BY_NAME.get(name)
        if key is None:
            raise TypeError(f"not a policy key: {name!r}")
        if value is not None and not isinstance(value, bool if key.kind == "switch" else str):
            raise TypeError(f"the policy key {name!r} takes a {key.kind}, not {value!r}")
    text = {k: v for k, v in values.items() if isinstance(v, str)}
    switch = {k for k, v in values.items() if v is True}
    _exclusive(text, switch, named)
    from_tag = "version-from-tag" in switch
    gitlab = "gitlab" in text or "from-ci" in switch
    if gitlab and any(k in text for k in _COSIGN):
        first = next(k for k in _COSIGN if k in text)
        raise GivenError(
            f"Both a GitLab policy ({named('gitlab')}/{named('from-ci')}) and cosign identity "
            f"keys ({named('cert-identity')}…, {named('cert-oidc-issuer')}…) were given.",
            remediation=f"Use one: {named('gitlab')} checks the same certificate claims more "
            "precisely.",
            sources=(named(first),),
        )
    if not gitlab:
        refinements = [k for k in _REFINEMENTS if k in text]
        if refinements:
            raise GivenError(
                f"{', '.join(str(named(k)) for k in refinements)} refine a GitLab policy, but "
                f"{named('gitlab')} was not given.",
                remediation=f"{_sentence(named('gitlab').fix('GROUP/PROJECT'))} (or "
                f"{named('from-ci')} inside a pipeline).",
                sources=tuple(named(k) for k in refinements),
            )
        return Policy.cosign(
            cert_identity=text.get("cert-identity"),
            cert_identity_regexp=text.get("cert-identity-regexp"),
            cert_oidc_issuer=text.get("cert-oidc-issuer"),
            cert_oidc_issuer_regexp=text.get("cert-oidc-issuer-regexp"),
            version_from_tag=from_tag,
            named=named,
        )
    return _gitlab(text, "from-ci" in switch, from_tag, named, env)


def _exclusive(text: Mapping[str, str], switch: set[str], named: Naming) -> None:
    """At most one key of each exclusive set (argparse refuses the same for the flags)."""
    given = {*text, *switch}
    sets: dict[str, list[str]] = {}
    for key in POLICY_KEYS:
        if key.exclusive is not None and key.name in given:
            sets.setdefault(key.exclusive, []).append(key.name)
    for names in sets.values():
        if len(names) > 1:
            sources = tuple(named(n) for n in names)
            raise GivenError(
                f"Both {' and '.join(map(str, sources))} are set.",
                remediation=f"Give one of {' and '.join(map(str, sources))}.",
                sources=sources,
            )


def _gitlab(
    text: Mapping[str, str],
    from_ci: bool,
    from_tag: bool,
    named: Naming,
    env: Mapping[str, str] | None,
) -> Policy:
    from hatch_sigstore.ci import CIContext

    base: ExpectedIdentity | None = None
    if from_ci:
        base = CIContext.from_env(env).expected_identity(
            ref_elsewhere="ref" in text or "ref-glob" in text,
            ref_fix=f"{named('ref').fix('refs/tags/v1.0')} (or {named('ref-glob')})",
        )
        if base is None:
            raise GivenError(
                f"{named('from-ci')} was given, but CI_SERVER_URL and CI_PROJECT_PATH are not "
                "set: this is not a GitLab CI job.",
                remediation=f"Run it in a GitLab pipeline, or "
                f"{named('gitlab').fix('GROUP/PROJECT')}.",
                sources=(named("from-ci"),),
            )

    def given(key: str, from_pipeline: str | None, variable: str) -> Given | None:
        if key in text:
            return Given(text[key], named(key))
        return None if from_pipeline is None else Given(from_pipeline, Source.variable(variable))

    ref = given("ref", base.ref if base else None, "CI_COMMIT_TAG/CI_COMMIT_BRANCH")
    if "ref-glob" in text and "ref" not in text:
        ref = None  # an explicit pattern replaces the pipeline's own ref
    if base is not None and not _same_project(text, base):
        # another project than the pipeline's: the pipeline's project id is not its id (its
        # ref stays: a policy is never widened without ref or ref-glob)
        base = base._replace(project_id=None)
    identity = expect(
        server=given("server", base.server if base else None, "CI_SERVER_URL"),
        project_path=given("gitlab", base.project_path if base else None, "CI_PROJECT_PATH")
        or Given("", named("gitlab")),
        ref=ref,
        ref_glob=given("ref-glob", None, ""),
        config_path=given("config-path", base.config_path if base else None, "CI_CONFIG_PATH"),
        project_id=given("project-id", base.project_id if base else None, "CI_PROJECT_ID"),
    )
    return Policy.gitlab(
        identity,
        runner_environment=text.get("runner-environment"),
        sha=text.get("sha"),
        version_from_tag=from_tag,
        named=named,
    )


def _same_project(text: Mapping[str, str], base: ExpectedIdentity) -> bool:
    """Do ``gitlab`` and ``server`` (when given) name the running pipeline's own project?"""
    project = text.get("gitlab", base.project_path).strip().strip("/").lower()
    server = text.get("server", base.server).strip().rstrip("/").lower()
    return project == base.project_path.lower() and server == base.server.lower()


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
