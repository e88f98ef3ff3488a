"""Strategy: subscriptions, dispatch, ts_trigger, fault containment, stop and manage_stop."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from livenode.bus import topics
from livenode.model.commands import (
    CancelOrder,
    ModifyOrder,
    SubmitOrder,
    SubscribeBars,
    SubscribeQuoteTicks,
    SubscribeTradeTicks,
    UnsubscribeQuoteTicks,
)
from livenode.model.data import BarType
from livenode.model.enums import ComponentState, OrderSide, OrderStatus, PositionSide
from livenode.model.events import ComponentStateChanged, OrderCancelRejected
from livenode.model.identifiers import TradeId
from livenode.model.objects import Price, Quantity
from livenode.trading.config import StrategyConfig
from livenode.trading.strategy import PositionLeftOpen, Strategy

from .helpers import BTC, SIM, Harness

QTY = Quantity.from_str("1.000")


class Recorder(Strategy):
    """Records every handler call; behaviour injectable per test."""

    def __init__(self, config: StrategyConfig | None = None, **hooks: Any) -> None:
        super().__init__(config)
        self.calls: list[tuple[str, Any]] = []
        self.hooks = hooks

    def _hook(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))
        hook = self.hooks.get(name)
        if hook is not None:
            hook(self, arg)

    def on_start(self) -> None:
        self._hook("on_start")

    def on_stop(self) -> None:
        self._hook("on_stop")

    def on_quote_tick(self, tick: Any) -> None:
        self._hook("on_quote_tick", tick)

    def on_trade_tick(self, tick: Any) -> None:
        self._hook("on_trade_tick", tick)

    def on_bar(self, bar: Any) -> None:
        self._hook("on_bar", bar)

    def on_order_event(self, event: Any) -> None:
        self._hook("on_order_event", event)

    def on_order_accepted(self, event: Any) -> None:
        self._hook("on_order_accepted", event)

    def on_order_filled(self, event: Any) -> None:
        self._hook("on_order_filled", event)

    def on_order_canceled(self, event: Any) -> None:
        self._hook("on_order_canceled", event)

    def on_position_opened(self, event: Any) -> None:
        self._hook("on_position_opened", event)

    def on_position_closed(self, event: Any) -> None:
        self._hook("on_position_closed", event)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def cfg(tag: str = "001", **kw: Any) -> StrategyConfig:
    return StrategyConfig(order_id_tag=tag, **kw)


@pytest.fixture
def h() -> Harness:
    return Harness()


def limit(s: Strategy, side: OrderSide = OrderSide.BUY, px: str = "99.00") -> Any:
    assert s.order_factory is not None
    return s.order_factory.limit(BTC, side, QTY, Price.from_str(px))


# -- registration and lifecycle -------------------------------------------------------------


def test_registration_gives_the_strategy_its_collaborators(h: Harness) -> None:
    s = Recorder()
    assert str(s.id) == "Recorder-001" and not s.is_registered
    h.trader.add_strategy(s)
    assert s.cache is not None and s.cache.instrument(BTC) is not None
    assert not hasattr(s.cache, "add_order")  # read-only facade
    assert s.portfolio is not None and not hasattr(s.portfolio, "_on_position_event")
    assert s.clock is h.clock and s.order_factory is not None
    assert s.state is ComponentState.READY


def test_lifecycle_is_published_on_the_component_topic(h: Harness) -> None:
    s = Recorder()
    h.trader.add_strategy(s)
    seen: list[ComponentState] = []
    h.msgbus.subscribe(topics.component_events(str(s.id)), lambda m: seen.append(m.state))
    h.trader.start()
    assert seen == [ComponentState.STARTING, ComponentState.RUNNING]
    assert s.names() == ["on_start"]


def test_duplicate_strategy_id_is_refused(h: Harness) -> None:
    h.trader.add_strategy(Recorder())
    with pytest.raises(ValueError, match="duplicate strategy id Recorder-001"):
        h.trader.add_strategy(Recorder())
    h.trader.add_strategy(Recorder(cfg("002")))
    assert [str(s.id) for s in h.trader.strategies()] == ["Recorder-001", "Recorder-002"]


def test_unregistered_strategy_cannot_start() -> None:
    with pytest.raises(RuntimeError, match="registered"):
        Recorder().start()


# -- subscriptions ------------------------------------------------------------------------


def test_subscriptions_publish_data_commands_and_route_data(h: Harness) -> None:
    bar_type = BarType.from_str("BTCUSDT.SIM-1-SECOND-MID")
    sent: list[Any] = []
    h.msgbus.subscribe(topics.data_commands(SIM), sent.append)

    def subscribe(s: Strategy, _: Any) -> None:
        s.subscribe_quote_ticks(BTC)
        s.subscribe_quote_ticks(BTC)  # once per strategy: the data engine counts subscribers
        s.subscribe_trade_ticks(BTC)
        s.subscribe_bars(bar_type)

    s = Recorder(on_start=subscribe)
    h.trader.add_strategy(s)
    h.trader.start()
    assert [type(c) for c in sent] == [SubscribeQuoteTicks, SubscribeTradeTicks, SubscribeBars]
    assert sent[0].instrument_id == BTC and sent[0].venue == SIM and sent[2].bar_type == bar_type
    assert s.subscribed_topics == sorted(
        [topics.quotes(BTC), topics.trades(BTC), topics.bars(bar_type)]
    )

    tick = h.quote("100.00", "100.10")
    assert s.calls[-1] == ("on_quote_tick", tick)

    sent.clear()
    s.unsubscribe_quote_ticks(BTC)
    s.unsubscribe_quote_ticks(BTC)  # not subscribed any more: nothing sent
    assert [type(c) for c in sent] == [UnsubscribeQuoteTicks]
    assert sent[0].instrument_id == BTC and sent[0].command_id  # a fresh id, not the template's
    assert not h.msgbus.is_subscribed(topics.quotes(BTC), s._handle_quote_tick)
    count = len(s.calls)
    h.quote("100.00", "100.10")
    assert len(s.calls) == count

    sent.clear()
    asyncio.run(s.stop_async())
    assert sorted(type(c).__name__ for c in sent) == ["UnsubscribeBars", "UnsubscribeTradeTicks"]
    assert s.subscribed_topics == []


# -- dispatch and ts_trigger ----------------------------------------------------------------


def test_order_and_position_events_dispatch_general_then_specific(h: Harness) -> None:
    s = Recorder()
    h.trader.add_strategy(s)
    h.trader.start()
    assert s.order_factory is not None
    order = s.order_factory.market(BTC, OrderSide.BUY, QTY)
    s.submit_order(order)
    names = s.names()
    # Submitted has no specific override here; Accepted and Filled do.
    assert names[1:] == [
        "on_order_event",  # submitted
        "on_order_event", "on_order_accepted",
        "on_order_event", "on_order_filled",
        "on_position_opened",
    ]
    assert order.status is OrderStatus.FILLED  # the cached object is the strategy's object
    assert h.cache.order(order.client_order_id) is order
    assert s.events_handled == 4
    assert s.orders_submitted == 1


def test_commands_carry_the_trigger_events_ts_init(h: Harness) -> None:
    def on_quote(s: Strategy, tick: Any) -> None:
        s.submit_order(limit(s))

    def on_accepted(s: Strategy, event: Any) -> None:
        order = s.cache.order(event.client_order_id)  # type: ignore[union-attr]
        h.clock.advance_time(5_000)  # the handler takes time: ts_init moves, ts_trigger not
        s.modify_order(order, price=Price.from_str("98.00"))
        s.cancel_order(order)

    s = Recorder(on_start=lambda s, _: s.subscribe_quote_ticks(BTC), on_quote_tick=on_quote,
                 on_order_accepted=on_accepted)
    h.trader.add_strategy(s)
    h.trader.start()
    tick = h.quote("100.00", "100.10")

    submit = h.client.of_type(SubmitOrder)[0]
    assert submit.ts_trigger == tick.ts_init
    accepted = next(e for n, e in s.calls if n == "on_order_accepted")
    modify, cancel = h.client.of_type(ModifyOrder)[0], h.client.of_type(CancelOrder)[0]
    assert modify.ts_trigger == accepted.ts_init == cancel.ts_trigger
    assert modify.ts_init == accepted.ts_init + 5_000

    # Outside any handler the trigger is the command's own creation time.
    h.clock.advance_time(1_000)
    before = h.clock.timestamp_ns()
    s.submit_order(limit(s))
    own = h.client.of_type(SubmitOrder)[-1]
    assert own.ts_trigger == own.ts_init == before


def test_timers_are_guarded_and_stamp_their_event_time(h: Harness) -> None:
    fired: list[Any] = []

    def on_start(s: Strategy, _: Any) -> None:
        s.set_timer("tick", 1_000_000, lambda e: (fired.append(e), s.submit_order(limit(s))))

    s = Recorder(on_start=on_start)
    h.trader.add_strategy(s)
    h.trader.start()
    assert s.timer_names == ["tick"]
    h.clock.advance_time(1_000_000)
    assert fired[0].name == "tick"  # the strategy's own name, not the clock's namespaced key
    assert h.client.of_type(SubmitOrder)[0].ts_trigger == fired[0].ts_init

    s.cancel_timer("tick")
    s.set_timer("boom", 1_000, lambda e: 1 / 0)
    h.clock.advance_time(1_000)
    assert s.state is ComponentState.FAULTED and s.error_count == 1
    # A faulted strategy's timers stop (the execution engine's stall check stays).
    assert s.timer_names == []
    assert [n for n in h.clock.timer_names if not n.startswith("ExecEngine.")] == []


# -- faults ---------------------------------------------------------------------------------


def boom(s: Strategy, _: Any) -> None:
    raise RuntimeError("strategy bug")


def test_handler_exception_faults_only_that_strategy(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    faults: list[str] = []
    subscribe = lambda s, _: s.subscribe_quote_ticks(BTC)  # noqa: E731
    bad = Recorder(cfg("001"), on_start=subscribe, on_quote_tick=boom)
    good = Recorder(cfg("002"), on_start=subscribe)
    h.trader.add_strategy(bad)
    h.trader.add_strategy(good)
    h.trader._on_stop_node = faults.append
    h.trader.start()

    h.quote("100.00", "100.10")
    assert bad.state is ComponentState.FAULTED
    assert bad.error_count == 1 and isinstance(bad.last_error, RuntimeError)
    assert "Recorder-001" in caplog.text and "on_quote_tick" in caplog.text
    assert faults == []  # on_fault = "fault": the node keeps running
    assert h.trader.faults[0][0] == bad.id

    h.quote("100.01", "100.11")
    assert bad.names().count("on_quote_tick") == 1  # FAULTED receives nothing more
    assert good.names().count("on_quote_tick") == 2 and good.state is ComponentState.RUNNING
    assert h.msgbus.handler_errors == 0  # contained by the strategy's guard, not the bus
    assert h.trader.counters()["Recorder-001"]["error_count"] == 1


def test_on_fault_stop_node_calls_the_nodes_callback() -> None:
    reasons: list[str] = []
    h = Harness(on_stop_node=reasons.append)
    s = Recorder(cfg(on_fault="stop_node"), on_start=lambda s, _: s.subscribe_quote_ticks(BTC),
                 on_quote_tick=boom)
    h.trader.add_strategy(s)
    h.trader.start()
    h.quote("100.00", "100.10")
    assert len(reasons) == 1 and "Recorder-001" in reasons[0] and "strategy bug" in reasons[0]


def test_on_start_exception_faults_it_and_the_others_still_start(h: Harness) -> None:
    states: list[ComponentState] = []
    bad = Recorder(cfg("001"), on_start=boom)
    good = Recorder(cfg("002"))
    h.trader.add_strategy(bad)
    h.trader.add_strategy(good)
    h.msgbus.subscribe(
        topics.component_events("Recorder-001"),
        lambda m: states.append(m.state) if isinstance(m, ComponentStateChanged) else None,
    )
    h.trader.start()
    assert bad.state is ComponentState.FAULTED and bad.error_count == 1
    assert states == [ComponentState.STARTING, ComponentState.FAULTED]  # never RUNNING
    assert good.state is ComponentState.RUNNING and h.trader.is_running


def test_orders_created_by_a_faulting_handler_before_the_raise_still_go_but_none_after(
    h: Harness,
) -> None:
    def submit_then_raise(s: Strategy, _: Any) -> None:
        s.submit_order(limit(s))
        raise ValueError("late bug")

    s = Recorder(
        on_start=lambda s, _: s.subscribe_quote_ticks(BTC), on_quote_tick=submit_then_raise
    )
    h.trader.add_strategy(s)
    h.trader.start()
    h.quote("100.00", "100.10")
    assert len(h.client.of_type(SubmitOrder)) == 1
    assert s.state is ComponentState.FAULTED
    assert s.submit_order(limit(s)) is False and s.orders_refused == 1


# -- stop -----------------------------------------------------------------------------------


async def test_stopping_refuses_new_orders_but_not_cancels(h: Harness) -> None:
    results: dict[str, Any] = {}

    def on_stop(s: Strategy, _: Any) -> None:
        results["submit"] = s.submit_order(limit(s, px="98.00"))
        results["cancel"] = s.cancel_order(results["resting"])

    s = Recorder(cfg(manage_stop=False), on_stop=on_stop)
    h.trader.add_strategy(s)
    h.trader.start()
    results["resting"] = limit(s)
    s.submit_order(results["resting"])
    await h.trader.stop_async()
    assert results["submit"] is False and results["cancel"] is True
    assert s.orders_refused == 1 and len(h.client.of_type(SubmitOrder)) == 1
    assert results["resting"].status is OrderStatus.CANCELED
    assert s.state is ComponentState.STOPPED and h.trader.is_stopped
    assert s.submit_order(limit(s)) is False and s.orders_refused == 2


async def test_manage_stop_cancels_and_flattens_then_stops(h: Harness) -> None:
    s = Recorder(cfg(manage_stop_timeout=5.0))
    h.trader.add_strategy(s)
    h.trader.start()
    assert s.order_factory is not None
    resting = limit(s)
    s.submit_order(resting)
    s.submit_order(s.order_factory.market(BTC, OrderSide.BUY, Quantity.from_str("2.000")))
    [position] = h.cache.positions_open(strategy_id=s.id)
    assert position.side is PositionSide.LONG
    # Venue answers later, from the loop: the stop must wait for the events, not poll.
    h.client.auto_cancel = False
    h.client.auto_fill_market = False
    loop = asyncio.get_running_loop()
    stop = asyncio.ensure_future(s.stop_async())
    await asyncio.sleep(0)
    assert s.state is ComponentState.STOPPING
    cancels = h.client.of_type(CancelOrder)
    assert [c.client_order_id for c in cancels] == [resting.client_order_id]
    # The close waits for the cancel: a resting order filling first would change it.
    assert [c for c in h.client.of_type(SubmitOrder) if c.order.reduce_only] == []
    h.client.cancel(cancels[0])
    closes = [c for c in h.client.of_type(SubmitOrder) if c.order.reduce_only]
    assert len(closes) == 1 and closes[0].order.side is OrderSide.SELL
    assert closes[0].order.quantity == Quantity.from_str("2.000")
    assert closes[0].position_id == position.id
    loop.call_soon(
        h.client.fill, closes[0].order, closes[0].order.quantity, Price.from_str("101.00")
    )
    await asyncio.wait_for(stop, timeout=30)
    assert s.state is ComponentState.STOPPED and not s.manage_stop_timed_out
    assert h.cache.positions_open(strategy_id=s.id) == []
    assert resting.status is OrderStatus.CANCELED
    assert not h.msgbus.has_subscribers(topics.order_events(s.id))


async def test_manage_stop_times_out_when_the_venue_never_answers(h: Harness) -> None:
    s = Recorder(cfg(manage_stop_timeout=0.05))
    h.trader.add_strategy(s)
    h.trader.start()
    s.submit_order(limit(s))
    h.client.auto_cancel = False
    loop = asyncio.get_running_loop()
    started = loop.time()
    clean = await asyncio.wait_for(h.trader.stop_async(), timeout=30)  # bounded
    assert loop.time() - started >= 0.05  # it did wait for the venue, up to the timeout
    assert clean is False  # orders were left behind: not a clean stop
    assert s.manage_stop_timed_out and s.state is ComponentState.STOPPED
    assert len(h.client.of_type(CancelOrder)) == 1


async def test_manage_stop_does_not_cancel_again_what_is_being_canceled(h: Harness) -> None:
    # A trader behind its event queue at stop would otherwise re-cancel every order
    # it asked to cancel and whose answer it has not read yet.
    s = Recorder(cfg(manage_stop_timeout=5.0))
    h.trader.add_strategy(s)
    h.trader.start()
    h.client.auto_cancel = False
    asked, refused, untouched = limit(s), limit(s), limit(s)
    for order in (asked, refused, untouched):
        s.submit_order(order)
    s.cancel_order(asked)
    s.cancel_order(refused)
    [first, second] = h.client.of_type(CancelOrder)
    h.client.emit(OrderCancelRejected, second, reason="TEST: not now")  # may be asked again
    stop = asyncio.ensure_future(s.stop_async())
    await asyncio.sleep(0)
    stop_cancels = h.client.of_type(CancelOrder)[2:]
    assert sorted(str(c.client_order_id) for c in stop_cancels) == sorted(
        [str(refused.client_order_id), str(untouched.client_order_id)])
    for command in (first, *stop_cancels):
        h.client.cancel(command)
    await asyncio.wait_for(stop, timeout=30)
    assert s.state is ComponentState.STOPPED and not s.manage_stop_timed_out
    assert s._cancels_sent == {}  # nothing kept once the orders closed


async def test_manage_stop_reflattens_when_a_resting_order_fills_during_the_stop(
    h: Harness,
) -> None:
    s = Recorder(cfg(manage_stop_timeout=2.0))
    h.trader.add_strategy(s)
    h.trader.start()
    resting = limit(s)
    s.submit_order(resting)
    h.client.auto_cancel = False
    stop = asyncio.ensure_future(s.stop_async())
    await asyncio.sleep(0)
    assert [c for c in h.client.of_type(SubmitOrder) if c.order.reduce_only] == []  # flat
    # The resting buy fills before the cancel lands; the cancel is then moot.
    h.client.fill(resting, resting.quantity, Price.from_str("99.00"))
    await asyncio.wait_for(stop, timeout=1.0)
    closes = [c for c in h.client.of_type(SubmitOrder) if c.order.reduce_only]
    assert len(closes) == 1 and closes[0].order.side is OrderSide.SELL
    assert h.cache.positions_open(strategy_id=s.id) == [] and not s.manage_stop_timed_out


async def test_faulted_strategy_is_still_cancelled_at_stop_without_user_code(h: Harness) -> None:
    s = Recorder(on_start=lambda s, _: s.subscribe_quote_ticks(BTC), on_quote_tick=boom)
    h.trader.add_strategy(s)
    h.trader.start()
    resting = limit(s)
    s.submit_order(resting)
    h.quote("100.00", "100.10")
    assert s.is_faulted
    await h.trader.stop_async()
    assert resting.status is OrderStatus.CANCELED
    assert "on_stop" not in s.names() and s.is_faulted


async def test_trader_stops_strategies_concurrently(h: Harness) -> None:
    a, b = (
        Recorder(cfg("001", manage_stop_timeout=0.2)),
        Recorder(cfg("002", manage_stop_timeout=0.2)),
    )
    for s in (a, b):
        h.trader.add_strategy(s)
    h.trader.start()
    h.client.auto_cancel = False
    a.submit_order(limit(a))
    b.submit_order(limit(b))
    stop = asyncio.ensure_future(h.trader.stop_async())
    for _ in range(5):  # a few loop turns: the trader's task, then the strategies'
        await asyncio.sleep(0)
    # Both managed stops are under way at once (concurrent, not one after the other).
    assert a.state is ComponentState.STOPPING and b.state is ComponentState.STOPPING
    assert await asyncio.wait_for(stop, timeout=30) is False
    assert a.is_stopped and b.is_stopped and a.manage_stop_timed_out and b.manage_stop_timed_out


def test_sync_stop_sends_managed_cancels_without_waiting(h: Harness) -> None:
    s = Recorder()
    h.trader.add_strategy(s)
    h.trader.start()
    resting = limit(s)
    s.submit_order(resting)
    h.trader.stop()
    assert (
        s.is_stopped and h.client.of_type(CancelOrder)[0].client_order_id == resting.client_order_id
    )
    assert s.names() == ["on_start", "on_order_event", "on_order_event", "on_order_accepted",
                         "on_stop", "on_order_event", "on_order_canceled"]


def test_a_dispatcher_failure_outside_the_guard_still_faults_only_its_strategy(h: Harness) -> None:
    """Safety net: the trader hooks the bus's handler-error report to the owning strategy."""
    s, other = Recorder(cfg("001")), Recorder(cfg("002"))
    h.trader.add_strategy(s)
    h.trader.add_strategy(other)
    h.trader.start()
    h.msgbus.subscribe("test.broken", s._handle_quote_tick)
    h.msgbus.publish("test.broken", object())  # no ts_init: fails before the guard
    assert s.is_faulted and s.error_count == 1 and other.is_running
    assert h.msgbus.handler_errors == 1


