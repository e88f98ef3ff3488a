"""A replay in the sim venue process: it waits for `start_feed`, runs once, and its end
comes back to the data client, which asks the node for its stop (real server process,
real sockets, real engines)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.sim.sim_process_helpers import (
    NodeSide,
    make_run_dir,
    node_side,
    remove_run_dir,
    start_server,
    stop_server,
)
from tests.unit.adapters.sim_helpers import BTC_ID, Recorder, venue_config

from livenode.adapters.sim import SimDataClient, SimDataClientConfig, SimDataClientFactory
from livenode.bus import topics
from livenode.model.commands import SubscribeQuoteTicks
from livenode.model.data import QuoteTick
from livenode.model.identifiers import Venue
from livenode.venues.sim.remote_feed import RemoteReplay

SIM = Venue("SIM")
QUOTES = 400


def replay_file(path: Path, bad_at: int | None = None) -> Path:
    lines = ["ts_event,symbol,type,bid_price,bid_size,ask_price,ask_size,price,size,"
             "aggressor_side,trade_id"]
    for i in range(QUOTES):
        size = "abc" if bad_at is not None and i + 1 == bad_at else "1.5"
        lines.append(f"{1704067200000000000 + i * 1000},BTCUSDT,quote,42000.10,{size},"
                     "42000.20,0.7,,,,")
    path.write_text("\n".join(lines) + "\n")
    return path


def data_config(path: Path) -> SimDataClientConfig:
    return SimDataClientConfig(
        venue="SIM", venue_mode="process",
        venue_config=venue_config(mode="replay", replay_path=str(path), replay_speed=0.0,
                                  stop_at_end=True),
    )


@pytest.fixture
def run_dir() -> Iterator[Path]:
    path = make_run_dir()
    yield path
    assert remove_run_dir(path) == [], "ipc files left behind"


class Started:
    """A data worker's side: a data client on the venue process, subscribed to BTC quotes."""

    def __init__(self, node: NodeSide, client: SimDataClient) -> None:
        self.node, self.client = node, client
        self.quotes = Recorder()
        self.stops: list[tuple[str, str | None]] = []
        self.stopped = asyncio.Event()

        def stop(reason: str, *, failure: str | None = None) -> None:
            self.stops.append((reason, failure))
            self.stopped.set()

        node.context.on_stop_request(stop)
        node.msgbus.subscribe(topics.quotes(BTC_ID), self.quotes)

    @classmethod
    async def connect(cls, config: SimDataClientConfig, run_dir: Path) -> Started:
        node = node_side(run_dir)
        client = SimDataClientFactory.create("SIM", config, node.context)
        node.data_engine.register_client(client)
        started = cls(node, client)
        await client.connect()
        node.msgbus.publish(
            topics.data_commands(SIM),
            SubscribeQuoteTicks(venue=SIM, instrument_id=BTC_ID, command_id="s1", ts_init=0),
        )
        return started

    @property
    def replay(self) -> RemoteReplay:
        feed = self.client.sim_venue.replay_feed
        assert isinstance(feed, RemoteReplay)
        return feed


async def test_replay_waits_for_start_feed_runs_once_and_reports_its_end(
    run_dir: Path, tmp_path: Path
) -> None:
    config = data_config(replay_file(tmp_path / "quotes.csv"))
    server = await start_server(config, run_dir)
    first = second = None
    try:
        first = await Started.connect(config, run_dir)
        assert first.replay.status is None and not first.replay.done.is_set()
        first.client.on_trading_started()  # the strategies subscribed: start_feed
        await asyncio.wait_for(first.stopped.wait(), 30)
        # Every quote of the file: the venue started only once it had the subscription.
        assert len(first.quotes.of(QuoteTick)) == QUOTES
        assert first.stops == [(f"replay finished: {QUOTES} quotes, 0 trades", None)]
        status = first.replay.status
        assert status is not None and status.state == "finished"
        assert (status.quotes, status.first_ts) == (QUOTES, "2024-01-01T00:00:00.000000000Z")

        # A restarted data worker asks again: told it ran, nothing replayed twice.
        second = await Started.connect(config, run_dir)
        second.client.on_trading_started()
        await asyncio.wait_for(second.stopped.wait(), 30)
        assert second.quotes.of(QuoteTick) == []
        assert second.replay.status is not None and second.replay.status.state == "finished"
        assert second.stops == [(f"replay finished: {QUOTES} quotes, 0 trades", None)]
    finally:
        for side in (first, second):
            if side is not None:
                await side.client.disconnect()
        assert await stop_server(server) == 0


async def test_a_bad_line_reaches_the_client_as_a_failure(run_dir: Path, tmp_path: Path) -> None:
    config = data_config(replay_file(tmp_path / "bad.csv", bad_at=10))
    server = await start_server(config, run_dir)
    side = None
    try:
        side = await Started.connect(config, run_dir)
        side.client.on_trading_started()
        await asyncio.wait_for(side.stopped.wait(), 30)
        assert len(side.quotes.of(QuoteTick)) == 9  # the good lines before it
        ((reason, failure),) = side.stops
        assert failure is not None and failure == reason
        assert failure.startswith("replay failed: ")
        assert "bad.csv:11: not a decimal number" in failure
    finally:
        if side is not None:
            await side.client.disconnect()
        assert await stop_server(server) == 0
