"""``hatch-sigstore sandbox up`` / ``down`` / ``token``: both stand-ins running for a rehearsal.

``up`` starts a detached process that runs the local Sigstore and the GitLab registry stand-in,
creates one project with a job token and a personal token, and writes ``sandbox.env``: the
variables a GitLab job of a tag or branch pipeline would have, with an ID token whose claims
match that pipeline. ``token`` mints more ID tokens for the same job; ``down`` stops it all.

The state lives outside the project, in a per-user folder keyed by the project's root (see
:mod:`hatch_sigstore.sandbox._state`). NEVER for production: the tokens open only these local
services, and whatever the local Sigstore signs proves nothing to anyone else.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hatch_sigstore.errors import ConfigError
from hatch_sigstore.sandbox._gitlab_job import Job, full_ref
from hatch_sigstore.sandbox._state import ENV_FILE_MARKER, ENV_FILE_NAME

__all__ = [
    "ENV_FILE",
    "INFO_FILE",
    "PID_FILE",
    "Pipeline",
    "down",
    "mint_token",
    "read_info",
    "run_services",
    "up",
    "write_private",
]

ENV_FILE = ENV_FILE_NAME
PID_FILE = "sandbox.pid"
LOG_FILE = "sandbox.log"
# What `up` started, for `token`, `status` and people: URLs, project, pipeline. No secrets.
INFO_FILE = "sandbox.json"
REHEARSAL_PROJECT = "rehearsal/my-project"
DEFAULT_BRANCH = "main"
PID_CHECK_SECONDS = 2.0  # how soon the services notice their pid file is gone
TOKEN_LIFETIME = 3600  # GitLab: an ID token lives as long as the job timeout (default 1 h)


@dataclass(frozen=True)
class Pipeline:
    """The pipeline being rehearsed: a branch or a tag, protected or not."""

    ref: str = DEFAULT_BRANCH
    ref_type: str = "branch"  # "branch" or "tag"
    protected: bool = True
    default_branch: str = DEFAULT_BRANCH

    @classmethod
    def of(
        cls, *, tag: str | None = None, branch: str | None = None, protected: bool | None = None
    ) -> Pipeline:
        """A tag pipeline for ``tag``, else a branch pipeline for ``branch`` (default ``main``).

        Protected by default as :class:`Job` has it: the default branch and tags.
        """
        if tag is not None and branch is not None:
            raise ConfigError(
                "--tag and --branch both given; a pipeline runs for one ref.",
                remediation="Pass --tag NAME for a tag pipeline or --branch NAME for a branch one.",
            )
        ref_type, ref = ("tag", tag) if tag is not None else ("branch", branch or DEFAULT_BRANCH)
        _check_ref_name(ref, "--tag" if ref_type == "tag" else "--branch")
        job = Job(ref=ref, ref_type=ref_type, ref_protected=protected)
        return cls(ref=ref, ref_type=ref_type, protected=job.protected)

    @property
    def full_ref(self) -> str:
        return full_ref(self.ref, self.ref_type)

    def job(self, **options: Any) -> dict[str, Any]:
        """Options of a :class:`Job` in this pipeline (``options`` add to them)."""
        return {
            "ref": self.ref,
            "ref_type": self.ref_type,
            "ref_protected": self.protected,
            "default_branch": self.default_branch,
            **options,
        }


# git check-ref-format, the parts that matter for a name given on a command line.
_BAD_REF = re.compile(r"(^[-/.])|([/.]$)|(\.\.)|(//)|(@\{)|(\.lock$)|[\x00-\x20\x7f~^:?*\[\\]")


def _check_ref_name(ref: str, flag: str) -> None:
    if not ref or ref == "@" or _BAD_REF.search(ref):
        raise ConfigError(
            f"{flag} {ref!r} is not a valid git ref name.",
            remediation="Use a name git accepts (git check-ref-format), e.g. v1.2.3 or main.",
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_file_is(state: Path, pid: int) -> bool:
    try:
        return int((state / PID_FILE).read_text(encoding="ascii").strip()) == pid
    except (OSError, ValueError):
        return False


def _running_pid(state: Path) -> int | None:
    try:
        pid = int((state / PID_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def read_info(state: Path) -> dict[str, Any] | None:
    """What the running sandbox in ``state`` serves (no secrets), or None if none runs."""
    if _running_pid(state) is None:
        return None
    try:
        info = json.loads((state / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def up(
    state: Path,
    *,
    project_path: str = REHEARSAL_PROJECT,
    pipeline: Pipeline | None = None,
    project_root: Path | None = None,
    timeout: float = 30.0,
    object_storage: bool = False,
) -> Path:
    """Start the services in the background; return the env file once they are ready."""
    pipeline = pipeline or Pipeline()
    state = state.resolve()
    if (pid := _running_pid(state)) is not None:
        raise ConfigError(
            f"A sandbox is already running from {state} (pid {pid}).",
            remediation=f"Use it (source {state / ENV_FILE}), or stop it first with "
            "'hatch-sigstore sandbox down'.",
        )
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    env_file = state / ENV_FILE
    # Left by a sandbox that was killed (no pid runs, checked above): a stale pid file would
    # read as "started, then died" until the new services write theirs.
    for name in (ENV_FILE, PID_FILE):
        (state / name).unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-m",
        "hatch_sigstore",
        "sandbox",
        "services",
        "--state-dir",
        str(state),
        "--project",
        project_path,
        "--pipeline",
        json.dumps(asdict(pipeline)),
    ]
    if project_root is not None:
        argv += ["--project-root", str(project_root)]
    if object_storage:
        argv.append("--object-storage")
    with open(state / LOG_FILE, "ab") as log:
        log_start = log.tell()
        # The launcher imports everything, forks the services off and exits at once, so the
        # services outlive this command and are nobody's zombie: `down` can tell when they are
        # gone. A launcher that fails (an import, a bad argument) fails at once, not at timeout.
        try:
            launcher = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                check=False,
                timeout=timeout,
            )
            returncode = launcher.returncode
        except subprocess.TimeoutExpired:
            returncode = None  # killed before it forked, or just after: `down` below decides
    deadline = time.monotonic() + timeout
    died = False
    while returncode == 0 and time.monotonic() < deadline:
        if env_file.is_file():
            return env_file
        pid = _running_pid(state)
        if (state / PID_FILE).is_file() and pid is None:
            died = True  # started, then died (the pid file is written whole: never half-read)
            break
        time.sleep(0.05)
    # A child forked at the very deadline writes its pid file a moment later: give it that
    # moment, so `down` finds it (and it also stops by itself once its pid file is gone).
    time.sleep(0.5)
    down(state)
    with open(state / LOG_FILE, "rb") as log:
        log.seek(log_start)
        tail = log.read().decode("utf-8", "replace").strip()
    last = tail.splitlines()[-1] if tail else "no output"
    if returncode:
        when = f"exited with status {returncode}"
    elif died:
        when = "stopped before they were ready"
    else:
        when = f"did not start within {timeout:.0f} s"
    raise ConfigError(
        f"The sandbox services {when} ({last}).", remediation=f"See {state / LOG_FILE}."
    )


def down(state: Path, *, timeout: float = 10.0) -> bool:
    """Stop the services started from ``state``; False when none were running."""
    state = state.resolve()
    pid = _running_pid(state)
    if pid is None:
        for name in (PID_FILE, ENV_FILE, INFO_FILE):
            (state / name).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    for name in (PID_FILE, ENV_FILE, INFO_FILE):
        (state / name).unlink(missing_ok=True)
    return True


def run_services(
    state: Path,
    *,
    project_path: str = REHEARSAL_PROJECT,
    pipeline: Pipeline | None = None,
    project_root: Path | None = None,
    object_storage: bool = False,
) -> int:
    """The detached process: serve both stand-ins until SIGTERM, with ``sandbox.env`` written."""
    # Imported before the fork, so a missing dependency fails the launcher, which `up` sees.
    from hatch_sigstore.sandbox.gitlab import GitLabRegistry, Settings
    from hatch_sigstore.sandbox.sigstore import LocalSigstore

    pipeline = pipeline or Pipeline()
    state = state.resolve()
    if os.fork() > 0:  # the launcher: its child carries on, detached
        os._exit(0)
    os.setsid()
    # Atomically: `up` polls this file, and a half-written (empty) one would read as "died".
    write_private(state / PID_FILE, f"{os.getpid()}\n")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with (
        GitLabRegistry(  # offline: pip pointed at it never gets a 302 to pypi.org
            state_dir=state / "registry", settings=Settings.offline(object_storage=object_storage)
        ) as registry,
        LocalSigstore(state_dir=state / "sigstore", gitlab_url=registry.url) as sigstore,
    ):
        project = registry.create_project(project_path, visibility="private")
        job = pipeline.job(
            project_path=project.path,
            project_id=str(project.id),
            pipeline_id=1000 + int(time.time()) % 100000,
            project_visibility=project.visibility,
        )
        env = sigstore.ci_env(expires_in=TOKEN_LIFETIME, **job)
        env.update(
            {
                "CI_JOB_TOKEN": registry.job_token(project),
                "GITLAB_TOKEN": registry.personal_token(project=project),
                "HATCH_SIGSTORE_SANDBOX_SIGSTORE_URL": sigstore.url,
            }
        )
        if project_root is not None:
            env["CI_PROJECT_DIR"] = str(project_root)  # the runner's checkout
        job["sha"] = env["CI_COMMIT_SHA"]  # `token` mints for the same commit
        info = {
            "project_root": str(project_root) if project_root else None,
            "project_path": project.path,
            "project_id": str(project.id),
            "registry_url": registry.url,
            "api_url": registry.api_url,
            "sigstore_url": sigstore.url,
            "trust_config": str(sigstore.trust_config_path),
            "pipeline": asdict(pipeline),
            "job": job,
        }
        write_private(state / INFO_FILE, json.dumps(info, indent=2) + "\n")
        _write_env_file(state / ENV_FILE, env)
        print(
            f"sandbox up: registry {registry.url}, Sigstore {sigstore.url}, "
            f"{pipeline.ref_type} pipeline for {pipeline.ref}",
            flush=True,
        )
        try:
            # Serve until SIGTERM, or until the pid file is no longer ours (`down` from
            # anywhere, or the state folder deleted): never an orphan nobody can find.
            while not stop.wait(PID_CHECK_SECONDS):
                if not _pid_file_is(state, os.getpid()):
                    break
        finally:
            if _pid_file_is(state, os.getpid()):  # a newer sandbox's files are not ours
                for name in (PID_FILE, ENV_FILE, INFO_FILE):
                    (state / name).unlink(missing_ok=True)
    return 0


def mint_token(
    state: Path,
    *,
    audience: str = "sigstore",
    pipeline: Pipeline | None = None,
    expires_in: int = TOKEN_LIFETIME,
    timeout: float = 10.0,
) -> str:
    """A fresh ID token from the running sandbox, for its job (or for ``pipeline``'s ref)."""
    state = state.resolve()
    info = read_info(state)
    if info is None:
        raise ConfigError(
            f"No sandbox is running from {state}.",
            remediation="Start one with 'hatch-sigstore sandbox up' (in your project).",
        )
    if not audience.strip():
        raise ConfigError("--aud must not be empty.", remediation="Pass e.g. --aud sigstore.")
    if expires_in <= 0:
        raise ConfigError("--expires-in must be positive.", remediation="Pass seconds, e.g. 600.")
    chosen = pipeline or Pipeline(**info["pipeline"])
    # the running job (project, pipeline, commit), at ``chosen``'s ref
    body = {**info["job"], **chosen.job(), "audience": audience, "expires_in": expires_in}
    url = str(info["sigstore_url"])
    if not url.startswith("http://"):
        raise ConfigError(f"{state / INFO_FILE} names no sandbox URL.", remediation="Restart it.")
    request = urllib.request.Request(  # noqa: S310 (checked: http, the sandbox's loopback URL)
        f"{url}/sandbox/token",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback)
            token: str = response.read().decode("ascii").strip()
    except (urllib.error.URLError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"The sandbox's Sigstore at {url} did not mint a token ({exc}).",
            remediation=f"Restart the sandbox: 'hatch-sigstore sandbox down' then 'up'; see "
            f"{state / LOG_FILE}.",
        ) from exc
    return token


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by the owner only (it holds tokens), atomically.

    On any failure (``path`` a folder, a full disk) the temporary file goes too: no copy of a
    token is left under a name nobody asked for. Raises the ``OSError``, naming ``path``.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def _write_env_file(path: Path, env: dict[str, str]) -> None:
    lines = [
        ENV_FILE_MARKER,  # always the first line: tools recognise the file by it
        "# hatch-sigstore sandbox: a GitLab CI job's variables for the LOCAL stand-ins.",
        "# NEVER for production. Tokens here open only the local services; they die with them.",
    ]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    write_private(path, "\n".join(lines) + "\n")
