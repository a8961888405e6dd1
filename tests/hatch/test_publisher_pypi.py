"""``hatch publish -p pypi`` end to end: real hatch CLI, local Sigstore, PyPI stand-in.

Each test signs its own release with PEP 740 attestations (as the pipeline's build job would),
registers its own project and trusted publisher on the stand-in, and drives hatch's ``publish``
command in-process. Refusals are asserted together with what reached the index: a preflight
refusal sends nothing at all; faults are injected into the stand-in's HTTP handling only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pypi_publish_helpers import CLEARED, PyPIRelease, hatch_publish, make_pypi_release

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex


@pytest.fixture(autouse=True)
def _isolation(monkeypatch: pytest.MonkeyPatch, pypi_index: PyPIIndex) -> Iterator[None]:
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    pypi_index.faults.clear()
    yield
    pypi_index.faults.clear()
    pypi_index.oidc.enabled = True


NewRelease = Callable[..., PyPIRelease]


@pytest.fixture
def new_release(tmp_path: Path, pypi_sigstore: LocalSigstore, pypi_index: PyPIIndex) -> NewRelease:
    """Releases to the stand-in (its upload URL in the project table, plus ``extra`` lines);
    keywords as :func:`make_pypi_release`'s."""

    def make(*, extra: str = "", **kwargs: Any) -> PyPIRelease:
        table = f'url = "{pypi_index.upload_url}"\n{extra}'
        return make_pypi_release(tmp_path, pypi_sigstore, pypi_index, table=table, **kwargs)

    return make


@pytest.fixture
def release(new_release: NewRelease) -> PyPIRelease:
    return new_release()


def index_requests(index: PyPIIndex, release: PyPIRelease) -> list[tuple[str, str, int]]:
    """What reached the stand-in for this release (its project pages, uploads, exchanges)."""
    return [
        (r.method, r.path, r.status)
        for r in index.requests
        if release.name in r.path or r.path in ("/legacy/", "/_/oidc/mint-token")
    ]


def writes(index: PyPIIndex, release: PyPIRelease) -> list[tuple[str, str, int]]:
    """What the release sent: token exchanges and uploads (reads are anonymous GETs)."""
    return [r for r in index_requests(index, release) if r[0] != "GET"]


def uploads(index: PyPIIndex) -> int:
    return sum(1 for r in index.requests if r.method == "POST" and r.path == "/legacy/")


def assert_on_index(index: PyPIIndex, release: PyPIRelease, *, provenance: bool = True) -> None:
    """Every dist exactly once, with its bytes, with (or without) the index's provenance."""
    stored = index.files(release.name)
    expected = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in release.dists}
    assert {f.filename: f.sha256 for f in stored} == expected
    assert len(stored) == len(expected)
    assert all(f.has_provenance is provenance for f in stored), stored


def assert_no_secret(index: PyPIIndex, release: PyPIRelease, output: str) -> None:
    assert release.env["PYPI_ID_TOKEN"] not in output
    for token in list(index.store.macaroons):
        assert token not in output


# -- the happy path ------------------------------------------------------------------------


def test_publish_with_attestations_then_rerun_sends_nothing(
    release: PyPIRelease, pypi_index: PyPIIndex
) -> None:
    before = uploads(pypi_index)
    run = hatch_publish(release)
    assert run.exit_code == 0, run.output
    assert_on_index(pypi_index, release)
    assert uploads(pypi_index) - before == 2
    assert "Summary: 2 uploaded, 0 skipped" in run.output
    assert "holds the whole release: 2 dist(s) (2 uploaded now, 2 with an attestation" in (
        run.output
    )
    assert_no_secret(pypi_index, release, run.output)
    # the provenance names the publisher the token matched
    provenance = pypi_index.provenance(release.dists[0].name)
    assert provenance is not None
    [bundle] = provenance["attestation_bundles"]
    assert bundle["publisher"]["repository"] == release.repository

    release.fresh_id_token()  # a re-run is a new job
    again = hatch_publish(release)
    assert again.exit_code == 0, again.output
    assert "Summary: 0 uploaded, 2 skipped (already there)" in again.output
    assert "Nothing to send, so no token was exchanged" in again.output
    assert uploads(pypi_index) - before == 2  # nothing was sent again
    assert_on_index(pypi_index, release)


def test_dry_run_exchanges_nothing_and_sends_nothing(
    release: PyPIRelease, pypi_index: PyPIIndex
) -> None:
    pypi_index.clear_requests()
    run = hatch_publish(release, "-o", "dry-run=true")
    assert run.exit_code == 0, run.output
    assert "Dry run: no token was exchanged and nothing was sent" in run.output
    assert "+ attestation" in run.output
    # only the anonymous question what the index holds
    assert [(m, p) for m, p, _ in index_requests(pypi_index, release)] == [
        ("GET", f"/pypi/{release.name}/1.0.0/json")
    ]
    assert pypi_index.files(release.name) == []


