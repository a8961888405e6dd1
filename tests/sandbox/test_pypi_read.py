"""The PyPI stand-in's read side against real consumers: pip (simple API, PEP 691/658), the
JSON API (what a publisher asks before uploading), and the integrity API's PEP 740 provenance,
verified independently with sigstore-python and pypi-attestations' models."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex
from pypi_helpers import REPO, attest, dists, publish_token, twine, unique

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class Released:
    name: str
    wheel: Path
    sdist: Path


@pytest.fixture(scope="module")
def released(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path_factory: pytest.TempPathFactory
) -> Released:
    """A project with 1.0.0 (wheel + sdist, attested) and 2.0.0rc1 (a wheel, no attestation)."""
    name = unique("Read_Me")
    pypi_index.create_project(name)
    pypi_index.add_gitlab_publisher(name, REPO)
    tmp = tmp_path_factory.mktemp("released")
    wheel, sdist = dists(tmp / "1", name)
    atts = attest(pypi_sigstore, [wheel, sdist])
    token = publish_token(pypi_index, pypi_sigstore)
    result = twine(pypi_index, token, wheel, sdist, *atts, attestations=True)
    assert result.returncode == 0, result.stdout + result.stderr
    rc_wheel, _ = dists(tmp / "2", name, "2.0.0rc1")
    assert twine(pypi_index, token, rc_wheel).returncode == 0
    return Released(name, wheel, sdist)


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_pip_downloads_and_installs(
    pypi_index: PyPIIndex, released: Released, tmp_path: Path
) -> None:
    result = _pip(
        "download", "--no-deps", "--index-url", pypi_index.simple_url, "-d", str(tmp_path / "dl"),
        released.name,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    [got] = (tmp_path / "dl").iterdir()
    assert got.read_bytes() == released.wheel.read_bytes()
    result = _pip(
        "install", "--no-deps", "--index-url", pypi_index.simple_url, "--target",
        str(tmp_path / "site"), "--pre", released.name,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    dist = released.name.replace("-", "_").lower()
    assert (tmp_path / "site" / f"{dist}-2.0.0rc1.dist-info").is_dir()
    # pip asked for PEP 691 JSON and the files; it never needed a token
    paths = [r.path for r in pypi_index.requests]
    assert f"/simple/{_normalized(released.name)}/" in paths


def _normalized(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def test_simple_json_and_html(pypi_index: PyPIIndex, released: Released) -> None:
    norm = _normalized(released.name)
    url = f"{pypi_index.simple_url}{norm}/"
    response = httpx.get(url, headers={"Accept": f"{SIMPLE_JSON}, text/html;q=0.01"})
    assert response.status_code == 200
    assert response.headers["content-type"] == SIMPLE_JSON
    assert response.headers["vary"] == "Accept"
    detail = response.json()
    assert detail["meta"]["api-version"] == "1.4"
    assert detail["name"] == norm
    assert detail["versions"] == ["1.0.0", "2.0.0rc1"]
    files = {f["filename"]: f for f in detail["files"]}
    wheel = files[released.wheel.name]
    assert wheel["hashes"] == {"sha256": hashlib.sha256(released.wheel.read_bytes()).hexdigest()}
    assert wheel["requires-python"] == ">=3.8"
    assert wheel["core-metadata"] == wheel["data-dist-info-metadata"]
    assert wheel["provenance"] == (
        f"{pypi_index.url}/integrity/{norm}/1.0.0/{released.wheel.name}/provenance"
    )
    assert files[released.sdist.name]["core-metadata"] is False
    rc = next(f for name, f in files.items() if "2.0.0rc1" in name)
    assert rc["provenance"] is None
    # PEP 658: the wheel's METADATA beside the file
    metadata = httpx.get(wheel["url"] + ".metadata")
    assert hashlib.sha256(metadata.content).hexdigest() == wheel["core-metadata"]["sha256"]
    assert httpx.get(wheel["url"]).content == released.wheel.read_bytes()
    # no Accept header: HTML, with the same data in attributes
    page = httpx.get(url, headers={"Accept": ""}).text
    assert f'data-provenance="{wheel["provenance"]}"' in page
    assert f'#sha256={wheel["hashes"]["sha256"]}"' in page
    assert 'data-requires-python="&gt;=3.8"' in page
    # non-normalized names redirect; unknown ones are a plain 404
    moved = httpx.get(f"{pypi_index.simple_url}{released.name}/")
    assert (moved.status_code, moved.headers["location"]) == (301, f"/simple/{norm}/")
    missing = httpx.get(f"{pypi_index.simple_url}no-such-project/")
    assert (missing.status_code, missing.text) == (404, "404 Not Found")
    # twine sends the "safe" name (Read-Me-…): warehouse renames the project to it
    project = pypi_index.project(released.name)
    assert project is not None
    index = httpx.get(pypi_index.simple_url, headers={"Accept": SIMPLE_JSON}).json()
    row = {"name": project.name, "_last-serial": detail["meta"]["_last-serial"]}
    assert row in index["projects"]


def test_json_api(pypi_index: PyPIIndex, released: Released) -> None:
    norm = _normalized(released.name)
    project = httpx.get(f"{pypi_index.url}/pypi/{norm}/json").json()
    # the latest final release, not the pre-release
    assert project["info"]["version"] == "1.0.0"
    assert set(project["releases"]) == {"1.0.0", "2.0.0rc1"}
    release = httpx.get(f"{pypi_index.url}/pypi/{norm}/1.0.0/json")
    assert release.status_code == 200
    data = release.json()
    assert "releases" not in data
    by_name = {f["filename"]: f for f in data["urls"]}
    assert by_name[released.sdist.name]["digests"]["sha256"] == (
        hashlib.sha256(released.sdist.read_bytes()).hexdigest()
    )
    assert by_name[released.wheel.name]["packagetype"] == "bdist_wheel"
    assert data["info"]["summary"] == "PyPI stand-in test package"
    missing = httpx.get(f"{pypi_index.url}/pypi/{norm}/9.9/json")
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})
    moved = httpx.get(f"{pypi_index.url}/pypi/{released.name}/1.0.0/json")
    assert (moved.status_code, moved.headers["location"]) == (301, f"/pypi/{norm}/1.0.0/json")


def test_integrity_api_provenance_verifies(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, released: Released
) -> None:
    from pypi_attestations import Provenance
    from sigstore.verify import Verifier, policy

    norm = _normalized(released.name)
    url = f"{pypi_index.url}/integrity/{norm}/1.0.0/{released.wheel.name}/provenance"
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.pypi.integrity.v1+json"
    provenance = Provenance.model_validate(response.json())
    [bundle] = provenance.attestation_bundles
    assert (bundle.publisher.kind, bundle.publisher.repository) == ("GitLab", REPO)  # type: ignore[union-attr]
    # a consumer's check, independent of the stand-in's code: the certificate's identity,
    # then the statement names this file and its digest
    verifier = Verifier(trusted_root=pypi_sigstore.trusted_root())
    identity = policy.AllOf(
        [
            policy.OIDCIssuerV2("https://gitlab.com"),
            policy.OIDCSourceRepositoryURI(f"https://gitlab.com/{REPO}"),
            policy.OIDCBuildConfigURI(f"https://gitlab.com/{REPO}//.gitlab-ci.yml@refs/heads/main"),
        ]
    )
    [attestation] = bundle.attestations
    _, payload = verifier.verify_dsse(attestation.to_bundle(), identity)
    [subject] = json.loads(payload)["subject"]
    assert subject == {
        "name": released.wheel.name,
        "digest": {"sha256": hashlib.sha256(released.wheel.read_bytes()).hexdigest()},
    }
    # content negotiation and the no-provenance case
    refused = httpx.get(url, headers={"Accept": "text/html"})
    assert (refused.status_code, refused.json()) == (406, {"message": "Request not acceptable"})
    rc = next(f.filename for f in pypi_index.files(released.name) if "rc1" in f.filename)
    none = httpx.get(f"{pypi_index.url}/integrity/{norm}/2.0.0rc1/{rc}/provenance")
    assert (none.status_code, none.json()) == (
        404,
        {"message": f"No provenance available for {rc}"},
    )
