"""The data engine at the node's edge (issue 17): bad quotes and trades from any adapter
are dropped, counted per reason and logged (rate-limited); a subscribed venue's feed that
goes quiet for ``stale_after`` is STALE in the engine, the status line and the metrics,
and fresh again when ticks come back."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest

from livenode.bus import topics
from livenode.cli.summary import status_line
from livenode.config import DataEngineConfig
from livenode.core.uuid import new_id
from livenode.engines.data_engine import DataEngine
from livenode.engines.data_quality import LOG_EVERY_S
from livenode.model.commands import SubscribeQuoteTicks, UnsubscribeQuoteTicks
from livenode.model.data import QuoteTick
from livenode.model.identifiers import InstrumentId
from livenode.model.objects import Price, Quantity
from livenode.node.metrics import MetricsSnapshot, NodeCollector
from livenode.node.run_report import FeedRow, RunReport

from .helpers import IID, SEC, SIM, T0, Env, RecordingDataClient, make_env, quote, trade

ETH = InstrumentId("ETHUSDT.SIM")


@pytest.fixture
def env() -> Env:
    return make_env()


def build(env: Env, **config: Any) -> DataEngine:
    engine = DataEngine(env.msgbus, env.cache, env.clock, DataEngineConfig(**config))
    engine.register_client(RecordingDataClient())
    engine.start()
    return engine


def q(bid: str, ask: str, ts: int = T0, iid: InstrumentId = IID) -> QuoteTick:
    return quote(bid, ask, ts=ts, iid=iid)


# -- validation -------------------------------------------------------------------------------


def test_bad_quotes_and_trades_are_dropped_and_counted_by_reason(env: Env) -> None:
    engine = build(env)
    quotes, trades = env.record(topics.quotes(IID)), env.record(topics.trades(IID))
    for bad in (q("0", "1.00"), q("-1.00", "1.00"), q("1.00", "0.00"), q("1.00", "-0.5")):
        engine.process(bad)
    engine.process(q("1.02", "1.01"))  # crossed
    engine.process(trade("0"))
    engine.process(trade("-3.5"))
    assert quotes == [] and trades == []
    assert engine.dropped == {"non_positive_price": 6, "crossed_quote": 1, "ts_backwards": 0}
    counters = engine.counters()
    assert counters["dropped_non_positive_price"] == 6 and counters["dropped_crossed_quote"] == 1
    assert engine.quotes_processed == engine.trades_processed == engine.data_count == 0
    assert env.cache.quote_tick(IID) is None


def test_good_quotes_pass_a_locked_one_and_mixed_precisions_included(env: Env) -> None:
    engine = build(env)
    quotes = env.record(topics.quotes(IID))
    engine.process(q("1.00", "1.00"))  # locked: bid == ask
    engine.process(q("1.005", "1.01", ts=T0 + 1))  # 1.005 < 1.01 across precisions
    crossed = msgspec.structs.replace(q("1.00", "1.01", ts=T0 + 2), bid_price=Price(1005, 2),
                                      ask_price=Price(10040, 4))  # 10.05 > 1.004
    engine.process(crossed)
    assert len(quotes) == 2 and engine.dropped["crossed_quote"] == 1


def test_time_going_backwards_is_judged_per_instrument_and_per_kind(env: Env) -> None:
    engine = build(env)
    btc, eth = env.record(topics.quotes(IID)), env.record(topics.quotes(ETH))
    trades = env.record(topics.trades(IID))
    engine.process(q("1.00", "1.01", ts=T0 + 10))
    engine.process(q("1.00", "1.01", ts=T0 + 10))  # the same time: fine
    engine.process(trade("1.00", ts=T0 + 5))  # an earlier trade: trades are stamped apart
    engine.process(q("2.00", "2.01", ts=T0 + 1, iid=ETH))  # another instrument
    engine.process(q("1.00", "1.01", ts=T0 + 9))  # backwards: dropped
    engine.process(trade("1.00", ts=T0 + 4, n=2))  # backwards: dropped
    assert (len(btc), len(eth), len(trades)) == (2, 1, 1)
    assert engine.dropped["ts_backwards"] == 2


def test_each_check_can_be_turned_off(env: Env) -> None:
    engine = build(env, validate_data=False, validate_data_sequence=False)
    quotes = env.record(topics.quotes(IID))
    engine.process(q("1.02", "1.01", ts=T0 + 10))
    engine.process(q("0", "1.01", ts=T0 + 5))
    assert len(quotes) == 2 and sum(engine.dropped.values()) == 0


def test_a_negative_size_cannot_reach_the_engine() -> None:
    # Why the engine spends no comparison on sizes: no Quantity can be negative.
    with pytest.raises(ValueError, match="must be non-negative"):
        Quantity(-1, 3)
    with pytest.raises(ValueError, match="must be non-negative"):
        msgspec.structs.replace(Quantity.from_str("1.000"), raw=-1)
    with pytest.raises(msgspec.ValidationError, match="must be non-negative"):
        msgspec.msgpack.decode(msgspec.msgpack.encode([-1, 3]), type=Quantity)


def test_drops_are_logged_rate_limited_per_reason(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    engine = build(env)
    caplog.set_level(logging.WARNING, logger="livenode.engines.data")
    for i in range(1000):
        engine.process(q("1.02", "1.01", ts=T0 + i))
    engine.process(trade("0"))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "DataEngine: dropped a quote of BTCUSDT.SIM: crossed_quote: bid 1.000@1.02, "
        "ask 2.000@1.01",
        "DataEngine: dropped a trade of BTCUSDT.SIM: non_positive_price: 1.000@0",
    ]
    # The rest is said once the window passed (by the engine's timer, quiet or not).
    env.clock.advance_time(int(LOG_EVERY_S * SEC))
    assert [r.getMessage() for r in caplog.records][2:] == [
        "DataEngine: 999 more tick(s) dropped for crossed_quote since the last line"]
    engine.process(q("1.02", "1.01"))  # within the new window: counted, not said
    assert len(caplog.records) == 3 and engine.dropped["crossed_quote"] == 1001


# -- staleness --------------------------------------------------------------------------------


def subscribe(env: Env, iid: InstrumentId = IID, cls: type = SubscribeQuoteTicks) -> None:
    env.msgbus.publish(topics.data_commands(SIM),
                       cls(venue=SIM, instrument_id=iid, command_id=new_id(), ts_init=T0))


def test_a_quiet_subscribed_feed_goes_stale_and_fresh_again(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livenode.engines.data")
    engine = build(env, stale_after=5.0)
    env.clock.advance_time(60 * SEC)
    assert engine.feeds() == {}  # nothing subscribed: nothing judged
    subscribe(env)
    now = env.clock.timestamp_ns()
    for second in range(1, 8):  # one quote a second: fresh
        engine.process(q("1.00", "1.01", ts=now + second * SEC))
        env.clock.advance_time(SEC)
    assert engine.stale_venues() == {} and engine.feeds()["SIM"][0] is False
    env.clock.advance_time(4 * SEC)
    assert engine.stale_venues() == {}
    env.clock.advance_time(2 * SEC)  # 6 s without a tick
    assert list(engine.stale_venues()) == ["SIM"] and engine.stale_venues()["SIM"] >= 5.0
    assert engine.counters()["stale_feeds"] == 1
    env.clock.advance_time(10 * SEC)
    engine.process(q("1.00", "1.01", ts=env.clock.timestamp_ns()))
    env.clock.advance_time(SEC)
    assert engine.stale_venues() == {} and engine.counters()["stale_feeds"] == 0
    said = [r.getMessage() for r in caplog.records]
    assert [m for m in said if "STALE" in m] == [
        "DataEngine: no data from SIM for 5.0s: STALE (stale_after = 5s)"]
    assert [m for m in said if "fresh" in m] == ["DataEngine: data from SIM again: fresh"]


def test_a_feed_subscribed_but_never_heard_goes_stale_and_unsubscribing_forgets_it(
    env: Env,
) -> None:
    engine = build(env, stale_after=2.0)
    subscribe(env)
    env.clock.advance_time(3 * SEC)
    assert list(engine.stale_venues()) == ["SIM"]
    subscribe(env, cls=UnsubscribeQuoteTicks)
    env.clock.advance_time(SEC)
    assert engine.stale_venues() == {} and engine.feeds() == {}


def test_stale_after_zero_turns_the_check_off(env: Env) -> None:
    engine = build(env, stale_after=0.0)
    subscribe(env)
    env.clock.advance_time(3600 * SEC)
    assert engine.stale_venues() == {} and engine.feeds() == {}


def test_stale_shows_in_the_status_line_and_the_metrics() -> None:
    line = status_line(seconds=12, orders=0, fills=0, open_positions={}, pnl={}, stale=["SIM"])
    assert line.endswith(" STALE=SIM")
    report = RunReport(
        engines={"DataEngine": {"dropped_crossed_quote": 3, "dropped_ts_backwards": 1,
                                "quotes_processed": 9}},
        feeds={"SIM": FeedRow(stale=True, seconds_without_data=7.5),
               "XCH": FeedRow(stale=False, seconds_without_data=0.2)},
    )
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in NodeCollector(lambda: MetricsSnapshot(report=report)).collect()
        for s in family.samples
    }
    assert samples[("livenode_data_dropped_total", (("reason", "crossed_quote"),))] == 3
    assert samples[("livenode_data_dropped_total", (("reason", "ts_backwards"),))] == 1
    assert samples[("livenode_data_feed_stale", (("venue", "SIM"),))] == 1
    assert samples[("livenode_data_feed_stale", (("venue", "XCH"),))] == 0
    assert samples[("livenode_data_feed_idle_seconds", (("venue", "SIM"),))] == 7.5
    assert RunReport(feeds={"SIM": FeedRow(stale=False, seconds_without_data=1.0)}).merge(
        report).to_dict()["feeds"]["SIM"] == {"stale": True, "seconds_without_data": 7.5}
