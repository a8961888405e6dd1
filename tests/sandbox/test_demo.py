"""`hatch-sigstore sandbox demo`: the README's first command, run for real (subprocesses, HTTP)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from gitlab_stand_in_helpers import forward_target

from hatch_sigstore.errors import ConfigError
from hatch_sigstore.sandbox.demo import _services, find_example_project, run_demo

EXAMPLE = Path(__file__).resolve().parents[2] / "example-project"


def test_demo_runs_every_stage_and_keeps_only_verified_files(tmp_path: Path) -> None:
    out = io.StringIO()
    result = run_demo(example=EXAMPLE, keep=tmp_path / "work", out=out)
    text = out.getvalue()

    assert result.ok, text
    assert [stage.name for stage in result.stages] == ["build", "publish", "consumer verification"]
    assert result.verified == [
        "example_project-0.1.0-py3-none-any.whl",
        "example_project-0.1.0-py3-none-any.whl.sigstore.json",
        "example_project-0.1.0.tar.gz",
        "example_project-0.1.0.tar.gz.sigstore.json",
    ]
    # The build renamed and versioned the package from the (tag) pipeline and signed it.
    dist = tmp_path / "work" / "example-project" / "dist"
    for artifact in ("example_project-0.1.0.tar.gz", "example_project-0.1.0-py3-none-any.whl"):
        for suffix in ("", ".sigstore.json", ".sig", ".crt"):
            assert (dist / f"{artifact}{suffix}").is_file()
    assert "//.gitlab-ci.yml@refs/tags/v0.1.0" in text
    assert "all stages passed" in text
    # Tokens minted for the demo never reach the output.
    assert "glcbt-" not in text
    assert "eyJ" not in text


@pytest.mark.parametrize("object_storage", [False, True], ids=["local", "object-storage"])
def test_the_demos_registry_never_sends_a_client_off_loopback(
    tmp_path: Path, object_storage: bool
) -> None:
    """GitLab forwards names it does not hold to pypi.org; the demo's registry does not, so
    pip pointed at it cannot reach the network."""
    with _services(tmp_path, object_storage=object_storage) as (registry, _, _index):
        from hatch_sigstore.sandbox import GitLabRegistry

        assert isinstance(registry, GitLabRegistry)
        assert registry.settings.stays_on_loopback
        project = registry.create_project("demo/forwarding")
        token = registry.personal_token(project=project)
        assert forward_target(registry.simple_url(project), {"PRIVATE-TOKEN": token}) is None


def test_demo_stops_at_the_failing_stage_and_says_so(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(EXAMPLE, broken, ignore=shutil.ignore_patterns("dist"))
    pyproject = broken / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace('sign = "auto"', 'sign = "sometimes"'),
        encoding="utf-8",
    )
    out = io.StringIO()
    result = run_demo(example=broken, out=out)

    assert not result.ok
    assert [(s.name, s.ok) for s in result.stages] == [("build", False)]
    text = out.getvalue()
    assert "tool.hatch.build.hooks.sigstore.sign" in text
    assert "the pipeline FAILED" in text
    assert "Traceback" not in text


def test_find_example_project_refuses_a_folder_without_pyproject(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--example DIR"):
        find_example_project(tmp_path)
    assert find_example_project(EXAMPLE) == EXAMPLE


def test_find_example_project_defaults_to_the_shipped_copy_else_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hatch_sigstore.sandbox.demo as demo

    # An editable install imports from src/, where no packaged copy exists: the checkout's.
    assert not demo.PACKAGED_EXAMPLE.exists()
    assert find_example_project() == EXAMPLE
    shipped = tmp_path / "_example"
    shutil.copytree(EXAMPLE, shipped)
    monkeypatch.setattr(demo, "PACKAGED_EXAMPLE", shipped)
    assert find_example_project() == shipped  # an installed wheel: its own copy, from anywhere
    monkeypatch.setattr(demo, "PACKAGED_EXAMPLE", tmp_path / "gone")
    monkeypatch.setattr(demo, "CHECKOUT_EXAMPLE", tmp_path / "gone-too")
    with pytest.raises(ConfigError, match=r"missing from this installation.*force-reinstall"):
        find_example_project()
