"""``hatch-sigstore download`` against the GitLab stand-in and the local Sigstore, over real HTTP.

Releases are made the way the publisher makes them, without the publisher: real small dists are
signed with ``sign_files`` against the local Sigstore (identity: a tag pipeline of group/demo on
the sandbox's GitLab), the dists go to the stand-in's PyPI route and the sidecars to its generic
route at ``generic_coordinates(name, version)``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import pytest

from conftest import STORAGE, store_requests
from download_helpers import Run, clear_download_env, run_download
from hatch_sigstore._files import is_sidecar
from hatch_sigstore.download import generic_coordinates

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore
    from hatch_sigstore.sandbox._gitlab_store import Project

NAME, VERSION = "demo-pkg", "1.0.0"
WHEEL = "demo_pkg-1.0.0-py3-none-any.whl"
SDIST = "demo_pkg-1.0.0.tar.gz"
SIGNER = "group/demo"
TAG = "v1.0.0"


# --------------------------------------------------------------------------------------------
# Making and publishing a release


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(directory: Path, name: str = "demo_pkg", version: str = VERSION) -> Path:
    """A minimal wheel pip can install (METADATA, WHEEL, RECORD)."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n"
        ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in files.items():
            zf.writestr(member, data)
    return path


def make_sdist(directory: Path, name: str = "demo_pkg", version: str = VERSION) -> Path:
    path = directory / f"{name}-{version}.tar.gz"
    pkg_info = f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n"
    with tarfile.open(path, "w:gz") as tar:
        for member, text in ((f"{name}-{version}/PKG-INFO", pkg_info),):
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def sign(
    local_sigstore: LocalSigstore,
    paths: list[Path],
    *,
    project: str = SIGNER,
    project_id: str = "42",
    tag: str = TAG,
) -> None:
    from hatch_sigstore.sign import SignOptions, sign_files
    from hatch_sigstore.trust import TrustChoice

    token = local_sigstore.mint_token(
        project_path=project, ref=tag, ref_type="tag", project_id=project_id
    )
    options = SignOptions(
        trust=TrustChoice.resolve(trust_config=local_sigstore.trust_config_path, env={}),
        token=token,
        ambient=False,
        env={},
    )
    sign_files(paths, options)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory, local_sigstore: LocalSigstore) -> Path:
    """demo-pkg 1.0.0, wheel and sdist, signed by a tag pipeline of group/demo."""
    directory = tmp_path_factory.mktemp("release")
    sign(local_sigstore, [make_wheel(directory), make_sdist(directory)])
    return directory


def publish(
    registry: GitLabRegistry,
    project: Project,
    directory: Path,
    *,
    name: str = NAME,
    version: str = VERSION,
    only: tuple[str, ...] | None = None,
) -> None:
    """Dists to the PyPI registry, sidecars to the generic registry (as the publisher does)."""
    from hatch_sigstore.gitlab import Credentials, RegistryClient

    token = registry.personal_token(project=project)
    package, generic_version = generic_coordinates(name, version)
    with RegistryClient(registry.api_url, str(project.id), Credentials("personal", token)) as c:
        for path in sorted(directory.iterdir()):
            if only is not None and not path.name.startswith(only):
                continue
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            if is_sidecar(path):
                c.generic_upload(package, generic_version, path, sha256=sha)
            else:
                c.pypi_upload(path, name=name, version=version, sha256=sha)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    clear_download_env(monkeypatch)
    return monkeypatch


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], env: pytest.MonkeyPatch) -> Any:
    def run(*args: str) -> Run:
        return run_download(capsys, *args)

    return run


@pytest.fixture
def sandbox_policy(local_sigstore: LocalSigstore) -> list[str]:
    return [
        "--gitlab",
        SIGNER,
        "--server",
        local_sigstore.gitlab_url,
        "--trust-config",
        str(local_sigstore.trust_config_path),
    ]


@pytest.fixture
def published(gitlab_registry: GitLabRegistry, release: Path) -> tuple[Project, str]:
    """A private project holding the release, and a reporter's personal token for it."""
    project = gitlab_registry.create_project("group/demo")
    publish(gitlab_registry, project, release)
    return project, gitlab_registry.personal_token(project=project, role="reporter")


class Download(Protocol):
    def __call__(
        self,
        project: Project,
        token: str,
        out: Path,
        *extra: str,
        requirement: str = ...,
        target: str | None = ...,
        policy: Sequence[str] | None = ...,
    ) -> Run: ...


