"""Warehouse's answers in one paragraph each, naming the fix (no network).

The inputs are warehouse's own words (``warehouse/forklift/legacy.py``, ``warehouse/oidc/
views.py``, ``warehouse/oidc/models/gitlab.py``), as the PyPI stand-in sends them.
"""

from __future__ import annotations

import base64
import json

import pytest

from hatch_sigstore.pypi import IDToken, IndexURLs
from hatch_sigstore.pypi._errors import Context, exchange_error, index_message, upload_error

URLS = IndexURLs.resolve("pypi", "url")


def _jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


ID_TOKEN = IDToken.parse(
    _jwt(
        {
            "iss": "https://gitlab.com",
            "aud": "pypi",
            "project_path": "my-group/my-project",
            "ci_config_ref_uri": "gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/tags/v1",
            "ref_path": "refs/tags/v1",
        }
    ),
    "PYPI_ID_TOKEN",
)
TP = Context(
    URLS,
    "trusted-publishing",
    "PYPI_ID_TOKEN",
    ID_TOKEN,
    project="my-project",
    filename="my_project-1.0.tar.gz",
    secrets=(ID_TOKEN.value,),
)
API = Context(URLS, "api-token", "PYPI_API_TOKEN", None, "my-project", "my_project-1.0.tar.gz")


def _mint(code: str, description: str) -> bytes:
    return json.dumps(
        {"message": "Token request failed", "errors": [{"code": code, "description": description}]}
    ).encode()


@pytest.mark.parametrize(
    ("code", "description", "fix"),
    [
        (
            "invalid-publisher",
            "valid token, but no corresponding publisher (Publisher with matching claims was "
            "not found)",
            "Namespace 'my-group', Project name 'my-project', Top-level pipeline file path "
            "'.gitlab-ci.yml' and no Environment",
        ),
        (
            "invalid-publisher",
            "valid token, but no corresponding publisher (The ci_config_ref_uri claim does not "
            "match, expecting one of ['x'], got 'y')",
            "spell the namespace and project as GitLab does",
        ),
        (
            "invalid-publisher",
            "valid token, but no corresponding publisher (Could not extract workflow filename "
            "from OIDC claims)",
            "needs a top-level .yml or .yaml file",
        ),
        (
            "invalid-publisher",
            "valid token, but no corresponding publisher (Missing claim 'ref_path')",
            "publish from a branch or tag pipeline",
        ),
        ("invalid-payload", "unknown trusted publishing issuer", "custom OIDC issuer"),
        ("not-enabled", "gitlab trusted publishing functionality not enabled", "switched off"),
        ("invalid-token", "malformed or invalid token", "wrong audience (it says pypi"),
        ("invalid-reuse-token", "invalid token: already used", "Re-run the job"),
        (
            "invalid-pending-publisher",
            "valid token, but project already exists",
            "existing project's Publishing settings",
        ),
    ],
)
def test_exchange_errors(code: str, description: str, fix: str) -> None:
    error = exchange_error(422, "Unprocessable Entity", {}, _mint(code, description), TP)
    text = str(error)
    assert f"{code}: {description}" in text
    assert fix in text
    assert "\n" not in text
    assert ID_TOKEN.value not in text
    assert error.status == 422


def test_audience_refused_when_trusted_publishing_is_off() -> None:
    body = b'{"message": "Trusted publishing functionality not enabled"}'
    text = str(exchange_error(403, "Forbidden", {"content-type": "application/json"}, body, TP))
    assert "Trusted publishing functionality not enabled" in text
    assert "switched off" in text


PLAIN = {"content-type": "text/plain; charset=UTF-8"}


@pytest.mark.parametrize(
    ("status", "reason", "ctx", "fix"),
    [
        (403, "Invalid API Token: token is expired", TP, "lives 900 seconds"),
        (403, "Invalid API Token: token is expired", API, "PYPI_API_TOKEN has expired"),
        (
            403,
            "Invalid API Token: OIDC scoped token is not valid for project 'my-project'",
            TP,
            "Add the publisher to the Publishing settings of 'my-project'",
        ),
        (
            403,
            "Invalid API Token: project-scoped token is not valid for project: 'my-project'",
            API,
            "scoped to another project",
        ),
        (
            403,
            "The user 'u' isn't allowed to upload to project 'my-project'. See "
            "https://pypi.org/help/#project-name for more information.",
            API,
            "not an owner or maintainer",
        ),
        (
            403,
            "Invalid or non-existent authentication information. See "
            "https://pypi.org/help/#invalid-auth for more information.",
            API,
            "TestPyPI and PyPI tokens differ",
        ),
        (403, "Read-only mode: Uploads are temporarily disabled.", TP, "maintenance"),
        (
            400,
            "Non-user identities cannot create new projects. This was probably caused by …",
            TP,
            "pending publisher of exactly that name",
        ),
        (
            400,
            "File already exists ('my_project-1.0.tar.gz', with blake2_256 hash 'ab'). See "
            "https://pypi.org/help/#file-name-reuse for more information.",
            TP,
            "never lets a name be reused",
        ),
        (
            400,
            "This filename was previously used by a file that has since been deleted. Use a "
            "different version. See https://pypi.org/help/#file-name-reuse for more information.",
            TP,
            "even after deletion",
        ),
        (400, "Only one sdist may be uploaded per release.", TP, "already has an sdist"),
        (
            400,
            "Uploading new files to releases older than 14 days is not allowed.",
            TP,
            "older than 14 days",
        ),
        (
            400,
            "Invalid attestations supplied during upload: Could not verify the uploaded artifact "
            "using the included attestation: Verification failed: Certificate's "
            "OIDCSourceRepositoryURI does not match",
            TP,
            "case included",
        ),
        (
            400,
            "Invalid attestations supplied during upload: Attestations are only supported when "
            "using Trusted Publishing",
            API,
            "Attestations need trusted publishing",
        ),
        (413, "Request Entity Too Large", TP, "100 MB"),
        (404, "Not Found", TP, "not an upload endpoint"),
        (503, "Service Unavailable", TP, "server error"),
    ],
)
def test_upload_errors(status: int, reason: str, ctx: Context, fix: str) -> None:
    error = upload_error(status, reason, PLAIN, b"", ctx)
    text = str(error)
    assert fix in text
    if reason.lower() not in ("not found", "service unavailable", "request entity too large"):
        assert reason in text
    assert "my_project-1.0.tar.gz" in text
    assert "\n" not in text
    assert error.status == status


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        (
            PLAIN,
            b"400 Bad Request\n\nThe server could not comply.\n\n\nThe detail.\n\n",
            "The detail.",
        ),
        (
            {"content-type": "application/json"},
            json.dumps({"message": "Explanation\n\n\nThe detail.\n\n", "code": "400"}).encode(),
            "The detail.",
        ),
        (
            {"content-type": "text/html"},
            b"<html><head><title>400 x</title></head><body><h1>400 x</h1>The server could not "
            b"comply with the request since it is either malformed or otherwise incorrect.<br/>"
            b"<br/>\nThe detail &amp; more.\n</body></html>",
            "The detail & more.",
        ),
        ({}, b"", None),
    ],
)
def test_index_message_from_pyramid_pages(
    headers: dict[str, str], body: bytes, expected: str | None
) -> None:
    assert index_message("Bad Request", headers, body) == expected


def test_reason_phrase_wins_and_is_cleaned() -> None:
    # the escape sequence goes whole (none of "[31m" left behind to break up an echoed token)
    assert index_message("File\x1b[31m exists", {}, b"ignored") == "File exists"
