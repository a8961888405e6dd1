"""``hatch-sigstore verify FILE...``: verify files from their sidecars against a signer policy."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatch_sigstore.cli._json_errors import json_errors
from hatch_sigstore.cli._policy_args import add_policy_arguments, policy_from_args, trust_from_args

if TYPE_CHECKING:
    from hatch_sigstore.verify import FileResult

__all__ = ["register", "run"]

_EPILOG = """\
examples:
  hatch-sigstore verify dist/* --gitlab my-group/my-project --ref-glob 'refs/tags/v*'
  hatch-sigstore verify dist/* --cert-identity \\
      'https://gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main' \\
      --cert-oidc-issuer https://gitlab.com
  hatch-sigstore verify dist/ --from-ci     # inside the signing project's own pipeline
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
    add_policy_arguments(parser)
    parser.set_defaults(func=run)


def expand(files: Sequence[str]) -> list[Path]:
    """Artifacts to verify: files as given, directories' non-sidecar files; sidecars skipped."""
    from hatch_sigstore._files import is_sidecar

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


@json_errors
def run(args: argparse.Namespace, _secrets: list[str]) -> int:
    from hatch_sigstore.errors import ConfigError
    from hatch_sigstore.verify import verify_files

    policy = policy_from_args(args)
    trust = trust_from_args(args)
    paths = expand(args.files)
    if not paths:
        raise ConfigError(
            "Only signature sidecars were given; there is nothing to verify.",
            remediation="Pass the artifacts themselves (dist/*.whl dist/*.tar.gz) or dist/.",
        )
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
        if args.offline and any(not r.ok and r.sidecar == "cosign" for r in results):
            sys.stdout.write(
                "hint: .sig/.crt (cosign) need the transparency log: drop --offline, or verify "
                "the .sigstore.json bundles.\n"
            )
    return 0 if all(r.ok for r in results) else 1


def render_table(results: Sequence[FileResult]) -> str:
    header = ("FILE", "VERDICT", "SIDECAR", "SIGNER", "REASON")
    from hatch_sigstore._text import printable

    def cell(text: str) -> str:  # file names and identities come from files: no controls
        return " ".join(printable(text).split())

    rows = [
        (
            cell(r.artifact.name),
            "OK" if r.ok else "FAILED",
            cell(r.sidecar or "-"),
            cell(r.identity or "-"),
            cell(r.reason or ""),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:4])]
        return "  ".join([*cells, row[4]]).rstrip() + "\n"

    return "".join(line(row) for row in [header, *rows])
