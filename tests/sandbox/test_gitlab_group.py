"""The stand-in's group-level PyPI routes (lib/api/pypi_packages.rb, resource :groups)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from index_helpers import pip_install, publish, wheel

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import GitLabRegistry


@pytest.fixture
def group(gitlab_registry: GitLabRegistry, tmp_path: Path) -> tuple[str, str]:
    """A group with a private and a public project, one package each; (group, token)."""
    name = f"grp{len(gitlab_registry.store.projects)}"
    private = gitlab_registry.create_project(f"{name}/private")
    public = gitlab_registry.create_project(f"{name}/sub/public", visibility="public")
    publish(gitlab_registry, private, [wheel(tmp_path / "a", "pkg-a", "1.0")], name="pkg-a",
            version="1.0", signatures=False)  # fmt: skip
    publish(gitlab_registry, public, [wheel(tmp_path / "b", "pkg-b", "2.0")], name="pkg-b",
            version="2.0", signatures=False)  # fmt: skip
    return name, gitlab_registry.personal_token(project=private, role="reporter")


def test_group_pages_list_what_the_caller_may_read(
    gitlab_registry: GitLabRegistry, group: tuple[str, str]
) -> None:
    name, token = group
    url = gitlab_registry.group_simple_url(name)
    with httpx.Client() as client:
        anonymous = client.get(f"{url}/pkg-b").text
        assert "pkg_b-2.0-py3-none-any.whl" in anonymous
        assert client.get(f"{url}/pkg-a").status_code == 302  # forwarded: not visible
        member = client.get(f"{url}/pkg-a", auth=("x", token))
        assert member.status_code == 200
        href = re.search(r'href="([^"]+)"', member.text)
        assert href is not None
        gid = gitlab_registry.store.group_id(name)
        assert f"/api/v4/groups/{gid}/-/packages/pypi/files/" in href.group(1)
        got = client.get(href.group(1), auth=("x", token))
        assert got.status_code == 200
        sha = href.group(1).split("#sha256=")[1]
        assert hashlib.sha256(got.content).hexdigest() == sha
        index = client.get(url, auth=("x", token)).text
        assert "pkg-a" in index
        assert "pkg-b" in index
        assert client.get(f"{url}/pkg-b".replace(name, str(gid))).status_code == 200


def test_unknown_and_invisible_groups(gitlab_registry: GitLabRegistry, tmp_path: Path) -> None:
    gitlab_registry.create_project("hidden-grp/only-private")
    with httpx.Client() as client:
        missing = client.get(gitlab_registry.group_simple_url("no-such-group") + "/x")
        assert (missing.status_code, missing.json()) == (404, {"message": "404 Not Found"})
        hidden = client.get(gitlab_registry.group_simple_url("hidden-grp") + "/x")
        assert (hidden.status_code, hidden.json()) == (404, {"message": "404 Group Not Found"})
        wrong = client.get(
            gitlab_registry.api_url + "/groups/hidden-grp/-/packages/pypi/files/" + "0" * 64 + "/x"
        )
        assert wrong.status_code == 404


def test_pip_installs_from_a_group_index(
    gitlab_registry: GitLabRegistry, group: tuple[str, str], tmp_path: Path
) -> None:
    name, token = group
    url = gitlab_registry.group_simple_url(name).replace("://", f"://__token__:{token}@")
    result = pip_install(url, tmp_path / "t", "pkg-a", "pkg-b")
    assert result.returncode == 0, result.stderr
