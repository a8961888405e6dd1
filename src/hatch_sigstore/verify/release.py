"""Each dist bound to its release: its own metadata must say what its name and the request say.

A signature binds bytes, not a release: a signed ``toy-0.9.0`` wheel served as
``toy-1.0.0-py3-none-any.whl`` still verifies, and pip then installs 0.9.0. So once a dist's
signature verifies, its own core metadata (a wheel's ``*.dist-info/METADATA``, an sdist's
top-level ``PKG-INFO``) must name the same project (PEP 503 normalized) and the same version
(PEP 440) as its file name and, when one was asked for, the request; opt in, the version must
also be the certificate's tag (``refs/tags/v1.2.3`` ⇒ ``1.2.3``).

The archive may be hostile, so it is read the way an installer would resolve it and refused on
anything an installer could resolve differently: not exactly one top-level ``.dist-info``
directory (pip's rule) or ``PKG-INFO``, duplicate or case-twin members, ``\\`` separators
(Windows extracts them as ``/``), absolute or ``..`` paths, a link instead of a file, metadata
over :data:`MAX_METADATA_BYTES`, repeated ``Name``/``Version`` fields, or an sdist that unpacks
past :data:`MAX_UNPACKED_BYTES` (a gzip bomb stops there).

:func:`examine` reads a file once: the sha256 the signature is checked against and, for an
``.tar.gz`` sdist, the ``PKG-INFO`` from the same pass (a zip's metadata is a short seek to the
end). Standard library and packaging only.
"""

from __future__ import annotations

import email.parser
import email.policy
import gzip
import hashlib
import io
import re
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from email.message import Message
from pathlib import Path
from typing import BinaryIO, Literal

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from hatch_sigstore._files import CHUNK_SIZE, open_regular
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.verify._results import FileFailedError

DRAIN_CHUNK_SIZE = 16 * CHUNK_SIZE  # the digest's reads (at most four files at a time)

__all__ = [
    "MAX_METADATA_BYTES",
    "MAX_UNPACKED_BYTES",
    "Examined",
    "Release",
    "ReleaseError",
    "bind_to_release",
    "dist_filename",
    "examine",
    "read_release",
    "tag_version",
    "tag_version_problem",
]

Kind = Literal["wheel", "sdist"]

MAX_METADATA_BYTES = 16 * 1024 * 1024  # the largest long descriptions on PyPI are ~1 MB
MAX_UNPACKED_BYTES = 4 * 1024 * 1024 * 1024  # an sdist's tar stream is read no further
# PEP 508 names, as packaging's metadata validation spells them
_NAME = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE)


class ReleaseError(FileFailedError):
    """A dist is not the release it claims to be, or its metadata cannot be read safely."""


@dataclass(frozen=True)
class Release:
    """What a dist's own core metadata says it is."""

    kind: Kind
    name: str  # as the metadata writes it
    version: str  # as the metadata writes it
    source: Literal["METADATA", "PKG-INFO"]
    metadata: Message = field(repr=False, compare=False)
    info_dir: str | None = field(default=None, compare=False)  # a wheel's .dist-info

    @property
    def project(self) -> NormalizedName:
        return canonicalize_name(self.name)

    @property
    def parsed_version(self) -> Version:
        return Version(self.version)


@dataclass(frozen=True)
class Examined:
    """A file read once: its sha256 and size, and, for a dist, its release or why it has none."""

    path: Path
    sha256: str
    size: int
    release: Release | None = None  # None for a file whose name is no dist's
    problem: str | None = None  # why a dist's metadata could not be read

    def require_release(self) -> Release | None:
        """The release (None for a non-dist); :class:`ReleaseError` when it could not be read."""
        if self.problem is not None:
            raise ReleaseError(self.problem)
        return self.release


def dist_filename(filename: str) -> tuple[Kind, NormalizedName, Version] | None:
    """``(kind, name, version)`` of a wheel or sdist file name; None for any other name.

    A name that does not parse is no dist: pip refuses to install a wheel named so, and an
    index never serves one as a release.
    """
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            return "wheel", name, version
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return "sdist", name, version
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return None


# -- reading ------------------------------------------------------------------------------------


class _RefusedError(Exception):
    """Why an archive's metadata cannot be trusted (becomes a ReleaseError's text)."""


class _HashingReader(io.RawIOBase):
    """Raw file reads, each byte hashed exactly once as it comes off the disk."""

    def __init__(self, raw: io.RawIOBase) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        n = self.raw.readinto(view) or 0
        self.digest.update(view[:n])
        self.size += n
        return n

    def drain(self) -> None:
        # Big reads: this runs on a worker thread while sigstore loads on another, and every
        # read or hash gives the GIL back; with 1 MiB blocks the worker waits for it (up to the
        # 5 ms switch interval) more than it hashes, and the two no longer overlap.
        buffer = bytearray(DRAIN_CHUNK_SIZE)
        while self.readinto(buffer):
            pass


