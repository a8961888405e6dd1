"""The build hook: options, dependencies, real signing of real builds on the local Sigstore."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from build_helpers import build as build_project
from build_helpers import ci, clear_ci_env, make_project, set_env
from hatch_sigstore._files import sidecars_of
from hatch_sigstore.errors import (
    ConfigError,
    HatchSigstoreError,
    SigningError,
    TokenError,
    TrustConfigError,
    VerificationError,
)
from hatch_sigstore.hatch import build_hook
from hatch_sigstore.hatch.build_hook import (
    ATTESTATIONS_REQUIREMENT,
    SIGSTORE_REQUIREMENT,
    BuildOptions,
    SigstoreBuildHook,
)
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import Policy, verify_files

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore

__all__ = ["ci"]  # the fixture, imported for pytest

PATH = "tool.hatch.build.hooks.sigstore"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    clear_ci_env(monkeypatch)
    build_hook.reset_process_state()
    yield
    build_hook.reset_process_state()


def assert_verified(paths: list[Path], local_sigstore: LocalSigstore) -> None:
    trust = TrustChoice.resolve(trust_config=local_sigstore.trust_config_path)
    results = verify_files(paths, Policy.gitlab(local_sigstore.expected_identity()), trust)
    assert [r.ok for r in results] == [True] * len(paths), [r.reason for r in results]


# -- options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "env", "needle"),
    [
        ({"sign": "always"}, {}, f'`{PATH}.sign` must be one of "auto", "required" or "off"'),
        ({"sign": True}, {}, f"`{PATH}.sign` must be one of"),
        ({}, {"HATCH_SIGSTORE_SIGN": "yes"}, "HATCH_SIGSTORE_SIGN is 'yes'"),
        ({"outputs": "bundle"}, {}, f"`{PATH}.outputs` must be an array of strings"),
        ({"outputs": ["bundle", "pgp"]}, {}, '"pgp" (a string) is not one of them'),
        ({"rekor-version": "2"}, {}, f"`{PATH}.rekor-version` must be 1 or 2"),
        ({"rekor-version": 3}, {}, "must be 1 or 2; got 3 (an integer)"),
        (
            {"rekor-version": 2, "outputs": ["bundle", "attestation"]},
            {},
            f"`{PATH}.outputs` asks for a PEP 740 attestation",
        ),
        ({"staging": "no"}, {}, f"`{PATH}.staging` must be true or false"),
        ({"verify": 1}, {}, f"`{PATH}.verify` must be true or false"),
        ({"trust-config": ""}, {}, f"`{PATH}.trust-config` must be a non-empty string"),
        ({"sdist-pyproject": "drop"}, {}, '"rewrite" or "keep"'),
        ({"identity": "group/project"}, {}, f"`{PATH}.identity` must be a table"),
        ({"identity": {"ref": "main"}}, {}, f"`{PATH}.identity.ref` must be a full ref"),
        ({"identity": {"server": "gitlab.com"}}, {}, f"`{PATH}.identity.server`"),
        ({"identity": {"projekt": "x"}}, {}, f"Unknown option `{PATH}.identity.projekt`"),
        ({"sing": "auto"}, {}, f"Unknown option `{PATH}.sing` (did you mean `sign`?)"),
    ],
)
def test_bad_options_name_their_toml_path(
    table: dict[str, Any], env: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        BuildOptions.read(table, PATH, "/root", env)
    assert needle in str(info.value)


def test_every_wrong_key_is_reported_at_once_with_its_toml_path() -> None:
    """Issue 12: a bad table reports every wrong key in one error, as hatch-fancy-pypi-readme."""
    table = {
        "sign": "always",
        "outputs": ["bundle", "pgp"],
        "timeout": 0,
        "sing": "auto",
        "identity": {"ref": "refs/pipelines/7", "server": "gitlab.com", "projekt": "x"},
    }
    with pytest.raises(ConfigError) as info:
        BuildOptions.read(table, PATH, "/root", {"HATCH_SIGSTORE_SIGN": "yes"})
    error = info.value
    lines = str(error).splitlines()
    assert lines[0] == "8 configuration errors:"
    paths = [
        f"`{PATH}.sign`",
        f"`{PATH}.outputs`",
        f"`{PATH}.timeout`",
        f"`{PATH}.sing`",
        f"`{PATH}.identity.ref`",
        f"`{PATH}.identity.server`",
        f"`{PATH}.identity.projekt`",
        "HATCH_SIGSTORE_SIGN",
    ]
    for path in paths:
        assert sum(path in line for line in lines[1:]) == 1, path
    assert len(error.problems) == len(paths) == len(lines) - 1
    assert all(line.startswith("- ") for line in lines[1:])


def test_collected_errors_reach_the_user_from_a_real_build(
    tmp_path: Path, ci: dict[str, str], local_sigstore: LocalSigstore
) -> None:
    root = make_project(
        tmp_path / "p",
        build_hook='[tool.hatch.build.hooks.sigstore]\nsign = "always"\ntimeout = -1\n'
        '[tool.hatch.build.hooks.sigstore.identity]\nref = "main"\n',
    )
    before = local_sigstore.stats["fulcio"]
    with pytest.raises(ConfigError) as info:
        build_project(root)
    message = str(info.value)
    assert message.startswith("3 configuration errors:")
    for key in ("sign", "timeout", "identity.ref"):
        assert f"`{PATH}.{key}`" in message
    assert local_sigstore.stats["fulcio"] == before


def test_defaults_match_hatch_sigstore_sign() -> None:
    from hatch_sigstore import sign as signing
    from hatch_sigstore.hatch import _build_options

    options = BuildOptions.read({}, PATH, "/root", {})
    defaults = signing.SignOptions()
    assert options.sign == "auto"
    assert options.outputs == defaults.outputs == {"bundle", "cosign"}
    assert options.rekor_version == defaults.rekor_version == 1
    assert options.trust({}) == defaults.trust == TrustChoice()
    assert _build_options.OUTPUT_KINDS == signing.OUTPUT_KINDS


def test_env_overrides_sign_and_trust_path_is_relative_to_root(tmp_path: Path) -> None:
    table = {"sign": "required", "trust-config": "trust.json", "outputs": ["cosign"]}
    options = BuildOptions.read(table, PATH, str(tmp_path), {"HATCH_SIGSTORE_SIGN": "OFF"})
    assert (options.sign, options.sign_source) == ("off", "HATCH_SIGSTORE_SIGN")
    assert options.outputs == {"bundle", "cosign"}  # the bundle is always written
    assert options.trust_config == tmp_path / "trust.json"
    with pytest.raises(TrustConfigError) as info:
        options.trust({})
    assert f"`{PATH}.trust-config`" in str(info.value)
    (tmp_path / "trust.json").write_text("{}")
    assert options.trust({}).path == (tmp_path / "trust.json").resolve()


def _hook(root: Path, config: dict[str, Any], target: str = "wheel") -> SigstoreBuildHook:
    from hatchling.builders.wheel import WheelBuilder

    builder = WheelBuilder(str(root))
    return SigstoreBuildHook(str(root), config, builder.config, builder.metadata, "", target)


@pytest.mark.parametrize(
    ("config", "env", "expected"),
    [
        ({}, {}, []),
        ({}, {"SIGSTORE_ID_TOKEN": "x"}, [SIGSTORE_REQUIREMENT]),
        ({"sign": "off"}, {"SIGSTORE_ID_TOKEN": "x"}, []),
        ({"sign": "required"}, {}, [SIGSTORE_REQUIREMENT]),
        ({}, {"HATCH_SIGSTORE_SIGN": "required"}, [SIGSTORE_REQUIREMENT]),
        ({"sign": "required"}, {"HATCH_SIGSTORE_SIGN": "off"}, []),
        (
            {"outputs": ["bundle", "attestation"]},
            {"SIGSTORE_ID_TOKEN": "x"},
            [SIGSTORE_REQUIREMENT, ATTESTATIONS_REQUIREMENT],
        ),
    ],
)
def test_dependencies_only_when_signing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, Any],
    env: dict[str, str],
    expected: list[str],
) -> None:
    set_env(monkeypatch, env)
    root = make_project(tmp_path / "p")
    assert _hook(root, config).dependencies() == expected


def test_dependencies_flow_into_pep517_requirements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hatchling.build

    root = make_project(tmp_path / "p")
    monkeypatch.chdir(root)
    assert hatchling.build.get_requires_for_build_wheel() == []
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", "x")
    assert SIGSTORE_REQUIREMENT in hatchling.build.get_requires_for_build_sdist()
    monkeypatch.setenv("HATCH_BUILD_NO_HOOKS", "true")
    assert hatchling.build.get_requires_for_build_wheel() == []


def test_signing_off_imports_nothing_heavy(tmp_path: Path) -> None:
    """In a fresh interpreter: a full build with the hooks must not import sigstore or httpx,
    nor our own signing side (it costs a build ~25 ms even before sigstore loads)."""
    import subprocess
    import sys

    root = make_project(tmp_path / "p")
    ours = (
        "hatch_sigstore.sign",
        "hatch_sigstore.hatch._build_signing",
        "hatch_sigstore.sign._tokens",
        "hatch_sigstore.trust",
        "hatch_sigstore.verify",
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from build_helpers import build; from pathlib import Path;"
        "build(Path(sys.argv[2]));"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"('sigstore', 'httpx', 'cryptography', 'pydantic', 'pypi_attestations') or m in {ours});"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    tests = str(Path(__file__).parents[1])
    for env_sign in ("off", "auto"):
        env = {k: v for k, v in __import__("os").environ.items() if k != "SIGSTORE_ID_TOKEN"}
        env["HATCH_SIGSTORE_SIGN"] = env_sign
        done = subprocess.run(
            [sys.executable, "-c", code, tests, str(root)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


_TOKEN_ENV_VALUES = st.sampled_from(["", " ", "x", "eyJ.a.b"])


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "SIGSTORE_ID_TOKEN": _TOKEN_ENV_VALUES,
            "ACTIONS_ID_TOKEN_REQUEST_URL": _TOKEN_ENV_VALUES,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": _TOKEN_ENV_VALUES,
            "OTHER": _TOKEN_ENV_VALUES,
        },
    )
)
def test_token_check_agrees_with_signing(env: dict[str, str]) -> None:
    """The build hook's shortcut (no signing import when no token variable is set) is exact."""
    from hatch_sigstore.sign import token_available

    assert build_hook._token_in(env) == token_available(env)


