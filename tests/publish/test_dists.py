"""Dists: metadata read and checked against the file name, sidecars paired, damage refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hatch_sigstore.errors import PublishError
from hatch_sigstore.publish import Dist, collect_dists, read_dist
from publish_helpers import make_sdist, make_wheel


def test_read_wheel_and_sdist(tmp_path: Path) -> None:
    wheel = read_dist(make_wheel(tmp_path, "My.Pkg", "1.0.0rc1"))
    assert (wheel.kind, wheel.name, wheel.version) == ("wheel", "My.Pkg", "1.0.0rc1")
    assert wheel.pypi_metadata["requires_python"] == ">=3.8"
    assert wheel.pypi_metadata["metadata_version"] == "2.3"
    assert wheel.pypi_metadata["description"].startswith("# My.Pkg")
    sdist = read_dist(make_sdist(tmp_path, "my-pkg", "2.0"))
    assert (sdist.kind, sdist.name, sdist.version) == ("sdist", "my-pkg", "2.0")
    assert sdist.sidecars == ()


@pytest.mark.parametrize(
    ("maker", "kwargs", "fragments"),
    [
        (make_wheel, {"meta_name": "other-pkg"}, ["demo-pkg 1.0.0", "other-pkg 1.0.0", "METADATA"]),
        (make_wheel, {"meta_version": "1.0.1"}, ["says demo-pkg 1.0.0", "1.0.1"]),
        (make_sdist, {"meta_name": "other"}, ["PKG-INFO", "other 1.0.0"]),
        (make_sdist, {"meta_version": "9"}, ["PKG-INFO", "demo_pkg 9"]),
        (make_sdist, {"with_pkg_info": False}, ["no top-level PKG-INFO"]),
        (make_wheel, {"filename": "not-a-wheel.whl"}, ["not a valid wheel file name"]),
    ],
)
def test_dist_disagreeing_with_its_metadata(
    tmp_path: Path, maker: Callable[..., Path], kwargs: dict[str, object], fragments: list[str]
) -> None:
    path = maker(tmp_path, **kwargs)
    with pytest.raises(PublishError) as info:
        read_dist(path)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("name", ["demo_pkg-1.0-py3-none-any.whl", "demo_pkg-1.0.tar.gz"])
def test_damaged_dist(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"<html>not a dist</html>")
    with pytest.raises(PublishError, match="cannot be read"):
        read_dist(tmp_path / name)


def test_collect_pairs_sidecars_and_skips_other_files(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    wheel = make_wheel(dist)
    make_sdist(dist)
    for suffix in (".sigstore.json", ".sig", ".crt"):
        (dist / (wheel.name + suffix)).write_text("x")
    (dist / "notes.txt").write_text("x")
    (dist / "sub").mkdir()
    make_wheel(dist / "sub", "nested")  # one level only, like hatch's index publisher
    dists = collect_dists([dist])
    assert [d.filename for d in dists] == [
        "demo_pkg-1.0.0-py3-none-any.whl",
        "demo_pkg-1.0.0.tar.gz",
    ]
    assert [p.name for p in dists[0].sidecars] == [
        wheel.name + ".crt",
        wheel.name + ".sig",
        wheel.name + ".sigstore.json",
    ]
    # files given explicitly, the same file twice counts once
    assert len(collect_dists([wheel, wheel])) == 1


def test_collect_errors(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="does not exist"):
        collect_dists([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(PublishError, match=r"No wheel or sdist found.*hatch build"):
        collect_dists([tmp_path / "empty"])
    a, b = make_wheel(tmp_path / "a"), make_wheel(tmp_path / "b", payload=b"#")
    with pytest.raises(PublishError, match="Two different files"):
        collect_dists([a, b])


def test_dist_is_frozen(tmp_path: Path) -> None:
    d = read_dist(make_wheel(tmp_path))
    assert isinstance(d, Dist)
    with pytest.raises(AttributeError):
        d.name = "x"  # type: ignore[misc]
