"""Throttler: a sliding window, deterministic under a TestClock."""

from __future__ import annotations

import pytest

from livenode.config import parse_rate
from livenode.core.clock import TestClock
from livenode.engines.throttler import Throttler

SEC = 1_000_000_000


def test_allows_count_then_refuses_within_window() -> None:
    clock = TestClock(1_000 * SEC)
    t = Throttler("submit", parse_rate("3/1s"), clock)
    assert [t.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert t.accepted == 3 and t.rejected == 1
    assert t.remaining() == 0


def test_slot_frees_exactly_when_oldest_leaves_window() -> None:
    clock = TestClock(0)
    t = Throttler("submit", parse_rate("2/1s"), clock)
    assert t.try_acquire()
    clock.advance_time(SEC // 2)
    assert t.try_acquire()
    assert not t.try_acquire()
    assert t.delay_ns() == SEC // 2
    clock.advance_time(SEC // 2 - 1)
    assert not t.try_acquire()
    clock.advance_time(1)  # the first acquisition is now exactly one window old
    assert t.try_acquire()
    assert not t.try_acquire()  # the second is still inside


def test_sliding_not_fixed_window() -> None:
    # A fixed window would allow 4 across the 1 s boundary; a sliding one does not.
    clock = TestClock(0)
    t = Throttler("x", parse_rate("2/1s"), clock)
    clock.set_time(900_000_000)
    assert t.try_acquire() and t.try_acquire()
    clock.set_time(1_100_000_000)
    assert not t.try_acquire()
    clock.set_time(1_900_000_000)
    assert t.try_acquire() and t.try_acquire()


def test_used_and_reset() -> None:
    clock = TestClock(0)
    t = Throttler("x", parse_rate("5/2s"), clock)
    for _ in range(3):
        t.try_acquire()
    assert t.used() == 3 and t.remaining() == 2
    clock.advance_time(2 * SEC)
    assert t.used() == 0
    t.try_acquire()
    t.reset()
    assert t.used() == 0 and t.delay_ns() == 0


def test_fractional_seconds_rate() -> None:
    clock = TestClock(0)
    t = Throttler("x", parse_rate("1/0.25s"), clock)
    assert t.interval_ns == SEC // 4
    assert t.try_acquire() and not t.try_acquire()
    clock.advance_time(SEC // 4)
    assert t.try_acquire()


@pytest.mark.parametrize("count,seconds", [(0, 1.0), (1, 0.0)])
def test_rejects_non_positive_rates(count: int, seconds: float) -> None:
    class R:
        pass

    r = R()
    r.count, r.seconds = count, seconds  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        Throttler("x", r, TestClock(0))  # type: ignore[arg-type]


def test_memory_follows_the_rate_sent_not_the_limit() -> None:
    # A generous limit (the bench scenario's 100000/1s) at 20 submits a second: only the
    # times still inside the window are held, however many have gone by.
    clock = TestClock(0)
    t = Throttler("submit", parse_rate("100000/1s"), clock)
    for _ in range(5_000):
        clock.advance_time(SEC // 20)
        assert t.try_acquire()
    assert len(t._times) == 20
    assert t.used() == len(t._times) and t.accepted == 5_000


def test_dropping_old_times_keeps_the_window_exact() -> None:
    # Pruning happens in try_acquire; the limit still counts only the window.
    clock = TestClock(0)
    t = Throttler("x", parse_rate("3/1s"), clock)
    outcomes = []
    for step in range(40):
        outcomes.append(t.try_acquire())
        clock.advance_time(SEC // 4)
        assert len(t._times) <= 3, step
    # 3 in every 4 ticks of 250 ms: the 4th of each second is refused.
    assert outcomes[:8] == [True, True, True, False, True, True, True, False]
    assert t.accepted == 30 and t.rejected == 10
