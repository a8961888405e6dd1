"""``hatch-sigstore verify``: flags, output, exit codes (in-process; one real subprocess)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hatch_sigstore.cli import main

SDIST = "gitlab_oidc_project-0.0.3.tar.gz"
WHEEL = "bundle_v3_github.whl"
PROJECT = "facutuesca/gitlab-oidc-project"
GITHUB_SAN = (
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
)


@pytest.fixture(autouse=True)
def _no_ambient(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("CI_", "GITLAB_")) or name == "HATCH_SIGSTORE_TRUST_CONFIG":
            monkeypatch.delenv(name)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["verify", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--gitlab", PROJECT], 0),
        (["--gitlab", PROJECT, "--ref", "refs/heads/main", "--project-id", "55235664"], 0),
        (["--gitlab", PROJECT, "--ref-glob", "refs/heads/*", "--offline"], 0),
        (["--gitlab", PROJECT, "--ref", "refs/tags/v1.0"], 1),
        (["--gitlab", "facutuesca/other"], 1),
        (["--gitlab", PROJECT, "--project-id", "1"], 1),
        (["--gitlab", PROJECT, "--server", "https://gitlab.example.com"], 1),
        (
            [
                "--cert-identity",
                f"https://gitlab.com/{PROJECT}//.gitlab-ci.yml@refs/heads/main",
                "--cert-oidc-issuer",
                "https://gitlab.com",
            ],
            0,
        ),
        (
            [
                "--cert-identity-regexp",
                "^https://gitlab.com/facutuesca/",
                "--cert-oidc-issuer-regexp",
                "^https://gitlab\\.com$",
            ],
            0,
        ),
        (["--cert-identity-regexp", "^facutuesca", "--cert-oidc-issuer", "https://gitlab.com"], 1),
    ],
)
def test_exit_code_is_zero_only_when_verified(
    capsys: pytest.CaptureFixture[str], real_world: Path, args: list[str], code: int
) -> None:
    status, out, err = run(capsys, str(real_world / SDIST), *args)
    assert status == code, (out, err)
    assert SDIST in out
    assert ("OK" in out) is (code == 0)
    assert err == ""


def test_table_and_summary(capsys: pytest.CaptureFixture[str], real_world: Path) -> None:
    status, out, _ = run(capsys, str(real_world), "--gitlab", PROJECT)
    assert status == 1  # the GitHub wheel is not from this project; README.md is unsigned
    lines = out.splitlines()
    assert lines[0].split() == ["FILE", "VERDICT", "SIDECAR", "SIGNER", "REASON"]
    rows = {line.split()[0]: line for line in lines[1:4]}
    assert set(rows) == {"README.md", WHEEL, SDIST}  # sidecars themselves are skipped
    assert "OK" in rows[SDIST]
    assert "attestation" in rows[SDIST]
    assert "FAILED" in rows[WHEEL]
    assert GITHUB_SAN in rows[WHEEL]
    assert "issuer" in rows[WHEEL]
    assert "no signature found" in rows["README.md"]
    assert out.rstrip().endswith("trust the public production Sigstore.")
    assert "1 of 3 files verified" in out


def test_json_output(capsys: pytest.CaptureFixture[str], real_world: Path) -> None:
    status, out, _ = run(
        capsys,
        str(real_world / SDIST),
        str(real_world / WHEEL),
        str(real_world / f"{WHEEL}.sigstore"),  # a sidecar given by a glob: skipped
        "--gitlab",
        PROJECT,
        "--json",
    )
    assert status == 1
    data = json.loads(out)
    assert [(d["artifact"], d["ok"], d["sidecar"]) for d in data] == [
        (str(real_world / SDIST), True, "attestation"),
        (str(real_world / WHEEL), False, "bundle"),
    ]
    assert data[0]["identity"] == f"https://gitlab.com/{PROJECT}//.gitlab-ci.yml@refs/heads/main"
    assert data[0]["ref"] == "refs/heads/main"
    assert data[0]["project_id"] == "55235664"
    assert data[0]["reason"] is None
    assert data[1]["reason"].startswith("wrong signer")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--gitlab GROUP/PROJECT"),
        (["--cert-identity", "x"], "--cert-oidc-issuer"),
        (["--ref", "refs/heads/main"], "--gitlab"),
        (["--gitlab", PROJECT, "--cert-identity", "x"], "Use one"),
        (["--gitlab", PROJECT, "--ref", "main"], "refs/heads/main"),
        (["--gitlab", PROJECT, "--ref-glob", "v*"], "refs/tags/v*"),
        (["--gitlab", "just-a-name"], "GROUP/PROJECT"),
        (["--gitlab", PROJECT, "--server", "gitlab.com"], "--server"),
        (["--cert-identity-regexp", "(", "--cert-oidc-issuer", "i"], "regular expression"),
        (["--from-ci"], "not a GitLab CI job"),
        (["--gitlab", PROJECT, "--trust-config", "/nonexistent/trust.json"], "does not exist"),
    ],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_configuration_errors_are_one_paragraph(
    capsys: pytest.CaptureFixture[str],
    real_world: Path,
    args: list[str],
    message: str,
    as_json: bool,
) -> None:
    status, out, err = run(capsys, str(real_world / SDIST), *args, *(["--json"] * as_json))
    assert status == 1
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    # --json: the same error as one JSON object on stdout; without it, stdout stays empty
    expected = {"ok": False, "error": err.removeprefix("error: ").rstrip("\n")}
    assert (json.loads(out) if as_json else out) == (expected if as_json else "")


def test_bad_trust_config_file(
    capsys: pytest.CaptureFixture[str], real_world: Path, tmp_path: Path
) -> None:
    config = tmp_path / "trust.json"
    config.write_text("{ not json")
    status, _, err = run(
        capsys, str(real_world / SDIST), "--gitlab", PROJECT, "--trust-config", str(config)
    )
    assert status == 1
    assert "not readable JSON" in err


def test_trust_config_from_environment(
    capsys: pytest.CaptureFixture[str],
    real_world: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "trust.json"
    config.write_text("[]")
    monkeypatch.setenv("HATCH_SIGSTORE_TRUST_CONFIG", str(config))
    status, _, err = run(capsys, str(real_world / SDIST), "--gitlab", PROJECT)
    assert status == 1
    assert str(config) in err


def test_only_sidecars_given(capsys: pytest.CaptureFixture[str], real_world: Path) -> None:
    status, _, err = run(capsys, str(real_world / f"{WHEEL}.sigstore"), "--gitlab", PROJECT)
    assert status == 1
    assert "nothing to verify" in err


@pytest.mark.parametrize(
    ("env", "extra", "code"),
    [
        ({"CI_COMMIT_BRANCH": "main"}, [], 0),
        ({"CI_COMMIT_TAG": "v1.0"}, [], 1),  # the pipeline's own ref is pinned
        ({"CI_COMMIT_TAG": "v1.0"}, ["--ref-glob", "refs/heads/*"], 0),
        ({"CI_COMMIT_BRANCH": "main", "CI_PROJECT_ID": "55235664"}, [], 0),
        ({"CI_COMMIT_BRANCH": "main", "CI_PROJECT_ID": "1"}, [], 1),
        ({"CI_COMMIT_BRANCH": "main", "CI_PROJECT_PATH": "facutuesca/fork"}, [], 1),
        # naming the pipeline's own project keeps its ref and its project id
        ({"CI_COMMIT_TAG": "v1.0"}, ["--gitlab", PROJECT], 1),
        ({"CI_COMMIT_BRANCH": "main", "CI_PROJECT_ID": "1"}, ["--gitlab", PROJECT.upper()], 1),
        # another project: its ref stays the pipeline's, the pipeline's id is not its id
        (
            {
                "CI_COMMIT_BRANCH": "main",
                "CI_PROJECT_PATH": "facutuesca/fork",
                "CI_PROJECT_ID": "1",
            },
            ["--gitlab", PROJECT],
            0,
        ),
        (
            {"CI_COMMIT_TAG": "v1.0", "CI_PROJECT_PATH": "facutuesca/fork", "CI_PROJECT_ID": "1"},
            ["--gitlab", PROJECT],
            1,
        ),
    ],
)
def test_from_ci(
    capsys: pytest.CaptureFixture[str],
    real_world: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    extra: list[str],
    code: int,
) -> None:
    base = {"GITLAB_CI": "true", "CI_SERVER_URL": "https://gitlab.com", "CI_PROJECT_PATH": PROJECT}
    for name, value in {**base, **env}.items():
        monkeypatch.setenv(name, value)
    status, out, err = run(capsys, str(real_world / SDIST), "--from-ci", *extra)
    assert status == code, (out, err)


def test_offline_refuses_cosign_only_material(
    capsys: pytest.CaptureFixture[str], real_world: Path, tmp_path: Path
) -> None:
    import base64

    from cryptography.hazmat.primitives.serialization import Encoding
    from sigstore.models import Bundle

    artifact = tmp_path / WHEEL
    shutil.copyfile(real_world / WHEEL, artifact)
    bundle = Bundle.from_json((real_world / f"{WHEEL}.sigstore").read_bytes())
    (tmp_path / f"{WHEEL}.sig").write_text(base64.b64encode(bundle.signature).decode())
    (tmp_path / f"{WHEEL}.crt").write_bytes(bundle.signing_certificate.public_bytes(Encoding.PEM))
    status, out, _ = run(
        capsys,
        str(artifact),
        "--cert-identity",
        GITHUB_SAN,
        "--cert-oidc-issuer",
        "https://token.actions.githubusercontent.com",
        "--offline",
    )
    assert status == 1
    assert "cosign" in out
    assert "drop --offline" in out


def test_version_from_tag(capsys: pytest.CaptureFixture[str], real_world: Path) -> None:
    """The real-world sdist was signed on refs/heads/main: no tag names its version."""
    code, out, _ = run(capsys, str(real_world / SDIST), "--gitlab", PROJECT, "--json")
    assert code == 0
    [plain] = json.loads(out)
    assert (plain["name"], plain["version"]) == ("gitlab-oidc-project", "0.0.3")
    code, out, _ = run(capsys, str(real_world / SDIST), "--gitlab", PROJECT, "--version-from-tag")
    assert code == 1
    assert "signed at refs/heads/main, not at a tag" in out
    assert "version = its tag's" in out  # the summary line names the policy


def test_a_renamed_dist_fails_verify(
    capsys: pytest.CaptureFixture[str], real_world: Path, tmp_path: Path
) -> None:
    """The real-world 0.0.3 sdist and its attestation, renamed 0.0.4: the PEP 740 subject
    already names the real file, and the metadata says 0.0.3."""
    renamed = tmp_path / "gitlab_oidc_project-0.0.4.tar.gz"
    shutil.copyfile(real_world / SDIST, renamed)
    shutil.copyfile(
        real_world / f"{SDIST}.publish.attestation",
        tmp_path / f"{renamed.name}.publish.attestation",
    )
    code, out, _ = run(capsys, str(renamed), "--gitlab", PROJECT)
    assert code == 1
    assert "not this file's name" in out


@pytest.mark.slow
def test_console_script(real_world: Path) -> None:
    exe = Path(sys.executable).with_name("hatch-sigstore")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "hatch_sigstore"]
    done = subprocess.run(
        [*command, "verify", str(real_world / SDIST), "--gitlab", PROJECT, "--offline", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["ok"] is True
    assert done.stderr == ""  # sigstore's offline-TUF warning is silenced


def _policy_options(command: str) -> dict[str, tuple[str | None, object]]:
    """The signer/trust flags of a subcommand: option string -> (help, default)."""
    from hatch_sigstore.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    groups = sub.choices[command]._action_groups
    return {
        option: (action.help, action.default)
        for group in groups
        if group.title
        and group.title.startswith(("who must have signed", "which Sigstore", "what each dist"))
        for action in group._group_actions
        for option in action.option_strings
    }


def test_verify_and_download_share_the_policy_flags() -> None:
    verify, download = _policy_options("verify"), _policy_options("download")
    assert verify == download
    assert sorted(verify) == sorted(POLICY_FLAGS)


POLICY_FLAGS = (
    "--gitlab", "--server", "--ref", "--ref-glob", "--config-path", "--project-id",
    "--runner-environment", "--sha", "--from-ci", "--cert-identity", "--cert-identity-regexp",
    "--cert-oidc-issuer", "--cert-oidc-issuer-regexp", "--staging", "--trust-config",
    "--version-from-tag",
)  # fmt: skip


@pytest.mark.parametrize("command", ["verify", "download"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ref", "refs/heads/main"], "--ref refine a GitLab policy, but --gitlab was not given"),
        (["--sha", "a" * 40], "--sha refine a GitLab policy"),
        (["--runner-environment", "self-hosted"], "--runner-environment refine"),
        (["--gitlab", PROJECT, "--cert-identity", "x"], "Use one"),
        (["--gitlab", PROJECT, "--sha", "abc"], "not a full commit SHA"),
        (["--gitlab", PROJECT, "--project-id", "p"], "is not a number"),
        (["--staging", "--trust-config", "t.json"], "not allowed with argument"),
        (["--ref", "refs/heads/a", "--ref-glob", "refs/*"], "not allowed with argument"),
    ],
)
def test_both_commands_refuse_the_same_policies(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str,
    args: list[str],
    message: str,
) -> None:
    first = ["x.whl"] if command == "verify" else ["pkg==1.0", "-d", str(tmp_path / "out")]
    code: int | str | None
    try:
        code = main([command, *first, *args])
    except SystemExit as exc:  # argparse's own refusal of mutually exclusive flags
        code = exc.code
    _, err = capsys.readouterr()
    assert code == (2 if "not allowed" in message else 1)
    assert message in err
    assert not (tmp_path / "out").exists()
