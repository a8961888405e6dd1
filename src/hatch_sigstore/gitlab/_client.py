"""The registry client: GitLab's PyPI and generic package registries over httpx.

Guarantees:

* **Constant memory.** Uploads stream the file in chunks with a precomputed ``Content-Length``
  (our own multipart encoder for PyPI, a raw body for generic PUTs); downloads stream to a
  temporary file beside the destination and are renamed into place only when complete.
* **Never the wrong bytes.** The declared sha256 is checked while streaming; the last chunk is
  held back until the digest matches, so a file that changed on disk is never completely sent.
* **Idempotent.** Transient failures (connection errors, 429 with ``Retry-After``, 5xx) are retried
  with backoff. After an *ambiguous* failure (the body may have been stored: timeouts, resets,
  5xx) the client asks the registry what it holds before sending again: the same sha256 →
  ``exists-same``, absent → send again, different → :class:`RegistryError`, never an overwrite.
  A generic PUT whose whole body went out and got no answer from GitLab itself (a timeout, a
  reset, a proxy's 502/504) may still be being stored, and GitLab keeps duplicates: the client
  asks again with backoff for up to ``settle_time`` seconds before sending it again. (PyPI needs
  no wait: GitLab refuses a second copy with "already been taken".)
* **Object storage.** GitLab redirects file downloads to pre-signed object-storage URLs; the
  client follows them by hand (https only, a few hops, no loops) and sends credentials only to
  GitLab itself. With no checksum header then, a generic file's sha256 comes from the Packages
  API (computed by GitLab), else from streaming the file.
* **No token leaks.** Tokens travel only in headers, never in URLs, never over plain http (but
  to a loopback sandbox), never beyond GitLab's origins; the job token found in
  ``CI_JOB_TOKEN`` only to the job's own GitLab. Every message is redacted (whole, then cut).
"""

from __future__ import annotations

from hatch_sigstore.gitlab._downloads import Downloads
from hatch_sigstore.gitlab._uploads import Uploads

__all__ = ["RegistryClient"]


class RegistryClient(Uploads, Downloads):
    """A GitLab project's PyPI and generic package registries (or, with ``group=`` and no
    project, a group's PyPI index and its files, read only).

    ``api_url`` is the API v4 root (``CI_API_V4_URL``, ``https://gitlab.example.com/api/v4``);
    ``project`` the numeric id or full path (``group/sub/project``). Usable as a context manager;
    safe to share between threads. Reads and plumbing: :mod:`._core`; redirects:
    :mod:`hatch_sigstore._net._redirects`; registry state: :mod:`._state`; uploads:
    :mod:`._uploads`; downloads: :mod:`._downloads`; retries: :func:`._retry.retrying`.
    """
