"""Helpers shared by the GitLab stand-in's tests: real (tiny) dists, client subprocesses, and
uploads over raw HTTP."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
CURL = shutil.which("curl")
NAME, VERSION = "demo_pkg", "1.2.3"
# The proxy variables pip, uv, twine (requests) and curl read: everything but loopback goes to
# the discard port, where nothing listens.
_NOWHERE = "http://127.0.0.1:9"
_LOOPBACK = "127.0.0.1,localhost,::1"
NO_NETWORK = {
    **{name: _NOWHERE for name in ("http_proxy", "https_proxy", "all_proxy")},
    **{name.upper(): _NOWHERE for name in ("http_proxy", "https_proxy", "all_proxy")},
    "no_proxy": _LOOPBACK,
    "NO_PROXY": _LOOPBACK,
}


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_dists(dest: Path, name: str = NAME, version: str = VERSION) -> list[Path]:
    """A real (tiny) wheel and sdist, Metadata-Version 2.1 so every client can read them."""
    dest.mkdir(parents=True, exist_ok=True)
    metadata = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        "Summary: stand-in test package\nRequires-Python: >=3.8\n\n"
    ).encode()
    dist_info = f"{name}-{version}.dist-info"
    members = {
        f"{name}/__init__.py": b"VALUE = 1\n",
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [f"{k},sha256={_record_hash(v)},{len(v)}" for k, v in members.items()]
    record.append(f"{dist_info}/RECORD,,")
    wheel = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
        zf.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    sdist = dest / f"{name}-{version}.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        for rel, data in {
            "PKG-INFO": metadata,
            "pyproject.toml": b'[project]\nname = "x"\n',
            f"{name}/__init__.py": b"VALUE = 1\n",
        }.items():
            info = tarfile.TarInfo(f"{name}-{version}/{rel}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return [wheel, sdist]


def run(
    args: Sequence[str | Path], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def clean_env(tmp: Path) -> dict[str, str]:
    """The environment of a client run (pip, uv, twine, curl): no installer settings, and a
    proxy that refuses everything but loopback, so that nothing it is sent to (a redirect, a
    link) can reach the network."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().startswith(("pip_", "twine_", "hatch_", "ci_", "uv_"))
        and not k.lower().endswith("_proxy")
    }
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env["HOME"] = str(tmp)
    env.update(NO_NETWORK)
    return env


def forward_target(index_url: str, headers: Mapping[str, str]) -> str | None:
    """Where the simple index at ``index_url`` sends a client for a name it does not hold: the
    ``Location`` of its redirect, or None when it answers 404. Never followed."""
    with httpx.Client(timeout=10, follow_redirects=False, trust_env=False) as client:
        answer = client.get(f"{index_url.rstrip('/')}/no-such-package-anywhere/", headers=headers)
    if answer.status_code == 404:
        return None
    assert answer.is_redirect, (answer.status_code, answer.text)
    return answer.headers["location"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pypi_upload(
    client: httpx.Client,
    url: str,
    *,
    auth: tuple[str, str] | None,
    filename: str | None = "demo_pkg-1.0.0-py3-none-any.whl",
    content: bytes = b"wheel bytes",
    name: str | None = "demo-pkg",
    version: str | None = "1.0.0",
    digest: str | None = None,
    **fields: str | None,
) -> httpx.Response:
    """twine's multipart upload, as raw HTTP; ``field=None`` leaves a field out, and
    ``filename=None`` the file (a harmless ``gpg_signature`` part keeps it multipart)."""
    data = {"name": name, "version": version, "sha256_digest": digest or sha(content), **fields}
    form = {k: v for k, v in data.items() if v is not None}
    if filename is not None:
        files = {"content": (filename, content, "application/octet-stream")}
    else:
        files = {"gpg_signature": ("x.asc", b"sig", "application/octet-stream")}
    return client.post(url, data=form, files=files, auth=auth or httpx.USE_CLIENT_DEFAULT)


def generic_put(
    client: httpx.Client, url: str, headers: Mapping[str, str], content: bytes = b"signature"
) -> httpx.Response:
    """curl --upload-file, as raw HTTP."""
    return client.put(url, content=content, headers=dict(headers))
