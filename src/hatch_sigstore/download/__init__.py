"""Download a release from GitLab, check its hashes, verify it, and keep only what verified.

The consumer's side of the data flow::

    GitLab ──► registry client ──► download (this package) ──► verify ──► verified files

:func:`download` resolves ``NAME==VERSION`` in a project's PyPI simple index, downloads every
wheel and sdist of exactly that version, fetches their signature files from the generic package
registry, checks each file against the index's ``#sha256=``, verifies it against a
:class:`~hatch_sigstore.verify.Policy`, and moves only the files that verified (with their
signature files) into the target directory; :func:`fetch_signatures` is that signature lookup
alone (the index uses it too). Plumbing: ``_select`` (the release and its index
links), ``_fetch`` (files and sidecars within one deadline), ``_run`` (verify and place),
``_report``.

:func:`download_from_index` does the same from PyPI or any PEP 691/740 index
(``--index-url``): the files and their PEP 740 provenance, each verified against the publisher
the index recorded and the same policy (``_index``).

Knows nothing of hatch. HTTP lives in :mod:`hatch_sigstore.gitlab` and
:mod:`hatch_sigstore.pypi`, cryptography in :mod:`hatch_sigstore.verify`; all are imported
only when a download runs.
"""

from __future__ import annotations

from hatch_sigstore._names import generic_coordinates
from hatch_sigstore.download._fetch import SIDECAR_MAX_BYTES, SIDECAR_NAMES, fetch_signatures
from hatch_sigstore.download._index import download_from_index
from hatch_sigstore.download._report import DownloadReport, FileOutcome, format_table
from hatch_sigstore.download._run import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BYTES,
    DEFAULT_WORKERS,
    download,
)
from hatch_sigstore.download._select import (
    SelectedFile,
    check_filename,
    parse_requirement,
    parse_size,
    select_files,
)

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_WORKERS",
    "SIDECAR_MAX_BYTES",
    "SIDECAR_NAMES",
    "DownloadReport",
    "FileOutcome",
    "SelectedFile",
    "check_filename",
    "download",
    "download_from_index",
    "fetch_signatures",
    "format_table",
    "generic_coordinates",
    "parse_requirement",
    "parse_size",
    "select_files",
]
