"""The expected signer: one model of a GitLab pipeline identity, checked once, in the user's words.

Who must have signed is a GitLab project's pipeline on one instance, as Fulcio writes it into the
certificate: issuer and source repository from the server and project path, the SAN
``https://HOST/PROJECT//CONFIG@REF``, and optionally the ref (or a glob over it) and the numeric
project id. The build hook (TOML keys), the publisher (its options) and the CLI (flags) all build
it through :func:`expect`, which checks every field with the same rules and names each bad one
the way its user wrote it: ``tool.hatch.build.hooks.sigstore.identity.ref``, ``-o ref=…``,
``--ref`` or ``CI_COMMIT_TAG``. So an identity that would only fail after signing fails before.

Every build imports this module (through :mod:`hatch_sigstore.ci`): NamedTuples and string tests
only, no regular expressions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

from hatch_sigstore._urls import is_web_url
from hatch_sigstore.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_SERVER",
    "ExpectedIdentity",
    "Given",
    "GivenError",
    "Source",
    "expect",
    "identity_problems",
]

DEFAULT_SERVER = "https://gitlab.com"
DEFAULT_CONFIG_PATH = ".gitlab-ci.yml"
# GitLab signs only branch and tag pipelines: the ID token's ref_path (and so Fulcio's SAN and
# OID .14) is Ci::Pipeline#source_ref_path, refs/heads/BRANCH (also for merge request pipelines)
# or refs/tags/TAG (gitlab-org/gitlab app/models/ci/pipeline.rb).
REF_PREFIXES = ("refs/heads/", "refs/tags/")

SourceKind = Literal["toml", "flag", "option", "variable"]


class Source(NamedTuple):
    """Where a value was given, in its user's words: a TOML key, a flag, an option, a variable.

    ``name`` is what the user writes (``tool.hatch.build.hooks.sigstore.identity.ref``,
    ``--ref``, ``ref``, ``CI_COMMIT_TAG``); ``cited`` overrides how messages quote it (the
    publisher says ``-o ref=…`` or ``[tool.hatch.publish.gitlab] ref``).
    """

    name: str
    kind: SourceKind = "flag"
    cited: str = ""

    @classmethod
    def toml(cls, key: str) -> Source:
        return cls(key, "toml")

    @classmethod
    def variable(cls, name: str) -> Source:
        return cls(name, "variable")

    @classmethod
    def flag(cls, key: str) -> Source:
        """The command-line flag of a key: ``ref-glob`` → ``--ref-glob``."""
        return cls(f"--{key}")

    def __str__(self) -> str:
        if self.cited:
            return self.cited
        return f"`{self.name}`" if self.kind == "toml" else self.name

    def fix(self, value: str) -> str:
        """How to give ``value`` here: ``set `KEY = "v"```, ``pass --flag v``, ``set VAR to v``."""
        if self.kind == "toml":
            return f'set `{self.name} = "{value}"`'
        if self.kind == "option":
            return f'set {self.name} = "{value}"'
        if self.kind == "variable":
            return f"set {self.name} to {value}"
        return f"pass {self.name} {value}"


class GivenError(ConfigError):
    """A :class:`ConfigError` about values given in known places: ``sources`` (the flags,
    keys or variables the message names, the first the one to fix), so that a caller that
    reports per key (a TOML table, every problem under its own path) files it right."""

    def __init__(
        self, message: str, *, remediation: str | None = None, sources: Sequence[Source] = ()
    ) -> None:
        super().__init__(message, remediation=remediation)
        self.sources = tuple(sources)


class Given(NamedTuple):
    """A value and where it came from."""

    value: str
    source: Source


class ExpectedIdentity(NamedTuple):
    """Who must have signed: a GitLab project's pipeline, as Fulcio writes it into the certificate.

    ``ref`` is a full ref (``refs/heads/main``, ``refs/tags/v1.0``), ``ref_glob`` a pattern over
    it (``refs/tags/v*``); neither allows any ref. The issuer of a GitLab ID token is the
    instance URL, so ``issuer`` is ``server``. Build checked values with :func:`expect`.
    """

    server: str
    project_path: str
    ref: str | None = None
    config_path: str = DEFAULT_CONFIG_PATH
    project_id: str | None = None
    ref_glob: str | None = None

    @property
    def issuer(self) -> str:
        return self.server

    @property
    def host(self) -> str:
        """``build_server_fqdn``: host, port and relative root, without the scheme."""
        return self.server.split("://", 1)[-1].rstrip("/")

    @property
    def repository_uri(self) -> str:
        """What Fulcio writes as Source Repository URI (OID .12)."""
        return f"{self.server.rstrip('/')}/{self.project_path}"

    @property
    def san(self) -> str | None:
        """The certificate's SAN for ``ref``: ``https://HOST/GROUP/PROJECT//CONFIG@REF``.

        The ``//`` is GitLab's: ``ci_config_ref_uri`` joins the project path and the config path
        with it. ``None`` when any ref (or a glob) is allowed.
        """
        if self.ref is None:
            return None
        return f"https://{self.host}/{self.project_path}//{self.config_path}@{self.ref}"


# -- the rules: each returns the normalized value, or raises _BadValueError --------------------


class _BadValueError(Exception):
    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix


def _server(given: Given) -> str:
    server = given.value.strip().rstrip("/")
    if not is_web_url(server):
        raise _BadValueError(
            f"{given.source} is {given.value!r}, not the http(s) URL of a GitLab instance",
            given.source.fix("https://gitlab.example.com") + " (the value of CI_SERVER_URL)",
        )
    return server


def _project_path(given: Given) -> str:
    project = given.value.strip().strip("/")
    parts = project.split("/")
    if len(parts) < 2 or any(not part or part != part.strip() or " " in part for part in parts):
        raise _BadValueError(
            f"{given.source} is {given.value!r}, not a GROUP/PROJECT path",
            given.source.fix("my-group/my-project") + " (the value of CI_PROJECT_PATH)",
        )
    return project


def _ref(given: Given) -> str:
    ref = given.value.strip()
    if any(ref.startswith(prefix) and len(ref) > len(prefix) for prefix in REF_PREFIXES):
        return ref
    if ref.startswith("refs/"):
        why = (
            "GitLab signs only branch and tag pipelines, so a certificate's ref is "
            "refs/heads/BRANCH or refs/tags/TAG"
        )
        fix = f"{given.source.fix('refs/heads/BRANCH')} or {given.source.fix('refs/tags/TAG')}"
    else:
        why = "a branch and a tag of that name are different signers"
        fix = (
            f"{given.source.fix(f'refs/heads/{ref}')} for the branch, or "
            f"{given.source.fix(f'refs/tags/{ref}')} for the tag"
        )
    raise _BadValueError(f"{given.source} must be a full ref; got {given.value!r}: {why}", fix)


def _ref_glob(given: Given) -> str:
    glob = given.value.strip()
    if not glob.startswith("refs/"):
        # "tags/v*" lacks only the refs/; "v*" is meant for tags (a branch pattern says heads/)
        full = f"refs/{glob}" if glob.startswith(("tags/", "heads/")) else f"refs/tags/{glob}"
        raise _BadValueError(
            f"{given.source} is {given.value!r}, which does not start with refs/ and so can "
            "never match a certificate's ref (refs/heads/BRANCH or refs/tags/TAG)",
            given.source.fix(full),
        )
    if _has_unclosed_bracket(glob):
        raise _BadValueError(
            f"{given.source} is {given.value!r}: its '[' opens no set (no ']' closes it), so it "
            "stands for a literal '[', which git never allows in a ref; the pattern can never "
            "match",
            "Close the set, e.g. " + given.source.fix("refs/tags/v[0-9]*") + ", or drop the '['",
        )
    return glob


def _has_unclosed_bracket(glob: str) -> bool:
    """Whether ``fnmatchcase`` reads some '[' of ``glob`` as a literal (no ']' closes it).

    The same scan as ``fnmatch.translate``: after '[', an optional '!' and a first ']' belong
    to the set; the set ends at the next ']'.
    """
    i = 0
    while i < len(glob):
        if glob[i] == "[":
            j = i + 1
            if j < len(glob) and glob[j] == "!":
                j += 1
            if j < len(glob) and glob[j] == "]":
                j += 1
            end = glob.find("]", j)
            if end < 0:
                return True
            i = end
        i += 1
    return False


def _config_path(given: Given) -> str:
    return given.value.strip() or DEFAULT_CONFIG_PATH


def _project_id(given: Given) -> str:
    value = given.value.strip()
    if not (value.isascii() and value.isdigit()):
        raise _BadValueError(
            f"{given.source} is {given.value!r}, which is not a number",
            given.source.fix("12345")
            + " (the numeric project ID: CI_PROJECT_ID, shown on the project's overview page)",
        )
    return value


_RULES = {
    "server": _server,
    "project_path": _project_path,
    "ref": _ref,
    "ref_glob": _ref_glob,
    "config_path": _config_path,
    "project_id": _project_id,
}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _check(fields: dict[str, Given | None]) -> tuple[dict[str, str], list[ConfigError]]:
    values: dict[str, str] = {}
    errors: list[ConfigError] = []
    for name, given in fields.items():
        if given is None:
            continue
        try:
            values[name] = _RULES[name](given)
        except _BadValueError as bad:
            errors.append(
                GivenError(
                    f"{bad.problem}.",  # it starts with a name, spelled as its user writes it
                    remediation=f"{_sentence(bad.fix)}.",
                    sources=(given.source,),
                )
            )
    ref, glob = fields.get("ref"), fields.get("ref_glob")
    if ref is not None and glob is not None:
        errors.append(
            GivenError(
                f"Both {ref.source} and {glob.source} are set.",
                remediation=f"Give one: an exact ref ({ref.source}) or a pattern ({glob.source}).",
                sources=(ref.source, glob.source),
            )
        )
    return values, errors


def identity_problems(**fields: Given | None) -> list[ConfigError]:
    """Every problem with the fields given (``server``, ``project_path``, ``ref``, ``ref_glob``,
    ``config_path``, ``project_id``; missing ones are not checked), one error each.

    For callers that check a table's fields before the whole identity is known (the build
    hook reads its ``identity`` table long before it completes it from the CI job).
    """
    unknown = set(fields) - set(_RULES)
    if unknown:
        raise TypeError(f"not identity fields: {', '.join(sorted(unknown))}")
    return _check(fields)[1]


def expect(
    *,
    server: Given | None,
    project_path: Given,
    ref: Given | None = None,
    ref_glob: Given | None = None,
    config_path: Given | None = None,
    project_id: Given | None = None,
) -> ExpectedIdentity:
    """The identity these values name, checked and normalized; :class:`ConfigError` otherwise.

    Every bad field is reported at once, each in the words of its source. ``server`` defaults
    to gitlab.com and ``config_path`` to ``.gitlab-ci.yml``.
    """
    values, errors = _check(
        {
            "server": server,
            "project_path": project_path,
            "ref": ref,
            "ref_glob": ref_glob,
            "config_path": config_path,
            "project_id": project_id,
        }
    )
    if errors:
        raise ConfigError.collect(errors)
    return ExpectedIdentity(
        server=values.get("server", DEFAULT_SERVER),
        project_path=values["project_path"],
        ref=values.get("ref"),
        config_path=values.get("config_path", DEFAULT_CONFIG_PATH),
        project_id=values.get("project_id"),
        ref_glob=values.get("ref_glob"),
    )
