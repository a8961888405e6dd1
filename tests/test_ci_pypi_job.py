"""The publish_pypi job of the CI/CD component and of example-project's pipeline, statically:
when it runs, which ID token it holds, what it runs (the sandbox demo runs it for real)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ci_runner import _selected, component_jobs

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("env", "runs"),
    [
        ({"CI_COMMIT_TAG": "v1.2.3", "HATCH_SIGSTORE_PYPI": "pypi"}, True),
        ({"CI_COMMIT_TAG": "v1.2.3", "HATCH_SIGSTORE_PYPI": "testpypi"}, True),
        ({"CI_COMMIT_TAG": "v1.2.3"}, False),  # opt-in: no variable, no job
        ({"CI_COMMIT_TAG": "v1.2.3", "HATCH_SIGSTORE_PYPI": ""}, False),
        (
            {
                "CI_COMMIT_BRANCH": "main",
                "CI_DEFAULT_BRANCH": "main",
                "HATCH_SIGSTORE_PYPI": "pypi",
            },
            False,
        ),
    ],
)
def test_publish_pypi_runs_for_tags_that_name_an_index(env: dict[str, str], runs: bool) -> None:
    job = component_jobs()["publish_pypi"]
    assert (_selected(job, env) is not None) is runs


def test_publish_pypi_holds_only_an_id_token_for_the_index() -> None:
    jobs = component_jobs()
    job = jobs["publish_pypi"]
    assert job["id_tokens"] == {"PYPI_ID_TOKEN": {"aud": "pypi"}}
    assert job["needs"] == ["build"]
    assert job["script"][-1] == 'hatch publish -p pypi -o "url=${HATCH_SIGSTORE_PYPI}"'
    # the signing token stays in the build job; GitLab's publish job holds no token
    assert "id_tokens" not in jobs["publish"]
    testpypi = component_jobs({"pypi-audience": "testpypi"})["publish_pypi"]
    assert testpypi["id_tokens"] == {"PYPI_ID_TOKEN": {"aud": "testpypi"}}


def test_the_example_builds_the_attestations_the_job_sends() -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

    pyproject = tomllib.loads((ROOT / "example-project" / "pyproject.toml").read_text())
    outputs = pyproject["tool"]["hatch"]["build"]["hooks"]["sigstore"]["outputs"]
    assert "attestation" in outputs
