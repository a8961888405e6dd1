"""A GitLab group registry as the upstream: each package's signatures come from the generic
registry of the project its policy names (or ``generic-project``)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hatch_sigstore.index import IndexServer, load_config
from index_helpers import pip_install, release, uv_install

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore

pytestmark = pytest.mark.slow


def test_group_upstream(
    tmp_path: Path, local_sigstore: LocalSigstore, gitlab_registry: GitLabRegistry
) -> None:
    tools = gitlab_registry.create_project("acme/tools")
    core = gitlab_registry.create_project("acme/libs/core")
    release(
        local_sigstore, gitlab_registry, tools, tmp_path, "acme-tool", "1.0.0",
        requires=["acme-core"], signer="acme/tools",
    )  # fmt: skip
    release(
        local_sigstore,
        gitlab_registry,
        core,
        tmp_path,
        "acme-core",
        "3.0.0",
        signer="acme/libs/core",
    )
    # signed by the wrong project of the same group: refused
    release(
        local_sigstore, gitlab_registry, core, tmp_path, "acme-core", "3.1.0", signer="acme/tools"
    )
    token = gitlab_registry.personal_token()
    server = local_sigstore.gitlab_url
    config = tmp_path / "index.toml"
    config.write_text(
        f"""
trust-config = "{local_sigstore.trust_config_path}"
[upstream.acme]
url = "{gitlab_registry.api_url}"
group = "acme"
token-env = "ACME_TOKEN"
[package.acme-tool]
gitlab = "acme/tools"
server = "{server}"
[package.acme-core]
gitlab = "acme/libs/core"
server = "{server}"
ref-glob = "refs/tags/v*"
"""
    )
    env = {"ACME_TOKEN": token}
    with IndexServer(load_config(config, env), cache_dir=tmp_path / "cache", env=env) as index:
        result = pip_install(index.url, tmp_path / "pip", "acme-tool")
        assert result.returncode == 0, result.stderr
        assert "Successfully installed acme-core-3.0.0 acme-tool-1.0.0" in result.stdout
        result = uv_install(index.url, tmp_path / "uv", "acme-core==3.1.0")
        assert result.returncode != 0
        assert "there is no version of acme-core==3.1.0" in result.stderr
        url = index.url.removesuffix("/simple/") + "/-/status.json"
        with urllib.request.urlopen(url, timeout=60) as response:
            files = {f["filename"]: f for f in json.loads(response.read())["files"]}
    assert files["acme_core-3.1.0-py3-none-any.whl"]["outcome"] == "refused"
    assert "acme/tools" in files["acme_core-3.1.0-py3-none-any.whl"]["detail"]
    assert files["acme_core-3.0.0-py3-none-any.whl"]["outcome"] == "verified"
    requests = [r.path for r in gitlab_registry.requests]
    assert any(p.startswith("/api/v4/groups/acme/-/packages/pypi/simple/") for p in requests)
    assert any("/packages/pypi/files/" in p and p.startswith("/api/v4/groups/") for p in requests)
