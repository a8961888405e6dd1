"""Binding a dist to its release: its own metadata, read the way an installer would, or refused.

No servers: these are the archive attacks (renamed dists, two metadata files, path tricks, links,
bombs, repeated fields). The same checks run inside ``verify_files`` once a signature verified
(tests/verify/test_verifier_sandbox.py), in the download and in the publisher's preflight.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hatch_sigstore._files import NotRegularFileError
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.verify import release as rel
from hatch_sigstore.verify.release import (
    ReleaseError,
    bind_to_release,
    dist_filename,
    examine,
    read_release,
    tag_version,
    tag_version_problem,
)
from publish_helpers import make_sdist, make_wheel, metadata_text

WHEEL_INFO = "toy-1.0.0.dist-info"


def zip_of(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """A zip with exactly these members (duplicates and odd names allowed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        warnings.catch_warnings(),  # zipfile warns about the duplicates it is asked to write
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf,
    ):
        warnings.simplefilter("ignore")
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name), data)
    return path


def tar_of(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
                continue
            name, data = member
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def meta(name: str = "toy", version: str = "1.0.0") -> bytes:
    return metadata_text(name, version).encode()


# -- the release a dist names ------------------------------------------------------------------


def test_a_dist_agreeing_with_its_name_is_bound(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "My.Pkg", "1.0.0rc1")
    release = bind_to_release(wheel, "my-pkg", "1.0.0rc1")
    assert release is not None
    assert (release.kind, release.name, release.version, release.source) == (
        "wheel",
        "My.Pkg",
        "1.0.0rc1",
        "METADATA",
    )
    sdist = bind_to_release(make_sdist(tmp_path, "my_pkg", "2.0"), "My-Pkg", "2.0.0")
    assert sdist is not None
    assert (sdist.kind, sdist.source, sdist.project) == ("sdist", "PKG-INFO", "my-pkg")


def test_rollback_renamed_wheel_names_both_versions(tmp_path: Path) -> None:
    """A 0.9.0 wheel served as 1.0.0: the reason names both versions."""
    old = make_wheel(tmp_path / "old", "toy", "0.9.0")
    served = tmp_path / "toy-1.0.0-py3-none-any.whl"
    shutil.copyfile(old, served)
    with pytest.raises(ReleaseError) as info:
        bind_to_release(served, "toy", "1.0.0")
    text = str(info.value)
    assert "the file name says toy 1.0.0, but its METADATA says toy 0.9.0" in text
    assert "toy==1.0.0 was asked for" in text
    assert "rollback" in text


def test_sibling_package_under_this_name_is_refused(tmp_path: Path) -> None:
    sibling = make_wheel(tmp_path / "s", "toy_plugin", "1.0.0")
    served = tmp_path / "toy-1.0.0-py3-none-any.whl"
    shutil.copyfile(sibling, served)
    with pytest.raises(ReleaseError, match=r"METADATA says toy_plugin 1\.0\.0"):
        bind_to_release(served)


def test_sdist_renamed_is_refused(tmp_path: Path) -> None:
    old = make_sdist(tmp_path / "old", "toy", "0.9.0")
    served = tmp_path / "toy-1.0.0.tar.gz"
    shutil.copyfile(old, served)
    with pytest.raises(ReleaseError, match=r"file name says toy 1\.0\.0, but its PKG-INFO says"):
        bind_to_release(served)


@pytest.mark.parametrize(
    ("name", "version", "fragment"),
    [
        ("toy", "1.0.1", "not toy==1.0.1 as asked"),
        ("other", "1.0.0", "not other==1.0.0 as asked"),
        ("toy", None, None),
        ("TOY", "1.0", None),  # PEP 503 names, PEP 440 versions: 1.0 == 1.0.0
    ],
)
def test_the_request_binds_too(
    tmp_path: Path, name: str, version: str | None, fragment: str | None
) -> None:
    wheel = make_wheel(tmp_path, "toy", "1.0.0")
    if fragment is None:
        assert bind_to_release(wheel, name, version) is not None
        return
    with pytest.raises(ReleaseError, match=fragment):
        bind_to_release(wheel, name, version)


def test_non_dist_names_are_not_bound_unless_a_release_was_asked_for(tmp_path: Path) -> None:
    blob = tmp_path / "notes.bin"
    blob.write_bytes(b"x")
    assert bind_to_release(blob) is None
    assert bind_to_release(tmp_path / "bundle_v3_github.whl") is None  # no version: no dist
    with pytest.raises(ReleaseError, match="not a wheel or sdist"):
        bind_to_release(blob, "toy", "1.0")


@pytest.mark.parametrize(
    ("filename", "parsed"),
    [
        ("toy-1.0-py3-none-any.whl", ("wheel", "toy", "1.0")),
        ("Toy_Pkg-2.0.tar.gz", ("sdist", "toy-pkg", "2.0")),
        ("toy-2.0.zip", ("sdist", "toy", "2.0")),
        ("toy.whl", None),
        ("data.tar.gz", None),
        ("toy-1.0.txt", None),
    ],
)
def test_dist_filename(filename: str, parsed: tuple[str, str, str] | None) -> None:
    got = dist_filename(filename)
    assert (None if got is None else (got[0], got[1], str(got[2]))) == parsed


# -- hostile archives ---------------------------------------------------------------------------


def _wheel_members(extra: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [("toy/__init__.py", b""), (f"{WHEEL_INFO}/METADATA", meta()), *extra]


WHEEL_ATTACKS = [
    # a second .dist-info (pip: "multiple .dist-info directories found")
    (_wheel_members([("toy-0.9.0.dist-info/METADATA", meta(version="0.9.0"))]), "2 top-level"),
    # the same METADATA twice: zipfile reads the last, another reader the first
    (_wheel_members([(f"{WHEEL_INFO}/METADATA", meta(version="0.9.0"))]), "2 toy-1.0.0"),
    # a backslash: Windows extracts it as a second METADATA
    (_wheel_members([(f"{WHEEL_INFO}\\METADATA", meta(version="0.9.0"))]), "2 toy-1.0.0"),
    # a case twin of METADATA
    (_wheel_members([(f"{WHEEL_INFO}/metadata", meta(version="0.9.0"))]), "2 toy-1.0.0"),
    # a member outside the folder
    (_wheel_members([("../evil.pth", b"import os")]), "outside its folder"),
    (_wheel_members([("/etc/evil.pth", b"import os")]), "outside its folder"),
    # no METADATA, or a dist-info of another project
    ([("toy/__init__.py", b""), (f"{WHEEL_INFO}/RECORD", b"")], "has no"),
    # a METADATA that repeats Name, or names no version
    ([(f"{WHEEL_INFO}/METADATA", meta() + b"")], None),
    ([(f"{WHEEL_INFO}/METADATA", b"Name: toy\nName: evil\nVersion: 1.0.0\n")], "2 Name fields"),
    ([(f"{WHEEL_INFO}/METADATA", b"Name: toy\n")], "0 Version fields"),
    ([(f"{WHEEL_INFO}/METADATA", b"Name: toy\nVersion: one\n")], "no PEP 440 version"),
    ([(f"{WHEEL_INFO}/METADATA", b"Name: toy\n evil\nVersion: 1.0.0\n")], "no project name"),
]


@pytest.mark.parametrize(("members", "fragment"), WHEEL_ATTACKS)
def test_hostile_wheels(
    tmp_path: Path, members: list[tuple[str, bytes]], fragment: str | None
) -> None:
    wheel = zip_of(tmp_path / "toy-1.0.0-py3-none-any.whl", members)
    if fragment is None:
        release = read_release(wheel)
        assert (release.name, release.version) == ("toy", "1.0.0")
        return
    with pytest.raises(ReleaseError) as info:
        read_release(wheel)
    assert fragment in str(info.value)
    assert "toy-1.0.0-py3-none-any.whl is not a readable wheel" in str(info.value)


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


SDIST_ATTACKS: list[tuple[list[tarfile.TarInfo | tuple[str, bytes]], str]] = [
    ([("toy-1.0.0/PKG-INFO", meta()), ("toy-1.0.0/PKG-INFO", meta(version="0.9.0"))], "2 top"),
    ([("toy-1.0.0/PKG-INFO", meta()), ("toy-0.9.0/PKG-INFO", meta(version="0.9.0"))], "2 top"),
    ([("toy-1.0.0/PKG-INFO", meta()), ("toy-1.0.0/pkg-info", meta())], "2 top"),
    ([("./toy-1.0.0//PKG-INFO", meta()), ("toy-1.0.0/PKG-INFO", meta())], "2 top"),
    ([("toy-1.0.0/PKG-INFO", meta()), ("toy-1.0.0/../../x", b"")], "outside its folder"),
    ([_link("toy-1.0.0/PKG-INFO", "/etc/passwd")], "a link or special file"),
    (
        [("toy-1.0.0/x", meta()), _link("toy-1.0.0/PKG-INFO", "toy-1.0.0/x", tarfile.LNKTYPE)],
        "link",
    ),
    ([("toy-1.0.0/setup.py", b"")], "has no top-level PKG-INFO"),
    ([("toy-1.0.0/PKG-INFO", b"Version: 1.0.0\n")], "0 Name fields"),
]


@pytest.mark.parametrize(("members", "fragment"), SDIST_ATTACKS)
def test_hostile_sdists(
    tmp_path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], fragment: str
) -> None:
    sdist = tar_of(tmp_path / "toy-1.0.0.tar.gz", members)
    with pytest.raises(ReleaseError) as info:
        read_release(sdist)
    assert fragment in str(info.value)
    # examine reports the same problem, and still gives the whole file's digest
    examined = examine(sdist)
    assert examined.problem is not None
    assert fragment in examined.problem
    assert examined.sha256 == hashlib.sha256(sdist.read_bytes()).hexdigest()


@pytest.mark.parametrize("info_dir", ["other-1.0.0.dist-info", "toy-0.9.dist-info"])
def test_a_dist_info_directory_of_another_release(tmp_path: Path, info_dir: str) -> None:
    wheel = zip_of(tmp_path / "toy-1.0.0-py3-none-any.whl", [(f"{info_dir}/METADATA", meta())])
    with pytest.raises(ReleaseError, match=r"directory is not toy 1\.0\.0 as its METADATA says"):
        bind_to_release(wheel)


def test_huge_metadata_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rel, "MAX_METADATA_BYTES", 1000)
    big = meta() + b"x" * 2000
    wheel = zip_of(tmp_path / "toy-1.0.0-py3-none-any.whl", [(f"{WHEEL_INFO}/METADATA", big)])
    with pytest.raises(ReleaseError, match="over 1000"):
        read_release(wheel)
    sdist = tar_of(tmp_path / "toy-1.0.0.tar.gz", [("toy-1.0.0/PKG-INFO", big)])
    with pytest.raises(ReleaseError, match="over 1000"):
        read_release(sdist)


