"""Project names and distribution file names, as the index accepts them from upstreams and
clients: anything else (separators, ``..``, ``%``, control or escape characters, non-ASCII) is
refused, never echoed raw."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

__all__ = ["Dist", "parse_dist", "printable", "valid_filename", "valid_project"]

Kind = Literal["wheel", "sdist"]

# PEP 427/625 names use [A-Za-z0-9_.], versions add "+" (local) and "!" (epoch), legacy sdists "-".
_FILENAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._+!-]{0,254}\Z")
_PROJECT = re.compile(r"\A[a-z0-9]([a-z0-9-]{0,198}[a-z0-9])?\Z")  # normalized (PEP 503)


@dataclass(frozen=True)
class Dist:
    filename: str
    kind: Kind
    name: NormalizedName
    version: Version


def valid_filename(filename: str) -> bool:
    return bool(_FILENAME.match(filename)) and ".." not in filename


def valid_project(name: str) -> bool:
    """A PEP 503 normalized project name (what pip and uv request)."""
    return bool(_PROJECT.match(name)) and "--" not in name


def parse_dist(filename: str) -> Dist | None:
    """A wheel or sdist file name, parsed; ``None`` for anything else."""
    if not valid_filename(filename):
        return None
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            return Dist(filename, "wheel", name, version)
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return Dist(filename, "sdist", name, version)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return None


def normalize(name: str) -> NormalizedName:
    return canonicalize_name(name)


def printable(text: str, limit: int = 120) -> str:
    """``text`` safe for a terminal or a log: escapes instead of control characters."""
    shown = text[:limit]
    if shown.isascii() and shown.isprintable():
        return shown + ("…" if len(text) > limit else "")
    return ascii(shown)[1:-1] + ("…" if len(text) > limit else "")
