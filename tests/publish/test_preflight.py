"""The publisher's preflight against a hostile dist folder and widened policies, end to end: real
dists signed by the local Sigstore, the publish core (settings → dists → preflight → plan → run)
against the GitLab stand-in over real HTTP. Each attack is reproduced and shown refused before
a single request reaches the project.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hatch_sigstore.errors import ConfigError, PublishError
from hatch_sigstore.publish import (
    ItemResult,
    Summary,
    UploadItem,
    build_plan,
    collect_dists,
    execute,
    preflight,
    require_preflight,
    resolve_settings,
)
from hatch_sigstore.sign import SignOptions, sign_files
from hatch_sigstore.trust import TrustChoice
from publish_helpers import make_sdist, make_wheel

if TYPE_CHECKING:
    from hatch_sigstore.publish.run import Reporter
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore
    from hatch_sigstore.sandbox.gitlab import Project

SECRET = "TOP-SECRET-do-not-publish-4711"


class _Quiet:
    def upload_started(self, item: UploadItem) -> Callable[[int], None] | None:
        return None

    def upload_finished(self, result: ItemResult) -> None:
        pass


@dataclass
class Job:
    """A tag pipeline (v1.0.0) of group/project publishing into a fresh stand-in project."""

    sigstore: LocalSigstore
    registry: GitLabRegistry
    project: Project
    root: Path
    env: dict[str, str]

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    def sign(self, paths: list[Path], *, ref: str = "v1.0.0", ref_type: str = "tag") -> None:
        token = self.sigstore.mint_token(
            project_path="group/project", ref=ref, ref_type=ref_type, project_id="42"
        )
        options = SignOptions(
            trust=TrustChoice.resolve(trust_config=self.sigstore.trust_config_path),
            token=token,
            outputs=frozenset({"bundle", "cosign"}),
        )
        sign_files(paths, options)

    def publish(
        self,
        options: Mapping[str, object] | None = None,
        table: Mapping[str, object] | None = None,
        reporter: Reporter | None = None,
    ) -> Summary:
        settings = resolve_settings(
            dict(options or {}), dict(table or {}), root=self.root, env=self.env
        )
        dists = collect_dists(settings.artifacts)
        results = preflight(dists, settings)
        require_preflight(results, settings)
        plan = build_plan(dists, results, settings)
        from hatch_sigstore.gitlab import RegistryClient

        with RegistryClient(settings.api_url, settings.project, settings.credentials()) as client:
            return execute(plan, client, reporter or _Quiet())

    def requests(self) -> list[tuple[str, str]]:
        prefix = f"/api/v4/projects/{self.project.id}/"
        return [(r.method, r.path) for r in self.registry.requests if r.path.startswith(prefix)]

    def stored(self) -> dict[str, str]:
        files = {f.filename: f.sha256 for f in self.registry.pypi_files(self.project)}
        files.update({f.filename: f.sha256 for f in self.registry.generic_files(self.project)})
        return files


@pytest.fixture
def job(tmp_path: Path, local_sigstore: LocalSigstore, gitlab_registry: GitLabRegistry) -> Job:
    project = gitlab_registry.create_project("group/project")
    ci = local_sigstore.ci_env(project_path="group/project", ref="v1.0.0", ref_type="tag")
    ci.pop("SIGSTORE_ID_TOKEN")  # the publish job does not sign
    env = {
        **ci,
        "CI_API_V4_URL": gitlab_registry.api_url,
        "CI_PROJECT_ID": "42",  # the signing project's id, as in the certificate
        "CI_JOB_TOKEN": gitlab_registry.job_token(project),
    }
    root = tmp_path / "proj"
    root.mkdir()
    return Job(local_sigstore, gitlab_registry, project, root, env)


def signed_release(job: Job, version: str = "1.0.0", **sign: str) -> list[Path]:
    dists = [make_wheel(job.dist, "toy", version), make_sdist(job.dist, "toy", version)]
    job.sign(dists, **sign)
    return dists


def _options(job: Job) -> dict[str, object]:
    # publish into the stand-in project (its id differs from the signer's CI_PROJECT_ID)
    return {"project": str(job.project.id)}


def test_a_clean_release_uploads_exactly_the_verified_bytes(job: Job) -> None:
    signed_release(job)
    summary = job.publish(_options(job))
    assert summary.ok
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in job.dist.iterdir()}
    assert job.stored() == on_disk


# -- the dist folder -------------------------------------------------------------------------------


def test_a_symlinked_sidecar_pointing_at_a_secret_is_refused(job: Job, tmp_path: Path) -> None:
    """Issue 10 #4: dist/X.sig → a secret outside dist/ must never reach the registry."""
    wheel, _sdist = signed_release(job)
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    sig = wheel.with_name(wheel.name + ".sig")
    sig.unlink()
    os.symlink(secret, sig)
    for options in (_options(job), {**_options(job), "allow-unsigned": "true"}):
        with pytest.raises(PublishError, match="is a symbolic link") as info:
            job.publish(options)
        assert "secret.txt" in str(info.value)  # it says where the link points
        assert "Nothing was uploaded" in str(info.value)
    assert job.requests() == []
    assert job.stored() == {}


