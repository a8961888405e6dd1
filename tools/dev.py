#!/usr/bin/env python3
"""Set up a development environment on first use, then run the demo or the tests.

    python3 tools/dev.py demo [ARGS...]   # hatch-sigstore sandbox demo ARGS
    python3 tools/dev.py test [ARGS...]   # python -m pytest -n 2 ARGS
    python3 tools/dev.py setup            # only set up (.ci/run does this before linting)

Standard library only: it runs on a fresh machine with nothing but Python 3.10+. The setup
creates ``.venv`` and installs ``-e ".[test]"`` into it (again whenever pyproject.toml
changes), and for the tests downloads, once, into the git-ignored ``.cache/``:

- ``.cache/real-projects/``: the sdists of the real projects the tests build, pinned by hash
  in ``tests/fixtures/real-projects/requirements.txt``;
- ``.cache/wheelhouse/``: wheels of every dependency of ``hatch-sigstore[all]`` (and of the
  real projects' build plugins), so a test can install our freshly built wheel into a new
  virtual environment, or build in one, with ``--no-index``;
- ``.cache/node/``: from npm (when npm is there), gitlab-ci-local, which runs the example
  pipeline's jobs locally in a test, and sigstore-js's verifier, which checks what the local
  Sigstore makes independently of sigstore-python.

The tests themselves fetch nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
CACHE = ROOT / ".cache"
SDISTS = CACHE / "real-projects"
WHEELHOUSE = CACHE / "wheelhouse"
LOCK = ROOT / "tests" / "fixtures" / "real-projects" / "requirements.txt"
STAMP = VENV / ".hatch-sigstore-dev"
NODE = CACHE / "node"
# gitlab-ci-local runs the example pipeline's jobs locally (tests/test_gitlab_ci_local.py).
# 4.70 and later need Node.js 22 (Set.prototype.union); 4.69.0 runs on Node.js 18+.
GITLAB_CI_LOCAL = "gitlab-ci-local@4.69.0"
# sigstore-js's offline verifier (tests/sandbox/test_cross_verify.py), pinned with its own
# dependencies. 3.1.x is the last line that runs on Node.js 20 (4.x needs Node.js 22.22+).
SIGSTORE_JS = (
    "@sigstore/verify@3.1.1",
    "@sigstore/bundle@4.0.0",
    "@sigstore/core@3.2.1",
    "@sigstore/protobuf-specs@0.5.2",
)
NPM_PACKAGES = (GITLAB_CI_LOCAL, *SIGSTORE_JS)
# Build plugins of the real projects, for pipelines that build them in fresh environments.
BUILD_PLUGINS = ("hatch-vcs", "hatch-fancy-pypi-readme")
MIN_PYTHON = (3, 10)
USAGE = "usage: python3 tools/dev.py {demo,test,setup} [ARGS...]"


def say(message: str) -> None:
    print(f"dev: {message}", file=sys.stderr, flush=True)


def venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def fingerprint(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run(argv: Sequence[str | os.PathLike[str]]) -> None:
    done = subprocess.run([str(a) for a in argv], cwd=ROOT, check=False)
    if done.returncode != 0:
        shown = " ".join(str(a) for a in argv)
        say(f"failed (exit {done.returncode}): {shown}")
        sys.exit(done.returncode)


def ensure_venv() -> Path:
    """``.venv`` with ``-e ".[test]"``, reinstalled when pyproject.toml changed."""
    python = venv_python()
    wanted = fingerprint(ROOT / "pyproject.toml")
    if python.exists() and STAMP.is_file() and STAMP.read_text().strip() == wanted:
        return python
    if not python.exists():
        say(f"creating {VENV.relative_to(ROOT)} with {sys.executable}")
        run([sys.executable, "-m", "venv", VENV])
    say('installing -e ".[test]" (first use, or pyproject.toml changed)')
    run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([python, "-m", "pip", "install", "--quiet", "-e", ".[test]"])
    STAMP.write_text(wanted + "\n")
    return python


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locked_sdists() -> dict[str, str]:
    """File name -> sha256 of each sdist in the lock file."""
    out = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        requirement, _, digest = line.split("#", 1)[0].strip().partition(" --hash=sha256:")
        if requirement:
            name, _, version = requirement.partition("==")
            out[f"{name}-{version}.tar.gz"] = digest.strip()
    return out


def ensure_sdists(python: Path) -> None:
    wanted = locked_sdists()
    have = {n: d for n, d in wanted.items() if (SDISTS / n).is_file()}
    if all(_sha256(SDISTS / n) == d for n, d in have.items()) and have == wanted:
        return
    say(f"downloading the real projects' sdists into {SDISTS.relative_to(ROOT)}")
    SDISTS.mkdir(parents=True, exist_ok=True)
    # --no-build-isolation: pip prepares each sdist's metadata with the build plugins the test
    # extra installed (hatch-vcs, hatch-fancy-pypi-readme) instead of fetching them again.
    run(
        [
            python, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
            "--no-build-isolation", "--require-hashes", "-r", LOCK, "-d", SDISTS,
        ]
    )  # fmt: skip


def ensure_wheelhouse(python: Path) -> None:
    stamp = WHEELHOUSE / ".stamp"
    wanted = fingerprint(ROOT / "pyproject.toml", Path(__file__))
    if stamp.is_file() and stamp.read_text().strip() == wanted:
        return
    say(f"downloading wheels of our dependencies into {WHEELHOUSE.relative_to(ROOT)}")
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    WHEELHOUSE.mkdir(parents=True)
    run(
        [
            python, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
            "-d", WHEELHOUSE, ".[all]", *BUILD_PLUGINS,
        ]
    )  # fmt: skip
    stamp.write_text(wanted + "\n")


def npm_installed(spec: str, prefix: Path = NODE) -> bool:
    """Whether ``name@version`` is installed, at that version, in ``prefix`` (``.cache/node``)."""
    name, _, version = spec.rpartition("@")
    manifest = prefix / "node_modules" / name / "package.json"
    try:
        found = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return False
    return bool(found == version)


def ensure_node_packages() -> None:
    missing = [spec for spec in NPM_PACKAGES if not npm_installed(spec)]
    if not missing:
        return
    npm = shutil.which("npm")
    if npm is None:
        say(
            "no npm: the gitlab-ci-local and sigstore-js tests will be skipped "
            "(CI requires them; install Node.js)"
        )
        return
    say(f"installing {' '.join(missing)} from npm into {NODE.relative_to(ROOT)}")
    NODE.mkdir(parents=True, exist_ok=True)
    run([npm, "install", "--prefix", NODE, "--no-audit", "--no-fund", "--loglevel=error",
         "--save-exact", *missing])  # fmt: skip


def setup(*, for_tests: bool) -> Path:
    if sys.version_info < MIN_PYTHON:
        say(f"Python {'.'.join(map(str, MIN_PYTHON))} or newer is needed; this is {sys.version}")
        sys.exit(1)
    python = ensure_venv()
    if for_tests:
        ensure_sdists(python)
        ensure_wheelhouse(python)
        ensure_node_packages()
    return python


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "setup"):
        print(USAGE, file=sys.stderr)
        return 2
    command, rest = argv[0], list(argv[1:])
    if command == "setup":
        setup(for_tests=True)
        return 0
    if command == "demo":
        python = setup(for_tests=False)
        argv_out = [str(python), "-m", "hatch_sigstore", "sandbox", "demo", *rest]
    else:
        python = setup(for_tests=True)
        parallel = [] if any(a.startswith(("-n", "--numprocesses")) for a in rest) else ["-n", "2"]
        argv_out = [str(python), "-m", "pytest", *parallel, *rest]
    return subprocess.run(argv_out, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
