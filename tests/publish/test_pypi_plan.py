"""The pypi target's preflight and plan, against the local Sigstore (no index needed): only the
attestation bytes that verified are ever sent."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hatch_sigstore.errors import PublishError
from hatch_sigstore.publish import (
    PyPISettings,
    build_pypi_plan,
    collect_dists,
    pypi_preflight,
    require_pypi,
    resolve_pypi,
)
from pypi_helpers import dists, unique

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore


def settings_for(sigstore: LocalSigstore, root: Path, repository: str) -> PyPISettings:
    env = sigstore.ci_env(project_path=repository, ref="v1.0.0", ref_type="tag")
    env["PYPI_ID_TOKEN"] = sigstore.mint_token(
        project_path=repository, ref="v1.0.0", ref_type="tag", audience="pypi"
    )
    return resolve_pypi({"url": "http://127.0.0.1:9/legacy/"}, {}, {}, root=root, env=env)


def signed_release(sigstore: LocalSigstore, root: Path, repository: str) -> None:
    from hatch_sigstore.sign import SignOptions, sign_files
    from hatch_sigstore.trust import TrustChoice

    files = list(dists(root / "dist", unique("plan")))
    token = sigstore.mint_token(project_path=repository, ref="v1.0.0", ref_type="tag")
    trust = TrustChoice.resolve(trust_config=sigstore.trust_config_path)
    sign_files(files, SignOptions(trust=trust, token=token, outputs=frozenset({"attestation"})))


def test_only_the_verified_attestation_bytes_go(
    pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    signed_release(pypi_sigstore, tmp_path, "group/plan")
    settings = settings_for(pypi_sigstore, tmp_path, "group/plan")
    found = collect_dists(settings.artifacts)
    results = pypi_preflight(found, settings)
    require_pypi(results, settings)
    plan = build_pypi_plan(found, results, settings)
    assert len(plan.attestations) == 2
    for item in plan.items:
        [text] = plan.attestation_texts(item)
        assert '"envelope"' in text
        assert ("name", item.package) in plan.form(item)
    # a file swapped after the check is never sent
    sidecar = found[0].path.with_name(found[0].filename + ".publish.attestation")
    sidecar.write_text(sidecar.read_text() + " ")
    with pytest.raises(PublishError, match="changed after it was verified"):
        build_pypi_plan(found, results, settings)


def test_files_already_on_the_index_are_not_verified_again(
    pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    signed_release(pypi_sigstore, tmp_path, "group/plan")
    settings = settings_for(pypi_sigstore, tmp_path, "group/plan")
    found = collect_dists(settings.artifacts)
    for d in found:  # no attestation at all: only what is sent needs one
        d.path.with_name(d.filename + ".publish.attestation").unlink()
    present = {d.filename: "0" * 64 for d in found}
    results = pypi_preflight(found, settings, present=present)
    assert all(r.ok for r in results)
    assert all("already on the index" in r.detail for r in results)
    plan = build_pypi_plan(found, results, settings, present=present)
    assert plan.present == frozenset(present)
    assert "   (none: the index holds every file with the same sha256)" in plan.render()


def test_two_sdists_of_one_release_are_refused(
    pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    signed_release(pypi_sigstore, tmp_path, "group/plan")
    settings = settings_for(pypi_sigstore, tmp_path, "group/plan")
    found = collect_dists(settings.artifacts)
    sdist = next(d for d in found if d.kind == "sdist")
    twin = sdist.__class__(**{**sdist.__dict__, "path": sdist.path.with_name("twin.tar.gz")})
    results = pypi_preflight(found, settings)
    with pytest.raises(PublishError, match="PyPI takes one sdist per release"):
        build_pypi_plan([*found, twin], results, settings)


_OPENED: list[str] | None = None  # while a list: the paths opened, from the audit hook below


def _note_open(event: str, args: tuple[object, ...]) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, Path)):
        _OPENED.append(str(args[0]))


sys.addaudithook(_note_open)


@pytest.mark.parametrize("attestations", [True, False])
def test_an_sdist_read_while_collecting_is_not_read_again(
    pypi_sigstore: LocalSigstore, tmp_path: Path, attestations: bool
) -> None:
    """collect_dists reads an sdist whole (its metadata, its sha256); preflight reuses that."""
    global _OPENED  # noqa: PLW0603 (the audit hook cannot be removed, only told to stop)
    signed_release(pypi_sigstore, tmp_path, "group/plan")
    settings = settings_for(pypi_sigstore, tmp_path, "group/plan")
    if not attestations:
        settings = dataclasses.replace(settings, attestations=False)
    found = collect_dists(settings.artifacts)
    [sdist] = [d for d in found if d.kind == "sdist"]
    _OPENED = []
    try:
        results = pypi_preflight(found, settings)
    finally:
        opened, _OPENED = _OPENED, None
    assert all(r.ok for r in results), results
    assert str(sdist.path) not in opened
    assert [r.sha256 for r in results if r.dist is sdist] == [
        hashlib.sha256(sdist.path.read_bytes()).hexdigest()
    ]
