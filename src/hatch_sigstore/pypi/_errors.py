"""Warehouse's answers as one paragraph each: what it said, then what to fix and where.

Warehouse answers upload errors with Pyramid pages whose reason phrase carries the message
(``warehouse/forklift/utils.py`` ``_exc_with_message``; ``warehouse/forklift/legacy.py``), and
token exchanges with ``422 {"message": "Token request failed", "errors": [{code,
description}]}`` (``warehouse/oidc/views.py``; the publisher checks in
``warehouse/oidc/models/gitlab.py``). The advice names PyPI's publisher settings or the CI file.
No httpx here: the client passes status, reason phrase, headers and a few KiB of body.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hatch_sigstore._text import printable, shorten
from hatch_sigstore.errors import RegistryError, redact
from hatch_sigstore.pypi._token import IDToken
from hatch_sigstore.pypi._urls import IndexURLs

__all__ = [
    "ERROR_BODY_LIMIT",
    "PyPIError",
    "exchange_error",
    "index_message",
    "upload_error",
]

ERROR_BODY_LIMIT = 16384
_QUOTE_LIMIT = 600
_STANDARD_PHRASES = frozenset(
    {
        "bad request",
        "forbidden",
        "not found",
        "method not allowed",
        "gone",
        "request entity too large",
        "payload too large",
        "too many requests",
        "internal server error",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
        "unprocessable entity",
        "ok",
    }
)


class PyPIError(RegistryError):
    """The index refused a request or answered something we cannot use."""


@dataclass(frozen=True)
class Context:
    """What messages need to name the fix: the index, the token's origin, the dist."""

    urls: IndexURLs
    token_kind: str | None = None  # "trusted-publishing" | "api-token"
    token_source: str | None = None
    id_token: IDToken | None = None
    project: str | None = None  # the dist's name
    filename: str | None = None
    secrets: Sequence[str] = ()


def _clean(text: str) -> str:
    # Escape sequences go whole (not each control as a space, leaving "[0m" behind), so one
    # put inside an echoed token cannot break it into parts the redaction later misses.
    return shorten(printable(text), _QUOTE_LIMIT)