@pytest.fixture
def download(
    capsys: pytest.CaptureFixture[str],
    env: pytest.MonkeyPatch,
    gitlab_registry: GitLabRegistry,
    sandbox_policy: list[str],
) -> Download:
    """``download REQUIREMENT`` from ``project`` (``target``: as named) into ``out``, with
    ``token`` in $DL_TOKEN and the sandbox's signer and trust (or ``policy``); ``extra`` last."""

    def run(
        project: Project,
        token: str,
        out: Path,
        *extra: str,
        requirement: str = f"{NAME}=={VERSION}",
        target: str | None = None,
        policy: Sequence[str] | None = None,
    ) -> Run:
        env.setenv("DL_TOKEN", token)
        return run_download(
            capsys, requirement, "--url", gitlab_registry.api_url,
            "--project", target or str(project.id), "-d", str(out), "--token-env", "DL_TOKEN",
            *(sandbox_policy if policy is None else policy), *extra,
        )  # fmt: skip

    return run


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --------------------------------------------------------------------------------------------
# Sandbox-signed releases


@pytest.mark.parametrize("storage", STORAGE, indirect=True)
def test_download_verifies_and_keeps_the_release(
    storage: str,
    download: Download,
    gitlab_registry: GitLabRegistry,
    published: tuple[Project, str],
    tmp_path: Path,
) -> None:
    project, token = published
    gitlab_registry.clear_requests()
    out = tmp_path / "verified"
    run = download(
        project, token, out, "--ref-glob", "refs/tags/v*",
        requirement="Demo_Pkg==1.0",  # any spelling: PEP 503 name, PEP 440 version
        target=project.path,
    )  # fmt: skip
    assert run.code == 0, run.out + run.err
    assert files_in(out) == [WHEEL, f"{WHEEL}.sigstore.json", SDIST, f"{SDIST}.sigstore.json"]
    assert "OK: every file of demo-pkg==1.0 verified" in run.out
    assert "https://gitlab.example.com/group/demo//.gitlab-ci.yml@refs/tags/v1.0.0" in run.out
    assert token not in run.out + run.err
    # one index request, one per dist, one bundle per dist: nothing more
    gets = [r.path for r in gitlab_registry.requests if r.method == "GET"]
    assert sum("/pypi/simple/" in p for p in gets) == 1
    assert sum("/pypi/files/" in p for p in gets) == 2
    assert sorted(p.rsplit("/", 1)[1] for p in gets if "/generic/" in p) == [
        f"{WHEEL}.sigstore.json",
        f"{SDIST}.sigstore.json",
    ]
    # with object storage every one of those four files came from the store (redirected, or
    # proxied by GitLab), and no credential went there (the storage fixture checks)
    assert store_requests(gitlab_registry, project.id) == (0 if storage == "local" else 4)


def test_json_output_and_only(
    download: Download, published: tuple[Project, str], tmp_path: Path
) -> None:
    out = tmp_path / "w"
    run = download(*published, out, "--only", "wheel", "--json")
    assert run.code == 0, run.out + run.err
    data = run.json
    assert data["ok"] is True
    assert data["generic_package"] == "demo-pkg"
    (entry,) = data["files"]
    assert entry["filename"] == WHEEL
    assert entry["kind"] == "wheel"
    assert entry["hash_ok"] is True
    assert entry["sha256"] == hashlib.sha256((out / WHEEL).read_bytes()).hexdigest()
    assert entry["sidecar"] == "bundle"
    assert entry["path"] == str(out / WHEEL)
    assert run.err == ""  # --json prints no progress
    assert files_in(out) == [WHEEL, f"{WHEEL}.sigstore.json"]


@pytest.mark.parametrize(
    ("policy", "why"),
    [
        (["--ref", "refs/heads/main"], "ref"),
        (["--ref-glob", "refs/tags/v2.*"], "ref"),
        (["--project-id", "999"], "999"),
    ],
)
def test_pinned_policy_mismatch_deletes_everything(
    download: Download,
    published: tuple[Project, str],
    tmp_path: Path,
    policy: list[str],
    why: str,
) -> None:
    out = tmp_path / "out"
    run = download(*published, out, *policy)
    assert run.code == 1
    assert files_in(out) == []
    assert "2 file(s) did not verify and were deleted" in run.out
    assert why in run.out


