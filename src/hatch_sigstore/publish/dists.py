"""The dists to publish: each wheel and sdist, its metadata checked, paired with its sidecars.

Every dist's metadata is read (by :mod:`hatch_sigstore.verify.release`, the one reader the
verifier, the download and the publisher share) and checked against its file name: the index
would otherwise serve a package under a name or version its installer does not expect.

Only regular files inside the dist folder are published: a dist or a signature file that is a
symbolic link (``dist/X.sig`` pointing at a secret elsewhere) or anything else that is not a
regular file (a FIFO, a directory named like a wheel) stops the publish before anything is
sent.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion

from hatch_sigstore._files import BUNDLE_SUFFIX, SIDECAR_SUFFIXES, SIGNATURE_SUFFIX, is_sidecar
from hatch_sigstore._names import is_generic_filename
from hatch_sigstore.errors import PublishError
from hatch_sigstore.verify.release import (
    Examined,
    Release,
    ReleaseError,
    bind_to_release,
    examine,
)

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
    """A wheel or sdist, its core metadata, and the signature files found beside it.

    ``examined``: the file already read once (an sdist, whose metadata read is a full pass that
    also gives the digest), so preflight does not read it again; None for a wheel, whose
    digest preflight reads while the verifier loads.
    """

    path: Path
    kind: Literal["wheel", "sdist"]
    name: str  # as in the metadata
    version: str  # as in the metadata
    size: int
    sidecars: tuple[Path, ...]
    pypi_metadata: Mapping[str, str] = field(default_factory=dict, repr=False)
    examined: Examined | None = field(default=None, repr=False, compare=False)

    @property
    def filename(self) -> str:
        return self.path.name


def _regular_file(path: Path, what: str) -> os.stat_result | None:
    """``lstat`` of ``path``; None when absent; PublishError for a link or a non-file."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PublishError(
            f"Cannot read {what} {path} ({exc.strerror or exc}).",
            remediation="Check the dist folder's permissions.",
        ) from None
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        raise PublishError(
            f"{what.capitalize()} {path} is a symbolic link (to {target!r}); hatch-sigstore "
            "publishes only regular files inside the dist folder, so a link can never carry "
            "a file from elsewhere (a secret, another release) into the registry. Nothing "
            "was uploaded.",
            remediation=f"Replace the link with the file itself, or remove {path.name}.",
        )
    if not stat.S_ISREG(st.st_mode):
        raise PublishError(
            f"{what.capitalize()} {path} is not a regular file. Nothing was uploaded.",
            remediation=f"Remove {path.name} from the dist folder.",
        )
    return st


def _sidecars(path: Path) -> tuple[Path, ...]:
    found = []
    for suffix in SIDECAR_SUFFIXES:
        candidate = path.with_name(path.name + suffix)
        if _regular_file(candidate, "the signature file") is not None:
            found.append(candidate)
    return tuple(sorted(found, key=lambda p: p.name))


def _pypi_fields(release: Release) -> dict[str, str]:
    meta = release.metadata
    pypi: dict[str, str] = {}
    for form_key, (header, limit) in _PYPI_FIELDS.items():
        value = meta.get(header)
        if value:
            pypi[form_key] = str(value).strip()[:limit]
    body = meta.get_payload()
    description = meta.get("Description") or (body if isinstance(body, str) else "")
    if description and description.strip():
        pypi["description"] = description.strip()[:_DESCRIPTION_MAX]
    return pypi


def read_dist(path: Path) -> Dist:
    """Read a dist's metadata and check it against its file name; PublishError on any mismatch."""
    filename = path.name
    kind: Literal["wheel", "sdist"]
    try:
        if filename.endswith(".whl"):
            kind = "wheel"
            parse_wheel_filename(filename)
        else:
            kind = "sdist"
            parse_sdist_filename(filename)
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
    st = _regular_file(path, "the dist")
    if st is None:
        raise PublishError(f"{path} does not exist.", remediation="Build first (hatch build).")
    examined: Examined | None = None
    try:
        # An sdist's metadata is a full pass over the file: take its digest in the same pass.
        if kind == "sdist":
            examined = examine(path, follow_symlinks=False)  # swapped for a link: refused
            release = bind_to_release(examined)
        else:
            release = bind_to_release(path)
    except ReleaseError as exc:
        raise PublishError(
            f"{exc}.",
            remediation="Rebuild the dist instead of renaming or editing it (the index would "
            "serve a package under a name or version its installer does not expect).",
        ) from None
    except OSError as exc:
        raise PublishError(
            f"{filename} cannot be read ({exc.strerror or exc}).", remediation="Rebuild it."
        ) from None
    assert release is not None  # a dist's file name, so a release or an error
    for part in (filename, *(filename + s for s in (BUNDLE_SUFFIX, SIGNATURE_SUFFIX))):
        if not is_generic_filename(part):
            raise PublishError(
                f"{filename} has characters GitLab's generic registry refuses in file names.",
                remediation="Only letters, digits and . _ - + are accepted.",
            )
    return Dist(
        path=path,
        kind=kind,
        name=release.name,
        version=release.version,
        size=st.st_size,
        sidecars=_sidecars(path),
        pypi_metadata=_pypi_fields(release),
        examined=examined,
    )


def _publishable_name(name: str) -> bool:
    return is_sidecar(name) or name.endswith((".whl", ".tar.gz"))


def collect_dists(artifacts: Iterable[Path]) -> list[Dist]:
    """Wheels and sdists among ``artifacts`` (files as given, directories one level deep)."""
    files: list[Path] = []
    for artifact in artifacts:
        if artifact.is_dir():
            # every entry that would be published must be a regular file (links refused)
            files.extend(sorted(p for p in artifact.iterdir() if _publishable_name(p.name)))
        elif artifact.is_file() or artifact.is_symlink():
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
        if is_sidecar(f):
            _regular_file(f, "the signature file")
            continue
        if not f.name.endswith((".whl", ".tar.gz")):
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
