"""pip and uv install through the index, against the GitLab stand-in and the local Sigstore.

One registry project holds the releases of ``demo-app`` and its signed dependency ``dep-lib``;
another holds ``plain-dep``, unsigned, which the config passes through as an unlisted project.
Only ``demo-app`` 1.0.0 is good; each other version is bad in one way the index must catch.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hatch_sigstore.index import IndexServer, load_config
from index_helpers import (
    IndexLog,
    gitlab_policy_toml,
    pip_install,
    publish,
    release,
    sign,
    uv_install,
    wheel,
)

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore
    from hatch_sigstore.sandbox._gitlab_store import Project

pytestmark = pytest.mark.slow

GOOD = "demo_app-1.0.0-py3-none-any.whl"
# version -> what is wrong with it, as the index must say
BAD = {
    "1.1.0": "wrong signer",  # signed by another project's pipeline
    "1.2.0": "is not the release its name says",  # 1.0.0's bytes re-signed as 1.2.0: a rollback
    "1.3.0": "sha256 mismatch",  # the registry serves other bytes than its index lists
    "1.4.0": "unsigned",  # no signature files at all
}


@dataclass
class World:
    server: IndexServer
    registry: GitLabRegistry
    token: str
    good: Path
    log: IndexLog
    config: Path
    cache: Path
    project: Project

    @property
    def url(self) -> str:
        return self.server.url

    def get(self, path: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url.removesuffix("/simple/") + path)
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), error.read()

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.get("/-/status.json")[2])
        return data

    def verdict(self, filename: str) -> dict[str, Any]:
        return next(f for f in self.status()["files"] if f["filename"] == filename)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    local_sigstore: LocalSigstore,
    gitlab_registry: GitLabRegistry,
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("index")
    project = gitlab_registry.create_project("group/index-demo")
    public = gitlab_registry.create_project("group/index-public", visibility="public")
    good = release(
        local_sigstore, gitlab_registry, project, tmp, "demo-app", "1.0.0",
        requires=["dep-lib>=1.0", "plain-dep"],
    )  # fmt: skip
    release(local_sigstore, gitlab_registry, project, tmp, "dep-lib", "1.0.0")
    release(
        local_sigstore, gitlab_registry, project, tmp, "demo-app", "1.1.0", signer="group/other"
    )
    rollback = wheel(
        tmp / "rollback", "demo-app", "1.0.0", meta_version="1.0.0", filename_version="1.2.0"
    )
    sign(local_sigstore, [rollback], tag="v1.2.0")
    publish(gitlab_registry, project, [rollback], name="demo-app", version="1.2.0")
    release(local_sigstore, gitlab_registry, project, tmp, "demo-app", "1.3.0")
    stored = gitlab_registry.pypi_file_path(project, "demo_app-1.3.0-py3-none-any.whl")
    stored.write_bytes(good.read_bytes())  # the index's sha256 stays that of the real 1.3.0
    unsigned = wheel(tmp / "unsigned", "demo-app", "1.4.0")
    publish(
        gitlab_registry, project, [unsigned], name="demo-app", version="1.4.0", signatures=False
    )
    plain = wheel(tmp / "plain", "plain-dep", "2.0")
    publish(gitlab_registry, public, [plain], name="plain-dep", version="2.0", signatures=False)

    token = gitlab_registry.personal_token(project=project)
    config = tmp / "index.toml"
    config.write_text(
        f"""
unlisted = "pass-through"
unlisted-upstream = "public"
trust-config = "{local_sigstore.trust_config_path}"

[upstream.company]
url = "{gitlab_registry.api_url}"
project = "{project.id}"
token-env = "INDEX_TEST_TOKEN"

[upstream.public]
url = "{gitlab_registry.api_url}"
project = "{public.path}"

