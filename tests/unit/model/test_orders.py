"""The order state machine: every (status, event) pair against the table, the
real-world races, quantities and prices, and random event sequences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livenode.model import (
    ORDER_EVENT_TYPES,
    ORDER_TRANSITIONS,
    ClientOrderId,
    InvalidStateTransition,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    OrderTriggered,
    OrderType,
    OrderUpdated,
    Price,
    Quantity,
    VenueOrderId,
)
from livenode.model.orders import FILL, LATE_FILL, PREVIOUS, SAME

from .factories import ACCOUNT, event, filled, initialized

S = OrderStatus

# The shortest event path to each status, for a STOP_LIMIT order of 1.000
# (so that OrderTriggered is legal) and fills of 0.500.
PATHS: dict[OrderStatus, list[type[OrderEvent]]] = {
    S.INITIALIZED: [],
    S.DENIED: [OrderDenied],
    S.SUBMITTED: [OrderSubmitted],
    S.ACCEPTED: [OrderSubmitted, OrderAccepted],
    S.REJECTED: [OrderSubmitted, OrderRejected],
    S.PENDING_UPDATE: [OrderSubmitted, OrderAccepted, OrderPendingUpdate],
    S.PENDING_CANCEL: [OrderSubmitted, OrderAccepted, OrderPendingCancel],
    S.TRIGGERED: [OrderSubmitted, OrderAccepted, OrderTriggered],
    S.PARTIALLY_FILLED: [OrderSubmitted, OrderAccepted, OrderFilled],
    S.FILLED: [OrderSubmitted, OrderAccepted, OrderFilled, OrderFilled],
    S.CANCELED: [OrderSubmitted, OrderAccepted, OrderCanceled],
    S.EXPIRED: [OrderSubmitted, OrderAccepted, OrderExpired],
}
APPLICABLE = [t for t in ORDER_EVENT_TYPES if t is not OrderInitialized]


def make(kind: type[OrderEvent]) -> OrderEvent:
    if kind is OrderFilled:
        return filled(qty="0.500", order_type=OrderType.STOP_LIMIT)
    return event(kind)


def order_in(status: OrderStatus) -> Order:
    order = Order(initialized(OrderType.STOP_LIMIT))
    for kind in PATHS[status]:
        order.apply(make(kind))
    assert order.status is status
    return order


def expected_status(order: Order, status: OrderStatus, kind: type[OrderEvent]) -> OrderStatus:
    target = ORDER_TRANSITIONS[(status, kind)]
    if target is FILL:
        return S.FILLED if order.filled_qty.raw + 500 == 1000 else S.PARTIALLY_FILLED
    if target is LATE_FILL:
        return status
    if target is PREVIOUS:
        return S.ACCEPTED  # every PENDING_* path comes from ACCEPTED
    if target is SAME:
        return status
    return target  # type: ignore[return-value]


@pytest.mark.parametrize("kind", APPLICABLE, ids=lambda k: k.__name__)
@pytest.mark.parametrize("status", list(OrderStatus), ids=lambda s: s.value)
def test_every_status_event_pair_follows_the_table(
    status: OrderStatus, kind: type[OrderEvent]
) -> None:
    order = order_in(status)
    evt = make(kind)
    if (status, kind) in ORDER_TRANSITIONS:
        want = expected_status(order, status, kind)
        order.apply(evt)
        assert order.status is want
        assert order.last_event is evt
    else:
        before = (order.status, order.event_count, order.filled_qty)
        with pytest.raises(InvalidStateTransition) as info:
            order.apply(evt)
        message = str(info.value)
        assert "O-1" in message and status.value in message and kind.__name__ in message
        assert info.value.order_id == ClientOrderId("O-1")
        assert info.value.status is status and info.value.event is evt
        assert (order.status, order.event_count, order.filled_qty) == before


def test_table_has_the_required_real_world_transitions() -> None:
    required = {
        (S.INITIALIZED, OrderDenied): S.DENIED,
        (S.SUBMITTED, OrderRejected): S.REJECTED,
        (S.SUBMITTED, OrderCanceled): S.CANCELED,
        (S.ACCEPTED, OrderCanceled): S.CANCELED,
        (S.TRIGGERED, OrderCanceled): S.CANCELED,
        (S.PARTIALLY_FILLED, OrderCanceled): S.CANCELED,
        (S.PENDING_CANCEL, OrderCanceled): S.CANCELED,
        (S.PENDING_UPDATE, OrderCanceled): S.CANCELED,
        (S.ACCEPTED, OrderExpired): S.EXPIRED,
        (S.PENDING_CANCEL, OrderFilled): FILL,
        (S.PENDING_UPDATE, OrderFilled): FILL,
        (S.PENDING_CANCEL, OrderCancelRejected): PREVIOUS,
        (S.PENDING_UPDATE, OrderModifyRejected): PREVIOUS,
        (S.PENDING_UPDATE, OrderUpdated): PREVIOUS,
    }
    for key, target in required.items():
        assert ORDER_TRANSITIONS[key] is target, key
    denied_from = {status for (status, kind) in ORDER_TRANSITIONS if kind is OrderDenied}
    assert denied_from == {S.INITIALIZED}
    for status in (S.DENIED, S.REJECTED, S.FILLED):
        leaving = {ORDER_TRANSITIONS[k] for k in ORDER_TRANSITIONS if k[0] is status}
        assert leaving <= {SAME}, status  # terminal: only informational rejects


def test_happy_path_quantities_prices_and_flags() -> None:
    order = Order(initialized(OrderType.LIMIT, quantity="2.000"))
    assert order.status is S.INITIALIZED and not order.is_open and not order.is_closed
    assert order.leaves_qty == Quantity.from_str("2") and order.avg_px is None
    order.apply(event(OrderSubmitted))
    assert order.is_inflight and order.account_id == ACCOUNT
    order.apply(event(OrderAccepted, venue_order_id=VenueOrderId("V-9")))
    assert order.venue_order_id == VenueOrderId("V-9") and order.is_open and not order.is_inflight
    order.apply(filled(qty="0.500", px="100.00"))
    assert order.status is S.PARTIALLY_FILLED
    assert order.filled_qty == Quantity.from_str("0.5") and order.leaves_qty == Quantity.from_str(
        "1.5"
    )
    order.apply(filled(qty="1.500", px="101.00", ts=99))
    assert order.status is S.FILLED and order.is_closed and not order.is_open
    assert order.leaves_qty == Quantity.zero(3)
    assert order.avg_px == pytest.approx(100.75, abs=0) # (0.5*100 + 1.5*101) / 2
    assert order.ts_last == 99 and order.ts_init == 1
    assert [type(e) for e in order.events] == [
        OrderInitialized, OrderSubmitted, OrderAccepted, OrderFilled, OrderFilled,
    ]
    assert len(order.trade_ids) == 2 and order.last_trade_id in order.trade_ids


def test_update_changes_quantity_and_price_and_returns_from_pending() -> None:
    order = order_in(S.ACCEPTED)
    order.apply(event(OrderPendingUpdate))
    order.apply(
        event(
            OrderUpdated,
            quantity=Quantity.from_str("3.000"),
            price=Price.from_str("98.00"),
            trigger_price=Price.from_str("97.00"),
        )
    )
    assert order.status is S.ACCEPTED
    assert order.quantity == Quantity(3, 0)
    assert order.price == Price.from_str("98.00") and order.trigger_price == Price.from_str("97.00")
    assert order.leaves_qty == Quantity(3, 0)


def test_update_below_filled_refused_and_down_to_filled_completes() -> None:
    order = order_in(S.PARTIALLY_FILLED)  # 0.5 of 1 filled
    with pytest.raises(InvalidStateTransition, match="below the filled"):
        order.apply(event(OrderUpdated, quantity=Quantity.from_str("0.400")))
    order.apply(event(OrderUpdated, quantity=Quantity.from_str("0.500")))
    assert order.status is S.FILLED and order.leaves_qty == Quantity.zero(3)


def test_cancel_reject_returns_to_the_status_before_the_request() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    order.apply(event(OrderPendingCancel))
    order.apply(event(OrderPendingCancel))  # a repeated request
    order.apply(event(OrderCancelRejected))
    assert order.status is S.PARTIALLY_FILLED
    triggered = order_in(S.TRIGGERED)
    triggered.apply(event(OrderPendingUpdate))
    triggered.apply(event(OrderModifyRejected))
    assert triggered.status is S.TRIGGERED


def test_a_denied_order_records_the_answer_to_a_modify_or_cancel() -> None:
    """Refused before: the strategy never heard that its modify/cancel failed."""
    order = order_in(S.DENIED)
    order.apply(event(OrderModifyRejected, reason="ORDER_CLOSED: order is closed (DENIED)"))
    order.apply(event(OrderCancelRejected, reason="ORDER_CLOSED: order is closed (DENIED)"))
    assert order.status is S.DENIED and isinstance(order.last_event, OrderCancelRejected)


def test_fill_racing_a_cancel_then_the_cancel() -> None:
    order = order_in(S.PENDING_CANCEL)
    order.apply(filled(qty="0.400", order_type=OrderType.STOP_LIMIT))
    assert order.status is S.PARTIALLY_FILLED
    order.apply(event(OrderCanceled))
    assert order.status is S.CANCELED and order.leaves_qty == Quantity.zero(3)
    # A late report of a fill executed before the cancel: recorded, still canceled.
    order.apply(filled(qty="0.100", order_type=OrderType.STOP_LIMIT))
    assert order.status is S.CANCELED and order.filled_qty == Quantity.from_str("0.5")
    # ... unless it completes the order.
    order.apply(filled(qty="0.500", order_type=OrderType.STOP_LIMIT))
    assert order.status is S.FILLED


def test_cancel_rejected_after_fill_is_informational() -> None:
    order = order_in(S.PENDING_CANCEL)
    order.apply(filled(qty="1.000", order_type=OrderType.STOP_LIMIT))
    order.apply(event(OrderCancelRejected, reason="order filled"))
    assert order.status is S.FILLED and isinstance(order.last_event, OrderCancelRejected)


def test_unacknowledged_ioc_canceled_and_fill_before_ack() -> None:
    order = order_in(S.SUBMITTED)
    order.apply(event(OrderCanceled))
    assert order.status is S.CANCELED
    fast = order_in(S.SUBMITTED)
    fast.apply(filled(qty="1.000"))
    assert fast.status is S.FILLED and fast.venue_order_id == VenueOrderId("V-1")


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (dict(qty="1.500"), "overfill"),
        (dict(trade_id="DUP"), "duplicate trade id"),
    ],
)
def test_bad_fills_refused_without_change(mutate: dict[str, str], match: str) -> None:
    order = order_in(S.ACCEPTED)
    order.apply(filled(qty="0.100", trade_id="DUP"))
    before = (order.status, order.filled_qty, order.event_count)
    with pytest.raises(InvalidStateTransition, match=match):
        order.apply(filled(**mutate))
    assert (order.status, order.filled_qty, order.event_count) == before


def test_fill_of_wrong_side_or_other_order_refused() -> None:
    from livenode.model import OrderSide

    order = order_in(S.ACCEPTED)
    with pytest.raises(InvalidStateTransition, match="side"):
        order.apply(filled(side=OrderSide.SELL))
    with pytest.raises(InvalidStateTransition, match="O-2"):
        order.apply(event(OrderCanceled, coid=ClientOrderId("O-2")))


def test_trigger_only_for_stop_orders() -> None:
    order = Order(initialized(OrderType.LIMIT))
    order.apply(event(OrderSubmitted))
    order.apply(event(OrderAccepted))
    with pytest.raises(InvalidStateTransition, match="LIMIT order has no trigger"):
        order.apply(event(OrderTriggered))


def test_rebuild_from_events_and_constructor_type_check() -> None:
    original = order_in(S.PARTIALLY_FILLED)
    copy = Order.from_events(original.events)
    assert copy.status is original.status and copy.filled_qty == original.filled_qty
    assert copy.avg_px == original.avg_px and copy.venue_order_id == original.venue_order_id
    with pytest.raises(TypeError):
        Order(event(OrderSubmitted))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Order.from_events([event(OrderSubmitted)])


def test_order_initialized_validation() -> None:
    with pytest.raises(ValueError, match="needs a price"):
        initialized(OrderType.LIMIT, price=None)
    with pytest.raises(ValueError, match="has no price"):
        initialized(OrderType.MARKET, price=Price(1, 0))
    with pytest.raises(ValueError, match="needs a trigger_price"):
        initialized(OrderType.STOP_MARKET, trigger_price=None)
    with pytest.raises(ValueError, match="quantity must be positive"):
        initialized(quantity="0")
    from livenode.model import TimeInForce

    with pytest.raises(ValueError, match="GTD"):
        initialized(time_in_force=TimeInForce.GTD)
    with pytest.raises(ValueError, match="post_only"):
        initialized(OrderType.MARKET, post_only=True)


# -- random sequences -----------------------------------------------------------------------

_FILL_SIZES = ["0.100", "0.250", "0.500", "1.000"]


@st.composite
def event_sequences(draw: st.DrawFn) -> list[OrderEvent]:
    kinds = draw(st.lists(st.sampled_from(APPLICABLE), max_size=25))
    out: list[OrderEvent] = []
    for kind in kinds:
        if kind is OrderFilled:
            out.append(
                filled(qty=draw(st.sampled_from(_FILL_SIZES)), order_type=OrderType.STOP_LIMIT)
            )
        else:
            out.append(event(kind))
    return out


@settings(max_examples=300, deadline=None)
@given(event_sequences())
def test_random_sequences_obey_the_table_and_invariants(events: list[OrderEvent]) -> None:
    order = Order(initialized(OrderType.STOP_LIMIT))
    pre_pending = S.INITIALIZED
    for evt in events:
        status = order.status
        before = (order.event_count, order.filled_qty)
        target = ORDER_TRANSITIONS.get((status, type(evt)))
        overfill = isinstance(evt, OrderFilled) and order.filled_qty + evt.last_qty > order.quantity
        if target is None or overfill:
            with pytest.raises(InvalidStateTransition):
                order.apply(evt)
            assert order.status is status and (order.event_count, order.filled_qty) == before
            continue
        order.apply(evt)
        complete = order.filled_qty == order.quantity
        if target is FILL:
            assert order.status is (S.FILLED if complete else S.PARTIALLY_FILLED)
        elif target is LATE_FILL:
            assert order.status is (S.FILLED if complete else status)
        elif target is PREVIOUS:
            assert order.status is pre_pending
        elif target is SAME:
            assert order.status is status
        else:
            assert order.status is target
        if order.status in (S.PENDING_UPDATE, S.PENDING_CANCEL) and status not in (
            S.PENDING_UPDATE,
            S.PENDING_CANCEL,
        ):
            pre_pending = status
        assert order.event_count == before[0] + 1
        assert order.filled_qty <= order.quantity
        if order.status is S.FILLED:
            assert complete
        if not order.is_closed:
            assert order.filled_qty + order.leaves_qty == order.quantity
        assert not (order.is_open and order.is_closed)
