"""Choosing what to download: the one exact release asked for, and the index links of it.

A page with one hostile link (another host, credentials, a path that names another file, a
name no distribution has) is not trusted for the others either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from hatch_sigstore._names import is_safe_filename
from hatch_sigstore._urls import origin, same_origin
from hatch_sigstore.errors import ConfigError, RegistryError

if TYPE_CHECKING:
    from hatch_sigstore.gitlab import IndexFile

__all__ = [
    "Kind",
    "SelectedFile",
    "check_filename",
    "parse_dist_filename",
    "parse_requirement",
    "parse_size",
    "select_files",
]

Kind = Literal["wheel", "sdist"]


def parse_requirement(text: str) -> tuple[NormalizedName, Version]:
    """``NAME==VERSION`` → (normalized name, version). Nothing but one exact version is accepted."""
    hint = "Ask for one exact release, e.g. 'hatch-sigstore download my-package==1.2.0 …'."
    try:
        requirement = Requirement(text.strip())
    except InvalidRequirement:
        raise ConfigError(
            f"{text!r} is not a requirement of the form NAME==VERSION.", remediation=hint
        ) from None
    specifiers = list(requirement.specifier)
    if (
        requirement.url
        or requirement.extras
        or requirement.marker
        or len(specifiers) != 1
        or specifiers[0].operator not in ("==", "===")
        or "*" in specifiers[0].version
    ):
        raise ConfigError(
            f"{text!r} does not name one exact version: download verifies a release, "
            "not a range (no extras, markers, URLs or wildcards).",
            remediation=hint,
        )
    try:
        version = Version(specifiers[0].version)
    except InvalidVersion:
        raise ConfigError(
            f"{specifiers[0].version!r} in {text!r} is not a PEP 440 version.", remediation=hint
        ) from None
    return canonicalize_name(requirement.name), version


def parse_size(text: str) -> int:
    """``500M``, ``1G``, ``1048576``, ``64KiB`` → bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(
            f"{text!r} is not a size.",
            remediation="Give --max-size as a positive number of bytes or with a unit: "
            "500M, 1G, 64K.",
        )
    power = "kmgt".find(match.group(2).lower()) + 1 if match.group(2) else 0
    return int(match.group(1)) << (10 * power)


@dataclass(frozen=True)
class SelectedFile:
    filename: str
    kind: Kind
    url: str
    index_sha256: str | None
    version: Version


def check_filename(filename: str, *, source: str) -> None:
    """Refuse names that are not plain distribution file names (traversal, odd characters)."""
    if not is_safe_filename(filename):
        raise RegistryError(
            f"The registry's {source} lists a file named {filename[:120]!r}, which is not a "
            "plain distribution file name (path separators, '..', or characters that no wheel "
            "or sdist name contains). Refusing to write anything it names.",
            remediation="The server is broken or hostile: check the --url and --project you "
            "gave, and tell the registry's administrators.",
        )


def select_files(
    files: Iterable[IndexFile],
    name: str,
    version: Version,
    *,
    api_url: str,
    only: Kind | None = None,
    server_url: str | None = None,
) -> list[SelectedFile]:
    """The wheels and sdists of exactly ``name==version`` among an index page's links.

    Raises :class:`RegistryError` if any link points to another host (than the API URL's or
    the GitLab server's, ``server_url``: GitLab builds links on its external_url) or names a
    file that is not a plain file name: a page with one hostile link is not trusted for the
    others either. Links of other versions, other projects and unknown file types are left out.
    """
    wanted = canonicalize_name(name)
    chosen: dict[str, SelectedFile] = {}
    for entry in files:
        filename = entry.filename
        check_filename(filename, source="simple index")
        parts = urlsplit(entry.url)
        if parts.username is not None or parts.password is not None:
            raise RegistryError(
                f"The simple index links {filename!r} to a URL with credentials in it. "
                "Refusing it.",
                remediation="The server is broken or hostile; tell its administrators.",
            )
        homes = [api_url, *([server_url] if server_url else [])]
        if not any(same_origin(entry.url, home) for home in homes):
            raise RegistryError(
                f"The simple index links {filename!r} to another host "
                f"({origin(entry.url)}, not the registry at "
                f"{' or '.join(dict.fromkeys(origin(h) for h in homes))}). "
                "Refusing to follow it: a file must come from the registry you asked.",
                remediation=f"If {origin(entry.url)} is the same GitLab (its external_url), "
                f"pass --url {origin(entry.url)}/api/v4 or --server {origin(entry.url)}; "
                "otherwise download the files yourself and use 'hatch-sigstore verify'.",
            )
        last = unquote(parts.path.rsplit("/", 1)[-1])
        if last != filename:
            raise RegistryError(
                f"The simple index links {filename!r} to a URL for another file "
                f"({last[:80]!r}). Refusing it.",
                remediation="The server is broken or hostile; tell its administrators.",
            )
        parsed = parse_dist_filename(filename)
        if parsed is None:
            continue
        kind, dist_name, dist_version = parsed
        if dist_name != wanted or dist_version != version or (only and kind != only):
            continue
        sha = (entry.sha256 or "").lower() or None
        chosen.setdefault(
            filename,
            SelectedFile(filename, kind, entry.url, sha, dist_version),
        )
    return sorted(chosen.values(), key=lambda f: (f.kind != "wheel", f.filename))


def parse_dist_filename(filename: str) -> tuple[Kind, NormalizedName, Version] | None:
    """``(kind, name, version)`` of a wheel or sdist file name, None for any other name (the
    verifier's rule: :func:`hatch_sigstore.verify.release.dist_filename`)."""
    from hatch_sigstore.verify.release import dist_filename

    return dist_filename(filename)
