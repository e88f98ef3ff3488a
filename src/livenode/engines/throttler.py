"""A sliding-window rate limiter for order commands.

The risk engine throttles submits and modifies with it. It keeps the times of the
events accepted within the trailing window (at most `count`); a new event is
accepted when fewer than `count` were accepted within it. That is exact (no bucket
edge lets 2x the rate through, as fixed windows do) and costs O(1) amortized per
call. Times that left the window are dropped as calls come, so the memory follows
the rate actually sent, not the limit (a limit of "100000/1s" kept 100,000 times
once that many orders had gone by, whatever their rate).

Time comes from an injected clock (anything with `timestamp_ns()`), so tests move
a `TestClock` by hand instead of sleeping.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

__all__ = ["RateLike", "Throttler", "TimeSource"]


class TimeSource(Protocol):
    """Anything with `timestamp_ns()`: a `Clock`, a `TestClock`, a test double."""

    def timestamp_ns(self) -> int:
        """Return the current time in nanoseconds."""
        ...


class RateLike(Protocol):
    """`livenode.config.Rate` or anything with `count` and `seconds`."""

    @property
    def count(self) -> int: ...

    @property
    def seconds(self) -> float: ...


class Throttler:
    """At most `rate.count` acquisitions per trailing `rate.seconds`.

    Args:
        name: shown in `repr` and logs (e.g. "submit").
        rate: the limit; `count` > 0 and `seconds` > 0.
        clock: the time source.

    Raises:
        ValueError: a non-positive count or window.
    """

    __slots__ = ("_clock", "_interval_ns", "_limit", "_times", "accepted", "name", "rejected")

    def __init__(self, name: str, rate: RateLike, clock: TimeSource) -> None:
        count = int(rate.count)
        interval_ns = round(float(rate.seconds) * 1_000_000_000)
        if count <= 0 or interval_ns <= 0:
            raise ValueError(f"throttler {name!r}: rate must be positive, got {rate!r}")
        self.name = name
        self._limit = count
        self._interval_ns = interval_ns
        self._clock = clock
        # Accepted times inside the window, oldest first (the oldest decides once
        # `count` are in it); never more than `count`.
        self._times: deque[int] = deque(maxlen=count)
        self.accepted = 0
        self.rejected = 0

    @property
    def limit(self) -> int:
        """Acquisitions allowed per window."""
        return self._limit

    @property
    def interval_ns(self) -> int:
        """The window length in nanoseconds."""
        return self._interval_ns

    def used(self) -> int:
        """Acquisitions inside the trailing window as of now."""
        cutoff = self._clock.timestamp_ns() - self._interval_ns
        return sum(1 for t in self._times if t > cutoff)

    def remaining(self) -> int:
        """Acquisitions still allowed right now."""
        return self._limit - self.used()

    def try_acquire(self) -> bool:
        """Take one slot if the window allows it; return whether it was taken."""
        now = self._clock.timestamp_ns()
        times = self._times
        # Forget the times that left the window: they can never decide again.
        while times and now - times[0] >= self._interval_ns:
            times.popleft()
        if len(times) == self._limit:
            self.rejected += 1
            return False
        times.append(now)
        self.accepted += 1
        return True

    def delay_ns(self) -> int:
        """Nanoseconds until the next `try_acquire` would succeed (0 when it would now)."""
        times = self._times
        if len(times) < self._limit:
            return 0
        wait = times[0] + self._interval_ns - self._clock.timestamp_ns()
        return max(0, wait)

    def reset(self) -> None:
        """Forget every acquisition (counters are kept)."""
        self._times.clear()

    def __repr__(self) -> str:
        return f"Throttler({self.name!r}, {self._limit}/{self._interval_ns}ns)"