def test_an_sdist_bomb_stops_at_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member that unpacks past the cap: reading stops there, the digest is still whole."""
    monkeypatch.setattr(rel, "MAX_UNPACKED_BYTES", 1 << 20)
    sdist = tar_of(
        tmp_path / "toy-1.0.0.tar.gz",
        [("toy-1.0.0/zeros", bytes(4 << 20)), ("toy-1.0.0/PKG-INFO", meta())],
    )
    assert sdist.stat().st_size < 64 << 10  # zeros compress ~1000:1
    examined = examine(sdist)
    assert examined.problem is not None
    assert "unpacks to more than" in examined.problem
    assert examined.sha256 == hashlib.sha256(sdist.read_bytes()).hexdigest()


@pytest.mark.parametrize("maker", [make_wheel, make_sdist])
def test_examine_reads_digest_and_release_at_once(tmp_path: Path, maker: object) -> None:
    path = maker(tmp_path, "toy", "1.0.0", payload=b"p" * 300_000)  # type: ignore[operator]
    examined = examine(path)
    assert examined.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert examined.size == path.stat().st_size
    assert examined.release is not None
    assert (examined.release.name, examined.release.version) == ("toy", "1.0.0")
    assert bind_to_release(examined, "toy", "1.0.0") == examined.release


@pytest.mark.parametrize(
    ("file_version", "meta_version", "bound"),
    [
        ("1!1.0", "1.0", False),  # an epoch is part of the version
        ("1!1.0", "1!1.0.0", True),
        ("1.0+local", "1.0", False),  # so is a local label
        ("1.0", "1.0+local", False),
        ("1.0.post0", "1.0-post0", True),  # PEP 440 spellings of one version
        ("1.0rc1", "1.0c1", True),
    ],
)
def test_versions_are_compared_as_pep_440_says(
    tmp_path: Path, file_version: str, meta_version: str, bound: bool
) -> None:
    wheel = make_wheel(tmp_path, "toy", file_version, meta_version=meta_version)
    if bound:
        assert bind_to_release(wheel, "toy", file_version) is not None
    else:
        with pytest.raises(ReleaseError, match="is not the release its name says"):
            bind_to_release(wheel)


def test_a_request_for_no_version_is_a_config_error(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "toy", "1.0")
    with pytest.raises(ConfigError, match="no PEP 440 version"):
        bind_to_release(wheel, "toy", "not a version")


@pytest.mark.parametrize("maker", [make_wheel, make_sdist])
def test_examine_for_publishing_refuses_a_link(tmp_path: Path, maker: object) -> None:
    """Publishing examines without following links: a dist that is (or became) a link to a
    release elsewhere is refused, not read; verifying a file a user names still follows."""
    path = maker(tmp_path / "elsewhere", "toy", "1.0.0")  # type: ignore[operator]
    link = tmp_path / path.name
    link.symlink_to(path)
    with pytest.raises(NotRegularFileError, match="symbolic link"):
        examine(link, follow_symlinks=False)
    assert examine(link).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(["-py3-none-any.whl", ".tar.gz"]))
def test_examine_never_raises_on_garbage(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"toy-1.0.0{suffix}"
    path.write_bytes(data)
    examined = examine(path)
    assert examined.sha256 == hashlib.sha256(data).hexdigest()
    assert examined.release is None
    assert examined.problem is not None
    with pytest.raises(ReleaseError):
        examined.require_release()


# -- the tag's version ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "version"),
    [
        ("refs/tags/v1.2.3", "1.2.3"),
        ("refs/tags/1.2.3", "1.2.3"),
        ("refs/tags/V1.2.3rc1", "1.2.3rc1"),
        ("refs/tags/v1.2", "1.2"),
        ("refs/tags/release-1.2", None),
        ("refs/heads/v1.2.3", None),
        (None, None),
    ],
)
def test_tag_version(ref: str | None, version: str | None) -> None:
    got = tag_version(ref)
    assert (None if got is None else str(got)) == version


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("refs/tags/v1.0.0", None),
        ("refs/tags/1.0", None),  # PEP 440: 1.0 == 1.0.0
        ("refs/tags/v0.9.0", "signed at refs/tags/v0.9.0 (version 0.9.0)"),
        ("refs/heads/main", "signed at refs/heads/main, not at a tag"),
        ("refs/tags/latest", "a tag that names no PEP 440 version"),
    ],
)
def test_tag_version_problem(tmp_path: Path, ref: str, fragment: str | None) -> None:
    release = read_release(make_wheel(tmp_path, "toy", "1.0.0"))
    problem = tag_version_problem(release, ref, "toy.whl")
    if fragment is None:
        assert problem is None
    else:
        assert problem is not None
        assert fragment in problem
    assert "no version to tie" in (tag_version_problem(None, ref, "notes.bin") or "")
