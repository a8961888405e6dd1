"""Turn GitLab's answers into :class:`RegistryError`: GitLab's own words, then what to do.

GitLab's error shapes (gitlab-org/gitlab ``lib/api/helpers.rb`` ``render_api_error!``,
``lib/api/api_guard.rb``, Grape's validation errors): ``{"message": "..."}`` from its helpers,
``{"error": "..."}`` from parameter validation and the catch-all route,
``{"error": "invalid_token", "error_description": "..."}`` from the token guard, and
``{"message": {"error": "..."}}`` for rate limits. Workhorse and proxies answer plain text or HTML
(Workhorse cuts an oversized PyPI upload with a plain-text 413 before Rails sees it). An object
store answers S3's XML (``<Error><Code>…</Code><Message>…</Message></Error>``; GCS's XML API
too). No httpx here: the client passes status, headers and at most a few KiB of body.

Whatever a server says is quoted through :func:`hatch_sigstore.errors.quote`: redacted whole
(S3 echoes a refused ``Authorization`` header), then made printable, then shortened.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from hatch_sigstore._urls import origin
from hatch_sigstore.errors import RegistryError, quote, redact
from hatch_sigstore.gitlab._auth import Credentials

__all__ = [
    "ERROR_BODY_LIMIT",
    "error_from_response",
    "gitlab_message",
    "looks_like_html",
    "not_gitlab_error",
    "store_code",
    "store_error",
]

ERROR_BODY_LIMIT = 8192
_QUOTE_LIMIT = 300
_SNIPPET_LIMIT = 200


def looks_like_html(body: bytes, content_type: str = "") -> bool:
    head = body[:512].lstrip().lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype", b"<html", b"<"))


def gitlab_message(body: bytes) -> str | None:
    """GitLab's ``message``/``error`` text from a JSON error body, or None if it is not one."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    parts: list[str] = []
    message = data.get("message")
    if isinstance(message, str):
        parts.append(message)
    elif isinstance(message, dict):  # {"message": {"error": "..."}} or field -> [errors]
        for key, value in message.items():
            text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
            parts.append(text if key == "error" else f"{key} {text}")
    elif isinstance(message, list):
        parts.extend(str(m) for m in message)
    error = data.get("error")
    if isinstance(error, str):
        description = data.get("error_description")
        if isinstance(description, str) and description:
            parts.append(f"{error}: {description}")
        else:
            parts.append(error)
    if not parts:
        return None
    return "; ".join(parts)  # whole: callers redact, then shorten (errors.quote)


def _snippet(body: bytes, secrets: tuple[str, ...] = ()) -> str:
    """The start of a body that is not GitLab's JSON, redacted whole before it is cut."""
    return quote(body.decode("utf-8", "replace"), secrets, limit=_SNIPPET_LIMIT)


