"""The hatch-free publish core: settings, dists, coordinates, the run order and the summary.

These run without hatch, a registry or a Sigstore: real dist files, real settings resolution.
The registry double below records calls to check the *order* of uploads (generic before PyPI, the
first file of each package version alone); the real client against the GitLab stand-in is in
test_publisher.py.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from hatch_sigstore._publish_plan import (
    Dist,
    ItemResult,
    Plan,
    PreflightResult,
    PublishSettings,
    Summary,
    TokenSettings,
    UploadItem,
    build_plan,
    collect_dists,
    execute,
    generic_coordinates,
    read_dist,
    require_preflight,
    resolve_settings,
)
from hatch_sigstore.errors import ConfigError, PublishError, RegistryError
from hatch_sigstore.trust import TrustChoice
from publish_helpers import make_sdist, make_wheel

CI_ENV = {
    "GITLAB_CI": "true",
    "CI_SERVER_URL": "https://gitlab.example.com",
    "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
    "CI_PROJECT_ID": "42",
    "CI_PROJECT_PATH": "group/project",
    "CI_COMMIT_TAG": "v1.0.0",
    "CI_JOB_TOKEN": "glcbt-secretjobtoken123",
}
SECRET = "glpat-verysecretvalue1234"


def resolve(
    options: Mapping[str, object] | None = None,
    project: Mapping[str, object] | None = None,
    user: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    root: Path = Path("/proj"),
) -> PublishSettings:
    return resolve_settings(
        {"no_prompt": False, "initialize_auth": False, **(options or {})},
        project or {},
        user or {},
        root=root,
        env=CI_ENV if env is None else env,
    )


# -- settings ------------------------------------------------------------------------------


def test_ci_defaults() -> None:
    s = resolve()
    assert s.api_url == "https://gitlab.example.com/api/v4"
    assert s.project == "42"
    assert s.project_api_url == "https://gitlab.example.com/api/v4/projects/42"
    assert s.artifacts == (Path("/proj/dist"),)
    assert s.policy is not None
    assert s.policy.identity is not None
    assert s.policy.identity.san == (
        "https://gitlab.example.com/group/project//.gitlab-ci.yml@refs/tags/v1.0.0"
    )
    creds = s.credentials()
    assert (creds.kind, creds.source) == ("job", "CI_JOB_TOKEN")
    assert not s.dry_run
    assert not s.allow_unsigned


def test_precedence_option_over_project_over_user() -> None:
    s = resolve(
        options={"project": "from/option"},
        project={"project": "from/project", "url": "https://project.example/api/v4"},
        user={"url": "https://user.example", "project": "from/user", "concurrency": 2},
    )
    assert s.project == "from/option"
    assert s.api_url == "https://project.example/api/v4"
    assert s.concurrency == 2
    assert s.project_api_url.endswith("/projects/from%2Foption")


def test_server_url_gets_api_suffix() -> None:
    assert resolve({"url": "https://gl.example/"}).api_url == "https://gl.example/api/v4"


@pytest.mark.parametrize(
    ("options", "env", "names"),
    [
        ({}, {}, ["url", "CI_API_V4_URL"]),
        ({"url": "https://gl.example/api/v4"}, {}, ["project", "CI_PROJECT_ID"]),
        ({"url": "ftp://gl.example"}, CI_ENV, ["-o url=", "api/v4"]),
        ({"url": "https://user:pw@gl.example"}, CI_ENV, ["credentials", "token-env"]),
        ({"project": "not a project"}, CI_ENV, ["project", "group/project"]),
        ({"dry-run": "maybe"}, CI_ENV, ["-o dry-run=", "true or false"]),
        ({"concurrency": "0"}, CI_ENV, ["-o concurrency=", "≥ 1"]),
        ({"dryrun": "true"}, CI_ENV, ["dryrun", "dry-run"]),
        ({"token-kind": "oauth"}, CI_ENV, ["token-kind", "personal"]),
        ({"token-env": "glpat-abc def"}, CI_ENV, ["token-env", "NAME"]),
        ({"ref": "main", "gitlab-project": "g/p"}, CI_ENV, ["-o ref=", "refs/heads"]),
        ({"ref-glob": "v*"}, CI_ENV, ["-o ref-glob=", "refs/"]),
        ({"identity": "x", "identity-regexp": "y"}, CI_ENV, ["identity", "identity-regexp"]),
        ({"issuer": "https://gitlab.com"}, CI_ENV, ["issuer", "identity"]),
        ({"identity": "https://x", "ref": "refs/heads/main"}, CI_ENV, ["-o ref=", "identity"]),
        ({"generic-package": "bad name"}, CI_ENV, ["generic-package", "letters"]),
        (
            {"url": "https://gl.example", "project": "g/p"},
            {},
            ["gitlab-project", "allow-unsigned"],
        ),
        ({"trust-config": "/nonexistent/trust.json"}, CI_ENV, ["-o trust-config=", "exist"]),
        ({"gitlab-server": "gitlab.com"}, CI_ENV, ["-o gitlab-server=", "https://"]),
    ],
)
def test_bad_settings_name_what_to_fix(
    options: dict[str, object], env: dict[str, str], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(options, env=env)
    for name in names:
        assert name in str(info.value)
    assert " --" not in str(info.value)  # the publisher's options, not the CLI's flags


@pytest.mark.parametrize("key", ["token", "password", "auth", "private_token", "deploy-token"])
@pytest.mark.parametrize("where", ["options", "project", "user"])
def test_literal_token_is_refused_without_echoing_it(key: str, where: str) -> None:
    kwargs: dict[str, Mapping[str, object]] = {where: {key: SECRET}}
    with pytest.raises(ConfigError) as info:
        resolve(**kwargs)  # type: ignore[arg-type]
    text = str(info.value)
    assert SECRET not in text
    assert "token-env" in text
    assert "refuses literal tokens" in text
    if where == "project":
        assert "[tool.hatch.publish.gitlab]" in text


def test_token_from_named_variable() -> None:
    env = {**CI_ENV, "MY_TOKEN": SECRET}
    creds = resolve({"token-env": "MY_TOKEN"}, env=env).credentials()
    assert (creds.kind, creds.token, creds.source) == ("personal", SECRET, "MY_TOKEN")
    assert SECRET not in repr(creds)
    deploy = resolve(
        {"token-kind": "deploy", "token-env": "MY_TOKEN", "username": "gitlab+deploy-token-1"},
        env=env,
    ).credentials()
    assert (deploy.kind, deploy.username) == ("deploy", "gitlab+deploy-token-1")
    # project/group access tokens are used like personal ones
    assert resolve({"token-kind": "project", "token-env": "MY_TOKEN"}, env=env).token.kind == (
        "personal"
    )


@pytest.mark.parametrize(
    ("options", "env_drop", "variable"),
    [
        ({"token-env": "MISSING_TOKEN"}, (), "MISSING_TOKEN"),
        ({}, ("CI_JOB_TOKEN",), "CI_JOB_TOKEN"),
        ({"token-kind": "personal"}, (), "GITLAB_TOKEN"),
    ],
)
def test_missing_token_names_the_variable(
    options: dict[str, object], env_drop: tuple[str, ...], variable: str
) -> None:
    env = {k: v for k, v in CI_ENV.items() if k not in env_drop}
    with pytest.raises(ConfigError) as info:
        resolve(options, env=env).credentials()
    assert variable in str(info.value)


def test_identity_options() -> None:
    gitlab = resolve({"gitlab-project": "other/proj", "ref-glob": "refs/tags/v*"})
    assert gitlab.policy is not None
    assert gitlab.policy.identity is not None
    assert gitlab.policy.identity.project_path == "other/proj"
    assert gitlab.policy.identity.ref is None
    assert gitlab.policy.ref_glob == "refs/tags/v*"
    assert gitlab.policy.identity.server == "https://gitlab.example.com"
    cosign = resolve({"identity": "https://gitlab.com/a/b//.gitlab-ci.yml@refs/heads/main"})
    assert cosign.policy is not None
    assert cosign.policy.kind == "cosign"
    assert cosign.policy.cert_oidc_issuer == "https://gitlab.example.com"
    # outside CI the server comes from the API URL
    outside = resolve(
        {"url": "https://gl.example/api/v4", "project": "7", "gitlab-project": "g/p"}, env={}
    )
    assert outside.policy is not None
    assert outside.policy.identity is not None
    assert outside.policy.identity.server == "https://gl.example"
    unsigned = resolve({"url": "https://gl.example", "project": "7", "allow-unsigned": "1"}, env={})
    assert unsigned.policy is None
    assert unsigned.allow_unsigned


def test_trust_config_resolved_against_root(tmp_path: Path) -> None:
    (tmp_path / "trust.json").write_text("{}")
    s = resolve({"trust-config": "trust.json"}, root=tmp_path)
    assert s.trust == TrustChoice("file", (tmp_path / "trust.json").resolve())
    via_env = resolve(env={**CI_ENV, "HATCH_SIGSTORE_TRUST_CONFIG": str(tmp_path / "trust.json")})
    assert via_env.trust.kind == "file"


# -- dists -----------------------------------------------------------------------------------


def test_read_wheel_and_sdist(tmp_path: Path) -> None:
    wheel = read_dist(make_wheel(tmp_path, "My.Pkg", "1.0.0rc1"))
    assert (wheel.kind, wheel.name, wheel.version) == ("wheel", "My.Pkg", "1.0.0rc1")
    assert wheel.pypi_metadata["requires_python"] == ">=3.8"
    assert wheel.pypi_metadata["metadata_version"] == "2.3"
    assert wheel.pypi_metadata["description"].startswith("# My.Pkg")
    sdist = read_dist(make_sdist(tmp_path, "my-pkg", "2.0"))
    assert (sdist.kind, sdist.name, sdist.version) == ("sdist", "my-pkg", "2.0")
    assert sdist.sidecars == ()


@pytest.mark.parametrize(
    ("maker", "kwargs", "fragments"),
    [
        (make_wheel, {"meta_name": "other-pkg"}, ["demo-pkg 1.0.0", "other-pkg 1.0.0", "METADATA"]),
        (make_wheel, {"meta_version": "1.0.1"}, ["says demo-pkg 1.0.0", "1.0.1"]),
        (make_sdist, {"meta_name": "other"}, ["PKG-INFO", "other 1.0.0"]),
        (make_sdist, {"meta_version": "9"}, ["PKG-INFO", "demo_pkg 9"]),
        (make_sdist, {"with_pkg_info": False}, ["no top-level PKG-INFO"]),
        (make_wheel, {"filename": "not-a-wheel.whl"}, ["not a valid wheel file name"]),
    ],
)
def test_dist_disagreeing_with_its_metadata(
    tmp_path: Path, maker: Callable[..., Path], kwargs: dict[str, object], fragments: list[str]
) -> None:
    path = maker(tmp_path, **kwargs)
    with pytest.raises(PublishError) as info:
        read_dist(path)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("name", ["demo_pkg-1.0-py3-none-any.whl", "demo_pkg-1.0.tar.gz"])
def test_damaged_dist(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"<html>not a dist</html>")
    with pytest.raises(PublishError, match="cannot be read"):
        read_dist(tmp_path / name)


def test_collect_pairs_sidecars_and_skips_other_files(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    wheel = make_wheel(dist)
    make_sdist(dist)
    for suffix in (".sigstore.json", ".sig", ".crt"):
        (dist / (wheel.name + suffix)).write_text("x")
    (dist / "notes.txt").write_text("x")
    (dist / "sub").mkdir()
    make_wheel(dist / "sub", "nested")  # one level only, like hatch's index publisher
    dists = collect_dists([dist])
    assert [d.filename for d in dists] == [
        "demo_pkg-1.0.0-py3-none-any.whl",
        "demo_pkg-1.0.0.tar.gz",
    ]
    assert [p.name for p in dists[0].sidecars] == [
        wheel.name + ".crt",
        wheel.name + ".sig",
        wheel.name + ".sigstore.json",
    ]
    # files given explicitly, the same file twice counts once
    assert len(collect_dists([wheel, wheel])) == 1


def test_collect_errors(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="does not exist"):
        collect_dists([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(PublishError, match=r"No wheel or sdist found.*hatch build"):
        collect_dists([tmp_path / "empty"])
    a, b = make_wheel(tmp_path / "a"), make_wheel(tmp_path / "b", payload=b"#")
    with pytest.raises(PublishError, match="Two different files"):
        collect_dists([a, b])


# -- generic coordinates ---------------------------------------------------------------------

GITLAB_NAME = re.compile(r"\A[A-Za-z0-9._+-]+\Z")
GITLAB_VERSION = re.compile(r"\A(?!.*\.\.)[\w+.-]+\Z", re.ASCII)


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("My_Pkg", "1.0.0", ("my-pkg", "1.0.0")),
        ("my.pkg", "1.0.0-RC.1", ("my-pkg", "1.0.0rc1")),
        ("pkg", "1!2.0", ("pkg", "1-2.0")),
        ("pkg", "1.0+Local-7", ("pkg", "1.0+local.7")),
        ("pkg", "v1.0.post1.dev2", ("pkg", "1.0.post1.dev2")),
    ],
)
def test_generic_coordinates(name: str, version: str, expected: tuple[str, str]) -> None:
    assert generic_coordinates(name, version) == expected


_name_st = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?\Z")
_version_st = st.builds(
    lambda epoch, release, pre, post, dev, local: Version(
        f"{f'{epoch}!' if epoch else ''}{'.'.join(map(str, release))}{pre}{post}{dev}{local}"
    ),
    st.integers(0, 3),
    st.lists(st.integers(0, 999), min_size=1, max_size=4),
    st.sampled_from(["", "a1", "b2", "rc3"]),
    st.sampled_from(["", ".post1"]),
    st.sampled_from(["", ".dev0"]),
    st.sampled_from(["", "+local", "+ubuntu.1"]),
)


@settings(max_examples=300, deadline=None)
@given(_name_st, _version_st, _version_st)
def test_generic_coordinates_always_valid_and_distinct(name: str, v1: Version, v2: Version) -> None:
    package, version = generic_coordinates(name, str(v1))
    assert GITLAB_NAME.match(package)
    assert GITLAB_VERSION.match(version)
    if v1 != v2:
        assert generic_coordinates(name, str(v2))[1] != version


# -- run order and summary -------------------------------------------------------------------


class RecordingRegistry:
    """Records uploads; ``fail_on`` a file name raises a RegistryError for it."""

    def __init__(self, *, fail_on: str | None = None, present: frozenset[str] = frozenset()):
        self.calls: list[tuple[str, str, float, float]] = []
        self.fail_on = fail_on
        self.present = present
        self.lock = threading.Lock()

    def _record(self, registry: str, path: Path) -> str:
        start = time.monotonic()
        time.sleep(0.01)
        with self.lock:
            self.calls.append((registry, path.name, start, time.monotonic()))
        if path.name == self.fail_on:
            raise RegistryError(f"GitLab answered 403 Forbidden ({SECRET})", status=403)
        return "exists-same" if path.name in self.present else "uploaded"

    def generic_upload(
        self,
        package: str,
        version: str,
        path: Path,
        *,
        sha256: str,
        progress: Callable[[int], None] | None = None,
    ) -> str:
        return self._record("generic", path)

    def pypi_upload(
        self,
        path: Path,
        *,
        name: str,
        version: str,
        sha256: str,
        metadata: Mapping[str, str] = {},
        progress: Callable[[int], None] | None = None,
    ) -> str:
        return self._record("pypi", path)

    def pypi_simple_files(self, name: str) -> list[Listed]:
        return [
            Listed(n, "0" * 64) for n in self.present if not n.endswith((".sig", ".crt", ".json"))
        ]


@dataclass(frozen=True)
class Listed:
    filename: str
    sha256: str | None


class ListReporter:
    def __init__(self) -> None:
        self.finished: list[ItemResult] = []

    def upload_started(self, item: UploadItem) -> Callable[[int], None] | None:
        return None

    def upload_finished(self, result: ItemResult) -> None:
        self.finished.append(result)


def _plan(tmp_path: Path, releases: list[tuple[str, str]], *, concurrency: int = 4) -> Plan:
    dist_dir = tmp_path / "dist"
    for name, version in releases:
        for path in (make_wheel(dist_dir, name, version), make_sdist(dist_dir, name, version)):
            for suffix in (".sigstore.json", ".sig", ".crt"):
                (dist_dir / (path.name + suffix)).write_text(f"{path.name}{suffix}")
    s = resolve({"concurrency": concurrency}, env=CI_ENV)
    dists = collect_dists([dist_dir])
    results = [PreflightResult(d, True, "0" * 64, "signed") for d in dists]
    return build_plan(dists, results, s)


def test_plan_shape(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [("demo_pkg", "1.0.0")])
    assert {(i.package, i.version) for i in plan.generic} == {("demo-pkg", "1.0.0")}
    assert len(plan.generic) == 6
    assert len(plan.pypi) == 2
    assert {(i.package, i.version) for i in plan.pypi} == {("demo_pkg", "1.0.0")}
    text = "\n".join(plan.render())
    assert "PUT packages/generic/demo-pkg/1.0.0/demo_pkg-1.0.0.tar.gz.sig" in text
    assert text.index("generic registry") < text.index("PyPI registry")


def test_generic_first_then_pypi_first_file_of_each_version_alone(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [("alpha", "1.0"), ("beta", "2.0"), ("gamma", "3.0")])
    registry, reporter = RecordingRegistry(), ListReporter()
    summary = execute(plan, registry, reporter)
    assert summary.ok
    assert len(reporter.finished) == len(plan.items) == 24
    last_generic_end = max(end for reg, _n, _s, end in registry.calls if reg == "generic")
    first_pypi_start = min(start for reg, _n, start, _e in registry.calls if reg == "pypi")
    assert last_generic_end <= first_pypi_start
    for registry_name in ("generic", "pypi"):
        for name in ("alpha", "beta", "gamma"):
            calls = sorted(
                (c for c in registry.calls if c[0] == registry_name and c[1].startswith(name)),
                key=lambda c: c[2],
            )
            first_end = calls[0][3]
            assert all(c[2] >= first_end for c in calls[1:]), (registry_name, name)
    # and the rest really runs concurrently
    ends = sorted(c[3] for c in registry.calls)
    starts = sorted(c[2] for c in registry.calls)
    assert any(s < e for s, e in zip(starts[1:], ends[:-1], strict=False))
    assert "The registry holds the whole release: 6 dist(s)" in summary.registry_state()


def test_generic_failure_stops_before_pypi(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [("alpha", "1.0")], concurrency=1)
    bad = "alpha-1.0.tar.gz.sig"
    registry = RecordingRegistry(fail_on=bad)
    summary = execute(plan, registry, ListReporter(), secrets=[SECRET])
    assert not summary.ok
    assert not [c for c in registry.calls if c[0] == "pypi"]
    statuses = {r.item.filename: r.status for r in summary.results}
    assert statuses[bad] == "failed"
    assert {statuses[i.filename] for i in plan.pypi} == {"not attempted"}
    state = summary.registry_state()
    assert "no dist in the PyPI registry" in state
    assert "Re-run" in state
    error = str(summary.error())
    assert SECRET not in error
    assert "***" in error
    assert bad in error


def test_pypi_failure_state(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [("alpha", "1.0")], concurrency=1)
    registry = RecordingRegistry(fail_on="alpha-1.0.tar.gz")
    summary = execute(plan, registry, ListReporter())
    assert "All 6 signature file(s) are in the generic registry" in summary.registry_state()


def test_rerun_reports_present(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [("alpha", "1.0")])
    names = frozenset(i.filename for i in plan.items)
    summary = execute(plan, RecordingRegistry(present=names), ListReporter())
    assert {r.status for r in summary.results} == {"present"}
    assert "0 uploaded now, 8 already there" in summary.registry_state()
    assert ("generic", plan.generic[0].filename, "already there (same sha256)", "30 B") in (
        summary.table()
    )


def test_nothing_uploaded_state(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [("alpha", "1.0")])
    summary = Summary(plan, tuple(ItemResult(i, "not attempted") for i in plan.items))
    assert (
        summary.registry_state() == "The registry is unchanged: nothing of this release is in it."
    )


def test_require_preflight_fails_closed(tmp_path: Path) -> None:
    dists = collect_dists([make_wheel(tmp_path), make_sdist(tmp_path)])
    results = [
        PreflightResult(dists[0], True, "0" * 64, "signed"),
        PreflightResult(dists[1], False, "0" * 64, "no signature file found"),
    ]
    s = resolve()
    with pytest.raises(PublishError) as info:
        require_preflight(results, s)
    text = str(info.value)
    assert "1 of 2" in text
    assert "demo_pkg-1.0.0.tar.gz: no signature file found" in text
    assert "Nothing was uploaded" in text
    assert "allow-unsigned" in text
    allowed = resolve({"allow-unsigned": "true"})
    require_preflight(results, allowed)  # the opt-out lets it through


def test_settings_carry_no_token_value() -> None:
    s = resolve({"token-env": "MY_TOKEN"}, env={**CI_ENV, "MY_TOKEN": SECRET})
    assert s.token == TokenSettings(None, "MY_TOKEN", None, None)
    assert SECRET not in repr(s)


def test_dist_is_frozen(tmp_path: Path) -> None:
    d = read_dist(make_wheel(tmp_path))
    assert isinstance(d, Dist)
    with pytest.raises(AttributeError):
        d.name = "x"  # type: ignore[misc]


def test_pypi_file_with_other_bytes_is_refused_without_sending(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [("alpha", "1.0")])

    class Conflicting(RecordingRegistry):
        def pypi_simple_files(self, name: str) -> list[Listed]:
            return [Listed("alpha-1.0.tar.gz", "f" * 64)]

    registry = Conflicting()
    summary = execute(plan, registry, ListReporter())
    assert not summary.ok
    assert not [c for c in registry.calls if c[0] == "pypi"]
    failed = summary.failures()
    assert [f.item.filename for f in failed] == ["alpha-1.0.tar.gz"]
    assert "different contents" in failed[0].message
    assert "Refusing to overwrite" in failed[0].message
