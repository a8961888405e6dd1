"""``hatch publish -p gitlab`` end to end: real hatch CLI, local Sigstore, GitLab stand-in.

Every test signs its own release with the sandbox Sigstore (as the pipeline's build job would),
creates its own project in the stand-in, and drives hatch's own ``publish`` command in-process
(click's CliRunner; one test runs the ``hatch`` executable). Faults are injected into the
stand-in's HTTP handling, never into our code.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from conftest import STORAGE, store_requests
from hatch_sigstore.sign import SignOptions, sign_files
from hatch_sigstore.trust import TrustChoice
from publish_helpers import make_sdist, make_wheel

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore
    from hatch_sigstore.sandbox.gitlab import Project

# Variables of the developer's or CI's own environment that must not leak into a test.
_CLEAR = (
    "GITLAB_CI",
    "CI",
    "CI_SERVER_URL",
    "CI_API_V4_URL",
    "CI_PROJECT_ID",
    "CI_PROJECT_PATH",
    "CI_JOB_TOKEN",
    "CI_COMMIT_TAG",
    "CI_COMMIT_BRANCH",
    "CI_CONFIG_PATH",
    "SIGSTORE_ID_TOKEN",
    "HATCH_SIGSTORE_TRUST_CONFIG",
    "GITLAB_TOKEN",
    "GITLAB_DEPLOY_TOKEN",
    "HATCH_PUBLISHER",
    "HATCH_PUBLISHER_OPTIONS",
)


@dataclass
class Release:
    root: Path  # the project directory (pyproject.toml, dist/)
    project: Project  # in the stand-in
    env: dict[str, str]  # a GitLab CI job of that project, plus hatch's isolation variables
    dists: list[Path]
    signing_token: str

    @property
    def token(self) -> str:
        return self.env["CI_JOB_TOKEN"]

    def files(self) -> dict[str, bytes]:
        """Every file that should end up in the registry, by name."""
        out = {}
        for p in sorted((self.root / "dist").iterdir()):
            out[p.name] = p.read_bytes()
        return out


def write_pyproject(root: Path, table: str = "") -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "alpha"\nversion = "1.0.0"\n\n[tool.hatch.publish.gitlab]\n{table}\n'
    )


@pytest.fixture
def hatch_home(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "hatch-home"
    home.mkdir()
    (home / "config.toml").write_text("")
    return {
        "HATCH_CONFIG": str(home / "config.toml"),
        "HATCH_CACHE_DIR": str(home / "cache"),
        "HATCH_DATA_DIR": str(home / "data"),
        "NO_COLOR": "1",
    }


def sign(local_sigstore: LocalSigstore, paths: list[Path], env: dict[str, str]) -> None:
    options = SignOptions(
        trust=TrustChoice.resolve(trust_config=local_sigstore.trust_config_path),
        token=env["SIGSTORE_ID_TOKEN"],
        outputs=frozenset({"bundle", "cosign"}),
    )
    sign_files(paths, options)


def make_release(
    tmp_path: Path,
    local_sigstore: LocalSigstore,
    gitlab_registry: GitLabRegistry,
    hatch_home: dict[str, str],
    *,
    name: str = "alpha",
    version: str = "1.0.0",
    table: str = "",
    signed: bool = True,
    signer_project: str | None = None,
) -> Release:
    project = gitlab_registry.create_project(f"group/{name}")
    ci = local_sigstore.ci_env(
        project_path="group/project", ref="v1.0.0", ref_type="tag", project_id=str(project.id)
    )
    root = tmp_path / "proj"
    write_pyproject(root, table)
    dists = [make_wheel(root / "dist", name, version), make_sdist(root / "dist", name, version)]
    if signed:
        signer_env = (
            ci
            if signer_project is None
            else local_sigstore.ci_env(
                project_path=signer_project, ref="v1.0.0", ref_type="tag", project_id="999"
            )
        )
        sign(local_sigstore, dists, signer_env)
    env = {
        **ci,
        "CI_API_V4_URL": gitlab_registry.api_url,
        "CI_PROJECT_ID": str(project.id),
        "CI_JOB_TOKEN": gitlab_registry.job_token(project),
        **hatch_home,
    }
    signing_token = env.pop("SIGSTORE_ID_TOKEN")  # the publish job does not sign
    return Release(root, project, env, dists, signing_token)


@pytest.fixture
def release(
    tmp_path: Path,
    local_sigstore: LocalSigstore,
    gitlab_registry: GitLabRegistry,
    hatch_home: dict[str, str],
) -> Release:
    return make_release(tmp_path, local_sigstore, gitlab_registry, hatch_home)


@pytest.fixture(autouse=True)
def _isolation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _CLEAR:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _clear_faults(gitlab_registry: GitLabRegistry) -> Iterator[None]:
    yield
    gitlab_registry.faults.clear()


@dataclass
class Run:
    exit_code: int
    output: str


def publish(
    rel: Release,
    *args: str,
    env: dict[str, str] | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> Run:
    """``hatch publish -p gitlab ARGS`` in the release's project directory, in-process."""
    from hatch.cli import hatch

    old = Path.cwd()
    os.chdir(rel.root)
    try:
        result = CliRunner().invoke(
            hatch, ["publish", "-p", "gitlab", *args], env=env or rel.env, catch_exceptions=True
        )
    finally:
        os.chdir(old)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.output)


