"""Publishing a signed release to GitLab: settings → dists → preflight → plan → run → summary.

The hatch-free core of ``hatch publish -p gitlab`` (:mod:`hatch_sigstore.hatch.publisher` is
only glue), so any frontend can reuse it; one module per step:

1. :mod:`~hatch_sigstore.publish.settings`: ``-o key=value`` > ``[tool.hatch.publish.gitlab]`` >
   hatch's user config > GitLab CI variables. Tokens are only ever read from an environment
   variable the settings *name*.
2. :mod:`~hatch_sigstore.publish.dists`: every wheel and sdist, its metadata read and checked
   against its file name, paired with its signature files.
3. :mod:`~hatch_sigstore.publish.plan`: preflight, failing closed (every dist must verify
   against the expected identity before a single request is sent, unless ``allow-unsigned``),
   then the ordered uploads.
4. :mod:`~hatch_sigstore.publish.run`: signature files to the generic registry first, dists to
   the PyPI registry only when all of them are in place; safe to re-run.
5. :mod:`~hatch_sigstore.publish.summary`: what was uploaded, skipped, failed or not attempted,
   and what state that leaves the registry in.

The pypi target (``hatch publish -p pypi``) has the same steps in its own modules, sharing
dists, upload items and the grouped run with the GitLab target:
:mod:`~hatch_sigstore.publish.pypi_settings` (``[tool.hatch.publish.pypi]``, the job's ID
token), :mod:`~hatch_sigstore.publish.pypi_plan` (each attestation checked with PyPI's
trusted-publisher rules before any upload), :mod:`~hatch_sigstore.publish.pypi_run` and
:mod:`~hatch_sigstore.publish.pypi_summary`.

Nothing here imports hatch, httpx or sigstore at import time.
"""

from __future__ import annotations

from hatch_sigstore.publish.dists import Dist, collect_dists, read_dist
from hatch_sigstore.publish.plan import (
    Plan,
    PreflightResult,
    UploadItem,
    build_plan,
    preflight,
    require_preflight,
)
from hatch_sigstore.publish.pypi_plan import (
    PyPIPlan,
    PyPIPreflight,
    build_pypi_plan,
    pypi_preflight,
    require_pypi,
)
from hatch_sigstore.publish.pypi_run import IndexAPI, execute_pypi, index_state
from hatch_sigstore.publish.pypi_settings import (
    PYPI_OPTIONS,
    PYPI_PLUGIN_NAME,
    PyPISettings,
    resolve_pypi,
)
from hatch_sigstore.publish.pypi_summary import PyPISummary
from hatch_sigstore.publish.run import RegistryAPI, Reporter, execute
from hatch_sigstore.publish.settings import (
    OPTIONS,
    PLUGIN_NAME,
    PublishSettings,
    TokenSettings,
    resolve_settings,
)
from hatch_sigstore.publish.summary import ItemResult, Summary

__all__ = [
    "OPTIONS",
    "PLUGIN_NAME",
    "PYPI_OPTIONS",
    "PYPI_PLUGIN_NAME",
    "Dist",
    "IndexAPI",
    "ItemResult",
    "Plan",
    "PreflightResult",
    "PublishSettings",
    "PyPIPlan",
    "PyPIPreflight",
    "PyPISettings",
    "PyPISummary",
    "RegistryAPI",
    "Reporter",
    "Summary",
    "TokenSettings",
    "UploadItem",
    "build_plan",
    "build_pypi_plan",
    "collect_dists",
    "execute",
    "execute_pypi",
    "index_state",
    "preflight",
    "pypi_preflight",
    "read_dist",
    "require_preflight",
    "require_pypi",
    "resolve_pypi",
    "resolve_settings",
]
