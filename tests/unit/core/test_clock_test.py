"""TestClock: deterministic timers and alerts, driven by hand."""

from __future__ import annotations

import msgspec
import pytest

from livenode.core.clock import Clock, TestClock, TimeEvent
from livenode.core.errors import TimerError


class Recorder:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, int, int]] = []  # (name, ts_event, clock time in callback)
        self.events: list[TimeEvent] = []

    def __call__(self, event: TimeEvent) -> None:
        self.events.append(event)
        self.calls.append((event.name, event.ts_event, self.clock.timestamp_ns()))


def test_timestamp_and_set_time() -> None:
    clock = TestClock(1_000)
    assert clock.timestamp_ns() == 1_000
    clock.set_time(5_000_000_000)
    assert clock.timestamp_ns() == 5_000_000_000
    assert clock.timestamp() == 5.0
    assert clock.timestamp_ms() == 5_000


def test_advance_time_is_relative() -> None:
    clock = TestClock(100)
    clock.advance_time(50)
    assert clock.timestamp_ns() == 150


def test_going_back_in_time_is_refused() -> None:
    clock = TestClock(100)
    with pytest.raises(ValueError):
        clock.set_time(99)
    with pytest.raises(ValueError):
        clock.advance_time(-1)
    assert clock.timestamp_ns() == 100


def test_repeating_timer_fires_at_start_plus_k_intervals() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_timer("t", 10, rec, start_time_ns=5)
    fired = clock.set_time(50)
    assert [e.ts_event for e in fired] == [15, 25, 35, 45]
    # The clock reads the tick's time inside the callback, then the target time after.
    assert rec.calls == [("t", 15, 15), ("t", 25, 25), ("t", 35, 35), ("t", 45, 45)]
    assert clock.timestamp_ns() == 50
    assert clock.next_time_ns("t") == 55
    assert clock.timer_names == ["t"]


def test_timer_defaults_to_start_now() -> None:
    clock = TestClock(1_000)
    rec = Recorder(clock)
    clock.set_timer("t", 100, rec)
    assert clock.next_time_ns("t") == 1_100
    clock.advance_time(99)
    assert rec.events == []
    clock.advance_time(1)
    assert [e.ts_event for e in rec.events] == [1_100]


def test_time_event_fields() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_timer("t", 10, rec)
    clock.set_time(20)
    first, second = rec.events
    assert first.name == "t" and first.ts_event == 10 and first.ts_init == 10
    assert len(first.event_id) == 32 and first.event_id != second.event_id
    with pytest.raises(AttributeError):
        first.name = "x"  # type: ignore[misc]
    assert msgspec.json.decode(msgspec.json.encode(first), type=TimeEvent) == first


def test_stop_time_ends_timer_inclusive_and_frees_name() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_timer("t", 10, rec, start_time_ns=0, stop_time_ns=30)
    clock.set_time(100)
    assert [e.ts_event for e in rec.events] == [10, 20, 30]
    assert clock.timer_names == []
    clock.set_timer("t", 10, rec)  # the name is free again


def test_alert_fires_once() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_time_alert("a", 42, rec)
    assert clock.timer_names == ["a"]
    clock.set_time(41)
    assert rec.events == []
    clock.set_time(1_000)
    assert rec.calls == [("a", 42, 42)]
    assert clock.timer_names == []


def test_alert_in_the_past_fires_on_next_move() -> None:
    clock = TestClock(100)
    rec = Recorder(clock)
    clock.set_time_alert("late", 50, rec)
    fired = clock.advance_time(0)
    assert [(e.name, e.ts_event) for e in fired] == [("late", 50)]
    assert clock.timestamp_ns() == 100  # time never goes back for a late alert


