"""How a hook error reaches the user: one paragraph, no traceback, in every frontend.

hatchling has no error channel for hooks: an exception escapes to whatever runs the backend.
``hatch build`` runs ``python -m hatchling build`` and PEP 517 frontends (``python -m build``,
``uv build``, pip) run pyproject-hooks' ``_in_process.py``; in both, an uncaught exception is
printed by ``sys.excepthook`` as a traceback. So before raising we install an excepthook that
prints a :class:`HatchSigstoreError` as ``hatch-sigstore: error: <message>`` and hands every other
exception to the previous hook. In-process callers (tests, tools calling hatchling's API) get the
exception itself, with a ``str`` that is the whole message.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import NoReturn

from hatch_sigstore.errors import HatchSigstoreError, redact

__all__ = ["format_error", "raise_clean"]

_state = {"installed": False}


def format_error(exc: BaseException) -> str:
    return f"hatch-sigstore: error: {redact(str(exc))}"


def _install() -> None:
    if _state["installed"]:
        return
    previous = sys.excepthook

    def excepthook(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if isinstance(value, HatchSigstoreError):
            print(format_error(value), file=sys.stderr, flush=True)
            return
        previous(kind, value, tb)

    sys.excepthook = excepthook
    _state["installed"] = True


def raise_clean(exc: HatchSigstoreError) -> NoReturn:
    """Raise ``exc`` so that an uncaught escape prints just its message."""
    _install()
    raise exc.with_traceback(None) from None
