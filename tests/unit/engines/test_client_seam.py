"""The adapter seam (`livenode.engines.clients`): commands through the adapter's hooks,
synchronous or asynchronous, failures and timeouts mapped to rejections, the
tick-to-trade stamp, the event builders and the typed factory context."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from livenode.engines.clients import (
    CLIENT_ERROR,
    COMMAND_TIMEOUT,
    EXEC_ENGINE_PROCESS,
    ClientContext,
    ClientFactory,
    LiveExecutionClient,
)
from livenode.engines.exec_events import ExecEventBuilder
from livenode.model.commands import CancelAllOrders
from livenode.model.enums import (
    AccountType,
    LiquiditySide,
    OrderSide,
    OrderStatus,
    PositionSide,
)
from livenode.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)
from livenode.model.identifiers import TradeId, VenueOrderId
from livenode.model.objects import Money, Price, Quantity
from livenode.model.orders import Order
from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport
from tests.unit.engines.helpers import (
    ACCOUNT,
    IID,
    SIM,
    STRAT,
    T0,
    TRADER,
    USDT,
    Env,
    accepted,
    account_state,
    cancel,
    make_env,
    modify,
    order_init,
    submit,
    submitted,
)


class SyncClient(LiveExecutionClient):
    """Synchronous hooks (the simulator's shape): no task is ever made."""

    def __init__(self, context: ClientContext, fail: Exception | None = None) -> None:
        super().__init__("SYNC", SIM, ACCOUNT, context, max_latency_samples=4)
        self.fail = fail
        self.seen: list[Any] = []

    def _submit_order(self, command: Any) -> None:
        if self.fail is not None:
            raise self.fail
        self.seen.append(command)

    def _modify_order(self, command: Any) -> None:
        self._submit_order(command)

    def _cancel_order(self, command: Any) -> None:
        self._submit_order(command)

    def _cancel_all_orders(self, command: Any) -> None:
        self._submit_order(command)


class AsyncClient(LiveExecutionClient):
    """Coroutine hooks that wait for `gate`, then succeed or raise `fail`."""

    def __init__(self, context: ClientContext, command_timeout: float = 5.0) -> None:
        super().__init__("ASYNC", SIM, ACCOUNT, context, command_timeout=command_timeout)
        self.gate = asyncio.Event()
        self.fail: Exception | None = None
        self.done: list[Any] = []

    async def _hook(self, command: Any) -> None:
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.done.append(command)

    async def _submit_order(self, command: Any) -> None:
        await self._hook(command)

    async def _modify_order(self, command: Any) -> None:
        await self._hook(command)

    async def _cancel_order(self, command: Any) -> None:
        await self._hook(command)

    async def _cancel_all_orders(self, command: Any) -> None:
        await self._hook(command)


def _context(env: Env) -> tuple[ClientContext, list[Any]]:
    events: list[Any] = []
    env.msgbus.register(EXEC_ENGINE_PROCESS, events.append)
    return ClientContext(asyncio.get_running_loop(), env.msgbus, env.cache, env.clock), events


async def _settle(client: LiveExecutionClient) -> None:
    for _ in range(100):
        if not client.commands_in_flight:
            return
        await asyncio.sleep(0)
    raise AssertionError("commands still in flight")


async def test_sync_hook_runs_inline_with_the_stamp_and_order_submitted() -> None:
    env = make_env()
    context, events = _context(env)
    client = SyncClient(context)
    env.clock.advance_time(250)
    init = order_init()
    client.submit_order(submit(init))
    # No task: the hook ran before submit_order returned.
    assert client.commands_in_flight == 0 and len(client.seen) == 1
    assert [type(e) for e in events] == [OrderSubmitted]
    sent = events[0]
    assert sent.client_order_id == init.client_order_id and sent.account_id == ACCOUNT
    assert sent.ts_event == sent.ts_init == T0 + 250
    assert list(client.latencies_ns) == [250]  # now - command.ts_trigger
    assert client.latency_percentiles(50.0) == {50.0: 250}


class AnsweringClient(LiveExecutionClient):
    """A synchronous hook whose venue answers at once, inside the hook (an in-process
    venue): it records what the engine had received when the order went out."""

    def __init__(self, context: ClientContext, events: list[Any]) -> None:
        super().__init__("ANSWER", SIM, ACCOUNT, context)
        self.engine_events = events
        self.seen_at_send: list[type] = []

    def _submit_order(self, command: Any) -> None:
        self.seen_at_send = [type(e) for e in self.engine_events]
        self.generate_order_accepted(command.order, VenueOrderId("V-1"))


async def test_the_order_goes_out_before_order_submitted_which_precedes_its_answer() -> None:
    env = make_env()
    context, events = _context(env)
    client = AnsweringClient(context, events)
    client.submit_order(submit(order_init()))
    # The hand-over ran before the engine got OrderSubmitted (its bookkeeping must not
    # delay the order), and the venue's answer given inside the hook came after it.
    assert client.seen_at_send == []
    assert [type(e) for e in events] == [OrderSubmitted, OrderAccepted]
    # Outside a hand-over, events go straight through.
    client.generate_order_rejected(order_init(), "late")
    assert [type(e) for e in events] == [OrderSubmitted, OrderAccepted, OrderRejected]


async def test_sync_hook_failure_maps_to_each_commands_rejection() -> None:
    env = make_env()
    context, events = _context(env)
    client = SyncClient(context, fail=ConnectionError("socket closed"))
    init = order_init()
    client.submit_order(submit(init))
    client.modify_order(modify(init.client_order_id, price="101.00"))
    client.cancel_order(cancel(init.client_order_id))
    assert [type(e) for e in events] == [
        OrderSubmitted, OrderRejected, OrderModifyRejected, OrderCancelRejected,
    ]
    for event in events[1:]:
        assert event.reason.startswith(f"{CLIENT_ERROR}: SYNC: ConnectionError(")
        assert "socket closed" in event.reason
        assert event.client_order_id == init.client_order_id
    assert client.command_failures == 3


async def test_async_hook_runs_as_a_task_and_completes_later() -> None:
    env = make_env()
    context, events = _context(env)
    client = AsyncClient(context)
    command = submit(order_init())
    client.submit_order(command)
    assert client.commands_in_flight == 1 and client.done == []
    assert [type(e) for e in events] == [OrderSubmitted]
    client.gate.set()
    await _settle(client)
    assert client.done == [command]
    assert [type(e) for e in events] == [OrderSubmitted]  # no rejection


async def test_async_hook_failure_maps_to_rejections_with_the_reason() -> None:
    env = make_env()
    context, events = _context(env)
    client = AsyncClient(context)
    client.fail = RuntimeError("venue said no")
    init = order_init()
    client.submit_order(submit(init))
    client.modify_order(modify(init.client_order_id, qty="2.000"))
    client.cancel_order(cancel(init.client_order_id))
    client.gate.set()
    await _settle(client)
    kinds = {type(e): e for e in events}
    assert set(kinds) == {OrderSubmitted, OrderRejected, OrderModifyRejected,
                          OrderCancelRejected}
    for kind in (OrderRejected, OrderModifyRejected, OrderCancelRejected):
        assert kinds[kind].reason == f"{CLIENT_ERROR}: ASYNC: RuntimeError('venue said no')"
    assert kinds[OrderRejected].account_id == ACCOUNT


async def test_async_hook_timeout_maps_to_a_rejection() -> None:
    env = make_env()
    context, events = _context(env)
    client = AsyncClient(context, command_timeout=0.01)
    init = order_init()
    client.submit_order(submit(init))
    await asyncio.wait_for(_wait_for(events, OrderRejected), 5)
    rejected = events[-1]
    assert rejected.reason == f"{COMMAND_TIMEOUT}: ASYNC: no answer within 0.01s"
    assert rejected.client_order_id == init.client_order_id


async def _wait_for(events: list[Any], kind: type) -> None:
    while not any(type(e) is kind for e in events):
        await asyncio.sleep(0.001)


async def test_failed_submit_of_an_order_the_venue_answered_is_not_rejected() -> None:
    env = make_env()
    context, events = _context(env)
    client = AsyncClient(context)
    client.fail = RuntimeError("lost the ack")
    init = order_init()
    order = Order(init)
    env.cache.add_order(order)
    client.submit_order(submit(init))
    order.apply(submitted(init))
    order.apply(accepted(init))  # the venue answered before the hook failed
    client.gate.set()
    await _settle(client)
    assert [type(e) for e in events] == [OrderSubmitted]
    assert client.command_failures == 1


async def test_failed_cancel_all_rejects_the_cancel_of_each_open_order_it_covered() -> None:
    env = make_env()
    context, events = _context(env)
    client = SyncClient(context, fail=OSError("down"))
    inits = [order_init(side=OrderSide.BUY), order_init(side=OrderSide.SELL, price="200.00")]
    for init in inits:
        order = Order(init)
        env.cache.add_order(order)
        order.apply(submitted(init))
        order.apply(accepted(init))
        env.cache.update_order(order)
    client.cancel_all_orders(CancelAllOrders(
        trader_id=TRADER, strategy_id=STRAT, command_id="c", ts_init=T0, ts_trigger=T0,
        instrument_id=IID, order_side=OrderSide.SELL,
    ))
    assert [type(e) for e in events] == [OrderCancelRejected]
    assert events[0].client_order_id == inits[1].client_order_id


async def test_disconnect_cancels_commands_in_flight_without_events() -> None:
    env = make_env()
    context, events = _context(env)

    class Connected(AsyncClient):
        async def _connect(self) -> None:
            return None

        async def _disconnect(self) -> None:
            return None

    client = Connected(context)
    await client.connect()
    client.submit_order(submit(order_init()))
    assert client.commands_in_flight == 1
    await client.disconnect()
    assert client.commands_in_flight == 0 and not client.is_connected
    assert [type(e) for e in events] == [OrderSubmitted]


async def test_generate_builders_send_every_event_with_the_clients_account() -> None:
    env = make_env()
    context, events = _context(env)
    client = SyncClient(context)
    env.clock.advance_time(5)
    init = order_init()
    vid = VenueOrderId("V-9")
    client.generate_order_accepted(init, vid, ts_event=T0 + 1)
    client.generate_order_triggered(init)
    client.generate_order_updated(init, Quantity.from_str("2.000"), Price.from_str("99.00"),
                                  None)
    client.generate_order_filled(
        init, venue_order_id=vid, trade_id=TradeId("T-1"), order_side=init.side,
        order_type=init.order_type, last_qty=Quantity.from_str("1.000"),
        last_px=Price.from_str("99.00"), commission=Money.new("0.10", USDT),
        liquidity_side=LiquiditySide.MAKER,
    )
    client.generate_order_canceled(init)
    client.generate_order_expired(init)
    client.generate_order_rejected(init, "no")
    client.generate_order_modify_rejected(init, "no")
    client.generate_order_cancel_rejected(init, "no")
    client.generate_account_state(AccountType.CASH, account_state().balances)
    assert [type(e) for e in events] == [
        OrderAccepted, OrderTriggered, OrderUpdated, OrderFilled, OrderCanceled, OrderExpired,
        OrderRejected, OrderModifyRejected, OrderCancelRejected, AccountState,
    ]
    first = events[0]
    assert (first.ts_event, first.ts_init) == (T0 + 1, T0 + 5)
    assert first.venue_order_id == vid and first.account_id == ACCOUNT
    assert all(e.ts_init == T0 + 5 for e in events)
    fill = events[3]
    assert fill.currency == USDT and fill.account_id == ACCOUNT and fill.trader_id == TRADER
    assert len({e.event_id for e in events}) == len(events)
    assert events[-1].account_id == ACCOUNT


def test_report_builders_fill_the_account_and_ids() -> None:
    build = ExecEventBuilder(ACCOUNT)
    init = order_init()
    status = build.order_status_report(
        T0, instrument_id=IID, client_order_id=init.client_order_id,
        venue_order_id=VenueOrderId("V-1"), order_side=OrderSide.BUY,
        order_type=init.order_type, time_in_force=init.time_in_force,
        order_status=OrderStatus.ACCEPTED, quantity=init.quantity,
        filled_qty=Quantity.from_str("0.000"), ts_accepted=T0, ts_last=T0,
    )
    fill = build.fill_report(
        T0, instrument_id=IID, venue_order_id=VenueOrderId("V-1"), trade_id=TradeId("T-1"),
        order_side=OrderSide.BUY, last_qty=init.quantity, last_px=Price.from_str("1.00"),
        commission=Money.new(0, USDT), liquidity_side=LiquiditySide.TAKER, ts_event=T0,
    )
    position = build.position_status_report(
        T0, instrument_id=IID, position_side=PositionSide.FLAT,
        quantity=Quantity.from_str("0.000"), ts_last=T0,
    )
    assert isinstance(status, OrderStatusReport) and isinstance(fill, FillReport)
    assert isinstance(position, PositionStatusReport)
    assert status.account_id == fill.account_id == position.account_id == ACCOUNT
    assert len({status.report_id, fill.report_id, position.report_id}) == 3


async def test_context_shares_objects_by_type_and_declares_run_dir() -> None:
    env = make_env()
    context, _ = _context(env)
    assert context.run_dir is None and not context.is_worker

    class Registry:
        def __init__(self) -> None:
            self.items: list[str] = []

    first = context.shared(Registry)
    assert context.shared(Registry) is first
    other = Registry()
    context.provide(other)
    assert context.shared(Registry) is other
    worker = ClientContext(context.loop, env.msgbus, env.cache, env.clock, run_dir="/run/x")
    assert worker.is_worker and worker.shared(Registry) is not other


def test_a_factory_declares_no_services_by_default() -> None:
    class Plain(ClientFactory):
        config_type = dict

    assert Plain.services("X", None, "/run") == []
    with pytest.raises(NotImplementedError):
        Plain.create("X", None, None)  # type: ignore[arg-type]


def test_the_seam_imports_no_outer_layer() -> None:
    import ast
    from pathlib import Path

    import livenode.engines.clients as clients
    import livenode.engines.exec_events as exec_events

    outer = ("livenode.trading", "livenode.node", "livenode.supervisor", "livenode.adapters",
             "livenode.cli")
    for module in (clients, exec_events):
        assert module.__file__ is not None
        tree = ast.parse(Path(module.__file__).read_text())
        names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [n for n in names if n.startswith(outer)], module.__name__


def test_the_supervisor_asks_every_factory_for_its_services_and_refuses_a_non_factory(
    tmp_path: Any,
) -> None:
    import json

    from livenode.config import load_config_str
    from livenode.node.services import collect_service_specs

    def config(factory: str, client: dict[str, Any]) -> Any:
        return load_config_str(json.dumps({
            "trader_id": "SEAM-001",
            "data_clients": {"X": {"factory": factory, "config": client}},
        }), "json")

    fixture = "tests.fixtures.node.clients:StuckDisconnectDataClientFactory"
    assert collect_service_specs(config(fixture, {"venue": "X"}), str(tmp_path)) == []
    duck = "tests.unit.config.helpers:DemoDataClientFactory"
    with pytest.raises(ValueError, match=r"data_clients\.X\.factory: .* does not subclass"):
        collect_service_specs(config(duck, {}), str(tmp_path))


async def test_a_client_reports_its_venue_session_lost_and_restored_to_its_engine() -> None:
    from livenode.engines.clients import VenueSession

    env = make_env()
    context, events = _context(env)
    client = SyncClient(context)
    client.session_lost("logout: bye")
    client.session_restored()
    assert events == [VenueSession(client.name, client.venue, up=False, reason="logout: bye"),
                      VenueSession(client.name, client.venue, up=True)]
