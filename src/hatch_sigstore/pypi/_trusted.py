"""Trusted publishing: a GitLab ID token exchanged for a short-lived upload token.

Exactly what warehouse expects (``warehouse/oidc/views.py``): ``GET /_/oidc/audience`` says which
audience the ID token must carry (``pypi`` on PyPI, ``testpypi`` on TestPyPI); ``POST
/_/oidc/mint-token`` with ``{"token": "<ID token>"}`` answers ``{"success": true, "token":
"pypi-…", "expires": N}``, a token for the projects of the matching publisher that lives 900
seconds, or 422 with the reasons. Each ID token can be exchanged once (its ``jti``): after a
failure that may have reached the index (a reset, a timeout, a 5xx) a retry either gets the
token or is refused as "already used", which is no worse than giving up, so every transient
failure is retried, and that refusal is explained as a lost answer.
"""

from __future__ import annotations

import json

import httpx

from hatch_sigstore._net._http import json_object, read_capped
from hatch_sigstore._net._retry import is_retryable_status
from hatch_sigstore.pypi._core import IndexCore
from hatch_sigstore.pypi._errors import PyPIError, exchange_error
from hatch_sigstore.pypi._token import IDToken, UploadToken

__all__ = ["TrustedPublishing"]

_SMALL = 64 * 1024


class TrustedPublishing(IndexCore):
    """The token-exchange half of :class:`~hatch_sigstore.pypi.IndexClient`."""

    def _refused(self, response: httpx.Response, body: bytes, project: str | None) -> PyPIError:
        return exchange_error(
            response.status_code,
            response.reason_phrase,
            response.headers,
            body,
            self._context(project=project),
        )

    def audience(self, *, project: str | None = None) -> str:
        """The audience the index wants in ID tokens (``GET /_/oidc/audience``)."""
        url = self.urls.audience_url
        action = "asking the index for its trusted-publishing audience"
        response, body = self._get(url, action=action, limit=_SMALL, accept="application/json")
        data = json_object(body) if response.status_code == 200 else None
        audience = data.get("audience") if data else None
        if not isinstance(audience, str) or not audience:
            raise self._refused(response, body, project)
        return audience

    def exchange(self, id_token: IDToken, *, project: str | None = None) -> UploadToken:
        """Exchange ``id_token`` for an upload token, which this client then sends.

        ``project`` (the dists' name) only makes messages name the right settings page."""
        self.id_token = id_token  # redacted from every message from now on
        id_token.check(self.audience(project=project))
        url = self.urls.mint_token_url
        action = "exchanging the ID token for an upload token"
        payload = json.dumps({"token": id_token.value}).encode()

        def attempt() -> tuple[httpx.Response, bytes]:
            try:
                with self._http.stream(
                    "POST",
                    url,
                    content=payload,
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                ) as response:
                    body, _ = read_capped(response, _SMALL, self._body_deadline)
            except httpx.TransportError as exc:
                raise self._retry_transport(exc) from None
            status = response.status_code
            if is_retryable_status(status):
                raise self._status_retry(response, self._refused(response, body, project))
            return response, body

        response, body = self._retrying(attempt, action, url)
        data = json_object(body) if response.status_code == 200 else None
        token = data.get("token") if data else None
        if not isinstance(token, str) or not token.startswith("pypi-"):
            if response.status_code == 200:
                raise PyPIError(
                    f"{self.urls.name} answered the token exchange with 200 but no pypi-… token.",
                    remediation="Check the index URL: this is not a warehouse instance.",
                    status=200,
                )
            raise self._refused(response, body, project)
        expires = data.get("expires") if data else None
        self.token = UploadToken(
            token,
            "trusted-publishing",
            id_token.source,
            float(expires) if isinstance(expires, (int, float)) else None,
        )
        return self.token
