"""Benchmark: verifying N sandbox-signed bundles in one ``hatch-sigstore verify`` process,
against ``python -m sigstore verify identity --offline`` run once per file (what a shell loop
or the GitLab tutorial's per-file ``cosign verify-blob`` does) and once for all files.

Run:  .venv/bin/python benchmarks/bench_verify.py [--files 100] [--peer-runs 10] [--repeat 3]

Prints a markdown table. The per-file peer is run ``--peer-runs`` times and extrapolated to
``--files`` (said in the table). Everything is offline against the local sandbox's trust root.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from publish_helpers import make_sdist

HERE = Path(sys.executable).parent


def _exe(name: str) -> list[str]:
    candidate = HERE / name
    return (
        [str(candidate)] if candidate.exists() else [sys.executable, "-m", name.replace("-", "_")]
    )


def timed(command: Sequence[str], repeat: int) -> float:
    """Median wall time of ``repeat`` runs; every run must succeed."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"failed: {' '.join(command[:6])} …\n{done.stdout}\n{done.stderr}")
    return statistics.median(samples)


def sign_all(paths: list[Path], trust_config: Path, token: str) -> None:
    from sigstore.hashes import Hashed
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext
    from sigstore_models.common.v1 import HashAlgorithm

    context = SigningContext.from_trust_config(
        ClientTrustConfig.from_json(trust_config.read_text())
    )
    with context.signer(IdentityToken(token)) as signer:
        for path in paths:
            digest = hashlib.sha256(path.read_bytes()).digest()
            bundle = signer.sign_artifact(Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest))
            path.with_name(path.name + ".sigstore.json").write_text(bundle.to_json())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--peer-runs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from hatch_sigstore.sandbox import LocalSigstore

    with tempfile.TemporaryDirectory() as tmp, LocalSigstore(state_dir=Path(tmp) / "s") as local:
        work = Path(tmp) / "files"
        work.mkdir()
        paths = []
        for i in range(args.files):
            # real sdists: verify binds each to the release its name says (reads its PKG-INFO)
            path = make_sdist(work, f"pkg_{i:03d}", "1.0", payload=f"file {i}\n".encode() * 64)
            paths.append(path)
        sign_all(paths, local.trust_config_path, local.mint_token(ref="v1.0", ref_type="tag"))
        ident = local.expected_identity(ref="v1.0", ref_type="tag")
        cfg = str(local.trust_config_path)
        files = [str(p) for p in paths]

        ours = [
            *_exe("hatch-sigstore"),
            "verify",
            "--trust-config",
            cfg,
            "--offline",
            "--gitlab",
            ident.project_path,
            "--server",
            ident.server,
        ]
        peer = [
            sys.executable,
            "-m",
            "sigstore",
            "--trust-config",
            cfg,
            "verify",
            "identity",
            "--offline",
            "--cert-identity",
            str(ident.san),
            "--cert-oidc-issuer",
            ident.issuer,
        ]

        local.reset_stats()
        version = timed([*_exe("hatch-sigstore"), "--version"], args.repeat)
        one = timed([*ours, files[0]], args.repeat)
        many = timed([*ours, *files], args.repeat)
        peer_all = timed([*peer, *files], args.repeat)
        runs = min(args.peer_runs, args.files)
        start = time.perf_counter()
        for name in files[:runs]:
            timed([*peer, name], 1)
        peer_each = (time.perf_counter() - start) / runs
        log_calls = sum(local.stats.values())

    n = args.files
    rows = [
        ("`hatch-sigstore --version` (start-up, no sigstore import)", version, ""),
        ("`hatch-sigstore verify` 1 file (start-up + sigstore + trust root)", one, ""),
        (
            f"`hatch-sigstore verify` {n} files, one process",
            many,
            f"{many - one:.2f} s beyond 1-file start-up; {(many - one) / max(n - 1, 1) * 1000:.1f}"
            " ms/file",
        ),
        (f"`python -m sigstore verify identity --offline` {n} files, one process", peer_all, ""),
        (
            f"`python -m sigstore verify identity --offline` × {n} runs",
            peer_each * n,
            f"extrapolated from {runs} runs ({peer_each:.2f} s each)"
            if runs < n
            else f"{peer_each:.2f} s each",
        ),
    ]
    print(f"## Verify {n} sandbox-signed bundles (offline, median of {args.repeat})\n")
    print("| what | wall time (s) | note |")
    print("|---|---:|---|")
    for what, seconds, note in rows:
        print(f"| {what} | {seconds:.2f} | {note} |")
    print(
        f"\nTarget: {n} files < 2 s beyond start-up → "
        f"{'met' if many - one < 2 else 'NOT met'} ({many - one:.2f} s). "
        f"Speed-up over one sigstore run per file: {peer_each * n / many:.0f}×. "
        f"Requests to the sandbox while verifying: {log_calls}."
    )


if __name__ == "__main__":
    main()