@pytest.mark.parametrize(("seed", "retries"), [(1, 2), (2, 2), (3, 0), (4, 0)])
def test_thirty_percent_faults_reruns_finish_without_duplicates(
    new_release: NewRelease,
    pypi_index: PyPIIndex,
    seed: int,
    retries: int,
) -> None:
    """Retries absorb most faults; without retries every fault fails the job, and re-runs
    (each a new job with a new ID token) finish it. Either way: each file once, attested."""
    release = new_release(
        extra=f"retries = {retries}", versions=("1.0.0", "1.0.1", "1.1.0", "2.0.0")
    )
    injected = len(pypi_index.faults.injected)
    pypi_index.faults.random(
        0.3,
        seed=seed,
        kinds=("status", "reset", "stored_then_502", "store_after_502"),
        statuses=(500, 502, 503, 429),
    )
    runs = []
    for _ in range(60):  # a failed job is retried with a fresh ID token, as GitLab retries
        run = hatch_publish(release)
        runs.append(run)
        if run.exit_code == 0:
            break
        release.fresh_id_token()
    pypi_index.faults.clear()
    assert len(pypi_index.faults.injected) - injected >= 2  # the runs did meet faults
    assert runs[-1].exit_code == 0, [r.output for r in runs]
    if retries == 0:
        assert len(runs) > 1
    pypi_index.wait_idle()
    assert_on_index(pypi_index, release)
    for run in runs:
        assert_no_secret(pypi_index, release, run.output)


def test_interrupted_between_the_dists_finishes_on_rerun(
    release: PyPIRelease, pypi_index: PyPIIndex
) -> None:
    # the second upload never gets an answer, however often it is retried
    pypi_index.faults.plan("status", status=503, times=None, path_contains="/legacy/")
    pypi_index.faults.plan("latency", seconds=0.01, times=1)  # keep the first one apart
    first = hatch_publish(release, "-o", "retries=1", "-o", "concurrency=1")
    assert first.exit_code != 0
    assert "Re-run the same command to finish" in first.output or "unchanged" in first.output
    pypi_index.faults.clear()
    release.fresh_id_token()
    second = hatch_publish(release)
    assert second.exit_code == 0, second.output
    assert_on_index(pypi_index, release)


# -- preflight refusals: nothing is sent (the index is only asked what it holds) ------------


def test_no_attestation_is_refused_unless_attestations_are_off(
    new_release: NewRelease,
    pypi_index: PyPIIndex,
) -> None:
    release = new_release(outputs=frozenset({"bundle"}))
    pypi_index.clear_requests()
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert "Preflight failed: 2 of 2 dist(s) have no attestation" in run.output
    assert ".publish.attestation is not beside it" in run.output
    assert 'outputs = ["bundle", "attestation"]' in run.output
    assert "-o attestations=false" in run.output
    assert writes(pypi_index, release) == []

    loud = hatch_publish(release, "-o", "attestations=false")
    assert loud.exit_code == 0, loud.output
    assert "WARNING: attestations = false" in loud.output
    assert_on_index(pypi_index, release, provenance=False)


@pytest.mark.parametrize(
    ("signer", "signer_ref", "why"),
    [
        ("group/someone-else", None, "source repository"),
        (None, "v2.0.0", "ref"),
    ],
    ids=["another-project", "another-ref"],
)
def test_attestation_of_another_pipeline_is_refused(
    new_release: NewRelease,
    pypi_index: PyPIIndex,
    signer: str | None,
    signer_ref: str | None,
    why: str,
) -> None:
    release = new_release(signer=signer, signer_ref=signer_ref)
    pypi_index.clear_requests()
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert "Preflight failed" in run.output
    assert f"the certificate's {why}" in run.output
    assert writes(pypi_index, release) == []


def test_dist_changed_after_signing_is_refused(release: PyPIRelease, pypi_index: PyPIIndex) -> None:
    wheel = release.dists[0]
    data = bytearray(wheel.read_bytes())
    data[-1] ^= 1  # the zip's comment length: still a wheel, other bytes
    wheel.write_bytes(bytes(data))
    pypi_index.clear_requests()
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert f"{wheel.name}: " in run.output
    assert "not about this file's content" in run.output or "does not verify" in run.output
    assert writes(pypi_index, release) == []


