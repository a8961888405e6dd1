"""``--json`` for whole-command errors of ``hatch-sigstore verify`` and ``download``.

A script reading ``--json`` output gets a JSON document on stdout also when the command as a
whole failed (bad flag values, no signer policy, the registry refused): ``{"ok": false,
"error": "<message>"}``, redacted. The error still goes to stderr as ``error: …`` and the exit
status stays 1 (``hatch_sigstore.cli.main`` does both). argparse's own usage errors (exit 2)
happen before a command runs and stay plain text.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from hatch_sigstore.errors import HatchSigstoreError, quote

__all__ = ["json_errors"]

Run = Callable[[argparse.Namespace, list[str]], int]


def json_errors(run: Run) -> Callable[[argparse.Namespace], int]:
    """Wrap a command's ``run(args, secrets)``; ``secrets`` collects values to redact."""

    def wrapper(args: argparse.Namespace) -> int:
        secrets: list[str] = []
        try:
            return run(args, secrets)
        except HatchSigstoreError as exc:
            if getattr(args, "json", False):
                document = {"ok": False, "error": quote(str(exc), secrets, keep_newlines=True)}
                json.dump(document, sys.stdout, indent=2)
                sys.stdout.write("\n")
            raise

    wrapper.__doc__ = run.__doc__
    return wrapper