def registry_contents(reg: GitLabRegistry, project: Project) -> dict[str, tuple[str, int]]:
    """filename -> (sha256, number of records) over both registries."""
    out: dict[str, tuple[str, int]] = {}
    for row in reg.generic_files(project):
        sha, n = out.get(row.filename, (row.sha256, 0))
        assert sha == row.sha256, f"{row.filename} stored with different bytes"
        out[row.filename] = (row.sha256, n + 1)
    for p_row in reg.pypi_files(project):
        sha, n = out.get(p_row.filename, (p_row.sha256, 0))
        out[p_row.filename] = (p_row.sha256, n + 1)
    return out


def assert_complete(reg: GitLabRegistry, rel: Release) -> None:
    """Every file of the release in the registry exactly once, with the right bytes."""
    expected = {n: hashlib.sha256(b).hexdigest() for n, b in rel.files().items()}
    contents = registry_contents(reg, rel.project)
    assert {n: (s, 1) for n, s in expected.items()} == contents
    for name, sha in expected.items():
        if name.endswith((".whl", ".tar.gz")):
            blob = reg.pypi_file_path(rel.project, name)
        else:
            blob = reg.generic_file_path(rel.project, "alpha", "1.0.0", name)
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha


def writes(reg: GitLabRegistry, project: Project) -> list[tuple[str, str, int]]:
    prefix = f"/api/v4/projects/{project.id}/"
    return [
        (r.method, r.path, r.status)
        for r in reg.requests
        if r.method in ("PUT", "POST") and r.path.startswith(prefix)
    ]


def project_requests(reg: GitLabRegistry, project: Project) -> list[tuple[str, str, int]]:
    prefix = f"/api/v4/projects/{project.id}/"
    return [(r.method, r.path, r.status) for r in reg.requests if r.path.startswith(prefix)]


# -- the happy path ------------------------------------------------------------------------


@pytest.mark.parametrize("storage", STORAGE, indirect=True)
def test_publish_signatures_first_then_dists_and_rerun_skips(
    storage: str, release: Release, gitlab_registry: GitLabRegistry
) -> None:
    run = publish(release)
    assert run.exit_code == 0, run.output
    assert_complete(gitlab_registry, release)
    sent = writes(gitlab_registry, release.project)
    kinds = ["pypi" if "/packages/pypi" in p else "generic" for _m, p, _s in sent]
    assert kinds == ["generic"] * 6 + ["pypi"] * 2
    assert "Summary: 8 uploaded, 0 skipped" in run.output
    assert "Registry state: The registry holds the whole release" in run.output
    assert release.token not in run.output

    # the generic package is named and versioned from the dists' metadata
    assert {(r.name, r.version) for r in gitlab_registry.generic_files(release.project)} == {
        ("alpha", "1.0.0")
    }

    again = publish(release)
    assert again.exit_code == 0, again.output
    assert "Summary: 0 uploaded, 8 skipped (already there)" in again.output
    assert writes(gitlab_registry, release.project) == sent  # nothing new was written
    assert_complete(gitlab_registry, release)
    # the dists already there were checked byte by byte: through the store when GitLab has one
    assert bool(store_requests(gitlab_registry, release.project.id)) is (storage != "local")


