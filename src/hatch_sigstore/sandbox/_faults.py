"""Which faults the registry stand-ins inject: scripted (``plan``) and random (``random``) ones.

The plan lives here; :mod:`hatch_sigstore.sandbox._faulty_handler` applies it to requests.

Kinds:
* ``status``: answer ``status`` (after reading and discarding the body) without doing anything;
* ``reset``: read part of the body (``after_bytes``, default half of it), then reset the TCP
  connection without answering;
* ``stored_then_502``: do the request for real (store the upload), then answer 502;
* ``store_after_502``: read the whole body, answer 502 at once (a proxy that timed out), then
  do the request for real ``seconds`` later (default 1): GitLab still storing a slow upload;
* ``latency``: sleep ``seconds`` before handling the request (combines with the others).
"""

from __future__ import annotations

import random as _random
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["KINDS", "Fault", "FaultInjector", "InjectedFault"]

FaultKind = Literal["status", "reset", "stored_then_502", "store_after_502", "latency"]
KINDS: tuple[str, ...] = ("status", "reset", "stored_then_502", "store_after_502", "latency")
_ANSWER_502 = frozenset({"stored_then_502", "store_after_502"})
DEFAULT_STORE_DELAY = 1.0

_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int = 502
    seconds: float = 0.0
    after_bytes: int | None = None
    retry_after: str | None = None
    body: bytes | None = None
    content_type: str | None = None

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """What a status fault (or the 502 of stored_then_502) sends, GitLab/nginx-like."""
        status = 502 if self.kind in _ANSWER_502 else self.status
        headers: dict[str, str] = {}
        if self.body is not None:
            body = self.body
            ctype = self.content_type or "application/octet-stream"
        elif status == 429:
            body, ctype = b"Retry later\n", "text/plain"  # Rack::Attack
        elif status in (502, 503, 504):  # nginx in front of Workhorse/Puma
            reason = _REASONS[status]
            body = (
                f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
                f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                "</body>\r\n</html>\r\n"
            ).encode()
            ctype = "text/html"
        else:
            reason = _REASONS.get(status, "Error")
            body = f'{{"message":"{status} {reason}"}}'.encode()
            ctype = "application/json"
        headers["Content-Type"] = ctype
        retry_after = self.retry_after
        if retry_after is None and status in (429, 503):
            retry_after = "1"
        if retry_after is not None and retry_after != "":
            headers["Retry-After"] = retry_after
        return status, headers, body


@dataclass(frozen=True)
class InjectedFault:
    """One fault that was applied: for assertions and debugging."""

    method: str
    path: str
    kind: str
    status: int | None


@dataclass
class _Plan:
    fault: Fault
    remaining: int | None  # None: forever
    path_contains: str | None
    method: str | None

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_contains is None or self.path_contains in path


@dataclass
class _Random:
    rate: float
    rng: _random.Random
    kinds: tuple[str, ...]
    statuses: tuple[int, ...]
    path_contains: str | None
    method: str | None
    seconds: float
    retry_after: str | None


class FaultInjector:
    """Thread-safe store of planned faults; the handler asks it once per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: list[_Plan] = []
        self._random: _Random | None = None
        self.injected: list[InjectedFault] = []

    def plan(
        self,
        kind: str,
        *,
        times: int | None = 1,
        path_contains: str | None = None,
        method: str | None = None,
        status: int = 502,
        seconds: float = 0.0,
        after_bytes: int | None = None,
        retry_after: str | int | float | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> None:
        """Inject ``kind`` into the next ``times`` matching requests (``times=None``: all)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {KINDS}")
        if kind == "latency" and seconds <= 0:
            raise ValueError("a latency fault needs seconds > 0")
        fault = Fault(
            kind,
            status=status,
            seconds=seconds,
            after_bytes=after_bytes,
            retry_after=None if retry_after is None else str(retry_after),
            body=body,
            content_type=content_type,
        )
        with self._lock:
            self._plans.append(_Plan(fault, times, path_contains, method))

    def random(
        self,
        rate: float = 0.3,
        seed: int | None = None,
        kinds: Iterable[str] = ("status", "reset", "stored_then_502"),
        *,
        statuses: Iterable[int] = (500, 502, 503, 429),
        path_contains: str | None = None,
        method: str | None = None,
        seconds: float = 0.05,
        retry_after: str | int | None = "0",
    ) -> None:
        """Fail each matching request with probability ``rate`` (a seeded, reproducible draw).

        ``retry_after`` is sent on 429/503 (default ``"0"`` keeps tests fast).
        """
        kinds = tuple(kinds)
        for kind in kinds:
            if kind not in KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; expected one of {KINDS}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        with self._lock:
            self._random = _Random(
                rate,
                _random.Random(seed),  # noqa: S311 - reproducible test faults, not crypto
                kinds,
                tuple(statuses),
                path_contains,
                method,
                seconds,
                None if retry_after is None else str(retry_after),
            )

    def clear(self) -> None:
        """Remove every planned and random fault (the ``injected`` history is kept)."""
        with self._lock:
            self._plans.clear()
            self._random = None

    @property
    def pending(self) -> int:
        """How many scripted faults are still to fire (``times=None`` plans count as 1)."""
        with self._lock:
            return sum(1 if p.remaining is None else max(p.remaining, 0) for p in self._plans)

    def pick(self, method: str, path: str) -> tuple[float, Fault | None]:
        """Latency (seconds) and at most one terminal fault for this request."""
        latency = 0.0
        terminal: Fault | None = None
        with self._lock:
            for plan in self._plans:
                if not plan.matches(method, path):
                    continue
                if plan.fault.kind == "latency":
                    latency += plan.fault.seconds
                elif terminal is None:
                    terminal = plan.fault
                else:
                    continue
                if plan.remaining is not None:
                    plan.remaining -= 1
            self._plans = [p for p in self._plans if p.remaining is None or p.remaining > 0]
            rnd = self._random
            if (
                terminal is None
                and rnd is not None
                and (rnd.method is None or rnd.method.upper() == method)
                and (rnd.path_contains is None or rnd.path_contains in path)
                and rnd.kinds
                and rnd.rng.random() < rnd.rate
            ):
                kind = rnd.rng.choice(rnd.kinds)
                if kind == "latency":
                    latency += rnd.seconds
                else:
                    status = rnd.rng.choice(rnd.statuses) if rnd.statuses else 502
                    terminal = Fault(
                        kind, status=status, retry_after=rnd.retry_after, seconds=rnd.seconds
                    )
            if terminal is not None:
                status_out = 502 if terminal.kind in _ANSWER_502 else terminal.status
                shown = None if terminal.kind == "reset" else status_out
                self.injected.append(InjectedFault(method, path, terminal.kind, shown))
            elif latency:
                self.injected.append(InjectedFault(method, path, "latency", None))
        return latency, terminal