def test_api_token_fallback(release: PyPIRelease, pypi_index: PyPIIndex) -> None:
    del release.env["PYPI_ID_TOKEN"]
    release.env["PYPI_API_TOKEN"] = pypi_index.api_token(project=release.name)
    refused = hatch_publish(release)
    assert refused.exit_code == 1
    assert "PyPI accepts attestations only with trusted publishing" in refused.output
    assert pypi_index.files(release.name) == []

    run = hatch_publish(release, "-o", "attestations=false")
    assert run.exit_code == 0, run.output
    assert "Publishing with the API token in PYPI_API_TOKEN" in run.output
    assert release.env["PYPI_API_TOKEN"] not in run.output
    assert_on_index(pypi_index, release, provenance=False)


def test_no_token_at_all(release: PyPIRelease) -> None:
    del release.env["PYPI_ID_TOKEN"]
    run = hatch_publish(release, "-o", "attestations=false")
    assert run.exit_code == 1
    assert "No token to upload with" in run.output
    assert "id_tokens: PYPI_ID_TOKEN: aud: pypi" in run.output


def test_self_managed_gitlab_cannot_attest(release: PyPIRelease, pypi_index: PyPIIndex) -> None:
    release.fresh_id_token(iss="https://gitlab.example.com")
    pypi_index.clear_requests()
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert "the ID token comes from https://gitlab.example.com" in run.output
    assert "PyPI verifies attestations only from https://gitlab.com" in run.output
    assert index_requests(pypi_index, release) == []


def test_pypi_with_a_private_sigstore_cannot_attest(release: PyPIRelease) -> None:
    # url = pypi: the real PyPI, which only trusts the public Sigstore (nothing is sent)
    run = hatch_publish(release, "-o", "url=pypi")
    assert run.exit_code == 1
    assert "PyPI verifies attestations only against the public production Sigstore" in (run.output)


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("token=pypi-AgEIcHlwaS5vcmcsecret", "would put a PyPI token in plain text"),
        ("url=https://example.com/upload/", "does not end in /legacy/"),
        ("url=http://example.com/legacy/", "plain-http URL"),
        ("attestations=maybe", "not a yes/no value"),
        ("id-token-env=eyJhbGci.eyJzdWIi.c2lnbmF0dXJl", "not an environment variable name"),
        ("color=blue", "Unknown publisher option -o color=…"),
    ],
)
def test_bad_options(release: PyPIRelease, option: str, expected: str) -> None:
    run = hatch_publish(release, "-o", option)
    assert run.exit_code == 1
    assert expected in run.output
    assert "pypi-AgEIcHlwaS5vcmcsecret" not in run.output
    assert "eyJzdWIi" not in run.output


# -- what the index says, in one paragraph each --------------------------------------------


def test_unknown_publisher(
    new_release: NewRelease,
    pypi_index: PyPIIndex,
) -> None:
    release = new_release(publisher=False)
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert "Publisher with matching claims was not found" in run.output
    namespace, project = release.repository.split("/")
    assert f"Namespace {namespace!r}, Project name {project!r}" in run.output
    assert "Top-level pipeline file path '.gitlab-ci.yml'" in run.output
    assert pypi_index.files(release.name) == []


@pytest.mark.parametrize(
    ("workflow", "environment", "job_environment"),
    [("release.yml", "", None), (".gitlab-ci.yml", "pypi", None)],
    ids=["wrong-ci-file", "environment-mismatch"],
)
def test_publisher_mismatch(
    new_release: NewRelease,
    pypi_index: PyPIIndex,
    workflow: str,
    environment: str,
    job_environment: str | None,
) -> None:
    release = new_release(publisher=False)
    pypi_index.create_project(release.name)
    pypi_index.add_gitlab_publisher(
        release.name, release.repository, workflow_filepath=workflow, environment=environment
    )
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert "No trusted publisher on" in run.output
    assert "CI file .gitlab-ci.yml" in run.output
    assert "no Environment (this job has no `environment:`)" in run.output
    assert pypi_index.files(release.name) == []


def test_publisher_spelled_in_other_case(
    new_release: NewRelease,
    pypi_index: PyPIIndex,
) -> None:
    release = new_release(publisher=False)
    pypi_index.create_project(release.name)
    pypi_index.add_gitlab_publisher(release.name, release.repository.upper())
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert "The ci_config_ref_uri claim does not match" in run.output
    assert "spell the namespace and project as GitLab does" in run.output
    assert f"/manage/project/{release.name}/settings/publishing/" in run.output
    assert pypi_index.files(release.name) == []


