"""Names: which file names are plain, and where a release's signatures live in GitLab.

One copy of each rule, shared by the publisher (which uploads), the registry client (which
builds URLs and reads index pages) and the download (which writes what an index names):

* :func:`is_safe_filename`: a plain distribution or sidecar file name, safe to write and to
  put into a URL path: ASCII letters, digits and ``. _ + ! -`` (``!`` for PEP 440 epochs),
  starting with a letter or digit, no ``..``, at most 255 characters;
* :func:`is_generic_name`, :func:`is_generic_version`, :func:`is_generic_filename`: what every
  GitLab version's generic package registry accepts (``generic_package_name_regex``,
  ``generic_package_file_name_regex`` and ``generic_package_version_regex`` of
  ``Gitlab::Regex::Packages``, gitlab-org/gitlab ``lib/gitlab/regex.rb``, intersected over
  versions: letters, digits and ``. _ + -``, no ``..`` in versions);
* :func:`generic_coordinates`: the generic package holding a release's signature files.

Project names are normalized with packaging's ``canonicalize_name`` (PEP 503), never by hand.
"""

from __future__ import annotations

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from hatch_sigstore.errors import PublishError

__all__ = [
    "MAX_NAME",
    "generic_coordinates",
    "is_generic_filename",
    "is_generic_name",
    "is_generic_version",
    "is_safe_filename",
]

MAX_NAME = 255
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_SAFE = _ALNUM | frozenset("._+!-")
_GENERIC = _ALNUM | frozenset("._+-")


def is_safe_filename(name: str) -> bool:
    """A plain file name: no separators, no traversal, no control or non-ASCII characters."""
    return (
        0 < len(name) <= MAX_NAME
        and name[0] in _ALNUM
        and _SAFE.issuperset(name)
        and ".." not in name
    )


def is_generic_name(name: str) -> bool:
    """A package name every GitLab version's generic registry accepts."""
    return 0 < len(name) <= MAX_NAME and _GENERIC.issuperset(name)


def is_generic_version(version: str) -> bool:
    """A package version every GitLab version's generic registry accepts (no ``..``)."""
    return is_generic_name(version) and ".." not in version


def is_generic_filename(name: str) -> bool:
    """A file name every GitLab version's generic registry accepts (and a plain one)."""
    return is_generic_name(name) and is_safe_filename(name)


def generic_coordinates(name: str, version: str | Version) -> tuple[str, str]:
    """The generic registry package name and version holding a release's signature files.

    Name: the PEP 503 normalized project name (``My_Pkg`` → ``my-pkg``). Version: the PEP 440
    normalized version, with an epoch's ``!`` (which GitLab rejects) written as ``-``
    (``1!2.0`` → ``1-2.0``; normalized versions never contain ``-`` otherwise, so this cannot
    collide). The publisher uploads there and the download reads there, each computing the
    coordinates from the distribution's name and version however a file name or a request
    spells them.
    """
    package = canonicalize_name(name)
    try:
        normalized = str(Version(str(version)))
    except InvalidVersion:
        raise PublishError(
            f"The version {version!r} is not a valid PEP 440 version.",
            remediation="Fix the project's version and rebuild.",
        ) from None
    generic_version = normalized.replace("!", "-")
    if not is_generic_name(package):
        raise PublishError(f"The name {name!r} cannot be a GitLab generic package name.")
    if not is_generic_version(generic_version):
        raise PublishError(
            f"The version {version!r} cannot be written as a GitLab generic package version."
        )
    return package, generic_version