# -- no signing -------------------------------------------------------------------------


def test_auto_without_token_skips_and_says_so_once(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path / "p")
    artifacts = build_project(root)
    assert [sidecars_of(a) for a in artifacts] == [{}, {}]
    err = capfd.readouterr().err
    assert err.count("not signing: no Sigstore identity token") == 1


def test_required_without_token_fails_before_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HATCH_SIGSTORE_SIGN", "required")
    root = make_project(tmp_path / "p")
    with pytest.raises(TokenError) as info:
        build_project(root)
    assert "SIGSTORE_ID_TOKEN" in str(info.value)
    assert "id_tokens" in str(info.value)
    assert not (root / "dist").exists() or not any((root / "dist").iterdir())


def test_editable_builds_are_never_signed(
    tmp_path: Path, ci: dict[str, str], local_sigstore: LocalSigstore
) -> None:
    local_sigstore.reset_stats()
    # dev-mode-dirs: hatchling's .pth-file editable wheel (no `editables` needed)
    root = make_project(tmp_path / "p", extra='dev-mode-dirs = ["src"]\n')
    (wheel,) = build_project(root, targets=["wheel"], versions=["editable"])
    assert wheel.name.endswith(".whl")
    assert sidecars_of(wheel) == {}
    assert local_sigstore.stats["fulcio"] == 0


