"""`hatch-sigstore sandbox up` / `down` / `token`: detached services and the env file, for real."""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gitlab_stand_in_helpers import forward_target

from hatch_sigstore.cli import main
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.sandbox._state import (
    ENV_FILE_MARKER,
    ENV_FILE_NAME,
    STATE_HOME_VARIABLE,
    default_state_dir,
    is_sandbox_env,
    project_root,
    state_home,
)
from hatch_sigstore.sandbox.rehearsal import (
    ENV_FILE,
    PID_CHECK_SECONDS,
    PID_FILE,
    Pipeline,
    down,
    up,
)
from publish_helpers import make_sdist


def _read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = shlex.split(value)[0]
    return env


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    yield state
    down(state)


def test_up_writes_a_private_env_file_for_running_services(state: Path) -> None:
    env_file = up(state, project_path="team/app")

    assert env_file == (state / ENV_FILE).resolve()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    env = _read_env(env_file)
    assert env["CI_PROJECT_PATH"] == "team/app"
    assert env["GITLAB_CI"] == "true"
    assert Path(env["HATCH_SIGSTORE_TRUST_CONFIG"]).is_file()
    for key in ("CI_JOB_TOKEN", "GITLAB_TOKEN", "SIGSTORE_ID_TOKEN", "CI_PROJECT_ID"):
        assert env[key]

    # The registry stand-in answers with the project it created, to the job token.
    request = urllib.request.Request(
        f"{env['CI_API_V4_URL']}/projects/{env['CI_PROJECT_ID']}/packages/pypi/simple",
        headers={"PRIVATE-TOKEN": env["GITLAB_TOKEN"]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    # ... and sends no client to pypi.org for a name it does not hold (GitLab's default would)
    index = f"{env['CI_API_V4_URL']}/projects/{env['CI_PROJECT_ID']}/packages/pypi/simple"
    assert forward_target(index, {"PRIVATE-TOKEN": env["GITLAB_TOKEN"]}) is None
    # The local Sigstore mints certificates for the token in the env file.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(
            urllib.request.Request(
                f"{env['HATCH_SIGSTORE_SANDBOX_SIGSTORE_URL']}/api/v2/signingCert",
                data=json.dumps({"certificateSigningRequest": "bm90IGEgY3Ny"}).encode(),
                headers={
                    "Authorization": f"Bearer {env['SIGSTORE_ID_TOKEN']}",
                    "Content-Type": "application/json",
                },
            ),
            timeout=10,
        )
    assert refused.value.code == 400  # the token passed; the (bogus) CSR did not
    refused.value.close()

    with pytest.raises(ConfigError, match="already running"):
        up(state)


def test_down_stops_the_services_and_removes_the_env_file(state: Path) -> None:
    env = _read_env(up(state))
    pid = int((state / PID_FILE).read_text(encoding="ascii"))

    assert down(state) is True
    assert not (state / ENV_FILE).exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(env["CI_API_V4_URL"], timeout=2)
    assert down(state) is False


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_services_stop_by_themselves_when_their_state_folder_is_deleted(state: Path) -> None:
    """No orphan: a state folder removed by hand (or by a temp-folder cleanup) stops them."""
    up(state)
    pid = int((state / PID_FILE).read_text(encoding="ascii"))
    shutil.rmtree(state)
    assert _gone(pid, within=10 * PID_CHECK_SECONDS)


@pytest.mark.parametrize("stale", ["", "999999999\n"], ids=["empty", "dead-pid"])
def test_up_after_a_killed_sandbox_ignores_its_stale_pid_file(state: Path, stale: str) -> None:
    """A sandbox killed with SIGKILL leaves its pid file: the next `up` must not read it (or
    a half-written new one) as "the services started, then died"."""
    state.mkdir()
    (state / PID_FILE).write_text(stale, encoding="ascii")

    env = _read_env(up(state))

    pid = int((state / PID_FILE).read_text(encoding="ascii"))
    os.kill(pid, 0)  # the new services run and own the pid file
    simple = f"{env['CI_API_V4_URL']}/projects/{env['CI_PROJECT_ID']}/packages/pypi/simple"
    request = urllib.request.Request(simple, headers={"PRIVATE-TOKEN": env["GITLAB_TOKEN"]})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_up_that_gives_up_leaves_nothing_running(state: Path) -> None:
    """Too short a timeout: a clean error (no traceback), and no services left behind, even
    when the launcher forked them at the deadline."""
    with pytest.raises(ConfigError, match="did not start within"):
        up(state, timeout=0.001)
    pid_file = state / PID_FILE
    time.sleep(3 * PID_CHECK_SECONDS)  # a late child has written its pid file by now
    if pid_file.exists():
        assert _gone(int(pid_file.read_text(encoding="ascii")), within=10 * PID_CHECK_SECONDS)


def test_cli_up_and_down(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "up", "--state-dir", str(state)]) == 0
    assert f"source {(state / ENV_FILE).resolve()}" in capsys.readouterr().out
    assert main(["sandbox", "down", "--state-dir", str(state)]) == 0
    assert "stopped" in capsys.readouterr().out


