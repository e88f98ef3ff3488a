"""`ClientStops`: a client's stop request stops the node once the traders have the source."""

from __future__ import annotations

import asyncio

import pytest

from livenode.bus.control import ClientStopRequest
from livenode.config.workers import WorkerConfig
from livenode.supervisor import client_stops
from livenode.supervisor.client_stops import ClientStops
from livenode.supervisor.handles import WorkerHandle, WorkerState


def handles(*workers: tuple[str, str, WorkerState]) -> dict[str, WorkerHandle]:
    out = {}
    for name, role, state in workers:
        handle = WorkerHandle(WorkerConfig(name=name, role=role), (0,), publisher_id=name)  # type: ignore[arg-type]
        handle.state = state
        out[name] = handle
    return out


RUNNING = WorkerState.RUNNING
NODE = (("data-SIM", "data", RUNNING), ("t1", "trader", RUNNING), ("t2", "trader", RUNNING),
        ("risk", "risk", RUNNING), ("exec-SIM", "exec", RUNNING))


class Stops:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.called = asyncio.Event()

    def __call__(self, reason: str, failure: str) -> None:
        self.calls.append((reason, failure))
        self.called.set()


def ask(worker: str, source: str, reason: str = "replay finished: 3 quotes, 0 trades",
        failure: str = "") -> ClientStopRequest:
    return ClientStopRequest(worker=worker, source=source, reason=reason, failure=failure)


async def test_a_data_source_stops_the_node_once_every_running_trader_confirmed() -> None:
    stops = Stops()
    cs = ClientStops(handles(*NODE), stops)
    cs.on_request(ask("t1", "data-SIM"))  # a trader may confirm before the source asks
    cs.on_request(ask("data-SIM", "data-SIM"))
    assert stops.calls == []  # t2 still has ticks of the source in flight
    cs.on_request(ask("t2", "data-SIM"))
    assert stops.calls == [("replay finished: 3 quotes, 0 trades", "")]
    cs.on_request(ask("t2", "data-SIM"))  # late duplicates change nothing
    assert len(stops.calls) == 1


async def test_a_failure_travels_and_a_trader_that_is_down_is_not_waited_for() -> None:
    stops = Stops()
    node = handles(*NODE)
    node["t2"].state = WorkerState.BACKOFF
    cs = ClientStops(node, stops)
    failure = "replay failed: bad.csv:3: not a decimal number: 'abc'"
    cs.on_request(ask("data-SIM", "data-SIM", failure, failure))
    assert stops.calls == []
    cs.on_request(ask("t1", "data-SIM", failure, failure))
    assert stops.calls == [(failure, failure)]


async def test_a_source_that_feeds_no_trader_stops_at_once() -> None:
    stops = Stops()
    cs = ClientStops(handles(*NODE), stops)
    cs.on_request(ask("exec-SIM", "exec-SIM", "venue session over"))
    assert stops.calls == [("venue session over", "")]


async def test_a_silent_trader_does_not_hold_the_stop_forever(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(client_stops, "TRADERS_TIMEOUT_S", 0.05)
    stops = Stops()
    cs = ClientStops(handles(*NODE), stops)
    cs.on_request(ask("data-SIM", "data-SIM"))
    cs.on_request(ask("t1", "data-SIM"))
    await asyncio.wait_for(stops.called.wait(), 30)
    assert stops.calls == [("replay finished: 3 quotes, 0 trades", "")]
    assert "trader(s) t2 did not confirm" in caplog.text
    cs.close()
