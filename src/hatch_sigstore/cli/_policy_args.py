"""The verification-policy flags shared by ``hatch-sigstore verify`` and ``download``.

``add_policy_arguments(parser)`` adds the same signer and trust flags ``verify`` has;
``policy_from_args(args)`` builds the policy with ``verify``'s own rules (its ``build_policy``),
so both commands accept and refuse exactly the same things; ``trust_from_args(args)`` picks the
Sigstore instance. Registering imports argparse only; sigstore is imported when a policy is used.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from hatch_sigstore.ci import DEFAULT_CONFIG_PATH, DEFAULT_SERVER

if TYPE_CHECKING:
    from hatch_sigstore.trust import TrustChoice
    from hatch_sigstore.verification import Policy

__all__ = ["add_policy_arguments", "policy_from_args", "trust_from_args"]


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the signer policy and trust flags of ``hatch-sigstore verify`` to ``parser``."""
    gitlab = parser.add_argument_group(
        "who must have signed: a GitLab CI pipeline",
        "The certificate must come from a pipeline of this project on this GitLab instance: "
        "issuer, SAN https://HOST/GROUP/PROJECT//CONFIG@REF (GitLab's '//'), source repository "
        "and ref extensions. Any ref unless --ref/--ref-glob.",
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
    gitlab.add_argument("--sha", metavar="SHA", help="commit SHA (OID .13)")
    gitlab.add_argument(
        "--from-ci",
        action="store_true",
        help="expect the identity of the running GitLab pipeline (CI_SERVER_URL, "
        "CI_PROJECT_PATH, CI_CONFIG_PATH, CI_COMMIT_TAG/CI_COMMIT_BRANCH)",
    )
    cosign = parser.add_argument_group(
        "who must have signed: any signer (cosign's flags)",
        "Regexps are searched, like cosign's: anchor them with ^...$.",
    )
    ident = cosign.add_mutually_exclusive_group()
    ident.add_argument("--cert-identity", metavar="SAN")
    ident.add_argument("--cert-identity-regexp", metavar="REGEXP")
    issuer = cosign.add_mutually_exclusive_group()
    issuer.add_argument("--cert-oidc-issuer", metavar="URL")
    issuer.add_argument("--cert-oidc-issuer-regexp", metavar="REGEXP")
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
    from hatch_sigstore.trust import TrustChoice

    return TrustChoice.resolve(
        staging=bool(getattr(args, "staging", False)),
        trust_config=getattr(args, "trust_config", None),
        env=env,
    )


def policy_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Policy:
    """The policy the flags ask for; refuses to guess when none names a signer.

    The same rules as ``hatch-sigstore verify``: this delegates to its ``build_policy``.
    """
    from hatch_sigstore.cli._verify import build_policy

    return build_policy(args, None if env is None else dict(env))
