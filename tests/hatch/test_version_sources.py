"""CI metadata with the project's own version source and other plugins' metadata hooks.

Real in-process hatchling builds with the real hatch-vcs and hatch-fancy-pypi-readme from PyPI
(installed in the test environment): the CI version wins over any ``[tool.hatch.version]``
source, version build hooks write it, other hooks see the CI name and version whatever the
table order, and outside CI the project's own version is used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_helpers import (
    CI_METADATA,
    clear_ci_env,
    make_project,
    sdist_member,
    sdist_pkg_info,
    set_env,
    unpack_sdist,
    urls_of,
    wheel_metadata,
)
from build_helpers import build as build_project
from hatch_sigstore.errors import ConfigError
from hatch_sigstore.hatch._pyproject import rewrite_pyproject

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


# hatch-vcs 0.5 calls setuptools-scm's dump_version the way setuptools-scm 10 deprecates
pytestmark = pytest.mark.filterwarnings(
    "ignore:write_version_to_path called without scm_version:DeprecationWarning"
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    clear_ci_env(monkeypatch)
    monkeypatch.setenv("HATCH_SIGSTORE_SIGN", "off")
    from hatch_sigstore.hatch.build_hook import reset_process_state

    reset_process_state()
    yield
    reset_process_state()


OUR_TABLE = "[tool.hatch.metadata.hooks.sigstore]\n"
FANCY = """
[tool.hatch.metadata.hooks.fancy-pypi-readme]
content-type = "text/markdown"

[[tool.hatch.metadata.hooks.fancy-pypi-readme.fragments]]
text = "# $HFPR_PACKAGE_NAME $HFPR_VERSION"
"""


def _file_in_wheel(wheel: Path, name: str) -> str:
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        return zf.read(name).decode()


def path_source_project(path: Path, *, hooks: str = OUR_TABLE, extra: str = "") -> Path:
    """Version from ``__about__.py`` (a ``path`` source), written into ``_version.py`` by
    hatchling's own ``version`` build hook."""
    root = make_project(
        path,
        metadata_hook=hooks,
        dynamic=("version",),
        extra=textwrap.dedent(
            """
            [tool.hatch.version]
            path = "src/toy/__about__.py"

            [tool.hatch.build.hooks.version]
            path = "src/toy/_version.py"
            """
        )
        + extra,
    )
    (root / "src" / "toy" / "__about__.py").write_text('__version__ = "4.5.6"\n')
    return root


# -- any [tool.hatch.version] source ---------------------------------------------------------


def test_ci_version_replaces_the_path_source_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = path_source_project(tmp_path / "p")
    (wheel,) = build_project(root, tmp_path / "local", targets=["wheel"])
    assert wheel.name == "toy_orig-4.5.6-py3-none-any.whl"  # outside CI: the source
    assert "hatch-sigstore" not in capsys.readouterr().err

    monkeypatch.setenv("PACKAGE_VERSION", "1.0.dev7")
    sdist, wheel = build_project(root, tmp_path / "ci")
    assert (sdist.name, wheel.name) == (
        "toy_orig-1.0.dev7.tar.gz",
        "toy_orig-1.0.dev7-py3-none-any.whl",
    )
    assert wheel_metadata(wheel)["Version"] == "1.0.dev7"
    assert sdist_pkg_info(sdist)["Version"] == "1.0.dev7"
    # the version build hook wrote the CI version into the file it generates
    assert "1.0.dev7" in _file_in_wheel(wheel, "toy/_version.py")
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("hatch-sigstore:")]
    assert lines[0] == (
        "hatch-sigstore: version 1.0.dev7 (from PACKAGE_VERSION) replaces 4.5.6 from the "
        "[tool.hatch.version] source `regex`"
    )
    # the sdist's pyproject carries the version statically, the source table untouched
    shipped = tomllib.loads(sdist_member(sdist, "pyproject.toml"))
    assert shipped["project"]["version"] == "1.0.dev7"
    assert shipped["tool"]["hatch"]["version"] == {"path": "src/toy/__about__.py"}
    # the project's own files are as they were
    assert (root / "src" / "toy" / "__about__.py").read_text() == '__version__ = "4.5.6"\n'


def test_a_tag_pipeline_takes_the_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = path_source_project(tmp_path / "p")
    monkeypatch.setenv("CI_COMMIT_TAG", "v4.6.0")
    (wheel,) = build_project(root, targets=["wheel"])
    assert wheel.name == "toy_orig-4.6.0-py3-none-any.whl"


def test_pep517_metadata_has_the_ci_version_with_a_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``prepare_metadata_for_build_wheel`` reads the name before the version: without the
    wrapped source hatchling would keep the source's answer there."""
    import hatchling.build

    root = path_source_project(tmp_path / "p")
    monkeypatch.setenv("PACKAGE_VERSION", "2.0")
    out = tmp_path / "meta"
    out.mkdir()
    monkeypatch.chdir(root)
    dist_info = hatchling.build.prepare_metadata_for_build_wheel(str(out))
    assert dist_info == "toy_orig-2.0.dist-info"
    assert "Version: 2.0\n" in (out / dist_info / "METADATA").read_text()


def _hatchling(root: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hatchling", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_hatch_version_keeps_showing_and_setting_the_source(tmp_path: Path) -> None:
    """``hatch version`` (``hatchling version``) builds no metadata: it is the source's."""
    root = path_source_project(tmp_path / "p")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CI_")}
    env.update({"PACKAGE_VERSION": "9.9", "HATCH_SIGSTORE_SIGN": "off"})
    shown = _hatchling(root, "version", env=env)
    assert (shown.returncode, shown.stdout.strip()) == (0, "4.5.6"), shown.stderr
    bumped = _hatchling(root, "version", "minor", env=env)
    assert bumped.returncode == 0, bumped.stderr
    assert (root / "src" / "toy" / "__about__.py").read_text() == '__version__ = "4.6.0"\n'
    # and a real build in CI still takes the CI version
    built = _hatchling(root, "build", "-t", "wheel", env=env)
    assert built.returncode == 0, built.stderr
    assert (root / "dist" / "toy_orig-9.9-py3-none-any.whl").is_file()
    assert "replaces 4.6.0 from the [tool.hatch.version] source `regex`" in built.stderr


def test_a_failing_source_does_not_matter_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = path_source_project(tmp_path / "p")
    (root / "src" / "toy" / "__about__.py").write_text("no version here\n")
    with pytest.raises(ValueError, match="regex"):  # outside CI: the source's own error
        build_project(root, targets=["wheel"])
    monkeypatch.setenv("PACKAGE_VERSION", "3.0")
    (wheel,) = build_project(root, tmp_path / "ci", targets=["wheel"])
    assert wheel.name == "toy_orig-3.0-py3-none-any.whl"
    err = capsys.readouterr().err
    assert "version 3.0 (from PACKAGE_VERSION) replaces the [tool.hatch.version] source" in err
    assert "(it failed: " in err


# -- hatch-vcs, the real one -----------------------------------------------------------------


def _git(root: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def vcs_project(path: Path, hooks: str = OUR_TABLE) -> Path:
    root = make_project(
        path,
        metadata_hook=hooks,
        dynamic=("version", "readme"),
        extra=textwrap.dedent(
            """
            [tool.hatch.version]
            source = "vcs"

            [tool.hatch.build.hooks.vcs]
            version-file = "src/toy/_version.py"
            """
        ),
    )
    text = (root / "pyproject.toml").read_text().replace('readme = "README.md"\n', "")
    (root / "pyproject.toml").write_text(text)
    (root / ".gitignore").write_text("src/toy/_version.py\ndist/\n")
    _git(root, "init", "-q", "--initial-branch=main")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "release")
    _git(root, "tag", "v2.1.0")
    return root


@pytest.mark.parametrize("order", ["ours-first", "fancy-first"])
def test_hatch_vcs_and_fancy_readme_see_the_ci_values_in_any_order(
    order: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = OUR_TABLE + "rename = true\n"
    hooks = ours + FANCY if order == "ours-first" else FANCY + ours
    root = vcs_project(tmp_path / "p", hooks)
    (wheel,) = build_project(root, tmp_path / "local", targets=["wheel"])
    assert wheel.name == "toy_orig-2.1.0-py3-none-any.whl"  # outside CI: the tag, via git
    assert wheel_metadata(wheel).get_payload() == "# toy-orig 2.1.0"

    set_env(monkeypatch, {"PACKAGE_VERSION": "2.2.0.dev5", "CI_PROJECT_NAME": "ci-name"})
    sdist, wheel = build_project(root, tmp_path / "ci")
    assert wheel.name == "ci_name-2.2.0.dev5-py3-none-any.whl"
    for meta in (wheel_metadata(wheel), sdist_pkg_info(sdist)):
        assert (meta["Name"], meta["Version"]) == ("ci_name", "2.2.0.dev5")
        # hatch-fancy-pypi-readme substituted the CI name and version, whichever ran first
        assert meta.get_payload() == "# ci_name 2.2.0.dev5"
    # hatch-vcs' version build hook wrote the CI version
    assert "2.2.0.dev5" in _file_in_wheel(wheel, "toy/_version.py")


def test_hatch_vcs_urls_hook_keeps_the_ci_homepage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hatch-vcs' metadata hook sets ``urls`` wholesale; listed after ours, it cannot undo CI."""
    vcs_urls = (
        '\n[tool.hatch.metadata.hooks.vcs.urls]\nSource = "https://x.example/{commit_hash}"\n'
    )
    root = vcs_project(tmp_path / "p", OUR_TABLE + vcs_urls)
    text = (root / "pyproject.toml").read_text().replace('"readme"]', '"readme", "urls"]')
    (root / "pyproject.toml").write_text(text)
    _git(root, "commit", "-qam", "urls")
    _git(root, "tag", "-f", "v2.1.0")
    monkeypatch.setenv("CI_PROJECT_URL", "https://gitlab.example.com/g/p")
    (wheel,) = build_project(root, targets=["wheel"])
    urls = urls_of(wheel_metadata(wheel))
    assert urls["Homepage"] == "https://gitlab.example.com/g/p"
    assert urls["Source"].startswith("https://x.example/")


# -- static [project.urls]: only the Homepage entry changes ---------------------------------


def test_static_project_urls_get_the_ci_homepage_in_the_sdist_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(
        tmp_path / "p",
        metadata_hook=OUR_TABLE + 'fallback-version = "0.0.0"\n',
        dynamic=("version",),
        project_extra=(
            '\n[project.urls]\n# where it lives\nHomepage = "https://github.com/o/p"\n'
            '"Bug Tracker" = "https://github.com/o/p/issues"\n'
        ),
    )
    (wheel,) = build_project(root, tmp_path / "local", targets=["wheel"])
    assert urls_of(wheel_metadata(wheel))["Homepage"] == "https://github.com/o/p"

    set_env(
        monkeypatch, {"CI_PROJECT_URL": "https://gitlab.example.com/g/p", "CI_COMMIT_TAG": "v1.0"}
    )
    sdist, wheel = build_project(root, tmp_path / "ci")
    expected = {
        "Homepage": "https://gitlab.example.com/g/p",
        "Bug Tracker": "https://github.com/o/p/issues",
    }
    assert urls_of(wheel_metadata(wheel)) == expected
    shipped = tomllib.loads(sdist_member(sdist, "pyproject.toml"))["project"]
    assert shipped["urls"] == expected
    # a wheel built from that sdist without CI keeps them
    clear_ci_env(monkeypatch)
    monkeypatch.setenv("HATCH_SIGSTORE_SIGN", "off")
    (again,) = build_project(unpack_sdist(sdist, tmp_path / "u"), tmp_path / "o", targets=["wheel"])
    assert urls_of(wheel_metadata(again)) == expected


@pytest.mark.parametrize(
    "urls",
    [
        '\n[project.urls]\nHomepage = "a"\nDocs = "d"\n\n[tool.x]\ny = 1\n',
        '\n[ project . urls ]  # c\nHomepage = "a"\n',
        'urls = { Homepage = "a", Docs = "d" }\n',
    ],
    ids=["table", "spaced-header", "inline"],
)
def test_rewrite_static_urls(urls: str) -> None:
    text = f'[project]\nname = "x"\nversion = "1"\n{urls}'
    original = tomllib.loads(text)
    new = {**original["project"]["urls"], "Homepage": "https://h.example/"}
    out = rewrite_pyproject(text, urls=new)
    parsed = tomllib.loads(out)
    assert parsed["project"]["urls"] == new
    assert parsed.get("tool") == original.get("tool")


# -- hooks hatchling does not let us prepare -------------------------------------------------

CUSTOM_HOOK = """\
from hatchling.metadata.plugin.interface import MetadataHookInterface


class CustomMetadataHook(MetadataHookInterface):
    def update(self, metadata):
        metadata["description"] = f"{metadata['name']} {metadata.get('version')}"
"""


@pytest.mark.parametrize("custom_first", [True, False], ids=["custom-first", "ours-first"])
def test_a_custom_hook_before_ours_stops_the_build_with_the_order_to_fix(
    custom_first: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    custom = "[tool.hatch.metadata.hooks.custom]\n"
    ours = OUR_TABLE + 'rename = true\nfallback-version = "0.0.0"\n'
    root = make_project(
        tmp_path / "p",
        metadata_hook=custom + ours if custom_first else ours + custom,
        dynamic=("version", "description"),
    )
    text = (root / "pyproject.toml").read_text().replace('description = "toy"\n', "")
    (root / "pyproject.toml").write_text(text)
    (root / "hatch_build.py").write_text(CUSTOM_HOOK)
    if not custom_first:  # the custom hook sees our fallback version, and in CI the CI values
        (wheel,) = build_project(root, tmp_path / "local", targets=["wheel"])
        assert wheel_metadata(wheel)["Summary"] == "toy-orig 0.0.0"
        set_env(monkeypatch, {"CI_PROJECT_NAME": "ci-name", "PACKAGE_VERSION": "1.1"})
        (wheel,) = build_project(root, tmp_path / "ci", targets=["wheel"])
        assert wheel_metadata(wheel)["Summary"] == "ci_name 1.1"
        return
    set_env(monkeypatch, {"CI_PROJECT_NAME": "ci-name", "PACKAGE_VERSION": "1.1"})
    with pytest.raises(ConfigError) as info:
        build_project(root, tmp_path / "ci", targets=["wheel"])
    message = str(info.value)
    assert "[tool.hatch.metadata.hooks.custom] run before hatch-sigstore's" in message
    assert (
        "Move [tool.hatch.metadata.hooks.sigstore] above [tool.hatch.metadata.hooks.custom]"
        in message
    )


# -- HATCH_SIGSTORE_SIGN=required needs the build hook (issue 10) ---------------------------


@pytest.mark.parametrize(
    ("build_hook", "env", "needle"),
    [
        ("", {}, "neither [tool.hatch.build.hooks.sigstore] nor"),
        (
            "[tool.hatch.build.hooks.sigstore]\nenable-by-default = false\n",
            {},
            "HATCH_BUILD_HOOK_ENABLE_SIGSTORE=true",
        ),
        ("[tool.hatch.build.hooks.sigstore]\n", {"HATCH_BUILD_NO_HOOKS": "true"}, "NO_HOOKS"),
        (
            "[tool.hatch.build.targets.wheel.hooks.sigstore]\n",
            {},
            "for the sdist target",
        ),
    ],
    ids=["no-table", "enable-by-default", "no-hooks", "wheel-only"],
)
def test_required_signing_without_the_build_hook_fails_naming_the_fix(
    build_hook: str,
    env: dict[str, str],
    needle: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_project(tmp_path / "p", build_hook=build_hook)
    set_env(monkeypatch, {**env, "HATCH_SIGSTORE_SIGN": "required"})
    with pytest.raises(ConfigError) as info:
        build_project(root, targets=["wheel"])
    message = str(info.value)
    assert 'Signing is required (HATCH_SIGSTORE_SIGN = "required")' in message
    assert needle in message
    assert not (root / "dist").exists() or not list((root / "dist").iterdir())


def test_required_signing_with_the_hook_switched_on_passes_that_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(
        tmp_path / "p", build_hook="[tool.hatch.build.hooks.sigstore]\nenable-by-default = false\n"
    )
    set_env(
        monkeypatch,
        {"HATCH_SIGSTORE_SIGN": "required", "HATCH_BUILD_HOOK_ENABLE_SIGSTORE": "true"},
    )
    with pytest.raises(Exception) as info:  # now the build hook itself runs: no token here
        build_project(root, targets=["wheel"])
    assert "SIGSTORE_ID_TOKEN" in str(info.value)
    assert "Signing is required" not in str(info.value)


# -- building from an unpacked sdist ----------------------------------------------------------


def test_a_pkg_info_build_says_the_sdist_metadata_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(monkeypatch, CI_METADATA)
    root = make_project(tmp_path / "p")
    (sdist,) = build_project(root, targets=["sdist"])
    unpacked = unpack_sdist(sdist, tmp_path / "u")
    capsys.readouterr()
    # the same CI variables (python -m build's wheel step): one line, no complaint
    (wheel,) = build_project(unpacked, tmp_path / "o1", targets=["wheel"])
    assert wheel.name == "my_ci_project-1.2.3-py3-none-any.whl"
    err = capsys.readouterr().err
    assert (
        "hatch-sigstore: building from an sdist (PKG-INFO): its metadata is kept, "
        "my_ci_project 1.2.3" in err
    )
    # other CI variables: still the sdist's metadata, and the line says what was ignored
    monkeypatch.setenv("PACKAGE_VERSION", "1.2.4")
    (wheel,) = build_project(unpacked, tmp_path / "o2", targets=["wheel"])
    assert wheel.name == "my_ci_project-1.2.3-py3-none-any.whl"
    assert (
        "CI variables ignored: PACKAGE_VERSION makes the version 1.2.4" in capsys.readouterr().err
    )
    # ... and with signing required they fail the build
    monkeypatch.setenv("HATCH_SIGSTORE_SIGN", "required")
    with pytest.raises(ConfigError) as info:
        build_project(unpacked, tmp_path / "o3", targets=["wheel"])
    message = str(info.value)
    assert "from an unpacked sdist" in message
    assert "PACKAGE_VERSION makes the version 1.2.4 (the sdist's is 1.2.3)" in message
    assert not (tmp_path / "o3").exists() or not list((tmp_path / "o3").iterdir())


# -- the README's snippets build as the README says ------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_snippet(after: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("```toml\n", text.index(after)) + len("```toml\n")
    return text[start : text.index("```", start)]


def test_the_readme_hatch_vcs_snippet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "p"
    (root / "src" / "my_package").mkdir(parents=True)
    (root / "src" / "my_package" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(readme_snippet("**A project with a version source**"))
    (root / ".gitignore").write_text("_version.py\ndist/\n")
    _git(root, "init", "-q", "--initial-branch=main")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "release")
    _git(root, "tag", "v1.2.3")
    (wheel,) = build_project(root, tmp_path / "local", targets=["wheel"])
    assert wheel.name.startswith("my_package-1.2.3-")  # "a local build ... is 1.2.3"
    set_env(
        monkeypatch,
        {"PACKAGE_VERSION": "0.1.0.dev42", "CI_PROJECT_URL": "https://gitlab.com/g/my_package"},
    )
    (wheel,) = build_project(root, tmp_path / "ci", targets=["wheel"])
    assert wheel.name.startswith("my_package-0.1.0.dev42-")
    assert "0.1.0.dev42" in _file_in_wheel(wheel, "my_package/_version.py")
    assert urls_of(wheel_metadata(wheel)) == {"Homepage": "https://gitlab.com/g/my_package"}


def test_the_readme_fancy_readme_snippet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snippet = readme_snippet("**A project with hatch-fancy-pypi-readme**")
    root = tmp_path / "p"
    (root / "src" / "my_package").mkdir(parents=True)
    (root / "src" / "my_package" / "__init__.py").write_text("")
    pyproject = snippet.replace(
        "[tool.hatch.metadata.hooks.sigstore]",
        '[tool.hatch.metadata.hooks.sigstore]\nrename = true\nfallback-version = "0.0.0"',
    )
    pyproject += '\n[tool.hatch.build.targets.wheel]\npackages = ["src/my_package"]\n'

    (root / "pyproject.toml").write_text(pyproject)
    set_env(monkeypatch, {"CI_COMMIT_TAG": "v2.0.0", "CI_PROJECT_NAME": "ci-package"})
    (wheel,) = build_project(root, targets=["wheel"])
    assert wheel_metadata(wheel).get_payload() == "# ci_package 2.0.0"
