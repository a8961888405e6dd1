"""``hatch-sigstore verify FILE...``: verify files from their sidecars against a signer policy."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hatch_sigstore.verification import FileResult, Policy

__all__ = ["register", "run"]

_EPILOG = """\
policies (one is required; hatch-sigstore never guesses who should have signed):
  --gitlab GROUP/PROJECT   a GitLab CI pipeline of that project, checked from the certificate's
                           GitLab claims; any ref unless --ref/--ref-glob; --project-id pins the
                           numeric id, which survives renames and transfers
  --cert-identity[-regexp] + --cert-oidc-issuer[-regexp]
                           cosign's flags and meaning; regexps are searched (unanchored, like
                           cosign): anchor them with ^...$
  --from-ci                the identity of the running GitLab pipeline (CI_SERVER_URL,
                           CI_PROJECT_PATH, CI_CONFIG_PATH, CI_COMMIT_TAG/CI_COMMIT_BRANCH)

examples:
  hatch-sigstore verify dist/* --gitlab my-group/my-project --ref-glob 'refs/tags/v*'
  hatch-sigstore verify dist/* --cert-identity \\
      'https://gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main' \\
      --cert-oidc-issuer https://gitlab.com
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="verify files from their signature sidecars",
        description="Verify every FILE from its sidecar: FILE.sigstore.json (Sigstore bundle), "
        "FILE.publish.attestation (PEP 740), or FILE.sig + FILE.crt (cosign; needs the "
        "transparency log online). Exits 0 only when every file verified.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="artifacts or directories of artifacts"
    )
    gitlab = parser.add_argument_group("GitLab CI signer")
    gitlab.add_argument("--gitlab", metavar="GROUP/PROJECT", help="the signing project's path")
    gitlab.add_argument(
        "--server",
        metavar="URL",
        help="the GitLab instance (the certificate's issuer); default https://gitlab.com",
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
        "--config-path", metavar="PATH", help="CI config file path; default .gitlab-ci.yml"
    )
    gitlab.add_argument("--project-id", metavar="ID", help="numeric project id (OID .15)")
    gitlab.add_argument(
        "--runner-environment",
        metavar="ENV",
        help="gitlab-hosted or self-hosted (OID .11)",
    )
    gitlab.add_argument("--sha", metavar="SHA", help="commit SHA (OID .13)")
    gitlab.add_argument(
        "--from-ci",
        action="store_true",
        help="expect the identity of the running GitLab pipeline (its project, config and ref)",
    )
    cosign = parser.add_argument_group("any signer (cosign's flags)")
    ident = cosign.add_mutually_exclusive_group()
    ident.add_argument("--cert-identity", metavar="SAN")
    ident.add_argument("--cert-identity-regexp", metavar="REGEXP")
    issuer = cosign.add_mutually_exclusive_group()
    issuer.add_argument("--cert-oidc-issuer", metavar="URL")
    issuer.add_argument("--cert-oidc-issuer-regexp", metavar="REGEXP")
    trust = parser.add_argument_group("trust")
    where = trust.add_mutually_exclusive_group()
    where.add_argument("--staging", action="store_true", help="trust the public staging Sigstore")
    where.add_argument(
        "--trust-config",
        metavar="FILE",
        help="ClientTrustConfig JSON of a private Sigstore (env HATCH_SIGSTORE_TRUST_CONFIG)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="make no network call at all (cosign .sig/.crt then cannot be checked)",
    )
    parser.add_argument(
        "--sidecar",
        choices=("bundle", "attestation", "cosign"),
        help="verify only this kind of sidecar (default: the first found, in this order)",
    )
    parser.add_argument("--json", action="store_true", help="print results as a JSON list")
    parser.set_defaults(func=run)


def build_policy(args: argparse.Namespace, env: dict[str, str] | None = None) -> Policy:
    from hatch_sigstore.ci import DEFAULT_SERVER, CIContext, ExpectedIdentity
    from hatch_sigstore.errors import ConfigError
    from hatch_sigstore.verification import Policy

    cosign_flags = any(
        getattr(args, name) is not None
        for name in (
            "cert_identity",
            "cert_identity_regexp",
            "cert_oidc_issuer",
            "cert_oidc_issuer_regexp",
        )
    )
    gitlab_flags = [
        flag
        for flag, name in (
            ("--server", "server"),
            ("--ref", "ref"),
            ("--ref-glob", "ref_glob"),
            ("--config-path", "config_path"),
            ("--project-id", "project_id"),
            ("--runner-environment", "runner_environment"),
            ("--sha", "sha"),
        )
        if getattr(args, name) is not None
    ]
    gitlab = args.gitlab is not None or args.from_ci
    if gitlab and cosign_flags:
        raise ConfigError(
            "Both a GitLab policy (--gitlab/--from-ci) and cosign identity flags "
            "(--cert-identity…, --cert-oidc-issuer…) were given.",
            remediation="Use one: --gitlab checks the same certificate claims more precisely.",
        )
    if not gitlab:
        if gitlab_flags:
            raise ConfigError(
                f"{', '.join(gitlab_flags)} refine a GitLab policy, but --gitlab was not given.",
                remediation="Add --gitlab GROUP/PROJECT (or --from-ci inside a pipeline).",
            )
        return Policy.cosign(
            cert_identity=args.cert_identity,
            cert_identity_regexp=args.cert_identity_regexp,
            cert_oidc_issuer=args.cert_oidc_issuer,
            cert_oidc_issuer_regexp=args.cert_oidc_issuer_regexp,
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
    ref = args.ref
    if ref is None and args.ref_glob is None and base is not None:
        ref = base.ref  # the pipeline's own ref unless a pattern was asked for
    identity = ExpectedIdentity(
        server=args.server or (base.server if base else DEFAULT_SERVER),
        project_path=args.gitlab or (base.project_path if base else ""),
        ref=ref,
        config_path=args.config_path or (base.config_path if base else ".gitlab-ci.yml"),
        project_id=args.project_id or (base.project_id if base else None),
    )
    return Policy.gitlab(
        identity,
        ref_glob=args.ref_glob,
        runner_environment=args.runner_environment,
        sha=args.sha,
    )


def expand(files: Sequence[str]) -> list[Path]:
    """Artifacts to verify: files as given, directories' non-sidecar files; sidecars skipped."""
    from hatch_sigstore._sidecars import is_sidecar

    out: list[Path] = []
    for name in files:
        path = Path(name)
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.is_file() and not is_sidecar(p))
        elif not is_sidecar(path):
            out.append(path)
    seen: set[Path] = set()
    unique = []
    for path in out:
        if path not in seen:
            seen.add(path)
            unique.append(path)
    return unique


def run(args: argparse.Namespace) -> int:
    import logging

    from hatch_sigstore.errors import ConfigError
    from hatch_sigstore.trust import TrustChoice
    from hatch_sigstore.verification import verify_files

    policy = build_policy(args)
    trust = TrustChoice.resolve(staging=args.staging, trust_config=args.trust_config)
    paths = expand(args.files)
    if not paths:
        raise ConfigError(
            "Only signature sidecars were given; there is nothing to verify.",
            remediation="Pass the artifacts themselves (dist/*.whl dist/*.tar.gz) or dist/.",
        )
    # sigstore logs a warning for every offline TUF load; the result table says it all.
    logging.getLogger("sigstore").setLevel(logging.ERROR)
    results = verify_files(paths, policy, trust, offline=args.offline, sidecar=args.sidecar)
    if args.json:
        json.dump([r.to_dict() for r in results], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_table(results))
        good = sum(r.ok for r in results)
        sys.stdout.write(
            f"\n{good} of {len(results)} files verified: signer {policy.describe()}; "
            f"trust {trust.describe()}{'; offline' if args.offline else ''}.\n"
        )
    return 0 if all(r.ok for r in results) else 1


def render_table(results: Sequence[FileResult]) -> str:
    header = ("FILE", "VERDICT", "SIDECAR", "SIGNER", "REASON")
    rows = [
        (
            r.artifact.name,
            "OK" if r.ok else "FAILED",
            r.sidecar or "-",
            r.identity or "-",
            r.reason or "",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:4])]
        return "  ".join([*cells, row[4]]).rstrip() + "\n"

    return "".join(line(row) for row in [header, *rows])
