"""The index's disk cache: files by sha256, verification verdicts by (file, policy, trust).

    CACHE/files/ab/abcdef…     a verified (or passed-through) file, named by its sha256
    CACHE/provenance/abcdef…   the PEP 740 provenance it verified with, if any
    CACHE/verdicts/0123…json   one success, keyed by sha256 + file name + policy + trust
    CACHE/tmp/                 staging: downloads land here and leave only by rename

Only successes are kept on disk: a refusal (no signature yet, a network error, a mismatch)
is looked at again on the next listing. A cached file is hashed again the first time this
process serves it, so a file changed on disk is dropped, never served.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hatch_sigstore.trust import TrustChoice
    from hatch_sigstore.verify import Policy

__all__ = ["Cache", "policy_fingerprint", "trust_fingerprint", "verdict_key"]

_CHUNK = 1 << 20


def verdict_key(sha256: str, filename: str, policy: str, trust: str) -> str:
    return hashlib.sha256("\0".join((sha256, filename, policy, trust)).encode()).hexdigest()


def policy_fingerprint(policy: Policy) -> str:
    """Stable text that changes whenever the policy would accept other signers."""
    return hashlib.sha256(repr(policy).encode()).hexdigest()


def trust_fingerprint(trust: TrustChoice) -> str:
    """The instance, and for a trust config file its content: a changed root re-verifies."""
    text: str = trust.kind
    if trust.path is not None:
        try:
            text += ":" + hashlib.sha256(trust.path.read_bytes()).hexdigest()
        except OSError:
            text += ":unreadable"
    return text


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("files", "verdicts", "provenance", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self._checked: set[str] = set()
        self._lock = threading.Lock()
        # staging dirs left by a process that was killed (another index may share the cache:
        # only what is a day old)
        for stale in (root / "tmp").iterdir():
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > 86400:
                    shutil.rmtree(stale, ignore_errors=True)

    def staging(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="stage-", dir=self.root / "tmp"))

    def file_path(self, sha256: str) -> Path:
        return self.root / "files" / sha256[:2] / sha256

    def put_file(self, source: Path, sha256: str) -> Path:
        target = self.file_path(sha256)
        target.parent.mkdir(exist_ok=True)
        os.chmod(source, 0o644)
        os.replace(source, target)
        with self._lock:
            self._checked.add(sha256)
        return target

    def intact_file(self, sha256: str) -> Path | None:
        """The cached file with this sha256, checked once per process; None if absent/changed."""
        path = self.file_path(sha256)
        if not path.is_file():
            return None
        with self._lock:
            if sha256 in self._checked:
                return path
        if sha256_of(path) != sha256:
            path.unlink(missing_ok=True)
            return None
        with self._lock:
            self._checked.add(sha256)
        return path

    def verdict(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.root / "verdicts" / f"{key}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def put_verdict(self, key: str, record: dict[str, Any]) -> None:
        self._write(self.root / "verdicts" / f"{key}.json", json.dumps(record, indent=1).encode())

    def provenance_path(self, sha256: str) -> Path | None:
        path = self.root / "provenance" / sha256
        return path if path.is_file() else None

    def put_provenance(self, sha256: str, document: bytes) -> None:
        self._write(self.root / "provenance" / sha256, document)

    def _write(self, target: Path, data: bytes) -> None:
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", prefix=".write-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(name, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
