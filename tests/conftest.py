"""Shared fixtures: the local Sigstore and the GitLab registry stand-in, real HTTP on loopback.

Both are started once per test session (per xdist worker) and are cheap to share: tests mint
their own tokens and create their own projects, so they do not see each other's state.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from registry_helpers import Env

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore, PyPIIndex

REAL_WORLD = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "real-world"


@pytest.fixture(scope="session")
def local_sigstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSigstore]:
    from hatch_sigstore.sandbox import LocalSigstore

    with LocalSigstore(state_dir=tmp_path_factory.mktemp("sigstore")) as sigstore:
        yield sigstore


@pytest.fixture(scope="session")
def gitlab_registry() -> Iterator[GitLabRegistry]:
    from hatch_sigstore.sandbox import GitLabRegistry

    with GitLabRegistry() as registry:
        yield registry


@pytest.fixture(scope="session")
def pypi_sigstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSigstore]:
    """A local Sigstore whose token issuer calls itself ``https://gitlab.com``: PyPI's built-in
    GitLab issuer, the only one whose attestations PyPI can verify."""
    from hatch_sigstore.sandbox import LocalSigstore

    state = tmp_path_factory.mktemp("pypi-sigstore")
    with LocalSigstore(state_dir=state, gitlab_url="https://gitlab.com") as sigstore:
        yield sigstore


@pytest.fixture(scope="session")
def pypi_index(pypi_sigstore: LocalSigstore) -> Iterator[PyPIIndex]:
    """The PyPI stand-in, trusting ``pypi_sigstore`` (tests use their own project names)."""
    from hatch_sigstore.sandbox import PyPIIndex

    with PyPIIndex() as index:
        index.trust_sigstore(pypi_sigstore)
        yield index


@pytest.fixture
def real_world() -> Path:
    """Artifacts signed by the real public Sigstore (GitLab CI and GitHub Actions)."""
    return REAL_WORLD


@pytest.fixture
def registry(gitlab_registry: GitLabRegistry) -> Iterator[GitLabRegistry]:
    """The shared GitLab stand-in with no faults planned, left idle for the next test."""
    gitlab_registry.faults.clear()
    yield gitlab_registry
    gitlab_registry.faults.clear()
    # a request the client gave up on (timeouts, late stores) must not land in the next test
    assert gitlab_registry.wait_idle()


@pytest.fixture
def standin(registry: GitLabRegistry, tmp_path: Path) -> Env:
    """A fresh project on the GitLab stand-in, and a registry client wired to it."""
    return Env(registry, tmp_path)


# How the stand-in keeps package files: on local disk (GitLab streams them), in object storage
# (downloads redirect to pre-signed URLs, the default of a GitLab with object storage and of
# gitlab.com), or in object storage with proxy_download (GitLab streams the object).
STORAGE = ("local", "object-storage", "proxy-download")


@pytest.fixture
def storage(request: pytest.FixtureRequest, gitlab_registry: GitLabRegistry) -> Iterator[str]:
    """The shared stand-in in one storage mode for one test (``indirect`` parametrization);
    afterwards: no object-store request carried a credential (and in "local" mode there were
    none). Tests that must go through the store say so with :func:`store_requests`."""
    mode: str = getattr(request, "param", "local")
    saved = gitlab_registry.settings
    gitlab_registry.settings = dataclasses.replace(
        saved, object_storage=mode != "local", proxy_download=mode == "proxy-download"
    )
    start = len(gitlab_registry.request_log)
    yield mode
    gitlab_registry.settings = saved
    store = [i for i in gitlab_registry.request_log[start:] if i.service == "object-store"]
    assert [i for i in store if i.credentials] == [], "a credential reached the object store"
    assert mode != "local" or not store


def store_requests(registry: GitLabRegistry, project_id: int) -> int:
    """How many requests the object store answered for ``project_id``'s files (their keys are
    under the sha256 of the project id: ``Gitlab::HashedPath``)."""
    hashed = hashlib.sha256(str(project_id).encode()).hexdigest()
    return sum(1 for i in registry.object_store_requests() if f"/{hashed}/" in i.path)
