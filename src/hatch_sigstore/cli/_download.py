"""``hatch-sigstore download NAME==VERSION``: fetch a release from GitLab, keep what verified."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from hatch_sigstore.cli._json_errors import json_errors
from hatch_sigstore.cli._policy_args import add_policy_arguments, policy_from_args, trust_from_args

if TYPE_CHECKING:
    from hatch_sigstore.trust import TrustChoice
    from hatch_sigstore.verify import Policy

__all__ = ["register", "run"]

_DESCRIPTION = """\
Download every wheel and sdist of one release from a GitLab project's PyPI registry, fetch their
signature files from its generic registry, check each file against the index's sha256, verify it
against the signer you name, and leave only the files that verified in DIR (with their signature
files). Anything that did not verify is deleted, and the output says so. Exit status 0 only when
every file verified.

With --index-url the release comes from PyPI (or any PEP 691/740 index) instead: each file
is checked against the index's sha256 and verified against its PEP 740 provenance, which must
name the trusted publisher the index recorded and satisfy the signer you name; the attestation
that verified is kept beside the file as FILE.publish.attestation.

Then install from DIR without touching any index:
  pip install --no-index --find-links DIR NAME==VERSION
"""

_EPILOG = """\
examples:
  hatch-sigstore download my-package==1.2.0 --url https://gitlab.com/api/v4 \\
      --project my-group/my-package -d verified/ \\
      --gitlab my-group/my-package --ref-glob 'refs/tags/v*'
  # in the project's own pipeline (CI_JOB_TOKEN, CI_API_V4_URL, CI_PROJECT_ID are used):
  hatch-sigstore download "$NAME==$VERSION" -d verified/ --from-ci
  # from PyPI, published by a GitLab pipeline with trusted publishing and attestations:
  hatch-sigstore download my-package==1.2.0 --index-url https://pypi.org/simple/ \\
      -d verified/ --gitlab my-group/my-package --ref-glob 'refs/tags/v*'