async def test_user_code_cannot_trade_during_manage_stop(h: Harness) -> None:
    """Fills and cancels of the managed stop reach the handlers, but their orders are refused."""
    attempts: list[bool] = []

    def on_event(s: Strategy, _: Any) -> None:
        attempts.append(s.submit_order(limit(s, px="90.00")))

    s = Recorder(cfg(manage_stop_timeout=1.0), on_order_canceled=on_event, on_order_filled=on_event,
                 on_start=lambda s, _: s.subscribe_quote_ticks(BTC))
    h.trader.add_strategy(s)
    h.trader.start()
    assert s.order_factory is not None
    s.submit_order(limit(s))
    s.submit_order(s.order_factory.market(BTC, OrderSide.SELL, QTY))
    attempts.clear()  # the fill above happened while running: allowed
    count = len(h.client.of_type(SubmitOrder))
    await h.trader.stop_async()
    # Two resting limits canceled (the second was placed by the running fill handler),
    # then the close filled: three handler calls, three refusals.
    assert attempts == [False, False, False]
    assert s.orders_refused == 3
    assert len(h.client.of_type(SubmitOrder)) == count + 1  # only the managed close
    assert s.is_stopped and not s.manage_stop_timed_out
    quotes_seen = s.names().count("on_quote_tick")
    h.quote("100.00", "100.10")
    assert s.names().count("on_quote_tick") == quotes_seen


