"""The venue's word wins over what the node decided alone: an order the node rejected
itself (a timeout, a failed send, not found by reconciliation) is reopened by the
venue's acknowledgement, fill or report; a fill inferred by reconciliation is
confirmed by the venue's own fill when it arrives (recorded once, never applied twice)."""

from __future__ import annotations

import pytest

from livenode.bus import topics
from livenode.engines.clients import COMMAND_TIMEOUT
from livenode.model.enums import OrderStatus, PositionSide
from livenode.model.events import OrderRejected
from livenode.model.identifiers import ClientOrderId, TradeId
from livenode.model.objects import Quantity
from livenode.model.order_fsm import InvalidStateTransition
from livenode.model.orders import Order
from livenode.model.reports import PositionStatusReport

from .helpers import ACCOUNT, IID, STRAT, accepted, filled, order_init, submitted
from .test_reconciliation import Harness, fill_report, status_report


def position_report(qty: str) -> PositionStatusReport:
    return PositionStatusReport(account_id=ACCOUNT, instrument_id=IID,
                                position_side=PositionSide.LONG, quantity=Quantity.from_str(qty),
                                report_id="r", ts_last=0, ts_init=0)


def rejected(order: Order, reason: str) -> OrderRejected:
    init = order.init_event
    return OrderRejected(
        account_id=ACCOUNT, reason=reason, trader_id=init.trader_id,
        strategy_id=init.strategy_id, instrument_id=init.instrument_id,
        client_order_id=init.client_order_id, event_id="rej-" + str(init.client_order_id),
        ts_event=init.ts_init, ts_init=init.ts_init,
    )


def timed_out(h: Harness, coid: str) -> Order:
    order = h.cached("SUBMITTED", coid)
    h.engine.apply_event(order, rejected(order, f"{COMMAND_TIMEOUT}: SIM: no answer within 10s"))
    assert order.status is OrderStatus.REJECTED and order.rejected_locally
    return order


# -- the order itself --------------------------------------------------------------------


def test_a_rejection_by_the_venue_is_final() -> None:
    init = order_init(coid="C-1")
    order = Order(init)
    order.apply(submitted(init))
    order.apply(rejected(order, "INSUFFICIENT_BALANCE: the venue said no"))
    assert not order.rejected_locally
    with pytest.raises(InvalidStateTransition):
        order.apply(accepted(init))


def test_a_local_rejection_is_reopened_by_the_venues_ack_and_fill() -> None:
    init = order_init(coid="C-1", qty="2.000")
    order = Order(init)
    order.apply(submitted(init))
    order.apply(rejected(order, "CLIENT_ERROR: send failed"))
    order.apply(accepted(init))
    assert order.status is OrderStatus.ACCEPTED and order.is_open
    order.apply(filled(init, "2.000", "100.00", "T-1"))
    assert order.status is OrderStatus.FILLED
    assert order.last_rejection == "CLIENT_ERROR: send failed"


# -- through the engine ------------------------------------------------------------------


def test_a_late_ack_of_a_timed_out_order_reopens_it_in_the_cache() -> None:
    h = Harness()
    events = h.env.record(topics.order_events(STRAT))
    order = timed_out(h, "C-1")
    assert h.env.cache.orders_open() == []
    h.engine.process(accepted(order.init_event, vid="V-1"))
    assert order.status is OrderStatus.ACCEPTED
    assert h.env.cache.orders_open() == [order]
    assert h.engine.counters()["orders_reopened"] == 1
    assert [type(e).__name__ for e in events][-2:] == ["OrderRejected", "OrderAccepted"]


async def test_reconciliation_reopens_a_timed_out_order_the_venue_reports_open() -> None:
    h = Harness()
    order = timed_out(h, "C-1")
    h.client.order_reports = [status_report("V-1", OrderStatus.PARTIALLY_FILLED, coid="C-1",
                                            filled_qty="0.500")]
    h.client.fill_reports = [fill_report("V-1", "F-1", "0.500", "100.00", coid="C-1")]
    assert await h.engine.reconcile(1.0)
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.trade_ids == {TradeId("F-1")}
    assert h.env.cache.orders_open() == [order]
    assert h.engine._reconciler.reopened == 1


async def test_reconciliation_brings_a_timed_out_order_the_venue_filled_to_filled() -> None:
    h = Harness()
    order = timed_out(h, "C-1")
    h.client.closed_reports = [status_report("V-1", OrderStatus.FILLED, coid="C-1",
                                             filled_qty="2.000")]
    h.client.order_reports = h.client.closed_reports
    h.client.fill_reports = [fill_report("V-1", "F-1", "2.000", "100.00", coid="C-1")]
    assert await h.engine.reconcile(1.0)
    assert order.status is OrderStatus.FILLED
    assert h.env.cache.positions_open()[0].quantity == Quantity.from_str("2.000")


# -- an inferred fill, then the venue's own -----------------------------------------------


