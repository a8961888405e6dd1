"""example-project's .gitlab-ci.yml: it parses, and it is the pipeline the README documents."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "example-project" / ".gitlab-ci.yml"


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    data = yaml.safe_load(PIPELINE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_readme_shows_exactly_this_pipeline() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.DOTALL)
    assert PIPELINE.read_text(encoding="utf-8") in blocks


def test_stages_and_jobs(pipeline: dict[str, Any]) -> None:
    assert pipeline["stages"] == ["build", "publish", "verify"]
    jobs = {name: job for name, job in pipeline.items() if isinstance(job, dict) and "stage" in job}
    assert {name: job["stage"] for name, job in jobs.items()} == {
        "build": "build",
        "publish": "publish",
        "consumer_verification": "verify",
    }
    assert pipeline["publish"]["needs"] == ["build"]
    assert pipeline["consumer_verification"]["needs"] == ["publish"]


def test_build_job_signs_with_a_sigstore_id_token(pipeline: dict[str, Any]) -> None:
    build = pipeline["build"]
    assert build["id_tokens"] == {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}
    assert build["variables"]["HATCH_SIGSTORE_SIGN"] == "required"
    assert "hatch build" in build["script"]
    assert build["artifacts"]["paths"] == ["dist/"]
    # Only the build job holds an ID token: publishing and consuming never sign.
    assert "id_tokens" not in pipeline["publish"]
    assert "id_tokens" not in pipeline["consumer_verification"]


def test_publish_and_consumer_commands(pipeline: dict[str, Any]) -> None:
    assert "hatch publish -p gitlab" in pipeline["publish"]["script"]
    consumer = " ".join(pipeline["consumer_verification"]["script"])
    assert 'hatch-sigstore download "${CI_PROJECT_NAME}==${PACKAGE_VERSION}"' in consumer
    assert "--from-ci" in consumer
    assert "pip install --no-index --find-links verified/" in consumer


def test_tags_and_branches_both_get_a_version(pipeline: dict[str, Any]) -> None:
    rules = pipeline["workflow"]["rules"]
    by_condition = {rule["if"]: rule["variables"]["PACKAGE_VERSION"] for rule in rules}
    assert by_condition == {
        "$CI_COMMIT_TAG": "$CI_COMMIT_TAG",
        "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH": "0.1.0.dev$CI_PIPELINE_IID",
    }
