"""Warehouse's answers in the PyPI stand-in: its error pages, reason phrases and JSON bodies.

Warehouse answers errors with Pyramid ``HTTPException`` pages whose *reason phrase* carries the
message (``warehouse/forklift/utils.py`` ``_exc_with_message``): ``HTTP/1.1 400 File already
exists (…)``. twine and pip print that phrase, so it is modelled exactly; the body follows
Pyramid's default templates (``pyramid/httpexceptions.py``), chosen by ``Accept``.
"""

from __future__ import annotations

import contextlib
import json

from hatch_sigstore.sandbox._wire import Request, Response

__all__ = ["HTTPError", "PyPIRequest", "json_response", "negotiate", "pyramid_response"]

PyPIRequest = Request[None]  # the PyPI stand-in's routes get the index's state themselves


# (title, explanation) of the Pyramid HTTPException classes warehouse raises
_PYRAMID = {
    200: ("OK", ""),
    308: ("Permanent Redirect", "The resource has been moved to"),
    400: (
        "Bad Request",
        "The server could not comply with the request since it is either malformed or "
        "otherwise incorrect.",
    ),
    403: ("Forbidden", "Access was denied to this resource."),
    404: ("Not Found", "The resource could not be found."),
    405: ("Method Not Allowed", "The method is not allowed for this resource."),
    406: ("Not Acceptable", "The server could not accept the request."),
    410: ("Gone", "This resource is no longer available.  No forwarding address is given."),
    422: ("Unprocessable Entity", "Unable to process the contained instructions"),
    429: (
        "Too Many Requests",
        "The action could not be performed because there were too many requests by the client.",
    ),
    500: (
        "Internal Server Error",
        "The server has either erred or is incapable of performing the requested operation.",
    ),
}


class HTTPError(Exception):
    """Ends a request with a Pyramid HTTPException; ``with_reason`` puts ``detail`` in the
    status line as ``_exc_with_message`` does."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        with_reason: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail
        self.with_reason = with_reason
        self.headers = headers or {}


def _accepts(accept: str, offer: str) -> float:
    """The quality the ``Accept`` header gives ``offer`` (most specific range wins)."""
    best: tuple[int, float] = (-1, 0.0)
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";")]
        mtype = parts[0].lower()
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                with contextlib.suppress(ValueError):
                    q = float(value)
        if mtype == offer:
            specificity = 2
        elif mtype.endswith("/*") and offer.startswith(mtype[:-1]):
            specificity = 1
        elif mtype == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best[0]:
            best = (specificity, q)
    return best[1]


def negotiate(accept: str | None, offers: list[str]) -> list[str]:
    """WebOb's ``acceptable_offers``: the offers with q > 0, best first, ties in offer
    order. No (or an empty) ``Accept`` header accepts every offer."""
    if not accept or not accept.strip():
        return list(offers)
    scored = [(o, _accepts(accept, o)) for o in offers]
    ranked = sorted((s for s in scored if s[1] > 0), key=lambda s: -s[1])
    return [o for o, _ in ranked]


def pyramid_response(
    status: int,
    detail: str = "",
    *,
    accept: str | None,
    reason: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A Pyramid HTTPException's default page (``HTTPException.prepare``)."""
    title, explanation = _PYRAMID.get(status, ("Error", ""))
    status_line = f"{status} {reason if reason is not None else title}"
    # no Accept header: WebOb reads "" (no acceptable type), so the plain-text page
    offers = negotiate(accept, ["text/html", "application/json"]) if accept else []
    match = offers[0] if offers else "text/plain"
    if match == "text/html":
        import html

        body = f"{html.escape(explanation)}<br/><br/>\n{html.escape(detail)}\n\n"
        page = (
            f"<html>\n <head>\n  <title>{status_line}</title>\n </head>\n <body>\n"
            f"  <h1>{status_line}</h1>\n  {body}\n </body>\n</html>"
        ).encode()
        ctype = "text/html; charset=UTF-8"
    elif match == "application/json":
        body = f"{explanation}\n\n\n{detail}\n\n"
        page = json.dumps({"message": body, "code": status_line, "title": title}).encode()
        ctype = "application/json"
    else:
        body = f"{explanation}\n\n\n{detail}\n\n"
        page = f"{status_line}\n\n{body}".encode()
        ctype = "text/plain; charset=UTF-8"
    return Response(status, {"Content-Type": ctype, **(headers or {})}, page, reason=reason)


def json_response(
    status: int, payload: object, *, headers: dict[str, str] | None = None, newline: bool = False
) -> Response:
    """Pyramid's ``json`` renderer (``json-with-newline`` adds a final newline)."""
    body = json.dumps(payload).encode() + (b"\n" if newline else b"")
    return Response(status, {"Content-Type": "application/json", **(headers or {})}, body)