def test_pip_temporary_folder_is_not_signed(
    tmp_path: Path,
    ci: dict[str, str],
    local_sigstore: LocalSigstore,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PIP_BUILD_TRACKER", str(tmp_path / "tracker"))
    local_sigstore.reset_stats()
    root = make_project(tmp_path / "p")
    (wheel,) = build_project(root, targets=["wheel"])
    assert sidecars_of(wheel) == {}
    assert "hatch-sigstore sign dist/*" in capfd.readouterr().err
    monkeypatch.setenv("HATCH_SIGSTORE_SIGN", "required")
    with pytest.raises(SigningError, match="temporary folder"):
        build_project(root, tmp_path / "o2", targets=["wheel"])
    assert local_sigstore.stats["fulcio"] == 0


@pytest.mark.parametrize(
    ("variable", "value", "expected_hooks"),
    [
        ("HATCH_BUILD_NO_HOOKS", "true", False),
        ("HATCH_BUILD_HOOK_ENABLE_SIGSTORE", "true", True),
    ],
)
def test_hatch_hook_switches(
    tmp_path: Path,
    ci: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    expected_hooks: bool,
) -> None:
    """``HATCH_BUILD_NO_HOOKS`` wins; ``enable-by-default = false`` needs the per-hook switch."""
    root = make_project(
        tmp_path / "p",
        build_hook="[tool.hatch.build.hooks.sigstore]\nenable-by-default = false\n",
    )
    (wheel,) = build_project(root, targets=["wheel"])
    assert sidecars_of(wheel) == {}  # disabled by default
    monkeypatch.setenv(variable, value)
    (wheel,) = build_project(root, tmp_path / "o2", targets=["wheel"])
    assert bool(sidecars_of(wheel)) is expected_hooks


# -- signing against the local Sigstore ---------------------------------------------------


def test_sdist_and_wheel_signed_in_one_session_and_verified(
    tmp_path: Path, ci: dict[str, str], local_sigstore: LocalSigstore
) -> None:
    local_sigstore.reset_stats()
    root = make_project(tmp_path / "p")
    sdist, wheel = build_project(root)
    assert (sdist.name, wheel.name) == (
        "my_ci_project-1.2.3.tar.gz",
        "my_ci_project-1.2.3-py3-none-any.whl",
    )
    for artifact in (sdist, wheel):
        assert set(sidecars_of(artifact)) == {".sigstore.json", ".sig", ".crt"}
    assert local_sigstore.stats["fulcio"] == 1  # one certificate for both
    assert local_sigstore.stats["rekor_create"] == 2
    assert_verified([sdist, wheel], local_sigstore)
    listing = sorted(p.name for p in (root / "dist").iterdir())
    assert len(listing) == 8


def test_attestation_output_and_target_table(
    tmp_path: Path, ci: dict[str, str], local_sigstore: LocalSigstore
) -> None:
    """A hook table under targets.wheel replaces the global one (and only applies there)."""
    root = make_project(
        tmp_path / "p",
        build_hook='[tool.hatch.build.hooks.sigstore]\nsign = "off"\n',
        extra="\n[tool.hatch.build.targets.wheel.hooks.sigstore]\n"
        'outputs = ["bundle", "attestation"]\n',
    )
    sdist, wheel = build_project(root)
    assert sidecars_of(sdist) == {}
    assert set(sidecars_of(wheel)) == {".sigstore.json", ".publish.attestation"}
    assert_verified([wheel], local_sigstore)


def test_bad_option_in_target_table_names_that_table(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        extra='\n[tool.hatch.build.targets.wheel.hooks.sigstore]\noutputs = ["gpg"]\n',
    )
    with pytest.raises(
        ConfigError,
        match=r"`tool\.hatch\.build\.targets\.wheel\.hooks\.sigstore"
        r"\.outputs` must be an array",
    ):
        build_project(root, targets=["wheel"])


def test_stale_signatures_are_replaced(
    tmp_path: Path,
    ci: dict[str, str],
    local_sigstore: LocalSigstore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_project(tmp_path / "p")
    (wheel,) = build_project(root, targets=["wheel"])
    old = sidecars_of(wheel)[".sigstore.json"].read_bytes()
    (root / "src" / "toy" / "__init__.py").write_text("X = 2\n")
    build_hook.reset_process_state()
    (wheel,) = build_project(root, targets=["wheel"])
    assert sidecars_of(wheel)[".sigstore.json"].read_bytes() != old
    assert_verified([wheel], local_sigstore)
    # and with signing off, the old (now wrong) signatures go away
    monkeypatch.setenv("HATCH_SIGSTORE_SIGN", "off")
    (root / "src" / "toy" / "__init__.py").write_text("X = 3\n")
    (wheel,) = build_project(root, targets=["wheel"])
    assert sidecars_of(wheel) == {}


def test_identity_mismatch_fails_and_keeps_no_signature(
    tmp_path: Path, ci: dict[str, str], local_sigstore: LocalSigstore
) -> None:
    root = make_project(
        tmp_path / "p",
        build_hook='[tool.hatch.build.hooks.sigstore.identity]\nproject-path = "other/project"\n',
    )
    with pytest.raises(VerificationError) as info:
        build_project(root, targets=["wheel"])
    message = str(info.value)
    assert "other/project" in message
    assert "identity" in message
    wheel = root / "dist" / "my_ci_project-1.2.3-py3-none-any.whl"
    # signed with the wrong identity: neither the wheel nor a signature of it stays in dist/
    assert f"{wheel.name} was removed from {wheel.parent}" in message
    assert list((root / "dist").iterdir()) == []


@pytest.mark.parametrize(
    ("key", "value", "fix"),
    [
        ("ref", "refs/pipelines/7", "refs/heads/BRANCH"),
        ("ref", "main", "refs/heads/main"),
        ("project-path", "just-a-name", "my-group/my-project"),
        ("server", "gitlab.example.com", "https://gitlab.example.com"),
    ],
)
def test_invalid_identity_fails_before_any_ca_call_naming_the_toml_key(
    tmp_path: Path,
    ci: dict[str, str],
    local_sigstore: LocalSigstore,
    key: str,
    value: str,
    fix: str,
) -> None:
    """Issue 12: ``identity.ref = "refs/pipelines/7"`` passed the hook's own checks, was signed
    (a CA call and a public log entry) and only then failed, asking for a CLI flag. Now the one
    identity model refuses it while reading the options, in the hook's TOML words."""
    root = make_project(
        tmp_path / "p",
        build_hook=f'[tool.hatch.build.hooks.sigstore.identity]\n{key} = "{value}"\n',
    )
    before = local_sigstore.stats
    with pytest.raises(ConfigError) as info:
        build_project(root)
    message = str(info.value)
    assert f"`{PATH}.identity.{key}`" in message
    assert fix in message
    assert "--" not in message  # no CLI flag in a build error
    after = local_sigstore.stats
    assert (after["fulcio"], after["rekor_create"]) == (before["fulcio"], before["rekor_create"])
    assert not (root / "dist").exists() or not any((root / "dist").iterdir())


def test_configured_identity_outside_ci(
    tmp_path: Path, local_sigstore: LocalSigstore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token but no CI variables: the identity comes from the hook table."""
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", local_sigstore.mint_token(ref="release"))
    monkeypatch.setenv("HATCH_SIGSTORE_TRUST_CONFIG", str(local_sigstore.trust_config_path))
    root = make_project(tmp_path / "p")
    with pytest.raises(ConfigError, match=r"identity\.project-path"):
        build_project(root, targets=["wheel"])
    root2 = make_project(
        tmp_path / "p2",
        build_hook="[tool.hatch.build.hooks.sigstore.identity]\n"
        f'server = "{local_sigstore.gitlab_url}"\nproject-path = "group/project"\n'
        'ref = "refs/heads/release"\n',
    )
    (wheel,) = build_project(root2, targets=["wheel"])
    assert ".sigstore.json" in sidecars_of(wheel)


# each breaks one thing and returns the build hook table to use


def _expired(local_sigstore: LocalSigstore, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", local_sigstore.mint_token(expires_in=-60))
    return "[tool.hatch.build.hooks.sigstore]\n"


def _fulcio_refuses(local_sigstore: LocalSigstore, monkeypatch: pytest.MonkeyPatch) -> str:
    local_sigstore.fail_next("fulcio", status=403, times=5, body=b'{"message":"denied"}')
    return "[tool.hatch.build.hooks.sigstore]\n"


def _rekor_refuses(local_sigstore: LocalSigstore, monkeypatch: pytest.MonkeyPatch) -> str:
    local_sigstore.fail_next("rekor", status=500, times=10)
    return "[tool.hatch.build.hooks.sigstore]\n"


def _rekor_hangs(local_sigstore: LocalSigstore, monkeypatch: pytest.MonkeyPatch) -> str:
    local_sigstore.hang_next("rekor", seconds=6, times=10)
    return "[tool.hatch.build.hooks.sigstore]\ntimeout = 0.5\n"


def _trust_missing(local_sigstore: LocalSigstore, monkeypatch: pytest.MonkeyPatch) -> str:
    return '[tool.hatch.build.hooks.sigstore]\ntrust-config = "missing/trust.json"\n'


@pytest.mark.parametrize(
    ("breakage", "error", "needle"),
    [
        (_expired, TokenError, "expired"),
        (_fulcio_refuses, HatchSigstoreError, "403"),
        (_rekor_refuses, HatchSigstoreError, "500"),
        (_rekor_hangs, HatchSigstoreError, "time"),
        (_trust_missing, TrustConfigError, "tool.hatch.build.hooks.sigstore.trust-config"),
    ],
    ids=["expired-token", "fulcio-refuses", "rekor-refuses", "rekor-times-out", "no-trust"],
)
def test_failures_fail_the_build_and_leave_no_signature(
    tmp_path: Path,
    ci: dict[str, str],
    local_sigstore: LocalSigstore,
    monkeypatch: pytest.MonkeyPatch,
    breakage: Any,
    error: type[Exception],
    needle: str,
) -> None:
    root = make_project(tmp_path / "p", build_hook=breakage(local_sigstore, monkeypatch))
    dist = root / "dist"
    dist.mkdir()
    # a stale signature from an earlier build must not survive either
    (dist / "my_ci_project-1.2.3-py3-none-any.whl.sigstore.json").write_text("{}")
    try:
        with pytest.raises(error) as info:
            build_project(root, targets=["wheel"])
    finally:
        local_sigstore.clear_faults()
    message = str(info.value)
    assert needle in message.lower() or needle in message
    assert "Traceback" not in message
    assert ci["SIGSTORE_ID_TOKEN"] not in message
    wheel = dist / "my_ci_project-1.2.3-py3-none-any.whl"
    if "was removed from" in message:  # failed while signing: the wheel and every signature
        assert f"{wheel.name} was removed from {dist}" in message  # of it (even the stale one)
        assert list(dist.iterdir()) == []  # are gone: nothing unsigned stays behind
    else:  # failed before building anything: nothing was written or removed
        assert sorted(p.name for p in dist.iterdir()) == [wheel.name + ".sigstore.json"]
    assert not [p for p in dist.iterdir() if ".tmp" in p.name or p.name.startswith(".")]


# -- nothing unsigned stays behind --------------------------------------------------------


@pytest.mark.parametrize(
    "first_line",
    ["# hatch-sigstore-sandbox-env", "\ufeff# hatch-sigstore-sandbox-env (written by up)"],
)
def test_an_sdist_holding_the_sandbox_env_file_is_refused_and_removed(
    tmp_path: Path, ci: dict[str, str], local_sigstore: LocalSigstore, first_line: str
) -> None:
    from hatch_sigstore._files import SANDBOX_ENV_NAME

    local_sigstore.reset_stats()
    root = make_project(tmp_path / "p")
    (root / "state").mkdir()  # `sandbox up --state-dir state`: inside the project
    (root / "state" / SANDBOX_ENV_NAME).write_text(f"{first_line}\nexport CI_JOB_TOKEN=x\n")
    with pytest.raises(SigningError) as info:
        build_project(root, targets=["sdist"])
    message = str(info.value)
    assert "contains the hatch-sigstore sandbox's env file" in message
    assert f"state/{SANDBOX_ENV_NAME}" in message
    assert "my_ci_project-1.2.3.tar.gz was removed from" in message
    assert list((root / "dist").iterdir()) == []
    assert local_sigstore.stats["fulcio"] == 0  # refused before anything was signed


def test_an_ordinary_file_of_that_name_is_signed(
    tmp_path: Path, ci: dict[str, str], local_sigstore: LocalSigstore
) -> None:
    root = make_project(tmp_path / "p")
    (root / "sandbox.env").write_text("# my own settings\nX=1\n")
    (sdist,) = build_project(root, targets=["sdist"])
    assert ".sigstore.json" in sidecars_of(sdist)


FAILING_FINALIZE = """\
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def finalize(self, version, build_data, artifact_path):
        raise RuntimeError("another hook failed")
"""


def test_an_artifact_another_hook_failed_before_we_signed_it_is_removed_at_exit(
    tmp_path: Path, ci: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from hatch_sigstore.hatch._build_signing import remove_unsigned_leftovers

    root = make_project(
        tmp_path / "p",
        build_hook="[tool.hatch.build.hooks.custom]\n\n[tool.hatch.build.hooks.sigstore]\n",
    )
    (root / "hatch_build.py").write_text(FAILING_FINALIZE)
    dist = root / "dist"
    dist.mkdir()
    (dist / "other-1.0.tar.gz").write_bytes(b"an earlier build of something else")
    with pytest.raises(RuntimeError, match="another hook failed"):
        build_project(root, targets=["wheel"])
    wheel = dist / "my_ci_project-1.2.3-py3-none-any.whl"
    assert wheel.is_file()  # hatchling wrote it; our finalize never ran
    assert remove_unsigned_leftovers() == [wheel]  # what atexit runs
    assert sorted(p.name for p in dist.iterdir()) == ["other-1.0.tar.gz"]
    assert f"hatch-sigstore: removed {wheel}: the build failed before it was signed" in (
        capsys.readouterr().err
    )


def test_a_signed_build_leaves_nothing_for_the_exit_handler(
    tmp_path: Path, ci: dict[str, str]
) -> None:
    from hatch_sigstore.hatch._build_signing import remove_unsigned_leftovers

    root = make_project(tmp_path / "p")
    sdist, wheel = build_project(root)
    assert remove_unsigned_leftovers() == []
    assert sdist.is_file()
    assert wheel.is_file()


def test_a_pipeline_without_a_ref_takes_the_identity_tables_ref_or_names_it(
    tmp_path: Path,
) -> None:
    from hatch_sigstore.ci import CIContext
    from hatch_sigstore.errors import ConfigError
    from hatch_sigstore.hatch._build_options import BuildOptions
    from hatch_sigstore.hatch._sign_verify import expected_identity

    path = "tool.hatch.build.hooks.sigstore"
    no_ref = CIContext({"CI_SERVER_URL": "https://gitlab.example.com", "CI_PROJECT_PATH": "g/p"})
    table = {"identity": {"ref": "refs/tags/v1.0"}}
    identity = expected_identity(BuildOptions.read(table, path, str(tmp_path)), no_ref)
    assert (identity.server, identity.project_path, identity.ref) == (
        "https://gitlab.example.com",
        "g/p",
        "refs/tags/v1.0",
    )
    with pytest.raises(ConfigError) as info:
        expected_identity(BuildOptions.read({}, path, str(tmp_path)), no_ref)
    assert "Neither CI_COMMIT_TAG nor CI_COMMIT_BRANCH is set" in str(info.value)
    assert f'set `{path}.identity.ref` (e.g. "refs/tags/v1.0")' in str(info.value)
