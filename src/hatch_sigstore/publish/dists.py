"""The dists to publish: each wheel and sdist, its metadata checked, paired with its sidecars.

Every dist's metadata is read and checked against its file name (the index would otherwise
serve a package under a name or version its installer does not expect).
"""

from __future__ import annotations

import email.parser
import email.policy
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Literal

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from hatch_sigstore._files import BUNDLE_SUFFIX, SIGNATURE_SUFFIX, is_sidecar, sidecars_of
from hatch_sigstore._names import is_generic_filename
from hatch_sigstore.errors import PublishError

__all__ = ["Dist", "collect_dists", "read_dist"]

# Metadata fields sent with a PyPI upload, truncated to GitLab's limits (the MAX_*_LENGTH
# constants of Packages::Pypi::Metadatum, gitlab-org/gitlab app/models/packages/pypi/metadatum.rb).
_PYPI_FIELDS = {
    "metadata_version": ("Metadata-Version", 16),
    "summary": ("Summary", 255),
    "requires_python": ("Requires-Python", 255),
    "author_email": ("Author-email", 2048),
    "keywords": ("Keywords", 1024),
    "description_content_type": ("Description-Content-Type", 128),
}
_DESCRIPTION_MAX = 4000


@dataclass(frozen=True)
class Dist:
    """A wheel or sdist, its core metadata, and the signature files found beside it."""

    path: Path
    kind: Literal["wheel", "sdist"]
    name: str  # as in the metadata
    version: str  # as in the metadata
    size: int
    sidecars: tuple[Path, ...]
    pypi_metadata: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def filename(self) -> str:
        return self.path.name


def _read_metadata_bytes(path: Path, kind: str) -> bytes:
    if kind == "wheel":
        with zipfile.ZipFile(path) as zf:
            candidates = [
                n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(candidates) != 1:
                raise PublishError(
                    f"{path.name} has {len(candidates)} .dist-info/METADATA files; a wheel has "
                    "exactly one.",
                    remediation="Rebuild it (hatch build).",
                )
            info = zf.getinfo(candidates[0])
            if info.file_size > 16 * 1024 * 1024:
                raise PublishError(f"{path.name}: METADATA is implausibly large.")
            return zf.read(info)
    # sdist: the top-level PKG-INFO (hatchling writes it; PEP 643 requires it).
    with tarfile.open(path, "r:gz") as tf:
        for member in tf:
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                if member.size > 16 * 1024 * 1024:
                    raise PublishError(f"{path.name}: PKG-INFO is implausibly large.")
                handle = tf.extractfile(member)
                assert handle is not None
                return handle.read()
    raise PublishError(
        f"{path.name} has no top-level PKG-INFO, so its name and version cannot be read.",
        remediation="Rebuild the sdist with a PEP 517 backend (hatch build -t sdist).",
    )


def _parse_metadata(raw: bytes) -> Message:
    parser = email.parser.BytesParser(policy=email.policy.compat32)
    return parser.parsebytes(raw)


def read_dist(path: Path) -> Dist:
    """Read a dist's metadata and check it against its file name; PublishError on any mismatch."""
    filename = path.name
    kind: Literal["wheel", "sdist"]
    try:
        if filename.endswith(".whl"):
            kind = "wheel"
            fn_name, fn_version, _build, _tags = parse_wheel_filename(filename)
        else:
            kind = "sdist"
            fn_name, fn_version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise PublishError(
            f"{filename} is not a valid {'wheel' if filename.endswith('.whl') else 'sdist'} "
            f"file name ({exc}).",
            remediation="Publish the files exactly as the build backend named them.",
        ) from None
    if kind == "sdist" and not filename.endswith(".tar.gz"):
        raise PublishError(
            f"{filename} is a .zip sdist; PEP 625 sdists are .tar.gz.",
            remediation="Rebuild the sdist (hatch build -t sdist).",
        )
    try:
        raw = _read_metadata_bytes(path, kind)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise PublishError(
            f"{filename} cannot be read as a {kind} ({exc.__class__.__name__}: {exc}).",
            remediation="Rebuild it; the file is damaged or not what its name says.",
        ) from None
    meta = _parse_metadata(raw)
    name, version = (meta.get("Name") or "").strip(), (meta.get("Version") or "").strip()
    source = "METADATA" if kind == "wheel" else "PKG-INFO"
    if not name or not version:
        raise PublishError(
            f"{filename}: its {source} has no {'Name' if not name else 'Version'}.",
            remediation="Rebuild it with a PEP 517 backend.",
        )
    try:
        meta_version = Version(version)
    except InvalidVersion:
        raise PublishError(
            f"{filename}: its {source} says Version: {version}, which is not a PEP 440 version.",
            remediation="Fix the version and rebuild.",
        ) from None
    if canonicalize_name(name) != fn_name or meta_version != fn_version:
        raise PublishError(
            f"{filename} does not agree with its own {source}: the file name says "
            f"{fn_name} {fn_version}, the metadata says {name} {version}.",
            remediation="Rebuild the dist instead of renaming it (the index would serve a "
            "package under a name or version its installer does not expect).",
        )
    for part in (filename, *(filename + s for s in (BUNDLE_SUFFIX, SIGNATURE_SUFFIX))):
        if not is_generic_filename(part):
            raise PublishError(
                f"{filename} has characters GitLab's generic registry refuses in file names.",
                remediation="Only letters, digits and . _ - + are accepted.",
            )
    pypi: dict[str, str] = {}
    for form_key, (header, limit) in _PYPI_FIELDS.items():
        value = meta.get(header)
        if value:
            pypi[form_key] = str(value).strip()[:limit]
    body = meta.get_payload()
    description = meta.get("Description") or (body if isinstance(body, str) else "")
    if description and description.strip():
        pypi["description"] = description.strip()[:_DESCRIPTION_MAX]
    sidecars = tuple(sorted(sidecars_of(path).values(), key=lambda p: p.name))
    return Dist(
        path=path,
        kind=kind,
        name=name,
        version=version,
        size=path.stat().st_size,
        sidecars=sidecars,
        pypi_metadata=pypi,
    )


def collect_dists(artifacts: Iterable[Path]) -> list[Dist]:
    """Wheels and sdists among ``artifacts`` (files as given, directories one level deep)."""
    files: list[Path] = []
    for artifact in artifacts:
        if artifact.is_dir():
            files.extend(sorted(p for p in artifact.iterdir() if p.is_file()))
        elif artifact.is_file():
            files.append(artifact)
        else:
            raise PublishError(
                f"The artifact path {str(artifact)!r} does not exist.",
                remediation="Build first (hatch build), or pass existing files or directories "
                "to hatch publish (default: dist/).",
            )
    seen: dict[str, Path] = {}
    dists: list[Dist] = []
    for f in files:
        if is_sidecar(f) or not (f.name.endswith(".whl") or f.name.endswith(".tar.gz")):
            continue
        if f.name in seen:
            if seen[f.name].resolve() == f.resolve():
                continue
            raise PublishError(
                f"Two different files are both named {f.name}: {seen[f.name]} and {f}.",
                remediation="Publish one of them.",
            )
        seen[f.name] = f
        dists.append(read_dist(f))
    if not dists:
        where = ", ".join(str(a) for a in artifacts)
        raise PublishError(
            f"No wheel or sdist found in {where}.",
            remediation="Build first (hatch build), or pass the files to publish.",
        )
    return dists
