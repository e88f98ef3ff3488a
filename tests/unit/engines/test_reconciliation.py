"""ExecutionEngine.reconcile: the cache is aligned with the venue's reports."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from livenode.bus import topics
from livenode.config import ExecEngineConfig
from livenode.core.uuid import new_id
from livenode.engines.execution_engine import ExecutionEngine
from livenode.engines.reconciliation import EXTERNAL_STRATEGY_ID, NOT_AT_VENUE
from livenode.model.enums import (
    LiquiditySide,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
)
from livenode.model.events import OrderCanceled, OrderRejected
from livenode.model.identifiers import ClientOrderId, TradeId, VenueOrderId
from livenode.model.objects import Money, Price, Quantity
from livenode.model.orders import Order
from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport

from .helpers import (
    ACCOUNT,
    IID,
    STRAT,
    T0,
    USDT,
    RecordingExecClient,
    accepted,
    make_env,
    make_instrument,
    order_init,
    submitted,
)


def status_report(
    vid: str, status: OrderStatus, qty: str = "2.000", filled_qty: str = "0.000",
    coid: str | None = None, avg_px: float | None = None, price: str = "100.00",
) -> OrderStatusReport:
    return OrderStatusReport(
        account_id=ACCOUNT, instrument_id=IID,
        client_order_id=ClientOrderId(coid) if coid else None,
        venue_order_id=VenueOrderId(vid), order_side=OrderSide.BUY, order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC, order_status=status, quantity=Quantity.from_str(qty),
        filled_qty=Quantity.from_str(filled_qty), price=Price.from_str(price), avg_px=avg_px,
        report_id=new_id(), ts_accepted=T0, ts_last=T0, ts_init=T0,
    )


def fill_report(vid: str, trade_id: str, qty: str, px: str, coid: str | None = None) -> FillReport:
    return FillReport(
        account_id=ACCOUNT, instrument_id=IID, venue_order_id=VenueOrderId(vid),
        client_order_id=ClientOrderId(coid) if coid else None, trade_id=TradeId(trade_id),
        order_side=OrderSide.BUY, last_qty=Quantity.from_str(qty), last_px=Price.from_str(px),
        commission=Money.new("0.01", USDT), liquidity_side=LiquiditySide.MAKER,
        report_id=new_id(), ts_event=T0, ts_init=T0,
    )


class Harness:
    def __init__(self, **config: Any) -> None:
        self.env = make_env()
        self.env.cache.add_instrument(make_instrument())
        self.client = RecordingExecClient()
        self.engine = ExecutionEngine(
            self.env.msgbus, self.env.cache, self.env.clock, ExecEngineConfig(**config)
        )
        self.engine.register_client(self.client)

    def cached(self, status: str, coid: str, vid: str | None = None, qty: str = "2.000") -> Order:
        init = order_init(coid=coid, qty=qty)
        order = Order(init)
        if status in ("SUBMITTED", "ACCEPTED"):
            order.apply(submitted(init))
        if status == "ACCEPTED":
            order.apply(accepted(init, vid=vid or f"V-{coid}"))
        self.env.cache.add_order(order)
        return order


async def test_external_order_known_only_to_the_venue_is_created() -> None:
    h = Harness()
    events = h.env.record(topics.order_events(EXTERNAL_STRATEGY_ID))
    h.client.order_reports = [status_report("V-EXT", OrderStatus.ACCEPTED)]
    assert await h.engine.reconcile(1.0) is True
    order = h.env.cache.order(ClientOrderId("EXT-V-EXT"))
    assert order is not None and order.status is OrderStatus.ACCEPTED
    assert order.strategy_id == EXTERNAL_STRATEGY_ID and "EXTERNAL" in order.tags
    assert order.venue_order_id == VenueOrderId("V-EXT")
    assert h.env.cache.orders_open() == [order]
    assert events and h.engine._reconciler.external_orders == 1


async def test_external_partially_filled_order_gets_its_fills_and_position() -> None:
    h = Harness()
    h.client.order_reports = [
        status_report("V-EXT", OrderStatus.PARTIALLY_FILLED, filled_qty="1.500", coid="C-EXT")
    ]
    h.client.fill_reports = [fill_report("V-EXT", "F-1", "1.000", "100.00"),
                             fill_report("V-EXT", "F-2", "0.500", "101.00")]
    assert await h.engine.reconcile(1.0)
    order = h.env.cache.order(ClientOrderId("C-EXT"))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.trade_ids == {TradeId("F-1"), TradeId("F-2")}
    position = h.env.cache.positions_open()[0]
    assert position.side is PositionSide.LONG and position.quantity == Quantity.from_str("1.500")


async def test_cached_open_orders_the_venue_does_not_know_are_closed() -> None:
    h = Harness()
    events = h.env.record(topics.order_events(STRAT))
    acc = h.cached("ACCEPTED", "C-ACC")
    sub = h.cached("SUBMITTED", "C-SUB")
    assert await h.engine.reconcile(1.0)
    assert acc.status is OrderStatus.CANCELED
    assert sub.status is OrderStatus.REJECTED
    rejected = [e for e in events if type(e) is OrderRejected]
    assert rejected[0].reason == NOT_AT_VENUE
    assert any(type(e) is OrderCanceled for e in events)
    assert h.engine.inflight_orders() == [] and h.env.cache.orders_open() == []


async def test_order_filled_while_away_gets_reported_fills_then_stays_filled() -> None:
    h = Harness()
    order = h.cached("ACCEPTED", "C-1", vid="V-1")
    # The venue no longer lists it as open, but reports its fills.
    h.client.fill_reports = [fill_report("V-1", "F-1", "2.000", "99.00")]
    assert await h.engine.reconcile(1.0)
    assert order.status is OrderStatus.FILLED and order.avg_px == 99.0
    assert h.engine._reconciler.closed_missing == 0


async def test_missing_fill_is_inferred_from_the_status_report() -> None:
    h = Harness()
    order = h.cached("ACCEPTED", "C-1", vid="V-1")
    h.client.order_reports = [
        status_report("V-1", OrderStatus.PARTIALLY_FILLED, filled_qty="1.000", coid="C-1",
                      avg_px=100.5)
    ]
    assert await h.engine.reconcile(1.0)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled_qty == Quantity.from_str("1.000") and order.avg_px == 100.5
    assert h.engine._reconciler.inferred_fills == 1
    # Running again changes nothing: the fill is known now.
    assert await h.engine.reconcile(1.0)
    assert order.filled_qty == Quantity.from_str("1.000")
    assert h.engine.duplicate_fill_count == 0


async def test_canceled_at_venue_and_accepted_while_away() -> None:
    h = Harness()
    a = h.cached("ACCEPTED", "C-A", vid="V-A")
    b = h.cached("SUBMITTED", "C-B")
    h.client.order_reports = [
        status_report("V-A", OrderStatus.CANCELED, coid="C-A"),
        status_report("V-B", OrderStatus.ACCEPTED, coid="C-B"),
    ]
    assert await h.engine.reconcile(1.0)
    assert a.status is OrderStatus.CANCELED
    assert b.status is OrderStatus.ACCEPTED and b.venue_order_id == VenueOrderId("V-B")


async def test_position_mismatch_is_counted_unless_filtered() -> None:
    report = PositionStatusReport(
        account_id=ACCOUNT, instrument_id=IID, position_side=PositionSide.LONG,
        quantity=Quantity.from_str("1.000"), report_id=new_id(), ts_last=T0, ts_init=T0,
    )
    h = Harness()
    h.client.position_reports = [report]
    assert await h.engine.reconcile(1.0)
    assert h.engine._reconciler.position_mismatches == 1
    h2 = Harness(filter_position_reports=True)
    h2.client.position_reports = [report]
    assert await h2.engine.reconcile(1.0)
    assert h2.engine._reconciler.position_mismatches == 0


async def test_a_client_that_does_not_answer_times_out() -> None:
    h = Harness()
    h.client.report_delay = asyncio.Event()  # never set
    assert await h.engine.reconcile(0.05) is False


async def test_order_in_flight_when_its_events_were_lost_gets_the_venues_final_state() -> None:
    """A killed process lost an order's acceptance and fill: the node holds it SUBMITTED
    (no venue order id) while the venue filled it. Reconciliation asks the venue for
    that order and applies the venue's fill (its trade id), not a rejection."""
    h = Harness()
    sub = h.cached("SUBMITTED", "C-LOST")
    h.client.closed_reports = [
        status_report("V-LOST", OrderStatus.FILLED, filled_qty="2.000", coid="C-LOST")]
    h.client.fill_reports = [fill_report("V-LOST", "T-LOST", "2.000", "100.00", coid="C-LOST")]
    assert await h.engine.reconcile(1.0)
    assert h.client.asked_for == [ClientOrderId("C-LOST")]
    assert sub.status is OrderStatus.FILLED and sub.trade_ids == {TradeId("T-LOST")}
    assert sub.venue_order_id == VenueOrderId("V-LOST")
    assert h.engine._reconciler.closed_missing == 0
    assert h.engine._reconciler.inferred_fills == 0


