"""Files on disk: the names of the signature files beside each artifact, and streamed sha256.

One place for both, shared by signing, verification, publishing and downloading; also how the
sandbox's env file is recognised (the build hook refuses to sign an artifact holding one).
Standard library only.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path

__all__ = [
    "ATTESTATION_SUFFIX",
    "BUNDLE_SUFFIX",
    "CERTIFICATE_SUFFIX",
    "LEGACY_BUNDLE_SUFFIX",
    "SANDBOX_ENV_MARKER",
    "SANDBOX_ENV_NAME",
    "SIDECAR_SUFFIXES",
    "SIGNATURE_SUFFIX",
    "NotRegularFileError",
    "file_mode",
    "is_sandbox_env",
    "is_sidecar",
    "open_regular",
    "remove_sidecars",
    "sha256_file",
    "sidecars_of",
]

CHUNK_SIZE = 1024 * 1024  # bytes read at a time: never a whole file in memory

BUNDLE_SUFFIX = ".sigstore.json"  # Sigstore bundle v0.3: always written
LEGACY_BUNDLE_SUFFIX = ".sigstore"  # read only: older sigstore-python wrote this name
SIGNATURE_SUFFIX = ".sig"  # cosign-compatible: base64 DER signature, no newline
CERTIFICATE_SUFFIX = ".crt"  # cosign-compatible: PEM leaf certificate
ATTESTATION_SUFFIX = ".publish.attestation"  # PEP 740

SIDECAR_SUFFIXES = (
    BUNDLE_SUFFIX,
    SIGNATURE_SUFFIX,
    CERTIFICATE_SUFFIX,
    ATTESTATION_SUFFIX,
    LEGACY_BUNDLE_SUFFIX,
)


# The env file ``hatch-sigstore sandbox up`` writes (it holds tokens): always this name, and
# always this first line, so a tool can tell it from any other ``.env`` file without reading on.
SANDBOX_ENV_NAME = "sandbox.env"
SANDBOX_ENV_MARKER = "# hatch-sigstore-sandbox-env"


def is_sandbox_env(first_line: str | bytes) -> bool:
    """Whether a file starting with ``first_line`` is a sandbox env file."""
    if isinstance(first_line, bytes):
        first_line = first_line.decode("utf-8", "replace")
    return first_line.lstrip("\ufeff").startswith(SANDBOX_ENV_MARKER)


def is_sidecar(path: str | Path) -> bool:
    name = Path(path).name
    return any(name.endswith(suffix) for suffix in SIDECAR_SUFFIXES)


def sidecars_of(artifact: str | Path) -> dict[str, Path]:
    """Every sidecar file of ``artifact`` that exists, keyed by suffix."""
    artifact = Path(artifact)
    found = {}
    for suffix in SIDECAR_SUFFIXES:
        candidate = artifact.with_name(artifact.name + suffix)
        if candidate.is_file():
            found[suffix] = candidate
    return found


def remove_sidecars(artifact: str | Path) -> list[Path]:
    """Delete the signature files beside ``artifact``; return those that were there."""
    removed = []
    for sidecar in sidecars_of(artifact).values():
        try:
            sidecar.unlink()
            removed.append(sidecar)
        except FileNotFoundError:
            pass
    return removed


class NotRegularFileError(OSError):
    """:func:`open_regular` refused the file: a symbolic link, or not a regular file.

    An :class:`OSError` (``strerror`` says which), so every ``except OSError`` that reports
    ``exc.strerror`` reports it too.
    """


def _umask_now() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _umask_at_import() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Where /proc tells no umask: read once, here. os.umask has no read-only form, and setting it
# for a moment later, from a worker thread, would race with threads creating files.
_IMPORT_UMASK = _umask_at_import() if _umask_now() is None else None


def file_mode() -> int:
    """The mode ``open()`` would give a new file now: 0o666 less the process's umask.

    For files we create through a private temporary file (``mkstemp`` makes it 0o600) and then
    rename into place: signature files and downloads get what the user's umask says.
    """
    mask = _umask_now()
    if mask is None:
        mask = _IMPORT_UMASK if _IMPORT_UMASK is not None else _umask_at_import()
    return 0o666 & ~mask


def open_regular(path: str | os.PathLike[str]) -> io.FileIO:
    """``path`` opened for reading (unbuffered) only when it is itself a regular file.

    ``O_NOFOLLOW`` refuses a symbolic link in the last component, and ``fstat`` of the opened
    descriptor (not of the name: it may have changed since) refuses anything but a regular
    file. ``O_NONBLOCK`` keeps a FIFO put in the file's place from blocking the open. So what a
    check of the name found is what is read, even when the name is swapped for a link after
    the check (publishing reads each dist and signature file this way: a link could carry a
    file from elsewhere, a secret, into the registry).
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        # Linux/macOS answer ELOOP for a link under O_NOFOLLOW, FreeBSD EMLINK
        if exc.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
            raise NotRegularFileError(
                errno.ELOOP, "it is a symbolic link, and only regular files are read", str(path)
            ) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(
                errno.EINVAL, "it is not a regular file (only regular files are read)", str(path)
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def sha256_file(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> str:
    """The file's sha256 as lower-case hex, streamed 1 MiB at a time into one reused buffer.

    ``follow_symlinks=False``: opened with :func:`open_regular` (raises
    :class:`NotRegularFileError` for a link or a non-file), as a file about to be published is.
    """
    import hashlib  # not at import: every build imports this module, few hash here

    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    opened = open(path, "rb", buffering=0) if follow_symlinks else open_regular(path)  # noqa: SIM115
    with opened as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()
