"""Benchmark: download and verify one 20-file release from GitLab in one ``hatch-sigstore download``
command, against the GitLab tutorial's consumer way on the same stand-in in the same run:
``pip download`` per file, two ``curl`` calls per file for ``.sig`` and ``.crt``, and one
verifier process per file.

Run:  .venv/bin/python benchmarks/bench_download.py [--wheels 19] [--payload-kib 256] [--repeat 3]

The release: ``bench-pkg 1.0.0``, 19 wheels (4 CPython versions x 5 platforms, minus one) and an
sdist, each signed with ``sign_files`` against the local Sigstore (bundle + ``.sig``/``.crt``),
published to the GitLab registry stand-in (dists to its PyPI registry, sidecars to its generic
registry), in a private project read with a personal access token.

The tutorial verifies with ``cosign verify-blob``; cosign is not installed here, so its verifier
process is ``python -m sigstore verify identity --certificate F.crt --signature F.sig`` (the same
check: the certificate against the trust root, the signature, the log entry looked up online in
the local Rekor). ``pip download`` fetches one file per call, so each wheel gets its own
``--platform``/``--python-version``/``--abi`` call, as the tutorial's per-kind calls would need.
Services run in this process on loopback; every client (ours and the peers) is a subprocess.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

BIN = Path(sys.executable).parent
NAME, VERSION = "bench-pkg", "1.0.0"
PYTHONS = ("310", "311", "312", "313")
PLATFORMS = (
    "manylinux_2_17_x86_64",
    "manylinux_2_17_aarch64",
    "musllinux_1_2_x86_64",
    "macosx_11_0_arm64",
    "win_amd64",
)


def make_wheel(directory: Path, py: str, platform: str, payload: bytes) -> Path:
    tag = f"cp{py}-cp{py}-{platform}"
    info = f"bench_pkg-{VERSION}.dist-info"
    files = {
        "bench_pkg/__init__.py": b"VALUE = 1\n",
        "bench_pkg/_data.bin": payload,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode(),
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n".encode(),
    }
    files[f"{info}/RECORD"] = b""
    path = directory / f"bench_pkg-{VERSION}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in files.items():
            zf.writestr(member, data)
    return path


def make_sdist(directory: Path, payload: bytes) -> Path:
    """A real hatchling sdist: pip download runs its metadata hook (without isolation)."""
    root = f"bench_pkg-{VERSION}"
    members = {
        f"{root}/PKG-INFO": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode(),
        f"{root}/pyproject.toml": (
            '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
            f'[project]\nname = "{NAME}"\nversion = "{VERSION}"\n'
            '[tool.hatch.build.targets.wheel]\npackages = ["bench_pkg"]\n'
        ).encode(),
        f"{root}/bench_pkg/__init__.py": b"VALUE = 1\n",
        f"{root}/bench_pkg/_data.bin": payload,
    }
    path = directory / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def timed(command: list[str], env: dict[str, str], *, ok: bool = True) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if ok and done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command[:8])} …\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=int, default=19)
    parser.add_argument("--payload-kib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="runs of hatch-sigstore (median)")
    args = parser.parse_args()

    from hatch_sigstore.download import generic_coordinates
    from hatch_sigstore.gitlab import Credentials, RegistryClient
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore
    from hatch_sigstore.sign import SignOptions, sign_files
    from hatch_sigstore.trust import TrustChoice

    with (
        tempfile.TemporaryDirectory() as tmp_name,
        LocalSigstore(state_dir=Path(tmp_name) / "sigstore") as local,
        GitLabRegistry(state_dir=Path(tmp_name) / "gitlab") as registry,
    ):
        tmp = Path(tmp_name)
        release = tmp / "release"
        release.mkdir()
        tags = [(py, plat) for py in PYTHONS for plat in PLATFORMS][: args.wheels]
        dists = [
            make_wheel(release, py, plat, os.urandom(args.payload_kib * 1024)) for py, plat in tags
        ]
        dists.append(make_sdist(release, os.urandom(args.payload_kib * 1024)))
        token = local.mint_token(project_path="group/bench", ref="v1.0.0", ref_type="tag")
        trust = TrustChoice.resolve(trust_config=local.trust_config_path, env={})
        sign_files(dists, SignOptions(trust=trust, token=token, ambient=False, env={}))

        project = registry.create_project("group/bench")
        pat = registry.personal_token(project=project)
        package, generic_version = generic_coordinates(NAME, VERSION)
        with RegistryClient(registry.api_url, str(project.id), Credentials("personal", pat)) as c:
            for path in sorted(release.iterdir()):
                sha = hashlib.sha256(path.read_bytes()).hexdigest()
                if path.suffix in (".whl", ".gz"):
                    c.pypi_upload(path, name=NAME, version=VERSION, sha256=sha)
                else:
                    c.generic_upload(package, generic_version, path, sha256=sha)

        identity = "https://gitlab.example.com/group/bench//.gitlab-ci.yml@refs/tags/v1.0.0"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("CI_JOB_TOKEN", "HATCH_SIGSTORE_TRUST_CONFIG")
        }
        env["BENCH_TOKEN"] = pat
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        env["PIP_NO_CACHE_DIR"] = "1"

        # -- hatch-sigstore: one command ------------------------------------------------------
        ours_cmd = [
            sys.executable, "-m", "hatch_sigstore", "download", f"{NAME}=={VERSION}",
            "--url", registry.api_url, "--project", str(project.id), "--token-env", "BENCH_TOKEN",
            "--gitlab", "group/bench", "--server", local.gitlab_url,
            "--ref-glob", "refs/tags/v*", "--trust-config", str(local.trust_config_path),
            "--json",
        ]  # fmt: skip
        ours = []
        for n in range(args.repeat):
            out = tmp / f"ours-{n}"
            ours.append(timed([*ours_cmd, "-d", str(out)], env))
            kept = sorted(p.name for p in out.iterdir() if p.suffix in (".whl", ".gz"))
            assert len(kept) == len(dists), kept

        # -- the tutorial's way ----------------------------------------------------------------
        index = registry.simple_url(project, token=pat)  # the tutorial puts the token in the URL
        generic = registry.generic_url(project, package, generic_version, "").rstrip("/")
        pkg, sigs = tmp / "tutorial" / "pkg", tmp / "tutorial" / "signatures"
        pkg.mkdir(parents=True)
        sigs.mkdir()
        pip_base = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--index-url", index,
            "-d", str(pkg), "--quiet",
        ]  # fmt: skip
        t_pip = t_curl = t_verify = 0.0
        for py, plat in tags:
            t_pip += timed(
                [*pip_base, "--only-binary", ":all:", "--platform", plat, "--python-version",
                 py, "--implementation", "cp", "--abi", f"cp{py}", f"{NAME}=={VERSION}"],
                env,
            )  # fmt: skip
        t_pip += timed(
            [*pip_base, "--no-binary", ":all:", "--no-build-isolation", f"{NAME}=={VERSION}"], env
        )
        files = sorted(pkg.iterdir())
        assert len(files) == len(dists), [p.name for p in files]
        for path in files:
            for suffix in (".sig", ".crt"):
                t_curl += timed(
                    ["curl", "--fail", "--silent", "--show-error",
                     "--header", f"PRIVATE-TOKEN: {pat}",
                     "--output", str(sigs / f"{path.name}{suffix}"),
                     f"{generic}/{path.name}{suffix}"],
                    env,
                )  # fmt: skip
        for path in files:
            t_verify += timed(
                [sys.executable, "-m", "sigstore", "--trust-config", str(local.trust_config_path),
                 "verify", "identity", "--cert-identity", identity,
                 "--cert-oidc-issuer", local.gitlab_url,
                 "--signature", str(sigs / f"{path.name}.sig"),
                 "--certificate", str(sigs / f"{path.name}.crt"), str(path)],
                env,
            )  # fmt: skip

    n = len(dists)
    ours_median = statistics.median(ours)
    tutorial = t_pip + t_curl + t_verify
    size = f"{args.payload_kib} KiB payload each"
    print(f"### Download and verify one release of {n} files ({n - 1} wheels + sdist, {size})\n")
    print("| way | processes | wall time | per file | vs hatch-sigstore |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| `hatch-sigstore download` (one command; median of {args.repeat}) | 1 | "
        f"{ours_median:.2f} s | {ours_median / n * 1000:.0f} ms | 1.0x |"
    )
    print(
        f"| tutorial: `pip download` + `curl` .sig/.crt + verifier per file | {n + 3 * n} | "
        f"{tutorial:.2f} s | {tutorial / n * 1000:.0f} ms | {tutorial / ours_median:.1f}x |"
    )
    print(f"| ↳ `pip download` ({n} calls) | {n} | {t_pip:.2f} s | {t_pip / n * 1000:.0f} ms | |")
    print(
        f"| ↳ `curl` .sig + .crt ({2 * n} calls) | {2 * n} | {t_curl:.2f} s | "
        f"{t_curl / n * 1000:.0f} ms | |"
    )
    print(
        f"| ↳ `python -m sigstore verify identity` ({n} calls; stands in for cosign) | {n} | "
        f"{t_verify:.2f} s | {t_verify / n * 1000:.0f} ms | |"
    )
    print(
        "\nSame GitLab stand-in and local Sigstore, same run, loopback. hatch-sigstore also "
        "checks each file against the index's sha256 and keeps only verified files; the "
        "tutorial's way puts the token in pip's index URL. cosign is not installed here: its "
        "per-file `verify-blob` is stood in for by `python -m sigstore verify identity` with "
        "the same .sig/.crt (online log lookup)."
    )


if __name__ == "__main__":
    main()
