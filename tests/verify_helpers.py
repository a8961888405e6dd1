"""Shared by the verification tests: policies for the real-world artifacts, copying an artifact
with its sidecars, and flipping a byte."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hatch_sigstore.identity import ExpectedIdentity
from hatch_sigstore.trust import TrustChoice
from hatch_sigstore.verify import Policy

SDIST = "gitlab_oidc_project-0.0.3.tar.gz"
WHEEL = "bundle_v3_github.whl"
GITLAB_PROJECT = "facutuesca/gitlab-oidc-project"
GITHUB_SAN = (
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
)
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
PRODUCTION = TrustChoice()


def gl(project: str = GITLAB_PROJECT, server: str = "https://gitlab.com", **kw: Any) -> Policy:
    ident = {k: kw.pop(k) for k in ("ref", "config_path", "project_id") if k in kw}
    return Policy.gitlab(ExpectedIdentity(server, project, **ident), **kw)


def gh(identity: str = GITHUB_SAN, issuer: str = GITHUB_ISSUER) -> Policy:
    return Policy.cosign(cert_identity=identity, cert_oidc_issuer=issuer)


def copy_with_sidecars(src_dir: Path, name: str, dest: Path, new_name: str | None = None) -> Path:
    target = dest / (new_name or name)
    shutil.copyfile(src_dir / name, target)
    for sidecar in src_dir.glob(f"{name}.*"):
        shutil.copyfile(sidecar, dest / (target.name + sidecar.name[len(name) :]))
    return target


def flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))