class _Capped(io.RawIOBase):
    """At most ``limit`` bytes of an unpacked stream: a bomb is refused, never unpacked."""

    def __init__(self, inner: io.BufferedIOBase, limit: int) -> None:
        self.inner, self.left = inner, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        n = self.inner.readinto(view) or 0
        self.left -= n
        if self.left < 0:
            raise _RefusedError(
                f"it unpacks to more than {MAX_UNPACKED_BYTES >> 30} GiB (a compression bomb?)"
            )
        return n


def _member_parts(name: str) -> list[str]:
    """A member's path as an installer would extract it; refused when it leaves the folder."""
    unified = name.replace("\\", "/")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if unified.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise _RefusedError(f"it has a member outside its folder ({name[:120]!r})")
    return parts


def _one(candidates: list[str], what: str, expected: str) -> str:
    if not candidates:
        raise _RefusedError(f"it has no {what}")
    if len(candidates) > 1:
        shown = ", ".join(repr(c[:120]) for c in candidates[:5])
        raise _RefusedError(
            f"it has {len(candidates)} {what} entries ({shown}); installers would pick one, "
            "and not necessarily the one checked here"
        )
    if candidates[0].replace("\\", "/").split("/")[-1] != expected:
        raise _RefusedError(f"its {what} is named {candidates[0][:120]!r}, not {expected}")
    return candidates[0]


def _wheel_metadata(zf: zipfile.ZipFile) -> tuple[bytes, str]:
    """pip's rule: exactly one top-level ``*.dist-info`` directory; its METADATA, and its name."""
    names = [info.filename for info in zf.infolist()]
    parts = [_member_parts(n) for n in names]
    tops = sorted({p[0] for p in parts if p and p[0].lower().endswith(".dist-info")})
    if len(tops) != 1:
        shown = ", ".join(tops[:5]) or "none"
        raise _RefusedError(
            f"it has {len(tops)} top-level .dist-info directories ({shown}), not one"
        )
    info_dir = tops[0]
    candidates = [
        n
        for n, p in zip(names, parts, strict=True)
        if len(p) == 2 and p[0] == info_dir and p[1].lower() == "metadata"
    ]
    member = _one(candidates, f"{info_dir}/METADATA", "METADATA")
    info = zf.getinfo(member)
    if info.file_size > MAX_METADATA_BYTES:
        raise _RefusedError(f"its METADATA is {info.file_size} bytes, over {MAX_METADATA_BYTES}")
    with zf.open(info) as handle:
        return handle.read(MAX_METADATA_BYTES + 1), info_dir


def _info_dir_problem(filename: str, release: Release) -> str | None:
    """The ``NAME-VERSION.dist-info`` directory must be the METADATA's project and version (pip
    checks the name; an installer records the directory as it is)."""
    if release.info_dir is None:
        return None
    dir_name, _, dir_version = release.info_dir[: -len(".dist-info")].partition("-")
    try:
        same_version = not dir_version or Version(dir_version) == release.parsed_version
    except InvalidVersion:
        same_version = False
    if canonicalize_name(dir_name) == release.project and same_version:
        return None
    return (
        f"{filename} is not a consistent wheel: its {release.info_dir} directory is not "
        f"{release.name} {release.version} as its METADATA says"
    )


def _zip_sdist_metadata(zf: zipfile.ZipFile) -> bytes:
    names = [info.filename for info in zf.infolist()]
    candidates = [n for n in names if _is_pkg_info(_member_parts(n))]
    member = _one(candidates, "top-level PKG-INFO", "PKG-INFO")
    info = zf.getinfo(member)
    if info.file_size > MAX_METADATA_BYTES:
        raise _RefusedError(f"its PKG-INFO is {info.file_size} bytes, over {MAX_METADATA_BYTES}")
    with zf.open(info) as handle:
        return handle.read(MAX_METADATA_BYTES + 1)


def _is_pkg_info(parts: list[str]) -> bool:
    return len(parts) == 2 and parts[1].lower() == "pkg-info"


def _tar_sdist_metadata(compressed: BinaryIO) -> bytes:
    """The one top-level PKG-INFO of a gzip'd tar, read as a stream (every member is looked at:
    a tar may hold the same name twice, and extraction keeps the last), unpacking no more than
    :data:`MAX_UNPACKED_BYTES`."""
    found: list[str] = []
    raw: bytes | None = None
    unpacked = io.BufferedReader(
        _Capped(gzip.GzipFile(fileobj=compressed, mode="rb"), MAX_UNPACKED_BYTES),
        CHUNK_SIZE,
    )
    with tarfile.open(fileobj=unpacked, mode="r|") as tf:
        for member in tf:
            if not _is_pkg_info(_member_parts(member.name)):
                continue
            found.append(member.name)
            if not member.isreg():
                raise _RefusedError(
                    f"its {member.name[:120]!r} is a link or special file, not a file"
                )
            if member.size > MAX_METADATA_BYTES:
                raise _RefusedError(
                    f"its PKG-INFO is {member.size} bytes, over {MAX_METADATA_BYTES}"
                )
            handle = tf.extractfile(member)
            if handle is not None:
                raw = handle.read(MAX_METADATA_BYTES + 1)
    _one(found, "top-level PKG-INFO", "PKG-INFO")
    assert raw is not None
    return raw


def _release_from(raw: bytes, kind: Kind) -> Release:
    source: Literal["METADATA", "PKG-INFO"] = "METADATA" if kind == "wheel" else "PKG-INFO"
    if len(raw) > MAX_METADATA_BYTES:
        raise _RefusedError(f"its {source} is over {MAX_METADATA_BYTES} bytes")
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    values: dict[str, str] = {}
    for header in ("Name", "Version"):
        found = [str(v) for v in message.get_all(header) or []]
        if len(found) != 1:
            raise _RefusedError(f"its {source} has {len(found)} {header} fields, not one")
        values[header] = found[0].strip()
    name, version = values["Name"], values["Version"]
    if not _NAME.fullmatch(name):
        raise _RefusedError(f"its {source} says Name: {name[:80]!r}, which is no project name")
    try:
        Version(version)
    except InvalidVersion:
        raise _RefusedError(
            f"its {source} says Version: {version[:80]!r}, which is no PEP 440 version"
        ) from None
    return Release(kind, name, version, source, message)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _RefusedError):
        return str(exc)
    return f"it cannot be read ({exc.__class__.__name__}: {str(exc)[:200]})"


_READ_ERRORS = (
    _RefusedError,
    zipfile.BadZipFile,
    tarfile.TarError,
    EOFError,
    zlib.error,
    OSError,  # gzip.BadGzipFile too
    ValueError,
    KeyError,
    NotImplementedError,
    RuntimeError,
)


def _problem(filename: str, kind: Kind, exc: BaseException) -> str:
    return f"{filename} is not a readable {kind}: {_describe(exc)}; its release cannot be checked"


def examine(path: str | Path, *, follow_symlinks: bool = True) -> Examined:
    """Read ``path`` once: its sha256 and size, and (for a dist) its release.

    Never raises for what is inside the file: a dist whose metadata cannot be trusted gets a
    ``problem`` (see :meth:`Examined.require_release`), reported once its signature verified.
    Raises :class:`OSError` when the file cannot be opened; with ``follow_symlinks=False``
    (publishing) :class:`~hatch_sigstore._files.NotRegularFileError` for a symbolic link or
    anything but a regular file. The release is read from the descriptor that was hashed, never
    from the name again, so the metadata and the digest are of the same file.
    """
    path = Path(path)
    parsed = dist_filename(path.name)
    opened = path.open("rb", buffering=0) if follow_symlinks else open_regular(path)
    with opened as handle:
        reader = _HashingReader(handle)
        release: Release | None = None
        problem: str | None = None
        if parsed is not None and path.name.endswith(".tar.gz"):
            try:
                buffered = io.BufferedReader(reader, CHUNK_SIZE)
                release = _release_from(_tar_sdist_metadata(buffered), "sdist")
            except _READ_ERRORS as exc:
                problem = _problem(path.name, "sdist", exc)
        reader.drain()
        sha256, size = reader.digest.hexdigest(), reader.size
        if parsed is not None and release is None and problem is None:
            try:
                handle.seek(0)
                release = _read_release(handle, path.name, parsed[0])
            except ReleaseError as exc:
                problem = str(exc)
            except OSError as exc:
                problem = _problem(path.name, parsed[0], exc)
    return Examined(path, sha256, size, release, problem)


def read_release(
    path: str | Path, *, _parsed: tuple[Kind, NormalizedName, Version] | None = None
) -> Release:
    """The release a dist's own metadata names; :class:`ReleaseError` when it cannot be read
    safely (or the file's name is no dist's)."""
    path = Path(path)
    parsed = _parsed or dist_filename(path.name)
    if parsed is None:
        raise ReleaseError(f"{path.name} is not a wheel or sdist file name")
    try:
        with path.open("rb") as handle:
            return _read_release(handle, path.name, parsed[0])
    except OSError as exc:
        raise ReleaseError(_problem(path.name, parsed[0], exc)) from None


def _read_release(handle: BinaryIO, filename: str, kind: Kind) -> Release:
    try:
        if filename.endswith(".tar.gz"):
            return _release_from(_tar_sdist_metadata(handle), kind)
        with zipfile.ZipFile(handle) as zf:
            if kind == "wheel":
                raw, info_dir = _wheel_metadata(zf)
                return replace(_release_from(raw, kind), info_dir=info_dir)
            return _release_from(_zip_sdist_metadata(zf), kind)
    except _READ_ERRORS as exc:
        raise ReleaseError(_problem(filename, kind, exc)) from None


# -- binding ------------------------------------------------------------------------------------


def bind_to_release(
    file: str | Path | Examined,
    expected_name: str | None = None,
    expected_version: str | Version | None = None,
) -> Release | None:
    """Check that a dist is the release its file name (and the request) say; None for a file
    whose name is no dist's (when nothing was expected of it).

    Its metadata's Name (normalized) and Version must equal the file name's and, when given,
    ``expected_name`` / ``expected_version``. Raises :class:`ReleaseError` naming both versions
    otherwise.
    """
    wanted = requested_version(expected_version)
    examined = file if isinstance(file, Examined) else None
    path = examined.path if examined is not None else Path(file)  # type: ignore[arg-type]
    parsed = dist_filename(path.name)
    if parsed is None:
        if expected_name is not None or expected_version is not None:
            raise ReleaseError(f"{path.name} is not a wheel or sdist file name")
        return None
    release = examined.require_release() if examined is not None else read_release(path)
    assert release is not None
    _kind, fn_name, fn_version = parsed
    says = f"its {release.source} says {release.name} {release.version}"
    if release.project != fn_name or release.parsed_version != fn_version:
        asked = (
            f", and {_request(expected_name, expected_version)} was asked for"
            if expected_name is not None or expected_version is not None
            else ""
        )
        raise ReleaseError(
            f"{path.name} is not the release its name says: the file name says {fn_name} "
            f"{fn_version}, but {says}{asked}; a dist renamed to pass for another release "
            "(a rollback or mix-and-match) is never kept"
        )
    inconsistent = _info_dir_problem(path.name, release)
    if inconsistent is not None:
        raise ReleaseError(inconsistent)
    wrong_name = expected_name is not None and release.project != canonicalize_name(expected_name)
    wrong_version = wanted is not None and release.parsed_version != wanted
    if wrong_name or wrong_version:
        raise ReleaseError(
            f"{path.name} is {release.name} {release.version} (its file name and {release.source} "
            f"agree), not {_request(expected_name, expected_version)} as asked"
        )
    return release


def requested_version(version: str | Version | None) -> Version | None:
    """The version asked for, parsed; :class:`ConfigError` when it is no PEP 440 version (a
    mistake of the caller, not of the file)."""
    if version is None or isinstance(version, Version):
        return version
    try:
        return Version(version)
    except InvalidVersion:
        raise ConfigError(
            f"The version asked for, {version[:80]!r}, is no PEP 440 version.",
            remediation="Ask for a version as PEP 440 spells it (1.0.0, 2.0rc1, 1!2.0).",
        ) from None


def _request(name: str | None, version: str | Version | None) -> str:
    return f"{name or '*'}=={version or '*'}"


def tag_version(ref: str | None) -> Version | None:
    """The version a tag ref names: ``refs/tags/v1.2.3`` ⇒ 1.2.3 (PEP 440 normalized, so a
    leading ``v`` is dropped); None for a branch, or a tag that names no version."""
    if ref is None or not ref.startswith("refs/tags/"):
        return None
    try:
        return Version(ref[len("refs/tags/") :])
    except InvalidVersion:
        return None


def tag_version_problem(release: Release | None, ref: str | None, filename: str) -> str | None:
    """Why ``release`` is not the version its certificate's tag names (None when it is)."""
    if release is None:
        return (
            f"{filename} is not a wheel or sdist, so it has no version to tie to the tag it was "
            "signed at (version-from-tag)"
        )
    if ref is None or not ref.startswith("refs/tags/"):
        return (
            f"{filename} was signed at {ref or 'no ref'}, not at a tag, so its version "
            f"{release.version} is not tied to a tag (version-from-tag)"
        )
    tagged = tag_version(ref)
    if tagged is None:
        return (
            f"{filename} was signed at {ref}, a tag that names no PEP 440 version, so its "
            f"version {release.version} is not tied to it (version-from-tag)"
        )
    if tagged != release.parsed_version:
        return (
            f"{filename} is version {release.version}, but it was signed at {ref} "
            f"(version {tagged}): a dist of another release (version-from-tag)"
        )
    return None
