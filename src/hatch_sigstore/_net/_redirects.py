"""Following redirects by hand, one policy for both registry clients: every hop is checked.

GitLab answers a file download with a redirect to a pre-signed object-storage URL whenever the
file is in object storage and ``proxy_download`` is off, the default (``present_carrierwave_file!``
in gitlab-org/gitlab ``lib/api/helpers.rb``; gitlab.com keeps package files in Google Cloud
Storage); a PyPI-compatible index may redirect to its file host. httpx's own
``follow_redirects`` drops only ``Authorization`` on the way and keeps ``JOB-TOKEN``/
``PRIVATE-TOKEN``; an object store refuses a pre-signed URL that comes with any credential (S3
and GCS: 400 "Only one auth mechanism allowed") and S3 echoes the value in its error body. So
every hop is made here: at most :data:`~hatch_sigstore._urls.MAX_REDIRECTS`, each target checked
by :func:`~hatch_sigstore._urls.redirect_refusal` (https only; plain http only within a loopback
sandbox) and by the caller's own rule if it has one (the hosts an index may fetch from), no
loops, no cookies (the client's jar keeps none), and credentials sent only while every URL so
far was on a home origin, never again once the chain left them. Integrity does not depend on
where the bytes came from: the index's sha256 and the signature decide.

Messages name the service (:class:`Service`: "GitLab", "the index …") and the setting to check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin

import httpx

from hatch_sigstore._urls import (
    MAX_REDIRECTS,
    origin,
    redirect_refusal,
    same_origin,
    without_credentials,
)
from hatch_sigstore.errors import RegistryError

__all__ = ["Followed", "Service", "follow"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Service:
    """Who redirects, for messages: ``name`` ("GitLab"), ``setting`` (what the user checks:
    "the API URL"), ``storage_hint`` (what its administrator can change, if anything)."""

    name: str
    setting: str
    storage_hint: str = ""


@dataclass(frozen=True)
class Followed:
    """The final answer of a redirect chain. ``home``: it came from a home origin without the
    chain ever leaving one (the registry itself answered); ``hops``: redirects followed."""

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
    service: Service,
    redact: Callable[[str], str] = lambda text: text,
    refuse: Callable[[str], str | None] | None = None,
    max_redirects: int = MAX_REDIRECTS,
    stop_at_redirect: bool = False,
) -> Iterator[Followed]:
    """GET ``url`` streamed, following redirects safely; yields the final :class:`Followed`.

    ``headers`` (credentials included) go only to URLs on an origin in ``home`` and only
    while the chain has not left them. ``api_url``: the registry's own URL (plain http is
    followed only when it is plain http on loopback, and only to loopback). ``refuse``: the
    caller's own rule for every target (why it must not be fetched, or ``None``). Raises
    :class:`RegistryError` for a refused target, a loop or too many hops; transport errors
    propagate as httpx raises them. ``stop_at_redirect``: yield the first redirect itself (its
    body unread), to look first.
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
                f"check {service.setting}.",
            ) from None
        with contextlib.ExitStack() as close:
            close.push(stream)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or location is None or stop_at_redirect:
                yield Followed(response, current, at_home, hops)
                return
        # A redirect's body is never read (GitLab's is "This resource has been moved").
        target = urldefrag(urljoin(current, location.strip()))[0]
        if hops >= max_redirects:
            raise RegistryError(
                redact(
                    f"Too many redirects while {action}: more than {max_redirects} hops from "
                    f"{origin(url)}, the last to {origin(target)}."
                ),
                remediation=f"{service.name} redirects a download once or twice (to its object "
                "storage or file host); a longer chain is a misconfigured proxy or a hostile "
                f"server. Check {service.setting}.",
            )
        refusal = redirect_refusal(target, api_url=api_url)
        if refusal is not None:
            raise RegistryError(
                redact(
                    f"{origin(current)} redirected {action} to {origin(target)}, {refusal}; "
                    "refusing to follow."
                ),
                remediation=f"{service.name} must send downloads over https; plain http is "
                f"followed only within a local sandbox ({service.setting} plain http on a "
                f"loopback address). {service.storage_hint}".strip(),
            )
        own = refuse(target) if refuse is not None else None
        if own is not None:
            raise RegistryError(
                redact(
                    f"{origin(current)} redirected {action} to {origin(target)}, {own}; "
                    "refusing to follow."
                ),
                remediation=f"Check {service.setting}.",
            )
        if target in seen:
            raise RegistryError(
                redact(
                    f"A redirect loop while {action}: {origin(current)} sent the request back "
                    f"to a URL of {origin(target)} it had already visited."
                ),
                remediation="The server or a proxy in front of it is misconfigured; check "
                f"{service.setting}.",
            )
        seen.add(target)
        if at_home and not any(same_origin(target, h) for h in home):
            at_home = False  # and never again: credentials do not come back along a chain
            send = without_credentials(send.items())
        current = target
        hops += 1
