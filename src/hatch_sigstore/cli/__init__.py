"""The ``hatch-sigstore`` command: argument parsing and output only.

Each subcommand lives in its own module with ``register(subparsers)``; registering must stay
import-light (argparse only), the work is imported when the subcommand runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hatch_sigstore.__about__ import __version__
from hatch_sigstore.cli._extras import check_extras
from hatch_sigstore.errors import HatchSigstoreError, quote

__all__ = ["main"]

_SUBCOMMANDS = ("sign", "verify", "download", "index", "sandbox")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="hatch-sigstore",
        description="Sign, verify, download and rehearse signed Python releases on GitLab.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _SUBCOMMANDS:
        importlib.import_module(f"hatch_sigstore.cli._{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_extras(args)  # a missing extra is named at once, with the pip command
        status: int = args.func(args)
    except HatchSigstoreError as exc:
        # the message may quote a server, a certificate or a file name: no escape sequences
        print(f"error: {quote(str(exc), keep_newlines=True)}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A last line of defence: the commands turn the file errors they expect into
        # HatchSigstoreError; anything else still gets one line naming the file, not a traceback.
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {quote(f'{exc.strerror or exc}{where}')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
