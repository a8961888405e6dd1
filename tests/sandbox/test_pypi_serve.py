"""``hatch-sigstore sandbox serve --pypi``: the PyPI stand-in beside the local Sigstore, for a
rehearsal by hand (publisher by the sandbox admin route, ID token from the sandbox issuer)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


@pytest.mark.slow
def test_sandbox_serve_pypi(tmp_path: Path) -> None:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "hatch_sigstore", "sandbox", "serve", "--pypi",
            "--gitlab-url", "https://gitlab.com", "--state-dir", str(state),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        info: dict[str, str] = {}
        while time.monotonic() < deadline and process.poll() is None:
            try:
                info = json.loads((state / "pypi.json").read_text())
                sandbox = json.loads((state / "sandbox.json").read_text())
                if httpx.get(f"{sandbox['url']}/sandbox", timeout=2).status_code == 200:
                    break
            except (OSError, ValueError, httpx.HTTPError):
                pass
            time.sleep(0.05)
        else:
            pytest.fail(f"sandbox serve --pypi did not come up: {process.poll()}")
        pypi = info["url"]
        added = httpx.post(
            f"{pypi}/_sandbox/publishers", json={"project": "my-pkg", "repository": "g/p"}
        )
        assert added.status_code == 201, added.text
        audience = httpx.get(f"{pypi}/_/oidc/audience").json()["audience"]
        id_token = httpx.post(
            f"{sandbox['url']}/sandbox/token", json={"project_path": "g/p", "audience": audience}
        ).text
        minted = httpx.post(f"{pypi}/_/oidc/mint-token", json={"token": id_token})
        assert minted.status_code == 200, minted.text
        assert minted.json()["token"].startswith("pypi-")
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert info["upload_url"] in stdout
    assert "PyPI stand-in" in stdout
    assert "Traceback" not in stderr