def test_another_signer_is_refused(
    download: Download,
    published: tuple[Project, str],
    local_sigstore: LocalSigstore,
    tmp_path: Path,
) -> None:
    policy = [
        "--gitlab", "group/other", "--server", local_sigstore.gitlab_url,
        "--trust-config", str(local_sigstore.trust_config_path),
    ]  # fmt: skip
    run = download(*published, tmp_path / "o", policy=policy)
    assert run.code == 1
    assert files_in(tmp_path / "o") == []


def test_only_the_file_that_fails_is_deleted_and_stale_copies_go_too(
    download: Download, gitlab_registry: GitLabRegistry, release: Path, tmp_path: Path
) -> None:
    """The sdist's bundle in the registry is the wheel's: the wheel stays, the sdist goes."""
    mixed = tmp_path / "mixed"
    shutil.copytree(release, mixed)
    shutil.copy(mixed / f"{WHEEL}.sigstore.json", mixed / f"{SDIST}.sigstore.json")
    project = gitlab_registry.create_project("group/mixed")
    publish(gitlab_registry, project, mixed)
    token = gitlab_registry.personal_token(project=project)
    out = tmp_path / "out"
    out.mkdir()
    (out / SDIST).write_bytes(b"an older, unverified copy")
    (out / f"{SDIST}.sig").write_bytes(b"stale")
    (out / "unrelated.txt").write_text("kept")
    run = download(project, token, out)
    assert run.code == 1
    assert files_in(out) == [WHEEL, f"{WHEEL}.sigstore.json", "unrelated.txt"]
    assert f"deleted {out / SDIST}" in run.out
    assert f"deleted {out / SDIST}.sig" in run.out
    assert "1 file(s) did not verify and were deleted" in run.out


def test_cosign_sig_and_crt_only_are_verified_online(
    download: Download, gitlab_registry: GitLabRegistry, release: Path, tmp_path: Path
) -> None:
    """The tutorial's layout (.sig + .crt only): checked against the log's entry."""
    project = gitlab_registry.create_project("group/cosign")
    staged = tmp_path / "staged"
    staged.mkdir()
    for suffix in ("", ".sig", ".crt"):  # the wheel, no bundle
        shutil.copy(release / f"{WHEEL}{suffix}", staged / f"{WHEEL}{suffix}")
    publish(gitlab_registry, project, staged)
    token = gitlab_registry.personal_token(project=project)
    run = download(project, token, tmp_path / "out", "--json")
    assert run.code == 0, run.out + run.err
    assert run.json["files"][0]["sidecar"] == "cosign"
    assert files_in(tmp_path / "out") == [WHEEL, f"{WHEEL}.crt", f"{WHEEL}.sig"]


def test_index_hash_that_does_not_match_the_bytes(
    download: Download, gitlab_registry: GitLabRegistry, release: Path, tmp_path: Path
) -> None:
    """GitLab stores the client's sha256_digest unchecked: a wrong one must stop the file."""
    project = gitlab_registry.create_project("group/hash")
    token = gitlab_registry.personal_token(project=project)
    publish(gitlab_registry, project, release, only=(f"{WHEEL}.",))  # sidecars only
    response = httpx.post(
        gitlab_registry.pypi_url(project),
        auth=("__token__", token),
        data={"name": NAME, "version": VERSION, "sha256_digest": "0" * 64},
        files={"content": (WHEEL, (release / WHEEL).read_bytes())},
    )
    assert response.status_code == 201, response.text
    run = download(project, token, tmp_path / "out", "--json")
    assert run.code == 1
    assert run.json["files"][0]["hash_ok"] is False
    assert files_in(tmp_path / "out") == []


# --------------------------------------------------------------------------------------------
# Authentication, and GitLab's refusals