def not_gitlab_error(
    url: str, what: str, *, status: int | None = None, credentials: Credentials | None = None
) -> RegistryError:
    """The answer is not what a GitLab API v4 endpoint sends (HTML, garbage, wrong type)."""
    secrets = credentials.secrets if credentials else ()
    return RegistryError(
        quote(f"{url} answered {what}, which is not what GitLab's API sends.", secrets),
        remediation=(
            "The URL is probably not a GitLab API v4 URL: use the instance's API root ending in "
            "/api/v4 (in CI: CI_API_V4_URL), not the web URL of the project, and check for a "
            "proxy or login page in between."
        ),
        status=status,
    )


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    action: str,
    url: str,
    project: str,
    credentials: Credentials,
    package: tuple[str, str] | None = None,
    scope: str = "project",
) -> RegistryError:
    """A RegistryError for a non-success answer to ``action`` (e.g. "uploading x.whl").

    ``package``: (package type, name) of an upload, for the messages that name a rule.
    ``project``: the id or path of the client's ``scope`` ("project" or "group").
    """
    content_type = headers.get("content-type", "")
    secrets = credentials.secrets
    message_text = gitlab_message(body)
    quoted = None if message_text is None else quote(message_text, secrets, limit=_QUOTE_LIMIT)
    if quoted is not None:
        said = f'GitLab said: "{quoted}".'
    elif not body.strip():
        said = "The response had no body."
    elif looks_like_html(body, content_type):
        said = "The response was an HTML page, not GitLab's JSON."
    else:
        said = f'The response was not GitLab\'s JSON: "{_snippet(body, secrets)}".'
    lowered = (message_text or _snippet(body, secrets)).lower()
    who = credentials.describe()
    remediation: str
    if status == 401:
        remediation = credentials.fix_hint()
        if "invalid_token" in lowered or "expired" in lowered or "revoked" in lowered:
            remediation = f"The token was refused as expired, revoked or invalid. {remediation}"
    elif status == 403:
        if "package protected" in lowered:
            kind, name = package or ("", "this package")
            rule = f"a {kind} rule" if kind else "a rule"
            remediation = (
                f"A package protection rule covers {name!r}: check {rule} whose name pattern "
                f"matches {name!r} in the project's Settings > Packages and registries > "
                "Protected packages. Its 'minimum access level for push' must be at or below "
                f"the role behind the {who} (deploy tokens are refused by every matching "
                "rule); or publish under another name."
            )
        elif "insufficient_scope" in lowered or "scope" in lowered:
            remediation = (
                f"The {who} lacks a scope: uploads need api (access tokens) or "
                "write_package_registry (deploy tokens); reads need read_api or "
                "read_package_registry."
            )
        elif "admin_packages" in lowered or "token permission" in lowered:
            remediation = (
                "The job token may not publish into this project: add the source project to "
                "this project's job token allowlist with the packages permission, or use a "
                "project access token."
            )
        else:
            remediation = (
                f"The {who} is valid but not allowed to do this: uploads need the Developer role "
                "or higher (or a deploy token with write_package_registry, or an access token "
                "with scope api); the package may also be protected."
            )
    elif status == 404:
        if "package not found" in lowered or lowered.strip('"') == "404 not found":
            if "package" in lowered:
                remediation = "The package or file does not exist in this project's registry."
            else:
                full = "group/project" if scope == "project" else "group/subgroup"
                remediation = (
                    f"Check the {scope} id or path ({project!r}; a path must be the full "
                    f"{full} path) and that the {who} can see the {scope}: GitLab "
                    f"answers 404 for private {scope}s you cannot access."
                )
        elif quoted is None and not looks_like_html(body, content_type) and body.strip():
            remediation = "The URL is probably not a GitLab API v4 URL (expected …/api/v4)."
        else:
            remediation = (
                f"Check the {scope} id or path ({project!r}) and the API URL; GitLab also "
                f"answers 404 when the {who} has no access to a private {scope}, or when the "
                "package registry is disabled."
            )
    elif status == 400 and "already been taken" in lowered:
        remediation = (
            "A file with this name already exists in this package version; GitLab never "
            "replaces PyPI files. Bump the version, or delete the file in GitLab first."
        )
    elif status == 400 and "duplicate package" in lowered:
        remediation = (
            "This group disallows duplicate generic packages and the file already exists; "
            "delete it in GitLab first or publish a new version."
        )
    elif status == 413 and message_text is None:
        said = (
            "Workhorse (GitLab's front end) cut the upload before GitLab's application saw "
            f'it: "{_snippet(body, secrets)}".'
        )
        remediation = (
            "The file exceeds this instance's PyPI file size limit (the plan limit "
            "pypi_max_file_size, default 3 GiB; gitlab.com keeps the default). An administrator "
            "can raise it (Admin > Settings > CI/CD > Package registry file size limits); "
            "otherwise make the file smaller."
        )
    elif (status == 400 and "too large" in lowered) or status == 413:
        remediation = (
            "The file exceeds the registry's size limit (defaults: PyPI 3 GiB, generic 5 GiB; "
            "an administrator can change the plan limits)."
        )
    elif status == 400 and " is invalid" in lowered:
        remediation = (
            "GitLab rejected a name, version or file name: PyPI versions must follow PEP 440; "
            "generic names, versions and file names may use only letters, digits and ._+-."
        )
    elif status == 400:
        remediation = "GitLab rejected the request as malformed; the message names the field."
    elif status == 422:
        remediation = "GitLab could not process the request (FIPS mode requires sha256_digest)."
    elif status == 429:
        remediation = "GitLab is rate-limiting this client; wait and retry later."
    elif status >= 500:
        remediation = "GitLab had a server error; retry later, and check the instance's status."
    elif 300 <= status < 400:
        # a header the server chose: printable and redacted like any of its words
        location = quote(headers.get("location", ""), secrets, limit=_QUOTE_LIMIT)
        remediation = (
            f"The registry redirected to {location or 'another location'}, which this client "
            "does not follow here; check the API URL."
        )
    else:
        remediation = "Unexpected answer from GitLab."
    if message_text is None and body.strip() and status in (400, 401, 403, 404, 405):
        remediation = (
            "The answer is not GitLab's JSON, so the URL is probably not a GitLab API v4 URL "
            f"(it should end in /api/v4; in CI: CI_API_V4_URL). Otherwise: {remediation}"
        )
    message = f"GitLab refused {action} with HTTP {status}. {said}"
    return RegistryError(
        redact(message, secrets), remediation=redact(remediation, secrets), status=status
    )


_XML_FIELD = re.compile(r"<(Code|Message)>([^<]{0,2000})</\1>")


def store_code(body: bytes) -> tuple[str, str]:
    """(``Code``, ``Message``) of an S3-style XML error body; empty strings when absent."""
    fields = dict(_XML_FIELD.findall(body[:ERROR_BODY_LIMIT].decode("utf-8", "replace")))
    return fields.get("Code", ""), fields.get("Message", "")


def store_error(
    status: int, body: bytes, *, action: str, url: str, secrets: tuple[str, ...] = ()
) -> RegistryError:
    """GitLab redirected ``action`` to ``url`` (its object storage, or wherever the redirect
    led) and that server refused. Never a 404 to callers: GitLab said the file exists."""
    code, text = store_code(body)
    if code:
        said = quote(f"{code}: {text}" if text else code, secrets, limit=_QUOTE_LIMIT)
    elif body.strip():
        said = _snippet(body, secrets)
    else:
        said = "no body"
    lowered = f"{code} {text}".lower()
    if code == "NoSuchKey" or status == 404:
        remediation = (
            "GitLab lists the file, but its object storage does not hold it: tell the "
            "instance's administrators (the object may have been lost or not yet migrated)."
        )
    elif "expired" in lowered or code in ("AccessDenied", "SignatureDoesNotMatch"):
        remediation = (
            "The pre-signed link GitLab handed out was refused: links expire after a few "
            "minutes, so check this machine's clock and for a proxy that rewrites URLs. A "
            "re-run asks GitLab for a fresh link."
        )
    elif "auth mechanism" in lowered:
        remediation = (
            "The object store saw credentials beside its pre-signed link; this client sends "
            "none there, so something between (a proxy) adds them."
        )
    else:
        remediation = "Retry later; if it persists, tell the instance's administrators."
    return RegistryError(
        redact(
            f"The storage server {origin(url)}, to which GitLab redirected {action}, answered "
            f'HTTP {status}: "{said}".',
            secrets,
        ),
        remediation=remediation,
    )
