"""Retrying: which failures are worth another try, how long to wait, and the one retry loop.

Transient: connection errors, 429 (honouring ``Retry-After``, capped), 5xx except 501/505.
Bounded by a number of attempts *and* a total time budget; exponential backoff with full jitter
from a seedable RNG so tests are deterministic. Every request the client retries goes through
:func:`retrying`: an attempt raises :class:`Retry` for a transient failure and the loop decides
whether to wait and try again. No httpx here: the client classifies exceptions.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "Backoff",
    "Retry",
    "RetryPolicy",
    "is_retryable_status",
    "parse_retry_after",
    "retrying",
]

_T = TypeVar("_T")

_NOT_TRANSIENT_5XX = frozenset({501, 505})


def is_retryable_status(status: int) -> bool:
    """429, 408 and 5xx (but not 501 Not Implemented / 505 HTTP Version Not Supported)."""
    return status in (408, 429) or (500 <= status <= 599 and status not in _NOT_TRANSIENT_5XX)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait for a ``Retry-After`` (delta-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if not text.isascii():
        return None
    if text.isdigit():
        return float(min(int(text), 10**9))
    try:
        seconds = float(text) if "_" not in text else math.nan
    except ValueError:
        seconds = math.nan
    if math.isfinite(seconds):
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` extra attempts after the first, within ``total_time`` seconds overall."""

    retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    total_time: float = 300.0
    max_retry_after: float = 60.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries must be >= 0")
        if self.base_delay < 0 or self.max_delay < 0 or self.total_time < 0:
            raise ValueError("delays must be >= 0")

    def backoff(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> Backoff:
        return Backoff(self, clock=clock, rng=rng or random.Random(self.seed))  # noqa: S311


class Backoff:
    """State of one operation's retries: call :meth:`next_delay` after each failed attempt."""

    def __init__(
        self, policy: RetryPolicy, *, clock: Callable[[], float], rng: random.Random
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._rng = rng
        self._start = clock()
        self.failures = 0
        self.last_reason = ""

    @property
    def elapsed(self) -> float:
        return self._clock() - self._start

    def next_delay(self, *, retry_after: float | None = None, reason: str = "") -> float | None:
        """Seconds to sleep before the next attempt, or ``None``: give up.

        ``retry_after`` (from a 429/503) is honoured when it fits: above ``max_retry_after`` or
        beyond the time budget we give up rather than hang.
        """
        self.failures += 1
        self.last_reason = reason
        policy = self.policy
        if self.failures > policy.retries:
            return None
        remaining = policy.total_time - self.elapsed
        if retry_after is not None:
            if retry_after > policy.max_retry_after or retry_after > remaining:
                return None
            # A little jitter on top so that many clients told the same time do not stampede.
            return retry_after + self._rng.uniform(0, min(1.0, policy.base_delay))
        cap = min(policy.max_delay, policy.base_delay * (2 ** (self.failures - 1)))
        delay = self._rng.uniform(cap / 2, cap)  # "equal jitter": never zero, never above cap
        if delay > remaining:
            return None
        return delay


class Retry(Exception):  # noqa: N818 - a signal to the retry loop, not an error to report
    """One attempt failed transiently. ``error`` is the registry's answer (for a status),
    ``exc`` the transport failure; ``permanent`` says no retry can fix it (TLS, a bad URL)."""

    def __init__(
        self,
        *,
        reason: str,
        retry_after: float | None = None,
        error: Exception | None = None,
        exc: BaseException | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.error = error
        self.exc = exc
        self.permanent = permanent


def retrying(
    policy: RetryPolicy,
    attempt: Callable[[], _T],
    give_up: Callable[[Retry, int], _T],
    *,
    sleep: Callable[[float], None] = time.sleep,
    end: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> _T:
    """Call ``attempt`` until it returns, waiting between tries as ``policy`` allows.

    ``attempt`` raises :class:`Retry` for a transient failure (anything else propagates). When
    no further try is allowed (attempts or time budget used up, a ``Retry-After`` too long, a
    permanent failure, or the wait would pass ``end`` on ``clock``), ``give_up(retry, tries)``
    decides: it raises the error to report, or returns a result after all (say, after asking
    the registry whether an ambiguous upload did land).
    """
    backoff = policy.backoff(clock=clock)
    while True:
        try:
            return attempt()
        except Retry as retry:
            delay = (
                None
                if retry.permanent
                else backoff.next_delay(retry_after=retry.retry_after, reason=retry.reason)
            )
            if delay is not None and end is not None and clock() + delay >= end:
                delay = None
            if delay is None:
                return give_up(retry, backoff.failures)
            sleep(delay)
