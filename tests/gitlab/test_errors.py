"""GitLab's answers turned into one paragraph (no server: status, headers and body as given)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from hatch_sigstore.gitlab import Credentials
from hatch_sigstore.gitlab._errors import error_from_response

if TYPE_CHECKING:
    pass


@pytest.mark.parametrize(
    ("status", "body", "ctype", "needles"),
    [
        (
            401,
            b'{"message":"401 Unauthorized"}',
            "application/json",
            ["401 Unauthorized", "CI_JOB_TOKEN"],
        ),
        (
            401,
            b'{"error":"invalid_token","error_description":"Token is expired."}',
            "application/json",
            ["invalid_token: Token is expired.", "expired"],
        ),
        (
            403,
            b'{"message":"403 Forbidden - Package protected."}',
            "application/json",
            ["Package protected", "protection rule"],
        ),
        (
            403,
            b'{"error":"insufficient_scope","error_description":"needs api","scope":"api"}',
            "application/json",
            ["insufficient_scope", "write_package_registry"],
        ),
        (
            403,
            b'{"message":"403 Forbidden - Insufficient permissions to access this resource in '
            b'project g/p. The following token permission is required: admin_packages."}',
            "application/json",
            ["admin_packages", "allowlist"],
        ),
        (404, b'{"message":"404 Project Not Found"}', "application/json", ["project id or path"]),
        (
            404,
            b"<html><body>Sign in</body></html>",
            "text/html",
            ["HTML page", "project id", "not a GitLab API v4 URL"],
        ),
        (404, b"nothing here", "text/plain", ["not GitLab's JSON", "API v4"]),
        (
            400,
            b'{"message":"400 Bad request - Validation failed: File name has already been taken"}',
            "application/json",
            ["already been taken", "already exists"],
        ),
        (
            400,
            b'{"message":"400 Bad request - Duplicate package is not allowed"}',
            "application/json",
            ["Duplicate package", "disallows duplicate"],
        ),
        (
            400,
            b'{"message":"400 Bad request - File is too large"}',
            "application/json",
            ["File is too large", "size limit"],
        ),
        (413, b"Request Entity Too Large", "text/plain", ["size limit"]),
        (
            400,
            b'{"error":"name is missing, version is missing"}',
            "application/json",
            ["name is missing"],
        ),
        (
            429,
            b'{"message":{"error":"This endpoint has been requested too many times."}}',
            "application/json",
            ["requested too many times", "rate-limiting"],
        ),
        (500, b"", "", ["no body", "server error"]),
        (302, b"", "", ["redirected"]),
    ],
)
def test_error_mapping_table(status: int, body: bytes, ctype: str, needles: list[str]) -> None:
    creds = Credentials("job", "glcbt-0000_secretsecretsecret", source="CI_JOB_TOKEN")
    err = error_from_response(
        status,
        {"content-type": ctype, "location": "https://pypi.org/simple/x/"},
        body,
        action="uploading x.whl",
        url="https://gitlab.example.com/api/v4/projects/1/packages/pypi",
        project="g/p",
        credentials=creds,
    )
    text = str(err)
    assert err.status == status
    assert text.startswith(f"GitLab refused uploading x.whl with HTTP {status}.")
    for needle in needles:
        assert needle in text
    assert "secretsecret" not in text


def test_error_body_echoing_the_token_is_redacted() -> None:
    token = "glpat-abcdefghijklmnopqrst"
    err = error_from_response(
        401,
        {"content-type": "application/json"},
        json.dumps({"message": f"bad token {token}"}).encode(),
        action="x",
        url="u",
        project="p",
        credentials=Credentials("personal", token),
    )
    assert token not in str(err)


TOKEN = "glpat-abcdefghijklmnopqrstuvwx"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        # an escape sequence inside the echoed token: removed only after redaction, it would
        # have put the token back together on the screen
        (
            {"content-type": "application/json"},
            rb'{"message":"bad glpat-ab\u001b[0mcdefghijklmnopqrstuvwx"}',
        ),
        (
            {"content-type": "application/json"},
            rb'{"message":"bad glpat-ab\u001b]0;x\u0007cdefghijklmnopqrstuvwx"}',
        ),
        # the token broken by a newline: the part after the break is secret too
        ({"content-type": "text/plain"}, b"bad glpat-abcdefghij\nklmnopqrstuvwx"),
        # a redirect's Location, with the token and an 8-bit CSI (clear screen) in it
        ({"location": f"https://evil.example/\x9b2J?t={TOKEN[:10]}%0A{TOKEN[10:]}"}, b""),
        ({"location": f"https://evil.example/{TOKEN}\x9b2J"}, b""),
    ],
)
def test_a_hostile_answer_cannot_show_the_token_or_escape_sequences(
    headers: dict[str, str], body: bytes
) -> None:
    err = error_from_response(
        302 if "location" in headers else 401,
        headers,
        body,
        action="x",
        url="u",
        project="p",
        credentials=Credentials("personal", TOKEN),
    )
    text = f"{err} {err.remediation}"
    for part in (TOKEN[:8], TOKEN[8:16], TOKEN[-8:], "klmnopqrst"):
        assert part not in text, text
    assert not any(c in text for c in "\x1b\x9b\x07\n")
