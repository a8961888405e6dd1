"""RegistryClient with a group scope (``group=``): GitLab's group-level PyPI routes
(``GET /groups/:id/-/packages/pypi/simple/*package_name`` and ``…/files/:sha256/*``,
gitlab-org/gitlab lib/api/pypi_packages.rb) against the stand-in; and what a group has not
(uploads, a generic registry, the Packages API), refused before anything is sent."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hatch_sigstore.errors import ConfigError, RegistryError
from hatch_sigstore.gitlab import Credentials, RegistryClient
from index_helpers import publish, wheel
from registry_helpers import FAST

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import GitLabRegistry


@pytest.fixture
def group(gitlab_registry: GitLabRegistry, tmp_path: Path) -> tuple[str, str, Path]:
    """A group whose private subproject holds one wheel; (group, reporter token, the wheel)."""
    name = f"gscope{len(gitlab_registry.store.projects)}"
    project = gitlab_registry.create_project(f"{name}/sub/lib")
    path = wheel(tmp_path / "w", "scoped-lib", "1.0")
    publish(gitlab_registry, project, [path], name="scoped-lib", version="1.0", signatures=False)
    return name, gitlab_registry.personal_token(project=project, role="reporter"), path


def test_a_group_index_lists_and_serves_its_projects_files(
    gitlab_registry: GitLabRegistry, group: tuple[str, str, Path], tmp_path: Path
) -> None:
    name, token, path = group
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    creds = Credentials("personal", token)
    gitlab_registry.clear_requests()
    with RegistryClient(gitlab_registry.api_url, None, creds, group=name, retry_policy=FAST) as c:
        [listed] = c.pypi_simple_files("Scoped_Lib")
        assert (listed.filename, listed.sha256) == (path.name, sha)
        got = c.pypi_download(listed, tmp_path, max_bytes=10**6)
        assert got.read_bytes() == path.read_bytes()
        gid = gitlab_registry.store.group_id(name)
        assert c.pypi_file_url(sha, path.name).replace(f"/{name}/", f"/{gid}/") == listed.url
        assert c.pypi_simple_files("not-there") == []
        assert "group=" in repr(c)
    paths = [r.path for r in gitlab_registry.requests]
    assert paths[0] == f"/api/v4/groups/{name}/-/packages/pypi/simple/scoped-lib"
    assert paths[1].startswith(f"/api/v4/groups/{gid}/-/packages/pypi/files/{sha}/")


def test_an_unknown_group_says_group(gitlab_registry: GitLabRegistry) -> None:
    anonymous = Credentials.anonymous()
    with (
        RegistryClient(gitlab_registry.api_url, None, anonymous, group="no-such-group") as c,
        pytest.raises(RegistryError) as info,
    ):
        c.pypi_simple_files("x")
    assert "Check the group id or path ('no-such-group'" in str(info.value)


def test_a_group_cannot_upload_or_hold_generic_files(
    gitlab_registry: GitLabRegistry, tmp_path: Path
) -> None:
    gitlab_registry.clear_requests()
    path = tmp_path / "x-1.0.tar.gz"
    path.write_bytes(b"x")
    sha = hashlib.sha256(b"x").hexdigest()
    anonymous = Credentials.anonymous()
    with RegistryClient(gitlab_registry.api_url, None, anonymous, group="g") as c:
        with pytest.raises(ConfigError, match="no group-level upload"):
            c.pypi_upload(path, name="x", version="1.0", sha256=sha)
        with pytest.raises(ConfigError, match="no group-level upload"):
            c.generic_upload("x", "1.0", path, sha256=sha)
        with pytest.raises(ConfigError, match="no group-level upload"):
            c.generic_url("x", "1.0", path.name)
    assert gitlab_registry.requests == []


def test_project_or_group_not_both() -> None:
    anonymous = Credentials.anonymous()
    with pytest.raises(ConfigError, match="project and a group"):
        RegistryClient("https://gitlab.example.com/api/v4", "g/p", anonymous, group="g")
    with pytest.raises(ConfigError, match="No GitLab project"):
        RegistryClient("https://gitlab.example.com/api/v4", None, anonymous)
