"""Fault injection in the PyPI stand-in (the GitLab stand-in's FaultInjector): what a publisher
must survive: 5xx, resets mid-body, uploads stored although the client saw a 502."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex
from pypi_helpers import REPO, dists, form, publish_token, twine, unique, upload


@pytest.fixture
def index(pypi_sigstore: LocalSigstore) -> Iterator[PyPIIndex]:
    with PyPIIndex() as fresh:
        fresh.trust_sigstore(pypi_sigstore)
        yield fresh


def _project(index: PyPIIndex, sigstore: LocalSigstore) -> tuple[str, str]:
    name = unique("fault")
    index.create_project(name)
    index.add_gitlab_publisher(name, REPO)
    return name, publish_token(index, sigstore)


def test_twine_retries_a_503(
    index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    name, token = _project(index, pypi_sigstore)
    wheel, _ = dists(tmp_path, name)
    index.faults.plan("status", status=503, method="POST", path_contains="/legacy/")
    result = twine(index, token, wheel)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [r.status for r in index.requests if r.path == "/legacy/"] == [503, 200]
    assert [f.filename for f in index.files(name)] == [wheel.name]


def test_stored_then_502_and_the_retry_is_a_no_op(
    index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    name, token = _project(index, pypi_sigstore)
    wheel, _ = dists(tmp_path, name)
    index.faults.plan("stored_then_502", path_contains="/legacy/")
    assert upload(index, token, *form(name, "1.0.0", wheel)).status_code == 502
    assert [f.filename for f in index.files(name)] == [wheel.name]
    retry = upload(index, token, *form(name, "1.0.0", wheel))
    assert (retry.status_code, retry.reason_phrase) == (200, "OK")
    assert len(index.files(name)) == 1


def test_reset_mid_body_stores_nothing(
    index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    name, token = _project(index, pypi_sigstore)
    wheel, _ = dists(tmp_path, name, payload=b"#" * 200_000)
    index.faults.plan("reset", path_contains="/legacy/", after_bytes=50_000)
    with pytest.raises(httpx.TransportError):
        upload(index, token, *form(name, "1.0.0", wheel))
    assert index.files(name) == []
    assert index.requests[-1].status == 0
    assert upload(index, token, *form(name, "1.0.0", wheel)).status_code == 200


def test_store_after_502(index: PyPIIndex, pypi_sigstore: LocalSigstore, tmp_path: Path) -> None:
    name, token = _project(index, pypi_sigstore)
    wheel, _ = dists(tmp_path, name)
    index.faults.plan("store_after_502", path_contains="/legacy/", seconds=0.2)
    assert upload(index, token, *form(name, "1.0.0", wheel)).status_code == 502
    assert index.wait_idle(10)
    assert [f.filename for f in index.files(name)] == [wheel.name]


def test_latency_and_a_failing_json_api(index: PyPIIndex) -> None:
    index.faults.plan("latency", seconds=0.3, path_contains="/simple/")
    started = time.monotonic()
    assert httpx.get(index.simple_url).status_code == 200
    assert time.monotonic() - started >= 0.3
    index.faults.plan("status", status=500, path_contains="/pypi/")
    assert httpx.get(f"{index.url}/pypi/anything/json").status_code == 500
    assert httpx.get(f"{index.url}/pypi/anything/json").status_code == 404


def test_seeded_random_faults_repeat(pypi_sigstore: LocalSigstore) -> None:
    def run() -> list[int]:
        with PyPIIndex() as fresh:
            fresh.faults.random(rate=0.5, seed=7, kinds=("status",), statuses=(500, 503))
            return [httpx.get(f"{fresh.url}/simple/").status_code for _ in range(12)]

    first = run()
    assert first == run()
    assert {500, 503} & set(first)
    assert 200 in first
