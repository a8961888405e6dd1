"""``LocalSigstore`` itself: its CI environment, fault injection, statistics, state folder and
the ``hatch-sigstore sandbox serve`` process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore._internal.fulcio.client import FulcioClientError
from sigstore._internal.rekor import RekorClientError
from sigstore.models import ClientTrustConfig
from sigstore.oidc import IdentityToken
from sigstore.sign import SigningContext
from sigstore.verify import Verifier, policy
from sigstore_helpers import (
    csr_field,
    fulcio,
    http,
    make_csr,
    signing_context,
)

from hatch_sigstore.ci import CIContext
from hatch_sigstore.sandbox import LocalSigstore


def test_ci_env_names_the_same_identity(sandbox: LocalSigstore) -> None:
    env = sandbox.ci_env(project_path="grp/app", ref="v3.0", ref_type="tag", project_id="99")
    assert env["GITLAB_CI"] == "true"
    assert env["CI_COMMIT_TAG"] == "v3.0"
    assert "CI_COMMIT_BRANCH" not in env
    assert env["CI_PROJECT_NAME"] == "app"
    assert env["CI_PROJECT_ID"] == "99"
    assert env["HATCH_SIGSTORE_TRUST_CONFIG"] == str(sandbox.trust_config_path)
    identity = sandbox.expected_identity(
        project_path="grp/app", ref="v3.0", ref_type="tag", project_id="99"
    )
    assert CIContext.from_env(env).expected_identity() == identity
    claims = jwt.decode(env["SIGSTORE_ID_TOKEN"], options={"verify_signature": False})
    assert f"https://{claims['ci_config_ref_uri']}" == identity.san
    branch = sandbox.ci_env()
    assert branch["CI_COMMIT_BRANCH"] == "main"
    assert "CI_COMMIT_TAG" not in branch


def test_ci_env_token_and_variables_describe_one_job(sandbox: LocalSigstore) -> None:
    env = sandbox.ci_env(project_path="grp/app", ref="topic", ref_protected=True, pipeline_id="77")
    claims = jwt.decode(env["SIGSTORE_ID_TOKEN"], options={"verify_signature": False})
    job = ("pipeline_id", "job_id", "ref_protected", "sha", "namespace_id")
    variables = ("CI_PIPELINE_ID", "CI_JOB_ID", "CI_COMMIT_REF_PROTECTED", "CI_COMMIT_SHA",
                 "CI_PROJECT_NAMESPACE_ID")  # fmt: skip
    assert [claims[c] for c in job] == [env[v] for v in variables]
    assert (env["CI_PIPELINE_ID"], env["CI_JOB_ID"], env["CI_COMMIT_REF_PROTECTED"]) == (
        "77", "771", "true"
    )  # fmt: skip
    # without a pipeline id, every call is a job of its own pipeline
    assert sandbox.ci_env()["CI_PIPELINE_ID"] != sandbox.ci_env()["CI_PIPELINE_ID"]


def test_fail_next_answers_then_recovers(sandbox: LocalSigstore) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sandbox.fail_next("fulcio", 503)
    first = fulcio(sandbox, sandbox.mint_token(), csr_field(make_csr(key)))
    assert first.status_code == 503
    assert first.json()["code"] == 503
    assert fulcio(sandbox, sandbox.mint_token(), csr_field(make_csr(key))).status_code == 201

    sandbox.fail_next("rekor", 502, times=2, body=b"<html>bad gateway</html>")
    entries = f"{sandbox.url}/api/v1/log/entries"
    assert http().post(entries, json={}).content == b"<html>bad gateway</html>"
    assert http().post(f"{entries}/retrieve", json={"entries": []}).status_code == 502
    assert http().post(f"{entries}/retrieve", json={"entries": []}).status_code == 200


def test_sigstore_client_sees_injected_failures(sandbox: LocalSigstore) -> None:
    sandbox.fail_next("fulcio", 500)
    with (
        pytest.raises(FulcioClientError),
        signing_context(sandbox).signer(IdentityToken(sandbox.mint_token())),
    ):
        pass  # pragma: no cover
    before = sandbox.stats
    sandbox.fail_next("rekor_create", 500)
    with signing_context(sandbox).signer(IdentityToken(sandbox.mint_token())) as signer:
        with pytest.raises(RekorClientError):
            signer.sign_artifact(b"first attempt fails")
        signer.sign_artifact(b"second attempt works")
    after = sandbox.stats
    assert (after["fulcio"] - before["fulcio"], after["rekor_create"] - before["rekor_create"]) == (
        1,
        2,
    )


def test_stats_count_and_reset(sandbox: LocalSigstore) -> None:
    sandbox.reset_stats()
    assert sandbox.stats == {"fulcio": 0, "rekor_create": 0, "rekor_retrieve": 0}
    http().post(f"{sandbox.url}/api/v1/log/entries/retrieve/", json={"entries": []})
    http().get(f"{sandbox.url}/api/v1/log")
    assert sandbox.stats == {"fulcio": 0, "rekor_create": 0, "rekor_retrieve": 1}
    stats = sandbox.stats
    stats["fulcio"] = 99  # a copy
    assert sandbox.stats["fulcio"] == 0


def test_hang_next_and_latency_delay_answers(sandbox: LocalSigstore) -> None:
    sandbox.hang_next("rekor_create", 1.0)
    with pytest.raises(httpx.ReadTimeout):
        http().post(f"{sandbox.url}/api/v1/log/entries", json={}, timeout=0.2)
    assert http().get(f"{sandbox.url}/api/v1/log", timeout=2).status_code == 200
    sandbox.latency = 0.25
    started = time.monotonic()
    http().get(f"{sandbox.url}/api/v1/log")
    assert time.monotonic() - started >= 0.25


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.fail_next("tsa"), "unknown service"),
        (lambda s: s.fail_next("fulcio", status=42), "not an HTTP status"),
        (lambda s: s.fail_next("rekor", times=0), "at least 1"),
        (lambda s: s.hang_next("rekor", -1.0), "negative"),
    ],
)
def test_fault_plans_are_validated(sandbox: LocalSigstore, call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(sandbox)


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_sandbox_serve_process(tmp_path: Path, stop_signal: signal.Signals) -> None:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "hatch_sigstore", "sandbox", "serve", "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        info: dict[str, str] = {}
        while time.monotonic() < deadline and process.poll() is None:
            try:
                info = json.loads((state / "sandbox.json").read_text())
                if http().get(f"{info['url']}/sandbox", timeout=2).status_code == 200:
                    break
            except (OSError, ValueError, httpx.HTTPError):
                pass
            time.sleep(0.05)
        else:
            pytest.fail(f"sandbox serve did not come up: {process.poll()}")
        url = info["url"]
        response = http().post(
            f"{url}/sandbox/token", json={"project_path": "g/p", "ref": "v1", "ref_type": "tag"}
        )
        assert response.status_code == 200
        token = response.text
        jwks = jwt.PyJWKSet.from_dict(http().get(f"{url}/oauth/discovery/keys").json())
        claims = jwt.decode(
            token,
            jwks[jwt.get_unverified_header(token)["kid"]],
            algorithms=["ES256"],
            audience="sigstore",
        )
        assert claims["sub"] == "project_path:g/p:ref_type:tag:ref:v1"
        assert http().post(f"{url}/sandbox/token", content=b"[1]").status_code == 400
        # The process signs for out-of-process callers through its trust config.
        config = ClientTrustConfig.from_json(Path(info["trust_config"]).read_text())
        with SigningContext.from_trust_config(config).signer(IdentityToken(token)) as signer:
            bundle = signer.sign_artifact(b"served")
        Verifier(trusted_root=config.trusted_root).verify_artifact(
            b"served",
            bundle,
            policy.Identity(
                identity="https://gitlab.example.com/g/p//.gitlab-ci.yml@refs/tags/v1",
                issuer="https://gitlab.example.com",
            ),
        )
    finally:
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert url in stdout
    assert info["trust_config"] in stdout
    assert "NEVER" in stdout
    assert "/sandbox/token" in stdout
    assert "Traceback" not in stderr


def test_sandbox_serve_refuses_bad_port_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    from hatch_sigstore.cli import main

    assert main(["sandbox", "serve", "--port", "70000"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --port 70000 is not a TCP port.")
    assert "Traceback" not in err


@pytest.mark.slow
def test_sandbox_serve_reports_a_busy_port(sandbox: LocalSigstore) -> None:
    port = sandbox.url.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-m", "hatch_sigstore", "sandbox", "serve", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"error: Cannot start the local Sigstore on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_own_temporary_state_is_removed_and_given_state_is_kept(tmp_path: Path) -> None:
    with LocalSigstore() as temporary:
        own = temporary.state_dir
        assert temporary.trust_config_path.is_file()
        assert json.loads((own / "sandbox.json").read_text())["url"] == temporary.url
    assert not own.exists()
    with LocalSigstore(state_dir=tmp_path / "kept") as kept:
        path = kept.trust_config_path
    assert path.is_file()
