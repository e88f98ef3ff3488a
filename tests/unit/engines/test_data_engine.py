"""DataEngine: routing, ref-counted subscriptions, caching, publishing, bar aggregation."""

from __future__ import annotations

from typing import Any

import pytest

from livenode.bus import topics
from livenode.config import DataEngineConfig
from livenode.core.uuid import new_id
from livenode.engines.clients import DATA_ENGINE_PROCESS, LiveDataClient
from livenode.engines.data_engine import DataEngine
from livenode.model.commands import (
    SubscribeBars,
    SubscribeQuoteTicks,
    SubscribeTradeTicks,
    UnsubscribeBars,
    UnsubscribeQuoteTicks,
    UnsubscribeTradeTicks,
)
from livenode.model.data import Bar, BarType
from livenode.model.identifiers import InstrumentId, Venue
from livenode.model.objects import Price, Quantity

from .helpers import (
    IID,
    SEC,
    SIM,
    T0,
    Env,
    RecordingDataClient,
    make_env,
    make_instrument,
    quote,
    trade,
)


def cmd(cls: type, venue: Venue = SIM, **fields: Any) -> Any:
    return cls(venue=venue, command_id=new_id(), ts_init=T0, **fields)


@pytest.fixture
def env() -> Env:
    return make_env()


def build(env: Env, **config: Any) -> tuple[DataEngine, RecordingDataClient]:
    engine = DataEngine(env.msgbus, env.cache, env.clock, DataEngineConfig(**config))
    client = RecordingDataClient()
    engine.register_client(client)
    engine.start()
    return engine, client


def bar_timers(env: Env) -> list[str]:
    """The clock's timers but the engine's own staleness check."""
    return [name for name in env.clock.timer_names if name != "DataEngine.check_stale"]


def test_recording_client_satisfies_protocol() -> None:
    # The seam is one class now; the engine's test double offers what the engine calls.
    client = RecordingDataClient()
    for attr in ("name", "venue", "is_connected"):
        assert hasattr(client, attr)
    for method in ("subscribe_quote_ticks", "unsubscribe_quote_ticks", "subscribe_trade_ticks",
                   "unsubscribe_trade_ticks", "subscribe_bars", "unsubscribe_bars"):
        assert callable(getattr(LiveDataClient, method)) and callable(getattr(client, method))


def test_duplicate_venue_registration_is_an_error(env: Env) -> None:
    engine, _ = build(env)
    with pytest.raises(ValueError, match="SIM"):
        engine.register_client(RecordingDataClient(name="OTHER"))


def test_subscriptions_are_routed_and_reference_counted(env: Env) -> None:
    engine, client = build(env)
    other = RecordingDataClient(venue=Venue("XCH"), name="XCH-DATA")
    engine.register_client(other)
    for _ in range(2):  # two strategies
        env.msgbus.publish(topics.data_commands(SIM), cmd(SubscribeQuoteTicks, instrument_id=IID))
    assert client.calls == [("subscribe_quote_ticks", IID)]
    assert other.calls == []
    assert engine.subscription_count("quotes", IID) == 2
    env.msgbus.publish(topics.data_commands(SIM), cmd(UnsubscribeQuoteTicks, instrument_id=IID))
    assert client.calls == [("subscribe_quote_ticks", IID)]
    env.msgbus.publish(topics.data_commands(SIM), cmd(UnsubscribeQuoteTicks, instrument_id=IID))
    assert client.calls[-1] == ("unsubscribe_quote_ticks", IID)
    assert engine.subscribed_quote_ticks == []
    # Trades go the same way, and to the venue's own client.
    xid = InstrumentId("ETHUSD.XCH")
    env.msgbus.publish(topics.data_commands(Venue("XCH")),
                       cmd(SubscribeTradeTicks, venue=Venue("XCH"), instrument_id=xid))
    env.msgbus.publish(topics.data_commands(Venue("XCH")),
                       cmd(UnsubscribeTradeTicks, venue=Venue("XCH"), instrument_id=xid))
    assert other.calls == [("subscribe_trade_ticks", xid), ("unsubscribe_trade_ticks", xid)]


