"""Downloads: stream a registry file to disk, capped in size and time, placed atomically.

Files are written to a temporary file beside the destination and renamed into place only when
complete (and, when a sha256 is given, only when it matches), with the mode the user's umask
gives a new file. Redirects are followed by :mod:`hatch_sigstore._net._redirects`: to
GitLab's object storage too, https only (plain http within a loopback sandbox), credentials
only to GitLab itself. The whole response has a deadline; every wait for the next byte is
also capped (the client's ``timeout``), so a stalled server is cut off long before the
deadline.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from hatch_sigstore._names import is_safe_filename
from hatch_sigstore._net._http import (
    DIGITS_RE,
    check_sha256,
    page_instead_of_file,
    read_capped,
)
from hatch_sigstore._net._outcomes import Downloaded
from hatch_sigstore._net._save import save_stream
from hatch_sigstore._urls import origin, same_origin
from hatch_sigstore.errors import ConfigError, RegistryError
from hatch_sigstore.gitlab._core import ClientCore, Route
from hatch_sigstore.gitlab._errors import ERROR_BODY_LIMIT
from hatch_sigstore.gitlab._simple import IndexFile
from hatch_sigstore.gitlab._uploads import ProgressCallback

__all__ = ["Downloads"]


class Downloads(ClientCore):
    """The download half of :class:`~hatch_sigstore.gitlab.RegistryClient`."""

    def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int,
        sha256: str | None = None,
        route: Route = "pypi",
        progress: ProgressCallback | None = None,
        deadline: float | None = None,
    ) -> Downloaded:
        """Stream ``url`` into ``dest`` (atomically), at most ``max_bytes`` and ``deadline``
        seconds (default: the client's ``download_deadline``). When ``sha256`` is given the
        file must match it, else nothing is left behind. Retries transient failures."""
        if max_bytes <= 0:
            raise ConfigError("max_bytes must be positive.")
        if not any(same_origin(url, home) for home in self.link_origins):
            raise RegistryError(
                self._redact(
                    f"Refusing to download {url}: it is not on the registry's host "
                    f"({' or '.join(self.link_origins)})."
                ),
                remediation="Files must come from the GitLab instance of the index (its API "
                "URL's origin, or the GitLab server given to the client).",
            )
        expected = check_sha256(sha256, Path(dest).name) if sha256 else None
        dest = Path(dest)
        action = f"downloading {dest.name}"
        limit = self.download_deadline if deadline is None else deadline
        end = time.monotonic() + limit
        return self._retrying(
            lambda: self._download_once(
                url, dest, max_bytes, expected, progress, end, action, route
            ),
            action,
            url,
            end=end,
        )

    def _download_once(  # noqa: PLR0917
        self,
        url: str,
        dest: Path,
        max_bytes: int,
        expected: str | None,
        progress: ProgressCallback | None,
        end: float,
        action: str,
        route: Route,
    ) -> Downloaded:

        def check(actual: str) -> None:
            if expected is not None and actual != expected:
                raise RegistryError(
                    self._redact(
                        f"{dest.name} from {url} has sha256 {actual}, but {expected} was expected; "
                        "deleted it."
                    ),
                    remediation="The registry served different bytes than its index lists: do "
                    "not install this file; report it to the project's maintainers.",
                )

        try:
            with self._open(url, route=route, action=action) as followed:
                response = followed.response
                if response.status_code != 200:
                    body, _ = read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)
                    raise self._answer_error(followed, body, action)
                if page_instead_of_file(response.headers):
                    raise self._page_error(followed.url, response)
                declared = response.headers.get("content-length")
                if declared and DIGITS_RE.match(declared) and int(declared) > max_bytes:
                    raise RegistryError(
                        self._redact(
                            f"{origin(followed.url)} announces {declared} bytes, more than the "
                            f"limit of {max_bytes} for {dest.name}; refusing to download."
                        ),
                        remediation="No real package is that large; check the server.",
                    )
                return save_stream(
                    response.iter_bytes(),
                    dest,
                    max_bytes=max_bytes,
                    end=end,
                    progress=progress,
                    check=check,
                    too_big=lambda: RegistryError(
                        self._redact(
                            f"{url} sent more than {max_bytes} bytes for {dest.name}; "
                            "aborted and deleted the partial file."
                        ),
                        remediation="No real package is that large; check the server.",
                    ),
                    too_slow=lambda: RegistryError(
                        self._redact(
                            f"Downloading {dest.name} from {url} did not finish within the time "
                            "limit; aborted and deleted the partial file."
                        ),
                        remediation="The server is too slow or never ends the response; raise "
                        "the download deadline if the link is slow.",
                    ),
                )
        except httpx.TransportError as exc:
            if isinstance(exc, httpx.TimeoutException) and time.monotonic() > end:
                raise self._transport_error(exc, action, url, 1) from None
            raise self._retry_transport(exc) from None

    def pypi_download(
        self,
        file: IndexFile,
        dest: Path,
        *,
        max_bytes: int,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Download a file listed by :meth:`pypi_simple_files`, checked against its index sha256.

        ``dest`` may be a directory (the file keeps its name) or a file path.
        """
        if file.sha256 is None:
            raise RegistryError(
                f"The index lists {file.filename} without a sha256; refusing to download it "
                "unchecked.",
                remediation="Re-upload the file with its sha256_digest (GitLab issue 517919).",
            )
        if not is_safe_filename(file.filename):
            raise RegistryError(f"Refusing the file name {file.filename[:80]!r}.")
        dest = Path(dest)
        target = dest / file.filename if dest.is_dir() else dest
        return self.download(
            file.url,
            target,
            max_bytes=max_bytes,
            sha256=file.sha256,
            route="pypi",
            progress=progress,
        ).path

    def generic_download(
        self,
        package: str,
        version: str,
        filename: str,
        dest: Path,
        *,
        max_bytes: int,
        sha256: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Download a generic package file (the newest duplicate, as GitLab serves it).

        ``dest`` may be a directory (the file keeps its name) or a file path. ``sha256``, when
        given, must match.
        """
        url = self.generic_url(package, version, filename)
        dest = Path(dest)
        target = dest / filename if dest.is_dir() else dest
        return self.download(
            url, target, max_bytes=max_bytes, sha256=sha256, route="generic", progress=progress
        ).path
