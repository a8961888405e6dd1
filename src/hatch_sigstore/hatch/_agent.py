"""A short-lived signing agent: every target of one ``hatch build`` signs with one certificate.

``hatch build`` builds each target in a process of its own (``python -m hatchling build
--target sdist``, then ``--target wheel``: ``hatch/cli/build/__init__.py``), so a session shared
within one process (:func:`hatch_sigstore.sign.shared_session`) would still make one key, one
CA call and one sigstore import per target. Instead, the first target's process starts this
agent in the background while it builds: a child process with the build's environment, which
opens one signing session (one key, one certificate) and signs and verifies every artifact a
build process of the same job asks it to. The key lives only in the agent's memory; nothing of
it is ever written anywhere.

Who can talk to it:

* a Unix socket in a folder only this user can enter (``$XDG_RUNTIME_DIR``, else the temporary
  folder: ``hatch-sigstore-<uid>``, checked to be ours, mode 0700 and not a symlink; else no
  agent), and on Linux the peer's uid is checked on both ends (``SO_PEERCRED``);
* every request carries the sha256 of the identity token the asking build would sign with, and
  the agent serves only requests for its own token: another job on the same machine (a shell
  runner) cannot use it, and nobody gets a signature they could not get with the token itself;
* it serves only the options it was started with, and only builds whose environment agrees with
  its own wherever signing and verifying read it (the CI identity, the trust config, TLS and
  proxy settings: ``SIGNING_ENV``): a re-run after fixing one of them never meets the agent of
  the run before; it stops 30 s after its last request (and after 10 minutes in any case).

It runs only under ``hatch build`` (hatchling's CLI): PEP 517 frontends delete their isolated
environment between targets, and in-process builds share a session anyway.
``HATCH_SIGSTORE_AGENT=off`` switches it off, ``=on`` forces it. Any trouble reaching it and the
build process signs by itself, as without it.

Loading sigstore is most of what signing costs a build (about 0.4 s of CPU, twice that where
bytecode is not cached), so the agent starts as early as hatch lets us run: in hatch's probe
for build dependencies, the process ``hatch build`` runs before any target
(``hatch/project/frontend/scripts/build_deps.py``, which asks every build hook of the requested
targets for its dependencies). While hatch checks the build environment and starts the first
target, the agent loads sigstore. When that target starts building (its ``initialize`` says so)
the agent asks for the certificate, and loads the rest (attestations, the verifier) while the CA
and then the log answer: the target's request then waits only for its log entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatch_sigstore import errors

if TYPE_CHECKING:
    from hatch_sigstore.hatch._build_options import BuildOptions
    from hatch_sigstore.sign import SigningSession

__all__ = [
    "AGENT_ENV",
    "agent_wanted",
    "hatch_probe_targets",
    "prewarm_wanted",
    "serve",
    "sign_with_agent",
    "start_agent",
]

AGENT_ENV = "HATCH_SIGSTORE_AGENT"
IDLE_SECONDS = 30.0  # from one target's request to the next; hatch starts them back to back
MAX_LIFE_SECONDS = 600.0
READY_SECONDS = 20.0  # how long a build process waits for an agent it started
_MAX_REQUEST = 64 * 1024

# What the agent reads from its own environment besides the token: the expected identity
# (hatch_sigstore.ci.CIContext.expected_identity), the trust config
# (hatch_sigstore.trust.TrustChoice.resolve) and what sigstore's HTTP clients read (CA bundles,
# proxies). Only these variables' values make the agent's address, never a token's.
SIGNING_ENV = (
    "GITLAB_CI",
    "CI_SERVER_URL",
    "CI_PROJECT_PATH",
    "CI_PROJECT_ID",
    "CI_CONFIG_PATH",
    "CI_COMMIT_TAG",
    "CI_COMMIT_BRANCH",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
    "HATCH_SIGSTORE_TRUST_CONFIG",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
)

_STARTED: set[str] = set()  # sockets whose agent this process started
# the agents themselves: referenced so that no Popen is collected (and warns) while they run
_AGENTS: list[subprocess.Popen[bytes]] = []


class _Stop:
    """Set by the agent's SIGTERM handler; its accept loop ends at the next turn (≤ 0.5 s)."""

    requested = False


