"""Preflight and plan: verify every dist before anything is sent, then list the uploads in order.

Preflight fails closed: one unsigned or mis-signed dist stops everything before a single
request (unless the explicit ``allow-unsigned`` opt-out is given). *Every* signature file beside
a dist must verify against the policy (a ``.sig`` + ``.crt`` pair, a PEP 740 attestation, a
bundle), and each dist must be the release its file name says (its own metadata; with
``version-from-tag``, the certificate's tag): only what verified is ever uploaded, and a
signature file that does not verify is never published, not even with ``allow-unsigned``.

Each byte is read once before the upload: the sha256 each file was verified with travels on:
:class:`PreflightResult` → :class:`UploadItem` → the upload, which declares it to the registry
and checks it again while streaming, so the bytes sent are the bytes that verified. The plan
puts the signature files (generic registry) before the dists (PyPI registry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hatch_sigstore._files import sha256_file
from hatch_sigstore._names import generic_coordinates
from hatch_sigstore.errors import PublishError
from hatch_sigstore.publish.dists import Dist
from hatch_sigstore.publish.settings import PublishSettings

if TYPE_CHECKING:
    from hatch_sigstore.verify import FileResult

__all__ = [
    "Plan",
    "PreflightResult",
    "Registry",
    "UploadItem",
    "build_plan",
    "format_size",
    "preflight",
    "require_preflight",
]


@dataclass(frozen=True)
class PreflightResult:
    """One dist's verdict; ``sidecars``: the signature files that verified, each with the
    sha256 of the bytes that did (the only ones uploaded)."""

    dist: Dist
    ok: bool
    sha256: str
    detail: str  # who signed, or why not
    sidecars: tuple[tuple[Path, str], ...] = ()


def preflight(dists: Sequence[Dist], settings: PublishSettings) -> list[PreflightResult]:
    """Verify every dist and every signature file beside it against the policy, and bind each
    dist to its release. Returns all results; the caller decides.

    Without a policy (only possible with ``allow-unsigned``) nothing is verified, and so no
    signature file is uploaded.
    """
    if settings.policy is None:
        return [
            PreflightResult(d, False, dist_sha256(d), "not verified: no expected identity")
            for d in dists
        ]
    from hatch_sigstore.verify import EVERY_SIDECAR, verify_files

    # online: a .sig + .crt that is not exactly a verified bundle's needs the log lookup
    results: list[FileResult] = verify_files(
        [d.examined or d.path for d in dists],
        settings.policy,
        settings.trust,
        offline=False,
        sidecar=EVERY_SIDECAR,
        follow_symlinks=False,  # a dist swapped for a link after it was listed: refused
    )
    out = []
    for d, r in zip(dists, results, strict=True):
        sha = r.sha256 or dist_sha256(d)
        detail = f"signed by {r.identity} ({r.sidecar})" if r.ok else (r.reason or "failed")
        verified = tuple((d.path.with_name(name), digest) for name, digest in r.sidecar_files)
        out.append(PreflightResult(d, r.ok, sha, detail, verified if r.ok else ()))
    return out


def dist_sha256(dist: Dist) -> str:
    """The dist's sha256: from its examination when it had one (an sdist read whole while
    collecting), else read now, never through a link (:func:`file_sha256`)."""
    if dist.examined is not None:
        return dist.examined.sha256
    return file_sha256(dist.path)


def file_sha256(path: Path) -> str:
    """The sha256 of a file about to be published: the file itself, never a link's target
    (a dist swapped for a link after it was listed is refused); PublishError otherwise."""
    try:
        return sha256_file(path, follow_symlinks=False)
    except OSError as exc:
        raise PublishError(
            f"Cannot read {path} ({exc.strerror or exc}). Nothing was uploaded.",
            remediation="Do not modify the dist folder while publishing; re-run the publish.",
        ) from None


def require_preflight(results: Sequence[PreflightResult], settings: PublishSettings) -> None:
    """Fail closed: raise PublishError naming every dist that did not verify."""
    bad = [r for r in results if not r.ok]
    if not bad or settings.allow_unsigned:
        return
    lines = "; ".join(f"{r.dist.filename}: {r.detail}" for r in bad)
    raise PublishError(
        f"Preflight failed: {len(bad)} of {len(results)} dist(s) are not signed by the expected "
        f"identity ({settings.policy_text}) — {lines}. Nothing was uploaded; the registry is "
        "unchanged.",
        remediation="Sign the dists in the pipeline that builds them (the sigstore build hook, "
        "or hatch-sigstore sign), remove signature files that are not theirs, or fix the "
        "expected identity (gitlab-project, ref, ref-glob, identity, version-from-tag, "
        "trust-config). To publish the dists anyway (without the signature files that did not "
        "verify), pass -o allow-unsigned=true.",
    )


Registry = Literal["generic", "pypi"]


@dataclass(frozen=True)
class UploadItem:
    registry: Registry
    path: Path
    sha256: str
    size: int
    package: str  # generic: package name; pypi: the metadata Name
    version: str  # generic: generic version; pypi: the metadata Version
    dist: Dist = field(repr=False, compare=False, hash=False)

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.registry, self.package, self.version)


@dataclass(frozen=True)
class Plan:
    settings: PublishSettings
    preflight: tuple[PreflightResult, ...]
    generic: tuple[UploadItem, ...]
    pypi: tuple[UploadItem, ...]

    @property
    def items(self) -> tuple[UploadItem, ...]:
        return self.generic + self.pypi

    def render(self) -> list[str]:
        s = self.settings
        lines = [
            f"Registry: {s.project_api_url}/packages",
            f"Expected signer: {s.policy_text} (trust: {s.trust.describe()})",
            "Preflight:",
        ]
        for r in self.preflight:
            mark = "ok" if r.ok else ("UNSIGNED (allowed)" if s.allow_unsigned else "FAILED")
            lines.append(f"  {mark:<10} {r.dist.filename}: {r.detail}")
            left_out = sorted(set(r.dist.sidecars) - {path for path, _ in r.sidecars})
            if left_out:
                names = ", ".join(p.name for p in left_out)
                lines.append(f"  {'':<10} not uploaded (did not verify): {names}")
        lines.append("1. Signature files → generic registry (first file of a version alone):")
        for it in self.generic or ():
            lines.append(
                f"   PUT packages/generic/{it.package}/{it.version}/{it.filename}"
                f"  ({format_size(it.size)}, sha256 {it.sha256[:12]}…)"
            )
        if not self.generic:
            lines.append("   (none)")
        lines.append("2. Dists → PyPI registry:")
        for it in self.pypi:
            lines.append(
                f"   POST packages/pypi  {it.filename}  ({it.package} {it.version}, "
                f"{format_size(it.size)}, sha256 {it.sha256[:12]}…)"
            )
        return lines


def build_plan(
    dists: Sequence[Dist], results: Sequence[PreflightResult], settings: PublishSettings
) -> Plan:
    generic: list[UploadItem] = []
    pypi: list[UploadItem] = []
    for r in results:
        d = r.dist
        package, version = generic_coordinates(d.name, d.version)
        if settings.generic_package:
            package = settings.generic_package
        verified = dict(r.sidecars)
        for sc in d.sidecars:  # only what verified, as it verified
            if sc in verified:
                size = sc.stat().st_size
                generic.append(UploadItem("generic", sc, verified[sc], size, package, version, d))
        pypi.append(UploadItem("pypi", d.path, r.sha256, d.size, d.name, d.version, d))
    return Plan(settings, tuple(results), tuple(generic), tuple(pypi))


def format_size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover
