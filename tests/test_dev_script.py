"""The README's first block, tools/dev.py and .ci/run: two commands from a fresh machine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from dev_cache import ROOT, dev_script

README = ROOT / "README.md"
DEMO = "python3 tools/dev.py demo"
TEST = "python3 tools/dev.py test"


def _commands(block: str) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line]


def test_readme_first_block_is_exactly_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first = re.search(r"```\w*\n(.*?)```", text, flags=re.DOTALL)
    assert first is not None
    assert _commands(first.group(1)) == [DEMO, TEST]


def test_ci_runs_from_scratch_then_exactly_the_readme_test_command() -> None:
    commands = _commands((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert "rm -rf .venv .cache" in commands
    assert commands.index("rm -rf .venv .cache") < commands.index("python3 tools/dev.py setup")
    assert commands[-1] == TEST
    assert any(c.startswith(".venv/bin/ruff check") and "tools" in c for c in commands)
    assert ".venv/bin/mypy" in commands


def test_dev_script_needs_only_the_standard_library() -> None:
    source = (ROOT / "tools" / "dev.py").read_text(encoding="utf-8")
    imported = set(re.findall(r"^(?:from|import) ([a-z_]+)", source, flags=re.MULTILINE))
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


def test_dev_script_without_a_command_prints_its_usage() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "dev.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "usage: python3 tools/dev.py {demo,test,setup}" in done.stderr


@pytest.fixture
def dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, list[list[str]]]:
    """tools/dev.py pointed at a copy of the project, with commands recorded, not run."""
    module = dev_script()
    root = tmp_path / "repo"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    calls: list[list[str]] = []

    def run(argv: list[object]) -> None:
        calls.append([str(a) for a in argv])
        if argv[1:3] == ["-m", "venv"]:
            python = module.venv_python()
            python.parent.mkdir(parents=True)
            python.touch()

    monkeypatch.setattr(module, "ROOT", root)
    monkeypatch.setattr(module, "VENV", root / ".venv")
    monkeypatch.setattr(module, "STAMP", root / ".venv" / ".hatch-sigstore-dev")
    monkeypatch.setattr(module, "run", run)
    return module, calls


def test_first_use_creates_the_venv_and_installs_then_reuses_it(
    dev: tuple[ModuleType, list[list[str]]],
) -> None:
    module, calls = dev
    module.ensure_venv()
    assert calls[0][1:] == ["-m", "venv", str(module.VENV)]
    assert calls[-1][1:] == ["-m", "pip", "install", "--quiet", "-e", ".[test]"]

    calls.clear()
    module.ensure_venv()
    assert calls == []  # nothing changed: nothing to do

    pyproject = module.ROOT / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "# changed\n")
    module.ensure_venv()
    assert [c[-1] for c in calls] == ["pip", ".[test]"]  # reinstalled, venv kept


def test_lock_file_pins_every_real_project_by_hash() -> None:
    locked = dev_script().locked_sdists()
    assert set(locked) == {
        "iniconfig-2.0.0.tar.gz",
        "attrs-26.1.0.tar.gz",
        "httpx-0.29.0.tar.gz",
    }
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in locked.values())
