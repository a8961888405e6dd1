"""Package protection rules of the GitLab stand-in (``Packages::Protection::Rule``).

* Model: ``app/models/packages/protection/rule.rb``: ``package_name_pattern`` (``*`` wildcards,
  matched with ``ILIKE`` through ``Gitlab::SQL::Glob.to_like``: case-insensitive, every other
  character literal; for PyPI both sides PEP 503-normalised with ``[-_.]+`` -> ``-`` first),
  ``package_type`` (conan, generic, helm, maven, npm, nuget, pypi, ...),
  ``minimum_access_level_for_push`` (maintainer | owner | admin) and ``..._for_delete``.
* Check: ``app/services/packages/protection/check_rule_existence_service.rb`` (``for_push``):
  a user (a job token counts as its user) is refused when their project access level is below a
  matching rule's ``minimum_access_level_for_push``; a deploy token is refused by any rule that
  matches the name and type.
* Where: PyPI upload, in ``Packages::Pypi::CreatePackageService`` after the body arrived ->
  ``forbidden!(service_response.message)`` = 403 ``{"message":"403 Forbidden - Package
  protected."}`` (lib/api/pypi_packages.rb); generic upload, in the Workhorse authorize step
  ``PUT .../authorize`` (``protect_package!``, lib/api/helpers/packages_helpers.rb) before the
  body is sent, same body (lib/api/generic_packages.rb).
* REST: ``GET``/``POST /projects/:id/packages/protection/rules``
  (lib/api/project_packages_protection_rules.rb): ``authenticate!``, then
  ``authorize_admin_package!`` (Maintainer+); entity
  ``API::Entities::Projects::Packages::Protection::Rule``.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from hatch_sigstore.sandbox._gitlab_api import api_principal, find_project
from hatch_sigstore.sandbox._gitlab_auth import (
    Principal,
    access_level,
    can_admin_package,
    unauthorized,
)
from hatch_sigstore.sandbox._gitlab_store import ACCESS_LEVELS, Project, ProtectionRule, Store
from hatch_sigstore.sandbox._gitlab_wire import (
    ApiError,
    Request,
    Response,
    json_response,
    message,
    param_errors,
)

__all__ = [
    "PACKAGE_TYPES",
    "PROTECTED",
    "add_rule",
    "handle_rules",
    "is_protected",
    "rule_json",
]

PACKAGE_TYPES = ("cargo", "conan", "generic", "helm", "maven", "npm", "nuget", "pypi",
                 "terraform_module")  # fmt: skip
DELETE_LEVELS = ("owner", "admin")
PROTECTED = "403 Forbidden - Package protected."
_NORMALIZE = re.compile(r"[-_.]+")
# Gitlab::Regex::Packages::Protection::Rules.protection_rules_pypi_package_name_pattern_regex:
# '*' alone, or package_name_regex('*') (lib/gitlab/regex/packages.rb), atomic groups emulated.
_PYPI_PATTERN = re.compile(
    r"\A(?:\*|@?(?=((?:[\w\-.+]*/)*[\w\-.]+))\1@?(?=((?:[\w\-.+]*/)*[\w\-.*]*))\2)\Z", re.ASCII
)
_PYPI_PATTERN_MESSAGE = (
    "Package name pattern should be a valid PyPI package name with optional wildcard characters."
)


def _glob(pattern: str) -> re.Pattern[str]:
    """``Gitlab::SQL::Glob.to_like`` + ``ILIKE``."""
    body = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.compile(rf"\A{body}\Z", re.IGNORECASE | re.DOTALL)


def _matches(rule: ProtectionRule, name: str) -> bool:
    if rule.package_type == "pypi":  # for_pypi_package_name
        return bool(_glob(_NORMALIZE.sub("-", rule.package_name_pattern)).match(
            _NORMALIZE.sub("-", name)
        ))  # fmt: skip
    return bool(_glob(rule.package_name_pattern).match(name))


def is_protected(
    store: Store, principal: Principal, project: Project, name: str, package_type: str
) -> bool:
    """``CheckRuleExistenceService.for_push(...).execute[:protection_rule_exists?]``."""
    if not name:
        return False
    with store.lock:
        rules = [
            r
            for r in store.protection_rules.get(project.id, [])
            if r.package_type == package_type and _matches(r, name)
        ]
    if principal.kind == "deploy":
        return bool(rules)
    level = access_level(principal, project)
    return any(
        r.minimum_access_level_for_push is not None
        and level < ACCESS_LEVELS[r.minimum_access_level_for_push]
        for r in rules
    )


def validation_errors(
    store: Store,
    project: Project,
    *,
    pattern: str,
    package_type: str,
    push: str | None,
    delete: str | None,
) -> list[str]:
    """The model's validations, as ``errors.full_messages``."""
    errors: list[str] = []
    if not pattern:
        errors.append("Package name pattern can't be blank")
    elif len(pattern) > 255:
        errors.append("Package name pattern is too long (maximum is 255 characters)")
    elif package_type == "pypi" and not _PYPI_PATTERN.match(pattern):
        errors.append(_PYPI_PATTERN_MESSAGE)
    with store.lock:
        taken = any(
            r.package_name_pattern == pattern and r.package_type == package_type
            for r in store.protection_rules.get(project.id, [])
        )
    if taken:
        errors.append("Package name pattern has already been taken")
    if push is None and delete is None:
        errors.append("A rule must have at least a minimum access role for push or delete.")
    return errors