async def test_manage_stop_leaves_dust_below_the_minimum_notional_and_settles(h: Harness) -> None:
    # A remainder no venue accepts a close order for must not hold the stop for its
    # whole timeout (and must not be sent to be denied).
    import msgspec

    from livenode.model.objects import Money

    from .helpers import USDT

    h.cache.add_instrument(
        msgspec.structs.replace(h.cache.instrument(BTC), min_notional=Money.new("5", USDT))
    )
    h.quote("100.00", "100.10")
    s = Recorder(cfg(manage_stop_timeout=30.0))
    h.trader.add_strategy(s)
    h.trader.start()
    assert s.order_factory is not None
    s.submit_order(s.order_factory.market(BTC, OrderSide.BUY, Quantity.from_str("0.010")))
    [position] = h.cache.positions_open(strategy_id=s.id)  # 0.010 x 100 = 1 USDT < 5
    assert await asyncio.wait_for(h.trader.stop_async(), timeout=30) is True
    assert not s.manage_stop_timed_out
    assert [c for c in h.client.of_type(SubmitOrder) if c.order.reduce_only] == []
    assert position.is_open  # left as dust, and named: never a silent residue
    assert s.left_open == [PositionLeftOpen(
        instrument_id=BTC, position_id=position.id, quantity=Decimal("0.010"),
        reason="dust: notional 1.0005 USDT below the minimum notional 5 USDT")]


