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
    "Dist",
    "ItemResult",
    "Plan",
    "PreflightResult",
    "PublishSettings",
    "RegistryAPI",
    "Reporter",
    "Summary",
    "TokenSettings",
    "UploadItem",
    "build_plan",
    "collect_dists",
    "execute",
    "preflight",
    "read_dist",
    "require_preflight",
    "resolve_settings",
]
