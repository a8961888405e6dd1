"""Where a file may go in GitLab's generic registry: checked before anything is sent.

GitLab's rules (gitlab-org/gitlab ``lib/gitlab/regex/packages.rb``): package names
``generic_package_name_regex`` (letters, digits, ``. _ + -``), versions
``generic_package_version_regex`` (the same, no ``..``; so no PEP 440 epoch ``1!2.0``), file
names ``generic_package_file_name_regex`` (current GitLab: letters, digits, ``. _ + - ~``, no
``~`` at either end; no ``@``, no ``!``). We accept what every version takes (no ``~``): a
name one version refuses would fail half-way through a release.
"""

from __future__ import annotations

from hatch_sigstore._names import is_generic_filename, is_generic_name, is_generic_version
from hatch_sigstore.errors import ConfigError

__all__ = ["check_generic_location"]


def check_generic_location(package: str, version: str, filename: str) -> None:
    """Raise :class:`ConfigError` naming what GitLab's generic registry would refuse."""
    if not is_generic_name(package):
        raise ConfigError(
            f"{package!r} is not a valid GitLab generic package name.",
            remediation="Use only letters, digits and . _ + - (GitLab's "
            "generic_package_name_regex); set the publisher's generic-package option.",
        )
    if not is_generic_version(version):
        epoch = " A PEP 440 epoch ('1!2.0') cannot be written there." if "!" in version else ""
        raise ConfigError(
            f"{version!r} is not a valid GitLab generic package version.{epoch}",
            remediation="Use only letters, digits and . _ + - without '..' (GitLab's "
            "generic_package_version_regex).",
        )
    if not is_generic_filename(filename):
        bad = sorted({c for c in filename if not (c.isascii() and (c.isalnum() or c in "._+-"))})
        which = f" (it contains {' '.join(repr(c) for c in bad)})" if bad else ""
        epoch = (
            " The '!' comes from a PEP 440 epoch in the distribution's file name: GitLab's "
            "generic registry cannot hold signature files of an epoch release under their "
            "names; publish a version without an epoch."
            if "!" in bad
            else ""
        )
        raise ConfigError(
            f"{filename!r} is not a valid GitLab generic package file name{which}.{epoch}",
            remediation="GitLab accepts only letters, digits and . _ + - (and ~ inside the name "
            "on GitLab 18; never @ or !) in generic file names (generic_package_file_name_regex).",
        )
