"""The execution mirror keeps another process's cache in step with the engine's
events: modelled here as an engine and a mirror on one bus with separate caches."""

from __future__ import annotations

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
