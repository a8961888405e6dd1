"""``hatch-sigstore sandbox up`` / ``down``: both stand-ins left running for a rehearsal by hand.

``up`` starts a detached process that runs the local Sigstore and the GitLab registry stand-in,
creates one project with a job token and a personal token, and writes ``sandbox.env`` (the
variables a GitLab job would have) into the state folder. ``down`` stops that process.
NEVER for production: the tokens in ``sandbox.env`` open only these local services.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from hatch_sigstore.errors import ConfigError

__all__ = ["ENV_FILE", "PID_FILE", "down", "run_services", "up"]

ENV_FILE = "sandbox.env"
PID_FILE = "sandbox.pid"
LOG_FILE = "sandbox.log"
REHEARSAL_PROJECT = "rehearsal/my-project"
TOKEN_LIFETIME = 3600  # an hour of rehearsal; re-run `up` for a fresh token


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running_pid(state: Path) -> int | None:
    try:
        pid = int((state / PID_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def up(
    state: Path,
    *,
    project_path: str = REHEARSAL_PROJECT,
    timeout: float = 30.0,
    object_storage: bool = False,
) -> Path:
    """Start the services in the background; return the env file once they are ready."""
    state = state.resolve()
    if (pid := _running_pid(state)) is not None:
        raise ConfigError(
            f"A sandbox is already running from {state} (pid {pid}).",
            remediation=f"Use it (source {state / ENV_FILE}), or stop it first with "
            f"'hatch-sigstore sandbox down --state-dir {state}'.",
        )
    state.mkdir(parents=True, exist_ok=True)
    env_file = state / ENV_FILE
    env_file.unlink(missing_ok=True)
    with open(state / LOG_FILE, "ab") as log:
        # The launcher forks the services off and exits at once, so the services outlive this
        # command and are nobody's zombie: `down` can tell when they are gone.
        launcher = subprocess.run(
            [
                sys.executable,
                "-m",
                "hatch_sigstore",
                "sandbox",
                "services",
                "--state-dir",
                str(state),
                "--project",
                project_path,
                *(["--object-storage"] if object_storage else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            check=False,
            timeout=timeout,
        )
    deadline = time.monotonic() + timeout
    while launcher.returncode == 0 and time.monotonic() < deadline:
        if env_file.is_file():
            return env_file
        pid = _running_pid(state)
        if (state / PID_FILE).is_file() and pid is None:
            break  # started, then died
        time.sleep(0.05)
    down(state)
    tail = (state / LOG_FILE).read_text(encoding="utf-8", errors="replace").strip()
    last = tail.splitlines()[-1] if tail else "no output"
    raise ConfigError(
        f"The sandbox services did not start within {timeout:.0f} s ({last}).",
        remediation=f"See {state / LOG_FILE}.",
    )


def down(state: Path, *, timeout: float = 10.0) -> bool:
    """Stop the services started from ``state``; False when none were running."""
    state = state.resolve()
    pid = _running_pid(state)
    if pid is None:
        (state / PID_FILE).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    for name in (PID_FILE, ENV_FILE):
        (state / name).unlink(missing_ok=True)
    return True


def run_services(
    state: Path, *, project_path: str = REHEARSAL_PROJECT, object_storage: bool = False
) -> int:
    """The detached process: serve both stand-ins until SIGTERM, with ``sandbox.env`` written."""
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore
    from hatch_sigstore.sandbox.gitlab import Settings

    state = state.resolve()
    if os.fork() > 0:  # the launcher: its child carries on, detached
        os._exit(0)
    os.setsid()
    (state / PID_FILE).write_text(f"{os.getpid()}\n", encoding="ascii")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with (
        GitLabRegistry(
            state_dir=state / "registry", settings=Settings(object_storage=object_storage)
        ) as registry,
        LocalSigstore(state_dir=state / "sigstore", gitlab_url=registry.url) as sigstore,
    ):
        project = registry.create_project(project_path, visibility="private")
        env = sigstore.ci_env(
            project_path=project.path,
            ref="main",
            ref_type="branch",
            project_id=str(project.id),
            expires_in=TOKEN_LIFETIME,
        )
        env.update(
            {
                "CI_API_V4_URL": registry.api_url,
                "CI_JOB_TOKEN": registry.job_token(project),
                "GITLAB_TOKEN": registry.personal_token(project=project),
                "HATCH_SIGSTORE_SANDBOX_SIGSTORE_URL": sigstore.url,
            }
        )
        _write_env_file(state / ENV_FILE, env)
        print(f"sandbox up: registry {registry.url}, Sigstore {sigstore.url}", flush=True)
        try:
            stop.wait()
        finally:
            for name in (PID_FILE, ENV_FILE):
                (state / name).unlink(missing_ok=True)
    return 0


def _write_env_file(path: Path, env: dict[str, str]) -> None:
    lines = [
        "# hatch-sigstore sandbox: a GitLab CI job's variables for the LOCAL stand-ins.",
        "# NEVER for production. Tokens here open only the local services; they die with them.",
    ]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    tmp = path.with_name(path.name + ".tmp")
    # Readable by the owner only: it holds (sandbox) tokens.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
