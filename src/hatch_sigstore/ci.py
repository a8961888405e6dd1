"""GitLab CI variables, read once into typed values.

Knows nothing of hatch, sigstore or HTTP: the build hook, the publisher and the CLI all derive
their defaults (metadata, the expected signing identity, registry coordinates) from here.

Every build imports this module, so it is kept cheap to import: the records are NamedTuples
(a frozen dataclass costs ~1 ms to define, a NamedTuple a fifth of that), the checks are
string tests rather than regular expressions compiled per process, and the identity model
(:mod:`hatch_sigstore.identity`) loads only when an expected signer is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from hatch_sigstore._urls import is_web_url
from hatch_sigstore.errors import ConfigError, redact

if TYPE_CHECKING:
    from hatch_sigstore.identity import ExpectedIdentity, Given

__all__ = [
    "CIContext",
    "CIVersion",
    "MetadataVariables",
    "is_valid_project_name",
    "normalize_package_name",
]

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_CHARS = _ALNUM | frozenset("._-")
# the default variables, also the defaults of the CIContext methods reading them
_NAME_VARIABLE = "CI_PROJECT_NAME"
_VERSION_VARIABLE = "PACKAGE_VERSION"
_TAG_VARIABLE = "CI_COMMIT_TAG"
_HOMEPAGE_VARIABLE = "CI_PROJECT_URL"


def normalize_package_name(raw: str) -> str:
    """The tutorial's ``tr '-' '_'``: a GitLab project name as a Python distribution name."""
    return raw.strip().replace("-", "_")


def is_valid_project_name(name: str) -> bool:
    """PEP 508 "Name": ASCII letters, digits, ".", "_", "-"; alphanumeric at both ends."""
    return bool(name) and name[0] in _ALNUM and name[-1] in _ALNUM and _NAME_CHARS.issuperset(name)


class MetadataVariables(NamedTuple):
    """Which CI variables carry the package name, version, release tag and homepage.

    An empty string switches that source off.
    """

    name: str = _NAME_VARIABLE
    version: str = _VERSION_VARIABLE
    tag: str = _TAG_VARIABLE
    homepage: str = _HOMEPAGE_VARIABLE


class CIVersion(NamedTuple):
    """A version taken from a CI variable: the value to use, and where it came from."""

    version: str
    variable: str
    raw: str


