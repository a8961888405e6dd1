"""``download_from_index``: a release from the PyPI stand-in (or an HTML-only index in front of
it), kept only when each file's sha256 and PEP 740 provenance verify. Includes the real
GitLab-made attestation, verified offline against the publisher PyPI recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from hatch_sigstore.download import download_from_index, format_table
from hatch_sigstore.errors import RegistryError
from hatch_sigstore.identity import ExpectedIdentity
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import Policy, verify_files
from hostile_index import Hostile, answer
from pypi_helpers import (
    REAL_PROJECT,
    REAL_SDIST,
    REPO,
    attest,
    dists,
    publish_real_release,
    publish_token,
    twine,
    unique,
)

if TYPE_CHECKING:
    from hatch_sigstore.download import DownloadReport
    from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex


def policy(project: str = REPO, **kwargs: str) -> Policy:
    return Policy.gitlab(ExpectedIdentity("https://gitlab.com", project, **kwargs))


def published(
    index: PyPIIndex, sigstore: LocalSigstore, tmp_path: Path, *, attested: bool = True
) -> tuple[str, list[Path]]:
    """A release uploaded with twine (``--attestations`` unless ``attested`` is false)."""
    name = unique("dl")
    index.create_project(name)
    index.add_gitlab_publisher(name, REPO)
    files = list(dists(tmp_path / "built", name))
    extra = attest(sigstore, files) if attested else []
    result = twine(index, publish_token(index, sigstore), *files, *extra, attestations=attested)
    assert result.returncode == 0, result.stdout + result.stderr
    return name, files


def fetch(
    index_url: str, name: str, target: Path, sigstore: LocalSigstore | None, pol: Policy
) -> DownloadReport:
    trust = (
        TrustChoice.resolve(trust_config=sigstore.trust_config_path)
        if sigstore is not None
        else TrustChoice()
    )
    return download_from_index(
        f"{name}==1.0.0",
        index_url=index_url,
        directory=target,
        policy=pol,
        trust=trust,
        max_bytes=1 << 24,
        deadline=120,
        workers=4,
    )


def test_verified_release_is_kept_with_its_attestations(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    name, files = published(pypi_index, pypi_sigstore, tmp_path)
    target = tmp_path / "verified"
    report = fetch(
        pypi_index.simple_url, name, target, pypi_sigstore, policy(ref="refs/heads/main")
    )
    assert report.ok, format_table(report)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [f.name for f in files] + [f"{f.name}.publish.attestation" for f in files]
    )
    assert all(f.sidecar == "attestation" for f in report.files)
    assert any("published by the GitLab trusted publisher group/project" in n for n in report.notes)
    # what was kept verifies again, offline, from the sidecar alone
    kept = [target / f.name for f in files]
    trust = TrustChoice.resolve(trust_config=pypi_sigstore.trust_config_path)
    assert all(r.ok for r in verify_files(kept, policy(), trust))


@pytest.mark.parametrize(
    ("pol", "reason"),
    [
        (policy("group/another"), "source repository"),
        (policy(ref="refs/tags/v9"), "ref (OID"),
    ],
)
def test_wrong_signer_keeps_nothing(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path, pol: Policy, reason: str
) -> None:
    name, _ = published(pypi_index, pypi_sigstore, tmp_path)
    target = tmp_path / "verified"
    report = fetch(pypi_index.simple_url, name, target, pypi_sigstore, pol)
    assert not report.ok
    assert all(reason in (f.reason or "") for f in report.files)
    assert [p for p in target.iterdir() if not p.name.startswith(".")] == []


def test_without_provenance_nothing_is_kept(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    name, _ = published(pypi_index, pypi_sigstore, tmp_path, attested=False)
    report = fetch(pypi_index.simple_url, name, tmp_path / "v", pypi_sigstore, policy())
    assert not report.ok
    assert all("has no provenance" in (f.reason or "") for f in report.files)


def test_bytes_other_than_the_index_lists_are_deleted(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    name, files = published(pypi_index, pypi_sigstore, tmp_path)
    blob = pypi_index.file_path(files[0].name)
    blob.write_bytes(blob.read_bytes() + b"tampered")
    target = tmp_path / "v"
    report = fetch(pypi_index.simple_url, name, target, pypi_sigstore, policy())
    by_name = {f.filename: f for f in report.files}
    assert "sha256 mismatch" in (by_name[files[0].name].reason or "")
    assert not (target / files[0].name).exists()
    assert by_name[files[1].name].ok  # the other file is fine


def test_nothing_to_download(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    name, _ = published(pypi_index, pypi_sigstore, tmp_path)
    with pytest.raises(RegistryError, match="has no project"):
        fetch(pypi_index.simple_url, "no-such-project-here", tmp_path / "v", None, policy())
    with pytest.raises(RegistryError, match=r"It lists: 1\.0\.0"):
        download_from_index(
            f"{name}==2.0",
            index_url=pypi_index.simple_url,
            directory=tmp_path / "v",
            policy=policy(),
            trust=TrustChoice(),
            max_bytes=1 << 20,
            deadline=60,
            workers=2,
        )


@pytest.fixture
def html_index() -> Iterator[Hostile]:
    server = Hostile()
    yield server
    server.close()


def test_an_html_only_index_and_the_integrity_api(
    pypi_index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path, html_index: Hostile
) -> None:
    """A PEP 503 index without PEP 740 links: files on another host (the stand-in), the
    provenance from the integrity API beside the simple API."""
    name, files = published(pypi_index, pypi_sigstore, tmp_path)
    listed = httpx.get(
        f"{pypi_index.simple_url}{name}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        timeout=30,
    ).json()["files"]
    links = "".join(
        f'<a href="{f["url"]}#sha256={f["hashes"]["sha256"]}">{f["filename"]}</a>\n' for f in listed
    )
    html_index.routes[("GET", f"/simple/{name}/")] = answer(
        200, links.encode(), {"Content-Type": "text/html"}
    )
    for f in listed:
        provenance = httpx.get(f["provenance"], timeout=30).content
        html_index.routes[("GET", f"/integrity/{name}/1.0.0/{f['filename']}/provenance")] = answer(
            200, provenance, {"Content-Type": "application/vnd.pypi.integrity.v1+json"}
        )
    report = fetch(f"{html_index.url}/simple/", name, tmp_path / "v", pypi_sigstore, policy())
    assert report.ok, format_table(report)
    accepts = [h.get("accept", "") for _m, p, h in html_index.seen if p.startswith("/simple/")]
    assert accepts[0].startswith("application/vnd.pypi.simple.v1+json")  # JSON asked first
    assert {f.filename for f in report.files} == {f.name for f in files}


# -- the real attestation GitLab CI made, on an index that trusts the public Sigstore ---------

SDIST, REAL = REAL_SDIST, REAL_PROJECT


def test_real_gitlab_attestation_verifies_offline_against_pypis_recorded_publisher(
    production_pypi_index: PyPIIndex,
    pypi_sigstore: LocalSigstore,
    real_world: Path,
    tmp_path: Path,
) -> None:
    production_index = production_pypi_index
    publish_real_release(production_index, pypi_sigstore, real_world, tmp_path)
    target = tmp_path / "verified"
    report = download_from_index(
        "gitlab-oidc-project==0.0.3",
        index_url=production_index.simple_url,
        directory=target,
        policy=policy(REAL, ref="refs/heads/main"),
        trust=TrustChoice(),  # production, offline
        max_bytes=1 << 20,
        deadline=60,
        workers=1,
    )
    assert report.ok, format_table(report)
    [outcome] = report.files
    assert outcome.identity == f"https://gitlab.com/{REAL}//.gitlab-ci.yml@refs/heads/main"
    assert report.notes == (
        f"{SDIST}: published by the GitLab trusted publisher {REAL} (.gitlab-ci.yml) "
        f"(recorded by {production_index.simple_url.split('//')[1].split('/')[0]})",
    )
    kept = json.loads((target / f"{SDIST}.publish.attestation").read_text())
    assert kept == json.loads((real_world / f"{SDIST}.publish.attestation").read_text())
    # the same file, someone else's project: nothing kept
    again = download_from_index(
        "gitlab-oidc-project==0.0.3",
        index_url=production_index.simple_url,
        directory=tmp_path / "other",
        policy=policy("facutuesca/another-project"),
        trust=TrustChoice(),
        max_bytes=1 << 20,
        deadline=60,
        workers=1,
    )
    assert not again.ok
