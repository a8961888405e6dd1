"""``hatch-sigstore sandbox demo --pypi``: one tag pipeline to the GitLab stand-in and to the
PyPI stand-in, each verified by a consumer (real subprocesses, real HTTP on loopback)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hatch_sigstore.cli import main
from hatch_sigstore.sandbox.demo import run_demo

EXAMPLE = Path(__file__).resolve().parents[2] / "example-project"
STEM = "example_project-0.1.0"


def test_demo_publishes_to_gitlab_and_pypi_and_verifies_both(tmp_path: Path) -> None:
    out = io.StringIO()
    result = run_demo(example=EXAMPLE, keep=tmp_path / "work", out=out, pypi=True)
    text = out.getvalue()

    assert result.ok, text
    assert [stage.name for stage in result.stages] == [
        "build",
        "publish",
        "publish (PyPI)",
        "consumer verification",
        "consumer verification (PyPI)",
    ]
    # the PyPI stand-in verified every attestation before storing it, and the consumer again
    assert "2 with an attestation the index verified before storing it" in text
    assert result.verified_pypi == [
        f"{STEM}-py3-none-any.whl",
        f"{STEM}-py3-none-any.whl.publish.attestation",
        f"{STEM}.tar.gz",
        f"{STEM}.tar.gz.publish.attestation",
    ]
    assert "published by the GitLab trusted publisher demo-group/example-project" in text
    assert f"{STEM}.tar.gz.sigstore.json" in result.verified  # the GitLab side as before
    # PyPI attests only gitlab.com: the sandbox issuer says it is
    assert "https://gitlab.com/demo-group/example-project//.gitlab-ci.yml@refs/tags/v0.1.0" in text
    # neither the ID tokens, the job token nor the minted upload token reach the output
    assert "eyJ" not in text
    assert "glcbt-" not in text
    assert "pypi-AgE" not in text


def test_the_cli_flag_reaches_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    import hatch_sigstore.sandbox.demo as demo

    seen: list[dict[str, object]] = []

    def fake(**kwargs: object) -> demo.DemoResult:
        seen.append(kwargs)
        return demo.DemoResult([demo.StageResult("build", "hatch build", True, 0.0)])

    monkeypatch.setattr(demo, "run_demo", fake)
    assert main(["sandbox", "demo", "--pypi"]) == 0
    assert main(["sandbox", "demo"]) == 0
    assert [kwargs["pypi"] for kwargs in seen] == [True, False]
