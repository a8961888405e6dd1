"""Helpers for the PyPI stand-in's tests: ID tokens, token exchange, dists, attestations, twine.

The ID tokens come from a :class:`LocalSigstore` whose issuer says it is ``https://gitlab.com``
(the ``pypi_sigstore`` fixture); they are RS256 for audience ``pypi``, as GitLab's are.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from hatch_sigstore.sandbox import LocalSigstore, PyPIIndex

REPO = "group/project"
_serial = itertools.count(1)


def unique(prefix: str = "pkg") -> str:
    """A project name no other test in this session uses."""
    return f"{prefix}-{os.getpid()}-{next(_serial)}"


def id_token(sigstore: LocalSigstore, project_path: str = REPO, **claims: Any) -> str:
    """A GitLab ID token with ``aud: pypi`` (``id_tokens: PYPI_ID_TOKEN: aud: pypi``)."""
    claims.setdefault("audience", "pypi")
    return sigstore.mint_token(project_path=project_path, **claims)


def exchange(index: PyPIIndex, token: str) -> httpx.Response:
    """``POST /_/oidc/mint-token`` at the upload URL's origin, as twine does."""
    origin = index.upload_url.rsplit("/legacy/", 1)[0]
    return httpx.post(f"{origin}/_/oidc/mint-token", json={"token": token}, timeout=30)


def publish_token(index: PyPIIndex, sigstore: LocalSigstore, project_path: str = REPO) -> str:
    response = exchange(index, id_token(sigstore, project_path))
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def errors_of(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"] == "Token request failed"
    return [(e["code"], e["description"]) for e in body["errors"]]


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def dists(
    dest: Path, name: str, version: str = "1.0.0", *, payload: bytes = b""
) -> tuple[Path, Path]:
    """A real (tiny) wheel with a correct RECORD, and a PEP 625 sdist: what pip installs."""
    dest.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_").lower()
    metadata = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        "Summary: PyPI stand-in test package\nRequires-Python: >=3.8\n\n"
    ).encode()
    info = f"{dist}-{version}.dist-info"
    members = {
        f"{dist}/__init__.py": b"VALUE = 1\n" + payload,
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [f"{k},sha256={_record_hash(v)},{len(v)}" for k, v in members.items()]
    record.append(f"{info}/RECORD,,")
    wheel = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    sdist = dest / f"{dist}-{version}.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        for rel, data in {
            "PKG-INFO": metadata,
            "pyproject.toml": b'[project]\nname = "x"\n',
            f"{dist}/__init__.py": b"VALUE = 1\n" + payload,
        }.items():
            tarinfo = tarfile.TarInfo(f"{dist}-{version}/{rel}")
            tarinfo.size = len(data)
            tf.addfile(tarinfo, io.BytesIO(data))
    return wheel, sdist


def attest(
    sigstore: LocalSigstore,
    paths: list[Path],
    *,
    project_path: str = REPO,
    subject: Path | None = None,
    **claims: Any,
) -> list[Path]:
    """PEP 740 publish attestations made with pypi-attestations' API against the local
    Sigstore, written as ``FILE.publish.attestation`` (``subject``: attest that file instead,
    under each path's attestation name)."""
    from pypi_attestations import Attestation, Distribution
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    context = SigningContext.from_trust_config(sigstore.client_trust_config())
    token = IdentityToken(sigstore.mint_token(project_path=project_path, **claims))
    written = []
    with context.signer(token) as signer:
        for path in paths:
            attestation = Attestation.sign(signer, Distribution.from_file(subject or path))
            out = Path(f"{path}.publish.attestation")
            out.write_text(attestation.model_dump_json(), encoding="utf-8")
            written.append(out)
    return written


def twine(
    index: PyPIIndex, token: str, *files: Path, attestations: bool = False
) -> subprocess.CompletedProcess[str]:
    """``twine upload`` (the real twine, in a subprocess), the token in TWINE_PASSWORD."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINE_")}
    env.update(TWINE_USERNAME="__token__", TWINE_PASSWORD=token, NO_COLOR="1", COLUMNS="200")
    args = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--verbose"]
    args += ["--disable-progress-bar", "--repository-url", index.upload_url]
    if attestations:
        args.append("--attestations")
    return subprocess.run(
        [*args, *map(str, files)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def form(
    name: str, version: str, path: Path, /, *, filetype: str | None = None, **extra: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The multipart form twine sends for ``path`` (fields, files), for direct uploads."""
    data = path.read_bytes()
    fields: dict[str, Any] = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": name,
        "version": version,
        "filetype": filetype or ("bdist_wheel" if path.name.endswith(".whl") else "sdist"),
        "pyversion": "py3" if path.name.endswith(".whl") else "source",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        "blake2_256_digest": hashlib.blake2b(data, digest_size=32).hexdigest(),
    }
    fields.update(extra)
    fields = {k: v for k, v in fields.items() if v is not None}
    return fields, {"content": (path.name, data, "application/octet-stream")}


def upload(
    index: PyPIIndex, token: str | None, fields: dict[str, Any], files: dict[str, Any]
) -> httpx.Response:
    auth = ("__token__", token) if token is not None else None
    return httpx.post(index.upload_url, data=fields, files=files, auth=auth, timeout=60)


# The real release GitLab CI published to PyPI with a PEP 740 attestation (production Sigstore)
REAL_SDIST = "gitlab_oidc_project-0.0.3.tar.gz"
REAL_PROJECT = "facutuesca/gitlab-oidc-project"


def publish_real_release(
    index: PyPIIndex, sigstore: LocalSigstore, real_world: Path, tmp_path: Path
) -> Path:
    """Upload the real sdist and its attestation to ``index`` (the ``production_pypi_index``
    fixture: it checks attestations against the public Sigstore) as its trusted publisher,
    with twine; the sdist's path."""
    import shutil

    index.create_project("gitlab-oidc-project")
    index.add_gitlab_publisher("gitlab-oidc-project", REAL_PROJECT)
    token = exchange(index, id_token(sigstore, REAL_PROJECT)).json()["token"]
    for name in (REAL_SDIST, f"{REAL_SDIST}.publish.attestation"):
        shutil.copy(real_world / name, tmp_path / name)
    sdist = tmp_path / REAL_SDIST
    upload = twine(index, token, sdist, Path(f"{sdist}.publish.attestation"), attestations=True)
    assert upload.returncode == 0, upload.stdout + upload.stderr
    return sdist