def test_unknown_venue_is_logged_and_counted(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    engine, client = build(env)
    env.msgbus.publish(topics.data_commands(Venue("NOPE")),
                       cmd(SubscribeQuoteTicks, venue=Venue("NOPE"), instrument_id=IID))
    assert engine.command_errors == 1
    assert client.calls == []
    assert env.msgbus.handler_errors == 0
    assert "no data client for venue NOPE" in caplog.text


def test_unsubscribe_without_subscription_does_not_call_client(env: Env) -> None:
    _engine, client = build(env)
    env.msgbus.publish(topics.data_commands(SIM), cmd(UnsubscribeQuoteTicks, instrument_id=IID))
    assert client.calls == []


def test_failing_client_subscription_is_not_counted(env: Env) -> None:
    engine, client = build(env)
    client.fail_on.add("subscribe_quote_ticks")
    env.msgbus.publish(topics.data_commands(SIM), cmd(SubscribeQuoteTicks, instrument_id=IID))
    assert engine.command_errors == 1 and engine.subscription_count("quotes", IID) == 0
    client.fail_on.clear()
    env.msgbus.publish(topics.data_commands(SIM), cmd(SubscribeQuoteTicks, instrument_id=IID))
    assert client.calls == [("subscribe_quote_ticks", IID)]


def test_process_caches_and_publishes_each_kind(env: Env) -> None:
    engine, _ = build(env)
    quotes = env.record(topics.quotes(IID))
    trades = env.record(topics.trades(IID))
    instruments = env.record(topics.instrument(IID))
    bar_type = BarType.from_str("BTCUSDT.SIM-1-MINUTE-LAST")
    bars = env.record(topics.bars(bar_type))
    instrument = make_instrument()
    q, t = quote("100.00", "100.10"), trade("100.05")
    b = Bar(
        bar_type, q.bid_price, q.ask_price, q.bid_price, q.ask_price, Quantity.from_str("1"), T0, T0
    )
    for item in (instrument, q, t, b):
        env.msgbus.send(DATA_ENGINE_PROCESS, item)
    assert instruments == [instrument] and quotes == [q] and trades == [t] and bars == [b]
    assert env.cache.instrument(IID) is instrument
    assert env.cache.quote_tick(IID) is q
    assert env.cache.trade_tick(IID) is t
    assert env.cache.bar(bar_type) is b
    assert (engine.quotes_processed, engine.trades_processed, engine.bars_published) == (1, 1, 1)
    assert engine.data_count == 4
    assert engine.counters()["data_count"] == 4


def test_unknown_data_is_counted(env: Env) -> None:
    engine, _ = build(env)
    engine.process("not data")
    assert engine.unknown_data == 1 and engine.data_count == 0


def test_out_of_sequence_data_dropped_when_validating(env: Env) -> None:
    engine, _ = build(env)  # validate_data_sequence is on by default
    got = env.record(topics.quotes(IID))
    engine.process(quote("1.00", "1.01", ts=T0 + 10))
    engine.process(quote("1.00", "1.01", ts=T0 + 5))
    engine.process(quote("1.00", "1.01", ts=T0 + 10))
    assert len(got) == 2 and engine.dropped["ts_backwards"] == 1


def test_engine_aggregates_time_bars_from_quotes(env: Env) -> None:
    engine, client = build(env)
    bar_type = BarType.from_str("BTCUSDT.SIM-1-SECOND-BID")
    bars = env.record(topics.bars(bar_type))
    env.msgbus.publish(topics.data_commands(SIM), cmd(SubscribeQuoteTicks, instrument_id=IID))
    env.msgbus.publish(topics.data_commands(SIM), cmd(SubscribeBars, bar_type=bar_type))
    # The client was asked for bars, said no; the quote stream is shared.
    assert client.calls == [("subscribe_quote_ticks", IID), ("subscribe_bars", bar_type)]
    assert engine.aggregated_bar_types == [bar_type]
    engine.process(quote("100.00", "100.10"))
    engine.process(quote("101.00", "101.10"))
    engine.process(quote("99.50", "99.60"))
    env.clock.set_time(T0 + SEC)
    assert len(bars) == 1
    bar = bars[0]
    assert (bar.open, bar.high, bar.low, bar.close) == (
        Price.from_str("100.00"), Price.from_str("101.00"), Price.from_str("99.50"),
        Price.from_str("99.50"),
    )
    assert bar.volume == Quantity.from_str("3.000") and bar.ts_event == T0 + SEC
    assert env.cache.bar(bar_type) == bar and engine.bars_published == 1
    # Unsubscribing the bars keeps the strategy's quote subscription alive.
    env.msgbus.publish(topics.data_commands(SIM), cmd(UnsubscribeBars, bar_type=bar_type))
    assert ("unsubscribe_quote_ticks", IID) not in client.calls
    assert engine.aggregated_bar_types == [] and bar_timers(env) == []
    env.msgbus.publish(topics.data_commands(SIM), cmd(UnsubscribeQuoteTicks, instrument_id=IID))
    assert client.calls[-1] == ("unsubscribe_quote_ticks", IID)


def test_engine_aggregates_last_bars_from_trades_and_shares_aggregator(env: Env) -> None:
    engine, client = build(env)
    bar_type = BarType.from_str("BTCUSDT.SIM-1-MINUTE-LAST")
    bars = env.record(topics.bars(bar_type))
    for _ in range(2):
        env.msgbus.publish(topics.data_commands(SIM), cmd(SubscribeBars, bar_type=bar_type))
    assert client.calls == [("subscribe_bars", bar_type), ("subscribe_trade_ticks", IID)]
    engine.process(trade("50.00", "2.000", n=1))
    engine.process(trade("51.00", "1.000", n=2))
    env.clock.set_time(T0 + 60 * SEC)  # T0 is a whole minute
    assert len(bars) == 1 and bars[0].close == Price.from_str("51.00")
    env.msgbus.publish(topics.data_commands(SIM), cmd(UnsubscribeBars, bar_type=bar_type))
    assert engine.aggregated_bar_types == [bar_type]
    env.msgbus.publish(topics.data_commands(SIM), cmd(UnsubscribeBars, bar_type=bar_type))
    assert client.calls[-1] == ("unsubscribe_trade_ticks", IID)
    assert engine.aggregated_bar_types == []


def test_venue_built_bars_are_not_aggregated(env: Env) -> None:
    engine = DataEngine(env.msgbus, env.cache, env.clock, DataEngineConfig())
    client = RecordingDataClient(venue_bars=True)
    engine.register_client(client)
    bar_type = BarType.from_str("BTCUSDT.SIM-1-MINUTE-LAST")
    env.msgbus.publish(topics.data_commands(SIM), cmd(SubscribeBars, bar_type=bar_type))
    assert client.calls == [("subscribe_bars", bar_type)]
    assert engine.aggregated_bar_types == [] and env.clock.timer_names == []
    env.msgbus.publish(topics.data_commands(SIM), cmd(UnsubscribeBars, bar_type=bar_type))
    assert client.calls[-1] == ("unsubscribe_bars", bar_type)


def test_stop_pauses_time_bars_and_dispose_detaches(env: Env) -> None:
    engine, _ = build(env)
    bar_type = BarType.from_str("BTCUSDT.SIM-1-SECOND-MID")
    env.msgbus.publish(topics.data_commands(SIM), cmd(SubscribeBars, bar_type=bar_type))
    assert env.clock.timer_names
    engine.stop()
    assert env.clock.timer_names == []
    engine.resume()
    assert env.clock.timer_names
    engine.stop()
    engine.dispose()
    assert not env.msgbus.has_endpoint(DATA_ENGINE_PROCESS)
    assert not env.msgbus.has_subscribers(topics.data_commands(SIM))
