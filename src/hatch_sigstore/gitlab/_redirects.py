"""Following redirects by hand: credentials stay on their origins, every hop is checked.

GitLab answers a file download with a redirect to a pre-signed object-storage URL whenever the
file is in object storage and ``proxy_download`` is off, the default (``present_carrierwave_file!``
in gitlab-org/gitlab ``lib/api/helpers.rb``; gitlab.com keeps package files in Google Cloud
Storage). httpx's own ``follow_redirects`` drops only ``Authorization`` on the way and keeps
``JOB-TOKEN``/``PRIVATE-TOKEN``; an object store refuses a pre-signed URL that comes with any
credential (S3 and GCS: 400 "Only one auth mechanism allowed") and S3 echoes the value in its
error body. So every hop is made here: at most :data:`~hatch_sigstore._urls.MAX_REDIRECTS`,
each target checked by :func:`~hatch_sigstore._urls.redirect_refusal`, credentials sent only
while every URL so far was on a home origin, never again once the chain left them. Integrity
does not depend on where the bytes came from: the index's sha256 and the signature decide.

Written against a bare ``httpx.Client`` so that a second registry client can use it as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin

import httpx

from hatch_sigstore._net._base import no_cookies
from hatch_sigstore._urls import (
    MAX_REDIRECTS,
    origin,
    redirect_refusal,
    same_origin,
    without_credentials,
)
from hatch_sigstore.errors import RegistryError

__all__ = ["Followed", "follow", "no_cookies"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Followed:
    """The final answer of a redirect chain. ``home``: it came from a home origin without the
    chain ever leaving one (GitLab itself answered); ``hops``: redirects followed."""

    response: httpx.Response
    url: str
    home: bool
    hops: int


@contextlib.contextmanager
def follow(
    http: httpx.Client,
    url: str,
    *,
    headers: Mapping[str, str],
    home: Sequence[str],
    api_url: str,
    action: str,
    redact: Callable[[str], str] = lambda text: text,
    max_redirects: int = MAX_REDIRECTS,
    stop_at_redirect: bool = False,
) -> Iterator[Followed]:
    """GET ``url`` streamed, following redirects safely; yields the final :class:`Followed`.

    ``headers`` (credentials included) go only to URLs on an origin in ``home`` and only
    while the chain has not left them. Raises :class:`RegistryError` for a refused target, a
    loop or too many hops; transport errors propagate as httpx raises them.
    ``stop_at_redirect``: yield the first redirect itself (its body unread), to look first.
    """
    at_home = any(same_origin(url, h) for h in home)
    send = dict(headers) if at_home else without_credentials(headers.items())
    current = url
    seen = {urldefrag(url)[0]}
    hops = 0
    while True:
        try:
            stream = http.stream("GET", current, headers=send)
            response = stream.__enter__()
        except httpx.InvalidURL:
            # httpx parses a redirect's Location even when not following it
            raise RegistryError(
                redact(
                    f"{origin(current)} redirected {action} to a location that is not a usable "
                    "URL; refusing to follow."
                ),
                remediation="The server or a proxy in front of it is misconfigured or hostile; "
                "check the API URL.",
            ) from None
        with contextlib.ExitStack() as close:
            close.push(stream)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or location is None or stop_at_redirect:
                yield Followed(response, current, at_home, hops)
                return
        # The redirect's body is never read: it is GitLab's "This resource has been moved".
        target = urldefrag(urljoin(current, location.strip()))[0]
        if hops >= max_redirects:
            raise RegistryError(
                redact(
                    f"Too many redirects while {action}: more than {max_redirects} hops from "
                    f"{origin(url)}, the last to {origin(target)}."
                ),
                remediation="GitLab redirects a download once, to its object storage; a longer "
                "chain is a misconfigured proxy or a hostile server. Check the API URL.",
            )
        refusal = redirect_refusal(target, api_url=api_url)
        if refusal is not None:
            raise RegistryError(
                redact(
                    f"{origin(current)} redirected {action} to {origin(target)}, {refusal}; "
                    "refusing to follow."
                ),
                remediation="GitLab sends downloads to its object storage over https; plain "
                "http is followed only within a local sandbox (an http API URL on a loopback "
                "address). An administrator can give the object storage an https endpoint, or "
                "turn on proxy_download.",
            )
        if target in seen:
            raise RegistryError(
                redact(
                    f"A redirect loop while {action}: {origin(current)} sent the request back "
                    f"to a URL of {origin(target)} it had already visited."
                ),
                remediation="The server or a proxy in front of it is misconfigured; check the "
                "API URL.",
            )
        seen.add(target)
        if at_home and not any(same_origin(target, h) for h in home):
            at_home = False  # and never again: credentials do not come back along a chain
            send = without_credentials(send.items())
        current = target
        hops += 1
