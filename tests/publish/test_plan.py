"""Preflight and plan: fail closed before anything is sent; signatures planned before dists."""

from __future__ import annotations

from pathlib import Path

import pytest

from hatch_sigstore.errors import PublishError
from hatch_sigstore.publish import PreflightResult, collect_dists, require_preflight
from publish_helpers import make_plan, make_sdist, make_wheel, resolve


def test_plan_shape(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, [("demo_pkg", "1.0.0")])
    assert {(i.package, i.version) for i in plan.generic} == {("demo-pkg", "1.0.0")}
    assert len(plan.generic) == 6
    assert len(plan.pypi) == 2
    assert {(i.package, i.version) for i in plan.pypi} == {("demo_pkg", "1.0.0")}
    text = "\n".join(plan.render())
    assert "PUT packages/generic/demo-pkg/1.0.0/demo_pkg-1.0.0.tar.gz.sig" in text
    assert text.index("generic registry") < text.index("PyPI registry")


def test_require_preflight_fails_closed(tmp_path: Path) -> None:
    dists = collect_dists([make_wheel(tmp_path), make_sdist(tmp_path)])
    results = [
        PreflightResult(dists[0], True, "0" * 64, "signed"),
        PreflightResult(dists[1], False, "0" * 64, "no signature file found"),
    ]
    s = resolve()
    with pytest.raises(PublishError) as info:
        require_preflight(results, s)
    text = str(info.value)
    assert "1 of 2" in text
    assert "demo_pkg-1.0.0.tar.gz: no signature file found" in text
    assert "Nothing was uploaded" in text
    assert "allow-unsigned" in text
    allowed = resolve({"allow-unsigned": "true"})
    require_preflight(results, allowed)  # the opt-out lets it through
