"""Names as the index takes them from upstreams and clients, by the project's one set of rules.

A dist's file name must be a plain file name (:func:`hatch_sigstore._names.is_safe_filename`)
and parse as a wheel or sdist (:func:`hatch_sigstore.verify.release.dist_filename`, the rule
the verifier binds releases by). Two rules are the index's own, for reasons of its own:

* :func:`valid_project`: what a client may ask for in ``/simple/NAME/``: a PEP 503
  normalized name (the server redirects other spellings to it), at most 200 characters;
* :func:`visible`: a name or reason as the status page and the log show it. Unlike
  :func:`hatch_sigstore._text.printable`, which removes escape sequences, it *escapes* every
  control and non-ASCII character (``\\x1b``): the rows name files, and a hostile
  ``x\\x1b[2J.whl`` must not show up looking like the honest ``x.whl``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from packaging.utils import NormalizedName
from packaging.version import Version

from hatch_sigstore._names import is_safe_filename
from hatch_sigstore.verify.release import Kind, dist_filename

__all__ = ["Dist", "parse_dist", "valid_project", "visible"]

_PROJECT = re.compile(r"\A[a-z0-9]([a-z0-9-]{0,198}[a-z0-9])?\Z")  # normalized (PEP 503)


class Dist(NamedTuple):
    filename: str
    kind: Kind
    name: NormalizedName
    version: Version


def parse_dist(filename: str) -> Dist | None:
    """A wheel or sdist file name, parsed; ``None`` for anything else."""
    if not is_safe_filename(filename):
        return None
    parsed = dist_filename(filename)
    return None if parsed is None else Dist(filename, *parsed)


def valid_project(name: str) -> bool:
    """A PEP 503 normalized project name (what pip and uv request)."""
    return bool(_PROJECT.match(name)) and "--" not in name


def visible(text: str, limit: int = 120) -> str:
    """``text`` safe for a terminal or a log: escapes instead of control characters."""
    shown = text[:limit]
    more = "…" if len(text) > limit else ""
    if shown.isascii() and shown.isprintable():
        return shown + more
    return ascii(shown)[1:-1] + more
