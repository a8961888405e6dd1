"""A response body streamed to disk: capped in size and time, hashed on the way, placed whole.

Both registry clients download through :func:`save_stream`. The bytes go to a private temporary
file beside the destination (same filesystem), which is renamed into place only when complete
and, when the caller checks the sha256, only when it matches. It then gets the mode the user's
umask gives a new file. On any failure, the temporary file is removed: nothing half-written is
left under any name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from hatch_sigstore._files import file_mode
from hatch_sigstore._net._outcomes import Downloaded
from hatch_sigstore._net._uploads import ProgressCallback

__all__ = ["save_stream"]


def save_stream(
    chunks: Iterable[bytes],
    dest: Path,
    *,
    max_bytes: int,
    end: float,
    too_big: Callable[[], Exception],
    too_slow: Callable[[], Exception],
    progress: ProgressCallback | None = None,
    check: Callable[[str], None] | None = None,
) -> Downloaded:
    """Write ``chunks`` to ``dest``: raise ``too_big()`` past ``max_bytes``, ``too_slow()``
    past the monotonic time ``end``; ``check(sha256)`` may raise to refuse the whole file."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest, total = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                total += len(chunk)
                if total > max_bytes:
                    raise too_big()
                if time.monotonic() > end:
                    raise too_slow()
                digest.update(chunk)
                out.write(chunk)
                if progress is not None:
                    progress(total)
            out.flush()
            os.fsync(out.fileno())
        sha256 = digest.hexdigest()
        if check is not None:
            check(sha256)
        os.chmod(tmp, file_mode())  # mkstemp made it 0o600; the user's umask decides
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return Downloaded(path=dest, sha256=sha256, size=total)
