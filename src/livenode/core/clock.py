"""Clocks: the time source and the timers of a node.

Two implementations share one interface (`Clock`) so components never know
which one drives them:

- `LiveClock` reads the wall clock (`time.time_ns`) and schedules timers on an
  asyncio event loop with `loop.call_at`, i.e. on the loop's *monotonic* time:
  a wall-clock step (NTP, daylight saving) neither delays nor bunches timers.
  Repeating timers are drift-free: tick `k` is due at `start + k * interval`,
  computed from a fixed anchor, never from "now + interval". A tick that is
  already overdue when the previous one fires (the loop was blocked) is
  skipped and counted in `missed_ticks` instead of being fired late in a burst.
- `TestClock` is moved by hand (`set_time`, `advance_time`) and fires every due
  timer and alert in time order (ties: the order the timers were set), with the
  clock reading exactly each event's time while its callback runs. Same input,
  same callbacks, same order: deterministic.

Callbacks receive a `TimeEvent`. A callback that raises is logged and counted
in `callback_errors`; it never stops the timer or the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

import msgspec

from livenode.core.errors import TimerError
from livenode.core.uuid import new_id

__all__ = ["Clock", "LiveClock", "TestClock", "TimeEvent", "TimeEventHandler"]

_log = logging.getLogger("livenode.core.clock")


class TimeEvent(msgspec.Struct, frozen=True, gc=False):
    """What a timer or time alert hands its callback.

    Attributes:
        name: the timer's name.
        event_id: a fresh id (`new_id()`).
        ts_event: the nominal time the tick or alert was due (ns since epoch).
        ts_init: the clock's time when the event was created (ns since epoch).
    """

    name: str
    event_id: str
    ts_event: int
    ts_init: int


TimeEventHandler = Callable[[TimeEvent], object]


class _Timer:
    """Book-keeping of one timer or alert (alerts have `interval_ns == 0`)."""

    __slots__ = (
        "callback",
        "handle",
        "interval_ns",
        "loop_anchor",
        "missed",
        "name",
        "next_ns",
        "seq",
        "start_ns",
        "stop_ns",
    )

    def __init__(
        self,
        name: str,
        callback: TimeEventHandler,
        interval_ns: int,
        start_ns: int,
        next_ns: int,
        stop_ns: int | None,
        seq: int,
    ) -> None:
        self.name = name
        self.callback = callback
        self.interval_ns = interval_ns
        self.start_ns = start_ns
        self.next_ns = next_ns
        self.stop_ns = stop_ns
        self.seq = seq
        self.handle: asyncio.TimerHandle | None = None
        # Loop time (seconds) that corresponds to `start_ns`; fixed for the timer's life.
        self.loop_anchor = 0.0
        self.missed = 0

    def advance(self) -> bool:
        """Move to the next tick; return False when the timer is finished."""
        if self.interval_ns == 0:
            return False
        self.next_ns += self.interval_ns
        return self.stop_ns is None or self.next_ns <= self.stop_ns


class Clock(ABC):
    """The time source and timer service a component is given.

    Timer names are unique per clock: setting a name that is already active
    raises `TimerError` (a `ValueError`). A finished timer (its stop time passed,
    or an alert that fired) frees its name, also from inside its own callback.
    """

    def __init__(self) -> None:
        self._timers: dict[str, _Timer] = {}
        self._seq = 0
        self.callback_errors = 0
        self.missed_ticks = 0

    # -- time -------------------------------------------------------------------------------

    @abstractmethod
    def timestamp_ns(self) -> int:
        """Return the current time in nanoseconds since the UNIX epoch."""

    def timestamp(self) -> float:
        """Return the current time in seconds since the UNIX epoch."""
        return self.timestamp_ns() / 1e9

    def timestamp_ms(self) -> int:
        """Return the current time in milliseconds since the UNIX epoch."""
        return self.timestamp_ns() // 1_000_000

    # -- timers -----------------------------------------------------------------------------

    @property
    def timer_names(self) -> list[str]:
        """Names of the active timers and alerts, sorted."""
        return sorted(self._timers)

    @property
    def timer_count(self) -> int:
        """Number of active timers and alerts."""
        return len(self._timers)

    def next_time_ns(self, name: str) -> int:
        """Return when the named timer or alert fires next (ns); KeyError if unknown."""
        return self._timers[name].next_ns

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimeEventHandler,
        start_time_ns: int | None = None,
        stop_time_ns: int | None = None,
    ) -> None:
        """Fire `callback` every `interval_ns`, first at `start_time_ns + interval_ns`.

        Args:
            name: unique among this clock's active timers and alerts.
            interval_ns: > 0.
            callback: called with a `TimeEvent` for each tick.
            start_time_ns: the anchor of the ticks; now when None.
            stop_time_ns: the last tick is the last one due at or before it;
                the timer runs until cancelled when None.

        Raises:
            TimerError: duplicate name, non-positive interval, or a stop time
                before the first tick.
        """
        self._check_name(name, callback)
        if not isinstance(interval_ns, int) or interval_ns <= 0:
            raise TimerError(
                f"timer {name!r}: interval_ns must be a positive int, got {interval_ns!r}"
            )
        start = self.timestamp_ns() if start_time_ns is None else int(start_time_ns)
        first = start + interval_ns
        if stop_time_ns is not None and stop_time_ns < first:
            raise TimerError(
                f"timer {name!r}: stop_time_ns {stop_time_ns} is before the first tick {first}"
            )
        timer = self._new_timer(name, callback, interval_ns, start, first, stop_time_ns)
        self._schedule(timer)

    def set_time_alert(self, name: str, alert_time_ns: int, callback: TimeEventHandler) -> None:
        """Fire `callback` once at `alert_time_ns` (as soon as possible if that is past).

        Raises:
            TimerError: duplicate name.
        """
        self._check_name(name, callback)
        alert = int(alert_time_ns)
        timer = self._new_timer(name, callback, 0, alert, alert, None)
        self._schedule(timer)

    def cancel_timer(self, name: str) -> None:
        """Cancel the named timer or alert; unknown names are ignored (it may have just fired)."""
        timer = self._timers.pop(name, None)
        if timer is not None:
            self._unschedule(timer)

    def cancel_timers(self) -> None:
        """Cancel every timer and alert of this clock."""
        timers = list(self._timers.values())
        self._timers.clear()
        for timer in timers:
            self._unschedule(timer)

    # -- shared internals -------------------------------------------------------------------

    def _check_name(self, name: str, callback: TimeEventHandler) -> None:
        if not isinstance(name, str) or not name:
            raise TimerError(f"timer name must be a non-empty str, got {name!r}")
        if name in self._timers:
            raise TimerError(f"timer {name!r} already exists")
        if not callable(callback):
            raise TimerError(f"timer {name!r}: callback {callback!r} is not callable")

    def _new_timer(
        self,
        name: str,
        callback: TimeEventHandler,
        interval_ns: int,
        start_ns: int,
        next_ns: int,
        stop_ns: int | None,
    ) -> _Timer:
        self._seq += 1
        timer = _Timer(name, callback, interval_ns, start_ns, next_ns, stop_ns, self._seq)
        self._timers[name] = timer
        return timer

    def _fire(self, timer: _Timer, ts_event: int) -> TimeEvent:
        """Create the event, move the timer on (or retire it), then run the callback.

        The timer is advanced *before* the callback so the callback may cancel
        its own timer, or reuse the name of a finished one.
        """
        event = TimeEvent(timer.name, new_id(), ts_event, self.timestamp_ns())
        if timer.advance():
            self._reschedule(timer)
        elif self._timers.get(timer.name) is timer:
            del self._timers[timer.name]
        try:
            timer.callback(event)
        except Exception:
            self.callback_errors += 1
            _log.exception("timer %r: callback %r raised", timer.name, timer.callback)
        return event

    @abstractmethod
    def _schedule(self, timer: _Timer) -> None:
        """Arrange for the first firing of a newly registered timer."""

    @abstractmethod
    def _reschedule(self, timer: _Timer) -> None:
        """Arrange for the next firing after `timer.next_ns` moved on."""

    @abstractmethod
    def _unschedule(self, timer: _Timer) -> None:
        """Forget a cancelled timer's pending firing."""