class CIContext(NamedTuple):
    """The GitLab CI variables hatch-sigstore uses, read from one environment snapshot."""

    env: Mapping[str, str]

    def __repr__(self) -> str:
        return "CIContext(...)"  # the environment holds tokens

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CIContext:
        return cls(dict(os.environ if env is None else env))

    def get(self, name: str) -> str | None:
        """The variable's value, or ``None`` when it is unset or blank."""
        value = self.env.get(name, "").strip()
        return value or None

    @property
    def in_gitlab_ci(self) -> bool:
        return self.env.get("GITLAB_CI", "").lower() == "true"

    @property
    def server_url(self) -> str | None:
        url = self.get("CI_SERVER_URL")
        return url.rstrip("/") if url else None

    @property
    def api_v4_url(self) -> str | None:
        url = self.get("CI_API_V4_URL")
        if url:
            return url.rstrip("/")
        return f"{self.server_url}/api/v4" if self.server_url else None

    @property
    def project_id(self) -> str | None:
        return self.get("CI_PROJECT_ID")

    @property
    def project_path(self) -> str | None:
        return self.get("CI_PROJECT_PATH")

    @property
    def project_name(self) -> str | None:
        return self.get("CI_PROJECT_NAME")

    @property
    def project_url(self) -> str | None:
        return self.get("CI_PROJECT_URL")

    @property
    def config_path(self) -> str:
        from hatch_sigstore.identity import DEFAULT_CONFIG_PATH

        return self.get("CI_CONFIG_PATH") or DEFAULT_CONFIG_PATH

    @property
    def ref(self) -> str | None:
        """The pipeline's full ref, as GitLab puts it into ``ci_config_ref_uri``."""
        found = self.ref_given()
        return found.value if found else None

    def ref_given(self) -> Given | None:
        """Tag pipelines have ``CI_COMMIT_TAG``; branch and merge-request pipelines have
        ``CI_COMMIT_BRANCH`` or, for MRs, ``CI_MERGE_REQUEST_SOURCE_BRANCH_NAME``."""
        from hatch_sigstore.identity import Given, Source

        for variable, prefix in (
            ("CI_COMMIT_TAG", "refs/tags/"),
            ("CI_COMMIT_BRANCH", "refs/heads/"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "refs/heads/"),
        ):
            name = self.get(variable)
            if name:
                return Given(prefix + name, Source.variable(variable))
        return None

    # -- package metadata -------------------------------------------------------------------

    def package_name(self, variable: str = _NAME_VARIABLE) -> str | None:
        """The distribution name from ``variable`` (``-`` → ``_``), or ``None`` when unset.

        Raises :class:`ConfigError` naming the variable and its value when the result is not a
        valid project name.
        """
        if not variable:
            return None
        raw = self.get(variable)
        if raw is None:
            return None
        name = normalize_package_name(raw)
        if not is_valid_project_name(name):
            raise ConfigError(
                f"The CI variable {variable} is {raw!r}, which does not make a valid Python "
                f"package name (normalized: {name!r}); a name may only contain ASCII letters, "
                "digits, '.', '_' and '-', and must begin and end with a letter or digit.",
                remediation="Rename the project, or point the metadata hook's 'name-variable' at "
                "a variable holding a valid name (or set rename = false).",
            )
        return name

    def package_version(
        self,
        version_variable: str = _VERSION_VARIABLE,
        tag_variable: str = _TAG_VARIABLE,
    ) -> CIVersion | None:
        """The release version: ``version_variable``, else ``tag_variable`` minus a leading ``v``.

        ``None`` when neither is set. Raises :class:`ConfigError` naming the variable and the
        bad value when it is not a PEP 440 version.
        """
        from packaging.version import InvalidVersion, Version

        for variable, strip_v in ((version_variable, False), (tag_variable, True)):
            if not variable:
                continue
            raw = self.get(variable)
            if raw is None:
                continue
            version = raw[1:] if strip_v and raw[:1] in ("v", "V") and raw[1:2].isdigit() else raw
            try:
                Version(version)
            except InvalidVersion:
                origin = (
                    f" (the tag without its leading 'v': {version!r})" if version != raw else ""
                )
                raise ConfigError(
                    f"The CI variable {variable} is {raw!r}{origin}, which is not a PEP 440 "
                    "version (for example 1.2.3, 1.2.3rc1, 1.2.3.post1, 1.2.3.dev4).",
                    remediation=f"Set {variable} to a valid version"
                    + (
                        f", or set {version_variable} to the version for this pipeline"
                        if variable != version_variable and version_variable
                        else ""
                    )
                    + "; see https://peps.python.org/pep-0440/.",
                ) from None
            return CIVersion(version=version, variable=variable, raw=raw)
        return None

    def homepage(self, variable: str = _HOMEPAGE_VARIABLE) -> str | None:
        """The project's web address from ``variable``, or ``None`` when unset."""
        if not variable:
            return None
        url = self.get(variable)
        if url is None:
            return None
        fix = (
            f"Set {variable} to the project's web address, or point the metadata hook's "
            "'homepage-variable' elsewhere ('' to keep the configured Homepage)."
        )
        if not is_web_url(url):
            raise ConfigError(
                f"The CI variable {variable} is {redact(url)!r}, which is not an http(s) URL.",
                remediation=fix,
            )
        authority = url.split("://", 1)[1]
        for end in "/?#":
            authority = authority.split(end, 1)[0]
        if "@" in authority:
            # CI_REPOSITORY_URL is https://gitlab-ci-token:<job token>@host/...: never into
            # the dists' metadata (and so never onto an index)
            raise ConfigError(
                f"The CI variable {variable} holds a URL with credentials in it (user:token@); "
                "as the Homepage it would be written into every dist's metadata. Nothing was "
                "built.",
                remediation=f"{fix} CI_PROJECT_URL is the project's web address.",
            )
        return url

    def expected_identity(
        self, *, ref_elsewhere: bool = False, ref_fix: str = "pass the expected identity explicitly"
    ) -> ExpectedIdentity | None:
        """The identity this pipeline's signatures carry, or ``None`` outside GitLab CI.

        Raises :class:`ConfigError` when the variables are there but cannot name an identity.
        ``ref_elsewhere``: the caller has the ref from its user, so a pipeline without one
        (no ``CI_COMMIT_TAG``/``CI_COMMIT_BRANCH``) leaves it unset instead. ``ref_fix``: how
        the caller's user gives one, in their words (a TOML key, a flag).
        """
        server, project = self.server_url, self.project_path
        if not server or not project:
            return None
        config = self.config_path
        if "@" in config:
            raise ConfigError(
                f"CI_CONFIG_PATH is {config!r}, a CI configuration kept in another project; "
                "GitLab then puts no usable ci_config_ref_uri into the ID token, so Fulcio "
                "cannot issue a certificate naming this project.",
                remediation="Keep .gitlab-ci.yml in the project itself, or pass the expected "
                "identity explicitly (--cert-identity, or the 'identity' option).",
            )
        ref = self.ref_given()
        if ref is None and not ref_elsewhere:
            raise ConfigError(
                "Neither CI_COMMIT_TAG nor CI_COMMIT_BRANCH is set, so the pipeline's ref "
                "(refs/tags/… or refs/heads/…) is unknown.",
                remediation=f"Run in a branch or tag pipeline, or {ref_fix}.",
            )
        from hatch_sigstore.identity import Given, Source, expect

        project_id = self.project_id
        return expect(
            server=Given(server, Source.variable("CI_SERVER_URL")),
            project_path=Given(project, Source.variable("CI_PROJECT_PATH")),
            ref=ref,
            config_path=Given(config, Source.variable("CI_CONFIG_PATH")),
            project_id=Given(project_id, Source.variable("CI_PROJECT_ID")) if project_id else None,
        )
