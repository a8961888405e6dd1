"""The GitLab registry stand-in against real clients in subprocesses: twine upload, pip download,
curl (the tutorial's generic-registry commands) and hatch's own index publisher."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from gitlab_stand_in_helpers import BIN, CURL, NAME, VERSION, build_dists, clean_env, run

from hatch_sigstore.sandbox import PyPIIndex
from hatch_sigstore.sandbox.gitlab import GitLabRegistry, Project, Settings
from pypi_helpers import dists, form, unique, upload

pytestmark = pytest.mark.slow
SETTINGS = Settings.offline  # pip and uv read it


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_twine_upload_then_duplicate(gl: GitLabRegistry, project: Project, tmp_path: Path) -> None:
    dists = build_dists(tmp_path / "dist")
    job = gl.job_token(project)
    cmd: list[str | Path] = [BIN / "twine", "upload", "--non-interactive", "--disable-progress-bar"]
    cmd += ["--repository-url", gl.pypi_url(project), "-u", "gitlab-ci-token", "-p", job]
    result = run([*cmd, *dists], env=clean_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    # twine sends the normalised name ("demo-pkg"); GitLab stores what it is sent
    assert sorted(gl.pypi_files(project)) == sorted(
        ("demo-pkg", VERSION, d.name, sha(d)) for d in dists
    )
    # the client-side sha256_digest is what the index shows: twine sends the right one
    digests = {f.file_name: f.sha256_digest for f in gl.pypi_packages(project)[0].files}
    assert digests == {d.name: sha(d) for d in dists}
    posts = [r for r in gl.requests if r.method == "POST" and str(project.id) in r.path]
    assert [r.status for r in posts][-2:] == [201, 201]
    again = run([*cmd, dists[0]], env=clean_env(tmp_path))
    assert again.returncode != 0
    out = again.stdout + again.stderr
    assert "400" in out
    assert job not in out


def _upload(gl: GitLabRegistry, project: Project, dists: list[Path], tmp: Path) -> None:
    job = gl.job_token(project)
    cmd: list[str | Path] = [BIN / "twine", "upload", "--non-interactive", "--disable-progress-bar"]
    cmd += ["--repository-url", gl.pypi_url(project), "-u", "gitlab-ci-token", "-p", job]
    assert run([*cmd, *dists], env=clean_env(tmp)).returncode == 0


def _pip_download(
    gl: GitLabRegistry, project: Project, token: str, dest: Path, *, requirement: str = ""
) -> subprocess.CompletedProcess[str]:
    return run(
        [
            sys.executable, "-m", "pip", "download", "--isolated", "--no-deps", "--no-cache-dir",
            "--disable-pip-version-check", "--only-binary", ":all:",
            "--index-url", gl.simple_url(project, token=token),
            requirement or f"demo-pkg=={VERSION}", "-d", dest,
        ],
        env=clean_env(dest.parent),
    )  # fmt: skip


def test_pip_download_checks_hashes(gl: GitLabRegistry, project: Project, tmp_path: Path) -> None:
    dists = build_dists(tmp_path / "dist")
    _upload(gl, project, dists, tmp_path)
    pat = gl.personal_token(scopes=("read_api",), role="reporter", project=project)
    result = _pip_download(gl, project, pat, tmp_path / "dl")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "dl" / dists[0].name).read_bytes() == dists[0].read_bytes()
    assert pat not in result.stdout + result.stderr
    # corrupt the stored wheel: pip must refuse it by the #sha256= fragment
    stored = gl.pypi_file_path(project, dists[0].name)
    stored.write_bytes(bytes(b ^ 1 for b in stored.read_bytes()))
    bad = _pip_download(gl, project, pat, tmp_path / "dl2")
    assert bad.returncode != 0
    assert "HASH" in (bad.stdout + bad.stderr).upper()
    # without credentials on a private project: 401
    anon = run(
        [sys.executable, "-m", "pip", "download", "--isolated", "--no-deps", "--no-input",
         "--disable-pip-version-check", "--index-url", gl.simple_url(project),
         f"demo-pkg=={VERSION}", "-d", tmp_path / "dl3"],
        env=clean_env(tmp_path),
    )  # fmt: skip
    assert anon.returncode != 0
    last = gl.requests[-1]
    assert (last.method, last.path, last.status) == (
        "GET",
        f"/api/v4/projects/{project.id}/packages/pypi/simple/demo-pkg/",
        401,
    )


def test_pip_follows_gitlabs_forward_to_a_loopback_pypi(
    gl: GitLabRegistry, project: Project, pypi_index: PyPIIndex, tmp_path: Path
) -> None:
    """A name the project does not hold: GitLab answers 302 to pypi.org's simple page, and
    pip takes it from there. With the forward pointed at the PyPI stand-in, that is real pip
    behaviour that stays on loopback, and the GitLab token stays with GitLab."""
    name = unique("forwarded")
    wheel, _ = dists(tmp_path / "pypi", name)
    pypi_index.create_project(name)
    assert upload(pypi_index, pypi_index.api_token(project=name), *form(name, "1.0.0", wheel))
    pat = gl.personal_token(scopes=("read_api",), role="reporter", project=project)
    gl.settings = Settings(pypi_forward_url=pypi_index.simple_url)  # reset after the test
    assert gl.settings.stays_on_loopback
    pypi_index.clear_requests()
    result = _pip_download(gl, project, pat, tmp_path / "dl", requirement=f"{name}==1.0.0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "dl" / wheel.name).read_bytes() == wheel.read_bytes()
    simple = f"/api/v4/projects/{project.id}/packages/pypi/simple/{name}/"
    assert ("GET", simple, 302) in gl.requests
    pages = [i for i in pypi_index.request_log if i.path == f"/simple/{name}/"]
    assert [(i.status, i.credentials) for i in pages] == [(200, ())]  # no token followed


@pytest.mark.skipif(CURL is None, reason="curl is not installed on this machine")
def test_curl_generic_tutorial_commands(
    gl: GitLabRegistry, project: Project, tmp_path: Path
) -> None:
    assert CURL is not None
    job = gl.job_token(project)
    sig = tmp_path / f"{NAME}-{VERSION}-py3-none-any.whl.sig"
    sig.write_bytes(b"MEUCIQ-signature")
    url = gl.generic_url(project, NAME, VERSION, sig.name)
    put = run([CURL, "--fail", "-sS", "--header", f"JOB-TOKEN: {job}", "--upload-file", sig, url])
    assert put.returncode == 0, put.stderr
    assert put.stdout == '{"message":"201 Created"}'
    out = tmp_path / "got.sig"
    get = run([CURL, "--fail", "-sS", "--header", f"JOB-TOKEN: {job}", "-o", out, url])
    assert get.returncode == 0, get.stderr
    assert out.read_bytes() == sig.read_bytes()
    # Basic job token on a generic upload: 401 on GitLab < 19.0, the default here
    basic = run([CURL, "--fail", "-sS", "-u", f"gitlab-ci-token:{job}", "--upload-file", sig, url])
    assert basic.returncode == 22
    assert "401" in basic.stderr
    # ...but it works for downloads
    get2 = run([CURL, "--fail", "-sS", "-u", f"gitlab-ci-token:{job}", "-o", out, url])
    assert get2.returncode == 0
    # select=package_file gives the server-computed sha256
    sel = run(
        [CURL, "--fail", "-sS", "-H", f"JOB-TOKEN: {job}", "--upload-file", sig,
         url + "?select=package_file"]
    )  # fmt: skip
    assert f'"file_sha256":"{sha(sig)}"' in sel.stdout


def test_hatch_index_publisher(gl: GitLabRegistry, project: Project, tmp_path: Path) -> None:
    dists = build_dists(tmp_path / "dist")
    env = clean_env(tmp_path)
    config = tmp_path / "hatch" / "config.toml"
    config.parent.mkdir()
    config.write_text("")
    env |= {
        "HATCH_CONFIG": str(config),
        "HATCH_CACHE_DIR": str(tmp_path / "hatch" / "cache"),
        "HATCH_DATA_DIR": str(tmp_path / "hatch" / "data"),
    }
    job = gl.job_token(project)
    cmd: list[str | Path] = [
        BIN / "hatch",
        "publish",
        "-r",
        gl.pypi_url(project),
        "-u",
        "gitlab-ci-token",
    ]
    cmd += ["-a", job, "--no-prompt", *dists]
    gl.clear_requests()
    first = run(cmd, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(f.filename for f in gl.pypi_files(project)) == sorted(d.name for d in dists)
    assert all(f.sha256 == sha(tmp_path / "dist" / f.filename) for f in gl.pypi_files(project))
    # hatch probes a devpi-style URL first; GitLab answers it with its catch-all 404
    probe = next(r for r in gl.requests if r.method == "GET")
    assert "/packages/pypi/%2Bsimple/" in probe.path
    assert probe.status == 404
    # ...so a re-run cannot skip existing files and fails on the duplicate (reference addendum)
    second = run(cmd, env=env, cwd=tmp_path)
    assert second.returncode != 0
    assert "400" in second.stdout + second.stderr  # hatch shows the status, not GitLab's text
    assert job not in second.stdout + second.stderr