async def test_manage_stop_names_a_short_dust_below_the_minimum_quantity(h: Harness) -> None:
    # A short remainder below the instrument's minimum quantity: left open, named with
    # its signed quantity. The other strategy's close takes what the netting account's
    # net allows (0.996: the short offsets the rest), so the account ends flat and its
    # own 0.004 left is named too.
    import msgspec

    h.cache.add_instrument(msgspec.structs.replace(
        h.cache.instrument(BTC), min_quantity=Quantity.from_str("0.005")))
    dusty, flat = Recorder(cfg("001")), Recorder(cfg("002"))
    h.trader.add_strategy(dusty)
    h.trader.add_strategy(flat)
    h.trader.start()
    assert dusty.order_factory is not None and flat.order_factory is not None
    dusty.submit_order(dusty.order_factory.market(BTC, OrderSide.SELL, Quantity.from_str("0.004")))
    flat.submit_order(flat.order_factory.market(BTC, OrderSide.BUY, Quantity.from_str("1.000")))
    [position] = h.cache.positions_open(strategy_id=dusty.id)
    assert await asyncio.wait_for(h.trader.stop_async(), timeout=30) is True
    assert dusty.left_open == [PositionLeftOpen(
        instrument_id=BTC, position_id=position.id, quantity=Decimal("-0.004"),
        reason="dust: quantity 0.004 below the minimum quantity 0.005")]
    [rest] = h.cache.positions_open(strategy_id=flat.id)
    assert flat.left_open == [PositionLeftOpen(
        instrument_id=BTC, position_id=rest.id, quantity=Decimal("0.004"),
        reason="dust: quantity 0.004 below the minimum quantity 0.005")]
    assert sum(p.signed_qty for p in h.cache.positions_open()) == 0  # the account is flat