def test_attestation_for_another_publisher_is_refused_by_the_index(
    new_release: NewRelease,
    pypi_index: PyPIIndex,
) -> None:
    # the user points the preflight at the project that signed, but the token matches the
    # publisher registered for this one: the index checks the attestation against that
    release = new_release(extra='gitlab-project = "group/signer"', signer="group/signer")
    run = hatch_publish(release, "-o", "concurrency=1")
    assert run.exit_code == 1
    assert "Could not verify the uploaded artifact using the included attestation" in run.output
    assert "spelled exactly as in the publisher, case included" in run.output
    assert pypi_index.files(release.name) == []


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"expires_in": -120}, "expired"),
        ({"audience": "sigstore"}, "is for the audience sigstore, but the index expects 'pypi'"),
    ],
    ids=["expired", "wrong-audience"],
)
def test_id_token_problems_found_before_the_exchange(
    release: PyPIRelease, pypi_index: PyPIIndex, claims: dict[str, object], expected: str
) -> None:
    release.fresh_id_token(**claims)
    pypi_index.clear_requests()
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert expected in run.output
    assert not [r for r in pypi_index.requests if r.path == "/_/oidc/mint-token"]


def test_reused_id_token(release: PyPIRelease, pypi_index: PyPIIndex) -> None:
    from pypi_helpers import exchange

    assert exchange(pypi_index, release.env["PYPI_ID_TOKEN"]).status_code == 200
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert "invalid-reuse-token" in run.output
    assert "Re-run the job: it gets a fresh ID token" in run.output


def test_trusted_publishing_switched_off(release: PyPIRelease, pypi_index: PyPIIndex) -> None:
    pypi_index.oidc.enabled = False
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert "Trusted publishing is switched off" in run.output


def test_pending_publisher_for_an_existing_project(
    new_release: NewRelease,
    pypi_index: PyPIIndex,
) -> None:
    release = new_release(publisher=False)
    pypi_index.create_project(release.name)
    pypi_index.add_pending_gitlab_publisher(release.name, release.repository)
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert "invalid-pending-publisher" in run.output
    assert "existing project's Publishing settings" in run.output


def test_pending_publisher_creates_the_project(
    new_release: NewRelease,
    pypi_index: PyPIIndex,
) -> None:
    release = new_release(publisher=False)
    pypi_index.add_pending_gitlab_publisher(release.name, release.repository)
    run = hatch_publish(release)
    assert run.exit_code == 0, run.output
    assert_on_index(pypi_index, release)


def test_publisher_of_another_project(
    new_release: NewRelease,
    pypi_index: PyPIIndex,
) -> None:
    release = new_release(publisher=False)
    pypi_index.create_project(release.name)  # exists, but this job publishes elsewhere
    pypi_index.create_project(f"{release.name}-other")
    pypi_index.add_gitlab_publisher(f"{release.name}-other", release.repository)
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert "OIDC scoped token is not valid for project" in run.output
    assert f"Add the publisher to the Publishing settings of {release.name!r}" in run.output


def test_other_bytes_under_a_published_name_are_refused_before_sending(
    release: PyPIRelease, pypi_sigstore: LocalSigstore, pypi_index: PyPIIndex
) -> None:
    from publish_helpers import make_wheel

    assert hatch_publish(release).exit_code == 0
    wheel = release.dists[0]
    old = wheel.read_bytes()
    make_wheel(wheel.parent, release.name, "1.0.0", payload=b"# rebuilt\n")  # same name
    assert wheel.read_bytes() != old
    _reattest(release, pypi_sigstore)  # by the same pipeline: only the index can refuse it
    before = uploads(pypi_index)
    release.fresh_id_token()
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert f"already holds {wheel.name} (sha256" in run.output
    assert "with different contents. Nothing was sent." in run.output
    assert "file-name-reuse" in run.output
    assert uploads(pypi_index) == before  # refused before sending


def _reattest(release: PyPIRelease, sigstore: LocalSigstore) -> None:
    from hatch_sigstore.sign import SignOptions, sign_files
    from hatch_sigstore.trust import TrustChoice

    sign_files(
        release.dists,
        SignOptions(
            trust=TrustChoice.resolve(trust_config=sigstore.trust_config_path),
            token=sigstore.mint_token(
                project_path=release.repository, ref="v1.0.0", ref_type="tag"
            ),
            outputs=frozenset({"bundle", "attestation"}),
        ),
    )


def test_deleted_file_name_cannot_be_reused(release: PyPIRelease, pypi_index: PyPIIndex) -> None:
    assert hatch_publish(release).exit_code == 0
    pypi_index.delete_file(release.dists[0].name)
    release.fresh_id_token()
    run = hatch_publish(release)
    assert run.exit_code == 1
    assert "previously used by a file that has since been deleted" in run.output
    assert "never lets a file name be used again" in run.output


def test_hatch_executable_finds_the_pypi_publisher(release: PyPIRelease) -> None:
    import subprocess
    import sys

    env = {**release.env, "PATH": str(Path(sys.executable).parent)}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "hatch"), "publish", "-p", "pypi", "-o", "dry-run=1"],
        cwd=release.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Dry run" in proc.stdout + proc.stderr
