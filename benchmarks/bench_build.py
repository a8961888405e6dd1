"""Build integration: what the plugin costs a build, signing off and on. Prints markdown tables.

    .venv/bin/python benchmarks/bench_build.py [--runs 9]

Compares, in the same run, example-project with the plugin (metadata hook + build hook, signing
off) against the same project without it (static metadata, no hooks):

* ``hatch build`` (sdist + wheel; hatch runs one ``python -m hatchling build`` per target in its
  internal build environment, which gets hatch-sigstore from a local wheel folder);
* ``python -m hatchling build`` in this venv (one process, both targets: less noise);
* and asserts that a build with signing off imports neither sigstore nor httpx.

Then signing on, against the local Sigstore (loopback, no added latency): ``hatch build`` and
an in-process build, reported per artifact.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example-project"
BIN = Path(sys.executable).parent
CI_METADATA = {
    "CI_PROJECT_NAME": "my-ci-project",
    "PACKAGE_VERSION": "1.2.3",
    "CI_PROJECT_URL": "https://gitlab.example.com/group/project",
}
BUILD_BOTH = (
    "[list(B(root).build(directory=os.path.join(root, 'dist')))"
    " for B in (SdistBuilder, WheelBuilder)];"
)
HEAVY = ("sigstore", "httpx", "cryptography", "pydantic", "pypi_attestations", "rfc3161_client")


def without_plugin(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("dist", ".gitlab-ci.yml"))
    text = (dest / "pyproject.toml").read_text()
    text = text.replace(', "hatch-sigstore"]', "]")
    text = text.replace(
        'dynamic = ["version", "urls"]',
        'version = "0.0.0"\nurls = { Homepage = "https://gitlab.com/my_package" }',
    )
    hook_tables = r"\[tool\.hatch\.(metadata|build)\.hooks\.sigstore[^\]]*\]\n(?:(?!\[).*\n)*"
    text = re.sub(hook_tables, "", text)
    (dest / "pyproject.toml").write_text(text)
    assert "sigstore]" not in text, text
    return dest


def with_custom_hook(src: Path, dest: Path) -> Path:
    """The plugin-free project plus an empty ``custom`` build hook (hatch_build.py).

    Any build hook hatch does not know to be dependency-free makes ``hatch build`` spawn one more
    Python process to ask it for build dependencies: this row shows that cost, which every
    third-party build hook pays, separately from hatch-sigstore's own.
    """
    without_plugin(src, dest)
    (dest / "hatch_build.py").write_text(
        "from hatchling.builders.hooks.plugin.interface import BuildHookInterface\n\n\n"
        "class CustomBuildHook(BuildHookInterface):\n    pass\n"
    )
    with open(dest / "pyproject.toml", "a") as f:
        f.write("\n[tool.hatch.build.hooks.custom]\n")
    return dest


def with_plugin(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("dist", ".gitlab-ci.yml"))
    return dest


def base_env(wheelhouse: Path, home: Path) -> dict[str, str]:
    drop = {"SIGSTORE_ID_TOKEN", "GITLAB_CI", "CI", "HATCH_SIGSTORE_TRUST_CONFIG", *CI_METADATA}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("CI_")}
    env["UV_FIND_LINKS"] = str(wheelhouse)
    env["PIP_FIND_LINKS"] = " ".join(filter(None, [env.get("PIP_FIND_LINKS"), str(wheelhouse)]))
    env["HATCH_DATA_DIR"] = str(home / "data")
    env["HATCH_CACHE_DIR"] = str(home / "cache")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    shutil.rmtree(cwd / "dist", ignore_errors=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{done.stdout}\n{done.stderr}")
    return elapsed


def compare(
    cmd: list[str], projects: dict[str, Path], env: dict[str, str], runs: int
) -> dict[str, list[float]]:
    for root in projects.values():  # warm: hatch creates its build environment once
        timed(cmd, root, env)
    times: dict[str, list[float]] = {name: [] for name in projects}
    for _ in range(runs):  # interleaved, so drift hits both alike
        for name, root in projects.items():
            times[name].append(timed(cmd, root, env))
    return times


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f})"


def heavy_imports(root: Path, env: dict[str, str], sign: str) -> list[str]:
    code = (
        "import sys, os;"
        "from hatchling.builders.sdist import SdistBuilder;"
        "from hatchling.builders.wheel import WheelBuilder;"
        "root = sys.argv[1]; os.chdir(root);"
        + BUILD_BOTH
        + f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    env = {**env, "HATCH_SIGSTORE_SIGN": sign, **CI_METADATA}
    done = subprocess.run(
        [sys.executable, "-c", code, str(root)], env=env, capture_output=True, text=True, check=True
    )
    return eval(done.stdout.strip().splitlines()[-1])  # a printed list of names


_OURS = ("hatch_sigstore.hooks", "hatch_sigstore.build_hook", "hatch_sigstore.metadata_hook")


def import_time_ms(env: dict[str, str]) -> float:
    """Cumulative import time of our three hook modules, beyond what hatchling imports anyway."""
    code = (
        "import hatchling.builders.wheel, hatchling.builders.sdist, hatchling.metadata.core;"
        "import hatch_sigstore.hooks as h; h.hatch_register_build_hook();"
        "h.hatch_register_metadata_hook()"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() in _OURS:
            total += int(parts[1].strip())
    return total / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        wheelhouse = work / "wheelhouse"
        subprocess.run(
            [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(wheelhouse)],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        projects = {
            "without hatch-sigstore": without_plugin(EXAMPLE, work / "without"),
            "empty custom hook": with_custom_hook(EXAMPLE, work / "custom"),
            "with hatch-sigstore (signing off)": with_plugin(EXAMPLE, work / "with"),
        }
        env = base_env(wheelhouse, work / "hatch-home")
        off = {**env, "HATCH_SIGSTORE_SIGN": "off", **CI_METADATA}

        print("## Build integration: overhead with signing off\n")
        print(
            f"example-project, sdist + wheel, median of {args.runs} interleaved runs "
            "(metadata rewrite active: CI variables set)\n"
        )
        print(
            "| frontend | without hatch-sigstore | no plugin, empty `custom` hook | "
            "with hatch-sigstore | added vs none | added vs empty hook |"
        )
        print("|---|---|---|---|---|---|")
        for label, cmd in (
            ("`hatch build`", [str(BIN / "hatch"), "build"]),
            ("`python -m hatchling build`", [sys.executable, "-m", "hatchling", "build"]),
        ):
            times = compare(cmd, projects, off, args.runs)
            a, c, b = times.values()
            added = (statistics.median(b) - statistics.median(a)) * 1000
            added_c = (statistics.median(b) - statistics.median(c)) * 1000
            print(
                f"| {label} | {ms(a)} | {ms(c)} | {ms(b)} | {added:+.0f} ms | {added_c:+.0f} ms |"
            )

        heavy_off = heavy_imports(projects["with hatch-sigstore (signing off)"], env, "off")
        heavy_auto = heavy_imports(projects["with hatch-sigstore (signing off)"], env, "auto")
        imp = import_time_ms(env)
        print(
            f"\nImport of the hooks (`-X importtime`, hooks + build_hook + metadata_hook): "
            f"{imp:.1f} ms."
        )
        print(
            f"Heavy modules imported by an in-process sdist+wheel build: sign=off {heavy_off}, "
            f"sign=auto without token {heavy_auto}."
        )
        assert heavy_off == [], "signing off must not import sigstore/httpx"
        assert heavy_auto == [], "sign=auto without a token must not import sigstore/httpx"
        print("**Asserted: no sigstore / httpx / cryptography imported with signing off.**\n")

        from hatch_sigstore.sandbox import LocalSigstore

        with LocalSigstore() as sigstore:
            print("## Signing on (local Sigstore on loopback)\n")
            print("| measurement | time | per artifact |")
            print("|---|---|---|")
            root = projects["with hatch-sigstore (signing off)"]
            signed, unsigned = [], []
            for _ in range(3):
                on = {**env, **sigstore.ci_env(), **CI_METADATA, "HATCH_SIGSTORE_SIGN": "required"}
                signed.append(timed([str(BIN / "hatch"), "build"], root, on))
                unsigned.append(timed([str(BIN / "hatch"), "build"], root, off))
            extra = statistics.median(signed) - statistics.median(unsigned)
            print(
                "| `hatch build` signed (sign+verify, 2 processes, 2 certificates) "
                f"| {ms(signed)} | "
                f"+{extra * 1000 / 2:.0f} ms |"
            )
            print(f"| `hatch build` unsigned, same project | {ms(unsigned)} | |")

            # one process, both artifacts, one certificate: the signing cost without start-up
            code = (
                "import sys, os, time;"
                "from hatchling.builders.sdist import SdistBuilder;"
                "from hatchling.builders.wheel import WheelBuilder;"
                "root = sys.argv[1]; os.chdir(root); t = time.perf_counter();"
                + BUILD_BOTH
                + "print(time.perf_counter() - t)"
            )
            inproc: dict[str, list[float]] = {"on": [], "off": []}
            for _ in range(3):
                for mode in ("off", "on"):
                    shutil.rmtree(root / "dist", ignore_errors=True)
                    e = (
                        {
                            **env,
                            **sigstore.ci_env(),
                            **CI_METADATA,
                            "HATCH_SIGSTORE_SIGN": "required",
                        }
                        if mode == "on"
                        else off
                    )
                    done = subprocess.run(
                        [sys.executable, "-c", code, str(root)],
                        env=e,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    inproc[mode].append(float(done.stdout.strip().splitlines()[-1]))
            extra = statistics.median(inproc["on"]) - statistics.median(inproc["off"])
            print(
                "| in-process sdist+wheel signed "
                "(1 process, 1 certificate, incl. sigstore import) "
                f"| {ms(inproc['on'])} | +{extra * 1000 / 2:.0f} ms |"
            )
            print(f"| in-process sdist+wheel unsigned | {ms(inproc['off'])} | |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
