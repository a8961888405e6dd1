"""The signing agent that gives every target of one ``hatch build`` one certificate.

Real agents (threads or processes of ``hatch_sigstore.hatch._agent``) on real Unix sockets,
signing with the local Sigstore. ``hatch build`` itself (two processes, one CA call) is in
test_frontends.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from build_helpers import BUILD_HOOK, ci, clear_ci_env, make_project, stop_agent
from hatch_sigstore._files import sidecars_of
from hatch_sigstore.errors import SigningError
from hatch_sigstore.hatch import _agent, _build_signing
from hatch_sigstore.hatch._build_options import BuildOptions
from publish_helpers import make_sdist, make_wheel

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore

__all__ = ["ci"]  # the fixture, imported for pytest

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="Unix sockets only")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    clear_ci_env(monkeypatch)
    runtime = tempfile.mkdtemp(prefix="hs-", dir="/tmp")  # short: a socket path has 108 bytes
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    yield
    _agent._STARTED.clear()
    while _agent._AGENTS:  # don't leave the started agents to their idle time out
        agent = _agent._AGENTS.pop()
        agent.terminate()
        agent.wait(timeout=30)
    shutil.rmtree(runtime, ignore_errors=True)


def options(tmp_path: Path) -> BuildOptions:
    return BuildOptions.read({}, "tool.hatch.build.hooks.sigstore", str(tmp_path))


def artifact(folder: Path, kind: str = "sdist") -> Path:
    """A real toy 1.0 dist: verification binds every dist to the release its name claims."""
    return make_sdist(folder, "toy", "1.0") if kind == "sdist" else make_wheel(folder, "toy", "1.0")


def serve_in_thread(
    opts: BuildOptions, token: str, *, idle: float = 5.0, prepare: bool = False
) -> threading.Thread:
    path = _agent._address(opts, _agent._token_digest(token))
    assert path is not None
    thread = threading.Thread(
        target=_agent.serve, args=(path, opts), kwargs={"idle": idle, "prepare": prepare}
    )
    thread.start()
    conn = _agent._connect(path, 10)
    assert conn is not None  # listening
    conn.close()
    return thread


def ask(opts: BuildOptions, token: str, request: dict[str, Any]) -> dict[str, Any]:
    """Send ``request`` (with ``opts``) to the agent of ``opts`` and ``token``: its answer."""
    path = _agent._address(opts, _agent._token_digest(token))
    assert path is not None
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(path))
        body = {**request, "options": _agent.encode_options(opts)}
        conn.sendall(json.dumps(body).encode() + b"\n")
        answer: dict[str, Any] = json.loads(conn.makefile("rb").readline())
    return answer


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", False), ("on", True), ("1", True), ("off", False), ("auto", False)],
)
def test_wanted_only_under_hatchling_or_when_asked(value: str, expected: bool) -> None:
    # pytest's __main__ is not hatchling's: "auto" (unset) means no agent here
    assert _agent.agent_wanted({_agent.AGENT_ENV: value}) is expected


def test_two_targets_one_certificate_and_the_token_never_reaches_disk(
    tmp_path: Path, ci: dict[str, str], local_sigstore: LocalSigstore
) -> None:
    opts = options(tmp_path)
    token = ci["SIGSTORE_ID_TOKEN"]
    local_sigstore.reset_stats()
    thread = serve_in_thread(opts, token)
    try:
        sdist, wheel = (
            artifact(tmp_path / "dist"),
            artifact(tmp_path / "dist", "wheel"),
        )
        for target in (sdist, wheel):
            messages = _agent.sign_with_agent(opts, target, token)
            assert messages is not None
            assert messages[0].startswith(f"signed and verified {target.name} as ")
            assert set(sidecars_of(target)) == {".sigstore.json", ".sig", ".crt"}
    finally:
        thread.join(timeout=30)
    assert local_sigstore.stats["fulcio"] == 1
    assert local_sigstore.stats["rekor_create"] == 2
    # the socket is gone with the agent; nothing in its folder holds the token
    folder = Path(os.environ["XDG_RUNTIME_DIR"]) / f"hatch-sigstore-{os.getuid()}"
    assert list(folder.iterdir()) == []


def test_the_certificate_is_asked_for_when_a_target_starts(
    tmp_path: Path, ci: dict[str, str], local_sigstore: LocalSigstore
) -> None:
    """An agent hatch's probe started makes no CA call until a target says it builds (its
    preflight's hello); then it fetches the certificate while the target builds, and signs
    with it."""
    opts = options(tmp_path)
    token = ci["SIGSTORE_ID_TOKEN"]
    local_sigstore.reset_stats()
    thread = serve_in_thread(opts, token)
    try:
        assert local_sigstore.stats["fulcio"] == 0
        _agent.start_agent(opts, token)  # the target's preflight: there is one, so: hello
        assert not _agent._AGENTS
        deadline = time.monotonic() + 20
        while local_sigstore.stats["fulcio"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert local_sigstore.stats["fulcio"] == 1  # before any file was given
        target = artifact(tmp_path / "dist")
        messages = _agent.sign_with_agent(opts, target, token)
        assert messages is not None
        assert messages[0].startswith(f"signed and verified {target.name}")
    finally:
        thread.join(timeout=30)
    assert local_sigstore.stats["fulcio"] == 1


def test_another_token_finds_no_agent_and_a_forged_request_is_refused(
    tmp_path: Path, ci: dict[str, str], local_sigstore: LocalSigstore
) -> None:
    opts = options(tmp_path)
    token = ci["SIGSTORE_ID_TOKEN"]
    other = local_sigstore.mint_token(project_path="someone/else")
    thread = serve_in_thread(opts, token, idle=1.0)
    try:
        target = artifact(tmp_path / "dist")
        local_sigstore.reset_stats()
        # another job's token: its socket name differs, so it signs by itself
        assert _agent.sign_with_agent(opts, target, other) is None
        # a request sent to this agent's socket with another token's digest is refused
        request = {"token_sha256": _agent._token_digest(other), "artifact": str(target)}
        answer = ask(opts, token, request)
        assert answer["ok"] is False
        # and so is a forged hello: no certificate is asked for
        assert ask(opts, token, {**request, "prepare": True})["ok"] is False
        assert "refused" in answer["error"]["message"]
        assert sidecars_of(target) == {}
        assert local_sigstore.stats["rekor_create"] == 0
    finally:
        thread.join(timeout=30)  # idle 1 s, then it stops
    assert local_sigstore.stats["fulcio"] == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HATCH_SIGSTORE_TRUST_CONFIG", "/nonexistent/trust_config.json"),
        ("CI_COMMIT_TAG", "v9.9.9"),
        ("CI_SERVER_URL", "https://gitlab.other.example"),
        ("SSL_CERT_FILE", "/nonexistent/ca.pem"),
    ],
)
def test_a_build_with_another_signing_environment_never_meets_the_agent(
    variable: str,
    value: str,
    tmp_path: Path,
    ci: dict[str, str],
    local_sigstore: LocalSigstore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The agent reads the CI identity, the trust config and TLS settings from the environment
    it was started with. A re-run in the same shell (the same token) after fixing one of them
    must not be answered by the agent of the run before (which would repeat the old error, or
    verify against the old identity), and a request saying so is refused."""
    opts = options(tmp_path)
    token = ci["SIGSTORE_ID_TOKEN"]
    thread = serve_in_thread(opts, token, idle=1.0)
    try:
        target = artifact(tmp_path / "dist")
        local_sigstore.reset_stats()
        with monkeypatch.context() as changed:
            changed.setenv(variable, value)
            assert _agent.sign_with_agent(opts, target, token) is None  # no agent: sign here
            other_env = _agent._env_digest()
        assert sidecars_of(target) == {}
        request = {
            "token_sha256": _agent._token_digest(token),
            "env_sha256": other_env,
            "artifact": str(target),
        }
        answer = ask(opts, token, request)
        assert answer["ok"] is False
        assert "refused" in answer["error"]["message"]
        assert local_sigstore.stats["rekor_create"] == 0
        # the build it was started for is served
        messages = _agent.sign_with_agent(opts, target, token)
        assert messages is not None
        assert messages[0].startswith(f"signed and verified {target.name}")
    finally:
        thread.join(timeout=30)


