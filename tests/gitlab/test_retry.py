"""Retry policy: what is transient, how long we wait, and that we always stop."""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hatch_sigstore._net._retry import (
    Retry,
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
    retrying,
)


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (200, False),
        (201, False),
        (302, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (413, False),
        (422, False),
        (429, True),
        (500, True),
        (501, False),
        (502, True),
        (503, True),
        (504, True),
        (505, False),
        (599, True),
    ],
)
def test_retryable_statuses(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("0", 0.0),
        ("7", 7.0),
        (" 12 ", 12.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        ("Wed, 99 Foo 2015 07:28:00 GMT", None),
        ("99999999999999999999999", 1e9),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    got = parse_retry_after(value, now=NOW)
    if seconds is None:
        assert got is None
    else:
        assert got == pytest.approx(seconds, abs=1.0)


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises(value: str) -> None:
    got = parse_retry_after(value, now=NOW)
    assert got is None or got >= 0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("retries", [0, 1, 3, 5])
def test_bounded_attempts(retries: int) -> None:
    clock = FakeClock()
    backoff = RetryPolicy(retries=retries, base_delay=0.1, total_time=1e6).backoff(clock=clock)
    delays = []
    while (delay := backoff.next_delay()) is not None:
        delays.append(delay)
        clock.now += delay
    assert len(delays) == retries


def test_exponential_with_jitter_capped() -> None:
    policy = RetryPolicy(retries=10, base_delay=1.0, max_delay=8.0, total_time=1e6, seed=4)
    backoff = policy.backoff(clock=FakeClock())
    delays = [backoff.next_delay() for _ in range(10)]
    caps = [1, 2, 4, 8, 8, 8, 8, 8, 8, 8]
    for delay, cap in zip(delays, caps, strict=True):
        assert delay is not None
        assert cap / 2 <= delay <= cap


def test_seeded_jitter_is_deterministic_and_varies_without_seed() -> None:
    def run(policy: RetryPolicy) -> list[float | None]:
        backoff = policy.backoff(clock=FakeClock())
        return [backoff.next_delay() for _ in range(5)]

    assert run(RetryPolicy(seed=1, total_time=1e6)) == run(RetryPolicy(seed=1, total_time=1e6))
    assert run(RetryPolicy(seed=1, total_time=1e6)) != run(RetryPolicy(seed=2, total_time=1e6))
    rng = random.Random(9)
    a = RetryPolicy(total_time=1e6).backoff(clock=FakeClock(), rng=rng)
    assert a.next_delay() is not None


def test_total_time_budget_stops_retries() -> None:
    clock = FakeClock()
    backoff = RetryPolicy(retries=100, base_delay=1.0, max_delay=1.0, total_time=10.0).backoff(
        clock=clock
    )
    count = 0
    while (delay := backoff.next_delay()) is not None:
        clock.now += delay + 0.5  # the attempt itself takes time too
        count += 1
    assert clock.now <= 10.0 + 1.5
    assert 5 <= count <= 10


@pytest.mark.parametrize(
    ("retry_after", "expect_wait"),
    [(0.0, True), (3.0, True), (59.0, True), (61.0, False), (10_000.0, False)],
)
def test_retry_after_is_honoured_or_we_give_up(retry_after: float, expect_wait: bool) -> None:
    policy = RetryPolicy(retries=3, max_retry_after=60.0, total_time=300.0, base_delay=0.5)
    backoff = policy.backoff(clock=FakeClock())
    delay = backoff.next_delay(retry_after=retry_after)
    if expect_wait:
        assert delay is not None
        assert retry_after <= delay <= retry_after + 0.5
    else:
        assert delay is None


def test_retry_after_beyond_remaining_budget_gives_up() -> None:
    clock = FakeClock()
    backoff = RetryPolicy(retries=3, total_time=10.0).backoff(clock=clock)
    clock.now = 8.0
    assert backoff.next_delay(retry_after=5.0) is None


@pytest.mark.parametrize("bad", [{"retries": -1}, {"base_delay": -1.0}, {"total_time": -2.0}])
def test_policy_validation(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RetryPolicy(**bad)  # type: ignore[arg-type]


# -- the one retry loop ------------------------------------------------------------------------


def _attempts(*results: object) -> tuple[list[int], Callable[[], str]]:
    """An attempt that raises or returns ``results`` in turn; the list counts the calls."""
    calls: list[int] = []

    def attempt() -> str:
        calls.append(len(calls))
        result = results[len(calls) - 1]
        if isinstance(result, BaseException):
            raise result
        return str(result)

    return calls, attempt


def _give_up(retry: Retry, tries: int) -> str:
    raise RuntimeError(f"gave up after {tries}: {retry.reason}")


def test_retrying_waits_between_transient_failures_then_returns() -> None:
    sleeps: list[float] = []
    calls, attempt = _attempts(Retry(reason="HTTP 502"), Retry(reason="reset"), "done")
    policy = RetryPolicy(retries=5, base_delay=0.1, seed=1)
    assert retrying(policy, attempt, _give_up, sleep=sleeps.append) == "done"
    assert len(calls) == 3
    assert len(sleeps) == 2
    assert all(0.05 <= s <= 0.2 for s in sleeps)


def test_retrying_gives_up_after_the_attempts_allowed() -> None:
    calls, attempt = _attempts(*[Retry(reason=f"HTTP 50{i}") for i in range(4)])
    with pytest.raises(RuntimeError, match="gave up after 3: HTTP 502"):
        retrying(RetryPolicy(retries=2, base_delay=0), attempt, _give_up, sleep=lambda _: None)
    assert len(calls) == 3


def test_retrying_never_retries_a_permanent_failure_nor_other_errors() -> None:
    calls, attempt = _attempts(Retry(reason="TLS", permanent=True))
    with pytest.raises(RuntimeError, match="gave up after 0: TLS"):
        retrying(RetryPolicy(), attempt, _give_up, sleep=lambda _: None)
    assert len(calls) == 1
    calls, attempt = _attempts(ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        retrying(RetryPolicy(), attempt, _give_up, sleep=lambda _: None)
    assert len(calls) == 1


def test_retrying_stops_before_a_wait_would_pass_the_end() -> None:
    now = [100.0]
    calls, attempt = _attempts(Retry(reason="HTTP 503", retry_after=5.0), "late")
    with pytest.raises(RuntimeError, match="gave up after 1"):
        retrying(
            RetryPolicy(), attempt, _give_up, sleep=lambda _: None, end=103.0, clock=lambda: now[0]
        )
    assert len(calls) == 1


def test_give_up_may_return_a_result_after_all() -> None:
    _, attempt = _attempts(Retry(reason="HTTP 502"))
    result = retrying(
        RetryPolicy(retries=0), attempt, lambda retry, tries: "stored", sleep=lambda _: None
    )
    assert result == "stored"