def index_message(reason: str, headers: Mapping[str, str], body: bytes) -> str | None:
    """Warehouse's message: the reason phrase when it is not the standard one, else the
    detail of a Pyramid page (plain text, HTML or JSON), else ``None``."""
    if reason and reason.strip().lower() not in _STANDARD_PHRASES:
        return _clean(reason)
    text = body[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
    ctype = headers.get("content-type", "").lower()
    if "json" in ctype or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            # Pyramid's JSON page: "explanation\n\n\ndetail\n\n"; warehouse's own: the message
            parts = [p for p in data["message"].split("\n\n\n") if p.strip()]
            return _clean(parts[-1]) if parts else None
    if "html" in ctype or text.lstrip().lower().startswith(("<!doctype", "<html")):
        stripped = re.sub(r"(?is)<(script|style|title|h1)[^>]*>.*?</\1>", " ", text)
        stripped = html.unescape(re.sub(r"(?s)<[^>]*>", " ", stripped))
        stripped = stripped.replace("The server could not comply with the request since it is "
                                    "either malformed or otherwise incorrect.", "")  # fmt: skip
        return _clean(stripped) or None
    lines = [line for line in text.splitlines() if line.strip()]
    # Pyramid's plain page: "STATUS\n\nexplanation\n\n\ndetail"
    return _clean(lines[-1]) if lines else None


def _where(ctx: Context) -> str:
    return ctx.urls.name


def _publisher_fix(ctx: Context) -> str:
    """What a GitLab publisher in PyPI's settings must say for this job's token."""
    token = ctx.id_token
    where = (
        f"the Publishing settings of {ctx.project!r} ({ctx.urls.publishing_page(ctx.project)})"
        if ctx.project
        else "the project's Publishing settings (Your projects → Manage → Publishing)"
    )
    if token is None or not token.project_path:
        return (
            f"On {_where(ctx)}, add a GitLab trusted publisher for this GitLab project and its "
            f"top-level CI file in {where}."
        )
    namespace, _, name = token.project_path.rpartition("/")
    env = token.environment
    return (
        f"On {_where(ctx)}, add a GitLab publisher in {where} with Namespace {namespace!r}, "
        f"Project name {name!r}, Top-level pipeline file path "
        f"{token.workflow_filepath or '.gitlab-ci.yml'!r} and "
        + (
            f"Environment {env!r} (or none)"
            if env
            else "no Environment (this job has no `environment:`)"
        )
        + ". PyPI finds the publisher ignoring case but then compares the token's "
        "ci_config_ref_uri with it exactly, so spell the namespace and project as GitLab does; "
        "a publisher with an environment only matches jobs deployed to that environment."
    )


def exchange_error(
    status: int,
    reason: str,
    headers: Mapping[str, str],
    body: bytes,
    ctx: Context,
) -> PyPIError:
    """The token exchange (``/_/oidc/mint-token`` or ``/_/oidc/audience``) failed."""
    token = ctx.id_token
    source = token.source if token else "the ID token variable"
    issuer = (token.issuer if token else None) or "the token's issuer"
    errors: list[tuple[str, str]] = []
    try:
        data = json.loads(body[:ERROR_BODY_LIMIT].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("errors"), list):
        for item in data["errors"]:
            if isinstance(item, dict):
                errors.append((str(item.get("code", "")), _clean(str(item.get("description", "")))))
    said = "; ".join(f"{code}: {text}" for code, text in errors) or (
        index_message(reason, headers, body) or f"HTTP {status}"
    )
    message = (
        f"{_where(ctx)} refused to exchange the ID token in {source} for an upload token: {said}."
    )
    codes = {code for code, _ in errors}
    lowered = said.lower()
    fallback = (
        " Or publish with an API token instead: name its variable with -o token-env=… "
        "(then attestations cannot be sent)."
    )
    if "unknown trusted publishing issuer" in lowered:
        fix = (
            f"{_where(ctx)} does not take ID tokens from {issuer}. PyPI trusts https://gitlab.com; "
            "a self-managed GitLab must first be registered as a custom OIDC issuer by the PyPI "
            "organization that owns the project (organization settings), and PyPI still cannot "
            "verify attestations from it." + fallback
        )
    elif "not-enabled" in codes or "not enabled" in lowered:
        fix = (
            f"Trusted publishing is switched off on {_where(ctx)} (an administrator's flag, "
            "usually during an incident). Retry later; re-running is safe." + fallback
        )
    elif "invalid-reuse-token" in codes:
        fix = (
            f"Each ID token can be exchanged once, and the one in {source} already was (an "
            "earlier attempt whose answer was lost, or another command in this job). Re-run "
            "the job: it gets a fresh ID token, and files already uploaded are skipped."
        )
    elif "invalid-pending-publisher" in codes:
        fix = (
            f"A pending publisher matched this job, but a project of that name already exists "
            f"on {_where(ctx)}; the pending publisher was deleted. Add the publisher in the "
            "existing project's Publishing settings instead (you must own the project)."
        )
    elif "invalid-token" in codes:
        aud = ", ".join(token.audiences) if token else "?"
        fix = (
            f"The ID token was not accepted: it expired, is not signed by {issuer}'s current "
            f"keys, or has the wrong audience (it says {aud}; the index's /_/oidc/audience "
            f"says which). Check id_tokens: {source}: aud: … in .gitlab-ci.yml and re-run the "
            "job for a fresh token."
        )
    elif "publisher with matching claims was not found" in lowered:
        claims = f" This job's token says: {token.describe()}." if token else ""
        fix = f"No trusted publisher on {_where(ctx)} matches this job.{claims} " + _publisher_fix(
            ctx
        )
    elif "could not extract workflow filename" in lowered:
        fix = (
            "PyPI reads the CI file from the token's ci_config_ref_uri and needs a top-level "
            ".yml or .yaml file in the project itself: keep the pipeline in .gitlab-ci.yml (or "
            "another .yml file of the project), not in another project or a non-YAML path."
        )
    elif "missing claim" in lowered or "claims are empty" in lowered:
        fix = (
            "The ID token lacks a claim PyPI requires (ref_path and sha come only with branch "
            "and tag pipelines): publish from a branch or tag pipeline."
        )
    elif "ci_config_ref_uri" in lowered or "claim 'sub'" in lowered:
        fix = (
            "A publisher matched when case is ignored, but its spelling (or its CI file) is not "
            "the token's exactly. " + _publisher_fix(ctx)
        )
    elif "invalid-publisher" in codes:
        fix = _publisher_fix(ctx)
    elif status in {404, 405}:
        fix = (
            f"{ctx.urls.origin} has no trusted publishing (not a warehouse instance?): check "
            "the index URL, or publish with an API token (-o token-env=…)."
        )
    elif status == 429:
        fix = "The index is rate-limiting token exchanges; wait and re-run the job."
    elif status >= 500:
        fix = "The index had a server error; re-run the job (a fresh ID token is needed)."
    else:
        fix = "Check the index URL and the job's id_tokens."
    return PyPIError(
        redact(message, ctx.secrets), remediation=redact(fix, ctx.secrets), status=status
    )


def upload_error(
    status: int,
    reason: str,
    headers: Mapping[str, str],
    body: bytes,
    ctx: Context,
) -> PyPIError:
    """An upload (``POST /legacy/``) was refused."""
    quoted = index_message(reason, headers, body)
    what = ctx.filename or "the file"
    said = f' It said: "{quoted}".' if quoted else ""
    message = (
        f"{_where(ctx)} answered the upload of {what} with a web page (HTTP 200), not "
        f"warehouse's answer.{said}"
        if status == 200
        else f"{_where(ctx)} refused {what} with HTTP {status}.{said}"
    )
    lowered = (quoted or "").lower()
    project = ctx.project or "the project"
    tp = ctx.token_kind == "trusted-publishing"  # noqa: S105 - a kind, not a secret
    var = ctx.token_source or "the token variable"
    rerun = " Re-running is safe: files already on the index with the same sha256 are skipped."
    fix: str
    if "token is expired" in lowered:
        fix = (
            "The trusted-publishing token lives 900 seconds and ran out during the upload: "
            "re-run the job (it gets a fresh ID token)." + rerun
            if tp
            else f"The API token in {var} has expired: create a new one and update the variable."
        )
    elif "oidc scoped token is not valid for project" in lowered:
        fix = (
            f"The trusted publisher that matched this job is registered for another project "
            f"than {project!r}. Add the publisher to the Publishing settings of {project!r} "
            "too, or fix the name in pyproject.toml."
        )
    elif "project-scoped token is not valid" in lowered:
        fix = f"The API token in {var} is scoped to another project: create one for {project!r}."
    elif "isn't allowed to upload" in lowered:
        fix = (
            f"The account behind the API token in {var} is not an owner or maintainer of "
            f"{project!r} (or the name is taken by someone else): ask an owner to add it, or "
            "choose another name."
        )
    elif "invalid or non-existent authentication" in lowered or (status == 403 and not lowered):
        fix = (
            "The trusted-publishing token was not accepted: was it minted by another index "
            "(TestPyPI and PyPI are separate)? Check the index URL."
            if tp
            else f"Check that {var} holds a current API token of {_where(ctx)} (pypi-…; "
            "TestPyPI and PyPI tokens differ)."
        )
    elif "read-only mode" in lowered or "temporarily disabled" in lowered:
        fix = f"{_where(ctx)} takes no uploads right now (maintenance); retry later." + rerun
    elif "non-user identities cannot create new projects" in lowered:
        fix = (
            f"{project!r} does not exist on {_where(ctx)} yet, and trusted publishing only "
            "creates a project through a pending publisher of exactly that name: add one under "
            "Your account → Publishing (PyPI project name "
            f"{project!r}), or fix the name in pyproject.toml."
        )
    elif "previously used by a file that has since been deleted" in lowered:
        fix = (
            f"PyPI never lets a file name be used again, even after deletion (file-name-reuse, "
            f"{ctx.urls.base}help/#file-name-reuse). Publish a new version, e.g. a post-release."
        )
    elif "file already exists" in lowered:
        fix = (
            f"{_where(ctx)} holds {what} with other contents, or holds these bytes under "
            f"another name. PyPI never replaces a file and never lets a name be reused "
            f"(file-name-reuse, {ctx.urls.base}help/#file-name-reuse): publish a new version "
            "(e.g. a post-release), never re-built bytes under the same name."
        )
    elif "only one sdist may be uploaded" in lowered:
        fix = "This release already has an sdist under another name: publish a new version."
    elif "older than 14 days" in lowered:
        fix = "PyPI takes no new files for releases older than 14 days: publish a new version."
    elif "could not verify the uploaded artifact" in lowered:
        fix = (
            "PyPI checks each attestation against the trusted publisher that minted the token: "
            "the certificate's repository (https://gitlab.com/NAMESPACE/PROJECT, spelled exactly "
            "as in the publisher, case included) and its build config (the CI file at the "
            "certificate's ref or commit). Make the publisher's project path and top-level "
            "pipeline file path match the pipeline that signed the dists, or sign them in this "
            "project's pipeline."
        )
    elif "attestations are only supported when using trusted publishing" in lowered:
        fix = "Attestations need trusted publishing: publish with the job's ID token."
    elif "attestations are not currently supported" in lowered:
        fix = (
            f"{_where(ctx)} does not take attestations from GitLab publishers: publish with "
            "-o attestations=false."
        )
    elif "invalid attestations" in lowered:
        fix = "Re-sign the dists with the build hook (attestation output) and publish again."
    elif status == 413 or "too large" in lowered:
        fix = (
            f"The file is larger than {_where(ctx)} allows (PyPI: 100 MB a file unless raised): "
            "ask the index's administrators for a higher limit (PyPI: a limit request on "
            "github.com/pypi/support)."
        )
    elif status in {200, 404, 405, 410}:  # 200: a web page, not warehouse's answer
        fix = (
            f"{ctx.urls.upload} is not an upload endpoint: give the index's upload URL ending "
            "in /legacy/ (or pypi / testpypi)."
        )
    elif status == 400:
        fix = (
            "The index refused the dist or its metadata (the message names the field): fix "
            "pyproject.toml and rebuild."
        )
    elif status == 429:
        fix = "The index is rate-limiting uploads; wait and re-run." + rerun
    elif status >= 500:
        fix = "The index had a server error; re-run later." + rerun
    else:
        fix = "Unexpected answer from the index; check the upload URL."
    return PyPIError(
        redact(message, ctx.secrets), remediation=redact(fix, ctx.secrets), status=status
    )
