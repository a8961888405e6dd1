"""What the PyPI stand-in checks in an uploaded file's name and archive, in warehouse's order.

From ``warehouse/forklift/legacy.py`` (``_validate_filename``, ``_is_valid_dist_file``, the
sdist and wheel name rules of PEP 625 / PEP 427, ``_valid_platform_tag``) and
``warehouse/utils/wheel.py`` (RECORD, entry points). Not modelled: the YARA scan and the ZIP
record-framing check (``warehouse/utils/zipfiles.py``).
"""

from __future__ import annotations

import configparser
import csv
import os.path
import re
import tarfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from hatch_sigstore.sandbox._pypi_form import FILETYPE_EXTENSIONS
from hatch_sigstore.sandbox._pypi_http import HTTPError

if TYPE_CHECKING:
    from packaging.metadata import Metadata

    from hatch_sigstore.sandbox._pypi_store import Project

__all__ = ["check_archive", "check_sdist_name", "check_wheel", "validate_filename"]

_PEP527 = "https://www.python.org/dev/peps/pep-0527"
_DIST_FILE = re.compile(r".+?(?P<extension>\.(tar\.gz|zip|whl))$", re.IGNORECASE)
_ALLOWED_PLATFORMS = {
    "any", "win32", "win_arm64", "win_amd64", "win_ia64", "manylinux1_x86_64",
    "manylinux1_i686", "manylinux2010_x86_64", "manylinux2010_i686", "manylinux2014_x86_64",
    "manylinux2014_i686", "manylinux2014_aarch64", "manylinux2014_armv7l", "manylinux2014_ppc64",
    "manylinux2014_ppc64le", "manylinux2014_s390x", "linux_armv6l", "linux_armv7l",
}  # fmt: skip
_MACOSX = re.compile(r"macosx_(?P<major>\d+)_(?P<minor>\d+)_(?P<arch>.*)")
_MACOSX_ARCHES = {
    "ppc", "ppc64", "i386", "x86_64", "arm64", "intel", "fat", "fat3", "fat64", "universal",
    "universal2",
}  # fmt: skip
_MACOSX_MAJORS = {"11", "12", "13", "14", "15", "26"}
_LINUX = re.compile(r"(?P<libc>(many|musl))linux_(\d+)_(\d+)_(?P<arch>.*)")
_LINUX_ARCHES = {"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"}
_IOS = re.compile(r"ios_(\d+)_(\d+)_(?P<arch>.*)_(iphoneos|iphonesimulator)")
_ANDROID = re.compile(r"android_(\d+)_(?P<arch>.*)")
_ANDROID_ARCHES = {"armeabi_v7a", "arm64_v8a", "x86", "x86_64"}
_PYEMSCRIPTEN = re.compile(r"pyemscripten_(?P<major>\d+)_(?P<minor>\d+)_wasm32")
_ENTRY_POINT_NAME = re.compile(r"[\w.-]+")


def valid_platform_tag(tag: str) -> bool:
    if tag in _ALLOWED_PLATFORMS:
        return True
    if (m := _MACOSX.match(tag)) and m.group("arch") in _MACOSX_ARCHES:
        if m.group("major") == "10":
            return True
        if m.group("major") in _MACOSX_MAJORS and m.group("minor") == "0":
            return True
    if m := _LINUX.match(tag):
        arches = _LINUX_ARCHES | ({"ppc64"} if m.group("libc") == "many" else set())
        return m.group("arch") in arches
    if (m := _IOS.match(tag)) and m.group("arch") in {"arm64", "x86_64"}:
        return True
    if (m := _ANDROID.match(tag)) and m.group("arch") in _ANDROID_ARCHES:
        return True
    return bool(_PYEMSCRIPTEN.match(tag))