def test_a_signing_failure_comes_back_as_the_same_error(
    tmp_path: Path, ci: dict[str, str], local_sigstore: LocalSigstore
) -> None:
    opts = options(tmp_path)
    token = ci["SIGSTORE_ID_TOKEN"]
    thread = serve_in_thread(opts, token, idle=1.0)
    try:
        local_sigstore.fail_next("rekor", status=500, times=10)
        with pytest.raises(SigningError) as info:
            _agent.sign_with_agent(opts, artifact(tmp_path / "dist"), token)
        assert "500" in str(info.value)
    finally:
        local_sigstore.clear_faults()
        thread.join(timeout=30)


@pytest.mark.parametrize("problem", ["group-readable", "symlink"])
def test_an_unsafe_socket_folder_means_no_agent(
    problem: str, tmp_path: Path, ci: dict[str, str]
) -> None:
    folder = Path(os.environ["XDG_RUNTIME_DIR"]) / f"hatch-sigstore-{os.getuid()}"
    if problem == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        folder.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    else:
        folder.mkdir(mode=0o755)
        folder.chmod(0o755)
    assert _agent._folder() is None
    opts = options(tmp_path)
    _agent.start_agent(opts, ci["SIGSTORE_ID_TOKEN"])  # starts nothing
    assert not _agent._STARTED
    assert _agent.sign_with_agent(opts, artifact(tmp_path / "d"), ci["SIGSTORE_ID_TOKEN"]) is None


