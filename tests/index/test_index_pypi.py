"""A PyPI-compatible upstream: the PyPI stand-in (warehouse's simple API, PEP 691 JSON with PEP
740 provenance, trusted publishing, twine uploads with attestations made by a local Sigstore
whose issuer says it is https://gitlab.com), and a hostile index for what PyPI itself never
serves (links to other hosts, odd file names, someone else's attestation). One project is the
real attestation PyPI accepted from GitLab CI (production Sigstore), uploaded again here.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hatch_sigstore.index import IndexServer, load_config
from hostile_index import Hostile, answer
from index_helpers import IndexLog, pip_install, uv_install, wheel
from pypi_helpers import REAL_PROJECT, attest, publish_real_release, publish_token, twine, unique

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex

pytestmark = pytest.mark.slow

SIGNER = "group/demo"
OTHER = "group/other"
TOKEN = "pypi-secret-value-123"
POLICY = f'gitlab = "{SIGNER}"\nref-glob = "refs/tags/v*"\n'  # server: gitlab.com, as PyPI's


def attested(sigstore: LocalSigstore, path: Path, signer: str, **claims: Any) -> Path:
    """``path``'s PEP 740 publish attestation, made by a tag pipeline of ``signer``."""
    version = path.name.split("-")[1]
    claims.setdefault("ref", f"v{version}")
    claims.setdefault("ref_type", "tag")
    [out] = attest(sigstore, [path], project_path=signer, **claims)
    return out


def upload(index: PyPIIndex, sigstore: LocalSigstore, signer: str, *files: Path) -> None:
    """``twine upload`` as ``signer``'s trusted publisher (``--attestations`` when given)."""
    token = publish_token(index, sigstore, signer)
    with_attestations = any(f.name.endswith(".publish.attestation") for f in files)
    result = twine(index, token, *files, attestations=with_attestations)
    assert result.returncode == 0, result.stdout + result.stderr


class HostileIndex:
    """A PEP 691 index that serves what PyPI would not, and an "other host" for its links."""

    def __init__(self) -> None:
        self.server = Hostile()
        self.other = Hostile()

    @property
    def url(self) -> str:
        return self.server.url

    def publish(self, name: str, entries: list[dict[str, Any]]) -> None:
        page = {"meta": {"api-version": "1.3"}, "name": name, "files": entries}
        self.server.routes[("GET", f"/simple/{name}/")] = answer(
            200, json.dumps(page).encode(), {"Content-Type": "application/vnd.pypi.simple.v1+json"}
        )

    def file(
        self,
        path: Path,
        attestation: Path,
        *,
        filename: str | None = None,
        url: str | None = None,
    ) -> dict[str, Any]:
        data = path.read_bytes()
        self.server.routes[("GET", f"/files/{path.name}")] = answer(200, data)
        provenance = {
            "version": 1,
            "attestation_bundles": [
                {
                    "publisher": {
                        "kind": "GitLab",
                        "repository": SIGNER,
                        "workflow_filepath": ".gitlab-ci.yml",
                        "environment": None,
                    },
                    "attestations": [json.loads(attestation.read_text())],
                }
            ],
        }
        route = f"/integrity/{path.name}/provenance"
        self.server.routes[("GET", route)] = answer(200, json.dumps(provenance).encode())
        return {
            "filename": filename or path.name,
            "url": url or f"/files/{path.name}",
            "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
            "provenance": route,
        }

    def close(self) -> None:
        self.server.close()
        self.other.close()


