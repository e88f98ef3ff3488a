"""A sim feed that fails never leaves the node running without data (issue 17): an
exception in a wake-up stops the feed with the error and the data client stops the node
with a failure (``on_error = "stop"``), or the feed resumes after the record it failed
on (``"restart"``), giving up after failures in a row. In process, on a real loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livenode.adapters.sim import SimDataClientConfig, SimDataClientFactory
from livenode.bus.message_bus import MessageBus
from livenode.cache.cache import Cache
from livenode.core.clock import LiveClock
from livenode.engines.clients import DATA_ENGINE_PROCESS, ClientContext
from livenode.model.data import QuoteTick
from livenode.model.identifiers import TraderId
from livenode.venues.sim import feed as feed_module
from livenode.venues.sim.config import SimFeedConfig, SimInstrumentConfig, SimVenueConfig
from livenode.venues.sim.feed import FeedError, SimFeed
from livenode.venues.sim.market import RawQuote
from livenode.venues.sim.replay import ReplayRecord
from livenode.venues.sim.venue import SimVenue
from tests.fixtures.adapters.failing_sim import MESSAGE, failing
from tests.unit.adapters.sim_helpers import BTC_ID, Recorder, venue_config

T = 1704067200000000000


@pytest.fixture(autouse=True)
def failing_venue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Quotes of bid size 0.07777, and a FAIL* instrument's from its third, raise."""
    monkeypatch.setattr(SimVenue, "_on_raw_quote", failing(SimVenue._on_raw_quote))


@pytest.fixture
def fast_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_module, "RESTART_DELAYS_S", (0.001,) * 5)


def replay_file(tmp_path: Path, sizes: list[str]) -> str:
    lines = ["ts_event,symbol,type,bid_price,bid_size,ask_price,ask_size,price,size,"
             "aggressor_side,trade_id"]
    lines += [f"{T + i},BTCUSDT,quote,42000.10,{size},42000.20,0.7,,,,"
              for i, size in enumerate(sizes)]
    path = tmp_path / "quotes.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def make_venue(cfg: SimVenueConfig) -> tuple[SimVenue, Recorder]:
    loop = asyncio.get_running_loop()
    venue = SimVenue(cfg, loop, LiveClock(loop), "SIM")
    got = Recorder()
    venue.subscribe_market(got)
    return venue, got


async def test_an_error_in_the_feed_stops_it_with_the_error(tmp_path: Path) -> None:
    path = replay_file(tmp_path, ["1.0", "1.0", "0.07777", "1.0"])
    venue, got = make_venue(venue_config(mode="replay", replay_path=path, replay_speed=0.0))
    venue.start()
    await asyncio.wait_for(venue.feed.done.wait(), 5)
    error = venue.feed.error
    assert isinstance(error, FeedError)
    assert str(error) == f"sim feed failed: RuntimeError: {MESSAGE}"
    assert len(got.of(QuoteTick)) == 2 and venue.feed.replay_quotes == 2
    assert not venue.feed.running and venue.feed.errors == 1


async def test_on_error_restart_drops_the_record_and_goes_on(
    tmp_path: Path, fast_restarts: None
) -> None:
    path = replay_file(tmp_path, ["1.0", "0.07777", "1.0", "0.07777", "1.0"])
    venue, got = make_venue(venue_config(mode="replay", replay_path=path, replay_speed=0.0,
                                         on_error="restart"))
    venue.start()
    await asyncio.wait_for(venue.feed.done.wait(), 5)
    assert venue.feed.error is None
    assert len(got.of(QuoteTick)) == 3 and venue.feed.replay_quotes == 3
    assert (venue.feed.errors, venue.feed.records_lost) == (2, 2)


async def test_restarts_give_up_after_failures_in_a_row(
    tmp_path: Path, fast_restarts: None
) -> None:
    path = replay_file(tmp_path, ["1.0"] + ["0.07777"] * 10 + ["1.0"])
    venue, got = make_venue(venue_config(mode="replay", replay_path=path, replay_speed=0.0,
                                         on_error="restart"))
    venue.start()
    await asyncio.wait_for(venue.feed.done.wait(), 5)
    assert str(venue.feed.error) == (f"sim feed failed (5 restart(s) in a row did not help): "
                                     f"RuntimeError: {MESSAGE}")
    assert venue.feed.errors == 6 and venue.feed.records_lost == 5
    assert len(got.of(QuoteTick)) == 1