def validate_filename(filename: str, filetype: str) -> None:
    """``_validate_filename``."""
    if any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise HTTPError(
            400,
            "Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL "
            "character (ordinal 127) in the name.",
        )
    if "/" in filename or "\\" in filename:
        raise HTTPError(400, "Cannot upload a file with '/' or '\\' in the name.")
    match = _DIST_FILE.match(filename)
    if match is None:
        raise HTTPError(
            400,
            f"Invalid file extension: Use .tar.gz, .whl or .zip extension. See {_PEP527} "
            "and https://peps.python.org/pep-0715/ for more information",
        )
    extension = match.group("extension")
    if extension not in FILETYPE_EXTENSIONS[filetype]:
        raise HTTPError(
            400,
            f"Invalid file extension: Extension {extension} is invalid for filetype "
            f"{filetype}. See {_PEP527} for more information.",
        )


def _commonpath(names: list[str]) -> str:
    return os.path.commonpath(names) if names else ""


def check_archive(path: Path, filename: str) -> str | None:
    """``_is_valid_dist_file``: None if the archive looks valid, else the reason (may be "")."""
    is_zip = zipfile.is_zipfile(path)
    is_tar = tarfile.is_tarfile(path)
    if is_zip and is_tar:
        return "File is both a zip and a tar file"
    if filename.endswith((".zip", ".whl")):
        if not is_zip:
            return "File is not a zipfile"
        try:
            with zipfile.ZipFile(path) as zfp:
                compressed = path.stat().st_size
                decompressed = sum(e.file_size for e in zfp.infolist())
                if decompressed > 64 * 1024 * 1024 and decompressed / max(compressed, 1) > 50:
                    return "File exceeds compression ratio of 50"
                if any(
                    z.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
                    for z in zfp.infolist()
                ):
                    return "File does not use a supported compression type"
                if filename.endswith(".zip"):
                    top = _commonpath(zfp.namelist())
                    if top in (".", "/", ""):
                        return "Incorrect number of top-level directories in sdist"
                    target = os.path.join(top, "PKG-INFO")
                    if target not in zfp.namelist():
                        return f"PKG-INFO not found at {target}"
                else:
                    parts = os.path.basename(filename).split("-", 2)
                    if len(parts) != 3:
                        return "Unable to parse name and version from wheel filename"
                    target = os.path.join(f"{parts[0]}-{parts[1]}.dist-info", "WHEEL")
                    if target not in zfp.namelist():
                        return f"WHEEL not found at {target}"
        except zipfile.BadZipFile:
            return ""
    elif filename.endswith(".tar.gz"):
        if not is_tar:
            return "File is not a tarfile"
        try:
            with tarfile.open(path, "r:gz") as tar:
                members = tar.getmembers()
                top = _commonpath([m.name for m in members])
                if any(m.issparse() for m in members):
                    return (
                        "tar archive not accepted: Sparse members are not allowed. "
                        "See https://docs.pypi.org/archives for more information"
                    )
                if top in (".", "/", ""):
                    return "Incorrect number of top-level directories in sdist"
                target = os.path.join(top, "PKG-INFO")
                try:
                    tar.getmember(target)
                except KeyError:
                    return f"PKG-INFO not found at {target}"
        except (tarfile.ReadError, EOFError, OSError):
            return ""
    return None


def check_sdist_name(filename: str, metadata: Metadata, project: Project) -> None:
    """The sdist name rules: the project's, PEP 625-normalized, the metadata's version."""
    from packaging.utils import InvalidSdistFilename, canonicalize_name, parse_sdist_filename
    from packaging.version import InvalidVersion, Version

    try:
        name_from_filename, _ = parse_sdist_filename(filename)
    except InvalidSdistFilename:
        raise HTTPError(400, f"Invalid source distribution filename: {filename}") from None
    name_text: str = name_from_filename
    if (
        metadata.version.is_postrelease
        and name_text != canonicalize_name(metadata.name)
        and filename.count("-") >= 2
    ):
        candidate = filename.rpartition("-")[0].rpartition("-")[0]
        try:
            Version(filename[len(candidate) + 1 : -len(".tar.gz")])
            name_text = candidate
        except InvalidVersion:
            pass
    if canonicalize_name(name_text) != project.normalized_name:
        raise HTTPError(
            400,
            f"Start filename for {project.name!r} with "
            f"{project.normalized_name.replace('-', '_')!r}.",
        )
    expected = f"{project.normalized_name.replace('-', '_')}-{metadata.version}.tar.gz"
    if filename != expected:
        raise HTTPError(400, f"Filename {filename!r} is invalid, should be {expected!r}.")


