"""What the registry client's calls return: typed outcomes, no httpx.

Callers (the publisher's run loop, the download) match on these instead of guessing from
attribute names or strings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from hatch_sigstore.errors import RegistryError

__all__ = ["Downloaded", "FileConflictError", "FileState", "Held", "UploadOutcome"]


class UploadOutcome(str, enum.Enum):
    """What an upload did. Compares equal to its value (``"uploaded"``, ``"exists-same"``)."""

    UPLOADED = "uploaded"  # the registry stored the file now
    EXISTS_SAME = "exists-same"  # the registry already held the same bytes: nothing was stored

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Downloaded:
    """A file the client streamed to ``path``, with the sha256 and size of what it wrote."""

    path: Path
    sha256: str
    size: int


class Held(str, enum.Enum):
    """What the registry holds under a file's name, compared with our file."""

    SAME = "same"  # the same bytes (sha256) as ours
    OTHER = "other"  # other bytes
    ABSENT = "absent"  # nothing under that name

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class FileState:
    """What the registry holds of one file: ``held``, and the sha256 of what it serves when it
    holds something. ``claimed``: the sha256 its index lists when that is only the uploader's
    word and the bytes had to be checked."""

    held: Held
    sha256: str | None = None
    claimed: str | None = None


class FileConflictError(RegistryError):
    """The registry already holds other bytes under the file's name: refused, never replaced."""

    def __init__(
        self, message: str, *, remediation: str | None = None, registry_sha256: str | None = None
    ) -> None:
        super().__init__(message, remediation=remediation)
        self.registry_sha256 = registry_sha256