@dataclass
class World:
    index: IndexServer
    pypi: PyPIIndex
    hostile: HostileIndex
    log: IndexLog
    app: str  # the project on the stand-in
    dep: str  # its unsigned dependency, passed through
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
    tmp_path_factory: pytest.TempPathFactory, pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("pypi-index")
    app, dep = unique("attested"), unique("plain")
    for name in (app, dep):
        pypi_index.create_project(name)
        pypi_index.add_gitlab_publisher(name, SIGNER)
    pypi_index.add_gitlab_publisher(app, OTHER)
    good = wheel(tmp / "1.0.0", app, "1.0.0", requires=[dep])
    upload(pypi_index, pypi_sigstore, SIGNER, good, attested(pypi_sigstore, good, SIGNER))
    other = wheel(tmp / "1.1.0", app, "1.1.0")  # published by another project's pipeline
    upload(pypi_index, pypi_sigstore, OTHER, other, attested(pypi_sigstore, other, OTHER))
    unsigned = wheel(tmp / "1.2.0", app, "1.2.0")  # uploaded without attestations
    upload(pypi_index, pypi_sigstore, SIGNER, unsigned)
    swapped = wheel(tmp / "1.4.0", app, "1.4.0")
    upload(pypi_index, pypi_sigstore, SIGNER, swapped, attested(pypi_sigstore, swapped, SIGNER))
    pypi_index.file_path(swapped.name).write_bytes(good.read_bytes())  # other bytes than listed
    plain = wheel(tmp / "plain", dep, "3.0")
    upload(pypi_index, pypi_sigstore, SIGNER, plain)

    hostile = HostileIndex()
    fine = wheel(tmp / "h2.0.0", "hostile-app", "2.0.0")
    borrowed = wheel(tmp / "h2.1.0", "hostile-app", "2.1.0")
    offsite = wheel(tmp / "h2.2.0", "hostile-app", "2.2.0")
    escape = wheel(tmp / "h2.3.0", "hostile-app", "2.3.0")
    fine_attestation = attested(pypi_sigstore, fine, SIGNER)
    hostile.publish(
        "hostile-app",
        [
            hostile.file(fine, fine_attestation),
            hostile.file(borrowed, fine_attestation),  # someone else's attestation
            hostile.file(
                offsite,
                attested(pypi_sigstore, offsite, SIGNER),
                url=f"{hostile.other.url}/files/{offsite.name}",
            ),
            hostile.file(
                escape,
                attested(pypi_sigstore, escape, SIGNER),
                filename="hostile_app-2.3.0-py3-none-any\x1b[2J.whl",
            ),
        ],
    )
    config = tmp / "index.toml"
    config.write_text(
        f"""
unlisted = "pass-through"
unlisted-upstream = "pypi"
trust-config = "{pypi_sigstore.trust_config_path}"

[upstream.pypi]
index-url = "{pypi_index.simple_url}"

[upstream.hostile]
index-url = "{hostile.url}/simple/"
token-env = "PYPI_TEST_TOKEN"

[package.{app}]
upstream = "pypi"
{POLICY}
[package.hostile-app]
upstream = "hostile"
{POLICY}"""
    )
    env = {"PYPI_TEST_TOKEN": TOKEN}
    log = IndexLog().attach()
    try:
        with IndexServer(load_config(config, env), cache_dir=tmp / "cache", env=env) as index:
            yield World(index, pypi_index, hostile, log, app, dep, good)
    finally:
        log.detach()
        hostile.close()


def test_pip_and_uv_install_the_attested_release(world: World, tmp_path: Path) -> None:
    result = pip_install(world.index.url, tmp_path / "pip", world.app)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Successfully installed {world.app}-1.0.0 {world.dep}-3.0" in result.stdout
    result = uv_install(world.index.url, tmp_path / "uv", world.app)
    assert result.returncode == 0, result.stderr
    assert f"+ {world.app}==1.0.0" in result.stderr
    verdict = world.verdict(world.good.name)
    assert verdict["outcome"] == "verified"
    assert f"provenance of the GitLab trusted publisher {SIGNER}" in verdict["detail"]
    assert f"{SIGNER}//.gitlab-ci.yml@refs/tags/v1.0.0" in verdict["detail"]
    plain = f"{world.dep.replace('-', '_')}-3.0-py3-none-any.whl"
    assert world.verdict(plain)["outcome"] == "pass-through"


# (project, version) -> what the index must say; the stand-in's releases first
BAD = {
    ("app", "1.1.0"): "wrong signer",  # published (and attested) by another project's pipeline
    ("app", "1.2.0"): "no PEP 740 provenance",  # uploaded without attestations
    ("app", "1.4.0"): "sha256 mismatch",  # the index serves other bytes than it lists
    ("hostile-app", "2.1.0"): "not about this file",  # another file's attestation
    ("hostile-app", "2.2.0"): "upstream.hostile.file-hosts",  # a file on another host
}


