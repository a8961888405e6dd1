"""Where a PyPI-compatible index takes uploads, mints tokens and serves its read APIs.

PyPI takes uploads at ``https://upload.pypi.org/legacy/`` and serves everything else on
``https://pypi.org`` (files on ``files.pythonhosted.org``); TestPyPI does both on
``https://test.pypi.org``. Warehouse serves ``/_/oidc/audience`` and ``/_/oidc/mint-token`` on
every host (``warehouse/routes.py``), and twine and pypa/gh-action-pypi-publish ask the upload
URL's origin for them: so do we. Any other index is named by its upload URL, ending in
``/legacy/``; its read APIs are beside it (the URL without ``legacy/``). Tokens go only over
https, or plain http to a loopback address (a local stand-in). Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from packaging.utils import canonicalize_name

from hatch_sigstore._urls import is_loopback
from hatch_sigstore.errors import ConfigError, redact

__all__ = ["KNOWN_INDEXES", "IndexURLs"]

PYPI_UPLOAD = "https://upload.pypi.org/legacy/"
TESTPYPI_UPLOAD = "https://test.pypi.org/legacy/"
# name -> (upload URL, read base, what messages call it)
KNOWN_INDEXES: dict[str, tuple[str, str, str]] = {
    "pypi": (PYPI_UPLOAD, "https://pypi.org/", "PyPI"),
    "testpypi": (TESTPYPI_UPLOAD, "https://test.pypi.org/", "TestPyPI"),
}
_ALIASES = {"main": "pypi", "test": "testpypi", "test.pypi": "testpypi"}
# the read host of an upload host that serves nothing but uploads
_READ_HOST = {"upload.pypi.org": "pypi.org"}


@dataclass(frozen=True)
class IndexURLs:
    """An index's URLs. ``name`` is what messages call it; ``known`` is ``"pypi"`` or
    ``"testpypi"`` for the two public instances (whose rules on attestations we know), else
    ``None``."""

    upload: str  # ends in /legacy/
    base: str  # the read APIs (ends in /): simple/, pypi/<name>/<version>/json, integrity/
    name: str
    known: Literal["pypi", "testpypi"] | None = None

    @classmethod
    def resolve(cls, value: str, source: str) -> IndexURLs:
        """``pypi`` (default), ``testpypi``, or an upload URL ending in ``/legacy/``.

        ``source`` names the option for messages (``-o url=…``).
        """
        text = value.strip()
        name = _ALIASES.get(text.lower(), text.lower())
        if name in KNOWN_INDEXES:
            upload, base, label = KNOWN_INDEXES[name]
            return cls(upload, base, label, name)  # type: ignore[arg-type]
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{source} is {redact(text)!r}: neither pypi, testpypi nor an http(s) upload URL.",
                remediation="Give pypi (the default), testpypi, or the index's upload URL ending "
                "in /legacy/ (e.g. https://upload.pypi.org/legacy/).",
            )
        if parts.username is not None or parts.password is not None:
            raise ConfigError(
                f"{source} carries credentials in the URL.",
                remediation="Remove them; the token comes from trusted publishing or from the "
                "variable named by token-env, never from the URL.",
            )
        if parts.query or parts.fragment:
            raise ConfigError(
                f"{source} has a query or fragment; an upload URL has neither.",
                remediation="Give the upload URL only, ending in /legacy/.",
            )
        if parts.scheme == "http" and not is_loopback(text):
            raise ConfigError(
                f"{source} is a plain-http URL ({parts.netloc}): the upload token would cross "
                "the network unencrypted.",
                remediation="Use https (plain http is accepted only for a loopback address, "
                "such as a local stand-in).",
            )
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        if not path.endswith("/legacy/"):
            raise ConfigError(
                f"{source} is {text!r}, which does not end in /legacy/: warehouse (PyPI's "
                "software) takes uploads only there.",
                remediation="Give the upload URL, e.g. https://upload.pypi.org/legacy/ or "
                "https://test.pypi.org/legacy/ (or just pypi / testpypi).",
            )
        host = (parts.hostname or "").lower()
        upload = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        for known, (known_upload, known_base, label) in KNOWN_INDEXES.items():
            if upload == known_upload:
                return cls(upload, known_base, label, known)  # type: ignore[arg-type]
        read_netloc = _READ_HOST.get(host, parts.netloc)
        base = urlunsplit((parts.scheme, read_netloc, path.removesuffix("legacy/"), "", ""))
        return cls(upload, base, parts.netloc)

    @classmethod
    def from_simple_url(cls, value: str, source: str) -> IndexURLs:
        """A consumer's ``--index-url``: the simple API root, ``…/simple/`` (pip's spelling).

        The read APIs are beside it (``https://pypi.org/simple/`` → ``https://pypi.org/``).
        """
        text = value.strip()
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{source} {redact(text)!r} is not an http(s) URL.",
                remediation="Give the index's simple API, e.g. https://pypi.org/simple/.",
            )
        if parts.username is not None or parts.password is not None or parts.query:
            raise ConfigError(
                f"{source} carries credentials or a query.",
                remediation="Give the plain URL of the simple API, e.g. https://pypi.org/simple/.",
            )
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        if not path.endswith("/simple/"):
            raise ConfigError(
                f"{source} is {text!r}, which does not end in /simple/.",
                remediation="Give the simple API root as pip takes it, e.g. "
                "https://pypi.org/simple/ or https://test.pypi.org/simple/.",
            )
        base = urlunsplit((parts.scheme, parts.netloc, path.removesuffix("simple/"), "", ""))
        for known, (upload, known_base, label) in KNOWN_INDEXES.items():
            if base == known_base:
                return cls(upload, base, label, known)  # type: ignore[arg-type]
        return cls(base + "legacy/", base, parts.netloc)

    @property
    def simple_root(self) -> str:
        return f"{self.base}simple/"

    # -- the routes -------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        """The upload URL's origin: where the OIDC routes are asked for."""
        parts = urlsplit(self.upload)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def audience_url(self) -> str:
        return f"{self.origin}/_/oidc/audience"

    @property
    def mint_token_url(self) -> str:
        return f"{self.origin}/_/oidc/mint-token"

    def json_url(self, name: str, version: str) -> str:
        """``/pypi/<name>/<version>/json`` (``warehouse/legacy/api/json.py``)."""
        project = quote(canonicalize_name(name), safe="")
        return f"{self.base}pypi/{project}/{quote(version, safe='')}/json"

    def simple_url(self, name: str) -> str:
        """PEP 503/691 project page; the normalized name (else warehouse answers 301)."""
        return f"{self.base}simple/{quote(canonicalize_name(name), safe='')}/"

    def publishing_page(self, project: str | None) -> str:
        """Where a project's trusted publishers are managed (warehouse's route
        ``manage.project.settings.publishing``), or the account's page for pending ones."""
        if project is None:
            return f"{self.base}manage/account/publishing/"
        return f"{self.base}manage/project/{canonicalize_name(project)}/settings/publishing/"