@pytest.mark.parametrize("kind", ["job", "deploy", "anonymous-public"])
def test_credentials(
    cli: Any,
    env: pytest.MonkeyPatch,
    gitlab_registry: GitLabRegistry,
    release: Path,
    sandbox_policy: list[str],
    tmp_path: Path,
    kind: str,
) -> None:
    visibility = "public" if kind == "anonymous-public" else "private"
    project = gitlab_registry.create_project("group/auth", visibility=visibility)
    publish(gitlab_registry, project, release)
    extra: list[str] = []
    secret = None
    if kind == "job":
        secret = gitlab_registry.job_token(project, role="reporter")
        env.setenv("CI_JOB_TOKEN", secret)
        env.setenv("CI_API_V4_URL", gitlab_registry.api_url)  # the job's own GitLab
    elif kind == "deploy":
        user, secret = gitlab_registry.deploy_token(project, scopes=("read_package_registry",))
        env.setenv("DEPLOY", secret)
        extra = ["--token-env", "DEPLOY", "--token-kind", "deploy", "--deploy-username", user]
    gitlab_registry.clear_requests()
    run = cli(
        f"{NAME}=={VERSION}", "--url", gitlab_registry.api_url, "--project", project.path,
        "-d", str(tmp_path / "out"), *extra, *sandbox_policy,
    )  # fmt: skip
    assert run.code == 0, run.out + run.err
    if secret:
        assert secret not in run.out + run.err
        assert all(secret not in r.target for r in gitlab_registry.request_log)
    expected_auth = {"job": "job", "deploy": "deploy", "anonymous-public": "anonymous"}[kind]
    assert {r.auth for r in gitlab_registry.request_log} == {expected_auth}


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("anonymous-private", "401 Unauthorized"),
        ("wrong-token", "401"),
        ("non-member", "404"),
        ("unknown-project", "404"),
        ("expired-token", "Token is expired"),
    ],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_gitlab_refusals_quote_gitlab(
    cli: Any,
    env: pytest.MonkeyPatch,
    gitlab_registry: GitLabRegistry,
    published: tuple[Project, str],
    sandbox_policy: list[str],
    tmp_path: Path,
    case: str,
    expect: str,
    as_json: bool,
) -> None:
    project, _ = published
    target = str(project.id)
    extra: list[str] = []
    secret = None
    if case == "wrong-token":
        secret = "glpat-notarealtoken0000000"
    elif case == "non-member":
        secret = gitlab_registry.personal_token(role=None)
    elif case == "expired-token":
        secret = gitlab_registry.personal_token(project=project, expired=True)
    elif case == "unknown-project":
        target = "nobody/nothing"
        secret = gitlab_registry.personal_token(project=project)
    if secret:
        env.setenv("DL_TOKEN", secret)
        extra = ["--token-env", "DL_TOKEN"]
    run = cli(
        f"{NAME}=={VERSION}", "--url", gitlab_registry.api_url, "--project", target,
        "-d", str(tmp_path / "out"), *extra, *sandbox_policy, *(["--json"] if as_json else []),
    )  # fmt: skip
    assert run.code == 1
    assert run.err.startswith("error: ")
    assert expect in run.err
    assert "Traceback" not in run.err
    assert_json_error(run, as_json, expect)
    if secret:
        assert secret not in run.out + run.err
    assert files_in(tmp_path / "out") == []


def test_unknown_name_and_missing_version(
    download: Download, published: tuple[Project, str], tmp_path: Path
) -> None:
    # GitLab forwards unknown names to pypi.org with a 302: not followed, not in this project
    run = download(*published, tmp_path, requirement="requests==2.0")
    assert run.code == 1
    assert "has no wheel or sdist of requests==2.0" in run.err
    run = download(*published, tmp_path, requirement=f"{NAME}==9.9")
    assert run.code == 1
    assert "It lists: 1.0.0" in run.err


# --------------------------------------------------------------------------------------------
# The real-world release (signed on gitlab.com; production root, offline), served by the stand-in


@pytest.mark.parametrize(
    ("project_flag", "ok"),
    [("facutuesca/gitlab-oidc-project", True), ("facutuesca/another-project", False)],
)
def test_real_world_attestation_from_the_stand_in(
    cli: Any,
    gitlab_registry: GitLabRegistry,
    real_world: Path,
    tmp_path: Path,
    project_flag: str,
    ok: bool,
) -> None:
    sdist = "gitlab_oidc_project-0.0.3.tar.gz"
    project = gitlab_registry.create_project("facutuesca/gitlab-oidc-project", visibility="public")
    staged = tmp_path / "staged"
    staged.mkdir()
    for name in (sdist, f"{sdist}.publish.attestation"):
        shutil.copy(real_world / name, staged / name)
    publish(gitlab_registry, project, staged, name="gitlab-oidc-project", version="0.0.3")
    out = tmp_path / "out"
    run = cli(
        "gitlab-oidc-project==0.0.3", "--url", gitlab_registry.api_url,
        "--project", project.path, "-d", str(out), "--gitlab", project_flag, "--json",
    )  # fmt: skip
    assert run.code == (0 if ok else 1), run.out + run.err
    (entry,) = run.json["files"]
    assert entry["sidecar"] == "attestation"
    assert run.json["trust"] == "the public production Sigstore"
    assert files_in(out) == ([sdist, f"{sdist}.publish.attestation"] if ok else [])


