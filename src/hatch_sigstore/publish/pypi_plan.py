"""Preflight and plan of ``hatch publish -p pypi``: every attestation checked before any upload.

Preflight fails closed: each dist's ``.publish.attestation`` must verify against the trusted
publisher PyPI will check it against (PyPI's rules: issuer https://gitlab.com, the publisher's
repository, its CI file at the certificate's ref or commit; see
:class:`~hatch_sigstore.verify.PublisherPolicy`) and the pipeline's ref, with the trust root
the index uses. One dist without a verifying attestation stops everything before a single
request. With ``attestations = false`` nothing is checked or sent (the publisher warns
loudly). The plan lists the uploads, each with the attestation that goes with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hatch_sigstore._files import ATTESTATION_SUFFIX, open_regular
from hatch_sigstore.errors import PublishError
from hatch_sigstore.publish.dists import Dist
from hatch_sigstore.publish.plan import UploadItem, dist_sha256, format_size
from hatch_sigstore.publish.pypi_settings import PYPI_TABLE, PyPISettings

__all__ = ["PyPIPlan", "PyPIPreflight", "build_pypi_plan", "pypi_preflight", "require_pypi"]


@dataclass(frozen=True)
class PyPIPreflight:
    """One dist's verdict; ``attestation`` is the file that goes along, ``attestation_sha256``
    the sha256 of the bytes of it that verified (the only ones sent)."""

    dist: Dist
    ok: bool
    sha256: str
    detail: str  # who signed, or why not
    attestation: Path | None = None
    attestation_sha256: str | None = None


def pypi_preflight(
    dists: Sequence[Dist], settings: PyPISettings, *, present: Mapping[str, str] | None = None
) -> list[PyPIPreflight]:
    """Check the attestation of every dist not ``present`` on the index (``file name →
    sha256``; those are not sent). Returns all results in the order of ``dists``."""
    order = {d.filename: i for i, d in enumerate(dists)}
    out = _preflight(dists, settings, present or {})
    return sorted(out, key=lambda r: order[r.dist.filename])


def _preflight(
    dists: Sequence[Dist], settings: PyPISettings, present: Mapping[str, str]
) -> list[PyPIPreflight]:
    def digest(d: Dist) -> str:
        return present.get(d.filename) or dist_sha256(d)

    there = [
        PyPIPreflight(d, True, digest(d), "already on the index with the same sha256: not sent")
        for d in dists
        if d.filename in present
    ]
    dists = [d for d in dists if d.filename not in present]
    if not settings.attestations or settings.policy is None:
        return there + [PyPIPreflight(d, True, digest(d), "attestations off") for d in dists]
    if not dists:
        return there  # nothing to send, nothing to verify (sigstore is not even imported)
    from hatch_sigstore.verify import verify_files

    attested = [d for d in dists if d.path.with_name(d.filename + ATTESTATION_SUFFIX).is_file()]
    results = {
        Path(r.artifact).name: r
        for r in verify_files(
            [d.examined or d.path for d in attested],  # an sdist is not read again
            settings.policy,
            settings.trust,
            sidecar="attestation",
            follow_symlinks=False,
        )
    }
    out = there
    for d in dists:
        sidecar = d.path.with_name(d.filename + ATTESTATION_SUFFIX)
        result = results.get(d.filename)
        if result is None:
            out.append(
                PyPIPreflight(
                    d, False, digest(d), f"no attestation: {sidecar.name} is not beside it"
                )
            )
        elif result.ok:
            out.append(
                PyPIPreflight(
                    d,
                    True,
                    result.sha256 or digest(d),
                    f"attested by {result.identity}",
                    sidecar,
                    dict(result.sidecar_files).get(sidecar.name),
                )
            )
        else:
            detail = result.reason or "did not verify"
            out.append(PyPIPreflight(d, False, result.sha256 or digest(d), detail))
    return out


def require_pypi(results: Sequence[PyPIPreflight], settings: PyPISettings) -> None:
    """Fail closed: raise :class:`PublishError` naming every dist whose attestation failed."""
    bad = [r for r in results if not r.ok]
    if not bad:
        return
    lines = "; ".join(f"{r.dist.filename}: {r.detail}" for r in bad)
    missing = any(r.detail.startswith("no attestation") for r in bad)
    raise PublishError(
        f"Preflight failed: {len(bad)} of {len(results)} dist(s) have no attestation that "
        f"{settings.urls.name} would accept ({settings.policy_text}) — {lines}. Nothing was "
        "uploaded; the index is unchanged.",
        remediation=(
            'Make the attestations when building: add outputs = ["bundle", "attestation"] '
            "to [tool.hatch.build.hooks.sigstore] (or hatch-sigstore sign --attestation) in the "
            "pipeline that builds the dists. "
            if missing
            else "Sign the dists in the pipeline of the trusted publisher registered on the "
            "index (gitlab-project, config-path), at the pipeline's ref (ref, ref-glob). "
        )
        + f"To publish without attestations, pass -o attestations=false (or set it in "
        f"{PYPI_TABLE}).",
    )


@dataclass(frozen=True)
class PyPIPlan:
    settings: PyPISettings
    preflight: tuple[PyPIPreflight, ...]
    items: tuple[UploadItem, ...]
    attestations: Mapping[str, str]  # file name -> its attestation (the verified JSON)
    forms: Mapping[str, tuple[tuple[str, str], ...]]  # file name -> its metadata form fields
    present: frozenset[str] = frozenset()  # file names already on the index (not sent)

    def form(self, item: UploadItem) -> tuple[tuple[str, str], ...]:
        return self.forms[item.filename]  # every item to send has its form

    def attestation_texts(self, item: UploadItem) -> list[str]:
        """The attestation of ``item`` for the ``attestations`` field (none without one)."""
        text = self.attestations.get(item.filename)
        return [] if text is None else [text]

    def render(self) -> list[str]:
        s = self.settings
        lines = [
            f"Index: {s.urls.upload} ({s.urls.name})",
            f"Upload token: {s.describe_auth()}",
            f"Attestations: {'sent, checked against ' + s.policy_text if s.attestations else 'OFF'}"
            + (f" (trust: {s.trust.describe()})" if s.attestations else ""),
            "Preflight:",
        ]
        for r in self.preflight:
            mark = "ok" if r.ok else "FAILED"
            lines.append(f"  {mark:<10} {r.dist.filename}: {r.detail}")
        lines.append("Uploads:")
        if not self.items or all(it.filename in self.present for it in self.items):
            lines.append("   (none: the index holds every file with the same sha256)")
        for it in self.items:
            if it.filename in self.present:
                continue
            with_att = " + attestation" if it.filename in self.attestations else ""
            lines.append(
                f"   POST {s.urls.upload}  {it.filename}{with_att}  ({it.package} "
                f"{it.version}, {format_size(it.size)}, sha256 {it.sha256[:12]}…)"
            )
        return lines


def build_pypi_plan(
    dists: Sequence[Dist],
    results: Sequence[PyPIPreflight],
    settings: PyPISettings,
    *,
    present: Collection[str] = (),
) -> PyPIPlan:
    sdists: dict[tuple[str, str], str] = {}
    for d in dists:
        if d.kind == "sdist":
            release = (d.name.lower(), d.version)
            if release in sdists:
                raise PublishError(
                    f"Two sdists of {d.name} {d.version}: {sdists[release]} and {d.filename}; "
                    "PyPI takes one sdist per release.",
                    remediation="Publish one of them.",
                )
            sdists[release] = d.filename
    items = tuple(
        UploadItem("pypi", r.dist.path, r.sha256, r.dist.size, r.dist.name, r.dist.version, r.dist)
        for r in results
    )
    attestations = {
        r.dist.filename: _verified_text(r) for r in results if r.attestation is not None and r.ok
    }
    forms = _forms([d for d in dists if d.filename not in present])
    return PyPIPlan(settings, tuple(results), items, attestations, forms, frozenset(present))


def _verified_text(result: PyPIPreflight) -> str:
    """The attestation's bytes, read once more here and sent from memory: refused unless they
    are the bytes that verified (a file swapped after the check is never sent)."""
    path = result.attestation
    assert path is not None
    try:
        with open_regular(path) as handle:  # a link swapped in after the check: refused
            raw = handle.read()
    except OSError as exc:
        raise PublishError(
            f"Cannot read {path.name} again ({exc.strerror or exc}). Nothing was uploaded."
        ) from None
    if result.attestation_sha256 is None or (
        hashlib.sha256(raw).hexdigest() != result.attestation_sha256
    ):
        raise PublishError(
            f"{path.name} changed after it was verified. Nothing was uploaded.",
            remediation="Do not modify dist/ while publishing; re-run the publish.",
        )
    return json.dumps(json.loads(raw), separators=(",", ":"))


def _forms(dists: Sequence[Dist]) -> dict[str, tuple[tuple[str, str], ...]]:
    """Every dist's metadata as form fields, read before anything is sent (a dist twine would
    refuse stops the publish here, not half-way)."""
    from hatch_sigstore.pypi import form_fields

    return {d.filename: tuple(form_fields(_metadata_of(d), d.filename)) for d in dists}


def _metadata_of(d: Dist) -> bytes:
    """The dist's METADATA / PKG-INFO as its bytes (the release reader's parse, which keeps
    them exactly; an sdist examined while collecting is not read again)."""
    from hatch_sigstore.verify import read_release

    examined = d.examined.release if d.examined is not None else None
    release = examined if examined is not None else read_release(d.path)
    return release.metadata.as_bytes()
