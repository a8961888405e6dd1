"""Real hatchling builds of throwaway projects, in-process (fast) — shared by the build tests."""

from __future__ import annotations

import email.parser
import os
import signal
import socket
import struct
import tarfile
import textwrap
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore

# Every variable the hooks read: tests start from none of them and add what they need.
CI_VARIABLES = (
    "GITLAB_CI",
    "CI",
    "CI_SERVER_URL",
    "CI_API_V4_URL",
    "CI_PROJECT_PATH",
    "CI_PROJECT_NAME",
    "CI_PROJECT_URL",
    "CI_PROJECT_ID",
    "CI_CONFIG_PATH",
    "CI_COMMIT_TAG",
    "CI_COMMIT_BRANCH",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
    "PACKAGE_VERSION",
    "SIGSTORE_ID_TOKEN",
    "HATCH_SIGSTORE_SIGN",
    "HATCH_SIGSTORE_TRUST_CONFIG",
    "HATCH_BUILD_NO_HOOKS",
    "HATCH_BUILD_HOOKS_ENABLE",
    "HATCH_BUILD_HOOK_ENABLE_SIGSTORE",
    "HATCH_BUILD_LOCATION",
    "PIP_BUILD_TRACKER",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "GITHUB_ACTIONS",
)

CI_METADATA = {
    "CI_PROJECT_NAME": "my-ci-project",
    "PACKAGE_VERSION": "1.2.3",
    "CI_PROJECT_URL": "https://gitlab.example.com/group/my-ci-project",
}

METADATA_HOOK = """
[tool.hatch.metadata.hooks.sigstore]
rename = true
fallback-version = "0.0.0"

[tool.hatch.metadata.hooks.sigstore.urls]
Homepage = "https://example.invalid/placeholder"
Source = "https://example.invalid/static-source"
"""

BUILD_HOOK = """
[tool.hatch.build.hooks.sigstore]
"""


@pytest.fixture
def ci(local_sigstore: LocalSigstore, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A complete GitLab-CI-like environment with a fresh token, plus the metadata variables.

    A fixture: import it into the test module (``from build_helpers import ci``).
    """
    local_sigstore.clear_faults()
    env = {**local_sigstore.ci_env(), **CI_METADATA}
    set_env(monkeypatch, env)
    return env


def clear_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def set_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def make_project(
    path: Path,
    *,
    name: str = "toy-orig",
    dynamic: Iterable[str] = ("version", "urls"),
    metadata_hook: str = METADATA_HOOK,
    build_hook: str = BUILD_HOOK,
    extra: str = "",
    project_extra: str = "",
) -> Path:
    """A minimal src-layout project whose import package is ``toy``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "src" / "toy").mkdir(parents=True, exist_ok=True)
    (path / "src" / "toy" / "__init__.py").write_text('"""toy."""\n__all__: list[str] = []\n')
    (path / "README.md").write_text("# toy\n")
    dyn = ", ".join(f'"{d}"' for d in dynamic)
    pyproject = textwrap.dedent(
        f"""\
        [build-system]
        requires = ["hatchling", "hatch-sigstore"]
        build-backend = "hatchling.build"

        [project]
        name = "{name}"  # the static name
        dynamic = [{dyn}]
        description = "toy"
        readme = "README.md"
        requires-python = ">=3.8"
        """
    )
    pyproject += project_extra + "\n" + metadata_hook + "\n" + build_hook + "\n"
    pyproject += '\n[tool.hatch.build.targets.wheel]\npackages = ["src/toy"]\n' + extra
    (path / "pyproject.toml").write_text(pyproject)
    return path


def build(
    root: Path,
    out: Path | None = None,
    *,
    targets: Iterable[str] = ("sdist", "wheel"),
    versions: Iterable[str] | None = None,
) -> list[Path]:
    """Build in this process with hatchling's builders, as ``python -m hatchling build`` does."""
    from hatchling.builders.sdist import SdistBuilder
    from hatchling.builders.wheel import WheelBuilder
    from hatchling.plugin.manager import PluginManager

    import hatch_sigstore.hatch.hooks

    pm = PluginManager()
    pm.manager.register(hatch_sigstore.hatch.hooks, name="sigstore")
    out = out or root / "dist"
    builders = {"sdist": SdistBuilder, "wheel": WheelBuilder}
    artifacts: list[Path] = []
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for target in targets:
            builder = builders[target](str(root), plugin_manager=pm)
            artifacts += [
                Path(a)
                for a in builder.build(
                    directory=str(out), versions=list(versions) if versions else None
                )
            ]
    finally:
        os.chdir(cwd)
    return artifacts


def _parse(text: str) -> email.message.Message:
    return email.parser.Parser().parsestr(text)


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return _parse(zf.read(name).decode())


def sdist_member(sdist: Path, member: str) -> str:
    with tarfile.open(sdist) as tf:
        names = [n for n in tf.getnames() if n.count("/") == 1 and n.endswith("/" + member)]
        assert len(names) == 1, (member, tf.getnames())
        f = tf.extractfile(names[0])
        assert f is not None
        return f.read().decode()


def sdist_pkg_info(sdist: Path) -> email.message.Message:
    return _parse(sdist_member(sdist, "PKG-INFO"))


def urls_of(message: email.message.Message) -> dict[str, str]:
    return dict(u.split(", ", 1) for u in message.get_all("Project-URL") or [])


def unpack_sdist(sdist: Path, dest: Path) -> Path:
    with tarfile.open(sdist) as tf:
        tf.extractall(dest, filter="data")
    (root,) = [p for p in dest.iterdir() if p.is_dir()]
    return root


def stop_agent(path: Path) -> None:
    """Stop the signing agent listening on ``path`` (started by another process: its pid is
    the socket peer's, Linux's SO_PEERCRED)."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(path))
        raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    os.kill(struct.unpack("3i", raw)[0], signal.SIGTERM)