def test_a_symlinked_dist_is_refused(job: Job, tmp_path: Path) -> None:
    elsewhere = make_wheel(tmp_path / "elsewhere", "toy", "1.0.0")
    job.sign([elsewhere])
    job.dist.mkdir()
    os.symlink(elsewhere, job.dist / elsewhere.name)
    with pytest.raises(PublishError, match="is a symbolic link"):
        job.publish(_options(job))
    assert job.requests() == []


class _SwapForLink(_Quiet):
    """After preflight, just before ``victim`` is uploaded, put a symbolic link in its place
    (to an identical copy: the sha256 check alone would let it through)."""

    def __init__(self, victim: Path, elsewhere: Path) -> None:
        self.victim, self.elsewhere = victim, elsewhere

    def upload_started(self, item: UploadItem) -> Callable[[int], None] | None:
        if item.path == self.victim and not self.victim.is_symlink():
            copy = self.elsewhere / self.victim.name
            shutil.copyfile(self.victim, copy)
            self.victim.unlink()
            os.symlink(copy, self.victim)
        return None


@pytest.mark.parametrize("suffix", ["", ".sigstore.json"])
def test_a_file_swapped_for_a_link_after_preflight_is_not_uploaded(
    job: Job, tmp_path: Path, suffix: str
) -> None:
    """The dist (PyPI registry) or a signature file (generic registry) becomes a link between
    preflight and its upload: the upload opens without following links and refuses it."""
    wheel, _sdist = signed_release(job)
    victim = wheel.with_name(wheel.name + suffix)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    summary = job.publish(_options(job), reporter=_SwapForLink(victim, elsewhere))
    assert victim.is_symlink()  # the swap happened
    assert not summary.ok
    [failure] = summary.failures()
    assert failure.item.filename == victim.name
    assert "symbolic link" in failure.message
    assert victim.name not in job.stored()


@pytest.mark.parametrize("suffix", ["", ".sigstore.json"])
def test_a_file_swapped_for_a_link_before_it_is_verified_fails_preflight(
    job: Job, tmp_path: Path, suffix: str
) -> None:
    """Listed as a regular file, then a link (to identical bytes) by the time preflight reads
    it: the verifier opens without following links, so the file never verifies."""
    wheel, _sdist = signed_release(job)
    settings = resolve_settings(_options(job), {}, root=job.root, env=job.env)
    dists = collect_dists(settings.artifacts)
    victim = wheel.with_name(wheel.name + suffix)
    copy = tmp_path / victim.name
    shutil.copyfile(victim, copy)
    victim.unlink()
    os.symlink(copy, victim)
    with pytest.raises(PublishError, match="symbolic link") as info:
        require_preflight(preflight(dists, settings), settings)
    assert "Nothing was uploaded" in str(info.value)
    assert job.requests() == []


