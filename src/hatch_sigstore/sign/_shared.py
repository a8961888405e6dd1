"""Signing sessions shared within one process: every build target signs with one certificate.

hatchling builds the sdist and the wheel (and any other target) in one process, one hook call
at a time. :func:`shared_session` hands each of them the same open session for the same options
and token, so one key and one certificate sign them all; sessions close at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from typing import Any

from hatch_sigstore.sign._options import SignOptions
from hatch_sigstore.sign._session import SigningSession
from hatch_sigstore.sign._tokens import resolve_token

__all__ = ["close_shared_sessions", "shared_session"]

_SESSIONS: dict[tuple[Any, ...], SigningSession] = {}
_LOCK = threading.Lock()


def shared_session(options: SignOptions) -> SigningSession:
    """This process's session for ``options``, opened on first use.

    Keyed by the options (but not their ``env``) and by the token they resolve to now, so a new
    token (a later CI job step) gets a new session. Raises :class:`TokenError` like
    :func:`resolve_token`.
    """
    key = (options.session_key(), resolve_token(options))
    with _LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = _SESSIONS[key] = SigningSession(options).__enter__()
        return session


def close_shared_sessions() -> None:
    """Close every shared session (at exit, and for tests that build many projects)."""
    with _LOCK:
        sessions = list(_SESSIONS.values())
        _SESSIONS.clear()
    for session in sessions:
        # closing at exit must never mask the build's outcome
        with contextlib.suppress(Exception):
            session.__exit__(None, None, None)


atexit.register(close_shared_sessions)
