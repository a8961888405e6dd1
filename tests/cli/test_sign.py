"""``hatch-sigstore sign``: output lines, flags, exit codes, errors without tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hatch_sigstore.cli import main

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore

AMBIENT_VARS = (
    "SIGSTORE_ID_TOKEN",
    "HATCH_SIGSTORE_TRUST_CONFIG",
    "GITLAB_CI",
    "GITHUB_ACTIONS",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "BUILDKITE",
    "CIRCLECI",
)


@pytest.fixture
def env(local_sigstore: LocalSigstore, monkeypatch: pytest.MonkeyPatch) -> LocalSigstore:
    for name in AMBIENT_VARS:
        monkeypatch.delenv(name, raising=False)
    local_sigstore.clear_faults()
    local_sigstore.reset_stats()
    return local_sigstore


def _files(folder: Path, *names: str) -> list[str]:
    out = []
    for name in names:
        (folder / name).write_bytes(os.urandom(64))
        out.append(str(folder / name))
    return out


def _sidecars(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("pkg-1.0"))


@pytest.mark.parametrize(
    ("flags", "suffixes"),
    [
        ([], ".sigstore.json, .sig, .crt"),
        (["--no-cosign"], ".sigstore.json"),
        (["--attestation"], ".sigstore.json, .sig, .crt, .publish.attestation"),
        (
            ["--no-cosign", "--attestation", "--rekor-version", "1"],
            ".sigstore.json, .publish.attestation",
        ),
    ],
)
def test_sign_prints_a_line_per_file(
    env: LocalSigstore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    suffixes: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    token = env.mint_token(ref="v2.0", ref_type="tag")
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", token)
    monkeypatch.setenv("HATCH_SIGSTORE_TRUST_CONFIG", str(env.trust_config_path))
    names = ("pkg-1.0-py3-none-any.whl", "pkg-1.0.tar.gz")
    _files(tmp_path, *names)
    assert main(["sign", *names, *flags]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2
    san = env.expected_identity(ref="v2.0", ref_type="tag").san
    for line, name in zip(lines, names, strict=True):
        written = ", ".join(name + s for s in suffixes.split(", "))
        assert line == f"signed {name}: {written} (identity {san})"
    assert token not in out + err
    assert env.stats["fulcio"] == 1


def test_trust_config_flag_and_token_variable(
    env: LocalSigstore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RELEASE_TOKEN", env.mint_token())
    files = _files(tmp_path, "pkg-1.0.tar.gz")
    args = ["sign", *files, "--trust-config", str(env.trust_config_path)]
    assert main([*args, "--identity-token-env", "RELEASE_TOKEN"]) == 0
    assert "signed " in capsys.readouterr().out
    assert _sidecars(tmp_path) == []  # all sidecars start with the artifact's name
    assert len(list(tmp_path.iterdir())) == 4


@pytest.mark.parametrize(
    ("setup", "args", "phrases"),
    [
        ("none", [], ("SIGSTORE_ID_TOKEN is not set", "id_tokens:", "aud: sigstore")),
        ("expired", [], ("expired at",)),
        ("wrong-aud", [], ("audience 'other'",)),
        ("none", ["--identity-token-env", "NOPE"], ("NOPE is not set",)),
        ("fulcio-403", [], ("refused the identity token", "HTTP 403")),
        ("good", ["missing.whl"], ("no such file",)),
        ("good", ["--rekor-version", "2"], ("Rekor v2",)),
        ("good", ["--attestation", "--no-cosign", "notes.txt"], ("only for wheels and sdists",)),
    ],
)
def test_errors_one_line_no_traceback(
    env: LocalSigstore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    args: list[str],
    phrases: tuple[str, ...],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HATCH_SIGSTORE_TRUST_CONFIG", str(env.trust_config_path))
    token = {
        "none": None,
        "expired": env.mint_token(expires_in=-60),
        "wrong-aud": env.mint_token(audience="other"),
        "good": env.mint_token(),
        "fulcio-403": env.mint_token(),
    }[setup]
    if token:
        monkeypatch.setenv("SIGSTORE_ID_TOKEN", token)
    if setup == "fulcio-403":
        env.fail_next("fulcio", status=403)
    _files(tmp_path, "notes.txt", "pkg-1.0.tar.gz")
    files = [a for a in args if "." in a and not a.startswith("-")] or ["pkg-1.0.tar.gz"]
    flags = [a for a in args if a not in files]
    assert main(["sign", *files, *flags]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ")
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in err
    if token:
        assert token not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "pkg-1.0.tar.gz"]


def test_trust_flags_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sign", "x", "--staging", "--trust-config", "f.json"])
    assert info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


@pytest.mark.slow
def test_sign_in_a_subprocess(env: LocalSigstore, tmp_path: Path) -> None:
    files = _files(tmp_path, "pkg-1.0.tar.gz", "pkg-1.0-py3-none-any.whl")
    child_env = {k: v for k, v in os.environ.items() if k not in AMBIENT_VARS}
    child_env.update(
        SIGSTORE_ID_TOKEN=env.mint_token(), HATCH_SIGSTORE_TRUST_CONFIG=str(env.trust_config_path)
    )
    result = subprocess.run(
        [sys.executable, "-m", "hatch_sigstore", "sign", *files, "--attestation"],
        capture_output=True,
        text=True,
        env=child_env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("signed ") == 2
    assert child_env["SIGSTORE_ID_TOKEN"] not in result.stdout + result.stderr
    # and sigstore's own CLI verifies what we wrote
    san = env.expected_identity().san
    assert san is not None
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "sigstore",
            "--trust-config",
            str(env.trust_config_path),
            "verify",
            "identity",
            "--offline",
            "--cert-identity",
            san,
            "--cert-oidc-issuer",
            env.gitlab_url,
            *files,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