@pytest.mark.parametrize(("project", "version"), sorted(BAD))
def test_what_failed_is_neither_listed_nor_installable(
    world: World, tmp_path: Path, project: str, version: str
) -> None:
    name = world.app if project == "app" else project
    result = pip_install(world.index.url, tmp_path, f"{name}=={version}")
    assert result.returncode != 0
    assert f"No matching distribution found for {name}=={version}" in result.stderr
    filename = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    verdict = world.verdict(filename)
    assert verdict["outcome"] == "refused"
    assert BAD[project, version] in verdict["detail"]
    assert any(line.startswith(f"REFUSED {name} {filename}") for line in world.log.lines)


def test_a_hostile_link_is_refused_alone(world: World, tmp_path: Path) -> None:
    """The rest of the hostile page stands: its one honest file installs."""
    result = pip_install(world.index.url, tmp_path, "hostile-app")
    assert result.returncode == 0, result.stderr
    assert "Successfully installed hostile-app-2.0.0" in result.stdout
    assert not world.hostile.other.seen  # the off-site file: never fetched


def test_provenance_is_served_for_verified_files(world: World) -> None:
    request = urllib.request.Request(
        world.index.url + f"{world.app}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        page = json.loads(response.read())
    assert page["meta"]["api-version"] == "1.3"
    (entry,) = page["files"]
    assert entry["filename"] == world.good.name
    provenance = urllib.parse.urljoin(world.index.url + f"{world.app}/", entry["provenance"])
    with urllib.request.urlopen(provenance, timeout=60) as response:
        document = json.loads(response.read())
    assert document["version"] == 1
    assert document["attestation_bundles"][0]["publisher"]["repository"] == SIGNER
    assert document["attestation_bundles"][0]["attestations"]
    assert world.pypi.url not in json.dumps(page)


def test_an_escape_sequence_in_a_name_is_refused_and_never_printed_raw(
    world: World, tmp_path: Path
) -> None:
    pip_install(world.index.url, tmp_path, "hostile-app==9")  # lists the page
    assert not any("\x1b" in line for line in world.log.lines)
    refused = [f for f in world.status()["files"] if "\\x1b" in f["filename"]]
    assert refused
    assert refused[0]["outcome"] == "refused"
    assert "not a plain file name" in refused[0]["detail"]


def test_the_token_goes_only_to_the_index_origin(world: World) -> None:
    _read(world.index.url + "hostile-app/")  # lists (and verifies) the project's files
    sent = [headers.get("authorization", "") for _m, _p, headers in world.hostile.server.seen]
    assert sent
    assert all(auth.startswith("Basic ") for auth in sent)
    assert not world.hostile.other.seen  # off-origin file: never fetched
    assert not any(TOKEN in line for line in world.log.lines)
    assert TOKEN not in json.dumps(world.status())


# -- the real attestation GitLab CI made, on an index that trusts the public Sigstore ---------


@pytest.mark.parametrize(
    ("signer", "listed"), [(REAL_PROJECT, True), ("facutuesca/another-project", False)]
)
def test_the_real_gitlab_attestation_against_public_sigstore(
    production_pypi_index: PyPIIndex,
    pypi_sigstore: LocalSigstore,
    tmp_path: Path,
    real_world: Path,
    signer: str,
    listed: bool,
) -> None:
    """PEP 740 provenance made in GitLab CI on gitlab.com and accepted by PyPI, uploaded to the
    stand-in as twine does, verified offline against the public Sigstore's embedded root as an
    index of PyPI would; listed only for the project that signed it."""
    production_index = production_pypi_index
    sdist = publish_real_release(production_index, pypi_sigstore, real_world, tmp_path)
    config = tmp_path / "index.toml"
    config.write_text(
        f'[upstream.pypi]\nindex-url = "{production_index.simple_url}"\n'
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
            assert f"GitLab trusted publisher {REAL_PROJECT}" in status["detail"]
        else:
            assert sdist.name not in page
            assert "wrong signer" in status["detail"]


def _read(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as error:
        with error:
            raise