def test_dry_run_sends_nothing(release: Release, gitlab_registry: GitLabRegistry) -> None:
    run = publish(release, "-o", "dry-run=true")
    assert run.exit_code == 0, run.output
    assert project_requests(gitlab_registry, release.project) == []
    assert "PUT packages/generic/alpha/1.0.0/alpha-1.0.0-py3-none-any.whl.sigstore.json" in (
        run.output
    )
    assert "POST packages/pypi  alpha-1.0.0.tar.gz" in run.output
    assert "Dry run: nothing was sent" in run.output


@pytest.mark.parametrize("kind", ["personal", "deploy"])
def test_tokens_from_named_variables(
    tmp_path: Path,
    local_sigstore: LocalSigstore,
    gitlab_registry: GitLabRegistry,
    hatch_home: dict[str, str],
    kind: str,
) -> None:
    rel = make_release(
        tmp_path,
        local_sigstore,
        gitlab_registry,
        hatch_home,
        table=f'token-kind = "{kind}"\ntoken-env = "MY_GITLAB_TOKEN"\n',
    )
    if kind == "personal":
        token = gitlab_registry.personal_token(project=rel.project, role="developer")
    else:
        _user, token = gitlab_registry.deploy_token(rel.project)
    env = {**rel.env, "MY_GITLAB_TOKEN": token}
    del env["CI_JOB_TOKEN"]
    run = publish(rel, env=env)
    assert run.exit_code == 0, run.output
    assert token not in run.output
    assert_complete(gitlab_registry, rel)


def test_allow_unsigned_is_loud(
    tmp_path: Path,
    local_sigstore: LocalSigstore,
    gitlab_registry: GitLabRegistry,
    hatch_home: dict[str, str],
) -> None:
    rel = make_release(tmp_path, local_sigstore, gitlab_registry, hatch_home, signed=False)
    run = publish(rel, "-o", "allow-unsigned=true")
    assert run.exit_code == 0, run.output
    assert "WARNING: allow-unsigned is set" in run.output
    assert "UNSIGNED: publishing alpha-1.0.0.tar.gz" in run.output
    assert [f.filename for f in gitlab_registry.pypi_files(rel.project)] == [
        "alpha-1.0.0-py3-none-any.whl",
        "alpha-1.0.0.tar.gz",
    ]


# -- a flaky network and interruptions -------------------------------------------------------


@pytest.mark.parametrize("storage", ["local", "object-storage"], indirect=True)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_flaky_network_completes_exactly_once(
    storage: str, release: Release, gitlab_registry: GitLabRegistry, seed: int
) -> None:
    gitlab_registry.faults.random(
        rate=0.3, seed=seed, path_contains=f"/projects/{release.project.id}/"
    )
    run = publish(release, "-o", "retries=12")
    assert run.exit_code == 0, run.output
    injected = [f for f in gitlab_registry.faults.injected if f"/{release.project.id}/" in f.path]
    assert injected, "the faults did not fire"
    # and a re-run under the same faults sends nothing: every file is skipped
    writes_before = writes(gitlab_registry, release.project)
    again = publish(release, "-o", "retries=12")
    assert again.exit_code == 0, again.output
    assert "Summary: 0 uploaded, 8 skipped (already there)" in again.output
    assert [w for w in writes(gitlab_registry, release.project) if w[2] < 300] == [
        w for w in writes_before if w[2] < 300
    ]
    gitlab_registry.faults.clear()
    assert_complete(gitlab_registry, release)


def _upload_steps(rel: Release) -> list[str]:
    """The path fragment of every upload the publish makes, in plan order."""
    names = sorted(p.name for p in (rel.root / "dist").iterdir())
    generic = [f"/generic/alpha/1.0.0/{n}" for n in names if not n.endswith((".whl", ".tar.gz"))]
    return [*generic, "/packages/pypi"]


