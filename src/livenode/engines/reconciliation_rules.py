"""Reconciliation rules: from (the cached order, the venue's report, now) to events.

Pure functions: they read the order and the reports they are given and return the
order events that bring the order to the state the venue reports, in the order to
apply them. They touch no cache, engine or socket, so each rule is tested alone
(`tests/unit/engines/test_reconciliation_rules.py`); the `Reconciler` applies what
they return through the execution engine.

The venue's report is the truth in every state, the node's own word included: an
order the node rejected itself (a timeout) that the venue reports is reopened with
the venue's state. Every event a rule infers (the venue did not send it as such)
carries an `Inference`: the rule that made it and the report it came from. A fill
inferred for a filled quantity that no fill report explains (`FILL_NOT_REPORTED`)
is confirmed, not applied again, by the venue's own fills when they arrive later
(`Order.confirm_inferred`).

Each rule is a constant below; `align` names which one made each event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from livenode.core.uuid import new_id
from livenode.model.enums import LiquiditySide, OrderStatus, OrderType, PositionSide, TimeInForce
from livenode.model.events import (
    FILL_NOT_REPORTED,
    Inference,
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)
from livenode.model.identifiers import AccountId, ClientOrderId, StrategyId, TradeId, TraderId
from livenode.model.instruments import Instrument
from livenode.model.objects import Money
from livenode.model.order_fsm import InvalidStateTransition
from livenode.model.orders import Order
from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport

__all__ = [
    "ACCEPTED_AT_VENUE",
    "CANCELED_AT_VENUE",
    "EXPIRED_AT_VENUE",
    "FILL_NOT_REPORTED",
    "NOT_AT_VENUE",
    "NOT_AT_VENUE_REASON",
    "OPEN_AT_VENUE",
    "REJECTED_AT_VENUE",
    "REOPENED",
    "SUBMITTED_AT_VENUE",
    "TRIGGERED_AT_VENUE",
    "UPDATED_AT_VENUE",
    "adopted_fill_reports",
    "align",
    "close_missing",
    "external_order",
    "missing_fill_price",
    "position_difference",
    "venue_fills",
]

#: The venue reports an order the node created but never saw sent.
SUBMITTED_AT_VENUE = "submitted_at_venue"
#: The venue reports the order rejected.
REJECTED_AT_VENUE = "rejected_at_venue"
#: The venue reports an order open whose acknowledgement the node never received.
ACCEPTED_AT_VENUE = "accepted_at_venue"
#: The venue reports an order open that the node had rejected itself (a timeout).
REOPENED = "reopened_by_venue"
#: The venue reports a stop order triggered.
TRIGGERED_AT_VENUE = "triggered_at_venue"
#: The venue reports other quantity or prices than the node holds.
UPDATED_AT_VENUE = "updated_at_venue"
#: The venue reports the order canceled.
CANCELED_AT_VENUE = "canceled_at_venue"
#: The venue reports the order expired.
EXPIRED_AT_VENUE = "expired_at_venue"
#: The venue does not report an order the node holds open or in flight.
NOT_AT_VENUE = "not_at_venue"

#: The reason of the rejection `close_missing` makes (a `LOCAL_REJECTIONS` prefix:
#: the venue's later word still reopens the order).
NOT_AT_VENUE_REASON = "RECONCILIATION: the venue does not know the order"

IdFactory = Callable[[], str]

#: The statuses a venue reports an order it still works in.
OPEN_AT_VENUE = frozenset((
    OrderStatus.ACCEPTED,
    OrderStatus.TRIGGERED,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.PENDING_UPDATE,
    OrderStatus.PENDING_CANCEL,
))


class _Planner:
    """Builds one order's events against a private copy of it, so each next rule sees
    the state the previous events lead to, and an event the order's state machine
    refuses is left out (as the engine would refuse it)."""

    def __init__(self, order: Order, now: int, ids: IdFactory) -> None:
        self.shadow = order.replica()
        self._now = now
        self._ids = ids
        self.events: list[OrderEvent] = []

    def add(self, cls: type[OrderEvent], inferred: Inference | None,
            ts_event: int | None = None, **fields: Any) -> bool:
        order = self.shadow
        event = cls(
            trader_id=order.init_event.trader_id,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            event_id=self._ids(),
            ts_event=self._now if ts_event is None else ts_event,
            ts_init=self._now,
            inferred=inferred,
            **fields,
        )
        try:
            order.apply(event)
        except InvalidStateTransition:
            return False
        self.events.append(event)
        return True


def align(
    order: Order,
    report: OrderStatusReport,
    fills: Sequence[FillReport],
    now: int,
    instrument: Instrument | None,
    ids: IdFactory = new_id,
) -> list[OrderEvent]:
    """The events that bring `order` to the state `report` gives, with `fills` (the
    venue's fills of it; each applied once, those the order has are skipped).

    A filled quantity no fill explains becomes one inferred fill
    (`FILL_NOT_REPORTED`) at the report's average price for the missing part; it
    needs `instrument` (its price precision and quote currency): without it, or
    without a price, no fill is inferred (the caller logs it: `missing_fill`).
    """
    plan = _Planner(order, now, ids)
    shadow = plan.shadow
    account_id = report.account_id
    status = report.order_status
    why = _because(report)
    if shadow.status is OrderStatus.INITIALIZED:
        plan.add(OrderSubmitted, why(SUBMITTED_AT_VENUE), account_id=account_id)
    if status is OrderStatus.REJECTED:
        if not shadow.is_closed:
            plan.add(OrderRejected, why(REJECTED_AT_VENUE), account_id=account_id,
                     reason=report.cancel_reason or "rejected by the venue")
        return plan.events
    if shadow.status is OrderStatus.SUBMITTED or shadow.rejected_locally:
        rule = REOPENED if shadow.rejected_locally else ACCEPTED_AT_VENUE
        plan.add(OrderAccepted, why(rule), venue_order_id=report.venue_order_id,
                 account_id=account_id)
    if status is OrderStatus.TRIGGERED and shadow.status is OrderStatus.ACCEPTED:
        plan.add(OrderTriggered, why(TRIGGERED_AT_VENUE))
    if shadow.is_open and (
        report.quantity != shadow.quantity
        or report.price != shadow.price
        or report.trigger_price != shadow.trigger_price
    ) and report.quantity >= report.filled_qty:
        plan.add(OrderUpdated, why(UPDATED_AT_VENUE), quantity=report.quantity,
                 price=report.price, trigger_price=report.trigger_price)
    for event in venue_fills(shadow, fills, now, ids):
        # As the engine does: a venue fill an inferred fill already counts confirms
        # it (and is not applied again).
        if not shadow.confirm_inferred(event):
            try:
                shadow.apply(event)
            except InvalidStateTransition:
                continue
        plan.events.append(event)
    if report.filled_qty > shadow.filled_qty and instrument is not None:
        px = missing_fill_price(shadow, report)
        if px is not None:
            currency = instrument.quote_currency
            plan.add(
                OrderFilled, why(FILL_NOT_REPORTED), ts_event=report.ts_last,
                venue_order_id=report.venue_order_id,
                account_id=account_id,
                trade_id=TradeId(f"RECON-{report.venue_order_id}-{report.filled_qty}"),
                order_side=shadow.side,
                order_type=shadow.order_type,
                last_qty=report.filled_qty - shadow.filled_qty,
                last_px=instrument.make_price(px),
                currency=currency,
                commission=Money.zero(currency),
                liquidity_side=LiquiditySide.TAKER,
            )
    if shadow.is_closed:
        return plan.events
    if status is OrderStatus.CANCELED:
        plan.add(OrderCanceled, why(CANCELED_AT_VENUE))
    elif status is OrderStatus.EXPIRED:
        plan.add(OrderExpired, why(EXPIRED_AT_VENUE))
    return plan.events


def venue_fills(
    order: Order, fills: Sequence[FillReport], now: int, ids: IdFactory = new_id
) -> list[OrderFilled]:
    """The venue's fills of `order` it has not applied yet, as events (not inferred:
    each is a trade the venue reports, with its own trade id)."""
    known = order.trade_ids
    return [
        OrderFilled(
            trader_id=order.init_event.trader_id,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            event_id=ids(),
            ts_event=fill.ts_event,
            ts_init=now,
            venue_order_id=fill.venue_order_id,
            account_id=fill.account_id,
            trade_id=fill.trade_id,
            order_side=order.side,
            order_type=order.order_type,
            last_qty=fill.last_qty,
            last_px=fill.last_px,
            currency=fill.commission.currency,
            commission=fill.commission,
            liquidity_side=fill.liquidity_side,
        )
        for fill in fills
        if fill.trade_id not in known
    ]


def close_missing(
    order: Order, account_id: AccountId, now: int, ids: IdFactory = new_id
) -> list[OrderEvent]:
    """Close an order the venue does not report open (`NOT_AT_VENUE`): rejected if the
    venue never accepted it (`NOT_AT_VENUE_REASON`), else canceled."""
    plan = _Planner(order, now, ids)
    inferred = Inference(rule=NOT_AT_VENUE)
    if plan.shadow.status in (OrderStatus.SUBMITTED, OrderStatus.INITIALIZED):
        plan.add(OrderRejected, inferred, account_id=account_id, reason=NOT_AT_VENUE_REASON)
    else:
        plan.add(OrderCanceled, inferred)
    return plan.events


def external_order(
    report: OrderStatusReport,
    trader_id: TraderId,
    strategy_id: StrategyId,
    own: bool,
    now: int,
    ids: IdFactory = new_id,
) -> OrderInitialized:
    """The description of an order the venue reports and the node does not hold:
    `own` when one of this node's strategies made its id (tag `RECOVERED`), else an
    order from outside the node (tag `EXTERNAL`)."""
    return OrderInitialized(
        trader_id=trader_id,
        strategy_id=strategy_id,
        instrument_id=report.instrument_id,
        client_order_id=report.client_order_id or ClientOrderId(f"EXT-{report.venue_order_id}"),
        side=report.order_side,
        order_type=report.order_type,
        quantity=report.quantity,
        price=report.price,
        trigger_price=report.trigger_price,
        time_in_force=report.time_in_force,
        expire_time_ns=report.expire_time_ns,
        post_only=report.post_only,
        reduce_only=report.reduce_only,
        tags=("RECOVERED",) if own else ("EXTERNAL",),
        event_id=ids(),
        ts_event=report.ts_accepted,
        ts_init=now,
    )


def adopted_fill_reports(
    fill: OrderFilled, now: int, ids: IdFactory = new_id
) -> tuple[OrderStatusReport, FillReport]:
    """A live fill of an order the node does not know, as the reports of an order of
    exactly that fill (filled at once), under client order id
    ``EXT-{venue order id}-{trade id}``: `align` then books it like any report."""
    coid = ClientOrderId(f"EXT-{fill.venue_order_id}-{fill.trade_id}")
    order_report = OrderStatusReport(
        account_id=fill.account_id,
        instrument_id=fill.instrument_id,
        client_order_id=coid,
        venue_order_id=fill.venue_order_id,
        order_side=fill.order_side,
        # Its real type and price are the other session's; the fill is what is known.
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.GTC,
        order_status=OrderStatus.FILLED,
        quantity=fill.last_qty,
        filled_qty=fill.last_qty,
        report_id=ids(),
        ts_accepted=fill.ts_event,
        ts_last=fill.ts_event,
        ts_init=now,
    )
    fill_report = FillReport(
        account_id=fill.account_id,
        instrument_id=fill.instrument_id,
        venue_order_id=fill.venue_order_id,
        client_order_id=coid,
        trade_id=fill.trade_id,
        order_side=fill.order_side,
        last_qty=fill.last_qty,
        last_px=fill.last_px,
        commission=fill.commission,
        liquidity_side=fill.liquidity_side,
        report_id=ids(),
        ts_event=fill.ts_event,
        ts_init=fill.ts_init,
    )
    return order_report, fill_report


def position_difference(cached_net: Decimal, report: PositionStatusReport) -> str | None:
    """None when the venue's position equals the node's net `cached_net` (signed, all
    strategies), else the difference in words with both amounts."""
    venue_qty = report.quantity.as_decimal()
    if report.position_side is PositionSide.SHORT:
        venue_qty = -venue_qty
    if venue_qty == cached_net:
        return None
    return f"position at the venue {venue_qty}, in the cache {cached_net}"


def missing_fill_price(order: Order, report: OrderStatusReport) -> Decimal | None:
    """The average price of the part of the filled quantity the order has not seen
    (from the report's average price and the order's own), else the limit price."""
    if report.avg_px is None:
        return report.price.as_decimal() if report.price is not None else None
    total = report.filled_qty.as_decimal() * Decimal(repr(report.avg_px))
    seen = order.filled_qty.as_decimal()
    if seen and order.avg_px is not None:
        total -= seen * Decimal(repr(order.avg_px))
    missing = report.filled_qty.as_decimal() - seen
    return total / missing if missing else None


def _because(report: OrderStatusReport) -> Callable[[str], Inference]:
    return lambda rule: Inference(rule=rule, report_id=report.report_id)
