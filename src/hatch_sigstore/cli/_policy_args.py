"""The signer-policy and trust flags of ``hatch-sigstore verify`` and ``download``, defined once.

``add_policy_arguments(parser)`` adds the flags, ``policy_from_args(args, env)`` builds the
:class:`~hatch_sigstore.verify.Policy` they ask for (refusing to guess when none names a
signer) and ``trust_from_args(args, env)`` picks the Sigstore instance. Both commands call these
three and nothing else, so they accept and refuse exactly the same things with the same words.
``add_signer_arguments`` alone is the signer half: ``index serve`` reads its
``[package.NAME]`` keys off it, so a TOML policy has exactly the flags' names and meaning.
Registering imports argparse only; sigstore is imported when a policy is used.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from hatch_sigstore.identity import DEFAULT_CONFIG_PATH, DEFAULT_SERVER

if TYPE_CHECKING:
    from hatch_sigstore.identity import ExpectedIdentity
    from hatch_sigstore.trust import TrustChoice
    from hatch_sigstore.verify import Policy

__all__ = [
    "add_policy_arguments",
    "add_signer_arguments",
    "add_trust_arguments",
    "policy_from_args",
    "trust_from_args",
]

# Flags that refine a GitLab policy: (flag, attribute).
_GITLAB_REFINEMENTS = (
    ("--server", "server"),
    ("--ref", "ref"),
    ("--ref-glob", "ref_glob"),
    ("--config-path", "config_path"),
    ("--project-id", "project_id"),
    ("--runner-environment", "runner_environment"),
    ("--sha", "sha"),
)
_COSIGN_FLAGS = (
    "cert_identity",
    "cert_identity_regexp",
    "cert_oidc_issuer",
    "cert_oidc_issuer_regexp",
)


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the signer policy flags (one policy is required) and the trust flags to ``parser``."""
    add_signer_arguments(parser)
    add_trust_arguments(parser)


