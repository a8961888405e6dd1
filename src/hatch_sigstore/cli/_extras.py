"""Which extra a subcommand needs, checked before it runs.

The base install (what a build environment pulls in) has neither sigstore nor httpx nor the
sandbox's dependencies. A command that needs one of them says so at once, naming the extra
and the pip command, instead of failing later with an error that blames something else.
Only ``importlib.util.find_spec`` is used: nothing is imported.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys

from hatch_sigstore.errors import HatchSigstoreError

__all__ = ["REQUIREMENTS", "MissingExtraError", "check_extras", "missing_modules"]

_SANDBOX = ("sigstore", "httpx", "cryptography", "jwt")
# command (with the sandbox action) -> (extra, top-level modules it must find)
REQUIREMENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sign": ("sign", ("sigstore",)),
    "verify": ("sign", ("sigstore",)),
    "download": ("publish", ("sigstore", "httpx")),
    "sandbox demo": ("sandbox", (*_SANDBOX, "hatch")),
    "sandbox up": ("sandbox", _SANDBOX),
    "sandbox services": ("sandbox", _SANDBOX),
    "sandbox serve": ("sandbox", _SANDBOX),
}


class MissingExtraError(HatchSigstoreError):
    """A subcommand needs an extra that is not installed."""


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def check_extras(args: argparse.Namespace) -> None:
    """Raise :class:`MissingExtraError` when the chosen subcommand's extra is not installed."""
    command = args.command
    if command == "sandbox":
        command = f"sandbox {args.sandbox_command}"
    if command not in REQUIREMENTS:
        return
    extra, modules = REQUIREMENTS[command]
    missing = missing_modules(modules)
    if not missing:
        return
    names = ", ".join(missing)
    error = MissingExtraError(
        f"'hatch-sigstore {command}' needs the '{extra}' extra, which is not installed in "
        f"this environment ({sys.prefix}): no module named {names}.",
        remediation=f'Install it: "{sys.executable}" -m pip install "hatch-sigstore[{extra}]" '
        '(or "hatch-sigstore[all]" for every command).',
    )
    if getattr(args, "json", False):  # --json: a JSON document on stdout, as for other errors
        print(json.dumps({"ok": False, "error": str(error)}, indent=2))
    raise error
