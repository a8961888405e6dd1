"""Signing speed and memory: hatch-sigstore's SigningSession vs ``python -m sigstore sign``.

All against one local Sigstore (``LocalSigstore``) with 100 ms added to every request, in one run:

* 1 file vs 20 files through one ``SigningSession`` (target: 20 files < 2x the time of 1),
  with the CA/log call counts (target: N files = 1 Fulcio + N Rekor calls);
* the same 20 files through ``python -m hatch_sigstore sign`` and ``python -m sigstore
  --trust-config CFG sign`` (subprocesses: both include interpreter start-up);
* the peak-RSS increase while signing a 1 GiB file (target < 50 MB), measured in a child process
  with ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` before and after; and the peak RSS of the
  whole ``python -m sigstore sign`` process on the same file for comparison.

    .venv/bin/python benchmarks/bench_signing.py [--latency 0.1] [--files 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from hatch_sigstore.sandbox import LocalSigstore
from hatch_sigstore.sign import SigningSession, SignOptions
from hatch_sigstore.trust import TrustChoice

GIB = 1024**3

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    from hatch_sigstore.sign import SigningSession, SignOptions
    from hatch_sigstore.trust import TrustChoice

    cfg, token, warm, big = sys.argv[1:5]
    options = SignOptions(trust=TrustChoice.resolve(trust_config=cfg, env={}), token=token,
                          env={}, ambient=False)
    with SigningSession(options) as session:
        session.sign([Path(warm)])  # imports, key, certificate, connections: all warm
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        (result,) = session.sign([Path(big)])
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_kib": before, "after_kib": after, "seconds": elapsed,
                      "sha256": result.sha256}))
    """
)


def options(sandbox: LocalSigstore) -> SignOptions:
    return SignOptions(
        trust=TrustChoice.resolve(trust_config=sandbox.trust_config_path, env={}),
        token=sandbox.mint_token(),
        env={},
        ambient=False,
    )


def session_time(sandbox: LocalSigstore, files: list[Path]) -> tuple[float, dict[str, int]]:
    sandbox.reset_stats()
    start = time.perf_counter()
    with SigningSession(options(sandbox)) as session:
        session.sign(files)
    return time.perf_counter() - start, sandbox.stats


