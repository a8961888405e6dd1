"""What the registry holds: a file's sha256 in either registry, compared with ours.

The questions an idempotent upload (and the publisher's summary) asks before and after sending:
does the PyPI registry hold this file with these bytes, and with which sha256 does the generic
registry hold that one. With object storage GitLab redirects file downloads and sends no
checksum header; the answers then come from the Packages API where GitLab itself computed the
digest, else from streaming the file through the redirect.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlencode

import httpx

from hatch_sigstore._net._http import (
    DIGITS_RE,
    SHA256_RE,
    json_list,
    json_object,
    page_instead_of_file,
    read_capped,
)
from hatch_sigstore._net._outcomes import FileConflictError, FileState, Held
from hatch_sigstore._net._redirects import Followed
from hatch_sigstore._net._retry import is_retryable_status
from hatch_sigstore.errors import RegistryError
from hatch_sigstore.gitlab._core import ClientCore, Route, State
from hatch_sigstore.gitlab._errors import ERROR_BODY_LIMIT, not_gitlab_error
from hatch_sigstore.gitlab._simple import IndexFile

__all__ = ["RegistryState"]

_API_PAGES = 50  # Packages API pages read at most (100 entries each) for one question


class _UnavailableError(Exception):
    """The Packages API cannot answer (credentials it ignores, a page it does not serve)."""


class RegistryState(ClientCore):
    """The registry-state half of :class:`~hatch_sigstore.gitlab.RegistryClient`."""

    def pypi_file_states(self, name: str, files: Mapping[str, str]) -> dict[str, FileState]:
        """What the PyPI registry holds of each ``filename -> sha256`` of the package ``name``:
        one index read, then the bytes of every file the index says we already have.

        The index's sha256 is the ``sha256_digest`` the uploader *sent*, stored unchecked
        (gitlab-org/gitlab ``app/services/packages/pypi/create_package_service.rb``; the
        package-files API shows the same claim). A listed name is present; a listed sha256
        that differs from ours is enough to refuse (never overwrite). But a matching claim
        is not enough to report "the same bytes, skipped": anyone who may push to the project
        could have uploaded other bytes under our name and digest (which our signature files,
        published first, reveal), and we would then report a release as complete that every
        installer refuses. So a match is confirmed by streaming the file (through GitLab's
        redirect to object storage, if any) and hashing what it serves: one download per file
        already there, on re-runs only.
        """
        listed: dict[str, list[IndexFile]] = {}
        for entry in self._pypi_simple(name) or []:
            listed.setdefault(entry.filename, []).append(entry)
        states: dict[str, FileState] = {}
        for filename, sha256 in files.items():
            matches = listed.get(filename, [])
            claimed = [f for f in matches if f.sha256 == sha256]
            if not matches:
                states[filename] = FileState(Held.ABSENT)
            elif not claimed:
                states[filename] = FileState(Held.OTHER, matches[0].sha256)
            else:
                served = self._served_sha256(claimed[0].url, filename)
                held = Held.SAME if served == sha256 else Held.OTHER
                states[filename] = FileState(held, served, claimed=sha256)
        return states

    def _served_sha256(self, url: str, filename: str) -> str:
        action = f"checking the bytes of {filename} in the PyPI registry"
        return self._retrying(lambda: self._stream_sha256(url, "pypi", action), action, url)

    def _pypi_state(self, name: str, filename: str, sha256: str) -> State:
        """Does the PyPI registry hold ``filename``? Raises when it holds different bytes."""
        state = self.pypi_file_states(name, {filename: sha256})[filename]
        if state.held is Held.ABSENT:
            return "absent"
        if state.held is Held.SAME:
            return "same"
        raise self._conflict("pypi", name, "", filename, sha256, state)

    def _conflict(  # noqa: PLR0917
        self,
        registry: Literal["pypi", "generic"],
        package: str,
        version: str,
        filename: str,
        sha256: str,
        state: FileState,
    ) -> FileConflictError:
        if registry == "pypi":
            where = "the GitLab PyPI registry"
            never = "GitLab never replaces a PyPI file."
            what = f"the package {package}" + (f" {version}" if version else "")
        else:
            where = f"the generic package {package} {version}"
            never = (
                "GitLab would keep both and serve the newest, silently replacing what "
                "consumers get."
            )
            what = f"the generic package {package} {version}"
        if state.claimed is not None:
            held = (
                f"its index claims sha256 {state.claimed} (the digest the uploader declared; "
                f"GitLab does not check it) but it serves bytes with sha256 {state.sha256}"
            )
        else:
            held = f"sha256 {state.sha256 or 'unknown'}"
        return FileConflictError(
            f"{filename} already exists in {where} of project {self.project} with different "
            f"contents ({held}; local {sha256}). Refusing to overwrite.",
            remediation=(
                f"{never} Bump the version and rebuild, or delete {what} in GitLab (Deploy > "
                "Package registry) and publish again."
            ),
            registry_sha256=state.sha256,
        )

    def _stream_sha256(
        self, url: str, route: Route, action: str, max_bytes: int = 5 * 1024**3
    ) -> str:
        """sha256 of what ``url`` serves, following redirects; one attempt."""
        try:
            with self._open(url, route=route, action=action) as followed:
                response = followed.response
                if response.status_code == 200:
                    return self._hash_body(followed, max_bytes)
                body, _ = read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)
        except httpx.TransportError as exc:
            raise self._retry_transport(exc) from None
        raise self._answer_error(followed, body, action)

    def _hash_body(self, followed: Followed, max_bytes: int) -> str:
        response = followed.response
        if page_instead_of_file(response.headers):
            raise self._page_error(followed.url, response)
        digest = hashlib.sha256()
        total = 0
        end = time.monotonic() + self.download_deadline
        for chunk in response.iter_bytes():
            if time.monotonic() > end:
                raise httpx.ReadTimeout("the response body did not end in time")
            total += len(chunk)
            if total > max_bytes:
                raise RegistryError(
                    self._redact(f"{followed.url} sent more than {max_bytes} bytes."),
                    remediation="Refusing an oversized answer.",
                )
            digest.update(chunk)
        return digest.hexdigest()

    # -- generic --------------------------------------------------------------------------------

    def generic_file_sha256(
        self, package: str, version: str, filename: str, *, max_bytes: int = 5 * 1024**3
    ) -> str | None:
        """sha256 of the file GitLab serves (the newest duplicate), or None when absent.

        Without object storage GitLab sends ``X-Checksum-SHA256`` (newer versions) and the body
        is not read. With it GitLab redirects to a pre-signed URL and sends no checksum: then
        the Packages API's ``file_sha256`` answers, which for a generic file Workhorse computed
        from the bytes it received (gitlab-org/gitlab
        ``app/services/packages/generic/create_package_file_service.rb`` stores
        ``params[:file].sha256``), so it is GitLab's own statement, not the uploader's. When
        the API cannot answer (deploy tokens and Basic auth are anonymous there: 404 on a
        private project), the file is streamed through the redirect and hashed (at most
        ``max_bytes``).
        """
        url = self.generic_url(package, version, filename)
        action = f"checking {package}/{version}/{filename} in the generic registry"
        where = (package, version, filename)
        return self._retrying(
            lambda: self._generic_sha_once(url, action, max_bytes, where), action, url
        )

    def _generic_sha_once(
        self, url: str, action: str, max_bytes: int, where: tuple[str, str, str]
    ) -> str | None:
        redirected = False
        try:
            with self._open(url, route="generic", action=action, look_first=True) as first:
                response = first.response
                status = response.status_code
                if status == 200:
                    header: str = response.headers.get("x-checksum-sha256", "").strip().lower()
                    if SHA256_RE.match(header):
                        return header
                    return self._hash_body(first, max_bytes)
                redirected = response.is_redirect
                if not redirected:
                    body, _ = read_capped(response, ERROR_BODY_LIMIT, self._body_deadline)
        except httpx.TransportError as exc:
            raise self._retry_transport(exc) from None
        if redirected:  # object storage: GitLab said the file exists, and sent no checksum
            return self._package_file_sha256("generic", *where) or self._stream_sha256(
                url, "generic", action, max_bytes
            )
        if status == 404:
            data = json_object(body)
            message = data.get("message") if data else None
            if isinstance(message, str) and "not found" in message.lower():
                return None
            if data is None:
                raise not_gitlab_error(
                    url, "a 404 that is not GitLab's JSON", status=404, credentials=self.credentials
                )
            raise self._error(response, body, action)
        if is_retryable_status(status):
            raise self._retry_status(response, body, action)
        raise self._error(response, body, action)

    def generic_file_state(
        self, package: str, version: str, filename: str, sha256: str
    ) -> FileState:
        """What the generic registry holds under ``filename``, compared with ``sha256``."""
        existing = self.generic_file_sha256(package, version, filename)
        if existing is None:
            return FileState(Held.ABSENT)
        return FileState(Held.SAME if existing == sha256 else Held.OTHER, existing)

    def _generic_state(self, package: str, version: str, filename: str, sha256: str) -> State:
        state = self.generic_file_state(package, version, filename, sha256)
        if state.held is Held.ABSENT:
            return "absent"
        if state.held is Held.SAME:
            return "same"
        raise self._conflict("generic", package, version, filename, sha256, state)

    # -- the Packages API -------------------------------------------------------------------------

    def _package_file_sha256(
        self, package_type: str, name: str, version: str, filename: str
    ) -> str | None:
        """``file_sha256`` of the newest installable ``filename`` in the package ``name``
        ``version`` (what GitLab's download routes serve), from the Packages API
        (``lib/api/project_packages.rb``, ``lib/api/package_files.rb``); ``None`` when the API
        cannot tell (the caller then streams the file)."""
        try:
            packages = self._api_list(
                f"{self.project_api_url}/packages",
                {"package_type": package_type, "package_name": name, "package_version": version},
            )
            # package_name is a case-insensitive substring filter: compare exactly here; the
            # download routes serve only packages in the default status
            ids = [
                p["id"]
                for p in packages
                if p.get("name") == name and p.get("version") == version
                and p.get("status", "default") == "default" and isinstance(p.get("id"), int)
            ]  # fmt: skip
            newest_id, sha = -1, None
            for package_id in ids:
                for entry in self._api_list(
                    f"{self.project_api_url}/packages/{package_id}/package_files", {}
                ):
                    file_id = entry.get("id")
                    # the newest duplicate is the one the download routes serve
                    if (
                        entry.get("file_name") == filename
                        and isinstance(file_id, int)
                        and file_id > newest_id
                    ):
                        newest_id, sha = file_id, entry.get("file_sha256")
        except _UnavailableError:
            return None
        return sha.lower() if isinstance(sha, str) and SHA256_RE.match(sha.lower()) else None

    def _api_list(self, url: str, params: Mapping[str, str]) -> list[dict[str, object]]:
        """Every entry of a paginated Packages API list, following ``X-Next-Page`` on the URL
        we were given (its ``Link`` header is built on the instance's external_url)."""
        if self.credentials.api_headers() is None:
            raise _UnavailableError
        out: list[dict[str, object]] = []
        page = "1"
        for _ in range(_API_PAGES):
            query = urlencode({**params, "per_page": "100", "page": page})
            action = "asking the Packages API for a file's sha256"
            try:
                response, body = self._get(
                    f"{url}?{query}", route="api", action=action, limit=4 * 1024 * 1024
                )
            except RegistryError:
                raise _UnavailableError from None
            entries = json_list(body) if response.status_code == 200 else None
            if entries is None:
                raise _UnavailableError  # 401/403/404 (credentials the API ignores) or not JSON
            out += [entry for entry in entries if isinstance(entry, dict)]
            page = response.headers.get("x-next-page", "").strip()
            if not DIGITS_RE.match(page):
                return out
        raise _UnavailableError
