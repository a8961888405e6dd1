"""``hatch-sigstore sign FILE...``: sign files in one Sigstore session, sidecars beside them."""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = ["register", "run"]

_DESCRIPTION = """\
Sign every FILE with one short-lived Sigstore certificate and write, beside each:
FILE.sigstore.json (Sigstore bundle v0.3), FILE.sig + FILE.crt (cosign-compatible; --no-cosign
to skip) and, with --attestation, FILE.publish.attestation (PEP 740).

The identity token comes from SIGSTORE_ID_TOKEN (in GitLab CI: 'id_tokens: SIGSTORE_ID_TOKEN:
aud: sigstore' in .gitlab-ci.yml), or the variable named by --identity-token-env, else from
ambient CI credential detection. Tokens are never printed.
"""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sign",
        help="sign files with Sigstore (bundle, cosign .sig/.crt, PEP 740 attestation)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="files to sign")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--trust-config",
        metavar="FILE",
        help="ClientTrustConfig JSON of a private Sigstore instance or the sandbox "
        "(default: env HATCH_SIGSTORE_TRUST_CONFIG, else the public production instance)",
    )
    where.add_argument(
        "--staging", action="store_true", help="use the public staging Sigstore instance"
    )
    parser.add_argument(
        "--rekor-version",
        type=int,
        choices=(1, 2),
        default=1,
        help="transparency log API version (default 1: cosign 2.x can only check v1)",
    )
    parser.add_argument(
        "--no-cosign",
        dest="cosign",
        action="store_false",
        help="do not write FILE.sig and FILE.crt",
    )
    parser.add_argument(
        "--attestation",
        action="store_true",
        help="also write a PEP 740 FILE.publish.attestation (wheels and sdists only)",
    )
    parser.add_argument(
        "--identity-token-env",
        metavar="VAR",
        help="read the OIDC identity token from environment variable VAR "
        "(default SIGSTORE_ID_TOKEN, then ambient detection)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="give up on a CA or log call after this long (default 60)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hatch_sigstore.sign import SigningSession, SignOptions
    from hatch_sigstore.trust import TrustChoice

    trust = TrustChoice.resolve(staging=args.staging, trust_config=args.trust_config)
    outputs = {"bundle"}
    if args.cosign:
        outputs.add("cosign")
    if args.attestation:
        outputs.add("attestation")
    options = SignOptions(
        trust=trust,
        outputs=frozenset(outputs),
        rekor_version=args.rekor_version,
        token_env=args.identity_token_env,
        timeout=args.timeout,
    )
    from hatch_sigstore._text import printable

    with SigningSession(options) as session:
        results = session.sign([Path(f) for f in args.files])
    cwd = Path(os.getcwd())
    for result in results:
        names = ", ".join(path.name for path in result.written)
        artifact = result.artifact
        shown = artifact.relative_to(cwd) if artifact.is_relative_to(cwd) else artifact
        print(printable(f"signed {shown}: {names} (identity {result.identity})"))
    return 0
