"""The index client: trusted publishing, uploads and reads of one PyPI-compatible index.

Guarantees, as the GitLab client's: constant memory (streamed uploads and downloads), never the
wrong bytes (the sha256 is checked while sending), idempotent (a file already on the index with
the same sha256 is not sent again; other bytes under its name are refused before sending), and
no token leaks (tokens only in headers, never followed by a redirect, redacted from messages).
"""

from __future__ import annotations

from hatch_sigstore.pypi._read import Reads
from hatch_sigstore.pypi._trusted import TrustedPublishing
from hatch_sigstore.pypi._upload import Uploads

__all__ = ["IndexClient"]


class IndexClient(TrustedPublishing, Uploads, Reads):
    """One index, named by its :class:`~hatch_sigstore.pypi.IndexURLs`. Usable as a context
    manager. Token exchange: :mod:`._trusted`; uploads: :mod:`._upload`; reads: :mod:`._read`;
    construction, retries and redirects: :mod:`._core`."""