def subprocess_time(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def child_env(sandbox: LocalSigstore) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGSTORE", "GITLAB_CI"))}
    env["SIGSTORE_ID_TOKEN"] = sandbox.mint_token()
    env["SIGSTORE_IDENTITY_TOKEN"] = env["SIGSTORE_ID_TOKEN"]
    env["HATCH_SIGSTORE_TRUST_CONFIG"] = str(sandbox.trust_config_path)
    return env


def peak_rss_of(cmd: list[str], env: dict[str, str]) -> float:
    """Peak RSS (MiB) of a whole child process."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        assert proc.stderr is not None
        raise SystemExit(f"{cmd} failed: {proc.stderr.read().decode()}")
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-gib", type=float, default=1.0)
    args = parser.parse_args()
    py = sys.executable

    with (
        tempfile.TemporaryDirectory(prefix="bench-signing-") as tmp,
        LocalSigstore(state_dir=Path(tmp) / "sandbox", latency=args.latency) as sandbox,
    ):
        work = Path(tmp)
        files = []
        for i in range(args.files):
            path = work / f"pkg-1.0.{i}.tar.gz"
            path.write_bytes(os.urandom(64 * 1024))
            files.append(path)
        session_time(sandbox, files[:1])  # warm imports and connections once

        one = [session_time(sandbox, files[:1]) for _ in range(args.repeat)]
        many = [session_time(sandbox, files) for _ in range(args.repeat)]
        t1 = statistics.median(t for t, _ in one)
        tn = statistics.median(t for t, _ in many)
        stats1, statsn = one[-1][1], many[-1][1]

        env = child_env(sandbox)
        cfg = str(sandbox.trust_config_path)
        names = [str(f) for f in files]
        ours_cli = statistics.median(
            subprocess_time([py, "-m", "hatch_sigstore", "sign", "--no-cosign", *names], env)
            for _ in range(args.repeat)
        )
        ours_cli_1 = statistics.median(
            subprocess_time([py, "-m", "hatch_sigstore", "sign", "--no-cosign", names[0]], env)
            for _ in range(args.repeat)
        )
        sigstore_cmd = [py, "-m", "sigstore", "--trust-config", cfg, "sign", "--overwrite"]
        theirs = statistics.median(
            subprocess_time([*sigstore_cmd, *names], env) for _ in range(args.repeat)
        )
        theirs_1 = statistics.median(
            subprocess_time([*sigstore_cmd, names[0]], env) for _ in range(args.repeat)
        )
        sandbox.reset_stats()
        subprocess_time([*sigstore_cmd, *names], env)
        their_stats = sandbox.stats

        # memory: a sparse 1 GiB file (reads as zeros; page cache is not process RSS)
        sandbox.latency = 0.0
        big = work / "big-1.0.tar.gz"
        with big.open("wb") as handle:
            handle.truncate(int(args.big_gib * GIB))
        warm = files[0]
        child = subprocess.run(
            [py, "-c", _CHILD, cfg, env["SIGSTORE_ID_TOKEN"], str(warm), str(big)],
            capture_output=True,
            text=True,
            check=True,
        )
        mem = json.loads(child.stdout)
        delta_mib = (mem["after_kib"] - mem["before_kib"]) / 1024
        ours_peak = peak_rss_of([py, "-m", "hatch_sigstore", "sign", "--no-cosign", str(big)], env)
        theirs_peak = peak_rss_of([*sigstore_cmd, str(big)], env)

    n = args.files
    print(f"## Signing ({n} files of 64 KiB, {args.latency * 1000:.0f} ms latency per request)\n")
    print(f"median of {args.repeat} runs; sandbox call counts from the last run\n")
    print(f"| what | 1 file | {n} files | ratio | CA calls | log calls |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| hatch-sigstore `SigningSession` (in process) | {t1:.2f} s | {tn:.2f} s | "
        f"{tn / t1:.2f}x | {statsn['fulcio']} (1 file: {stats1['fulcio']}) | "
        f"{statsn['rekor_create']} (1 file: {stats1['rekor_create']}) |"
    )
    print(
        f"| `python -m hatch_sigstore sign --no-cosign` (process) | {ours_cli_1:.2f} s | "
        f"{ours_cli:.2f} s | {ours_cli / ours_cli_1:.2f}x | 1 | {n} |"
    )
    print(
        f"| `python -m sigstore --trust-config CFG sign` (process) | {theirs_1:.2f} s | "
        f"{theirs:.2f} s | {theirs / theirs_1:.2f}x | {their_stats['fulcio']} | "
        f"{their_stats['rekor_create']} |"
    )
    verdict = "meets" if tn < 2 * t1 else "MISSES"
    print(f"\n{n} files take {tn / t1:.2f}x the time of 1 ({verdict} the < 2x target).\n")
    print(f"## Memory: signing a {args.big_gib:g} GiB file\n")
    print("| what | peak RSS |")
    print("|---|---:|")
    print(
        f"| hatch-sigstore: peak-RSS increase while signing it (warm session, child process) | "
        f"{delta_mib:.1f} MiB ({mem['before_kib'] / 1024:.0f} -> {mem['after_kib'] / 1024:.0f} MiB;"
        f" hashing + signing took {mem['seconds']:.2f} s) |"
    )
    print(f"| `python -m hatch_sigstore sign` whole process | {ours_peak:.0f} MiB |")
    print(f"| `python -m sigstore sign` whole process | {theirs_peak:.0f} MiB |")
    verdict = "meets" if delta_mib < 50 else "MISSES"
    print(f"\nPeak-RSS increase {delta_mib:.1f} MiB ({verdict} the < 50 MB target).")
    _ = resource  # the child measures with resource.getrusage


if __name__ == "__main__":
    main()
