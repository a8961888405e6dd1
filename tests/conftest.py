"""Shared fixtures: the local Sigstore and the GitLab registry stand-in, real HTTP on loopback.

Both are started once per test session (per xdist worker) and are cheap to share: tests mint
their own tokens and create their own projects, so they do not see each other's state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from build_helpers import stop_agent
from registry_helpers import Env

if TYPE_CHECKING:
    import httpx

    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore, PyPIIndex
    from hatch_sigstore.sandbox.gitlab import Project, Settings

REAL_WORLD = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "real-world"


@pytest.fixture(scope="session", autouse=True)
def _signing_agents_stopped() -> Iterator[None]:
    """Builds under test (``hatch build``, the real-project pipelines) start signing agents
    that would idle on for 30 s after the session: they listen in a folder of this session's
    (``XDG_RUNTIME_DIR``), and whatever still listens there at the end is stopped."""
    if not hasattr(socket, "SO_PEERCRED"):
        yield
        return
    runtime = tempfile.mkdtemp(prefix="hs-", dir="/tmp")  # short: a socket path has 108 bytes
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = runtime
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = previous
        for path in Path(runtime).glob("*/*.sock"):
            with contextlib.suppress(OSError):  # gone already
                stop_agent(path)
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture(scope="session")
def local_sigstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSigstore]:
    from hatch_sigstore.sandbox import LocalSigstore

    with LocalSigstore(state_dir=tmp_path_factory.mktemp("sigstore")) as sigstore:
        yield sigstore


@pytest.fixture
def sandbox(local_sigstore: LocalSigstore) -> Iterator[LocalSigstore]:
    """The session's local Sigstore, with faults and latency cleared afterwards."""
    yield local_sigstore
    local_sigstore.clear_faults()
    local_sigstore.latency = 0.0


@pytest.fixture(scope="module")
def other_sigstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSigstore]:
    """A second, unrelated instance (same GitLab URL, other keys): a foreign trust root."""
    from hatch_sigstore.sandbox import LocalSigstore

    with LocalSigstore(state_dir=tmp_path_factory.mktemp("other-sigstore")) as other:
        yield other


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
def production_pypi_index(pypi_sigstore: LocalSigstore) -> Iterator[PyPIIndex]:
    """A PyPI stand-in of its own that checks attestations against the public Sigstore's root
    (offline), for the real GitLab-made attestation (``pypi_helpers.publish_real_release``)."""
    from hatch_sigstore.sandbox import PyPIIndex

    with PyPIIndex() as index:
        index.resolve_issuer(pypi_sigstore.gitlab_url, pypi_sigstore.url)
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


# -- a GitLab stand-in of the test module's own (tests/sandbox/test_gitlab_*.py) --------------
# A test that uses ``gl`` starts and ends with the module's ``SETTINGS()`` (default: GitLab's
# defaults) and no planned faults, and leaves no request in flight.
@pytest.fixture(scope="module")
def gl() -> Iterator[GitLabRegistry]:
    from hatch_sigstore.sandbox import GitLabRegistry

    with GitLabRegistry() as registry:
        yield registry


@pytest.fixture(autouse=True)
def _fresh_gl(request: pytest.FixtureRequest) -> Iterator[None]:
    if "gl" not in request.fixturenames:
        yield
        return
    from hatch_sigstore.sandbox.gitlab import Settings

    registry: GitLabRegistry = request.getfixturevalue("gl")
    settings: Callable[[], Settings] = getattr(request.module, "SETTINGS", Settings)
    registry.settings = settings()
    registry.faults.clear()
    yield
    registry.faults.clear()
    registry.settings = settings()
    assert registry.wait_idle()


@pytest.fixture
def project(gl: GitLabRegistry) -> Project:
    return gl.create_project("group/project")  # taken: group/project-2, -3, ...


@pytest.fixture
def job(gl: GitLabRegistry, project: Project) -> str:
    return gl.job_token(project)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    import httpx

    with httpx.Client(timeout=10, follow_redirects=False) as c:
        yield c


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
