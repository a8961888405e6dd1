"""``hatch-sigstore index serve`` as a CI job runs it: in the background, URL first, until
SIGTERM; and its errors: one paragraph, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from index_helpers import gitlab_policy_toml, installer_env, pip_install, release

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore

pytestmark = pytest.mark.slow


def _first_line(process: subprocess.Popen[str], timeout: float = 60) -> str:
    box: list[str] = []
    reader = threading.Thread(
        target=lambda: box.append(process.stdout.readline() if process.stdout else "")
    )
    reader.start()
    reader.join(timeout)
    assert box, "the index printed no URL in time"
    return box[0].strip()


def test_serve_prints_its_url_first_and_stops_on_sigterm(
    tmp_path: Path, local_sigstore: LocalSigstore, gitlab_registry: GitLabRegistry
) -> None:
    project = gitlab_registry.create_project("group/index-cli")
    release(local_sigstore, gitlab_registry, project, tmp_path, "cli-app", "2.0.0")
    token = gitlab_registry.personal_token(project=project)
    config = tmp_path / "index.toml"
    config.write_text(
        f'trust-config = "{local_sigstore.trust_config_path}"\n'
        f'[upstream.company]\nurl = "{gitlab_registry.api_url}"\nproject = "{project.path}"\n'
        'token-env = "CLI_TEST_TOKEN"\n'
        f"[package.cli-app]\n{gitlab_policy_toml(local_sigstore)}"
    )
    env = {**installer_env(), "CLI_TEST_TOKEN": token}
    command = [sys.executable, "-m", "hatch_sigstore", "index", "serve", "--config", str(config)]
    command += ["--cache-dir", str(tmp_path / "cache")]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            url = _first_line(process)
            assert url.startswith("http://127.0.0.1:")
            assert url.endswith("/simple/")
            result = pip_install(url, tmp_path / "target", "cli-app==2.0.0")
            assert result.returncode == 0, result.stderr
        finally:
            process.send_signal(signal.SIGTERM)
            _out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "VERIFIED cli-app cli_app-2.0.0-py3-none-any.whl" in err
    assert token not in err
    assert "Traceback" not in err


def test_serve_refuses_a_bad_config_with_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "index.toml"
    config.write_text(
        'unlisted = "sometimes"\n[upstream.u]\nurl = "https://user:pw@gitlab.example.com"\n'
        'project = "g/p"\n[package.x]\nref-glob = "v*"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "hatch_sigstore", "index", "serve", "--config", str(config)],
        check=False,
        capture_output=True,
        text=True,
        env={**installer_env(), "PATH": os.environ.get("PATH", "")},
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout == ""  # no URL: nothing is served
    assert "unlisted:" in result.stderr
    assert "upstream.u.url:" in result.stderr
    assert "package.x.ref-glob:" in result.stderr
    assert "pw" not in result.stderr.replace("password", "")
    assert "Traceback" not in result.stderr
