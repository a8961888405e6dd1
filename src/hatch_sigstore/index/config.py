"""The index's TOML config: read, validate (every problem at once, each with its TOML path),
and turn into policies with the same keys and builder as the CLI's flags
(:mod:`hatch_sigstore.verify.policy_keys`).

    unlisted = "refuse"                 # or "pass-through": served unverified, logged as such
    trust-config = "trust.json"         # optional; default: the public Sigstore
    [upstream.company]                  # a GitLab registry
    url = "https://gitlab.example.com/api/v4"
    project = "my-group/my-project"     # or an id; or group = "my-group"
    [upstream.pypi]                     # a PyPI-compatible index (PEP 691 / PEP 740)
    index-url = "https://pypi.org/simple/"
    [package.my-package]                # a normalized name, or a glob over normalized names
    upstream = "company"
    gitlab = "my-group/my-project"      # any signer flag of 'verify'/'download' as a key
    ref-glob = "refs/tags/v*"
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from hatch_sigstore._config import did_you_mean
from hatch_sigstore.errors import ConfigError, HatchSigstoreError
from hatch_sigstore.identity import Source
from hatch_sigstore.pypi import IndexURLs
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify.policy import Policy
from hatch_sigstore.verify.policy_keys import POLICY_KEYS, PolicyKey, build_policy

__all__ = [
    "GitLabUpstream",
    "IndexConfig",
    "PackageRule",
    "PyPIUpstream",
    "load_config",
    "parse_config",
]

Unlisted = Literal["refuse", "pass-through"]
DEFAULT_MAX_FILE_SIZE = 512 * 1024 * 1024
_ENV_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_BARE_KEY = re.compile(r"\A[A-Za-z0-9_-]+\Z")
_PATTERN = re.compile(r"\A[A-Za-z0-9._*?\[\]!-]{1,200}\Z")
_NAME = re.compile(r"\A[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?\Z")  # PEP 508 names
_SIZE = re.compile(r"\A\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*\Z", re.IGNORECASE)
_TOP_KEYS = {
    "unlisted",
    "unlisted-upstream",
    "trust-config",
    "staging",
    "cache-dir",
    "max-file-size",
    "max-files",
    "listing-ttl",
    "workers",
    "timeout",
    "upstream",
    "package",
}
_GITLAB_KEYS = {"url", "project", "group", "token-env"}
_PYPI_KEYS = {"index-url", "token-env", "username", "file-hosts"}
_RULE_KEYS = {"upstream", "generic-project", "generic-package"}
# Where PyPI itself serves files (warehouse's FILES_URL); other indexes serve their own.
_KNOWN_FILE_HOSTS = {
    "pypi.org": ("files.pythonhosted.org",),
    "test.pypi.org": ("test-files.pythonhosted.org",),
}


@dataclass(frozen=True)
class GitLabUpstream:
    name: str
    url: str
    project: str | None
    group: str | None
    token_env: str | None

    @property
    def kind(self) -> str:
        return "gitlab"


@dataclass(frozen=True)
class PyPIUpstream:
    name: str
    index_url: str
    token_env: str | None
    username: str | None
    file_hosts: tuple[str, ...]

    @property
    def kind(self) -> str:
        return "pypi"


Upstream = GitLabUpstream | PyPIUpstream


@dataclass(frozen=True)
class PackageRule:
    """``[package.PATTERN]``: where a project comes from and who must have signed it."""

    pattern: str  # normalized name, or a glob over normalized names
    upstream: str
    policy: Policy
    generic_project: str | None = None
    generic_package: str | None = None

    @property
    def is_glob(self) -> bool:
        return any(c in self.pattern for c in "*?[")

    def matches(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.pattern) if self.is_glob else name == self.pattern

    def describe(self) -> str:
        return self.policy.describe()


@dataclass(frozen=True)
class IndexConfig:
    path: Path | None
    upstreams: Mapping[str, Upstream]
    rules: tuple[PackageRule, ...]
    trust: TrustChoice
    unlisted: Unlisted = "refuse"
    unlisted_upstream: str | None = None
    cache_dir: Path | None = None
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    listing_ttl: float = 60.0
    max_files: int = 1000
    workers: int = 8
    timeout: float = 60.0
    secrets_env: tuple[str, ...] = field(default=())

    def rule_for(self, name: str) -> PackageRule | None:
        """Exact names first, then globs in the order the file has them."""
        for rule in self.rules:
            if not rule.is_glob and rule.matches(name):
                return rule
        return next((rule for rule in self.rules if rule.is_glob and rule.matches(name)), None)


def toml_path(*parts: str) -> str:
    """``package."my*".ref-glob``: TOML's own dotted-key syntax, escapes for odd characters."""
    return ".".join(p if _BARE_KEY.match(p) else _quoted(p) for p in parts)