async def test_manage_stop_that_times_out_names_what_it_did_not_flatten(h: Harness) -> None:
    s = Recorder(cfg(manage_stop_timeout=0.05))
    h.trader.add_strategy(s)
    h.trader.start()
    assert s.order_factory is not None
    s.submit_order(s.order_factory.market(BTC, OrderSide.BUY, Quantity.from_str("1.000")))
    h.client.auto_accept = False  # the close is never answered
    assert await asyncio.wait_for(h.trader.stop_async(), timeout=30) is False
    assert s.manage_stop_timed_out
    [left] = s.left_open
    assert (left.quantity, left.reason) == (
        Decimal("1.000"), "not flattened: manage_stop timed out after 0.05s")


async def test_manage_stop_retries_a_refused_close_after_a_pause(h: Harness) -> None:
    # In a multiprocess node risk may refuse a close while its view of the position
    # lags ours: the strategy tries again (bounded), and the stop still finishes.
    s = Recorder(cfg(manage_stop_timeout=30.0))
    h.trader.add_strategy(s)
    h.trader.start()
    assert s.order_factory is not None
    s.submit_order(s.order_factory.market(BTC, OrderSide.BUY, Quantity.from_str("1.000")))
    h.client.reject_market = True  # the first close is refused
    stop = asyncio.ensure_future(s.stop_async())
    for _ in range(5):
        await asyncio.sleep(0)
    closes = [c for c in h.client.of_type(SubmitOrder) if c.order.reduce_only]
    assert len(closes) == 1 and not stop.done()
    h.client.reject_market = False  # the venue (or risk) agrees now
    await asyncio.wait_for(stop, timeout=30)
    closes = [c for c in h.client.of_type(SubmitOrder) if c.order.reduce_only]
    assert len(closes) == 2
    assert h.cache.positions_open(strategy_id=s.id) == [] and not s.manage_stop_timed_out


