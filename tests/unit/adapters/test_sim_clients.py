"""The sim data and execution clients over a real MessageBus and Cache, built by factories."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from livenode.adapters.sim import (
    SimDataClient,
    SimDataClientConfig,
    SimDataClientFactory,
    SimExecClient,
    SimExecClientConfig,
    SimExecClientFactory,
    SimVenues,
)
from livenode.bus.message_bus import MessageBus
from livenode.cache.cache import Cache
from livenode.core.clock import LiveClock
from livenode.engines.clients import DATA_ENGINE_PROCESS, EXEC_ENGINE_PROCESS, ClientContext
from livenode.model.data import QuoteTick, TradeTick
from livenode.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
)
from livenode.model.identifiers import AccountId, TraderId, Venue
from livenode.model.instruments import CurrencyPair, PerpetualContract
from livenode.venues.sim import SimVenue
from tests.unit.adapters.sim_helpers import (
    BTC_ID,
    ETH_ID,
    Recorder,
    cancel,
    submit,
    venue_config,
    wait_until,
)


@pytest.fixture
async def context() -> ClientContext:
    loop = asyncio.get_running_loop()
    clock = LiveClock(loop)
    msgbus = MessageBus(TraderId("TESTER-001"), clock)
    return ClientContext(loop=loop, msgbus=msgbus, cache=Cache(), clock=clock)


def endpoints(context: ClientContext) -> tuple[Recorder, Recorder]:
    """Stand-ins for the engines: record what arrives on their process endpoints."""
    data, execs = Recorder(), Recorder()
    context.msgbus.register(DATA_ENGINE_PROCESS, data)
    context.msgbus.register(EXEC_ENGINE_PROCESS, execs)
    return data, execs


def data_config(**feed: Any) -> SimDataClientConfig:
    return SimDataClientConfig(venue="SIM", venue_config=venue_config(**feed))


async def test_factories_share_the_venue_through_resources(context):
    data_client = SimDataClientFactory.create("SIM", data_config(), context)
    exec_client = SimExecClientFactory.create("SIM", SimExecClientConfig(), context)
    assert isinstance(data_client, SimDataClient) and isinstance(exec_client, SimExecClient)
    venue = context.shared(SimVenues).venues["SIM"]
    assert isinstance(venue, SimVenue)
    assert data_client.sim_venue is venue and exec_client.sim_venue is venue
    assert data_client.venue == Venue("SIM") and exec_client.account_id == AccountId("SIM-001")
    assert SimDataClientFactory.config_type is SimDataClientConfig
    assert SimExecClientFactory.config_type is SimExecClientConfig


async def test_exec_factory_without_venue_names_the_missing_data_client(context):
    # The exec client may be created before the data client (no order between them):
    # without any sim data client of the venue, its connect names what is missing.
    client = SimExecClientFactory.create("SIM", SimExecClientConfig(), context)
    with pytest.raises(LookupError, match=r"no sim venue 'SIM'.*SimDataClientFactory"):
        await client.connect()
    assert not client.is_connected


async def test_exec_client_created_and_connected_before_the_data_client(context):
    _, execs = endpoints(context)
    exec_client = SimExecClientFactory.create("SIM", SimExecClientConfig(), context)
    data_client = SimDataClientFactory.create("SIM", data_config(), context)
    venue = context.shared(SimVenues).venues["SIM"]
    assert isinstance(venue, SimVenue)
    assert exec_client.account_id == AccountId("SIM-001")
    await exec_client.connect()  # first: the data client is not connected yet
    assert exec_client.sim_venue is venue and data_client.sim_venue is venue
    assert execs.of(AccountState)
    await data_client.connect()
    await data_client.disconnect()
    await exec_client.disconnect()


async def test_exec_client_created_first_checks_its_account_id_at_connect(context):
    exec_client = SimExecClientFactory.create(
        "SIM", SimExecClientConfig(account_id="SIM-002"), context)
    SimDataClientFactory.create("SIM", data_config(), context)
    with pytest.raises(ValueError, match="differs from the venue's account SIM-001"):
        await exec_client.connect()


async def test_exec_factory_rejects_a_different_account_id(context):
    SimDataClientFactory.create("SIM", data_config(), context)
    with pytest.raises(ValueError, match="differs from the venue's account SIM-001"):
        SimExecClientFactory.create("SIM", SimExecClientConfig(account_id="SIM-002"), context)


async def test_configs_decode_from_builtins_and_forbid_unknown_fields():
    raw = {
        "venue": "SIM",
        "venue_config": {
            "starting_balances": ["1000 USDT"],
            "feed": {"mode": "random_walk", "rate_per_second": 100.0, "seed": 7},
            "instruments": [{"symbol": "BTCUSDT"}, {"symbol": "ETHUSDT-PERP",
                                                   "kind": "perpetual", "base": "ETH"}],
        },
    }
    cfg = msgspec.convert(raw, SimDataClientConfig)
    assert cfg.venue_config.instruments[1].kind == "perpetual"
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"venue": "SIM", "typo": 1}, SimDataClientConfig)
    with pytest.raises(msgspec.ValidationError, match="kind"):
        msgspec.convert({"symbol": "X", "kind": "future"},
                        type(cfg.venue_config.instruments[0]))


async def test_data_client_delivers_instruments_and_only_subscribed_ticks(context):
    data, _ = endpoints(context)
    client = SimDataClientFactory.create(
        "SIM", data_config(rate_per_second=2000.0, max_ticks=200), context
    )
    client.subscribe_quote_ticks(BTC_ID)
    client.subscribe_trade_ticks(ETH_ID)
    await client.connect()
    assert client.is_connected
    venue = client.sim_venue
    await asyncio.wait_for(venue.wait_feed_done(), 10)
    instruments = [m for m in data.items if isinstance(m, CurrencyPair | PerpetualContract)]
    assert {i.id for i in instruments} == {BTC_ID, ETH_ID}
    quotes = data.of(QuoteTick)
    assert len(quotes) == 200 and {q.instrument_id for q in quotes} == {BTC_ID}
    # ts_init: when the tick entered the node (the client stamps it), never before
    # the venue made it (ts_event), and in arrival order.
    assert all(q.ts_init >= q.ts_event for q in quotes)
    assert [q.ts_init for q in quotes] == sorted(q.ts_init for q in quotes)
    trades = data.of(TradeTick)
    # ETH trades only: the venue printed BTC trades too, the client filtered them out
    assert trades and {t.instrument_id for t in trades} == {ETH_ID}
    assert venue.trades_emitted > len(trades)
    client.unsubscribe_quote_ticks(BTC_ID)
    await client.disconnect()
    assert not client.is_connected and not venue.is_running


async def test_unsubscribe_stops_forwarding(context):
    data, _ = endpoints(context)
    client = SimDataClientFactory.create("SIM", data_config(rate_per_second=5000.0), context)
    client.subscribe_quote_ticks(BTC_ID)
    await client.connect()
    await data.wait_type(QuoteTick, count=10)
    client.unsubscribe_quote_ticks(BTC_ID)
    before = len(data.of(QuoteTick))
    # the feed keeps running: wait for more venue quotes, none may be forwarded
    venue = client.sim_venue
    target = venue.quotes_emitted + 50
    await wait_until(lambda: venue.quotes_emitted >= target)
    assert len(data.of(QuoteTick)) == before
    await client.disconnect()


async def test_exec_client_round_trip_over_the_bus(context):
    _data, execs = endpoints(context)
    data_client = SimDataClientFactory.create("SIM", data_config(rate_per_second=500.0), context)
    exec_client = SimExecClientFactory.create("SIM", SimExecClientConfig(), context)
    await data_client.connect()
    await exec_client.connect()
    state = (await execs.wait_type(AccountState))[0]
    assert state.account_id == AccountId("SIM-001")
    # a market needs a quote first: wait until the venue has produced one
    await wait_until(lambda: data_client.sim_venue.quotes_emitted >= 2)

    ts_trigger = context.clock.timestamp_ns()
    market = submit("BUY", "MARKET", qty="0.001", tif="IOC", ts=ts_trigger)
    exec_client.submit_order(market)
    submitted = execs.of(OrderSubmitted)
    assert len(submitted) == 1 and submitted[0].ts_event >= ts_trigger  # synchronous, first
    assert submitted[0].account_id == AccountId("SIM-001")
    await execs.wait_for(lambda m: isinstance(m, OrderFilled | OrderCanceled))
    kinds = [type(m).__name__ for m in execs.items if not isinstance(m, AccountState)]
    assert kinds[:3] == ["OrderSubmitted", "OrderAccepted", "OrderFilled"]
    assert len(exec_client.latencies_ns) == 1 and exec_client.latencies_ns[0] >= 0
    assert exec_client.latency_percentiles(50.0)[50.0] == exec_client.latencies_ns[0]

    resting = submit("SELL", "LIMIT", qty="0.001", price="99999")
    exec_client.submit_order(resting)
    await execs.wait_for(
        lambda m: isinstance(m, OrderAccepted) and m.client_order_id == resting.client_order_id
    )
    [report] = await exec_client.generate_order_status_reports()
    assert report.client_order_id == resting.client_order_id
    assert len(await exec_client.generate_fill_reports()) == 1
    [position] = await exec_client.generate_position_status_reports()
    assert position.instrument_id == BTC_ID
    exec_client.cancel_order(cancel(resting))
    await execs.wait_type(OrderCanceled)
    await exec_client.disconnect()
    await data_client.disconnect()


async def test_latency_samples_are_bounded(context):
    SimDataClientFactory.create("SIM", data_config(), context)
    exec_client = SimExecClientFactory.create(
        "SIM", SimExecClientConfig(max_latency_samples=3), context
    )
    endpoints(context)
    for _ in range(5):
        exec_client.submit_order(submit("BUY", "LIMIT", qty="0.001", price="100"))
    assert len(exec_client.latencies_ns) == 3


async def test_disconnected_exec_client_receives_nothing(context):
    _, execs = endpoints(context)
    SimDataClientFactory.create("SIM", data_config(), context)
    exec_client = SimExecClientFactory.create("SIM", SimExecClientConfig(), context)
    await exec_client.connect()
    await exec_client.disconnect()
    venue = exec_client.sim_venue
    venue.submit(submit("BUY", "LIMIT", qty="0.001", price="10000"))
    # the venue handles the command in a later callback; wait until it holds the order
    await wait_until(venue.order_status_reports)
    assert [type(m) for m in execs.items] == [AccountState]  # only the one from connect


async def test_config_constraints_fail_at_load_naming_the_field():
    bad = [
        ({"feed": {"rate_per_second": 0}}, r"rate_per_second"),
        ({"ack_latency_ms": -1}, r"ack_latency_ms"),
        ({"instruments": [{"symbol": "X", "trade_probability": 2}]}, r"trade_probability"),
        ({"leverage": 0}, r"leverage"),
    ]
    for venue_cfg, field in bad:
        with pytest.raises(msgspec.ValidationError, match=field):
            msgspec.convert({"venue_config": venue_cfg}, SimDataClientConfig)


async def test_replay_starts_when_trading_starts_and_asks_the_node_to_stop_at_its_end(context):
    """Speed 0 used the whole file up at connect, before any strategy subscribed."""
    from tests.unit.adapters.sim_helpers import DATA

    stops: list[tuple[str, str | None]] = []
    done = asyncio.Event()

    def request_stop(reason: str, *, failure: str | None = None) -> None:
        stops.append((reason, failure))
        done.set()

    context.on_stop_request(request_stop)
    data, _ = endpoints(context)
    client = SimDataClientFactory.create(
        "SIM",
        data_config(mode="replay", replay_path=str(DATA / "generic_quotes_trades.csv"),
                    replay_speed=0.0, stop_at_end=True),
        context,
    )
    await client.connect()
    assert not client.sim_venue.is_running  # connected, nothing replayed yet
    client.subscribe_quote_ticks(BTC_ID)  # what a strategy's on_start does
    client.on_trading_started()
    await asyncio.wait_for(done.wait(), 5)
    assert len(data.of(QuoteTick)) == 2
    assert stops == [("replay finished: 3 quotes, 3 trades", None)]
    await client.disconnect()