def check_license_files(path: Path, filename: str, metadata: Metadata) -> None:
    """Every License-File must be in the archive (PEP 639)."""
    if not metadata.license_files:
        return
    if filename.endswith(".tar.gz"):
        with tarfile.open(path, "r:gz") as tar:
            names = set(tar.getnames())
            top = _commonpath(sorted(names))
            targets = {lf: os.path.join(top, lf) for lf in metadata.license_files}
    else:
        with zipfile.ZipFile(path) as zfp:
            names = set(zfp.namelist())
            name, version, _ = filename.split("-", 2)
            targets = {
                lf: f"{name}-{version}.dist-info/licenses/{lf}" for lf in metadata.license_files
            }
    for license_file, target in targets.items():
        if target not in names:
            raise HTTPError(
                400,
                f"License-File {license_file} does not exist in distribution file "
                f"{filename} at {target}",
            )


def check_wheel(path: Path, filename: str, metadata: Metadata, project: Project) -> bytes:
    """The wheel rules; returns the METADATA file's bytes (served as PEP 658 metadata)."""
    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

    try:
        name, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise HTTPError(400, str(exc)) from None
    for tag in tags:
        if not valid_platform_tag(tag.platform):
            raise HTTPError(
                400,
                f"Binary wheel '{filename}' has an unsupported platform tag '{tag.platform}'.",
            )
    canonical = canonicalize_name(metadata.name)
    if canonical != name:
        raise HTTPError(
            400, f"Start filename for {project.name!r} with {canonical.replace('-', '_')!r}."
        )
    name_from_filename = filename.split("-", 1)[0]
    normalized = project.normalized_name.replace("-", "_")
    if name_from_filename != normalized:
        raise HTTPError(
            400,
            f"Filename {filename!r} should contain the normalized project name "
            f"{normalized!r}, not {name_from_filename!r}.",
        )
    if metadata.version != version:
        raise HTTPError(
            400, f"Version in filename should be {str(metadata.version)!r} not {str(version)!r}."
        )
    check_license_files(path, filename, metadata)
    dist_name, dist_version, _ = filename.split("-", 2)
    info = f"{dist_name}-{dist_version}.dist-info"
    with zipfile.ZipFile(path) as zfp:
        names = set(zfp.namelist())
        try:
            record = zfp.read(f"{info}/RECORD").decode()
            list(csv.reader(record.splitlines()))
        except (UnicodeError, KeyError, csv.Error):
            raise HTTPError(
                400,
                f"Wheel '{filename}' does not contain the required RECORD file: {info}/RECORD",
            ) from None
        # a RECORD that disagrees with the archive only makes warehouse e-mail the owners
        if f"{info}/entry_points.txt" in names:
            _check_entry_points(zfp.read(f"{info}/entry_points.txt"), filename)
        try:
            return zfp.read(f"{info}/METADATA")
        except KeyError:
            raise HTTPError(
                400,
                f"Wheel '{filename}' does not contain the required METADATA file: {info}/METADATA",
            ) from None


def _check_entry_points(data: bytes, filename: str) -> None:
    error = HTTPError(
        400, f"Wheel '{filename}' has invalid entry points defined in the entry_points.txt file"
    )
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(data.decode())
    except (UnicodeError, configparser.Error):
        raise error from None
    for section in ("console_scripts", "gui_scripts"):
        if section in parser and any(
            _ENTRY_POINT_NAME.fullmatch(name) is None for name in parser[section]
        ):
            raise error