def agent_wanted(env: dict[str, str] | None = None) -> bool:
    env = dict(os.environ) if env is None else env
    mode = env.get(AGENT_ENV, "").strip().lower()
    if mode in ("off", "0", "false", "no") or not hasattr(socket, "AF_UNIX"):
        return False
    if mode in ("on", "1", "true", "yes"):
        return True
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return getattr(spec, "name", None) == "hatchling.__main__"  # python -m hatchling build


def hatch_probe_targets() -> list[str] | None:
    """The targets, when this process is hatch's probe for build dependencies; else None.

    hatch runs that probe as a script (``get_build_deps_<targets>.py``, a copy of
    ``hatch/project/frontend/scripts/build_deps.py`` whose ``RUNNER`` holds the targets) in its
    build environment, before it builds anything.
    """
    main = sys.modules.get("__main__")
    name = os.path.basename(str(getattr(main, "__file__", "") or ""))
    runner = getattr(main, "RUNNER", None)
    if not (name.startswith("get_build_deps_") and isinstance(runner, dict)):
        return None
    targets = runner.get("targets")
    if not (isinstance(targets, list) and all(isinstance(t, str) for t in targets)):
        return None
    return targets


def prewarm_wanted(env: dict[str, str] | None = None) -> bool:
    """Whether to start the agent now: in hatch's probe before ``hatch build`` builds.

    hatch's other commands (``hatch version``, ``hatch project metadata``, environments with
    dynamic dependencies) probe for the default target only, ``["wheel"]``, and build nothing:
    they start no agent.
    """
    env = dict(os.environ) if env is None else env
    if env.get(AGENT_ENV, "").strip().lower() in ("off", "0", "false", "no"):
        return False
    targets = hatch_probe_targets()
    return hasattr(socket, "AF_UNIX") and bool(targets) and targets != ["wheel"]