def test_cli_turns_a_file_error_into_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["sandbox", "up", "--state-dir", str(blocker / "state")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert str(blocker) in err
    assert "Traceback" not in err


def _claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (the local Sigstore checks the signature)."""
    payload = token.split(".")[1]
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(data, dict)
    return data


# -- where the state lives -------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state home of its own: tests never write to the real one."""
    folder = tmp_path / "state-home"
    monkeypatch.setenv(STATE_HOME_VARIABLE, str(folder))
    return folder


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path) -> Iterator[Path]:
    """A project folder (with a subfolder) that the test runs in; its sandbox is stopped after."""
    root = tmp_path / "my-project"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "pkg"\nversion = "1"\n')
    monkeypatch.chdir(root)
    yield root
    down(default_state_dir(root))


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({STATE_HOME_VARIABLE: "/x/override", "XDG_STATE_HOME": "/x/xdg"}, "/x/override"),
        ({"XDG_STATE_HOME": "/x/xdg"}, "/x/xdg/hatch-sigstore"),
        # XDG: a relative path is invalid and ignored
        ({"XDG_STATE_HOME": "relative"}, "~/.local/state/hatch-sigstore"),
        ({}, "~/.local/state/hatch-sigstore"),
    ],
)
def test_state_home(
    variables: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in (STATE_HOME_VARIABLE, "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert state_home() == Path(expected.replace("~", str(tmp_path)))


def test_project_root_is_the_nearest_pyproject_then_git(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "sub" / "deep").mkdir(parents=True)
    assert project_root(tmp_path / "repo" / "sub" / "deep") == tmp_path / "repo"
    (tmp_path / "repo" / "sub" / "pyproject.toml").write_text("")
    assert project_root(tmp_path / "repo" / "sub" / "deep") == tmp_path / "repo" / "sub"


def test_each_project_gets_its_own_state_folder(home: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "a" / "app", tmp_path / "b" / "app"
    assert default_state_dir(one) != default_state_dir(two)
    assert default_state_dir(one) == default_state_dir(one)
    for folder in (one, two):
        assert default_state_dir(folder).parent == home / "sandbox"
        assert default_state_dir(folder).name.startswith("app-")


def test_up_keeps_its_state_outside_the_project_and_down_finds_it_from_a_subfolder(
    project: Path, home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    assert main(["sandbox", "up"]) == 0
    out = capsys.readouterr().out
    state = default_state_dir(project)
    env_file = state / ENV_FILE_NAME
    assert f"source {env_file}" in out
    assert env_file.is_file()
    # Nothing in the project: an sdist without an include list cannot pick the tokens up.
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert _read_env(env_file)["CI_PROJECT_DIR"] == str(project)

    monkeypatch.chdir(project / "src" / "pkg")
    assert main(["sandbox", "status"]) == 0
    assert str(env_file) in capsys.readouterr().out
    assert main(["sandbox", "status", "--env-file"]) == 0
    assert capsys.readouterr().out == f"{env_file}\n"
    assert main(["sandbox", "down"]) == 0
    assert "stopped" in capsys.readouterr().out
    assert not env_file.exists()
    assert main(["sandbox", "status"]) == 3
    assert "No sandbox is running" in capsys.readouterr().out


def test_the_env_file_has_a_fixed_name_and_a_first_line_marker(state: Path) -> None:
    env_file = up(state)
    assert env_file.name == ENV_FILE_NAME == "sandbox.env"
    first = env_file.read_text(encoding="utf-8").splitlines()[0]
    assert first == ENV_FILE_MARKER
    assert is_sandbox_env(first)
    assert is_sandbox_env(env_file.read_bytes().splitlines()[0])
    assert not is_sandbox_env("export CI=true")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            ["--tag", "v1.2.3"],
            {
                "CI_COMMIT_TAG": "v1.2.3",
                "CI_COMMIT_REF_NAME": "v1.2.3",
                "CI_COMMIT_REF_SLUG": "v1-2-3",
                "CI_COMMIT_REF_PROTECTED": "true",
                "ref_type": "tag",
                "ref_path": "refs/tags/v1.2.3",
            },
        ),
        (
            ["--tag", "v1.2.3", "--no-protected"],
            {
                "CI_COMMIT_TAG": "v1.2.3",
                "CI_COMMIT_REF_PROTECTED": "false",
                "ref_type": "tag",
                "ref_path": "refs/tags/v1.2.3",
            },
        ),
        (
            [],
            {
                "CI_COMMIT_BRANCH": "main",
                "CI_COMMIT_REF_NAME": "main",
                "CI_COMMIT_REF_PROTECTED": "true",
                "ref_type": "branch",
                "ref_path": "refs/heads/main",
            },
        ),
        (
            ["--branch", "Feature/Login_2"],
            {
                "CI_COMMIT_BRANCH": "Feature/Login_2",
                "CI_COMMIT_REF_SLUG": "feature-login-2",
                "CI_COMMIT_REF_PROTECTED": "false",
                "ref_type": "branch",
                "ref_path": "refs/heads/Feature/Login_2",
            },
        ),
    ],
)
def test_up_rehearses_a_tag_or_a_branch_pipeline(
    flags: list[str],
    expected: dict[str, str],
    state: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sandbox", "up", "--state-dir", str(state), *flags]) == 0
    out = capsys.readouterr().out
    env = _read_env(state / ENV_FILE)
    claims = _claims(env["SIGSTORE_ID_TOKEN"])
    assert env["SIGSTORE_ID_TOKEN"] not in out  # never shown unless asked for

    # The variables of that pipeline: a tag pipeline has no CI_COMMIT_BRANCH, and vice versa.
    for key, value in expected.items():
        if key.startswith("CI_"):
            assert env[key] == value, key
    if claims["ref_type"] == "tag":
        assert "CI_COMMIT_BRANCH" not in env
    else:
        assert "CI_COMMIT_TAG" not in env
    assert env["CI_DEFAULT_BRANCH"] == "main"
    # ... and an ID token whose claims match them, as GitLab's Ci::JwtV2 mints it.
    assert claims["ref"] == env["CI_COMMIT_REF_NAME"]
    assert claims["ref_type"] == expected["ref_type"]
    assert claims["ref_path"] == expected["ref_path"]
    assert claims["ref_protected"] == env["CI_COMMIT_REF_PROTECTED"]
    assert claims["project_path"] == claims["job_project_path"] == env["CI_PROJECT_PATH"]
    assert claims["project_id"] == claims["job_project_id"] == env["CI_PROJECT_ID"]
    assert claims["namespace_id"] == claims["job_namespace_id"]
    assert claims["pipeline_id"] == env["CI_PIPELINE_ID"]
    assert claims["job_id"] == env["CI_JOB_ID"]
    assert claims["sha"] == env["CI_COMMIT_SHA"]
    assert claims["sub"] == (
        f"project_path:{env['CI_PROJECT_PATH']}:ref_type:{claims['ref_type']}:ref:{claims['ref']}"
    )
    assert claims["ci_config_ref_uri"] == (
        f"{env['CI_SERVER_FQDN']}/{env['CI_PROJECT_PATH']}//.gitlab-ci.yml@{claims['ref_path']}"
    )
    assert claims["aud"] == "sigstore"
    assert claims["iss"] == env["CI_SERVER_URL"]
    assert claims["exp"] - claims["iat"] == 3600


def test_token_mints_more_tokens_for_the_running_job(
    state: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["sandbox", "up", "--state-dir", str(state), "--tag", "v2.0.0"]) == 0
    capsys.readouterr()
    env = _read_env(state / ENV_FILE)
    job = _claims(env["SIGSTORE_ID_TOKEN"])

    assert main(["sandbox", "token", "--state-dir", str(state), "--aud", "pypi"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # the token alone: SIGSTORE_ID_TOKEN=$(... sandbox token)
    pypi = _claims(out.strip())
    assert pypi["aud"] == "pypi"
    assert pypi["jti"] != job["jti"]
    same = ("sub", "ref", "ref_path", "ref_protected", "pipeline_id", "job_id", "project_id")
    assert {k: pypi[k] for k in same} == {k: job[k] for k in same}

    # Another ref on request; written to a private file, nothing printed.
    target = tmp_path / "token.jwt"
    args = ["--branch", "next", "--expires-in", "120", "-o", str(target)]
    assert main(["sandbox", "token", "--state-dir", str(state), *args]) == 0
    assert capsys.readouterr().out == ""
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    branch = _claims(target.read_text().strip())
    assert (branch["ref_path"], branch["ref_protected"], branch["aud"]) == (
        "refs/heads/next",
        "false",
        "sigstore",
    )
    assert branch["exp"] - branch["iat"] == 120


@pytest.mark.parametrize("where", ["a-folder", "no-such-folder/token.jwt"])
def test_token_to_a_path_it_cannot_write_names_o_and_leaves_no_copy(
    where: str, state: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["sandbox", "up", "--state-dir", str(state), "--tag", "v2.0.0"]) == 0
    capsys.readouterr()
    out_dir = tmp_path / "out"
    (out_dir / "a-folder").mkdir(parents=True)
    target = out_dir / where
    assert main(["sandbox", "token", "--state-dir", str(state), "-o", str(target)]) == 1
    captured = capsys.readouterr()
    assert f"Cannot write the token to -o {target}: " in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""
    # no temporary file with the token in it is left beside the target
    left = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*"))
    assert left == ["a-folder"]


def test_a_minted_token_signs_as_the_rehearsed_tag(
    state: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real signer takes the token, and the signature verifies as that tag's pipeline."""
    assert main(["sandbox", "up", "--state-dir", str(state), "--tag", "v3.1.0"]) == 0
    capsys.readouterr()
    env = _read_env(state / ENV_FILE)
    assert main(["sandbox", "token", "--state-dir", str(state)]) == 0
    token = capsys.readouterr().out.strip()
    artifact = make_sdist(tmp_path, "pkg", "3.1.0")  # a real sdist: verify binds it to 3.1.0
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", token)
    monkeypatch.setenv("HATCH_SIGSTORE_TRUST_CONFIG", env["HATCH_SIGSTORE_TRUST_CONFIG"])
    assert main(["sign", "--no-cosign", str(artifact)]) == 0
    assert token not in capsys.readouterr().out
    policy = ["--gitlab", env["CI_PROJECT_PATH"], "--server", env["CI_SERVER_URL"]]
    assert main(["verify", str(artifact), *policy, "--ref", "refs/tags/v3.1.0"]) == 0
    assert main(["verify", str(artifact), *policy, "--ref", "refs/heads/main"]) == 1


def test_token_without_a_running_sandbox_says_how_to_start_one(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sandbox", "token", "--state-dir", str(state)]) == 1
    assert "sandbox up" in capsys.readouterr().err


@pytest.mark.parametrize("ref", ["-x", "a..b", "a b", "v1.lock", "x~1", "refs/", ""])
def test_pipeline_refuses_a_bad_ref_name(ref: str) -> None:
    with pytest.raises(ConfigError, match="not a valid git ref name"):
        Pipeline.of(tag=ref)


def test_pipeline_defaults() -> None:
    assert Pipeline.of() == Pipeline(ref="main", ref_type="branch", protected=True)
    assert Pipeline.of(branch="dev").protected is False
    assert Pipeline.of(tag="v1", protected=False).protected is False
    assert Pipeline.of(tag="v1").full_ref == "refs/tags/v1"
    with pytest.raises(ConfigError, match="--tag and --branch"):
        Pipeline.of(tag="v1", branch="main")


def test_cli_tag_and_branch_exclude_each_other(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sandbox", "up", "--state-dir", str(state), "--tag", "v1", "--branch", "main"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_up_warns_about_an_old_state_folder_inside_the_project(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / ".sandbox" / "registry").mkdir(parents=True)
    assert main(["sandbox", "up"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {project / '.sandbox'} is the state folder of an older" in err
    assert "rm -r .sandbox" in err
