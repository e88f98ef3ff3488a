"""Each reconciliation rule alone: (the cached order, the venue's report, now) to the
events to apply, without an engine, a cache or a socket. The order given is never
changed; every event a rule infers names the rule and the report it came from."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from livenode.engines import reconciliation_rules as rules
from livenode.model import codec
from livenode.model.enums import OrderStatus, OrderType, PositionSide
from livenode.model.events import (
    Inference,
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderUpdated,
)
from livenode.model.identifiers import ClientOrderId, StrategyId, TradeId, TraderId, VenueOrderId
from livenode.model.objects import Price, Quantity
from livenode.model.orders import Order
from livenode.model.reports import PositionStatusReport

from .helpers import ACCOUNT, IID, T0, accepted, filled, make_instrument, order_init, submitted
from .test_reconciliation import fill_report, status_report

NOW = T0 + 5_000_000_000
INSTRUMENT = make_instrument()


def order_in(status: str, qty: str = "2.000", coid: str = "C-1", **init: object) -> Order:
    order = Order(order_init(coid=coid, qty=qty, **init))  # type: ignore[arg-type]
    if status in ("SUBMITTED", "ACCEPTED"):
        order.apply(submitted(order.init_event))
    if status == "ACCEPTED":
        order.apply(accepted(order.init_event))
    return order


def kinds(events: list[OrderEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def rules_of(events: list[OrderEvent]) -> list[str | None]:
    return [e.inferred.rule if e.inferred is not None else None for e in events]


def replay(order: Order, events: list[OrderEvent]) -> Order:
    for event in events:
        if not (type(event) is OrderFilled and order.confirm_inferred(event)):
            order.apply(event)
    return order


def test_an_order_the_venue_has_that_the_node_never_saw_sent_is_submitted_and_accepted() -> None:
    order = order_in("INITIALIZED")
    report = status_report("V-1", OrderStatus.ACCEPTED, coid="C-1")
    events = rules.align(order, report, [], NOW, INSTRUMENT)
    assert kinds(events) == ["OrderSubmitted", "OrderAccepted"]
    assert rules_of(events) == [rules.SUBMITTED_AT_VENUE, rules.ACCEPTED_AT_VENUE]
    assert all(e.inferred is not None and e.inferred.report_id == report.report_id
               for e in events)
    assert all(e.ts_init == NOW for e in events)
    # The rules plan on a copy: the cached order is unchanged until the events are applied.
    assert order.status is OrderStatus.INITIALIZED and order.event_count == 1
    assert replay(order, events).status is OrderStatus.ACCEPTED
    assert order.venue_order_id == VenueOrderId("V-1")


def test_a_rejection_by_the_venue_closes_the_order_with_its_reason() -> None:
    order = order_in("SUBMITTED")
    report = status_report("V-1", OrderStatus.REJECTED, coid="C-1")
    events = rules.align(order, report, [], NOW, INSTRUMENT)
    assert kinds(events) == ["OrderRejected"]
    assert isinstance(events[0], OrderRejected)
    assert events[0].reason == "rejected by the venue"
    assert rules_of(events) == [rules.REJECTED_AT_VENUE]
    closed = replay(order, events)
    assert rules.align(closed, report, [], NOW, INSTRUMENT) == []


def test_an_order_the_node_rejected_itself_is_reopened_by_the_venues_report() -> None:
    order = order_in("SUBMITTED")
    init = order.init_event
    order.apply(OrderRejected(
        account_id=ACCOUNT, reason="COMMAND_TIMEOUT: no answer", trader_id=init.trader_id,
        strategy_id=init.strategy_id, instrument_id=init.instrument_id,
        client_order_id=init.client_order_id, event_id="r", ts_event=T0, ts_init=T0,
    ))
    events = rules.align(order, status_report("V-7", OrderStatus.ACCEPTED, coid="C-1"), [],
                         NOW, INSTRUMENT)
    assert kinds(events) == ["OrderAccepted"] and rules_of(events) == [rules.REOPENED]
    assert replay(order, events).is_open and order.venue_order_id == VenueOrderId("V-7")


def test_a_stop_the_venue_triggered_is_triggered_and_a_limit_order_never_is() -> None:
    stop = order_in("ACCEPTED", order_type=OrderType.STOP_MARKET, price=None, trigger="90.00")
    report = status_report("V-1", OrderStatus.TRIGGERED, coid="C-1")
    report = msgspec.structs.replace(report, order_type=OrderType.STOP_MARKET, price=None,
                                     trigger_price=Price.from_str("90.00"))
    events = rules.align(stop, report, [], NOW, INSTRUMENT)
    assert kinds(events) == ["OrderTriggered"]
    assert rules_of(events) == [rules.TRIGGERED_AT_VENUE]
    # The state machine refuses a trigger of a LIMIT order: the rule leaves it out.
    limit = order_in("ACCEPTED")
    assert rules.align(limit, status_report("V-1", OrderStatus.TRIGGERED, coid="C-1"), [],
                       NOW, INSTRUMENT) == []


def test_an_order_amended_at_the_venue_is_updated_to_the_venues_quantity_and_price() -> None:
    order = order_in("ACCEPTED")
    report = status_report("V-1", OrderStatus.ACCEPTED, coid="C-1", qty="3.000", price="99.50")
    events = rules.align(order, report, [], NOW, INSTRUMENT)
    assert kinds(events) == ["OrderUpdated"] and rules_of(events) == [rules.UPDATED_AT_VENUE]
    update = events[0]
    assert isinstance(update, OrderUpdated)
    assert update.quantity == Quantity.from_str("3.000")
    assert update.price == Price.from_str("99.50")


def test_the_venues_fills_are_applied_once_as_the_venues_not_as_inferred() -> None:
    order = order_in("ACCEPTED")
    order.apply(filled(order.init_event, "0.500", "100.00", "F-1"))
    report = status_report("V-1", OrderStatus.FILLED, coid="C-1", filled_qty="2.000")
    fills = [fill_report("V-1", "F-1", "0.500", "100.00", coid="C-1"),
             fill_report("V-1", "F-2", "1.500", "101.00", coid="C-1")]
    events = rules.align(order, report, fills, NOW, INSTRUMENT)
    assert kinds(events) == ["OrderFilled"] and rules_of(events) == [None]
    assert isinstance(events[0], OrderFilled) and events[0].trade_id == TradeId("F-2")
    assert replay(order, events).status is OrderStatus.FILLED


def test_a_filled_quantity_no_fill_explains_becomes_one_inferred_fill_at_its_price() -> None:
    order = order_in("ACCEPTED")
    order.apply(filled(order.init_event, "0.500", "100.00", "F-1"))
    report = status_report("V-1", OrderStatus.FILLED, coid="C-1", filled_qty="2.000",
                           avg_px=101.0)
    events = rules.align(order, report, [], NOW, INSTRUMENT)
    assert kinds(events) == ["OrderFilled"]
    fill = events[0]
    assert isinstance(fill, OrderFilled)
    assert fill.inferred == Inference(rule=rules.FILL_NOT_REPORTED, report_id=report.report_id)
    assert fill.last_qty == Quantity.from_str("1.500")
    # 2.0 @ 101 in all, 0.5 @ 100 seen: the missing 1.5 at (202 - 50) / 1.5.
    assert fill.last_px == Price.from_str("101.33")
    assert fill.ts_event == report.ts_last
    # Without the instrument (no price precision, no currency) nothing is invented.
    assert rules.align(order, report, [], NOW, None) == []


def test_the_venues_own_fill_confirms_an_inferred_one_also_after_a_restart() -> None:
    order = order_in("ACCEPTED")
    report = status_report("V-1", OrderStatus.FILLED, coid="C-1", filled_qty="2.000",
                           avg_px=100.0)
    replay(order, rules.align(order, report, [], NOW, INSTRUMENT))
    assert order.status is OrderStatus.FILLED
    assert order.inferred_unconfirmed == Quantity.from_str("2.000")
    # A restart (the history replayed from the database, through the codec) keeps it.
    restarted = Order.from_events([codec.decode(codec.encode(e))  # type: ignore[misc]
                                   for e in order.events])
    assert restarted.inferred_unconfirmed == Quantity.from_str("2.000")
    late = [fill_report("V-1", "F-9", "1.200", "100.00", coid="C-1"),
            fill_report("V-1", "F-10", "0.800", "100.00", coid="C-1")]
    events = rules.align(restarted, report, late, NOW, INSTRUMENT)
    assert kinds(events) == ["OrderFilled", "OrderFilled"]
    replay(restarted, events)
    assert restarted.filled_qty == Quantity.from_str("2.000")  # counted once
    assert restarted.inferred_unconfirmed == Quantity.from_str("0.000")
    assert {TradeId("F-9"), TradeId("F-10")} <= restarted.trade_ids
    # Their resend is a duplicate now, planned for nothing.
    assert rules.align(restarted, report, late, NOW, INSTRUMENT) == []


def test_a_venue_fill_beyond_the_inferred_quantity_is_a_new_fill() -> None:
    order = order_in("ACCEPTED")
    report = status_report("V-1", OrderStatus.PARTIALLY_FILLED, coid="C-1",
                           filled_qty="0.500", avg_px=100.0)
    replay(order, rules.align(order, report, [], NOW, INSTRUMENT))
    bigger = fill_report("V-1", "F-1", "1.000", "100.00", coid="C-1")
    assert not order.confirm_inferred(
        rules.venue_fills(order, [bigger], NOW)[0])
    assert order.inferred_unconfirmed == Quantity.from_str("0.500")


def test_a_cancel_or_expiry_at_the_venue_closes_the_order_after_its_fills() -> None:
    order = order_in("ACCEPTED")
    report = status_report("V-1", OrderStatus.CANCELED, coid="C-1", filled_qty="0.500")
    fills = [fill_report("V-1", "F-1", "0.500", "100.00", coid="C-1")]
    events = rules.align(order, report, fills, NOW, INSTRUMENT)
    assert kinds(events) == ["OrderFilled", "OrderCanceled"]
    assert rules_of(events) == [None, rules.CANCELED_AT_VENUE]
    expiring = order_in("ACCEPTED", coid="C-2")
    events = rules.align(expiring, status_report("V-2", OrderStatus.EXPIRED, coid="C-2"), [],
                         NOW, INSTRUMENT)
    assert [type(e) for e in events] == [OrderExpired]
    assert rules_of(events) == [rules.EXPIRED_AT_VENUE]


def test_an_order_the_venue_does_not_have_is_rejected_if_never_accepted_else_canceled() -> None:
    sent = order_in("SUBMITTED")
    events = rules.close_missing(sent, ACCOUNT, NOW)
    assert [type(e) for e in events] == [OrderRejected]
    assert isinstance(events[0], OrderRejected)
    assert events[0].reason == rules.NOT_AT_VENUE_REASON
    assert events[0].inferred == Inference(rule=rules.NOT_AT_VENUE)
    # Such a rejection is the node's own: the venue's later word still reopens it.
    assert replay(sent, events).rejected_locally
    working = order_in("ACCEPTED", coid="C-2")
    events = rules.close_missing(working, ACCOUNT, NOW)
    assert [type(e) for e in events] == [OrderCanceled]
    assert rules_of(events) == [rules.NOT_AT_VENUE]


def test_an_unknown_order_is_described_as_recovered_or_external() -> None:
    report = status_report("V-3", OrderStatus.ACCEPTED, coid="O-1-MM-1")
    own = rules.external_order(report, TraderId("T-1"), StrategyId("MM"), True, NOW)
    assert own.tags == ("RECOVERED",) and own.client_order_id == ClientOrderId("O-1-MM-1")
    anonymous = status_report("V-4", OrderStatus.ACCEPTED)
    ext = rules.external_order(anonymous, TraderId("T-1"), StrategyId("EXTERNAL"), False, NOW)
    assert ext.tags == ("EXTERNAL",) and ext.client_order_id == ClientOrderId("EXT-V-4")
    assert ext.ts_init == NOW and ext.price == report.price


def test_an_adopted_fill_books_as_an_order_of_exactly_that_fill() -> None:
    venue_fill = filled(order_init(coid="THEIRS", qty="0.700"), "0.700", "99.00", "X-1",
                        vid="V-9")
    order_report, fill = rules.adopted_fill_reports(venue_fill, NOW)
    assert order_report.client_order_id == ClientOrderId("EXT-V-9-X-1")
    order = Order(rules.external_order(order_report, TraderId("T-1"),
                                       StrategyId("EXTERNAL"), False, NOW))
    events = rules.align(order, order_report, [fill], NOW, INSTRUMENT)
    assert kinds(events) == ["OrderSubmitted", "OrderAccepted", "OrderFilled"]
    assert rules_of(events)[-1] is None  # the venue's trade, under its own trade id
    replay(order, events)
    assert order.status is OrderStatus.FILLED and order.trade_ids == {TradeId("X-1")}
    assert order.avg_px == 99.0


def test_a_position_difference_names_both_amounts_with_their_sign() -> None:
    def report(side: PositionSide, qty: str) -> PositionStatusReport:
        return PositionStatusReport(account_id=ACCOUNT, instrument_id=IID, position_side=side,
                                    quantity=Quantity.from_str(qty), report_id="p",
                                    ts_last=0, ts_init=0)

    assert rules.position_difference(Decimal("-0.500"), report(PositionSide.SHORT, "0.500")) \
        is None
    assert rules.position_difference(Decimal(0), report(PositionSide.FLAT, "0")) is None
    assert rules.position_difference(Decimal("0.500"), report(PositionSide.SHORT, "0.500")) \
        == "position at the venue -0.500, in the cache 0.500"


def test_no_event_is_planned_twice_for_an_order_already_in_the_reported_state() -> None:
    order = order_in("ACCEPTED")
    assert rules.align(order, status_report("V-1", OrderStatus.ACCEPTED, coid="C-1"), [],
                       NOW, INSTRUMENT) == []
    assert [type(e) for e in rules.align(order_in("INITIALIZED"),
                                         status_report("V-1", OrderStatus.ACCEPTED), [],
                                         NOW, INSTRUMENT)] == [OrderSubmitted, OrderAccepted]