def test_an_order_sent_through_a_named_client_goes_there_with_its_cancel(h: Harness) -> None:
    from livenode.model.commands import CancelAllOrders
    from livenode.model.identifiers import AccountId, ClientId

    from .helpers import RecordingExecClient

    second = RecordingExecClient(h.msgbus, h.clock)
    second.name, second.account_id = "RECORDER-B", AccountId("SIM-002")
    second._cache_lookup = h.cache.order  # type: ignore[attr-defined]
    h.exec.register_client(second, default=False)
    s = Recorder()
    h.trader.add_strategy(s)
    h.trader.start()
    order = limit(s)
    assert s.submit_order(order, client_id=ClientId("RECORDER-B"))
    s.cancel_order(order)
    s.cancel_all_orders(BTC, client_id=ClientId("RECORDER-B"))
    assert [type(c) for c in second.commands] == [SubmitOrder, CancelOrder, CancelAllOrders]
    assert h.client.commands == []
    assert second.commands[0].client_id == ClientId("RECORDER-B")


async def test_manage_stop_settles_only_after_staying_flat_for_a_moment(h: Harness) -> None:
    # A flip reaches a trader worker as two position events (closed, then opened):
    # the moment between them looks flat. The stop settles only once the strategy has
    # stayed flat with nothing open for a short grace, not at the first flat look.
    from livenode.trading.strategy import _SETTLE_GRACE

    s = Recorder(cfg(manage_stop_timeout=5.0))
    h.trader.add_strategy(s)
    h.trader.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop = asyncio.ensure_future(s.stop_async())
    for _ in range(5):
        await asyncio.sleep(0)
    assert s.state is ComponentState.STOPPING  # flat, but not settled yet
    await asyncio.wait_for(stop, timeout=5)
    assert loop.time() - started >= _SETTLE_GRACE
    assert s.state is ComponentState.STOPPED and not s.manage_stop_timed_out


def test_an_event_heard_twice_reaches_the_handlers_once(h: Harness) -> None:
    # After a worker restart the bus can carry an event again: resent under its own id,
    # or a fill rebuilt by reconciliation under a new id and the same trade id. The
    # books skip both; the strategy's handlers must not see them twice either.
    s = Recorder()
    h.trader.add_strategy(s)
    h.trader.start()
    assert s.order_factory is not None
    s.submit_order(s.order_factory.market(BTC, OrderSide.BUY, QTY))
    names = s.names()
    [fill] = [arg for name, arg in s.calls if name == "on_order_filled"]
    h.msgbus.publish(topics.order_events(s.id), fill)  # resent as it was
    rebuilt = msgspec.structs.replace(fill, event_id="rebuilt-by-reconciliation")
    h.msgbus.publish(topics.order_events(s.id), rebuilt)
    assert s.names() == names and s.duplicate_events == 2
    # A fill of the same order with another trade id is new.
    second = msgspec.structs.replace(fill, event_id="another", trade_id=TradeId("T-other"))
    h.msgbus.publish(topics.order_events(s.id), second)
    assert s.names() == [*names, "on_order_event", "on_order_filled"]