def add_signer_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that say who must have signed (``policy_from_args`` reads them)."""
    gitlab = parser.add_argument_group(
        "who must have signed (one policy is required): a GitLab CI pipeline",
        "The certificate must come from a pipeline of this project on this GitLab instance: "
        "issuer, SAN https://HOST/GROUP/PROJECT//CONFIG@REF (GitLab's '//'), source repository "
        "and ref extensions. Any ref unless --ref/--ref-glob; --project-id pins the numeric id, "
        "which survives renames and transfers.",
    )
    gitlab.add_argument(
        "--gitlab", metavar="GROUP/PROJECT", help="full path of the project whose pipeline signed"
    )
    gitlab.add_argument(
        "--server",
        metavar="URL",
        help=f"the GitLab instance, the certificate's issuer (default: {DEFAULT_SERVER})",
    )
    refs = gitlab.add_mutually_exclusive_group()
    refs.add_argument(
        "--ref", metavar="REF", help="exact full ref: refs/tags/v1.0 or refs/heads/main"
    )
    refs.add_argument(
        "--ref-glob",
        metavar="PATTERN",
        help="shell-style pattern over the full ref, e.g. 'refs/tags/v*' (* also matches /)",
    )
    gitlab.add_argument(
        "--config-path",
        metavar="PATH",
        help=f"CI config file path in the identity (default: {DEFAULT_CONFIG_PATH})",
    )
    gitlab.add_argument("--project-id", metavar="ID", help="numeric project id (OID .15)")
    gitlab.add_argument(
        "--runner-environment", metavar="ENV", help="gitlab-hosted or self-hosted (OID .11)"
    )
    gitlab.add_argument("--sha", metavar="SHA", help="full commit SHA (OID .13)")
    gitlab.add_argument(
        "--from-ci",
        action="store_true",
        help="expect the identity of the running GitLab pipeline (CI_SERVER_URL, "
        "CI_PROJECT_PATH, CI_PROJECT_ID, CI_CONFIG_PATH, CI_COMMIT_TAG/CI_COMMIT_BRANCH); "
        "the flags above override its parts",
    )
    cosign = parser.add_argument_group(
        "who must have signed (one policy is required): any signer, cosign's flags",
        "One identity and one issuer flag. Regexps are searched, like cosign's: anchor them "
        "with ^...$.",
    )
    ident = cosign.add_mutually_exclusive_group()
    ident.add_argument("--cert-identity", metavar="SAN", help="exact certificate identity (SAN)")
    ident.add_argument(
        "--cert-identity-regexp", metavar="REGEXP", help="regexp searched in the identity"
    )
    issuer = cosign.add_mutually_exclusive_group()
    issuer.add_argument("--cert-oidc-issuer", metavar="URL", help="exact OIDC issuer")
    issuer.add_argument(
        "--cert-oidc-issuer-regexp", metavar="REGEXP", help="regexp searched in the issuer"
    )
    release = parser.add_argument_group(
        "what each dist must be",
        "A wheel's or sdist's own metadata (Name, Version) must always match its file name "
        "(and, for download, NAME==VERSION): a signature binds bytes, not a release.",
    )
    release.add_argument(
        "--version-from-tag",
        action="store_true",
        help="also require each dist's version to be the tag its certificate was issued at "
        "(refs/tags/v1.2.3 => 1.2.3, PEP 440-normalised); a dist signed on a branch, or at "
        "another release's tag, fails",
    )


def add_trust_arguments(parser: argparse.ArgumentParser) -> None:
    """--staging / --trust-config (``trust_from_args`` reads them)."""
    trust = parser.add_argument_group("which Sigstore to trust")
    where = trust.add_mutually_exclusive_group()
    where.add_argument("--staging", action="store_true", help="trust the public staging Sigstore")
    where.add_argument(
        "--trust-config",
        metavar="FILE",
        help="ClientTrustConfig JSON of a private Sigstore (env HATCH_SIGSTORE_TRUST_CONFIG; "
        "default: the public production instance)",
    )


def trust_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> TrustChoice:
    """The Sigstore to trust: --trust-config or --staging, else $HATCH_SIGSTORE_TRUST_CONFIG, else
    the public production instance."""
    from hatch_sigstore.trust import TrustChoice

    return TrustChoice.resolve(staging=args.staging, trust_config=args.trust_config, env=env)


def policy_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Policy:
    """The policy the flags ask for; raises ConfigError when none names a signer."""
    from hatch_sigstore.ci import CIContext
    from hatch_sigstore.errors import ConfigError
    from hatch_sigstore.identity import Given, Source, expect
    from hatch_sigstore.verify import Policy

    cosign_flags = any(getattr(args, name) is not None for name in _COSIGN_FLAGS)
    refinements = [flag for flag, name in _GITLAB_REFINEMENTS if getattr(args, name) is not None]
    gitlab = args.gitlab is not None or args.from_ci
    if gitlab and cosign_flags:
        raise ConfigError(
            "Both a GitLab policy (--gitlab/--from-ci) and cosign identity flags "
            "(--cert-identity…, --cert-oidc-issuer…) were given.",
            remediation="Use one: --gitlab checks the same certificate claims more precisely.",
        )
    if not gitlab:
        if refinements:
            raise ConfigError(
                f"{', '.join(refinements)} refine a GitLab policy, but --gitlab was not given.",
                remediation="Add --gitlab GROUP/PROJECT (or --from-ci inside a pipeline).",
            )
        return Policy.cosign(
            cert_identity=args.cert_identity,
            cert_identity_regexp=args.cert_identity_regexp,
            cert_oidc_issuer=args.cert_oidc_issuer,
            cert_oidc_issuer_regexp=args.cert_oidc_issuer_regexp,
            version_from_tag=args.version_from_tag,
        )
    base: ExpectedIdentity | None = None
    if args.from_ci:
        base = CIContext.from_env(env).expected_identity()
        if base is None:
            raise ConfigError(
                "--from-ci was given, but CI_SERVER_URL and CI_PROJECT_PATH are not set: this "
                "is not a GitLab CI job.",
                remediation="Run it in a GitLab pipeline, or pass --gitlab GROUP/PROJECT.",
            )

    def given(flag: str, value: str | None, from_ci: str | None, variable: str) -> Given | None:
        if value is not None:
            return Given(value, Source(flag))
        return None if from_ci is None else Given(from_ci, Source.variable(variable))

    ref = given("--ref", args.ref, base.ref if base else None, "CI_COMMIT_TAG/CI_COMMIT_BRANCH")
    if args.ref_glob is not None and args.ref is None:
        ref = None  # an explicit pattern replaces the pipeline's own ref
    if base is not None and not _same_project(args, base):
        # --gitlab/--server name another project: the pipeline's project id is not its id
        # (its ref stays: a policy is never widened without --ref/--ref-glob)
        base = base._replace(project_id=None)
    identity = expect(
        server=given("--server", args.server, base.server if base else None, "CI_SERVER_URL"),
        project_path=given(
            "--gitlab", args.gitlab, base.project_path if base else None, "CI_PROJECT_PATH"
        )
        or Given("", Source("--gitlab")),
        ref=ref,
        ref_glob=given("--ref-glob", args.ref_glob, None, ""),
        config_path=given(
            "--config-path", args.config_path, base.config_path if base else None, "CI_CONFIG_PATH"
        ),
        project_id=given(
            "--project-id", args.project_id, base.project_id if base else None, "CI_PROJECT_ID"
        ),
    )
    return Policy.gitlab(
        identity,
        runner_environment=args.runner_environment,
        sha=args.sha,
        version_from_tag=args.version_from_tag,
    )


def _same_project(args: argparse.Namespace, base: ExpectedIdentity) -> bool:
    """Do --gitlab and --server (when given) name the running pipeline's own project?"""
    project = (args.gitlab or base.project_path).strip().strip("/").lower()
    server = (args.server or base.server).strip().rstrip("/").lower()
    return project == base.project_path.lower() and server == base.server.lower()
