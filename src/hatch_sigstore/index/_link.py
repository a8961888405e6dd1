"""A file link as an upstream's simple page gives it, before the index trusts any of it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Link"]


@dataclass(frozen=True)
class Link:
    filename: str
    url: str
    sha256: str | None
    requires_python: str | None = None
    yanked: bool | str = False
    provenance_url: str | None = None
    problem: str | None = None  # why this link alone is unusable
