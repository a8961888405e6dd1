"""Benchmark: installing a release with 20 dependencies through the verifying index (cold and
warm cache) against installing the same set straight from the GitLab registry, in one run,
with pip and with uv.

Run:  .venv/bin/python benchmarks/bench_index.py [--deps 20] [--payload-kib 64] [--repeat 3]

The release: ``bench-app 1.0.0`` requiring ``bench-dep-01`` … ``bench-dep-20``, one pure wheel
each (with ``--payload-kib`` of incompressible data), all signed with ``sign_files`` against the
local Sigstore as a tag pipeline of ``bench/app`` and published to the GitLab stand-in (dists to
its PyPI registry, bundles to its generic registry), in a private project read with a personal
access token. Every install goes into a fresh ``--target`` directory with the installer's cache
off, so each one downloads all 21 wheels:

- direct: ``--index-url`` is GitLab's simple index (token in the URL, as pip users do);
- index, cold: a new index on an empty cache: every wheel and bundle fetched and verified;
- index, warm: a new index on the cache a cold run left: verdicts and files from disk (a new
  process would start like this), GitLab's pages still read each time;
- index, warm, same process: the same index again within its listing TTL (pages cached too).

Services and the index run in this process on loopback; pip and uv are subprocesses.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from index_helpers import installer_env, publish, sign, uv_bin, wheel  # noqa: E402


def install(installer: str, url: str, target: Path) -> float:
    if installer == "pip":
        command = [
            sys.executable, "-m", "pip", "install", "--no-cache-dir", "--index-url", url,
            "--target", str(target), "bench-app",
        ]  # fmt: skip
    else:
        command = [
            uv_bin(), "pip", "install", "--no-cache", "--python", sys.executable,
            "--index-url", url, "--target", str(target), "bench-app",
        ]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(
        command, check=False, capture_output=True, text=True, env=installer_env(), timeout=900
    )
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{installer} failed:\n{result.stdout}\n{result.stderr}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deps", type=int, default=20)
    parser.add_argument("--payload-kib", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from hatch_sigstore.index import IndexServer, load_config
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore

    with tempfile.TemporaryDirectory(prefix="bench-index-") as scratch:
        tmp = Path(scratch)
        with LocalSigstore(state_dir=tmp / "sigstore") as sigstore, GitLabRegistry() as gitlab:
            project = gitlab.create_project("bench/app")
            deps = [f"bench-dep-{n:02d}" for n in range(1, args.deps + 1)]
            dists = tmp / "dists"
            payload = args.payload_kib * 1024
            wheels = {
                name: wheel(dists / name, name, "1.0.0", payload=os.urandom(payload))
                for name in deps
            }
            wheels["bench-app"] = wheel(dists / "bench-app", "bench-app", "1.0.0", requires=deps)
            started = time.perf_counter()
            sign(sigstore, list(wheels.values()), project="bench/app")
            for name, path in wheels.items():
                publish(gitlab, project, [path], name=name, version="1.0.0")
            setup = time.perf_counter() - started
            token = gitlab.personal_token(project=project)
            direct = gitlab.simple_url(project, token=token) + "/"
            config = tmp / "index.toml"
            config.write_text(
                f'trust-config = "{sigstore.trust_config_path}"\n'
                f'[upstream.gitlab]\nurl = "{gitlab.api_url}"\nproject = "{project.id}"\n'
                'token-env = "BENCH_TOKEN"\n'
                f'[package."bench-*"]\ngitlab = "bench/app"\nserver = "{sigstore.gitlab_url}"\n'
                'ref-glob = "refs/tags/v*"\n'
            )
            env = {"BENCH_TOKEN": token}
            loaded = load_config(config, env)
            times: dict[tuple[str, str], list[float]] = {}
            runs = 0

            def target() -> Path:
                nonlocal runs
                runs += 1
                return tmp / f"target-{runs}"

            for _ in range(args.repeat):
                for installer in ("pip", "uv"):
                    times.setdefault((installer, "direct"), []).append(
                        install(installer, direct, target())
                    )
                    cache = tmp / f"cache-{runs}"
                    with IndexServer(loaded, cache_dir=cache, env=env) as index:
                        times.setdefault((installer, "cold"), []).append(
                            install(installer, index.url, target())
                        )
                    with IndexServer(loaded, cache_dir=cache, env=env) as index:
                        times.setdefault((installer, "warm"), []).append(
                            install(installer, index.url, target())
                        )
                        times.setdefault((installer, "hot"), []).append(
                            install(installer, index.url, target())
                        )

    print(
        f"`bench-app` + {args.deps} dependencies ({args.payload_kib} KiB payload each, signed "
        f"bundles), fresh `--target`, installer cache off; median of {args.repeat} runs "
        f"(signing and publishing the release: {setup:.1f} s, not counted)\n"
    )
    print("| installer | direct from GitLab | index, cold cache | index, warm cache | "
          "index, warm, same process | warm / direct | cold / direct |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for installer in ("pip", "uv"):
        med = {kind: statistics.median(times[(installer, kind)]) for kind in
               ("direct", "cold", "warm", "hot")}  # fmt: skip
        print(
            f"| {installer} | {med['direct'] * 1000:.0f} ms | {med['cold'] * 1000:.0f} ms | "
            f"{med['warm'] * 1000:.0f} ms | {med['hot'] * 1000:.0f} ms | "
            f"{med['warm'] / med['direct']:.2f}x | {med['cold'] / med['direct']:.2f}x |"
        )


if __name__ == "__main__":
    main()