@pytest.mark.parametrize("kind", ["status", "stored_then_502", "reset"])
def test_interrupted_at_every_step_completes_on_rerun(
    tmp_path: Path,
    local_sigstore: LocalSigstore,
    gitlab_registry: GitLabRegistry,
    hatch_home: dict[str, str],
    kind: str,
) -> None:
    """A hard failure (no retries left) at upload k, for every k; then a clean re-run."""
    template = make_release(tmp_path / "t", local_sigstore, gitlab_registry, hatch_home)
    for k, fragment in enumerate(_upload_steps(template)):
        rel = make_release(tmp_path / f"k{k}", local_sigstore, gitlab_registry, hatch_home)
        where = f"/projects/{rel.project.id}/packages{fragment.removeprefix('/packages')}"
        method = "POST" if "pypi" in where else "PUT"
        gitlab_registry.faults.plan(
            kind, times=None, path_contains=where, method=method, status=500
        )
        run = publish(rel, "-o", "retries=0")
        assert "Registry state:" in run.output
        if kind == "stored_then_502":
            # the client asks the registry after an ambiguous failure: it finds the stored
            # file with the right sha256 and carries on
            assert run.exit_code == 0, (k, run.output)
        else:
            assert run.exit_code == 1, (k, run.output)
            if method == "PUT":
                # no dist is visible while one of its signature files is missing
                assert gitlab_registry.pypi_files(rel.project) == [], (k, run.output)
                assert (
                    "no dist in the PyPI registry" in run.output
                    if k
                    else "The registry is unchanged" in run.output
                )
        gitlab_registry.faults.clear()
        rerun = publish(rel)
        assert rerun.exit_code == 0, (k, rerun.output)
        assert_complete(gitlab_registry, rel)


def test_interrupted_between_the_dists(
    tmp_path: Path,
    local_sigstore: LocalSigstore,
    gitlab_registry: GitLabRegistry,
    hatch_home: dict[str, str],
) -> None:
    """The wheel is in, the sdist is refused (size limit): the summary says so, a re-run ends it."""
    rel = make_release(tmp_path, local_sigstore, gitlab_registry, hatch_home, signed=False)
    wheel, sdist = rel.dists
    make_sdist(rel.root / "dist", "alpha", "1.0.0", payload=os.urandom(4096))  # incompressible
    sign(local_sigstore, [wheel, sdist], rel.env | {"SIGSTORE_ID_TOKEN": rel.signing_token})
    assert sdist.stat().st_size > wheel.stat().st_size
    limit = gitlab_registry.settings.max_pypi_file_size
    gitlab_registry.settings.max_pypi_file_size = wheel.stat().st_size + 1
    try:
        run = publish(rel, "-o", "retries=0")
    finally:
        gitlab_registry.settings.max_pypi_file_size = limit
    assert run.exit_code == 1, run.output
    assert "File is too large" in run.output
    assert "uploaded  pypi    alpha-1.0.0-py3-none-any.whl" in run.output
    assert "All 6 signature file(s) are in the generic registry; 1 of 2 dist(s)" in run.output
    assert [f.filename for f in gitlab_registry.pypi_files(rel.project)] == [wheel.name]
    rerun = publish(rel)
    assert rerun.exit_code == 0, rerun.output
    assert "Summary: 1 uploaded, 7 skipped" in rerun.output
    assert_complete(gitlab_registry, rel)


@pytest.mark.parametrize("storage", ["local", "object-storage"], indirect=True)
def test_existing_file_with_other_bytes_is_refused(
    storage: str, release: Release, gitlab_registry: GitLabRegistry
) -> None:
    import httpx

    name = "alpha-1.0.0-py3-none-any.whl.sig"
    url = gitlab_registry.generic_url(release.project, "alpha", "1.0.0", name)
    httpx.put(url, content=b"someone else's signature", headers={"JOB-TOKEN": release.token})
    run = publish(release)
    assert run.exit_code != 0
    assert "different contents" in run.output
    assert "Refusing to overwrite" in run.output
    assert gitlab_registry.pypi_files(release.project) == []
    stored = [r for r in gitlab_registry.generic_files(release.project) if r.filename == name]
    assert len(stored) == 1  # not overwritten, no duplicate
    assert "no dist in the PyPI registry" in run.output
    # the state line names the file with other bytes and says what to do
    state = _state_line(run.output)
    assert f"OTHER bytes under the name(s) {name}" in state
    assert "Bump the version and rebuild, or delete the package version (alpha 1.0.0)" in state


def _state_line(output: str) -> str:
    (line,) = [x for x in output.splitlines() if x.startswith("Registry state:")]
    return line


