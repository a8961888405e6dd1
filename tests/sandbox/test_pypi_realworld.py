"""The PyPI stand-in's attestation check on a certificate we did not make: the sdist and PEP 740
attestation that GitLab CI produced for facutuesca/gitlab-oidc-project (and PyPI accepted),
checked against production's trust root, offline."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypi_attestations import Attestation, Distribution, GitLabPublisher, VerificationError
from sigstore.verify import Verifier

from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex
from hatch_sigstore.sandbox._pypi_attest import verify_attestation
from pypi_helpers import exchange, id_token, twine

SDIST = "gitlab_oidc_project-0.0.3.tar.gz"
REPOSITORY = "facutuesca/gitlab-oidc-project"
SHA256 = "c1ca9b0d85df1606451098233018534497bf584362e10e4a8c21dfaea92c02a8"


@pytest.fixture
def production_index(pypi_sigstore: LocalSigstore) -> Iterator[PyPIIndex]:
    """PyPI as it is: attestations checked against the public Sigstore (trusted_root=None);
    the GitLab ID tokens still come from the sandbox issuer standing in for gitlab.com."""
    with PyPIIndex() as index:
        index.resolve_issuer(pypi_sigstore.gitlab_url, pypi_sigstore.url)
        yield index


def _copy(real_world: Path, tmp_path: Path) -> Path:
    for name in (SDIST, f"{SDIST}.publish.attestation"):
        shutil.copy(real_world / name, tmp_path / name)
    return tmp_path / SDIST


@pytest.mark.parametrize(
    ("repository", "workflow", "accepted"),
    [
        (REPOSITORY, ".gitlab-ci.yml", True),
        ("facutuesca/another-project", ".gitlab-ci.yml", False),
        (REPOSITORY, "release.yml", False),
    ],
)
def test_real_gitlab_attestation_is_accepted_only_for_its_publisher(
    production_index: PyPIIndex,
    pypi_sigstore: LocalSigstore,
    real_world: Path,
    tmp_path: Path,
    repository: str,
    workflow: str,
    accepted: bool,
) -> None:
    production_index.create_project("gitlab-oidc-project")
    production_index.add_gitlab_publisher(
        "gitlab-oidc-project", repository, workflow_filepath=workflow
    )
    response = exchange(production_index, id_token(pypi_sigstore, repository, config_path=workflow))
    assert response.status_code == 200, response.text
    sdist = _copy(real_world, tmp_path)
    result = twine(
        production_index,
        response.json()["token"],
        sdist,
        Path(f"{sdist}.publish.attestation"),
        attestations=True,
    )
    output = " ".join((result.stdout + result.stderr).split())
    if accepted:
        assert result.returncode == 0, output
        [stored] = production_index.files("gitlab-oidc-project")
        assert (stored.sha256, stored.has_provenance) == (SHA256, True)
    else:
        assert result.returncode == 1
        assert (
            "400 Invalid attestations supplied during upload: Could not verify the uploaded "
            "artifact using the included attestation: Verification failed:"
        ) in output
        assert production_index.files("gitlab-oidc-project") == []


def test_a_changed_byte_is_refused(
    production_index: PyPIIndex, pypi_sigstore: LocalSigstore, real_world: Path, tmp_path: Path
) -> None:
    production_index.create_project("gitlab-oidc-project")
    production_index.add_gitlab_publisher("gitlab-oidc-project", REPOSITORY)
    token = exchange(production_index, id_token(pypi_sigstore, REPOSITORY)).json()["token"]
    sdist = _copy(real_world, tmp_path)
    data = bytearray(sdist.read_bytes())
    data[-1] ^= 1
    sdist.write_bytes(bytes(data))
    result = twine(
        production_index, token, sdist, Path(f"{sdist}.publish.attestation"), attestations=True
    )
    assert result.returncode == 1
    assert "subject does not match distribution digest" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("identity", "name", "digest"),
    [
        (GitLabPublisher(repository=REPOSITORY, workflow_filepath=".gitlab-ci.yml"), SDIST, SHA256),
        (GitLabPublisher(repository="a/b", workflow_filepath=".gitlab-ci.yml"), SDIST, SHA256),
        (GitLabPublisher(repository=REPOSITORY, workflow_filepath="x.yml"), SDIST, SHA256),
        (
            GitLabPublisher(repository=REPOSITORY, workflow_filepath=".gitlab-ci.yml"),
            SDIST,
            "0" * 64,
        ),
        (
            GitLabPublisher(repository=REPOSITORY, workflow_filepath=".gitlab-ci.yml"),
            "gitlab_oidc_project-0.0.4.tar.gz",
            SHA256,
        ),
    ],
    ids=["valid", "other-repository", "other-workflow", "other-digest", "other-name"],
)
def test_the_stand_ins_verification_matches_pypi_attestations(
    real_world: Path, identity: GitLabPublisher, name: str, digest: str
) -> None:
    # warehouse calls Attestation.verify (production trust root); the stand-in repeats its steps
    # with an injectable verifier: on production's root both must say the same
    attestation = Attestation.model_validate_json(
        (real_world / f"{SDIST}.publish.attestation").read_bytes()
    )
    dist = Distribution(name=name, digest=digest)
    outcomes = []
    for check in (
        lambda: attestation.verify(identity, dist, offline=True),
        lambda: verify_attestation(attestation, identity, dist, Verifier.production(offline=True)),
    ):
        try:
            outcomes.append(("ok", check()[0]))
        except VerificationError as exc:
            outcomes.append(("error", str(exc)))
    assert outcomes[0] == outcomes[1]
    valid = (identity.repository, identity.workflow_filepath, name, digest) == (
        REPOSITORY,
        ".gitlab-ci.yml",
        SDIST,
        SHA256,
    )
    assert outcomes[0][0] == ("ok" if valid else "error"), outcomes
