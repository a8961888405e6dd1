"""`hatch-sigstore sandbox up` / `down`: detached services and the env file, for real."""

from __future__ import annotations

import json
import os
import shlex
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_sigstore.cli import main
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.sandbox.rehearsal import ENV_FILE, PID_FILE, down, up


def _read_env(path: Path) -> dict[str, str]:
    env = {}
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
