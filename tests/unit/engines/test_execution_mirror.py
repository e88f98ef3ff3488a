"""The execution mirror keeps another process's cache in step with the engine's
events: modelled here as an engine and a mirror on one bus with separate caches."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from livenode.bus import topics
from livenode.cache.cache import Cache
from livenode.config import ExecEngineConfig
from livenode.engines.clients import EXEC_ENGINE_PROCESS
from livenode.engines.execution_engine import ExecutionEngine
from livenode.engines.execution_mirror import ExecutionMirror
from livenode.model.enums import OrderSide, OrderStatus, PositionSide
from livenode.model.orders import Order

from .helpers import (
    RecordingExecClient,
    accepted,
    account_state,
    filled,
    make_env,
    make_instrument,
    order_init,
    submit,
    submitted,
)


def test_mirror_follows_orders_positions_and_accounts_of_a_remote_engine() -> None:
    env = make_env()
    env.cache.add_instrument(make_instrument())
    engine = ExecutionEngine(env.msgbus, env.cache, env.clock, ExecEngineConfig())
    engine.register_client(RecordingExecClient())
    engine.start()
    remote = Cache()  # the trader worker's cache
    remote.add_instrument(make_instrument())
    mirror = ExecutionMirror(env.msgbus, remote, env.clock)
    seen_status: list[OrderStatus] = []

    o = order_init(side=OrderSide.BUY, qty="2.000", price="100.00")
    remote.add_order(Order(o))  # the strategy cached it when it submitted
    # A strategy handler subscribed after the mirror sees the cache already updated.
    env.msgbus.subscribe(
        topics.ALL_ORDER_EVENTS,
        lambda e: seen_status.append(remote.order(e.client_order_id).status),
    )
    env.msgbus.publish(topics.exec_commands(o.instrument_id.venue), submit(o))
    for event in (
        submitted(o),
        accepted(o, vid="V-1"),
        filled(o, "2.000", "100.00", "T-1", vid="V-1"),
    ):
        env.msgbus.send(EXEC_ENGINE_PROCESS, event)
    env.msgbus.send(EXEC_ENGINE_PROCESS, account_state())

    mirrored = remote.order(o.client_order_id)
    assert mirrored is not env.cache.order(o.client_order_id)
    assert mirrored.status is OrderStatus.FILLED
    assert seen_status == [OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.FILLED]
    (position,) = remote.positions_open()
    assert position.side is PositionSide.LONG and str(position.quantity) == "2.000"
    assert remote.accounts() and mirror.applied == 3 and mirror.refused == 0


def test_mirror_in_the_engines_own_process_applies_nothing_twice() -> None:
    env = make_env()
    env.cache.add_instrument(make_instrument())
    engine = ExecutionEngine(env.msgbus, env.cache, env.clock, ExecEngineConfig())
    engine.register_client(RecordingExecClient())
    engine.start()
    mirror = ExecutionMirror(env.msgbus, env.cache, env.clock)
    o = order_init()
    env.msgbus.publish(topics.exec_commands(o.instrument_id.venue), submit(o))
    env.msgbus.send(EXEC_ENGINE_PROCESS, submitted(o))
    env.msgbus.send(EXEC_ENGINE_PROCESS, accepted(o))
    assert env.cache.order(o.client_order_id).status is OrderStatus.ACCEPTED
    assert mirror.applied == 0 and mirror.refused == 0 and mirror.skipped == 2


def test_data_mirror_caches_what_a_remote_data_engine_publishes() -> None:
    from livenode.engines.data_mirror import DataMirror

    from .helpers import quote

    env = make_env()
    DataMirror(env.msgbus, env.cache, env.clock)
    instrument = make_instrument()
    env.msgbus.publish(topics.instrument(instrument.id), instrument)
    q = quote("100.00", "100.10")
    seen: list[object] = []
    env.msgbus.subscribe(
        topics.quotes(q.instrument_id), lambda m: seen.append(env.cache.quote_tick(q.instrument_id))
    )
    env.msgbus.publish(topics.quotes(q.instrument_id), q)
    assert env.cache.instrument(instrument.id) == instrument
    assert seen == [q]


def test_a_restarted_process_recovers_open_orders_and_positions_from_a_replay() -> None:
    # The exec worker replays, for a restarted trader, every event of its open
    # orders and a snapshot of its open positions; the new process's mirror rebuilds
    # them (it saw none of the fills) and keeps them in step afterwards.
    from livenode.model.events import PositionChanged

    env = make_env()
    env.cache.add_instrument(make_instrument())
    engine = ExecutionEngine(env.msgbus, env.cache, env.clock, ExecEngineConfig())
    engine.register_client(RecordingExecClient())
    engine.start()
    o = order_init(side=OrderSide.BUY, qty="2.000", price="100.00")
    env.msgbus.publish(topics.exec_commands(o.instrument_id.venue), submit(o))
    fill = filled(o, "2.000", "100.00", "T-1", vid="V-1")
    for event in (submitted(o), accepted(o, vid="V-1"), fill):
        env.msgbus.send(EXEC_ENGINE_PROCESS, event)
    resting = order_init(side=OrderSide.SELL, qty="1.000", price="110.00")
    env.msgbus.publish(topics.exec_commands(o.instrument_id.venue), submit(resting))
    for event in (submitted(resting), accepted(resting, vid="V-2")):
        env.msgbus.send(EXEC_ENGINE_PROCESS, event)

    restarted = Cache()
    restarted.add_instrument(make_instrument())
    from livenode.bus.message_bus import MessageBus
    from livenode.core.clock import TestClock

    bus = MessageBus(env.msgbus.trader_id, TestClock(0))
    mirror = ExecutionMirror(bus, restarted, env.clock)
    # The replay, as the exec worker sends it after the restart.
    for order in env.cache.orders_open():
        for event in order.events:
            bus.publish(topics.order_events(order.strategy_id), event)
    (position,) = env.cache.positions_open()
    bus.publish(topics.position_events(position.strategy_id),
                position.snapshot_event(PositionChanged))

    recovered_order = restarted.order(resting.client_order_id)
    assert recovered_order is not None and recovered_order.status is OrderStatus.ACCEPTED
    (recovered,) = restarted.positions_open()
    assert recovered.side is PositionSide.LONG and str(recovered.quantity) == "2.000"
    assert recovered.avg_px_open == 100.0 and mirror.recovered == 2  # 1 order, 1 position
    # Replayed twice (a second restart): nothing applied twice.
    for event in recovered_order.events:
        bus.publish(topics.order_events(resting.strategy_id), event)
    assert mirror.refused == 0 and len(recovered_order.events) == 3  # init, submitted, accepted


def test_a_position_snapshot_before_its_instrument_is_applied_when_it_arrives() -> None:
    """A restarted trader may get the exec worker's position replay before the data
    worker's instruments: the snapshot waits for its instrument instead of being
    dropped (which left the strategies believing they were flat)."""
    from livenode.engines.data_mirror import DataMirror
    from livenode.model.events import PositionChanged

    env = make_env()
    env.cache.add_instrument(make_instrument())
    engine = ExecutionEngine(env.msgbus, env.cache, env.clock, ExecEngineConfig())
    engine.register_client(RecordingExecClient())
    engine.start()
    o = order_init(side=OrderSide.SELL, qty="1.500", price="100.00")
    env.msgbus.publish(topics.exec_commands(o.instrument_id.venue), submit(o))
    for event in (submitted(o), accepted(o, vid="V-1"),
                  filled(o, "1.500", "100.00", "T-1", vid="V-1")):
        env.msgbus.send(EXEC_ENGINE_PROCESS, event)
    (position,) = env.cache.positions_open()

    restarted = make_env()  # the new trader process: its own bus, an empty cache
    DataMirror(restarted.msgbus, restarted.cache, restarted.clock)
    mirror = ExecutionMirror(restarted.msgbus, restarted.cache, restarted.clock)
    snapshot = position.snapshot_event(PositionChanged)
    restarted.msgbus.publish(topics.position_events(snapshot.strategy_id), snapshot)
    assert restarted.cache.positions_open() == [] and mirror.pending_positions == 1
    instrument = env.cache.instrument(o.instrument_id)
    assert instrument is not None
    restarted.msgbus.publish(topics.instrument(instrument.id), instrument)
    assert mirror.pending_positions == 0
    (recovered,) = restarted.cache.positions_open()
    assert recovered.side is PositionSide.SHORT and str(recovered.quantity) == "1.500"
    assert mirror.counters()["recovered"] == 1


def test_a_denial_heard_twice_is_passed_on_once_more_and_skipped_by_the_mirror() -> None:
    """A trader resent an order whose denial it never heard (the exec worker that
    sent it died); risk denies it again. The engine, which has the order DENIED,
    publishes the original denial again; a mirror that has it skips it, silently."""
    from livenode.core.uuid import new_id
    from livenode.model.events import OrderDenied

    env = make_env()
    env.cache.add_instrument(make_instrument())
    engine = ExecutionEngine(env.msgbus, env.cache, env.clock, ExecEngineConfig())
    engine.register_client(RecordingExecClient())
    engine.start()
    remote = Cache()
    remote.add_instrument(make_instrument())
    mirror = ExecutionMirror(env.msgbus, remote, env.clock)
    o = order_init(coid="D-AGAIN")
    remote.add_order(Order(o))
    env.cache.add_order(Order(o))  # the engine has it too (it denied it itself, say)
    heard: list[object] = []
    env.msgbus.subscribe(topics.ALL_ORDER_EVENTS, heard.append)

    def denial(reason: str) -> OrderDenied:
        return OrderDenied(trader_id=o.trader_id, strategy_id=o.strategy_id,
                           instrument_id=o.instrument_id, client_order_id=o.client_order_id,
                           reason=reason, event_id=new_id(), ts_event=0, ts_init=0)

    first = denial("TRADING_HALTED: trading is HALTED")
    env.msgbus.publish(topics.exec_commands(o.instrument_id.venue), first)
    env.msgbus.publish(topics.exec_commands(o.instrument_id.venue), denial("again"))
    assert [e.event_id for e in heard] == [first.event_id, first.event_id]
    assert remote.order(o.client_order_id).status is OrderStatus.DENIED
    assert mirror.refused == 0 and engine.invalid_transition_count == 0


def test_a_trader_gets_the_fill_a_killed_exec_worker_never_published() -> None:
    """Exec restart, modelled as two engines and a trader's mirror on three buses:
    the old exec applied (and stored) a fill and was killed before its publish
    left; the trader's cancel, held meanwhile, is refused by the new exec
    (ORDER_CLOSED) and the trader hears that. Its resend (the supervisor's Go)
    must still bring it the fill: its books equal exec's, the fill applied once."""
    from livenode.bus.message_bus import MessageBus
    from livenode.cache.database import DatabaseState
    from livenode.engines.peer_recovery import resend_unanswered
    from livenode.engines.recovery import restore_execution_state
    from livenode.model.events import OrderCancelRejected, OrderFilled
    from livenode.model.identifiers import TradeId

    from .helpers import TRADER, cancel

    old = make_env()
    old.cache.add_instrument(make_instrument())
    old_engine = ExecutionEngine(old.msgbus, old.cache, old.clock, ExecEngineConfig())
    old_engine.register_client(RecordingExecClient())
    trader_bus = MessageBus(TRADER, old.clock)
    trader = Cache()
    trader.add_instrument(make_instrument())
    ExecutionMirror(trader_bus, trader, old.clock)
    strategy_fills: list[OrderFilled] = []  # what a strategy's handler sees
    trader_bus.subscribe(topics.ALL_ORDER_EVENTS,
                         lambda e: strategy_fills.append(e) if type(e) is OrderFilled else None)
    wire = {"up": True}

    def connect(bus: MessageBus) -> None:
        """Exec's order and position events reach the trader while the wire is up."""
        def order_event(e: object) -> None:
            if wire["up"]:
                trader_bus.publish(topics.order_events(e.strategy_id), e)  # type: ignore[attr-defined]

        def position_event(e: object) -> None:
            if wire["up"]:
                trader_bus.publish(topics.position_events(e.strategy_id), e)  # type: ignore[attr-defined]

        bus.subscribe(topics.ALL_ORDER_EVENTS, order_event)
        bus.subscribe(topics.ALL_POSITION_EVENTS, position_event)

    connect(old.msgbus)
    o = order_init(side=OrderSide.SELL, qty="1.000", price="100.00", coid="Q-1")
    trader.add_order(Order(o))
    old.msgbus.publish(topics.exec_commands(o.instrument_id.venue), submit(o))
    for event in (submitted(o), accepted(o, vid="V-1")):
        old.msgbus.send(EXEC_ENGINE_PROCESS, event)
    assert trader.order(o.client_order_id).status is OrderStatus.ACCEPTED
    wire["up"] = False  # SIGKILL: the fill is applied and stored, its publish is lost
    old.msgbus.send(EXEC_ENGINE_PROCESS, filled(o, "1.000", "100.00", "T-LOST", vid="V-1"))
    stored = list(old.cache.order(o.client_order_id).events)

    new = make_env()
    restore_execution_state(new.cache, DatabaseState(instruments=[make_instrument()],
                                                     order_events=stored))
    new_engine = ExecutionEngine(new.msgbus, new.cache, new.clock, ExecEngineConfig())
    new_engine.register_client(RecordingExecClient())
    connect(new.msgbus)
    wire["up"] = True
    # The trader's cancel, held while exec was down: refused, and the trader hears it.
    new.msgbus.publish(topics.exec_commands(o.instrument_id.venue), cancel(o.client_order_id))
    mirrored = trader.order(o.client_order_id)
    assert type(mirrored.events[-1]) is OrderCancelRejected
    assert mirrored.status is OrderStatus.ACCEPTED  # still one event short: the fill
    # The Go after the restart: the trader sends its open orders again (via risk).
    trader_bus.subscribe(topics.RISK_COMMANDS, lambda c: new.msgbus.publish(
        topics.exec_commands(c.instrument_id.venue), c))
    assert resend_unanswered(trader, trader_bus, TRADER, exec_restarted=True) == 1

    assert mirrored.status is OrderStatus.FILLED
    assert [f.trade_id for f in strategy_fills] == [TradeId("T-LOST")]  # once
    (exec_position,) = new.cache.positions_open()
    (trader_position,) = trader.positions_open()
    assert trader_position.signed_qty == exec_position.signed_qty == -1.0


def test_an_order_recovered_from_the_venue_and_replayed_is_not_news_to_a_holder() -> None:
    """Without a cache database a restarted exec worker rebuilds an order open at the
    venue under a new OrderInitialized (new event id, tag RECOVERED) and new step
    events, then replays it to its peers. The risk worker, and a trader that lived
    through the restart, hold the order under the trader's own OrderInitialized: the
    replay is the same order, not a second creation ("invalid transition ACCEPTED ->
    OrderInitialized", seen in test_audit_without_database under load), and no
    handler or statistic hears it twice."""
    import msgspec

    from livenode.bus.message_bus import MessageBus
    from livenode.core.clock import TestClock
    from livenode.core.uuid import new_id
    from livenode.model.seen_events import SeenEvents

    bus = MessageBus(make_env().msgbus.trader_id, TestClock(0))
    held = Cache()  # the risk worker's
    held.add_instrument(make_instrument())
    mirror = ExecutionMirror(bus, held, TestClock(0))
    heard = SeenEvents()  # what a strategy's handlers and the run statistics use
    dispatched: list[str] = []
    bus.subscribe(topics.ALL_ORDER_EVENTS,
                  lambda e: dispatched.append(type(e).__name__) if heard.first_time(e) else None)
    o = order_init(side=OrderSide.SELL, qty="1.000", price="110.00")
    topic = topics.order_events(o.strategy_id)
    for event in (o, submitted(o), accepted(o, vid="V-7")):
        bus.publish(topic, event)
    order = held.order(o.client_order_id)
    assert order is not None and order.status is OrderStatus.ACCEPTED

    recovered = msgspec.structs.replace(o, event_id=new_id(), tags=("RECOVERED",))
    for event in (recovered, submitted(recovered), accepted(recovered, vid="V-7")):
        bus.publish(topic, event)
    assert mirror.refused == 0 and mirror.skipped == 3
    assert held.order(o.client_order_id) is order and order.status is OrderStatus.ACCEPTED
    assert [type(e).__name__ for e in order.events] == [
        "OrderInitialized", "OrderSubmitted", "OrderAccepted"]
    assert order.init_event.event_id == o.event_id
    assert dispatched == ["OrderInitialized", "OrderSubmitted", "OrderAccepted"]


def _mirror_on_a_bus() -> tuple[Any, Cache, ExecutionMirror]:
    from livenode.bus.message_bus import MessageBus
    from livenode.core.clock import TestClock

    bus = MessageBus(make_env().msgbus.trader_id, TestClock(0))
    held = Cache()  # a trader or risk worker's
    held.add_instrument(make_instrument())
    return bus, held, ExecutionMirror(bus, held, TestClock(0))


def _order_facts(cache: Cache, order: Order) -> tuple[Any, ...]:
    positions = [(str(p.id), p.signed_qty, p.version) for p in cache.positions()]
    return (order.status, order.filled_qty, [e.event_id for e in order.events], positions)


def test_a_replay_of_events_the_mirror_has_is_counted_never_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 18: an exec restart's replay brings events the mirror already has. The
    same events a second time (same ids), and the recovery's steps the order is past
    (an OrderSubmitted after its acceptance: "invalid transition ACCEPTED ->
    OrderSubmitted"; an OrderAccepted after its fill), are duplicates: counted and
    logged at DEBUG, the order and its position unchanged, no ERROR."""
    import msgspec

    from livenode.core.uuid import new_id

    bus, held, mirror = _mirror_on_a_bus()
    o = order_init(side=OrderSide.BUY, qty="2.000", price="100.00")
    topic = topics.order_events(o.strategy_id)
    first = [o, submitted(o), accepted(o, vid="V-1"), filled(o, "1.000", "100.00", "T-1")]
    for event in first:
        bus.publish(topic, event)
    order = held.order(o.client_order_id)
    assert order is not None and order.status is OrderStatus.PARTIALLY_FILLED
    before = _order_facts(held, order)

    with caplog.at_level(logging.DEBUG, logger="livenode.engines.mirror"):
        for event in first:  # the exec worker's replay of everything the order has
            bus.publish(topic, event)
        # Rebuilt by a recovering exec worker under new ids, heard after the fill.
        for event in (submitted(o), accepted(o, vid="V-1")):
            bus.publish(topic, event)
        assert _order_facts(held, order) == before  # its position too
        # Another order, accepted before its submission was heard (INITIALIZED ->
        # ACCEPTED: a reconciled acknowledgement), then the submission: stale.
        late = order_init(side=OrderSide.SELL, qty="1.000", price="110.00")
        bus.publish(topic, late)
        bus.publish(topic, accepted(late, vid="V-2"))
        bus.publish(topic, submitted(late))
        # A third filled before its acknowledgement was heard, then the acknowledgement.
        overtaken = order_init(side=OrderSide.BUY, qty="1.000", price="90.00")
        for event in (overtaken, submitted(overtaken),
                      filled(overtaken, "1.000", "90.00", "T-3", vid="V-3")):
            bus.publish(topic, event)
        bus.publish(topic, accepted(overtaken, vid="V-3"))

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert mirror.refused == 0
    assert mirror.duplicates == len(first) + 2 + 1 + 1
    assert _order_facts(held, order)[:3] == before[:3]
    assert held.order(late.client_order_id).status is OrderStatus.ACCEPTED
    assert held.order(overtaken.client_order_id).status is OrderStatus.FILLED
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == mirror.duplicates and all("heard again" in m for m in debug)
    # Same fill under a new event id (reconciliation rebuilt it): the trade id tells.
    positions = _order_facts(held, order)[3]
    bus.publish(topic, msgspec.structs.replace(first[-1], event_id=new_id()))
    assert _order_facts(held, order) == (*before[:3], positions) and mirror.refused == 0


def test_an_event_the_order_has_not_seen_and_cannot_take_is_still_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not a duplicate: a real disagreement with the execution engine stays an ERROR
    (a fill for an order the mirror holds as denied; a submission after a denial)."""
    from livenode.model.events import OrderDenied

    bus, held, mirror = _mirror_on_a_bus()
    o = order_init(side=OrderSide.BUY, qty="1.000", price="100.00")
    topic = topics.order_events(o.strategy_id)
    bus.publish(topic, o)
    denied = OrderDenied(reason="NOTIONAL_EXCEEDS_MAX_PER_ORDER", **_fields(o))
    bus.publish(topic, denied)
    order = held.order(o.client_order_id)
    assert order is not None and order.status is OrderStatus.DENIED

    with caplog.at_level(logging.DEBUG, logger="livenode.engines.mirror"):
        bus.publish(topic, submitted(o))
        bus.publish(topic, filled(o, "1.000", "100.00", "T-9"))

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and mirror.refused == 2 and mirror.duplicates == 0
    assert "invalid transition DENIED -> OrderSubmitted" in errors[0]
    assert "invalid transition DENIED -> OrderFilled" in errors[1]
    assert order.status is OrderStatus.DENIED and held.positions() == []


def _fields(init: Any) -> dict[str, Any]:
    from livenode.core.uuid import new_id

    return dict(trader_id=init.trader_id, strategy_id=init.strategy_id,
                instrument_id=init.instrument_id, client_order_id=init.client_order_id,
                event_id=new_id(), ts_event=init.ts_event, ts_init=init.ts_init)