"""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "download",
        help="download a release from GitLab and keep only the files that verify",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("requirement", metavar="NAME==VERSION", help="the release to download")
    where = parser.add_argument_group("where from")
    where.add_argument(
        "--url",
        metavar="API_V4_URL",
        help="GitLab API root, e.g. https://gitlab.com/api/v4 (default: $CI_API_V4_URL)",
    )
    where.add_argument(
        "--index-url",
        metavar="URL",
        help="download from this PyPI-compatible index instead (its simple API root, e.g. "
        "https://pypi.org/simple/), verifying each file's PEP 740 provenance",
    )
    where.add_argument(
        "--project",
        metavar="ID_OR_PATH",
        help="project ID or full path (GROUP/PROJECT) holding the packages "
        "(default: $CI_PROJECT_ID)",
    )
    where.add_argument(
        "-d",
        "--dest",
        required=True,
        metavar="DIR",
        help="directory for the verified files (created if missing)",
    )
    where.add_argument(
        "--generic-package",
        metavar="NAME",
        help="generic package holding the signature files (default: the normalized project "
        "name, as the publisher stores them)",
    )
    where.add_argument(
        "--only", choices=("wheel", "sdist"), help="download only wheels or only the sdist"
    )
    auth = parser.add_argument_group(
        "authentication",
        "Default: the job token CI_JOB_TOKEN inside GitLab CI, else anonymous (public "
        "projects). Tokens are read from environment variables and sent in headers, never in "
        "URLs or output.",
    )
    auth.add_argument(
        "--token-env",
        metavar="VAR",
        help="name of the environment variable holding a personal, project, group or deploy "
        "token (the variable's name, not the token)",
    )
    auth.add_argument(
        "--token-kind",
        choices=("job", "personal", "deploy", "anonymous"),
        help="what the token is (default: from its prefix glpat-/gldt-/glcbt-, else personal)",
    )
    auth.add_argument(
        "--deploy-username",
        metavar="USER",
        help="deploy token user name (gitlab+deploy-token-N; GitLab ignores it on these routes)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-size",
        metavar="SIZE",
        default="512M",
        help="refuse any file larger than this (default: 512M)",
    )
    limits.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=900.0,
        help="deadline for the whole download, so a response that never ends is cut off "
        "(default: 900)",
    )
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print the result as JSON")
    output.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    add_policy_arguments(parser)
    parser.set_defaults(func=run)


@json_errors
def run(args: argparse.Namespace, secrets: list[str]) -> int:
    from hatch_sigstore.ci import CIContext
    from hatch_sigstore.download import download, format_table, parse_size
    from hatch_sigstore.errors import ConfigError, redact
    from hatch_sigstore.gitlab import Credentials

    env = os.environ
    context = CIContext.from_env(env)
    # Refuse to guess the signer before touching the network.
    policy = policy_from_args(args, env)
    trust = trust_from_args(args, env)
    if args.index_url is not None:
        return _from_index(args, policy, trust)
    api_url = args.url or context.api_v4_url
    if not api_url:
        raise ConfigError(
            "No registry URL: --url was not given and CI_API_V4_URL is not set.",
            remediation="Pass --url https://gitlab.example.com/api/v4.",
        )
    project = args.project or context.project_id
    if not project:
        raise ConfigError(
            "No project: --project was not given and CI_PROJECT_ID is not set.",
            remediation="Pass --project with the numeric project ID or its full path "
            "(GROUP/PROJECT).",
        )
    if args.timeout <= 0:
        raise ConfigError(
            f"--timeout {args.timeout:g} is not a positive number of seconds.",
            remediation="Pass e.g. --timeout 600.",
        )
    if args.deploy_username and (args.token_kind or "deploy") != "deploy":
        raise ConfigError(
            "--deploy-username only applies to deploy tokens.",
            remediation="Add --token-kind deploy, or drop --deploy-username.",
        )
    # Redact the token from any error, also one raised while reading it.
    secrets.extend(v for v in (env.get(args.token_env or ""), env.get("CI_JOB_TOKEN")) if v)
    credentials = Credentials.from_env(
        args.token_kind, args.token_env, username=args.deploy_username, env=env
    )
    secrets.extend(credentials.secrets)
    max_bytes = parse_size(args.max_size)

    def progress(message: str) -> None:
        if not args.quiet and not args.json:
            print(message, file=sys.stderr)

    report = download(
        args.requirement,
        api_url=api_url.rstrip("/"),
        project=str(project),
        credentials=credentials,
        directory=args.dest,
        policy=policy,
        trust=trust,
        only=args.only,
        max_bytes=max_bytes,
        deadline=args.timeout,
        generic_package=args.generic_package,
        progress=progress,
        server_url=args.server or context.server_url,
    )
    text = report.to_json_text() if args.json else format_table(report)
    print(redact(text, credentials.secrets))
    return 0 if report.ok else 1


def _from_index(args: argparse.Namespace, policy: Policy, trust: TrustChoice) -> int:
    """``--index-url``: the release from a PEP 691/740 index (no GitLab flags apply)."""
    from hatch_sigstore.download import (
        DEFAULT_WORKERS,
        download_from_index,
        format_table,
        parse_size,
    )
    from hatch_sigstore.errors import ConfigError

    gitlab_only = [
        flag
        for flag, value in (
            ("--url", args.url),
            ("--project", args.project),
            ("--generic-package", args.generic_package),
            ("--token-env", args.token_env),
            ("--token-kind", args.token_kind),
            ("--deploy-username", args.deploy_username),
        )
        if value is not None
    ]
    if gitlab_only:
        raise ConfigError(
            f"{', '.join(gitlab_only)} select a GitLab registry, but --index-url was given.",
            remediation="Use --index-url alone (reads of a public index need no token), or "
            "drop it to download from GitLab.",
        )
    if args.timeout <= 0:
        raise ConfigError(
            f"--timeout {args.timeout:g} is not a positive number of seconds.",
            remediation="Pass e.g. --timeout 600.",
        )

    def progress(message: str) -> None:
        if not args.quiet and not args.json:
            print(message, file=sys.stderr)

    report = download_from_index(
        args.requirement,
        index_url=args.index_url,
        directory=args.dest,
        policy=policy,
        trust=trust,
        only=args.only,
        max_bytes=parse_size(args.max_size),
        deadline=args.timeout,
        workers=DEFAULT_WORKERS,
        progress=progress,
    )
    print(report.to_json_text() if args.json else format_table(report))
    return 0 if report.ok else 1
