"""Which part of the GitLab stand-in answers a request: the API's routing table.

The mounts of ``lib/api/api.rb`` that the stand-in models: the group and project PyPI APIs
(``lib/api/pypi_packages.rb``), the generic packages API (``lib/api/generic_packages.rb``),
package protection rules (``lib/api/project_packages_protection_rules.rb``) and the packages
and package-files API (``lib/api/project_packages.rb``, ``lib/api/package_files.rb``).
Anything else is Grape's ``404 Not Found``.
"""

from __future__ import annotations

from hatch_sigstore.sandbox._gitlab_generic import handle_generic
from hatch_sigstore.sandbox._gitlab_group import handle_group_pypi
from hatch_sigstore.sandbox._gitlab_packages_api import handle_packages_api
from hatch_sigstore.sandbox._gitlab_protection import handle_rules
from hatch_sigstore.sandbox._gitlab_pypi import handle_pypi
from hatch_sigstore.sandbox._gitlab_wire import ApiError, Request, Response, json_response

__all__ = ["internal_error", "route"]


def route(req: Request) -> Response:
    """The answer to ``req`` (an :class:`ApiError` becomes its JSON error)."""
    segs = req.path.split("/")[1:]
    while segs and segs[-1] == "":
        segs.pop()  # Grape ignores trailing slashes
    packages_enabled = req.ctx.settings.packages_enabled
    try:
        if segs[:3] == ["api", "v4", "groups"] and segs[4:7] == ["-", "packages", "pypi"]:
            if not packages_enabled:
                return _packages_disabled()
            return handle_group_pypi(req, segs[3], segs[7:]) or _not_found()
        if len(segs) < 5 or segs[:3] != ["api", "v4", "projects"] or segs[4] != "packages":
            return _not_found()
        raw_id, rest = segs[3], segs[5:]
        response: Response | None = None
        if rest[:1] == ["protection"]:
            response = handle_rules(req, raw_id, rest[1:])
        elif rest[:1] in (["pypi"], ["generic"]):
            if not packages_enabled:
                return _packages_disabled()
            if rest[0] == "pypi":
                response = handle_pypi(req, raw_id, rest[1:])
            elif len(rest) >= 2:
                response = handle_generic(req, raw_id, rest[1:])
        else:
            response = handle_packages_api(req, raw_id, rest)
        return response if response is not None else _not_found()
    except ApiError as err:
        return err.response


def internal_error() -> Response:
    """Rails' answer to an exception in an API endpoint."""
    return json_response(500, {"message": "500 Internal Server Error"})


def _not_found() -> Response:
    return json_response(404, {"error": "404 Not Found"})


def _packages_disabled() -> Response:
    return json_response(404, {"message": "404 Not Found"})