# --------------------------------------------------------------------------------------------
# Arguments: refused before any request


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        ([], "will not guess"),
        (["--ref", "refs/tags/v1"], "--gitlab"),
        (["--cert-identity", "https://x//.gitlab-ci.yml@refs/heads/main"], "issuer"),
        (["--gitlab", "group/demo", "--ref", "main"], "refs/heads/main"),
        (["--from-ci"], "not a GitLab CI job"),
        (["--gitlab", "g/p", "--max-size", "lots"], "--max-size"),
        (["--gitlab", "g/p", "--token-env", "glpat-abc"], "environment variable name"),
        (["--gitlab", "g/p", "--token-env", "UNSET_VAR_X"], "UNSET_VAR_X"),
        (["--gitlab", "g/p", "--timeout", "0"], "--timeout"),
        (["--gitlab", "g/p", "--deploy-username", "u", "--token-kind", "personal"], "deploy"),
        (["--gitlab", "g/p", "--generic-package", "a/b"], "--generic-package"),
    ],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_bad_arguments_are_refused_before_any_request(
    cli: Any,
    gitlab_registry: GitLabRegistry,
    tmp_path: Path,
    args: list[str],
    expect: str,
    as_json: bool,
) -> None:
    gitlab_registry.clear_requests()
    run = cli(
        "demo-pkg==1.0", "--url", gitlab_registry.api_url, "--project", "1",
        "-d", str(tmp_path / "out"), *args, *(["--json"] if as_json else []),
    )  # fmt: skip
    assert run.code == 1
    assert run.err.startswith("error: ")
    assert expect in run.err
    assert_json_error(run, as_json, expect)
    assert gitlab_registry.requests == []


def assert_json_error(run: Run, as_json: bool, expect: str) -> None:
    """--json: the whole-command error is also one JSON object on stdout (else stdout is empty)."""
    if not as_json:
        assert run.out == ""
        return
    assert run.json == {"ok": False, "error": run.err.removeprefix("error: ").rstrip("\n")}
    assert expect in run.json["error"]


@pytest.mark.parametrize(
    ("requirement", "url", "expect"),
    [
        ("demo-pkg>=1.0", None, "exact"),
        ("demo-pkg==1.0", "https://__token__:glpat-abcdefgh1234@gitlab.example.com/api/v4",
         "credentials"),
        ("demo-pkg==1.0", "ftp://gitlab.example.com/api/v4", "http"),
        ("demo-pkg==1.0", "https://gitlab.example.com/api/v4?private_token=glpat-abcdefgh1234",
         "query"),
    ],
)  # fmt: skip
def test_bad_requirement_or_url(
    cli: Any, gitlab_registry: GitLabRegistry, tmp_path: Path,
    requirement: str, url: str | None, expect: str,
) -> None:  # fmt: skip
    run = cli(
        requirement, "--url", url or gitlab_registry.api_url, "--project", "1",
        "-d", str(tmp_path / "out"), "--gitlab", "g/p",
    )  # fmt: skip
    assert run.code == 1
    assert expect in run.err
    assert "glpat-abcdefgh1234" not in run.err
    if url is not None:  # the registry client's check, with the flag to fix
        assert "--url" in run.err
    assert not (tmp_path / "out").exists()  # refused before anything was created


def test_defaults_come_from_gitlab_ci(
    cli: Any,
    env: pytest.MonkeyPatch,
    gitlab_registry: GitLabRegistry,
    local_sigstore: LocalSigstore,
    tmp_path: Path,
) -> None:
    """Inside the project's pipeline: URL, project, job token and the signer from CI variables."""
    project = gitlab_registry.create_project("group/demo")
    ours = tmp_path / "release"
    ours.mkdir()
    # --from-ci also pins the project id (OID .15): sign as this very project
    sign(local_sigstore, [make_wheel(ours), make_sdist(ours)], project_id=str(project.id))
    publish(gitlab_registry, project, ours)
    ci = {
        "GITLAB_CI": "true",
        "CI_SERVER_URL": local_sigstore.gitlab_url,
        "CI_API_V4_URL": gitlab_registry.api_url,
        "CI_PROJECT_ID": str(project.id),
        "CI_PROJECT_PATH": SIGNER,
        "CI_COMMIT_TAG": TAG,
        "CI_JOB_TOKEN": gitlab_registry.job_token(project),
        "HATCH_SIGSTORE_TRUST_CONFIG": str(local_sigstore.trust_config_path),
    }
    for key, value in ci.items():
        env.setenv(key, value)
    run = cli(f"{NAME}=={VERSION}", "-d", str(tmp_path / "out"), "--from-ci")
    assert run.code == 0, run.out + run.err
    assert "refs/tags/v1.0.0" in run.out


