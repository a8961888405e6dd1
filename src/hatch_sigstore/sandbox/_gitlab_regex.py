"""GitLab's package-registry regexes (``lib/gitlab/regex/packages.rb``), translated to Python.

Ruby's ``\\w`` is ASCII ``[A-Za-z0-9_]`` and ``\\z`` is Python's ``\\Z``; Ruby's atomic groups
``(?>…)`` are written as ``(?=(…))\\N`` so that this also runs on Python 3.10.
"""

from __future__ import annotations

import re

__all__ = [
    "GENERIC_FILE_NAME",
    "GENERIC_FILE_NAME_V17",
    "GENERIC_FILE_NAME_V18",
    "GENERIC_FILE_NAME_V18_AT",
    "GENERIC_PACKAGE_NAME",
    "GENERIC_VERSION",
    "PYPI_NAME",
    "PYPI_VERSION",
    "SHA256",
    "normalize_pypi_name",
]

_A = re.ASCII

# package_name_regex (PyPI names), atomic groups emulated with lookahead + backreference.
PYPI_NAME = re.compile(
    r"\A@?(?=((?:[\w\-.+]*/)*[\w\-.]+))\1@?(?=((?:[\w\-.+]*/)*[\w\-.]*))\2\Z",
    _A,
)

# pypi_version_regex, flags x + i.
PYPI_VERSION = re.compile(
    r"""\A(?:
      v?
      (?:([0-9]+)!)?                                                 (?# epoch)
      ([0-9]+(?:\.[0-9]+)*)                                          (?# release segment)
      ([-_\.]?((a|b|c|rc|alpha|beta|pre|preview))[-_\.]?([0-9]+)?)?  (?# pre-release)
      ((?:-([0-9]+))|(?:[-_\.]?(post|rev|r)[-_\.]?([0-9]+)?))?       (?# post release)
      ([-_\.]?(dev)[-_\.]?([0-9]+)?)?                                (?# dev release)
      (?:\+([a-z0-9]+(?:[-_\.][a-z0-9]+)*))?                         (?# local version)
    )\Z""",
    _A | re.VERBOSE | re.IGNORECASE,
)

SHA256 = re.compile(r"\A[0-9a-f]{64}\Z", _A | re.IGNORECASE)

# generic_package_name_regex = maven_file_name_regex
GENERIC_PACKAGE_NAME = re.compile(r"\A[A-Za-z0-9._\-+]+\Z", _A)
# generic_package_version_regex = maven_version_regex (current). `.` does not match a newline.
GENERIC_VERSION = re.compile(r"\A(?!.*\.\.)[\w+.-]+\Z", _A)
# generic_package_file_name_regex, by GitLab version:
# <= 17.10: the package-name regex (no ~; gitlab-org/gitlab#537633 was filed on 17.10.3);
GENERIC_FILE_NAME_V17 = re.compile(r"\A[A-Za-z0-9._\-+]+\Z", _A)
# 18.x: ~ inside the name (/\A(?!~)[A-Za-z0-9\.\_\-\+~]+(?<!~)\z/), no @ -- the default;
GENERIC_FILE_NAME_V18 = re.compile(r"\A(?!~)[A-Za-z0-9._\-+~]+(?<!~)\Z", _A)
# a variant that also takes @ inside the name, seen in another stored copy of the same file.
# Which of the two is the later one could not be told from the stored copies.
GENERIC_FILE_NAME_V18_AT = re.compile(r"\A(?!~)(?!@)[A-Za-z0-9._\-+~@]+(?<!~)(?<!@)\Z", _A)
GENERIC_FILE_NAME = GENERIC_FILE_NAME_V18  # the stand-in's default

_PYPI_NORMALIZE = re.compile(r"[-_.]+")


def normalize_pypi_name(name: str) -> str:
    """GitLab's ``LOWER(regexp_replace(name, '[-_.]+', '-', 'g'))`` (PEP 503)."""
    return _PYPI_NORMALIZE.sub("-", name).lower()
