"""templates/release.yml (the CI/CD component) and example-project/.gitlab-ci.yml, statically.

Both are checked against GitLab's CI JSON schema (``app/assets/javascripts/editor/schema/ci.json``
of gitlab-org/gitlab, as vendored by check-jsonschema, pinned in the test extra; its copy is
``check_jsonschema/builtin_schemas/vendor/gitlab-ci.json``, MIT Expat, see its
``vendor/README.md``). The example's jobs are the component's with the default inputs.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ci_runner import (
    COMPONENT,
    EXAMPLE_CI,
    component_jobs,
    component_parts,
    interpolate,
    jobs_of,
    rule_matches,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "gitlab-ci.json").read_text(encoding="utf-8"))
    assert schema["$id"] == "https://gitlab.com/.gitlab-ci.yml"
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, document: object) -> list[str]:
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE_CI.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_component_header_and_body_are_valid_gitlab_ci(
    validator: jsonschema.Draft7Validator,
) -> None:
    spec, body = component_parts(COMPONENT.read_text(encoding="utf-8"))
    assert _errors(validator, spec) == []
    assert _errors(validator, yaml.safe_load(body)) == []
    assert _errors(validator, component_jobs()) == []


def test_example_pipeline_is_valid_gitlab_ci(
    validator: jsonschema.Draft7Validator, example: dict[str, Any]
) -> None:
    assert _errors(validator, example) == []


def test_the_schema_check_can_fail(
    validator: jsonschema.Draft7Validator, example: dict[str, Any]
) -> None:
    broken = copy.deepcopy(example)
    broken["build"]["scirpt"] = broken["build"].pop("script")
    broken["publish"]["needs"] = "build"
    assert len(_errors(validator, broken)) >= 2


def test_component_is_in_the_catalog_layout_and_declares_every_input_it_uses() -> None:
    # templates/<name>.yml: included as component: HOST/GROUP/PROJECT/<name>@VERSION
    assert COMPONENT.parent == ROOT / "templates"
    spec, body = component_parts(COMPONENT.read_text(encoding="utf-8"))
    declared = spec["spec"]["inputs"]
    used = set(re.findall(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]", body))
    assert used == set(declared)
    for name, options in declared.items():
        assert "default" in options, f"{name}: every input has a default (include with none)"
        assert options.get("description"), name
    # A component must not set pipeline-wide keywords (GitLab's component guidelines).
    assert not {"stages", "default", "variables", "workflow"} & set(yaml.safe_load(body))


def test_example_pipeline_has_exactly_the_components_jobs(example: dict[str, Any]) -> None:
    assert jobs_of(example) == component_jobs()
    assert example["stages"] == ["build", "publish", "verify"]
    # The example says how to include the component instead.
    assert "component: $CI_SERVER_FQDN/hatch-sigstore/hatch-sigstore/release@" in (
        EXAMPLE_CI.read_text(encoding="utf-8")
    )


def test_inputs_reach_the_jobs() -> None:
    jobs = component_jobs(
        {
            "image": "python:3.13-slim",
            "stage-verify": "check",
            "hatch-sigstore": "hatch-sigstore[all]==9",
        }
    )
    assert {job["image"] for job in jobs.values()} == {"python:3.13-slim"}
    assert jobs["consumer_verification"]["stage"] == "check"
    assert 'pip install "hatch-sigstore[all]==9"' in jobs["consumer_verification"]["script"]
    with pytest.raises(AssertionError, match="not declared"):
        component_jobs({"imgae": "x"})


def test_interpolation_refuses_an_undeclared_input() -> None:
    spec = {"spec": {"inputs": {"a": {"default": "1"}}}}
    assert interpolate("x: $[[ inputs.a ]]", spec) == "x: 1"
    with pytest.raises(AssertionError, match="not declared"):
        interpolate("x: $[[ inputs.b ]]", spec)


def test_build_job_signs_with_a_sigstore_id_token(example: dict[str, Any]) -> None:
    build = example["build"]
    assert build["id_tokens"] == {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}
    assert build["variables"]["HATCH_SIGSTORE_SIGN"] == "required"
    assert "hatch build" in build["script"]
    assert build["artifacts"] == {"paths": ["dist/"], "reports": {"dotenv": "release.env"}}
    # No pip cache in the project folder while building: an sdist could ship it.
    assert "cache" not in build
    assert "PIP_CACHE_DIR" not in build["variables"]
    # Only the build job holds an ID token: publishing and consuming never sign.
    assert "id_tokens" not in example["publish"]
    assert "id_tokens" not in example["consumer_verification"]


def test_consumer_installs_the_release_only_from_verified(example: dict[str, Any]) -> None:
    script = example["consumer_verification"]["script"]
    assert script[-1] == (
        "env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_NO_INDEX pip install verified/*.whl"
    )
    assert "--from-ci" in script[1]
    assert script[1].startswith('hatch-sigstore download "${RELEASE_NAME}==${RELEASE_VERSION}"')
    assert example["consumer_verification"]["needs"] == ["build", "publish"]
    assert example["publish"]["needs"] == ["build"]


@pytest.mark.parametrize(
    ("env", "runs", "variables"),
    [
        ({"CI_COMMIT_TAG": "v1.2.3"}, True, {}),
        (
            {"CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"},
            True,
            {"PACKAGE_VERSION": "0.1.0.dev${CI_PIPELINE_IID}"},
        ),
        ({"CI_COMMIT_BRANCH": "feature", "CI_DEFAULT_BRANCH": "main"}, False, None),
        ({"CI_MERGE_REQUEST_IID": "4", "CI_DEFAULT_BRANCH": "main"}, False, None),
    ],
)
def test_jobs_run_for_tags_and_the_default_branch_only(
    env: dict[str, str], runs: bool, variables: dict[str, str] | None
) -> None:
    from ci_runner import _selected

    jobs = component_jobs()
    assert _selected(jobs["build"], env) == variables
    for name in ("publish", "consumer_verification"):
        assert (_selected(jobs[name], env) is not None) is runs


@pytest.mark.parametrize(
    ("condition", "env", "expected"),
    [
        ("$CI_COMMIT_TAG", {"CI_COMMIT_TAG": "v1"}, True),
        ("$CI_COMMIT_TAG", {"CI_COMMIT_TAG": ""}, False),
        ("$CI_COMMIT_TAG", {}, False),
        ("$A == $B", {"A": "x", "B": "x"}, True),
        ("$A == $B", {"A": "x", "B": "y"}, False),
        ("$A == $B", {}, True),  # GitLab: two undefined variables are equal (both null)
    ],
)
def test_rule_evaluation(condition: str, env: dict[str, str], expected: bool) -> None:
    assert rule_matches(condition, env) is expected


def test_readme_shows_exactly_the_example_pipeline() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.DOTALL)
    assert EXAMPLE_CI.read_text(encoding="utf-8") in blocks
