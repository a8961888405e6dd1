"""``hatch-sigstore download --index-url``: the PyPI source from the command line (in-process),
against the PyPI stand-in whose releases carry PEP 740 attestations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from download_helpers import clear_download_env, run_download
from pypi_helpers import REPO, attest, dists, publish_token, twine, unique

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_download_env(monkeypatch)


@pytest.fixture
def release(pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path) -> str:
    name = unique("cli")
    pypi_index.create_project(name)
    pypi_index.add_gitlab_publisher(name, REPO)
    files = list(dists(tmp_path / "built", name))
    extra = attest(pypi_sigstore, files, ref="v1.0.0", ref_type="tag")
    token = publish_token(pypi_index, pypi_sigstore)
    assert twine(pypi_index, token, *files, *extra, attestations=True).returncode == 0
    return name


def test_download_from_the_index(
    capsys: pytest.CaptureFixture[str],
    pypi_index: PyPIIndex,
    pypi_sigstore: LocalSigstore,
    release: str,
    tmp_path: Path,
) -> None:
    common = [
        f"{release}==1.0.0",
        "--index-url",
        pypi_index.simple_url,
        "--trust-config",
        str(pypi_sigstore.trust_config_path),
    ]
    run = run_download(
        capsys, *common, "-d", str(tmp_path / "ok"), "--gitlab", REPO, "--ref-glob", "refs/tags/v*"
    )
    assert run.code == 0, run.out + run.err
    assert f"OK: every file of {release}==1.0.0 verified" in run.out
    assert "published by the GitLab trusted publisher group/project" in run.out
    assert len(list((tmp_path / "ok").glob("*.publish.attestation"))) == 2

    wrong = run_download(
        capsys, *common, "-d", str(tmp_path / "no"), "--gitlab", REPO, "--ref", "refs/heads/main"
    )
    assert wrong.code == 1
    assert "did not verify and were deleted" in wrong.out

    as_json = run_download(capsys, *common, "-d", str(tmp_path / "j"), "--gitlab", REPO, "--json")
    assert as_json.code == 0
    assert as_json.json["ok"] is True
    assert as_json.json["registry"] == pypi_index.simple_url


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--url", "https://gitlab.com/api/v4"], "--url select a GitLab registry"),
        (["--project", "g/p", "--token-env", "X"], "--project, --token-env select a GitLab"),
        (["--timeout", "0"], "--timeout 0 is not a positive"),
    ],
)
def test_gitlab_flags_do_not_mix_with_an_index(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], message: str
) -> None:
    run = run_download(
        capsys,
        "pkg==1.0",
        "--index-url",
        "https://pypi.org/simple/",
        "-d",
        str(tmp_path),
        "--gitlab",
        REPO,
        *extra,
    )
    assert run.code != 0
    assert message in run.err


def test_a_bad_index_url(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = run_download(
        capsys,
        "pkg==1.0",
        "--index-url",
        "https://pypi.org/",
        "-d",
        str(tmp_path),
        "--gitlab",
        REPO,
    )
    assert run.code != 0
    assert "does not end in /simple/" in run.err