async def test_the_venues_fill_after_an_inferred_one_is_recorded_not_applied_twice() -> None:
    h = Harness()
    order = h.cached("ACCEPTED", "C-1", vid="V-1")
    # The venue filled it while the connection was down and reports no fill history.
    h.client.order_reports = [status_report("V-1", OrderStatus.FILLED, coid="C-1",
                                            filled_qty="2.000", avg_px=100.0)]
    assert await h.engine.reconcile(1.0)
    assert order.status is OrderStatus.FILLED and h.engine._reconciler.inferred_fills == 1
    position = h.env.cache.positions_open()[0]
    # The real fills (the venue's ids) arrive after the reconnect.
    for trade_id, qty in (("EXEC-1", "1.500"), ("EXEC-2", "0.500")):
        h.engine.process(filled(order.init_event, qty, "100.00", trade_id, vid="V-1"))
    assert h.engine.counters()["inferred_fills_confirmed"] == 2
    assert h.engine.invalid_transition_count == 0
    assert {TradeId("EXEC-1"), TradeId("EXEC-2")} <= order.trade_ids
    assert h.env.cache.position(position.id).quantity == Quantity.from_str("2.000")
    # One of them again: a duplicate now, ignored.
    h.engine.process(filled(order.init_event, "0.500", "100.00", "EXEC-2", vid="V-1"))
    assert h.engine.duplicate_fill_count == 1
    assert h.env.cache.position(position.id).quantity == Quantity.from_str("2.000")


# -- without a database: the node's own orders and positions recovered from the venue ----

OWN = "O-20261207-120000-S-001-{}"  # what the OrderFactory of strategy S-001 makes


def own_fill(n: int, qty: str, px: str, trade_id: str):  # type: ignore[no-untyped-def]
    return fill_report(f"V-{n}", trade_id, qty, px, coid=OWN.format(n))


async def test_a_blind_start_rebuilds_each_strategys_position_from_the_venues_fills() -> None:
    h = Harness()
    h.engine.use_strategies(frozenset({str(STRAT)}))
    h.client.fill_reports = [own_fill(1, "1.000", "100.00", "F-1"),
                             own_fill(2, "0.500", "101.00", "F-2"),
                             fill_report("V-9", "F-9", "0.250", "99.00", coid="THEIRS-1")]
    h.client.position_reports = [position_report("1.750")]
    assert await h.engine.reconcile(1.0)
    by_strategy = {str(p.strategy_id): p.quantity for p in h.env.cache.positions_open()}
    assert by_strategy == {str(STRAT): Quantity.from_str("1.500"),
                           "EXTERNAL": Quantity.from_str("0.250")}
    assert h.engine.halted_instruments() == {}  # the net equals the venue's
    assert h.engine.counters()["positions_rebuilt"] == 2


async def test_an_open_order_of_the_nodes_own_strategy_is_recovered_as_its_own() -> None:
    h = Harness()
    h.engine.use_strategies(frozenset({str(STRAT)}))
    events = h.env.record(topics.order_events(STRAT))
    h.client.order_reports = [status_report("V-3", OrderStatus.PARTIALLY_FILLED,
                                            coid=OWN.format(3), filled_qty="0.500")]
    h.client.fill_reports = [own_fill(3, "0.500", "100.00", "F-3")]
    h.client.position_reports = [position_report("0.500")]
    assert await h.engine.reconcile(1.0)
    order = h.env.cache.order(ClientOrderId(OWN.format(3)))
    assert order is not None and order.strategy_id == STRAT and "RECOVERED" in order.tags
    assert order.status is OrderStatus.PARTIALLY_FILLED and events  # its strategy hears it
    # Its fill is in the position once: rebuilt from the fills, then met again on the order.
    (pos,) = h.env.cache.positions_open()
    assert pos.quantity == Quantity.from_str("0.500") and h.engine.halted_instruments() == {}
    assert h.engine.counters()["orders_recovered"] == 1


async def test_a_start_with_state_in_the_cache_rebuilds_nothing() -> None:
    h = Harness()
    h.engine.use_strategies(frozenset({str(STRAT)}))
    h.cached("ACCEPTED", "C-1", vid="V-1")  # what a database load would have put there
    h.client.order_reports = [status_report("V-1", OrderStatus.ACCEPTED, coid="C-1")]
    h.client.fill_reports = [own_fill(5, "1.000", "100.00", "F-5")]  # another order's
    assert await h.engine.reconcile(1.0)
    assert h.env.cache.positions_open() == [] and h.engine.counters()["positions_rebuilt"] == 0


def test_the_strategy_hears_a_cancel_of_an_initialized_order_that_could_not_be_routed() -> None:
    """Issue 17: an order still INITIALIZED at the exec engine whose cancel fails to route
    made an OrderCancelRejected the order's state machine refused: the strategy heard
    nothing. The rejection is informational for the order (still INITIALIZED) and is
    published to the strategy."""
    from livenode.model.events import OrderCancelRejected
    from livenode.model.identifiers import InstrumentId

    from .helpers import cancel

    h = Harness()
    events = h.env.record(topics.order_events(STRAT))
    elsewhere = InstrumentId("BTCUSDT.NOWHERE")  # no execution client for its venue
    order = Order(order_init(coid="C-9", iid=elsewhere))
    h.env.cache.add_order(order)
    h.engine.execute(cancel(order.client_order_id, iid=elsewhere))
    (rejection,) = [e for e in events if isinstance(e, OrderCancelRejected)]
    assert "NOWHERE" in rejection.reason
    assert order.status is OrderStatus.INITIALIZED
    assert h.engine.counters()["invalid_transitions"] == 0