def _folder() -> Path | None:
    """This user's private folder for agent sockets, or None when it is not safe to use."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return None
    base = os.environ.get("XDG_RUNTIME_DIR", "").strip() or tempfile.gettempdir()
    folder = Path(base) / f"hatch-sigstore-{getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != getuid() or st.st_mode & 0o077:
        return None
    return folder


def encode_options(options: BuildOptions) -> dict[str, Any]:
    return {
        "path": options.path,
        "sign": options.sign,
        "sign_source": options.sign_source,
        "outputs": sorted(options.outputs),
        "trust_config": None if options.trust_config is None else str(options.trust_config),
        "staging": options.staging,
        "rekor_version": options.rekor_version,
        "identity": list(options.identity),
        "verify": options.verify,
        "sdist_pyproject": options.sdist_pyproject,
        "timeout": options.timeout,
    }


def decode_options(data: dict[str, Any]) -> BuildOptions:
    from hatch_sigstore.hatch._build_options import BuildOptions, IdentityOptions

    return BuildOptions(
        path=str(data["path"]),
        sign=str(data["sign"]),
        sign_source=str(data["sign_source"]),
        outputs=frozenset(data["outputs"]),
        trust_config=None if data["trust_config"] is None else Path(data["trust_config"]),
        staging=bool(data["staging"]),
        rekor_version=int(data["rekor_version"]),
        identity=IdentityOptions(*data["identity"]),
        verify=bool(data["verify"]),
        sdist_pyproject=str(data["sdist_pyproject"]),
        timeout=float(data["timeout"]),
    )


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _env_digest(env: dict[str, str] | None = None) -> str:
    """The sha256 of the :data:`SIGNING_ENV` values (unset and empty alike: readers strip)."""
    env = dict(os.environ) if env is None else env
    values = {name: env.get(name, "").strip() for name in SIGNING_ENV}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def _address(options: BuildOptions, token_digest: str) -> Path | None:
    folder = _folder()
    if folder is None:
        return None
    key = json.dumps([token_digest, encode_options(options), _env_digest()], sort_keys=True)
    path = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.sock"
    # a socket's path must fit sockaddr_un (104 bytes on macOS, 108 on Linux)
    return path if len(os.fsencode(path)) < 100 else None


def _peer_is_us(conn: socket.socket) -> bool:
    if not hasattr(socket, "SO_PEERCRED"):
        return True  # the folder's permissions are the check there
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return bool(uid == os.getuid())


def _connect(path: Path, wait: float) -> socket.socket | None:
    deadline = time.monotonic() + wait
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(path))
        except OSError:
            conn.close()
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)
            continue
        if not _peer_is_us(conn):
            conn.close()
            return None
        return conn


# -- the build process's side ---------------------------------------------------------------


def start_agent(options: BuildOptions, token: str, *, prepare: bool = True) -> None:
    """Start an agent for ``options`` and this token unless one is running. Never fails.

    ``prepare``: a target is about to build, so the agent asks for the certificate as soon as
    sigstore is loaded (hatch's probe starts it with False: maybe nothing gets built).
    """
    path = _address(options, _token_digest(token))
    if path is None or str(path) in _STARTED:
        return
    digest = _token_digest(token)
    existing = _connect(path, 0)
    if existing is not None:  # started earlier (by hatch's probe): a target builds, so the
        with contextlib.suppress(OSError), existing:  # certificate is asked for now
            hello = {
                "token_sha256": digest,
                "env_sha256": _env_digest(),
                "options": encode_options(options),
                "prepare": True,
            }
            existing.sendall(json.dumps(hello).encode() + b"\n")
        return
    try:
        agent = subprocess.Popen(
            [sys.executable, "-m", "hatch_sigstore.hatch._agent", str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,  # never hold the build's output open
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # it outlives this target's process
            close_fds=True,
        )
        assert agent.stdin is not None
        with agent.stdin:  # the options (no secret: the agent reads the token from its env)
            start = {"options": encode_options(options), "prepare": prepare}
            agent.stdin.write(json.dumps(start).encode())
    except (OSError, subprocess.SubprocessError):
        return
    _AGENTS.append(agent)
    _STARTED.add(str(path))


def sign_with_agent(options: BuildOptions, artifact: Path, token: str) -> list[str] | None:
    """Have the agent sign and verify ``artifact``: its messages, or None to sign here.

    Raises the agent's :class:`~hatch_sigstore.errors.HatchSigstoreError` when signing failed.
    """
    digest = _token_digest(token)
    path = _address(options, digest)
    if path is None:
        return None
    conn = _connect(path, READY_SECONDS if str(path) in _STARTED else 0)
    if conn is None:
        return None
    request = {
        "token_sha256": digest,
        "env_sha256": _env_digest(),
        "options": encode_options(options),
        "artifact": str(artifact.resolve()),
    }
    try:
        with conn, conn.makefile("rwb") as stream:
            conn.settimeout(options.timeout * 4 + 60)
            stream.write(json.dumps(request).encode() + b"\n")
            stream.flush()
            answer = json.loads(stream.readline(_MAX_REQUEST * 4) or b"null")
    except (OSError, ValueError):
        return None  # the agent went away: sign here
    if not isinstance(answer, dict):
        return None
    if answer.get("ok"):
        return [str(m) for m in answer.get("messages", [])]
    error = answer.get("error") or {}
    kind = getattr(errors, str(error.get("type")), None)
    if not (isinstance(kind, type) and issubclass(kind, errors.HatchSigstoreError)):
        kind = errors.SigningError
    raise kind(str(error.get("message", "")), remediation=error.get("remediation"))


# -- the agent ------------------------------------------------------------------------------


class _Notices:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def say(self, message: str) -> None:
        self.messages.append(message)

    def say_once(self, key: str, message: str) -> None:
        self.messages.append(message)


def _handle(
    conn: socket.socket,
    options: BuildOptions,
    token_digest: str,
    env_digest: str,
    prepare: Callable[[], None],
) -> None:
    from hatch_sigstore.hatch._sign_verify import sign_and_verify

    with conn, conn.makefile("rwb") as stream:
        conn.settimeout(10)
        if not _peer_is_us(conn):
            return
        try:
            request = json.loads(stream.readline(_MAX_REQUEST))
            given = str(request["token_sha256"])
            given_env = str(request.get("env_sha256"))
            asked = decode_options(request["options"])
            artifact = None if request.get("prepare") else Path(str(request["artifact"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        if (
            not hmac.compare_digest(given, token_digest)
            or given_env != env_digest
            or asked != options
        ):
            answer: dict[str, Any] = {
                "ok": False,
                "error": {
                    "type": "SigningError",
                    "message": "refused: another token, environment or options",
                },
            }
        elif artifact is None:  # a target starts building: the certificate, now
            prepare()
            answer = {"ok": True, "messages": []}
        else:
            notices = _Notices()
            try:
                sign_and_verify(options, artifact, notices)
                answer = {"ok": True, "messages": notices.messages}
            except errors.HatchSigstoreError as exc:
                answer = {
                    "ok": False,
                    "error": {
                        "type": type(exc).__name__,
                        "message": exc.message,
                        "remediation": exc.remediation,
                    },
                }
            except Exception as exc:
                answer = {
                    "ok": False,
                    "error": {
                        "type": "SigningError",
                        "message": f"Signing {artifact.name} failed unexpectedly: "
                        f"{type(exc).__name__}: {errors.first_line(exc)}.",
                    },
                }
        stream.write(json.dumps(answer).encode() + b"\n")
        stream.flush()  # (a target's hello has gone already: OSError, which serve ignores)


def serve(
    path: Path, options: BuildOptions, *, idle: float = IDLE_SECONDS, prepare: bool = False
) -> None:
    """Listen on ``path`` until ``idle`` seconds pass without a request.

    ``prepare``: ask for the certificate as soon as sigstore is loaded (a target is building);
    else when a target says it starts (hatch's probe started this agent).
    """
    from hatch_sigstore.sign import SignOptions, resolve_token, shared_session

    token_digest = _token_digest(resolve_token(SignOptions(outputs=options.outputs, token=None)))
    env_digest = _env_digest()
    os.umask(0o077)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
    except OSError:
        running = _connect(path, 0)
        if running is not None:
            running.close()
            server.close()
            return  # another agent got there first
        with contextlib.suppress(OSError):
            path.unlink()  # a dead agent's socket
        try:
            server.bind(str(path))
        except OSError:
            server.close()
            return  # the build processes sign by themselves
    try:
        server.listen(8)
        server.settimeout(0.5)
        from hatch_sigstore.hatch._sign_verify import session_options

        # sigstore loads while hatch starts the targets' processes and they build
        session: SigningSession | None = None
        with contextlib.suppress(errors.HatchSigstoreError):  # a request reports it
            session = shared_session(session_options(options)).open()
        asked = threading.Event()

        def prepare_once() -> None:
            # the certificate (one CA call) while the rest loads and the target builds; not
            # before a target starts: a build that fails first costs no certificate
            if session is not None and not asked.is_set():
                asked.set()
                threading.Thread(target=_prepare, args=(session,), daemon=True).start()

        if prepare:
            prepare_once()
        threading.Thread(target=_load_ahead, args=(session, options), daemon=True).start()
        born = last = time.monotonic()
        while (
            not _Stop.requested
            and time.monotonic() - last < idle
            and time.monotonic() - born < MAX_LIFE_SECONDS
        ):
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with contextlib.suppress(OSError):  # the asking process went away: serve on
                _handle(conn, options, token_digest, env_digest, prepare_once)
            last = time.monotonic()
    finally:
        server.close()
        with contextlib.suppress(OSError):
            path.unlink()


def _prepare(session: SigningSession) -> None:
    with contextlib.suppress(Exception):  # the first request reports what fails
        session.prepare()


def _load_ahead(session: SigningSession | None, options: BuildOptions) -> None:
    """Load the rest of signing and the verification side while the CA and the log answer."""
    with contextlib.suppress(Exception):  # signing and verifying report any problem
        if session is not None:
            session.load()
        import hatch_sigstore.verify  # noqa: F401

        options.trust().verifier(offline=True)


def main(argv: list[str]) -> int:
    import signal

    # stopped (SIGTERM): leave serve's loop through its cleanup, so no socket file is left
    # behind. A flag, not sys.exit(): a handler that raises can run inside a finaliser of the
    # main thread (an object's __del__, a weakref callback), where Python prints the
    # exception and drops it, and the agent served on for its idle time
    def stop(*_: object) -> None:
        _Stop.requested = True

    signal.signal(signal.SIGTERM, stop)
    start = json.loads(sys.stdin.read())
    sys.stdin.close()
    serve(Path(argv[0]), decode_options(start["options"]), prepare=bool(start["prepare"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
