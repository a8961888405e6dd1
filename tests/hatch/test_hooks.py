"""Registration: the hatch entry point module stays light and lazy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hatch_sigstore.hatch.hooks as hooks


def test_hooks_register_by_plugin_name() -> None:
    from hatchling.plugin.manager import PluginManager

    pm = PluginManager()
    pm.manager.register(hooks, name="sigstore")
    build_hook, metadata_hook = pm.build_hook.get("sigstore"), pm.metadata_hook.get("sigstore")
    assert build_hook is not None
    assert metadata_hook is not None
    assert build_hook.__name__ == "SigstoreBuildHook"
    assert metadata_hook.__name__ == "SigstoreMetadataHook"


def test_entry_point_is_installed() -> None:
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="hatch") if e.name == "sigstore"]
    assert ep.value == "hatch_sigstore.hatch.hooks"


def test_importing_hooks_is_light() -> None:
    code = (
        "import sys, hatch_sigstore.hatch.hooks as h;"
        "h.hatch_register_build_hook(); h.hatch_register_metadata_hook();"
        "heavy = [m for m in ('sigstore', 'httpx', 'hatch', 'cryptography') if m in sys.modules];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_publisher_is_imported_only_when_asked() -> None:
    pytest.importorskip("hatch_sigstore.hatch.publisher")
    publishers = hooks.hatch_register_publisher()
    assert [p.PLUGIN_NAME for p in publishers] == ["gitlab", "pypi"]


@pytest.mark.parametrize("name", ["gitlab", "pypi"])
def test_hatch_sees_the_publishers(name: str) -> None:
    pytest.importorskip("hatch_sigstore.hatch.publisher")
    from hatch.plugin.manager import PluginManager

    found = PluginManager().publisher.get(name)
    assert getattr(found, "PLUGIN_NAME", None) == name