def add_rule(
    store: Store,
    project: Project,
    *,
    pattern: str,
    package_type: str,
    push: str | None,
    delete: str | None = None,
) -> ProtectionRule | list[str]:
    """Create a rule, or return the validation errors."""
    errors = validation_errors(
        store, project, pattern=pattern, package_type=package_type, push=push, delete=delete
    )
    if errors:
        return errors
    with store.lock:
        rule = ProtectionRule(store.next_id(), project.id, pattern, package_type, push, delete)
        store.protection_rules[project.id].append(rule)
    return rule


def rule_json(rule: ProtectionRule) -> dict[str, object]:
    return {
        "id": rule.id,
        "project_id": rule.project_id,
        "package_name_pattern": rule.package_name_pattern,
        "package_type": rule.package_type,
        "minimum_access_level_for_push": rule.minimum_access_level_for_push,
        "minimum_access_level_for_delete": rule.minimum_access_level_for_delete,
    }


def _body_params(req: Request) -> dict[str, str]:
    """Grape reads params from the query and from a JSON or form body."""
    params = dict(req.query)
    raw = req.body.read(1 << 20) if (req.body.length or 0) <= (1 << 20) else b""
    ctype = req.headers.get("content-type", "")
    if raw and ctype.startswith("application/json"):
        try:
            loaded = json.loads(raw)
        except ValueError:
            text = "The provided content-type 'application/json' does not match the content"
            raise ApiError(400, {"error": text}) from None
        if isinstance(loaded, dict):
            params.update({k: v for k, v in loaded.items() if isinstance(v, str)})
    elif raw:
        params.update(dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)))
    return params


def handle_rules(req: Request, raw_id: str, rest: list[str]) -> Response | None:
    """``/projects/:id/packages/protection/rules``; None when no route matches."""
    if rest != ["rules"] or req.method not in ("GET", "HEAD", "POST"):
        return None
    principal = api_principal(req, job_token=False)
    if principal.anonymous:  # authenticate!
        failure = unauthorized()
        raise ApiError(401, failure.body)
    project = find_project(req, raw_id, principal)
    if not can_admin_package(principal, project):
        raise message(403, "403 Forbidden")
    store = req.ctx.store
    if req.method != "POST":
        with store.lock:
            rules = list(store.protection_rules.get(project.id, []))
        return json_response(200, [rule_json(r) for r in rules])
    params = _body_params(req)
    errors = []
    if not params.get("package_name_pattern"):
        errors.append("package_name_pattern is missing")
    if "package_type" not in params:
        errors.append("package_type is missing")
    elif params["package_type"] not in PACKAGE_TYPES:
        errors.append("package_type does not have a valid value")
    push = params.get("minimum_access_level_for_push")
    delete = params.get("minimum_access_level_for_delete")
    if push is not None and push not in ACCESS_LEVELS:
        errors.append("minimum_access_level_for_push does not have a valid value")
    if delete is not None and delete not in DELETE_LEVELS:
        errors.append("minimum_access_level_for_delete does not have a valid value")
    if push is None and delete is None:
        errors.append(
            "minimum_access_level_for_push, minimum_access_level_for_delete are missing, "
            "at least one parameter must be provided"
        )
    if errors:
        raise param_errors(errors)
    result = add_rule(
        store,
        project,
        pattern=params["package_name_pattern"],
        package_type=params["package_type"],
        push=push,
        delete=delete,
    )
    if isinstance(result, list):
        # render_api_error!({ error: response.message }, :unprocessable_entity)
        raise ApiError(422, {"message": {"error": result}})
    return json_response(201, rule_json(result))
