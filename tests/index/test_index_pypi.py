"""A PyPI-compatible upstream: PEP 691 JSON pages with PEP 740 provenance, served by a tiny
static server here (until the PyPI stand-in exists), attestations made by the local Sigstore
and, for one project, the real attestation PyPI accepted from GitLab CI (production Sigstore).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hatch_sigstore.index import IndexServer, load_config
from hatch_sigstore.sandbox._http import LoopbackServer
from index_helpers import IndexLog, gitlab_policy_toml, pip_install, sign, uv_install, wheel

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore

pytestmark = pytest.mark.slow


@dataclass
class Static:
    """path → (content type, body); the request log."""

    routes: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        static: Static = self.server.owner  # type: ignore[attr-defined]
        static.requests.append((self.path, self.headers.get("Authorization", "")))
        found = static.routes.get(self.path)
        status, ctype, body = (200, *found) if found else (404, "text/plain", b"not found")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Upstream:
    """A PEP 691/740 index: ``add(name, files)`` publishes a project page."""

    def __init__(self) -> None:
        self.static = Static()
        self.server = LoopbackServer(_Handler, owner=self.static).start()
        self.other_static = Static()
        self.other = LoopbackServer(_Handler, owner=self.other_static).start()  # "another host"

    @property
    def url(self) -> str:
        return self.server.url

    def add(self, name: str, entries: list[dict[str, Any]]) -> None:
        page = {"meta": {"api-version": "1.3"}, "name": name, "files": entries}
        self.static.routes[f"/simple/{name}/"] = (
            "application/vnd.pypi.simple.v1+json",
            json.dumps(page).encode(),
        )

    def file(
        self,
        path: Path,
        *,
        attestation: Path | None = None,
        sha256: str | None = None,
        url: str | None = None,
        filename: str | None = None,
    ) -> dict[str, Any]:
        data = path.read_bytes()
        self.static.routes[f"/files/{path.name}"] = ("application/octet-stream", data)
        entry: dict[str, Any] = {
            "filename": filename or path.name,
            "url": url or f"/files/{path.name}",
            "hashes": {"sha256": sha256 or hashlib.sha256(data).hexdigest()},
            "requires-python": ">=3.8",
        }
        if attestation is not None:
            route = f"/integrity/{path.name}/provenance"
            document = {
                "version": 1,
                "attestation_bundles": [
                    {
                        "publisher": {"kind": "GitLab", "repository": "group/demo"},
                        "attestations": [json.loads(attestation.read_text())],
                    }
                ],
            }
            self.static.routes[route] = ("application/json", json.dumps(document).encode())
            entry["provenance"] = f"{self.url}{route}"
        return entry

    def stop(self) -> None:
        self.server.stop()
        self.other.stop()


@dataclass
class World:
    index: IndexServer
    upstream: Upstream
    log: IndexLog
    good: Path

    def status(self) -> dict[str, Any]:
        url = self.index.url.removesuffix("/simple/") + "/-/status.json"
        with urllib.request.urlopen(url, timeout=60) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data

    def verdict(self, filename: str) -> dict[str, Any]:
        return next(f for f in self.status()["files"] if f["filename"] == filename)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, local_sigstore: LocalSigstore
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("pypi-index")
    upstream = Upstream()

    def attested(name: str, version: str, signer: str = "group/demo", **kw: Any) -> Path:
        path = wheel(tmp / f"{name}-{version}", name, version, **kw)
        sign(local_sigstore, [path], project=signer, tag=f"v{version}", outputs=["attestation"])
        return path

    good = attested("attested-app", "1.0.0", requires=["plain-dep"])
    other = attested("attested-app", "1.1.0", signer="group/other")
    unsigned = wheel(tmp / "unsigned", "attested-app", "1.2.0")
    borrowed = wheel(tmp / "borrowed", "attested-app", "1.3.0")  # someone else's attestation
    mismatch = attested("attested-app", "1.4.0")
    offsite = attested("attested-app", "1.5.0")
    escape = attested("attested-app", "1.6.0")
    plain = wheel(tmp / "plain", "plain-dep", "3.0")
    upstream.add(
        "attested-app",
        [
            upstream.file(good, attestation=good.with_name(good.name + ".publish.attestation")),
            upstream.file(other, attestation=other.with_name(other.name + ".publish.attestation")),
            upstream.file(unsigned),
            upstream.file(borrowed, attestation=good.with_name(good.name + ".publish.attestation")),
            upstream.file(
                mismatch,
                attestation=mismatch.with_name(mismatch.name + ".publish.attestation"),
                sha256="00" * 32,
            ),
            upstream.file(
                offsite,
                attestation=offsite.with_name(offsite.name + ".publish.attestation"),
                url=f"{upstream.other.url}/files/{offsite.name}",
            ),
            upstream.file(
                escape,
                filename="attested_app-1.6.0-py3-none-any\x1b[2J.whl",
                attestation=escape.with_name(escape.name + ".publish.attestation"),
            ),
        ],
    )
    upstream.add("plain-dep", [upstream.file(plain)])
    config = tmp / "index.toml"
    config.write_text(
        f"""
unlisted = "pass-through"
unlisted-upstream = "pypi"
trust-config = "{local_sigstore.trust_config_path}"

[upstream.pypi]
index-url = "{upstream.url}/simple/"
token-env = "PYPI_TEST_TOKEN"