def test_a_started_agent_serves_then_stops_when_idle(
    tmp_path: Path,
    ci: dict[str, str],
    local_sigstore: LocalSigstore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real thing: ``python -m hatch_sigstore.hatch._agent`` as a build process starts it."""
    opts = options(tmp_path)
    token = ci["SIGSTORE_ID_TOKEN"]
    _agent.start_agent(opts, token)
    path = _agent._address(opts, _agent._token_digest(token))
    assert path is not None
    assert str(path) in _agent._STARTED
    target = artifact(tmp_path / "dist")
    messages = _agent.sign_with_agent(opts, target, token)
    assert messages is not None
    assert ".sigstore.json" in sidecars_of(target)
    # a second start finds it running and starts nothing more
    assert len(_agent._AGENTS) == 1
    _agent.start_agent(opts, token)
    assert len(_agent._AGENTS) == 1


def test_idle_agent_exits_and_removes_its_socket(tmp_path: Path, ci: dict[str, str]) -> None:
    opts = options(tmp_path)
    path = _agent._address(opts, _agent._token_digest(ci["SIGSTORE_ID_TOKEN"]))
    assert path is not None
    _agent.serve(path, opts, idle=0.3)
    assert not path.exists()


def test_a_socket_path_too_long_means_no_agent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: dict[str, str]
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / ("x" * 80)))
    (tmp_path / ("x" * 80)).mkdir()
    assert _agent._address(options(tmp_path), "0" * 64) is None


# -- hatch's probe for build dependencies: the agent starts there -----------------------------


def run_hatch_probe(root: Path, targets: list[str], env: dict[str, str]) -> list[str]:
    """hatch's own probe (``hatch/project/frontend/scripts/build_deps.py``), run as hatch runs
    it before building: a script named after the targets, with its ``RUNNER`` filled in."""
    from hatch.project.frontend.core import BuildFrontendScripts, hatch_build_deps_script

    output = root / "probe-output"
    output.mkdir()
    script = root / f"get_build_deps_{'_'.join(targets)}.py"
    data = {"project_root": str(root), "output_dir": str(output), "targets": targets}
    script.write_text(BuildFrontendScripts.inject_data(hatch_build_deps_script(), data))
    subprocess.run([sys.executable, "-u", str(script)], cwd=root, env=env, check=True)
    found: list[str] = json.loads((output / "output.json").read_text())
    return found


@pytest.mark.skipif(not hasattr(socket, "SO_PEERCRED"), reason="finds the agent's pid (Linux)")
@pytest.mark.parametrize("targets", [["sdist", "wheel"], ["sdist"]])
def test_hatchs_probe_starts_the_agent_before_any_target_builds(
    targets: list[str],
    tmp_path: Path,
    ci: dict[str, str],
    local_sigstore: LocalSigstore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``hatch build`` probes the build hooks for dependencies before it builds: the agent
    starts there and loads sigstore while hatch starts the first target, which finds it. What
    this environment already has is not asked for again."""
    monkeypatch.setenv("HATCH_SIGSTORE_SIGN", "required")
    root = make_project(tmp_path / "p", build_hook=BUILD_HOOK + 'outputs = ["bundle"]\n')
    assert run_hatch_probe(root, targets, dict(os.environ)) == []  # sigstore is installed here
    opts = BuildOptions.read({"outputs": ["bundle"]}, "tool.hatch.build.hooks.sigstore", str(root))
    token = ci["SIGSTORE_ID_TOKEN"]
    path = _agent._address(opts, _agent._token_digest(token))
    assert path is not None
    conn = _agent._connect(path, 20)  # the probe has exited; its agent is starting
    assert conn is not None, "no agent was started by the probe"
    conn.close()
    local_sigstore.reset_stats()
    try:
        _agent.start_agent(opts, token)  # a target's process finds it and starts no other
        assert not _agent._AGENTS
        target = artifact(tmp_path / "dist")
        messages = _agent.sign_with_agent(opts, target, token)
        assert messages is not None
        assert messages[0].startswith(f"signed and verified {target.name}")
        assert local_sigstore.stats["fulcio"] == 1
    finally:
        stop_agent(path)
    deadline = time.monotonic() + 20
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not path.exists()  # stopped, it removed its socket


def test_hatchs_probe_asks_for_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _build_signing._satisfied("sigstore>=4.5.1,<5")
    assert not _build_signing._satisfied("sigstore>=999")
    assert not _build_signing._satisfied("no-such-distribution-hatch-sigstore")
    monkeypatch.setattr("hatch_sigstore.hatch._build_options.SIGSTORE_REQUIREMENT", "sigstore>=999")
    monkeypatch.setenv("HATCH_SIGSTORE_SIGN", "required")
    monkeypatch.setitem(sys.modules, "__main__", probe_module(["sdist", "wheel"]))
    # not all there yet: hatch installs them, and the first target starts the agent
    assert _build_signing.hatch_probe(options(tmp_path)) == ["sigstore>=999"]
    assert not _agent._AGENTS


def test_the_probe_of_hatchs_other_commands_starts_no_agent(
    tmp_path: Path, ci: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``hatch version``, ``hatch project metadata`` and environments with dynamic
    dependencies probe for ``["wheel"]`` and build nothing."""
    monkeypatch.setenv("HATCH_SIGSTORE_SIGN", "required")
    monkeypatch.setitem(sys.modules, "__main__", probe_module(["wheel"]))
    assert _build_signing.hatch_probe(options(tmp_path)) == []
    assert not _agent._AGENTS
    monkeypatch.setitem(sys.modules, "__main__", probe_module(["sdist", "wheel"]))
    assert _build_signing.hatch_probe(options(tmp_path)) == []
    assert len(_agent._AGENTS) == 1  # (the fixture stops it)


def probe_module(targets: object, name: str = "get_build_deps_sdist_wheel.py") -> types.ModuleType:
    module = types.ModuleType("__main__")
    module.__file__ = f"/tmp/x/{name}"
    module.RUNNER = {"project_root": "/p", "output_dir": "/o", "targets": targets}  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize(
    ("main", "env", "expected"),
    [
        (probe_module(["sdist", "wheel"]), {}, True),
        (probe_module(["wheel", "sdist"]), {}, True),
        (probe_module(["wheel"]), {}, False),  # hatch version, metadata, dynamic deps
        (probe_module(["sdist", "wheel"]), {_agent.AGENT_ENV: "off"}, False),
        (probe_module("sdist wheel"), {}, False),
        (probe_module(["sdist"], name="build.py"), {}, False),
        (types.ModuleType("__main__"), {}, False),  # pytest, hatchling: not hatch's probe
    ],
)
def test_only_hatchs_probe_of_a_build_starts_the_agent_early(
    main: types.ModuleType,
    env: dict[str, str],
    expected: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert _agent.prewarm_wanted(env) is expected