def test_a_fifo_named_like_a_sidecar_is_refused(job: Job) -> None:
    wheel, _sdist = signed_release(job)
    os.mkfifo(wheel.with_name(wheel.name + ".publish.attestation"))
    with pytest.raises(PublishError, match="is not a regular file"):
        job.publish(_options(job))
    assert job.requests() == []


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        ("junk-sig", "not a base64 DER signature"),
        ("junk-attestation", "not a valid PEP 740 attestation"),
        ("orphan-crt", ".crt was found without"),
        ("other-files-pair", "no entry"),
    ],
)
def test_sidecars_that_do_not_verify_stop_the_publish(
    job: Job, tmp_path: Path, damage: str, fragment: str
) -> None:
    """Issue 10 #4: every .sig + .crt pair and .publish.attestation is verified first."""
    wheel, _sdist = signed_release(job)
    beside = {s: wheel.with_name(wheel.name + s) for s in (".sig", ".crt", ".publish.attestation")}
    if damage == "junk-sig":
        beside[".sig"].write_text("junk")
    elif damage == "junk-attestation":
        beside[".publish.attestation"].write_text('{"version": 1}')
    elif damage == "orphan-crt":
        beside[".sig"].unlink()
    else:  # a valid signature and certificate, of another file
        other = make_wheel(tmp_path / "other", "toy", "1.0.0", payload=b"other")
        job.sign([other])
        for suffix in (".sig", ".crt"):
            shutil.copyfile(other.with_name(other.name + suffix), beside[suffix])
    with pytest.raises(PublishError) as info:
        job.publish(_options(job))
    text = str(info.value)
    assert "Preflight failed" in text
    assert fragment in text, text
    assert "Nothing was uploaded" in text
    assert job.requests() == []
    # the opt-out publishes the dist, never the signature files that did not verify
    job.publish({**_options(job), "allow-unsigned": "true"})
    stored = job.stored()
    assert wheel.name in stored
    assert not [name for name in stored if name.startswith(wheel.name + ".")]


# -- the release each dist claims to be ----------------------------------------------------------


@pytest.mark.parametrize("where", ["option", "table"])
def test_version_from_tag_refuses_a_dist_of_another_release(job: Job, where: str) -> None:
    """A 1.0.1 wheel signed in the v1.0.0 tag pipeline: fine by default, refused when the
    version must be the tag's."""
    signed_release(job, "1.0.1")
    options, table = (
        ({**_options(job), "version-from-tag": "true"}, {})
        if where == "option"
        else (_options(job), {"version-from-tag": True})
    )
    with pytest.raises(PublishError) as info:
        job.publish(options, table)
    assert "signed at refs/tags/v1.0.0 (version 1.0.0)" in str(info.value)
    assert job.requests() == []
    assert job.publish(_options(job)).ok


def test_version_from_tag_needs_a_signer(job: Job) -> None:
    env = {k: v for k, v in job.env.items() if not k.startswith("CI_") or k == "CI_JOB_TOKEN"}
    with pytest.raises(ConfigError, match="version-from-tag"):
        resolve_settings(
            {
                "url": job.registry.api_url,
                "project": "1",
                "version-from-tag": "true",
                "allow-unsigned": "true",
            },
            root=job.root,
            env=env,
        )


# -- policies never widen silently ---------------------------------------------------------------


def test_naming_the_pipelines_own_project_keeps_its_ref_and_id(job: Job) -> None:
    """Issue 10 #5: in a tag pipeline, -o gitlab-project=<own project> used to drop the ref
    (any ref) and the project id, so a wheel signed on a feature branch passed preflight."""
    signed_release(job, ref="feature", ref_type="branch")
    options = {**_options(job), "gitlab-project": "group/project"}
    settings = resolve_settings(options, root=job.root, env=job.env)
    assert "ref refs/tags/v1.0.0" in settings.policy_text
    assert "project id 42" in settings.policy_text
    with pytest.raises(PublishError, match=r"refs/heads/feature"):
        job.publish(options)
    assert job.requests() == []
    # widening takes an explicit ref-glob (the project id pin stays)
    wide = {**options, "ref-glob": "refs/*"}
    assert "project id 42" in resolve_settings(wide, root=job.root, env=job.env).policy_text
    assert job.publish(wide).ok