def test_timers_fire_in_time_order_then_set_order() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_timer("slow", 30, rec)
    clock.set_timer("fast", 10, rec)
    clock.set_time_alert("alert", 30, rec)
    clock.set_time(60)
    assert [(n, ts) for n, ts, _ in rec.calls] == [
        ("fast", 10),
        ("fast", 20),
        ("slow", 30),  # set before "fast" and "alert": first among the ties at 30
        ("fast", 30),
        ("alert", 30),
        ("fast", 40),
        ("fast", 50),
        ("slow", 60),
        ("fast", 60),
    ]


def test_same_inputs_same_outputs() -> None:
    def run() -> list[tuple[str, int, int]]:
        clock = TestClock(0)
        rec = Recorder(clock)
        for i, interval in enumerate((7, 3, 5, 3)):
            clock.set_timer(f"t{i}", interval, rec)
        for step in (4, 9, 1, 30):
            clock.advance_time(step)
        return rec.calls

    assert run() == run()


def test_duplicate_name_is_value_error() -> None:
    clock = TestClock(0)
    clock.set_timer("x", 10, lambda e: None)
    with pytest.raises(ValueError, match="x"):
        clock.set_timer("x", 20, lambda e: None)
    with pytest.raises(TimerError):
        clock.set_time_alert("x", 5, lambda e: None)


@pytest.mark.parametrize("interval", [0, -1, 1.5])
def test_bad_interval_is_refused(interval: object) -> None:
    clock = TestClock(0)
    with pytest.raises(ValueError):
        clock.set_timer("x", interval, lambda e: None)  # type: ignore[arg-type]
    assert clock.timer_names == []


def test_bad_arguments_are_refused() -> None:
    clock = TestClock(0)
    with pytest.raises(ValueError):
        clock.set_timer("", 10, lambda e: None)
    with pytest.raises(ValueError):
        clock.set_timer("x", 10, "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stop_time_ns"):
        clock.set_timer("x", 10, lambda e: None, start_time_ns=0, stop_time_ns=9)


def test_cancel_timer_and_cancel_timers() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_timer("a", 10, rec)
    clock.set_timer("b", 10, rec)
    clock.set_time_alert("c", 5, rec)
    clock.cancel_timer("a")
    clock.cancel_timer("unknown")  # ignored
    assert clock.timer_names == ["b", "c"]
    clock.cancel_timers()
    assert clock.timer_names == [] and clock.timer_count == 0
    clock.set_time(100)
    assert rec.events == []


def test_callback_may_cancel_its_own_timer() -> None:
    clock = TestClock(0)
    seen: list[int] = []

    def cb(event: TimeEvent) -> None:
        seen.append(event.ts_event)
        if len(seen) == 2:
            clock.cancel_timer("t")

    clock.set_timer("t", 10, cb)
    clock.set_time(100)
    assert seen == [10, 20]


def test_callback_may_set_timers_that_fire_in_the_same_move() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)

    def chain(event: TimeEvent) -> None:
        rec(event)
        clock.set_time_alert("chained", event.ts_event + 5, rec)

    clock.set_time_alert("first", 10, chain)
    clock.set_time(100)
    assert rec.calls == [("first", 10, 10), ("chained", 15, 15)]


def test_alert_callback_may_reuse_its_name() -> None:
    clock = TestClock(0)
    seen: list[int] = []

    def again(event: TimeEvent) -> None:
        seen.append(event.ts_event)
        if event.ts_event < 30:
            clock.set_time_alert("a", event.ts_event + 10, again)

    clock.set_time_alert("a", 10, again)
    clock.set_time(100)
    assert seen == [10, 20, 30]


def test_raising_callback_is_contained_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    clock = TestClock(0)
    seen: list[int] = []

    def boom(event: TimeEvent) -> None:
        seen.append(event.ts_event)
        raise RuntimeError("boom")

    clock.set_timer("t", 10, boom)
    clock.set_time(30)
    assert seen == [10, 20, 30]  # the timer keeps running
    assert clock.callback_errors == 3
    assert "boom" in caplog.text and "'t'" in caplog.text
