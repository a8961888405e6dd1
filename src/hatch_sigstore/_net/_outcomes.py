"""What the registry client's calls return: typed outcomes, no httpx.

Callers (the publisher's run loop, the download) match on these instead of guessing from
attribute names or strings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Downloaded", "UploadOutcome"]


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