class LiveClock(Clock):
    """The wall clock, with timers on an asyncio event loop.

    Args:
        loop: the loop timers run on; when None, the running loop at the time
            the first timer is set.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__()
        self._loop = loop

    def timestamp_ns(self) -> int:
        """Return `time.time_ns()`."""
        return time.time_ns()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop timers run on (resolved to the running loop on first use)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _schedule(self, timer: _Timer) -> None:
        loop = self.loop
        # Map the wall-clock anchor onto the loop's monotonic clock once; every
        # tick is then placed relative to that anchor, so ticks never drift.
        timer.loop_anchor = loop.time() + (timer.start_ns - time.time_ns()) / 1e9
        self._reschedule(timer)

    def _reschedule(self, timer: _Timer) -> None:
        when = timer.loop_anchor + (timer.next_ns - timer.start_ns) / 1e9
        timer.handle = self.loop.call_at(when, self._on_due, timer)

    def _unschedule(self, timer: _Timer) -> None:
        if timer.handle is not None:
            timer.handle.cancel()
            timer.handle = None

    def _on_due(self, timer: _Timer) -> None:
        if self._timers.get(timer.name) is not timer:
            return  # cancelled after the loop had already picked the handle up
        timer.handle = None
        if timer.interval_ns:
            # Skip ticks that are already overdue (the loop was blocked): fire
            # once for the latest due tick and count the ones left out.
            elapsed_ns = int((self.loop.time() - timer.loop_anchor) * 1e9)
            latest_k = elapsed_ns // timer.interval_ns
            if timer.stop_ns is not None:
                latest_k = min(latest_k, (timer.stop_ns - timer.start_ns) // timer.interval_ns)
            latest_ns = timer.start_ns + latest_k * timer.interval_ns
            if latest_ns > timer.next_ns:
                skipped = (latest_ns - timer.next_ns) // timer.interval_ns
                timer.missed += skipped
                self.missed_ticks += skipped
                timer.next_ns = latest_ns
        self._fire(timer, timer.next_ns)


class TestClock(Clock):
    """A clock moved by hand, for deterministic tests and replays.

    Args:
        start_time_ns: the initial time (ns since epoch).
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, start_time_ns: int = 0) -> None:
        super().__init__()
        self._time_ns = int(start_time_ns)

    def timestamp_ns(self) -> int:
        """Return the time last set."""
        return self._time_ns

    def set_time(self, to_time_ns: int) -> list[TimeEvent]:
        """Move the clock to the absolute `to_time_ns`, firing every timer due on the way.

        Returns:
            The events fired, in firing order.

        Raises:
            ValueError: `to_time_ns` is before the current time.
        """
        to_time_ns = int(to_time_ns)
        if to_time_ns < self._time_ns:
            raise ValueError(
                f"TestClock cannot go back in time: {to_time_ns} < {self._time_ns}"
            )
        fired: list[TimeEvent] = []
        while True:
            timer = self._next_due(to_time_ns)
            if timer is None:
                break
            # The clock reads the tick's own time while its callback runs.
            self._time_ns = max(self._time_ns, timer.next_ns)
            fired.append(self._fire(timer, timer.next_ns))
        self._time_ns = to_time_ns
        return fired

    def advance_time(self, delta_ns: int) -> list[TimeEvent]:
        """Move the clock forward by `delta_ns` (relative), firing due timers.

        `advance_time(0)` fires alerts set in the past. Returns the events fired.
        """
        if delta_ns < 0:
            raise ValueError(f"TestClock cannot go back in time: delta_ns={delta_ns}")
        return self.set_time(self._time_ns + int(delta_ns))

    def _next_due(self, until_ns: int) -> _Timer | None:
        # A scan is fine: a node has a handful of timers, and it copes with
        # callbacks that set or cancel timers while we iterate.
        best: _Timer | None = None
        for timer in self._timers.values():
            if timer.next_ns <= until_ns and (
                best is None or (timer.next_ns, timer.seq) < (best.next_ns, best.seq)
            ):
                best = timer
        return best

    def _schedule(self, timer: _Timer) -> None:
        return None  # due timers are found by `_next_due` when time moves

    def _reschedule(self, timer: _Timer) -> None:
        return None

    def _unschedule(self, timer: _Timer) -> None:
        return None
