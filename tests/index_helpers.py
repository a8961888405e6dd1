"""Releases, configs and real installers for the index tests (tests/index) and its benchmark.

Releases are made as ``hatch publish -p gitlab`` makes them, without hatch: small installable
wheels (with ``Requires-Dist`` when asked) and sdists, signed with ``sign_files`` against the
local Sigstore by a tag pipeline of a GitLab project, the dists uploaded to the stand-in's PyPI
route and their sidecars to its generic route at ``generic_package_coordinates``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hatch_sigstore._files import is_sidecar
from hatch_sigstore._names import generic_coordinates as generic_package_coordinates

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import GitLabRegistry, LocalSigstore
    from hatch_sigstore.sandbox._gitlab_store import Project

SIGNER = "group/demo"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    meta_version: str | None = None,
    filename_version: str | None = None,
    payload: bytes = b"",
) -> Path:
    """An installable pure-Python wheel (``payload`` as a data file). ``meta_version`` makes
    its METADATA disagree with its file name (``filename_version``), as a renamed old release
    would."""
    directory.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {meta_version or version}\n"
    metadata += "Requires-Python: >=3.8\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{info}/METADATA": metadata.encode(),
        **({f"{module}/data.bin": payload} if payload else {}),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    path = directory / f"{module}-{filename_version or version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def sdist(directory: Path, name: str, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    path = directory / f"{module}-{version}.tar.gz"
    pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    with tarfile.open(path, "w:gz") as archive:
        member = tarfile.TarInfo(f"{module}-{version}/PKG-INFO")
        member.size = len(pkg_info)
        archive.addfile(member, io.BytesIO(pkg_info))
    return path


def sign(
    local_sigstore: LocalSigstore,
    paths: Sequence[Path],
    *,
    project: str = SIGNER,
    tag: str = "v1.0.0",
    outputs: Iterable[str] = ("bundle",),
) -> None:
    """Sign as a tag pipeline of ``project`` on the sandbox's GitLab."""
    from hatch_sigstore.sign import SignOptions, sign_files
    from hatch_sigstore.trust import TrustChoice

    token = local_sigstore.mint_token(project_path=project, ref=tag, ref_type="tag")
    options = SignOptions(
        trust=TrustChoice.resolve(trust_config=local_sigstore.trust_config_path, env={}),
        token=token,
        ambient=False,
        env={},
        outputs=frozenset(outputs),
    )
    sign_files(list(paths), options)


def publish(
    registry: GitLabRegistry,
    project: Project,
    paths: Iterable[Path],
    *,
    name: str,
    version: str,
    signatures: bool = True,
) -> None:
    """Each dist to the PyPI registry and (``signatures``) its sidecars to the generic one."""
    from hatch_sigstore.gitlab import Credentials, RegistryClient

    token = registry.personal_token(project=project)
    package, generic_version = generic_package_coordinates(name, version)
    with RegistryClient(registry.api_url, str(project.id), Credentials("personal", token)) as c:
        for path in paths:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            c.pypi_upload(path, name=name, version=version, sha256=sha)
            if not signatures:
                continue
            for sidecar in sorted(path.parent.glob(path.name + ".*")):
                if is_sidecar(sidecar):
                    digest = hashlib.sha256(sidecar.read_bytes()).hexdigest()
                    c.generic_upload(package, generic_version, sidecar, sha256=digest)


def release(
    local_sigstore: LocalSigstore,
    registry: GitLabRegistry,
    project: Project,
    directory: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    signer: str = SIGNER,
) -> Path:
    """Build, sign and publish one wheel of ``name`` ``version``; its path."""
    path = wheel(directory / f"{name}-{version}", name, version, requires=requires)
    sign(local_sigstore, [path], project=signer, tag=f"v{version}")
    publish(registry, project, [path], name=name, version=version)
    return path


def gitlab_policy_toml(local_sigstore: LocalSigstore, signer: str = SIGNER) -> str:
    return (
        f'gitlab = "{signer}"\nserver = "{local_sigstore.gitlab_url}"\nref-glob = "refs/tags/v*"\n'
    )


def installer_env() -> dict[str, str]:
    """The environment for pip and uv: no user config, no CI job to pick up."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        UV_NO_CONFIG="1",
        NO_COLOR="1",
    )
    return env


def uv_bin() -> str:
    from uv import find_uv_bin

    return str(find_uv_bin())


def pip_install(
    index_url: str,
    target: Path,
    *requirements: str,
    extra: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``pip install --index-url URL --target DIR REQS`` with the test interpreter's pip."""
    command = [
        sys.executable, "-m", "pip", "install", "--no-cache-dir", "--index-url", index_url,
        "--target", str(target), "--timeout", "120", *extra, *requirements,
    ]  # fmt: skip
    return subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        env=dict(env or installer_env()),
        timeout=600,
    )


def uv_install(
    index_url: str,
    target: Path,
    *requirements: str,
    extra: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``uv pip install --index-url URL --target DIR REQS`` (no cache, no config)."""
    command = [
        uv_bin(), "pip", "install", "--no-cache", "--python", sys.executable,
        "--index-url", index_url, "--target", str(target), *extra, *requirements,
    ]  # fmt: skip
    env = installer_env()
    env["UV_HTTP_TIMEOUT"] = "120"
    return subprocess.run(
        command, check=False, capture_output=True, text=True, env=env, timeout=600
    )


class IndexLog(logging.Handler):
    """The index's log lines (``hatch_sigstore.index``), from attach to detach."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.logger = logging.getLogger("hatch_sigstore.index")

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def attach(self) -> IndexLog:
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)
        return self

    def detach(self) -> None:
        self.logger.removeHandler(self)
