"""Benchmark ``hatch publish -p pypi`` against PyPI's documented GitLab recipe: the ID token
exchanged with ``curl`` at ``/_/oidc/mint-token``, then ``twine upload --attestations``.

Everything runs on loopback in one run: the local Sigstore (its issuer says it is
https://gitlab.com) signs the dists with PEP 740 attestations, and the PyPI stand-in receives
them, verifying every attestation at upload as PyPI does. Every client publishes into its own
fresh project with its own trusted publisher; signing is not timed.

1. Many small dists: ``--releases`` releases of one project (a wheel and an sdist each), every
   file with its attestation. Ours verifies all of them first (PyPI's rules) and uploads four
   at a time; twine uploads one after the other and checks nothing itself.
2. The same command again (a re-run after a failed job): ours asks the JSON API once per
   release and sends nothing; twine sends every file again (warehouse answers 200 and stores
   nothing). Bytes sent are counted by the stand-in's request log.
3. One big wheel (``--big-mib``): wall time and peak RSS of the whole process tree.

    python benchmarks/bench_pypi.py [--releases 10] [--big-mib 256] [--repeat 3]

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_publish import Measured, big_wheel, fmt_rss, measure  # noqa: E402

from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex  # noqa: E402
from hatch_sigstore.sign import SignOptions, sign_files  # noqa: E402
from hatch_sigstore.trust import TrustChoice  # noqa: E402
from publish_helpers import make_sdist, make_wheel  # noqa: E402

BIN = Path(sys.executable).parent
MiB = 1024 * 1024

# PyPI's GitLab recipe (docs.pypi.org/trusted-publishers/using-a-publisher/#gitlab-cicd), with
# the JSON read by python instead of jq. dist/ also holds the .sigstore.json bundles our build
# hook writes, which twine refuses as distributions: the dists and attestations are named.
_RECIPE = r"""
set -euo pipefail
shopt -s nullglob
resp=$(curl -sS -X POST "$MINT_URL" -d "{\"token\":\"${PYPI_ID_TOKEN}\"}")
TWINE_PASSWORD=$(printf '%s' "$resp" | "$PYTHON" -c "$READ_TOKEN")
export TWINE_PASSWORD
"$TWINE" upload --non-interactive --disable-progress-bar --attestations \
  --repository-url "$UPLOAD_URL" -u __token__ \
  dist/*.whl dist/*.tar.gz dist/*.publish.attestation
"""
_READ_TOKEN = "import json, sys; print(json.load(sys.stdin)['token'])"


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.sigstore = LocalSigstore(state_dir=work / "sigstore", gitlab_url="https://gitlab.com")
        self.sigstore.start()
        self.index = PyPIIndex(state_dir=work / "index")
        self.index.trust_sigstore(self.sigstore)
        self.index.start()
        home = work / "hatch-home"
        home.mkdir()
        (home / "config.toml").write_text("")
        self.base_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CI_", "GITLAB", "HATCH_", "PYPI_", "TWINE_"))
        }
        self.base_env.update(
            {
                "HATCH_CONFIG": str(home / "config.toml"),
                "HATCH_CACHE_DIR": str(home / "cache"),
                "HATCH_DATA_DIR": str(home / "data"),
                "NO_COLOR": "1",
            }
        )
        self.serial = 0

    def close(self) -> None:
        self.index.stop()
        self.sigstore.stop()

    def project(self, label: str) -> tuple[str, str, Path]:
        """A fresh PyPI project with its trusted publisher, and its directory."""
        self.serial += 1
        name = f"bench-{label}-{self.serial}"
        repository = f"bench/{name}"
        project = self.index.create_project(name)
        project.upload_limit = 4 * 1024 * MiB  # a raised limit, as PyPI grants on request
        self.index.add_gitlab_publisher(name, repository)
        root = self.work / name
        (root / "dist").mkdir(parents=True)
        (root / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\nversion = "1.0.0"\n\n'
            f'[tool.hatch.publish.pypi]\nurl = "{self.index.upload_url}"\n'
        )
        return name, repository, root

    def sign(self, repository: str, paths: list[Path]) -> None:
        token = self.sigstore.mint_token(project_path=repository, ref="v1.0.0", ref_type="tag")
        sign_files(
            paths,
            SignOptions(
                trust=TrustChoice.resolve(trust_config=self.sigstore.trust_config_path),
                token=token,
                outputs=frozenset({"bundle", "attestation"}),
            ),
        )

    def job_env(self, repository: str) -> dict[str, str]:
        """The publish job: CI variables and a fresh PYPI_ID_TOKEN (aud: pypi)."""
        env = {**self.base_env, **self.sigstore.ci_env(project_path=repository, ref="v1.0.0",
                                                       ref_type="tag")}  # fmt: skip
        env.pop("SIGSTORE_ID_TOKEN")
        env["PYPI_ID_TOKEN"] = self.sigstore.mint_token(
            project_path=repository, ref="v1.0.0", ref_type="tag", audience="pypi"
        )
        return env

    def ours(self, repository: str, root: Path) -> Measured:
        env = self.job_env(repository)
        return measure([str(BIN / "hatch"), "publish", "-p", "pypi"], env=env, cwd=root)

    def recipe(self, repository: str, root: Path) -> Measured:
        env = {
            **self.job_env(repository),
            "MINT_URL": f"{self.index.url}/_/oidc/mint-token",
            "UPLOAD_URL": self.index.upload_url,
            "TWINE": str(BIN / "twine"),
            "PYTHON": sys.executable,
            "READ_TOKEN": _READ_TOKEN,
        }
        return measure(["bash", "-c", _RECIPE], env=env, cwd=root)

    def uploads(self, since: int) -> tuple[int, int]:
        """POSTs to /legacy/ since the log had ``since`` entries, and how many stored a file."""
        posts = [
            r for r in self.index.requests[since:] if r.method == "POST" and r.path == "/legacy/"
        ]
        return len(posts), sum(1 for r in posts if r.status == 200)


def _releases(bench: Bench, label: str, count: int) -> tuple[str, str, Path, int]:
    name, repository, root = bench.project(label)
    dists: list[Path] = []
    for i in range(count):
        version = f"1.0.{i}"
        dists += [
            make_wheel(root / "dist", name, version),
            make_sdist(root / "dist", name, version),
        ]
    bench.sign(repository, dists)
    size = sum(p.stat().st_size for p in dists)
    return name, repository, root, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--releases", type=int, default=10)
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pypi-"))
    bench = Bench(work)
    try:
        # 1 + 2. many small dists, then the same command again --------------------------------
        first: dict[str, list[Measured]] = {"ours": [], "recipe": []}
        again: dict[str, list[Measured]] = {"ours": [], "recipe": []}
        sent: dict[str, tuple[int, int]] = {}
        files = 2 * args.releases
        for attempt in range(args.repeat):
            for client in ("ours", "recipe"):
                name, repository, root, _ = _releases(bench, f"small-{client}", args.releases)
                run = bench.ours if client == "ours" else bench.recipe
                first[client].append(run(repository, root))
                stored = bench.index.files(name)
                assert len(stored) == files, client
                assert all(f.has_provenance for f in stored), client
                mark = len(bench.index.requests)
                again[client].append(run(repository, root))
                if attempt == 0:
                    sent[client] = bench.uploads(mark)
                assert len(bench.index.files(name)) == files, client
        print(
            f"## {files} small dists ({args.releases} releases), each with its PEP 740 "
            f"attestation, to the PyPI stand-in (median of {args.repeat})\n"
        )
        print("| client | first run | re-run | uploads sent on the re-run | peak RSS |")
        print("|---|---|---|---|---|")
        labels = {
            "ours": f"hatch publish -p pypi (verifies all {files} attestations first)",
            "recipe": "curl mint-token + twine upload --attestations (PyPI's GitLab recipe)",
        }
        for client in ("ours", "recipe"):
            wall = statistics.median(m.wall for m in first[client])
            rerun = statistics.median(m.wall for m in again[client])
            rss = max(first[client], key=lambda m: m.rss_kib)
            posts, _stored = sent[client]
            print(f"| {labels[client]} | {wall:.2f} s | {rerun:.2f} s | {posts} | {fmt_rss(rss)} |")
        ours_first = statistics.median(m.wall for m in first["ours"])
        recipe_first = statistics.median(m.wall for m in first["recipe"])
        print(f"\nrecipe ÷ ours, first run: {recipe_first / ours_first:.2f}\n")

        # 3. one big wheel -----------------------------------------------------------------------
        n = args.big_mib
        big: dict[str, list[Measured]] = {"ours": [], "recipe": []}
        for _ in range(args.repeat):
            for client in ("ours", "recipe"):
                name, repository, root = bench.project(f"big-{client}")
                wheel = big_wheel(root / "dist", name.replace("-", "_"), n * MiB)
                bench.sign(repository, [wheel])
                run = bench.ours if client == "ours" else bench.recipe
                big[client].append(run(repository, root))
                [one] = bench.index.files(name)
                assert one.has_provenance, client
                shutil.rmtree(root / "dist")
        print(f"## One {n} MiB wheel with its attestation (median of {args.repeat})\n")
        print("| client | wall | MiB/s | peak RSS |")
        print("|---|---|---|---|")
        for client in ("ours", "recipe"):
            wall = statistics.median(m.wall for m in big[client])
            rss = max(big[client], key=lambda m: m.rss_kib)
            label = labels[client].split(" (")[0]
            print(f"| {label} | {wall:.2f} s | {n / wall:.0f} | {fmt_rss(rss)} |")
        print()
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