def _quoted(key: str) -> str:
    out = []
    for char in key[:80]:
        if char in '"\\':
            out.append("\\" + char)
        elif not char.isprintable() or not char.isascii():
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + ('…"' if len(key) > 80 else '"')


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: tuple[str, ...], message: str) -> None:
        self.items.append((toml_path(*path) if path else "(top level)", message))


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> IndexConfig:
    """Read and validate the TOML file at ``path``; :class:`ConfigError` lists every problem."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

    file = Path(path).expanduser()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the index config {str(file)!r}: {exc.strerror or exc}.",
            remediation="Pass --config the path of a TOML file (see README, 'Verified installs').",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"The index config {str(file)!r} is not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"The index config {str(file)!r} is not valid TOML: {exc}.",
            remediation="Fix the syntax at the line and column named.",
        ) from None
    return parse_config(data, base_dir=file.resolve().parent, path=file, env=env)


def parse_config(
    data: Mapping[str, Any],
    *,
    base_dir: Path,
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> IndexConfig:
    """Validate an already parsed TOML document (relative paths are taken from ``base_dir``)."""
    environ: Mapping[str, str] = os.environ if env is None else env
    problems = _Problems()
    for key in data:
        if key not in _TOP_KEYS:
            problems.add(
                (key,),
                f"unknown key{did_you_mean(str(key), _TOP_KEYS)}; expected one of "
                f"{', '.join(sorted(_TOP_KEYS))}",
            )

    unlisted = data.get("unlisted", "refuse")
    if unlisted not in ("refuse", "pass-through"):
        problems.add(("unlisted",), f'must be "refuse" or "pass-through", not {_show(unlisted)}')
        unlisted = "refuse"

    upstreams = _upstreams(data.get("upstream"), problems, environ)
    unlisted_upstream = _optional_str(data, "unlisted-upstream", problems)
    if unlisted == "pass-through":
        if unlisted_upstream is None and len(upstreams) == 1:
            unlisted_upstream = next(iter(upstreams))
        elif unlisted_upstream is None and len(upstreams) > 1:
            problems.add(
                ("unlisted-upstream",),
                'missing: unlisted = "pass-through" needs the upstream to pass unlisted '
                "projects through from (one of: "
                f"{', '.join(map(_show, upstreams)) or 'none defined'})",
            )
    if unlisted_upstream is not None and upstreams and unlisted_upstream not in upstreams:
        problems.add(
            ("unlisted-upstream",),
            f"names no [upstream] table: {_show(unlisted_upstream)} (defined: "
            f"{', '.join(map(_show, upstreams))})",
        )

    trust = _trust(data, base_dir, problems, environ)
    rules = _rules(data.get("package"), upstreams, problems, environ)
    if not rules and unlisted == "refuse" and not problems.items:
        problems.add(
            ("package",),
            'no [package.NAME] table: with unlisted = "refuse" the index would serve nothing',
        )

    cache_dir = _optional_str(data, "cache-dir", problems)
    max_file_size = _size(data.get("max-file-size", DEFAULT_MAX_FILE_SIZE), problems)
    ttl = _number(data, "listing-ttl", 60.0, problems, minimum=0.0)
    workers = int(_number(data, "workers", 8, problems, minimum=1, integer=True))
    max_files = int(_number(data, "max-files", 1000, problems, minimum=1, integer=True))
    timeout = _number(data, "timeout", 60.0, problems, minimum=0.001)
    if not upstreams and not any(p.split(".")[0] == "upstream" for p, _ in problems.items):
        problems.add(("upstream",), "no [upstream.NAME] table: the index needs a registry")

    if problems.items:
        where = f" {str(path)!r}" if path is not None else ""
        # each problem a sentence: the remediation follows the last one on its line
        lines = "\n".join(
            f"  {p}: {m if m.endswith(('.', '?', '!')) else m + '.'}" for p, m in problems.items
        )
        raise ConfigError(
            f"The index config{where} has {len(problems.items)} problem(s):\n{lines}\n",
            remediation="Fix each key named above (README, 'Verified installs', has an example).",
        )
    assert trust is not None
    secrets_env = tuple(
        sorted({u.token_env for u in upstreams.values() if u.token_env is not None})
    )
    return IndexConfig(
        path=path,
        upstreams=upstreams,
        rules=tuple(rules),
        trust=trust,
        unlisted=unlisted,
        unlisted_upstream=unlisted_upstream if unlisted == "pass-through" else None,
        cache_dir=(base_dir / Path(cache_dir).expanduser()) if cache_dir else None,
        max_file_size=max_file_size,
        listing_ttl=ttl,
        max_files=max_files,
        workers=workers,
        timeout=timeout,
        secrets_env=secrets_env,
    )


# --------------------------------------------------------------------------------------------


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "a table" if isinstance(value, dict) else "an array"
    )


def _optional_str(
    table: Mapping[str, Any], key: str, problems: _Problems, *prefix: str
) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add((*prefix, key), f"must be a non-empty string, not {_show(value)}")
        return None
    return value.strip()


def _number(
    table: Mapping[str, Any],
    key: str,
    default: float,
    problems: _Problems,
    *,
    minimum: float,
    integer: bool = False,
) -> float:
    value = table.get(key, default)
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or value < minimum:
        what = "an integer" if integer else "a number"
        problems.add((key,), f"must be {what} of at least {minimum:g}, not {_show(value)}")
        return default
    return float(value)


def _size(value: object, problems: _Problems) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) <= 0:
        problems.add(("max-file-size",), f'must be bytes or a size like "512M", not {_show(value)}')
        return DEFAULT_MAX_FILE_SIZE
    power = "kmgt".find(match.group(2).lower()) + 1 if match.group(2) else 0
    return int(match.group(1)) << (10 * power)


def _http_url(value: object, path: tuple[str, ...], problems: _Problems) -> str | None:
    if not isinstance(value, str):
        problems.add(path, f"must be an http(s) URL string, not {_show(value)}")
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.add(path, f"{_show(value)} is not an http(s) URL")
        return None
    if parts.username is not None or parts.password is not None:
        problems.add(
            path,
            "must not contain credentials: name the environment variable that holds the token "
            "with token-env instead (a URL ends up in logs)",
        )
        return None
    if parts.query or parts.fragment:
        problems.add(path, "must not have a query or a fragment")
        return None
    return value.strip()


def _token_env(
    table: Mapping[str, Any], path: tuple[str, ...], problems: _Problems, env: Mapping[str, str]
) -> str | None:
    value = table.get("token-env")
    if value is None:
        return None
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        # never echoed: a token pasted where the variable's name belongs is a secret
        problems.add(
            (*path, "token-env"),
            "must be the NAME of an environment variable (letters, digits, _), not a token",
        )
        return None
    if not env.get(value):
        problems.add((*path, "token-env"), f"the environment variable {value} is not set")
    return value


def _upstreams(raw: object, problems: _Problems, env: Mapping[str, str]) -> dict[str, Upstream]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add(("upstream",), "must be a table of [upstream.NAME] tables")
        return {}
    out: dict[str, Upstream] = {}
    for name, table in raw.items():
        path = ("upstream", name)
        if not isinstance(table, dict):
            problems.add(path, f"must be a table, not {_type_name(table)}")
            continue
        if "index-url" in table and ({"url", "project", "group"} & table.keys()):
            problems.add(
                path,
                "has both index-url (a PyPI-compatible index) and url/project/group (GitLab); "
                "use one upstream table for each",
            )
            continue
        if "index-url" in table:
            upstream: Upstream | None = _pypi_upstream(name, table, path, problems, env)
        elif "url" in table:
            upstream = _gitlab_upstream(name, table, path, problems, env)
        else:
            problems.add(
                path,
                "needs url (a GitLab API v4 URL, with project or group) or index-url (a "
                "PyPI-compatible simple index)",
            )
            _unknown(table, _GITLAB_KEYS | _PYPI_KEYS, path, problems)  # say, a misspelt url
            continue
        if upstream is not None:
            out[name] = upstream
    return out


def _unknown(
    table: Mapping[str, Any], allowed: set[str], path: tuple[str, ...], problems: _Problems
) -> None:
    for key in table:
        if key not in allowed:
            problems.add(
                (*path, key),
                f"unknown key{did_you_mean(str(key), allowed)}; expected one of "
                f"{', '.join(sorted(allowed))}",
            )


def _gitlab_upstream(
    name: str,
    table: Mapping[str, Any],
    path: tuple[str, ...],
    problems: _Problems,
    env: Mapping[str, str],
) -> GitLabUpstream | None:
    _unknown(table, _GITLAB_KEYS, path, problems)
    url = _http_url(table["url"], (*path, "url"), problems)
    scopes = {key: table[key] for key in ("project", "group") if key in table}
    if len(scopes) != 1:
        problems.add(
            path,
            "needs exactly one of project (an id or GROUP/PROJECT) and group (an id or path)",
        )
        return None
    key, value = next(iter(scopes.items()))
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        value = str(value)
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._/-]{1,255}", value):
        problems.add((*path, key), f"must be a numeric id or a full path, not {_show(value)}")
        return None
    token_env = _token_env(table, path, problems, env)
    if url is None:
        return None
    return GitLabUpstream(
        name,
        url.rstrip("/"),
        value if key == "project" else None,
        value if key == "group" else None,
        token_env,
    )


def _pypi_upstream(
    name: str,
    table: Mapping[str, Any],
    path: tuple[str, ...],
    problems: _Problems,
    env: Mapping[str, str],
) -> PyPIUpstream | None:
    _unknown(table, _PYPI_KEYS, path, problems)
    url = _http_url(table["index-url"], (*path, "index-url"), problems)
    token_env = _token_env(table, path, problems, env)
    username = _optional_str(table, "username", problems, *path)
    if username is not None and ":" in username:
        problems.add((*path, "username"), "must not contain ':'")
    hosts_raw = table.get("file-hosts")
    hosts: tuple[str, ...] = ()
    if hosts_raw is not None:
        if not isinstance(hosts_raw, list) or not all(
            isinstance(h, str) and re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?", h) for h in hosts_raw
        ):
            problems.add(
                (*path, "file-hosts"),
                'must be an array of host names (["files.example.com"]), without schemes',
            )
        else:
            hosts = tuple(h.lower() for h in hosts_raw)
    if url is None:
        return None
    if not url.endswith("/"):
        url += "/"
    try:  # what the PyPI client reads: the simple API root (pip's spelling)
        IndexURLs.from_simple_url(url, "index-url")
    except ConfigError as exc:
        problems.add((*path, "index-url"), str(exc))
        return None
    host = (urlsplit(url).hostname or "").lower()
    hosts = tuple(dict.fromkeys((*hosts, *_KNOWN_FILE_HOSTS.get(host, ()))))
    return PyPIUpstream(name, url, token_env, username, hosts)


def _trust(
    data: Mapping[str, Any], base_dir: Path, problems: _Problems, env: Mapping[str, str]
) -> TrustChoice | None:
    staging = data.get("staging", False)
    if not isinstance(staging, bool):
        problems.add(("staging",), f"must be true or false, not {_show(staging)}")
        staging = False
    config = _optional_str(data, "trust-config", problems)
    path = str(base_dir / Path(config).expanduser()) if config is not None else None
    try:
        return TrustChoice.resolve(
            staging=staging, trust_config=path, env=env, source="trust-config"
        )
    except HatchSigstoreError as exc:
        problems.add(("trust-config",), str(exc))
        return None


def _pattern(key: str, problems: _Problems) -> str | None:
    path = ("package", key)
    if not _PATTERN.match(key):
        problems.add(path, "is not a project name or a glob over project names")
        return None
    if any(c in key for c in "*?["):
        # globs match normalized names: spell their literal parts the same way
        return re.sub(r"[-_.]+", "-", key).lower()
    if not _NAME.match(key):
        problems.add(path, "is not a valid project name (PEP 508)")
        return None
    return canonicalize_name(key)


def _rules(
    raw: object, upstreams: Mapping[str, Upstream], problems: _Problems, env: Mapping[str, str]
) -> list[PackageRule]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        problems.add(("package",), "must be a table of [package.NAME] tables")
        return []
    keys = {k.name: k for k in POLICY_KEYS}
    seen: dict[str, str] = {}
    rules: list[PackageRule] = []
    for key, table in raw.items():
        path = ("package", key)
        if not isinstance(table, dict):
            problems.add(path, f"must be a table, not {_type_name(table)}")
            continue
        pattern = _pattern(key, problems)
        if pattern is not None and pattern in seen:
            problems.add(
                path, f"names the same projects as [{toml_path('package', seen[pattern])}]"
            )
            pattern = None
        if pattern is not None:
            seen[pattern] = key
        upstream = _rule_upstream(table, path, upstreams, problems)
        values: dict[str, str | bool] = {}
        for name, value in table.items():
            if name in _RULE_KEYS:
                continue
            spec = keys.get(name)
            if spec is None:
                allowed = sorted({*_RULE_KEYS, *keys})
                problems.add(
                    (*path, name),
                    f"unknown key{did_you_mean(str(name), allowed)}; expected one of "
                    f"{', '.join(allowed)}",
                )
            elif spec.kind == "switch" and not isinstance(value, bool):
                problems.add((*path, name), f"must be true or false, not {_show(value)}")
            elif spec.kind == "text" and not isinstance(value, str):
                problems.add((*path, name), f"must be a string, not {_show(value)}")
            elif spec.kind == "switch":
                values[name] = value
            else:
                values[name] = value.strip()
        generic_project = _generic_project(table, path, problems)
        generic_package = _optional_str(table, "generic-package", problems, *path)
        if generic_package is not None and not re.fullmatch(
            r"[A-Za-z0-9._+-]{1,255}", generic_package
        ):
            problems.add((*path, "generic-package"), "must use letters, digits and . _ + - only")
        kind = upstreams[upstream].kind if upstream is not None else None
        if kind == "pypi" and (generic_project or generic_package):
            problems.add(
                path,
                "generic-project and generic-package are for GitLab upstreams; a "
                "PyPI-compatible index serves PEP 740 provenance instead",
            )
        policy = _policy(values, path, keys, problems, env)
        if upstream is not None and kind == "gitlab" and generic_project is None:
            source = upstreams[upstream]
            assert isinstance(source, GitLabUpstream)
            if source.project is not None:
                generic_project = source.project
            elif isinstance(values.get("gitlab"), str):
                generic_project = str(values["gitlab"])
            else:
                problems.add(
                    (*path, "generic-project"),
                    "missing: a group upstream does not say which project's generic registry "
                    "holds the signature files; set generic-project (or gitlab)",
                )
        if pattern is None or upstream is None or policy is None:
            continue
        rules.append(PackageRule(pattern, upstream, policy, generic_project, generic_package))
    return rules


def _rule_upstream(
    table: Mapping[str, Any],
    path: tuple[str, ...],
    upstreams: Mapping[str, Upstream],
    problems: _Problems,
) -> str | None:
    value = table.get("upstream")
    if value is None:
        if len(upstreams) == 1:
            return next(iter(upstreams))
        problems.add(
            (*path, "upstream"), f"missing (one of: {', '.join(map(_show, upstreams)) or 'none'})"
        )
        return None
    if not isinstance(value, str) or value not in upstreams:
        problems.add(
            (*path, "upstream"),
            f"names no [upstream.NAME] table: {_show(value)} (defined: "
            f"{', '.join(map(_show, upstreams)) or 'none'})",
        )
        return None
    return value


def _generic_project(
    table: Mapping[str, Any], path: tuple[str, ...], problems: _Problems
) -> str | None:
    value = table.get("generic-project")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9._/-]{1,255}", value):
        return value
    problems.add((*path, "generic-project"), f"must be a project id or path, not {_show(value)}")
    return None


def _policy(
    values: Mapping[str, str | bool],
    path: tuple[str, ...],
    keys: Mapping[str, PolicyKey],
    problems: _Problems,
    env: Mapping[str, str],
) -> Policy | None:
    """The CLI's builder, its errors in this table's words (``ref-glob``, not ``--ref-glob``),
    each filed under the key it is about."""
    try:
        return build_policy(values, named=lambda key: Source(key, "option"), env=env)
    except ConfigError as exc:
        for problem in exc.problems or (exc,):
            sources = getattr(problem, "sources", ())
            key = next((s.name for s in sources if s.name in keys), None)
            problems.add((*path, key) if key else path, str(problem))
        return None