async def test_a_random_walk_that_fails_stops_too() -> None:
    fail = SimInstrumentConfig(symbol="FAILUSDT", base="BTC", quote="USDT")
    venue, got = make_venue(SimVenueConfig(
        instruments=[fail], feed=SimFeedConfig(rate_per_second=1000.0)))
    venue.start()
    await asyncio.wait_for(venue.feed.done.wait(), 5)
    assert str(venue.feed.error) == f"sim feed failed: RuntimeError: {MESSAGE}"
    assert len(got.of(QuoteTick)) == 2  # the third raised


async def test_a_replay_reader_that_raises_stops_the_feed_even_with_restart() -> None:
    loop = asyncio.get_running_loop()

    def broken(_on_bad: Any) -> Iterator[ReplayRecord]:
        yield ReplayRecord(T, "BTCUSDT", RawQuote(4200010, 4200020, 100000, 70000, T))
        raise KeyError("reader bug")

    quotes: list[Any] = []
    feed = SimFeed(SimFeedConfig(mode="replay", replay_speed=0.0, on_error="restart"), loop,
                   lambda: T, lambda s, q, ts: quotes.append(q), lambda s, t, ts: None,
                   replay=broken)
    feed.start()
    await asyncio.wait_for(feed.done.wait(), 5)
    assert str(feed.error) == "the replay reader failed: KeyError: 'reader bug'"
    assert len(quotes) == 1


async def test_loop_replay_with_recorded_times_never_goes_back(tmp_path: Path) -> None:
    path = replay_file(tmp_path, ["1.0", "1.0", "1.0"])
    venue, got = make_venue(venue_config(mode="replay", replay_path=path, replay_speed=0.0,
                                         loop_replay=True, replay_timestamps="recorded"))
    venue.start()
    await got.wait_type(QuoteTick, count=9)
    venue.stop()
    times = [q.ts_event for q in got.of(QuoteTick)][:9]
    assert times == [T, T + 1, T + 2, T + 3, T + 4, T + 5, T + 6, T + 7, T + 8]


# -- the data client stops the node ----------------------------------------------------------


@pytest.fixture
async def context() -> ClientContext:
    loop = asyncio.get_running_loop()
    clock = LiveClock(loop)
    msgbus = MessageBus(TraderId("TESTER-001"), clock)
    msgbus.register(DATA_ENGINE_PROCESS, lambda _msg: None)
    return ClientContext(loop=loop, msgbus=msgbus, cache=Cache(), clock=clock)


class Stops:
    def __init__(self, context: ClientContext) -> None:
        self.requests: list[tuple[str, str | None]] = []
        self.event = asyncio.Event()
        context.on_stop_request(self)

    def __call__(self, reason: str, *, failure: str | None = None) -> None:
        self.requests.append((reason, failure))
        self.event.set()


async def test_the_data_client_stops_the_node_when_a_random_walk_fails(
    context: ClientContext,
) -> None:
    stops = Stops(context)
    fail = SimInstrumentConfig(symbol="FAILUSDT", base="BTC", quote="USDT")
    config = SimDataClientConfig(venue_config=SimVenueConfig(
        instruments=[fail], feed=SimFeedConfig(rate_per_second=1000.0)))
    client = SimDataClientFactory.create("SIM", config, context)
    await client.connect()  # a random walk starts at connect
    await asyncio.wait_for(stops.event.wait(), 5)
    reason = f"market feed failed: sim feed failed: RuntimeError: {MESSAGE}"
    assert stops.requests == [(reason, reason)]
    await client.disconnect()


@pytest.mark.parametrize("on_bad_line", ["stop", "skip"])
async def test_the_data_client_stops_the_node_when_a_replay_fails(
    context: ClientContext, tmp_path: Path, on_bad_line: str
) -> None:
    # With on_bad_line = "skip" too: an error that is not a bad line was taken for the
    # end of the replay (exit 0 with stop_at_end, a silent node without).
    stops = Stops(context)
    path = replay_file(tmp_path, ["1.0", "0.07777", "1.0"])
    config = SimDataClientConfig(venue_config=venue_config(
        mode="replay", replay_path=path, replay_speed=0.0, stop_at_end=True,
        on_bad_line=on_bad_line))
    client = SimDataClientFactory.create("SIM", config, context)
    await client.connect()
    client.subscribe_quote_ticks(BTC_ID)
    client.on_trading_started()
    await asyncio.wait_for(stops.event.wait(), 5)
    reason = f"replay failed: sim feed failed: RuntimeError: {MESSAGE}"
    assert stops.requests == [(reason, reason)]
    await client.disconnect()