[package.demo-app]
upstream = "company"
{gitlab_policy_toml(local_sigstore)}
[package."dep-*"]
upstream = "company"
{gitlab_policy_toml(local_sigstore)}
"""
    )
    env = {"INDEX_TEST_TOKEN": token}
    log = IndexLog().attach()
    cache = tmp / "cache"
    try:
        with IndexServer(load_config(config, env), cache_dir=cache, env=env) as server:
            yield World(server, gitlab_registry, token, good, log, config, cache, project)
    finally:
        log.detach()


def _installed(target: Path) -> set[str]:
    return {p.name.split("-")[0] for p in target.glob("*.dist-info")}


def test_pip_installs_a_verified_release_with_its_dependencies(
    world: World, tmp_path: Path
) -> None:
    result = pip_install(world.url, tmp_path, "demo-app")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Successfully installed demo-app-1.0.0 dep-lib-1.0.0 plain-dep-2.0" in result.stdout
    assert _installed(tmp_path) == {"demo_app", "dep_lib", "plain_dep"}
    assert world.verdict(GOOD)["outcome"] == "verified"
    assert "group/demo//.gitlab-ci.yml@refs/tags/v1.0.0" in world.verdict(GOOD)["detail"]
    assert world.verdict("dep_lib-1.0.0-py3-none-any.whl")["outcome"] == "verified"
    assert world.verdict("plain_dep-2.0-py3-none-any.whl")["outcome"] == "pass-through"
    assert any(
        line.startswith("PASS-THROUGH (unverified) plain-dep plain_dep-2.0-py3-none-any.whl")
        for line in world.log.lines
    )


def test_uv_installs_a_verified_release_with_its_dependencies(world: World, tmp_path: Path) -> None:
    result = uv_install(world.url, tmp_path, "demo-app")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _installed(tmp_path) == {"demo_app", "dep_lib", "plain_dep"}
    assert "+ demo-app==1.0.0" in result.stderr


@pytest.mark.parametrize("version", sorted(BAD))
@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_what_failed_verification_cannot_be_installed(
    world: World, tmp_path: Path, installer: str, version: str
) -> None:
    requirement = f"demo-app=={version}"
    if installer == "pip":
        result = pip_install(world.url, tmp_path, requirement)
        assert f"No matching distribution found for {requirement}" in result.stderr
        assert "from versions: 1.0.0" in result.stderr  # the only version listed
    else:
        result = uv_install(world.url, tmp_path, requirement)
        assert f"there is no version of {requirement}" in result.stderr
    assert result.returncode != 0
    assert not list(tmp_path.glob("demo_app*"))
    filename = f"demo_app-{version}-py3-none-any.whl"
    verdict = world.verdict(filename)
    assert verdict["outcome"] == "refused"
    assert BAD[version] in verdict["detail"]
    refusals = [line for line in world.log.lines if line.startswith(f"REFUSED demo-app {filename}")]
    assert refusals, world.log.lines
    assert BAD[version] in refusals[0]


def test_pip_download_gives_the_verified_bytes(world: World, tmp_path: Path) -> None:
    result = pip_install(world.url, tmp_path / "unused", "demo-app==1.0.0")  # warm the listing
    assert result.returncode == 0, result.stderr
    import subprocess
    import sys

    from index_helpers import installer_env

    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-cache-dir", "--no-deps",
         "--index-url", world.url, "-d", str(tmp_path / "d"), "demo-app==1.0.0"],
        check=False, capture_output=True, text=True, env=installer_env(), timeout=300,
    )  # fmt: skip
    assert download.returncode == 0, download.stderr
    got = (tmp_path / "d" / GOOD).read_bytes()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(world.good.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "application/vnd.pypi.simple.v1+json",
        "text/html",
        "application/vnd.pypi.simple.v1+html",
    ],
)
def test_pages_list_only_verified_files_and_only_this_index(
    world: World, accept: str | None
) -> None:
    status, headers, body = world.get("/simple/demo-app/", accept)
    assert status == 200
    assert headers["Vary"] == "Accept"
    text = body.decode()
    assert GOOD in text
    for version in BAD:
        assert f"demo_app-{version}" not in text
    assert world.registry.url not in text  # every link points at the index itself
    assert world.token not in text
    if accept and "json" in accept:
        assert headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
        document = json.loads(body)
        assert [f["filename"] for f in document["files"]] == [GOOD]
        assert document["versions"] == ["1.0.0"]
        entry = document["files"][0]
        assert entry["hashes"]["sha256"] == hashlib.sha256(world.good.read_bytes()).hexdigest()
        assert entry["size"] == world.good.stat().st_size
    else:
        assert headers["Content-Type"].startswith(accept or "text/html")
        assert "data-requires-python" not in text or "&gt;" in text
        assert f"#sha256={hashlib.sha256(world.good.read_bytes()).hexdigest()}" in text


def test_status_page_names_every_verdict_and_no_secret(world: World) -> None:
    pip_install(world.url, Path(world.cache).parent / "status-warm", "demo-app==1.4.0")
    status, headers, body = world.get("/-/status")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    text = body.decode()
    assert "demo_app-1.4.0-py3-none-any.whl" in text
    assert "unsigned" in text
    assert world.token not in text
    assert world.token not in "\n".join(world.log.lines)


@pytest.mark.parametrize(
    "path",
    [
        "/files/../../etc/passwd",
        "/files/" + "0" * 64 + "/..%2F..%2Fetc%2Fpasswd",
        "/files/" + "0" * 64 + "/demo_app-1.0.0-py3-none-any.whl",  # a hash it never verified
        "/simple/%2e%2e/",
        "/simple/demo-app/../../files/x",
        "/provenance/" + "0" * 64 + "/x.whl",
        "/nothing",
    ],
)
def test_path_tricks_get_404(world: World, path: str) -> None:
    status, _headers, body = world.get(path)
    assert status == 404, body


def test_a_refused_file_is_not_served_even_by_its_hash(world: World) -> None:
    """The hash of the unsigned 1.4.0 is on GitLab's page; asking the index for it by hash
    must not fetch or serve it."""
    files = world.registry.pypi_packages(world.project)
    unsigned = next(
        f for p in files for f in p.files if f.file_name == "demo_app-1.4.0-py3-none-any.whl"
    )
    status, _h, _b = world.get(f"/files/{unsigned.sha256_digest}/{unsigned.file_name}")
    assert status == 404


def test_names_are_redirected_to_their_normal_form(world: World) -> None:
    status, _headers, _body = world.get("/simple/Demo_App/")
    assert status == 200  # urllib followed the 301
    request = urllib.request.Request(world.url + "Demo_App/", method="GET")
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(request, timeout=30)
    info.value.close()
    assert info.value.code == 301
    assert info.value.headers["Location"] == "/simple/demo-app/"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_write_methods_are_refused(world: World) -> None:
    request = urllib.request.Request(world.url + "demo-app/", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    info.value.close()
    assert info.value.code == 405


def test_warm_cache_verifies_nothing_again(world: World, tmp_path: Path) -> None:
    """A new index on the same cache lists the verified files from their cached verdicts,
    without downloading them or their signatures again."""
    assert pip_install(world.url, tmp_path / "cold", "demo-app==1.0.0").returncode == 0
    env = {"INDEX_TEST_TOKEN": world.token}
    world.registry.clear_requests()
    with IndexServer(load_config(world.config, env), cache_dir=world.cache, env=env) as again:
        result = pip_install(again.url, tmp_path / "warm", "demo-app==1.0.0", extra=["--no-deps"])
        assert result.returncode == 0, result.stderr
        fetched = [r.path for r in world.registry.requests if r.method == "GET"]
        assert not [p for p in fetched if "demo_app-1.0.0" in p], fetched
        assert any(p.endswith("/pypi/simple/demo-app") for p in fetched)
        verdict = json.loads(_get(again.url, "/-/status.json"))
        entry = next(f for f in verdict["files"] if f["filename"] == GOOD)
        assert entry["outcome"] == "verified"
        assert entry["cached"] is True


def test_a_changed_cache_file_is_never_served(world: World, tmp_path: Path) -> None:
    assert world.get("/simple/demo-app/")[0] == 200  # the good file is in the cache now
    env = {"INDEX_TEST_TOKEN": world.token}
    cache = tmp_path / "cache"
    shutil.copytree(world.cache, cache)
    sha = hashlib.sha256(world.good.read_bytes()).hexdigest()
    target = cache / "files" / sha[:2] / sha
    target.chmod(0o644)
    target.write_bytes(b"not the wheel")
    with IndexServer(load_config(world.config, env), cache_dir=cache, env=env) as again:
        result = pip_install(again.url, tmp_path / "t", "demo-app==1.0.0", extra=["--no-deps"])
        assert result.returncode == 0, result.stderr
        assert hashlib.sha256(target.read_bytes()).hexdigest() == sha  # fetched and verified anew


def _get(url: str, path: str) -> bytes:
    with urllib.request.urlopen(url.removesuffix("/simple/") + path, timeout=60) as response:
        data: bytes = response.read()
        return data


def test_signatures_uploaded_after_their_dist_are_picked_up(
    tmp_path: Path, local_sigstore: LocalSigstore, gitlab_registry: GitLabRegistry
) -> None:
    """A refusal is not forever: a listing during a publish (dist up, signature not yet)
    refuses the file; once the signature is there, the next listing after listing-ttl has it."""
    project = gitlab_registry.create_project("group/index-late")
    path = wheel(tmp_path / "late", "late-app", "1.0.0")
    sign(local_sigstore, [path], tag="v1.0.0")
    publish(gitlab_registry, project, [path], name="late-app", version="1.0.0", signatures=False)
    config = tmp_path / "index.toml"
    config.write_text(
        f'listing-ttl = 0\ntrust-config = "{local_sigstore.trust_config_path}"\n'
        f'[upstream.company]\nurl = "{gitlab_registry.api_url}"\nproject = "{project.id}"\n'
        'token-env = "LATE_TOKEN"\n'
        f"[package.late-app]\n{gitlab_policy_toml(local_sigstore)}"
    )
    env = {"LATE_TOKEN": gitlab_registry.personal_token(project=project)}
    with IndexServer(load_config(config, env), cache_dir=tmp_path / "cache", env=env) as index:
        first = pip_install(index.url, tmp_path / "first", "late-app")
        assert "No matching distribution found for late-app" in first.stderr
        sidecar = path.with_name(path.name + ".sigstore.json")
        from hatch_sigstore.gitlab import Credentials, RegistryClient

        with RegistryClient(
            gitlab_registry.api_url, str(project.id), Credentials("personal", env["LATE_TOKEN"])
        ) as client:
            digest = hashlib.sha256(sidecar.read_bytes()).hexdigest()
            client.generic_upload("late-app", "1.0.0", sidecar, sha256=digest)
        second = pip_install(index.url, tmp_path / "second", "late-app")
        assert second.returncode == 0, second.stderr
