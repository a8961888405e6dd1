"""The client's own refusals before any request: bad URLs, projects, coordinates, CA bundles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hatch_sigstore.errors import ConfigError
from hatch_sigstore.gitlab import Credentials, RegistryClient

if TYPE_CHECKING:
    pass


@pytest.mark.parametrize(
    ("api_url", "project"),
    [
        ("gitlab.example.com/api/v4", "1"),
        ("ftp://gitlab.example.com/api/v4", "1"),
        ("https://__token__:glpat-xxxxxxxxxxxxxxxx@gitlab.example.com/api/v4", "1"),
        ("https://gitlab.example.com/api/v4?private_token=x", "1"),
        ("https://gitlab.example.com/api/v4", " "),
    ],
)
def test_bad_configuration(api_url: str, project: str) -> None:
    with pytest.raises(ConfigError) as info:
        RegistryClient(api_url, project, Credentials.anonymous())
    assert "glpat-xxxx" not in str(info.value)


@pytest.mark.parametrize(
    ("package", "version", "filename"),
    [
        ("a/b", "1", "f"),
        ("a", "1..2", "f"),
        ("a", "1", "../f"),
        ("a", "1", "f g"),
        ("a", "1!2", "f"),
        ("a", "1", ".f"),
        ("", "1", "f"),
    ],
)
def test_generic_coordinates_validated_locally(package: str, version: str, filename: str) -> None:
    client = RegistryClient("https://gitlab.example.com/api/v4", "1", Credentials.anonymous())
    with client, pytest.raises(ConfigError):
        client.generic_url(package, version, filename)


def test_ca_bundle_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CA bundle"):
        RegistryClient("https://h/api/v4", "1", Credentials.anonymous(), verify=str(tmp_path / "x"))