[package.attested-app]
{gitlab_policy_toml(local_sigstore)}
"""
    )
    env = {"PYPI_TEST_TOKEN": "pypi-secret-value-123"}
    log = IndexLog().attach()
    try:
        with IndexServer(load_config(config, env), cache_dir=tmp / "cache", env=env) as index:
            yield World(index, upstream, log, good)
    finally:
        log.detach()
        upstream.stop()


BAD = {
    "attested_app-1.1.0-py3-none-any.whl": "wrong signer",
    "attested_app-1.2.0-py3-none-any.whl": "no PEP 740 provenance",
    "attested_app-1.3.0-py3-none-any.whl": "not about this file",
    "attested_app-1.4.0-py3-none-any.whl": "sha256 mismatch",
    "attested_app-1.5.0-py3-none-any.whl": "file-hosts",
}


def test_pip_and_uv_install_the_attested_release(world: World, tmp_path: Path) -> None:
    result = pip_install(world.index.url, tmp_path / "pip", "attested-app")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Successfully installed attested-app-1.0.0 plain-dep-3.0" in result.stdout
    result = uv_install(world.index.url, tmp_path / "uv", "attested-app")
    assert result.returncode == 0, result.stderr
    assert "+ attested-app==1.0.0" in result.stderr
    verdict = world.verdict("attested_app-1.0.0-py3-none-any.whl")
    assert verdict["outcome"] == "verified"
    assert "provenance" in verdict["detail"]
    assert world.verdict("plain_dep-3.0-py3-none-any.whl")["outcome"] == "pass-through"


@pytest.mark.parametrize("filename", sorted(BAD))
def test_what_failed_is_neither_listed_nor_installable(
    world: World, tmp_path: Path, filename: str
) -> None:
    version = filename.split("-")[1]
    result = pip_install(world.index.url, tmp_path, f"attested-app=={version}")
    assert result.returncode != 0
    assert f"No matching distribution found for attested-app=={version}" in result.stderr
    verdict = world.verdict(filename)
    assert verdict["outcome"] == "refused"
    assert BAD[filename] in verdict["detail"]
    assert any(line.startswith(f"REFUSED attested-app {filename}") for line in world.log.lines)


def test_provenance_is_served_for_verified_files(world: World) -> None:
    request = urllib.request.Request(
        world.index.url + "attested-app/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        page = json.loads(response.read())
    assert page["meta"]["api-version"] == "1.3"
    (entry,) = page["files"]
    assert entry["filename"] == world.good.name
    provenance = urllib.parse.urljoin(world.index.url + "attested-app/", entry["provenance"])
    with urllib.request.urlopen(provenance, timeout=60) as response:
        document = json.loads(response.read())
    assert document["version"] == 1
    assert document["attestation_bundles"][0]["attestations"]
    assert world.upstream.url not in json.dumps(page)


def test_an_escape_sequence_in_a_name_is_refused_and_never_printed_raw(
    world: World, tmp_path: Path
) -> None:
    pip_install(world.index.url, tmp_path, "attested-app==9")  # lists the page
    assert not any("\x1b" in line for line in world.log.lines)
    refused = [f for f in world.status()["files"] if "\\x1b" in f["filename"]]
    assert refused
    assert refused[0]["outcome"] == "refused"


def test_the_token_goes_only_to_the_index_origin(world: World) -> None:
    _read(world.index.url + "attested-app/")  # lists (and verifies) the project's files
    sent = [auth for _path, auth in world.upstream.static.requests]
    assert sent
    assert all(auth.startswith("Basic ") for auth in sent)
    assert not world.upstream.other_static.requests  # off-origin file: never fetched
    assert not any("pypi-secret-value-123" in line for line in world.log.lines)


@pytest.mark.parametrize(
    ("signer", "listed"),
    [("facutuesca/gitlab-oidc-project", True), ("facutuesca/another-project", False)],
)
def test_the_real_gitlab_attestation_against_public_sigstore(
    tmp_path: Path, real_world: Path, signer: str, listed: bool
) -> None:
    """PEP 740 provenance made in GitLab CI on gitlab.com and accepted by PyPI, verified
    offline against the public Sigstore's embedded root, as an index of PyPI would; listed
    only for the project that signed it."""
    upstream = Upstream()
    try:
        sdist = tmp_path / "gitlab_oidc_project-0.0.3.tar.gz"
        shutil.copy(real_world / sdist.name, sdist)
        attestation = real_world / (sdist.name + ".publish.attestation")
        upstream.add("gitlab-oidc-project", [upstream.file(sdist, attestation=attestation)])
        config = tmp_path / "index.toml"
        config.write_text(
            f'[upstream.pypi]\nindex-url = "{upstream.url}/simple/"\n'
            f'[package.gitlab-oidc-project]\ngitlab = "{signer}"\nref = "refs/heads/main"\n'
        )
        with IndexServer(load_config(config, {}), cache_dir=tmp_path / "cache", env={}) as index:
            root = index.url.removesuffix("/simple/")
            page = _read(index.url + "gitlab-oidc-project/").decode()
            status = json.loads(_read(root + "/-/status.json"))["files"][0]
            if listed:
                assert sdist.name in page
                sha = hashlib.sha256(sdist.read_bytes()).hexdigest()
                assert _read(f"{root}/files/{sha}/{sdist.name}") == sdist.read_bytes()
                assert status["outcome"] == "verified"
            else:
                assert sdist.name not in page
                assert "wrong signer" in status["detail"]
    finally:
        upstream.stop()


def _read(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as error:
        with error:
            raise