# --------------------------------------------------------------------------------------------
# Each file is bound to the release asked for (issue 10 #2)


def _served_as(path: Path, directory: Path, name: str) -> None:
    """``path`` and its bundle, as a Developer (or a hostile registry) can upload them."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, directory / name)
    shutil.copyfile(
        path.with_name(path.name + ".sigstore.json"), directory / f"{name}.sigstore.json"
    )


@pytest.mark.parametrize(
    ("made_as", "tag", "says"),
    [
        (("demo_pkg", "0.9.0"), "v0.9.0", "its METADATA says demo-pkg 0.9.0"),  # rollback
        (("demo_pkg_extra", VERSION), TAG, "its METADATA says demo-pkg-extra 1.0.0"),  # sibling
    ],
)
def test_a_signed_dist_of_another_release_is_refused_and_deleted(
    download: Download,
    gitlab_registry: GitLabRegistry,
    local_sigstore: LocalSigstore,
    tmp_path: Path,
    made_as: tuple[str, str],
    tag: str,
    says: str,
) -> None:
    """A wheel signed by the right pipeline at a release tag, served as demo_pkg 1.0.0 by the
    stand-in (GitLab stores what the form says): it verifies as bytes, and is refused."""
    name, version = made_as
    (tmp_path / "made").mkdir()
    made = make_wheel(tmp_path / "made", name, version)
    sign(local_sigstore, [made], tag=tag)
    _served_as(made, tmp_path / "served", WHEEL)
    project = gitlab_registry.create_project(f"group/served-{name}")
    publish(gitlab_registry, project, tmp_path / "served")
    token = gitlab_registry.personal_token(project=project, role="reporter")
    out = tmp_path / "verified"
    run = download(project, token, out, "--ref-glob", "refs/tags/v*", "--json")
    assert run.code == 1, run.out + run.err
    [outcome] = run.json["files"]
    assert not outcome["verified"]
    assert "the file name says demo-pkg 1.0.0" in outcome["reason"]
    assert says in outcome["reason"]
    assert "demo-pkg==1.0.0 was asked for" in outcome["reason"]
    assert files_in(out) == []  # refused and deleted, with its bundle


def test_version_from_tag_in_download(
    download: Download,
    gitlab_registry: GitLabRegistry,
    local_sigstore: LocalSigstore,
    tmp_path: Path,
) -> None:
    """A real 1.0.0 wheel, but signed at v0.9.0's tag: kept by default, refused when the
    version must be the tag's."""
    made_dir = tmp_path / "made"
    made_dir.mkdir()
    wheel = make_wheel(made_dir)
    sign(local_sigstore, [wheel], tag="v0.9.0")
    project = gitlab_registry.create_project("group/tagged")
    publish(gitlab_registry, project, made_dir)
    token = gitlab_registry.personal_token(project=project, role="reporter")
    assert download(project, token, tmp_path / "plain").code == 0
    run = download(project, token, tmp_path / "strict", "--version-from-tag")
    assert run.code == 1
    assert "signed at refs/tags/v0.9.0 (version 0.9.0)" in run.out
    assert files_in(tmp_path / "strict") == []


# --------------------------------------------------------------------------------------------
# The pip workflow


@pytest.mark.slow
def test_pip_installs_from_the_verified_directory(
    download: Download, published: tuple[Project, str], tmp_path: Path
) -> None:
    out = tmp_path / "verified"
    run = download(*published, out)
    assert run.code == 0, run.out + run.err
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(out),
         "--target", str(target), "--no-deps", "--quiet", f"{NAME}=={VERSION}"],
        check=True,
    )  # fmt: skip
    assert (target / "demo_pkg" / "__init__.py").read_text() == "VERSION = '1.0.0'\n"
