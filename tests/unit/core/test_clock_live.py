"""LiveClock on a real asyncio loop: wall time, drift-free timers, alerts, cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest

from livenode.core.clock import LiveClock, TimeEvent

MS = 1_000_000
WAIT = 5.0  # upper bound for an awaited event; tests finish as soon as it is set


def test_timestamp_is_wall_time() -> None:
    clock = LiveClock()
    before = time.time_ns()
    now = clock.timestamp_ns()
    after = time.time_ns()
    assert before <= now <= after


async def test_loop_defaults_to_running_loop() -> None:
    clock = LiveClock()
    assert clock.loop is asyncio.get_running_loop()


async def test_repeating_timer_is_drift_free() -> None:
    clock = LiveClock(asyncio.get_running_loop())
    events: list[TimeEvent] = []
    done = asyncio.Event()

    def on_tick(event: TimeEvent) -> None:
        events.append(event)
        if len(events) == 5:
            clock.cancel_timer("tick")
            done.set()

    start = clock.timestamp_ns()
    clock.set_timer("tick", 10 * MS, on_tick, start_time_ns=start)
    await asyncio.wait_for(done.wait(), WAIT)
    # Nominal times are exactly start + k * interval: no accumulated drift. On a loaded
    # machine the loop may wake late: ticks that were due meanwhile are skipped and
    # counted (`missed_ticks`), never fired late in a burst, so the k are increasing
    # and every one of 1..last is either fired or counted as missed.
    ks = [(e.ts_event - start) / (10 * MS) for e in events]
    assert all(k == int(k) for k in ks), ks
    assert ks == sorted(set(ks)) and ks[0] >= 1, ks
    assert int(ks[-1]) == len(ks) + clock.missed_ticks, (ks, clock.missed_ticks)
    assert all(e.name == "tick" for e in events)
    assert clock.timer_names == []
    # Fired no earlier than a scheduler tick before the nominal time (uvloop rounds to ms).
    assert all(e.ts_init >= e.ts_event - 2 * MS for e in events)


async def test_stop_time_ends_live_timer() -> None:
    clock = LiveClock()
    events: list[TimeEvent] = []
    start = clock.timestamp_ns()
    clock.set_timer("t", 5 * MS, events.append, start_time_ns=start, stop_time_ns=start + 15 * MS)
    done = asyncio.Event()
    clock.set_time_alert("after", start + 40 * MS, lambda e: done.set())
    await asyncio.wait_for(done.wait(), WAIT)
    offsets = [e.ts_event - start for e in events]
    # Ticks 5, 10, 15 ms; a loaded host may skip (and count) some, never the last one.
    assert set(offsets) <= {5 * MS, 10 * MS, 15 * MS} and offsets == sorted(offsets)
    assert offsets[-1] == 15 * MS
    assert len(offsets) + clock.missed_ticks == 3
    assert clock.timer_names == []


async def test_missed_ticks_are_skipped_and_counted() -> None:
    clock = LiveClock()
    events: list[TimeEvent] = []
    done = asyncio.Event()

    def on_tick(event: TimeEvent) -> None:
        events.append(event)
        if len(events) == 1:
            time.sleep(0.055)  # block the loop across ~5 ticks, as a slow handler would
        elif len(events) == 3:
            clock.cancel_timer("t")
            done.set()

    start = clock.timestamp_ns()
    clock.set_timer("t", 10 * MS, on_tick, start_time_ns=start)
    await asyncio.wait_for(done.wait(), WAIT)
    ks = [(e.ts_event - start) // (10 * MS) for e in events]
    assert ks[0] >= 1  # 1, unless a loaded host woke the loop late already
    assert ks[1] >= ks[0] + 5  # the ticks overdue while blocked were not fired in a burst
    assert ks[2] > ks[1]
    assert clock.missed_ticks == (ks[0] - 1) + (ks[1] - ks[0] - 1) + (ks[2] - ks[1] - 1)
    assert all((e.ts_event - start) % (10 * MS) == 0 for e in events)  # still on the grid


async def test_time_alert_fires_once_at_its_time() -> None:
    clock = LiveClock()
    got: list[TimeEvent] = []
    done = asyncio.Event()
    alert_at = clock.timestamp_ns() + 20 * MS

    def on_alert(event: TimeEvent) -> None:
        got.append(event)
        done.set()

    clock.set_time_alert("a", alert_at, on_alert)
    assert clock.next_time_ns("a") == alert_at
    await asyncio.wait_for(done.wait(), WAIT)
    assert got[0].ts_event == alert_at
    assert got[0].ts_init >= alert_at - 2 * MS
    assert clock.timer_names == []


async def test_alert_in_the_past_fires_soon() -> None:
    clock = LiveClock()
    done = asyncio.Event()
    clock.set_time_alert("past", clock.timestamp_ns() - 1_000 * MS, lambda e: done.set())
    await asyncio.wait_for(done.wait(), WAIT)


async def test_cancelled_alert_never_fires() -> None:
    clock = LiveClock()
    fired: list[str] = []
    done = asyncio.Event()
    now = clock.timestamp_ns()
    clock.set_time_alert("cancelled", now + 10 * MS, lambda e: fired.append(e.name))
    clock.set_time_alert("later", now + 40 * MS, lambda e: done.set())
    clock.cancel_timer("cancelled")
    await asyncio.wait_for(done.wait(), WAIT)
    assert fired == []


async def test_cancel_timers_cancels_everything() -> None:
    clock = LiveClock()
    fired: list[str] = []
    now = clock.timestamp_ns()
    clock.set_timer("a", 5 * MS, lambda e: fired.append(e.name))
    clock.set_time_alert("b", now + 5 * MS, lambda e: fired.append(e.name))
    clock.cancel_timers()
    assert clock.timer_names == []
    other = LiveClock()  # a second clock on the same loop proves time has passed
    done = asyncio.Event()
    other.set_time_alert("probe", now + 30 * MS, lambda e: done.set())
    await asyncio.wait_for(done.wait(), WAIT)
    assert fired == []


async def test_raising_live_callback_does_not_stop_timer(caplog: pytest.LogCaptureFixture) -> None:
    clock = LiveClock()
    count = 0
    done = asyncio.Event()

    def boom(event: TimeEvent) -> None:
        nonlocal count
        count += 1
        if count == 3:
            clock.cancel_timer("t")
            done.set()
        raise RuntimeError("boom")

    clock.set_timer("t", 5 * MS, boom)
    await asyncio.wait_for(done.wait(), WAIT)
    assert clock.callback_errors == 3
    assert "boom" in caplog.text


async def test_duplicate_live_timer_name() -> None:
    clock = LiveClock()
    clock.set_timer("x", 1_000 * MS, lambda e: None)
    try:
        with pytest.raises(ValueError):
            clock.set_time_alert("x", clock.timestamp_ns() + MS, lambda e: None)
    finally:
        clock.cancel_timers()