@pytest.mark.parametrize("storage", ["local", "object-storage"], indirect=True)
def test_a_failed_rerun_says_what_the_registry_holds(
    storage: str, release: Release, gitlab_registry: GitLabRegistry
) -> None:
    """The issue's case: a re-run that fails at its first existence check must not claim the
    registry is unchanged while it holds the whole release: the summary asks, then says."""
    assert publish(release).exit_code == 0
    gitlab_registry.faults.plan(
        "status", times=1, status=500, method="GET", path_contains="/packages/generic/"
    )
    run = publish(release, "-o", "retries=0")
    assert run.exit_code == 1, run.output
    state = _state_line(run.output)
    assert "unchanged" not in state
    assert (
        "All 6 signature file(s) are in the generic registry; 2 of 2 dist(s) are in the PyPI "
        "registry (the same bytes as here)"
    ) in state
    assert publish(release).exit_code == 0


@pytest.mark.parametrize(("where", "cut"), [("json", 300), ("text", 200)])
def test_an_echoed_token_is_redacted_before_it_is_cut(
    release: Release, gitlab_registry: GitLabRegistry, where: str, cut: int
) -> None:
    """A server echoes the job token right across the 300-character cut of a quoted GitLab
    message (or the 200-character cut of a body that is not JSON): nothing of it may show."""
    token = release.token
    text = "x" * (cut - len(token) // 2) + token + " y"
    body = json.dumps({"message": text}).encode() if where == "json" else text.encode()
    ctype = "application/json" if where == "json" else "text/plain"
    gitlab_registry.faults.plan(
        "status", times=None, status=403, method="PUT", body=body, content_type=ctype
    )
    run = publish(release, "-o", "retries=0")
    assert run.exit_code == 1, run.output
    assert "HTTP 403" in run.output
    assert token[:8] not in run.output
    assert "x***" in run.output  # redacted where it stood, then cut


def test_escape_sequences_from_the_server_are_not_printed(
    release: Release, gitlab_registry: GitLabRegistry
) -> None:
    fake = "\x1b[2J\x1b[H\x1b]0;pwned\x07\nuploaded  pypi    alpha-1.0.0.tar.gz\r\u202e"
    gitlab_registry.faults.plan(
        "status",
        times=None,
        status=403,
        method="PUT",
        body=json.dumps({"message": f"403 Forbidden {fake}"}).encode(),
        content_type="application/json",
    )
    run = publish(release, "-o", "retries=0")
    assert run.exit_code == 1, run.output
    assert "403 Forbidden" in run.output
    for bad in ("\x1b", "\x07", "\r", "\u202e"):
        assert bad not in run.output
    assert not [x for x in run.output.splitlines() if x.startswith("uploaded  pypi")]


@pytest.mark.parametrize(
    "url",
    [
        "https://gitlab.example.com/api/v4?private_token=INQUERYsecret0123",
        "https://gitlab.example.com/api/v4?job_token=INQUERYsecret0123",
        "https://oauth2:INQUERYsecret0123@gitlab.example.com/api/v4",
        "http://gitlab.example.com/api/v4",
    ],
)
def test_urls_that_would_expose_a_token_are_refused(
    release: Release, gitlab_registry: GitLabRegistry, url: str
) -> None:
    run = publish(release, "-o", f"url={url}", "-o", "token-env=CI_JOB_TOKEN")
    assert run.exit_code == 1, run.output
    assert "INQUERYsecret" not in run.output
    assert release.token not in run.output
    assert project_requests(gitlab_registry, release.project) == []
    if url.startswith("http://"):
        assert "over plain http" in run.output


def test_an_epoch_release_is_refused_before_anything_is_sent(
    tmp_path: Path,
    local_sigstore: LocalSigstore,
    gitlab_registry: GitLabRegistry,
    hatch_home: dict[str, str],
) -> None:
    """PEP 440 epochs put '!' into file names, which GitLab's generic registry refuses: one
    clear error, before a single request."""
    rel = make_release(tmp_path, local_sigstore, gitlab_registry, hatch_home, version="1!2.0")
    run = publish(rel)
    assert run.exit_code == 1, run.output
    assert "alpha-1!2.0-py3-none-any.whl" in run.output
    assert "GitLab's generic registry refuses" in run.output
    assert project_requests(gitlab_registry, rel.project) == []


# -- bad input ---------------------------------------------------------------------------------


def _drop(*names: str) -> dict[str, str | None]:
    return dict.fromkeys(names)


@pytest.mark.parametrize(
    ("change", "args", "fragments"),
    [
        (
            _drop("CI_API_V4_URL", "CI_SERVER_URL"),
            ["-o", "gitlab-project=group/project"],
            ["GitLab API URL is unknown", "url", "CI_API_V4_URL"],
        ),
        (_drop("CI_PROJECT_ID"), [], ["project to publish into is unknown", "CI_PROJECT_ID"]),
        (_drop("CI_JOB_TOKEN"), [], ["CI_JOB_TOKEN", "token-env"]),
        ({}, ["-o", "token-env=NOT_SET_ANYWHERE"], ["NOT_SET_ANYWHERE", "not set"]),
        ({}, ["-o", "project=987654"], ["HTTP 404", "404 Not Found", "'987654'"]),
        ({}, ["-o", "token=glpat-literal-secret-123"], ["refuses literal tokens", "token-env"]),
        ({}, ["-o", "dryrun=true"], ["Unknown publisher option", "(did you mean `dry-run`?)"]),
    ],
)
def test_bad_configuration(
    release: Release,
    gitlab_registry: GitLabRegistry,
    change: dict[str, str | None],
    args: list[str],
    fragments: list[str],
) -> None:
    env: dict[str, str] = {k: v for k, v in {**release.env, **change}.items() if v is not None}
    run = publish(release, *args, env=env)
    assert run.exit_code == 1, run.output
    for fragment in fragments:
        assert fragment in run.output
    assert writes(gitlab_registry, release.project) == []
    assert release.token not in run.output
    assert "glpat-literal-secret-123" not in run.output
    assert "Traceback" not in run.output


@pytest.mark.parametrize(
    ("token_kind", "fragments"),
    [
        ("read-only-pat", ["HTTP 403", "lacks a scope", "api"]),
        ("guest", ["HTTP 403", "Developer role"]),
        ("revoked", ["HTTP 401", "MY_GITLAB_TOKEN"]),
        ("wrong", ["HTTP 401", "MY_GITLAB_TOKEN"]),
    ],
)
def test_token_problems(
    release: Release, gitlab_registry: GitLabRegistry, token_kind: str, fragments: list[str]
) -> None:
    if token_kind == "read-only-pat":
        token = gitlab_registry.personal_token(scopes=("read_api",), project=release.project)
    elif token_kind == "guest":
        token = gitlab_registry.personal_token(role="guest", project=release.project)
    elif token_kind == "revoked":
        token = gitlab_registry.personal_token(project=release.project)
        gitlab_registry.revoke(token)
    else:
        token = "glpat-" + "x" * 20
    env = {**release.env, "MY_GITLAB_TOKEN": token}
    run = publish(release, "-o", "token-env=MY_GITLAB_TOKEN", "-o", "retries=0", env=env)
    assert run.exit_code == 1, run.output
    for fragment in fragments:
        assert fragment in run.output
    assert token not in run.output
    assert writes(gitlab_registry, release.project) == [] or all(
        s >= 400 for _m, _p, s in writes(gitlab_registry, release.project)
    )
    assert gitlab_registry.generic_files(release.project) == []
    # what the registry holds is said only when it could be seen: a token that may not read
    # cannot tell
    seen = token_kind == "read-only-pat"
    expected = "The registry is unchanged" if seen else "Unknown: the registry could not be asked"
    assert expected in run.output


@pytest.mark.parametrize(
    ("answer", "method", "fragments"),
    [
        (
            {"status": 200, "body": b"<html>Sign in</html>", "content_type": "text/html"},
            "PUT",
            ["200 with a body that is not a JSON object", "not what GitLab's API sends", "/api/v4"],
        ),
        (
            {
                "status": 404,
                "body": b"<!DOCTYPE html><html>nope</html>",
                "content_type": "text/html",
            },
            None,
            ["a 404 that is not GitLab's JSON", "not what GitLab's API sends"],
        ),
        (
            {"status": 400, "body": b"\x00\xffgarbage", "content_type": "application/octet-stream"},
            "PUT",
            ["HTTP 400", "not GitLab's JSON"],
        ),
    ],
)
def test_registry_answering_html_or_garbage(
    release: Release,
    gitlab_registry: GitLabRegistry,
    answer: dict[str, object],
    method: str | None,
    fragments: list[str],
) -> None:
    gitlab_registry.faults.plan(
        "status",
        times=None,
        path_contains=f"/projects/{release.project.id}/",
        method=method,
        **answer,  # type: ignore[arg-type]
    )
    run = publish(release, "-o", "retries=0")
    assert run.exit_code == 1, run.output
    for fragment in fragments:
        assert fragment in run.output
    gitlab_registry.faults.clear()
    assert registry_contents(gitlab_registry, release.project) == {}
    # only uploads were bent: the checks saw an empty registry; else nothing could be seen
    expected = "The registry is unchanged" if method == "PUT" else "Unknown: the registry could"
    assert expected in run.output


def test_registry_answering_nothing(release: Release) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the job token goes to another address than CI_API_V4_URL only when named explicitly
    url = f"url=http://127.0.0.1:{port}/api/v4"
    run = publish(release, "-o", url, "-o", "retries=0", "-o", "token-env=CI_JOB_TOKEN")
    assert run.exit_code == 1, run.output
    assert f"127.0.0.1:{port}" in run.output
    assert "Unknown: the registry could not be asked" in run.output
    assert "Traceback" not in run.output


def test_dist_disagreeing_with_metadata(release: Release, gitlab_registry: GitLabRegistry) -> None:
    make_wheel(release.root / "dist", "alpha", "1.0.1", meta_version="1.0.2")
    run = publish(release)
    assert run.exit_code == 1
    assert (
        "alpha-1.0.1-py3-none-any.whl is not the release its name says: the file name says "
        "alpha 1.0.1, but its METADATA says alpha 1.0.2" in run.output
    )
    assert project_requests(gitlab_registry, release.project) == []


@pytest.mark.parametrize("signed_by", ["nobody", "evil/project"])
def test_unsigned_or_mis_signed_stops_before_any_request(
    tmp_path: Path,
    local_sigstore: LocalSigstore,
    gitlab_registry: GitLabRegistry,
    hatch_home: dict[str, str],
    signed_by: str,
) -> None:
    rel = make_release(tmp_path, local_sigstore, gitlab_registry, hatch_home)
    # one more dist of the release, unsigned or signed by another project's pipeline
    extra = make_wheel(rel.root / "dist", "alpha", "1.0.0", filename="alpha-1.0.0-py2-none-any.whl")
    if signed_by != "nobody":
        sign(
            local_sigstore,
            [extra],
            local_sigstore.ci_env(project_path=signed_by, ref="v1.0.0", ref_type="tag"),
        )
    run = publish(rel)
    assert run.exit_code == 1, run.output
    assert "Preflight failed: 1 of 3 dist(s)" in run.output
    assert "alpha-1.0.0-py2-none-any.whl" in run.output
    assert "Nothing was uploaded" in run.output
    assert "allow-unsigned" in run.output
    if signed_by != "nobody":  # the reason says what was expected, in no frontend's words
        assert "expected source repository" in run.output
        assert " --" not in run.output
    assert project_requests(gitlab_registry, rel.project) == []


def test_literal_token_in_pyproject_is_refused(
    tmp_path: Path,
    local_sigstore: LocalSigstore,
    gitlab_registry: GitLabRegistry,
    hatch_home: dict[str, str],
) -> None:
    rel = make_release(
        tmp_path, local_sigstore, gitlab_registry, hatch_home, table='token = "glpat-abcdefgh12345"'
    )
    run = publish(rel)
    assert run.exit_code == 1
    assert "[tool.hatch.publish.gitlab] token would put a GitLab token in plain text" in run.output
    assert "glpat-abcdefgh12345" not in run.output


# -- the real executable ------------------------------------------------------------------------


@pytest.mark.slow
def test_hatch_executable_finds_the_plugin(
    release: Release, gitlab_registry: GitLabRegistry
) -> None:
    hatch_exe = Path(sys.executable).with_name("hatch")
    env = {k: v for k, v in os.environ.items() if k not in _CLEAR}
    env.update(release.env)
    proc = subprocess.run(
        [str(hatch_exe), "publish", "-p", "gitlab"],
        cwd=release.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Summary: 8 uploaded" in output
    assert release.token not in output
    assert_complete(gitlab_registry, release)
