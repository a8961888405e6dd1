"""Small real dists for the publisher tests (wheels and sdists written with zipfile/tarfile),
settings as CI would give them, and a plan of such dists."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from hatch_sigstore.publish import (
    Plan,
    PreflightResult,
    PublishSettings,
    build_plan,
    collect_dists,
    resolve_settings,
)

CI_ENV = {
    "GITLAB_CI": "true",
    "CI_SERVER_URL": "https://gitlab.example.com",
    "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
    "CI_PROJECT_ID": "42",
    "CI_PROJECT_PATH": "group/project",
    "CI_COMMIT_TAG": "v1.0.0",
    "CI_JOB_TOKEN": "glcbt-secretjobtoken123",
}
SECRET = "glpat-verysecretvalue1234"


def resolve(
    options: Mapping[str, object] | None = None,
    project: Mapping[str, object] | None = None,
    user: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    root: Path = Path("/proj"),
) -> PublishSettings:
    return resolve_settings(
        {"no_prompt": False, "initialize_auth": False, **(options or {})},
        project or {},
        user or {},
        root=root,
        env=CI_ENV if env is None else env,
    )


def make_plan(tmp_path: Path, releases: list[tuple[str, str]], *, concurrency: int = 4) -> Plan:
    """A plan of signed-looking dists (each with bundle, .sig and .crt) of ``releases``."""
    dist_dir = tmp_path / "dist"
    for name, version in releases:
        for path in (make_wheel(dist_dir, name, version), make_sdist(dist_dir, name, version)):
            for suffix in (".sigstore.json", ".sig", ".crt"):
                (dist_dir / (path.name + suffix)).write_text(f"{path.name}{suffix}")
    s = resolve({"concurrency": concurrency}, env=CI_ENV)
    dists = collect_dists([dist_dir])
    results = [
        PreflightResult(d, True, "0" * 64, "signed", tuple((sc, "1" * 64) for sc in d.sidecars))
        for d in dists
    ]
    return build_plan(dists, results, s)


def metadata_text(name: str, version: str, *, summary: str = "A test package") -> str:
    return (
        "Metadata-Version: 2.3\n"
        f"Name: {name}\n"
        f"Version: {version}\n"
        f"Summary: {summary}\n"
        "Requires-Python: >=3.8\n"
        "Description-Content-Type: text/markdown\n"
        "\n"
        f"# {name}\n\nLong description.\n"
    )


def make_wheel(
    directory: Path,
    name: str = "demo_pkg",
    version: str = "1.0.0",
    *,
    meta_name: str | None = None,
    meta_version: str | None = None,
    payload: bytes = b"",
    filename: str | None = None,
) -> Path:
    """A minimal wheel; ``meta_*`` make its METADATA disagree with its file name."""
    directory.mkdir(parents=True, exist_ok=True)
    dist_name = name.replace("-", "_")
    path = directory / (filename or f"{dist_name}-{version}-py3-none-any.whl")
    info = f"{dist_name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{dist_name}/__init__.py", b"VALUE = 1\n" + payload)
        zf.writestr(f"{info}/METADATA", metadata_text(meta_name or name, meta_version or version))
        zf.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr(f"{info}/RECORD", "")
    return path


def make_sdist(
    directory: Path,
    name: str = "demo_pkg",
    version: str = "1.0.0",
    *,
    meta_name: str | None = None,
    meta_version: str | None = None,
    with_pkg_info: bool = True,
    payload: bytes = b"",
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    dist_name = name.replace("-", "_")
    path = directory / f"{dist_name}-{version}.tar.gz"
    top = f"{dist_name}-{version}"
    with tarfile.open(path, "w:gz") as tf:
        members = {f"{top}/src/{dist_name}/__init__.py": b"VALUE = 1\n" + payload}
        if with_pkg_info:
            text = metadata_text(meta_name or name, meta_version or version)
            members[f"{top}/PKG-INFO"] = text.encode()
        for member_name, data in members.items():
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path