async def test_order_canceled_at_the_venue_while_its_events_were_lost_ends_canceled() -> None:
    h = Harness()
    acc = h.cached("ACCEPTED", "C-GONE", vid="V-GONE")
    h.client.closed_reports = [status_report("V-GONE", OrderStatus.CANCELED, coid="C-GONE")]
    assert await h.engine.reconcile(1.0)
    assert acc.status is OrderStatus.CANCELED
    assert h.engine._reconciler.closed_missing == 0


async def test_fill_of_an_order_without_venue_id_is_found_by_client_order_id() -> None:
    """A venue that cannot be asked per order: the fill reports still name the
    client order id, so the fill is applied before the order is closed."""
    h = Harness()
    sub = h.cached("SUBMITTED", "C-NOVID")
    h.client.fill_reports = [fill_report("V-X", "T-X", "2.000", "100.00", coid="C-NOVID")]
    assert await h.engine.reconcile(1.0)
    assert sub.trade_ids == {TradeId("T-X")} and sub.status is OrderStatus.FILLED


async def test_a_position_mismatch_halts_the_instrument_until_the_venue_agrees() -> None:
    """Fail-closed: the venue says long 1, the cache says flat. New orders for the
    instrument are denied with the amounts; cancels still go out; when the venue's
    position agrees again (asked on the engine's check timer), orders resume."""
    from livenode.model.commands import SubmitOrder

    from .helpers import submit

    h = Harness(inflight_check_interval=1.0)
    h.engine.start()
    long_one = PositionStatusReport(
        account_id=ACCOUNT, instrument_id=IID, position_side=PositionSide.LONG,
        quantity=Quantity.from_str("1.000"), report_id=new_id(), ts_last=T0, ts_init=T0,
    )
    h.client.position_reports = [long_one]
    denials = h.env.record(topics.order_events(STRAT))
    assert await h.engine.reconcile(1.0)
    assert h.engine.halted_instruments() == {
        str(IID): "position at the venue 1.000, in the cache 0"}
    h.env.msgbus.publish(topics.exec_commands(IID.venue), submit(order_init(coid="C-HALT")))
    assert not any(type(c) is SubmitOrder for c in h.client.commands)
    (denied,) = denials
    assert denied.reason.startswith("POSITION_MISMATCH: trading BTCUSDT.SIM is halted: "
                                    "position at the venue 1.000, in the cache 0"), denied
    # The venue's position is flat again (say, the fill that explains it was undone).
    h.client.position_reports = [msgspec.structs.replace(
        long_one, position_side=PositionSide.FLAT, quantity=Quantity.from_str("0.000"))]
    h.env.clock.advance_time(1_000_000_000)
    for _ in range(100):
        if not h.engine.halted_instruments():
            break
        await asyncio.sleep(0)
    assert h.engine.halted_instruments() == {}
    h.env.msgbus.publish(topics.exec_commands(IID.venue), submit(order_init(coid="C-GO")))
    assert [c.order.client_order_id for c in h.client.commands
            if type(c) is SubmitOrder] == [ClientOrderId("C-GO")]
    assert h.engine.counters()["mismatch_denials"] == 1
