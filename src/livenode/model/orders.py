"""`Order`: a mutable order rebuilt from its events, with a strict state machine.

An order is created from its `OrderInitialized` event and moved by
`order.apply(event)`. The table `ORDER_TRANSITIONS` lists every allowed
(status, event type) pair and where it leads; anything else raises
`InvalidStateTransition` and leaves the order untouched. The table admits what
really happens at venues:

* fills racing a cancel or a modify (fills from PENDING_CANCEL/PENDING_UPDATE,
  and late fills after CANCELED/EXPIRED, which only change the status if they
  complete the order);
* a venue canceling an unacknowledged IOC/FOK (SUBMITTED -> CANCELED) or filling
  before its ack (SUBMITTED -> FILLED);
* modify/cancel rejects, which return a PENDING_* order to the status it had
  before the request, and are otherwise informational (e.g. a cancel rejected
  because the order was filled meanwhile);
* events of orders recovered by reconciliation (INITIALIZED -> ACCEPTED,
  REJECTED, CANCELED, EXPIRED, without a SUBMITTED in between).

`Order` is never on the bus: its events are. It is not thread-safe.
"""

from __future__ import annotations

from livenode.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from livenode.model.events import (
    FILL_NOT_REPORTED,
    OrderAccepted,
    OrderEvent,
    OrderFilled,
    OrderInitialized,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)
from livenode.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    PositionId,
    StrategyId,
    TradeId,
    TraderId,
    VenueOrderId,
)
from livenode.model.objects import Price, Quantity
from livenode.model.order_fsm import (
    FILL,
    LATE_FILL,
    ORDER_TRANSITIONS,
    PENDING,
    PREVIOUS,
    SAME,
    InvalidStateTransition,
    Target,
)

_S = OrderStatus
_OPEN = frozenset(
    (_S.ACCEPTED, _S.TRIGGERED, _S.PENDING_UPDATE, _S.PENDING_CANCEL, _S.PARTIALLY_FILLED)
)
_CLOSED = frozenset((_S.DENIED, _S.REJECTED, _S.CANCELED, _S.EXPIRED, _S.FILLED))
_INFLIGHT = frozenset((_S.SUBMITTED, _S.PENDING_UPDATE, _S.PENDING_CANCEL))
_STOP_TYPES = (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
#: Reason prefixes of a rejection the node made without the venue's word: a command
#: that timed out or failed on its way (`livenode.engines.clients`), an order
#: reconciliation did not find at the venue. The venue may still have such an order.
LOCAL_REJECTIONS = ("COMMAND_TIMEOUT", "CLIENT_ERROR", "RECONCILIATION")


class Order:
    """An order and its history; see the module doc for the state machine."""

    __slots__ = (
        "_account_id",
        "_events",
        "_fill_notional",
        "_filled_qty",
        "_inferred_open",
        "_init",
        "_last_trade_id",
        "_position_id",
        "_previous_status",
        "_price",
        "_quantity",
        "_status",
        "_trade_ids",
        "_trigger_price",
        "_ts_last",
        "_venue_order_id",
    )

    def __init__(self, init: OrderInitialized) -> None:
        if type(init) is not OrderInitialized:
            raise TypeError(f"Order needs an OrderInitialized, got {type(init).__name__}")
        self._init = init
        self._events: list[OrderEvent] = [init]
        self._status = _S.INITIALIZED
        self._previous_status = _S.INITIALIZED
        self._quantity = init.quantity
        self._price = init.price
        self._trigger_price = init.trigger_price
        self._filled_qty = Quantity(0, init.quantity.precision)
        # Sum of px*qty of the fills, with both scaled to precision 16, so the
        # average price is one exact int division away.
        self._fill_notional = 0
        self._venue_order_id: VenueOrderId | None = None
        self._account_id: AccountId | None = None
        self._position_id: PositionId | None = None
        self._last_trade_id: TradeId | None = None
        self._trade_ids: set[TradeId] = set()
        self._ts_last = init.ts_event
        # Quantity of fills reconciliation inferred (`FILL_NOT_REPORTED`) that no fill
        # of the venue has confirmed yet. Rebuilt from the history on a restart, where
        # the venue's resent fills are confirmed again rather than applied twice.
        self._inferred_open = Quantity(0, init.quantity.precision)

    @classmethod
    def from_events(cls, events: list[OrderEvent]) -> Order:
        """Rebuild an order from its full event history (first must be OrderInitialized)."""
        if not events or type(events[0]) is not OrderInitialized:
            raise ValueError("an order's history must start with OrderInitialized")
        order = cls(events[0])
        for event in events[1:]:
            order.apply(event)
        return order

    def replica(self) -> Order:
        """An independent copy, to plan events against without changing this order
        (reconciliation's rules): same history, trade ids and confirmations."""
        copy = Order.from_events(self._events)
        copy._trade_ids = set(self._trade_ids)
        copy._inferred_open = self._inferred_open
        return copy

    # -- state machine ---------------------------------------------------------

    @property
    def rejected_locally(self) -> bool:
        """REJECTED by the node itself, without the venue's word (`LOCAL_REJECTIONS`):
        the venue may still hold the order, and its next word reopens it."""
        if self._status is not _S.REJECTED:
            return False
        last = self._events[-1]
        return type(last) is OrderRejected and last.reason.startswith(LOCAL_REJECTIONS)

    def confirm_inferred(self, fill: OrderFilled) -> bool:
        """Whether `fill`, the venue's own, is part of the quantity of a fill
        reconciliation inferred for this order (`FILL_NOT_REPORTED`) and no venue fill
        confirmed yet. If so its trade id is recorded (the same fill arriving again is
        then a duplicate) and it must not be applied: the inferred fill counts it."""
        if not self._inferred_open.raw or fill.trade_id in self._trade_ids:
            return False
        if fill.last_qty > self._inferred_open:
            return False
        self._inferred_open = self._inferred_open - fill.last_qty
        self._trade_ids.add(fill.trade_id)
        return True

    @property
    def inferred_unconfirmed(self) -> Quantity:
        """Quantity of inferred fills the venue's own fills have not confirmed yet."""
        return self._inferred_open

    @property
    def last_rejection(self) -> str | None:
        """The reason of the latest `OrderRejected` in its history (None: never)."""
        for event in reversed(self._events):
            if type(event) is OrderRejected:
                return event.reason
        return None

    def apply(self, event: OrderEvent) -> None:
        """Apply the next event; raises InvalidStateTransition (order unchanged) if impossible.

        An order the node rejected itself (`rejected_locally`) takes the venue's
        acknowledgement, fills, trigger, cancel or expiry as if it were still SUBMITTED:
        the venue is the truth, and the order is open again (or closed as it says)."""
        status = self._status
        target = ORDER_TRANSITIONS.get((status, type(event)))
        if target is None and type(event) is not OrderRejected and self.rejected_locally:
            status = _S.SUBMITTED
            target = ORDER_TRANSITIONS.get((status, type(event)))
        if target is None:
            raise InvalidStateTransition(self._init.client_order_id, self._status, event)
        if event.client_order_id != self._init.client_order_id:
            raise InvalidStateTransition(
                self._init.client_order_id, status, event,
                f"event is for order {event.client_order_id}",
            )
        if type(event) is OrderFilled:
            target = self._apply_fill(event, target)  # validates before mutating
        elif type(event) is OrderTriggered and self._init.order_type not in _STOP_TYPES:
            raise InvalidStateTransition(
                self._init.client_order_id, status, event,
                f"a {self._init.order_type.value} order has no trigger",
            )
        elif type(event) is OrderUpdated:
            self._apply_update(event)
        elif type(event) is OrderAccepted:
            self._venue_order_id = event.venue_order_id
            self._account_id = event.account_id
        elif type(event) is OrderSubmitted or type(event) is OrderRejected:
            self._account_id = event.account_id

        if target is PREVIOUS:
            new_status = self._previous_status
        elif target is SAME:
            new_status = status
        else:
            new_status = target  # type: ignore[assignment]
        if (
            type(event) is OrderUpdated
            and self._filled_qty.raw
            and self._filled_qty == self._quantity
        ):
            new_status = _S.FILLED  # reduced down to what was already filled
        # Remember the last non-pending status, where a reject of a request returns to.
        if new_status in PENDING and status not in PENDING:
            self._previous_status = status
        self._status = new_status
        self._events.append(event)
        self._ts_last = event.ts_event

    def _apply_fill(self, fill: OrderFilled, rule: Target) -> OrderStatus:
        status = self._status
        oid = self._init.client_order_id
        if fill.trade_id in self._trade_ids:
            raise InvalidStateTransition(oid, status, fill, f"duplicate trade id {fill.trade_id}")
        if fill.order_side is not self._init.side:
            raise InvalidStateTransition(
                oid,
                status,
                fill,
                f"fill side {fill.order_side.value} != order side {self._init.side.value}",
            )
        filled = self._filled_qty + fill.last_qty
        if filled > self._quantity:
            raise InvalidStateTransition(
                oid,
                status,
                fill,
                f"overfill: filled {self._filled_qty} + {fill.last_qty} "
                f"> quantity {self._quantity}",
            )
        self._filled_qty = filled
        px, qty = fill.last_px, fill.last_qty
        self._fill_notional += (
            px.raw * 10 ** (16 - px.precision) * qty.raw * 10 ** (16 - qty.precision)
        )
        self._trade_ids.add(fill.trade_id)
        if fill.inferred is not None and fill.inferred.rule == FILL_NOT_REPORTED:
            self._inferred_open = self._inferred_open + qty
        self._last_trade_id = fill.trade_id
        self._venue_order_id = fill.venue_order_id
        self._account_id = fill.account_id
        if fill.position_id is not None:
            self._position_id = fill.position_id
        complete = filled == self._quantity
        if rule is LATE_FILL:
            return _S.FILLED if complete else status
        return _S.FILLED if complete else _S.PARTIALLY_FILLED

    def _apply_update(self, event: OrderUpdated) -> None:
        if event.quantity < self._filled_qty:
            raise InvalidStateTransition(
                self._init.client_order_id, self._status, event,
                f"updated quantity {event.quantity} is below the filled {self._filled_qty}",
            )
        self._quantity = event.quantity
        if event.price is not None:
            self._price = event.price
        if event.trigger_price is not None:
            self._trigger_price = event.trigger_price

    # -- description (from OrderInitialized, possibly updated) -----------------------

    @property
    def init_event(self) -> OrderInitialized:
        """The OrderInitialized this order was built from."""
        return self._init

    @property
    def client_order_id(self) -> ClientOrderId:
        """The node's id of the order."""
        return self._init.client_order_id

    @property
    def trader_id(self) -> TraderId:
        """The trader that created the order."""
        return self._init.trader_id

    @property
    def strategy_id(self) -> StrategyId:
        """The strategy that created the order."""
        return self._init.strategy_id

    @property
    def instrument_id(self) -> InstrumentId:
        """The instrument traded."""
        return self._init.instrument_id

    @property
    def side(self) -> OrderSide:
        """BUY or SELL."""
        return self._init.side

    @property
    def order_type(self) -> OrderType:
        """MARKET, LIMIT, STOP_MARKET or STOP_LIMIT."""
        return self._init.order_type

    @property
    def time_in_force(self) -> TimeInForce:
        """How long the order works."""
        return self._init.time_in_force

    @property
    def expire_time_ns(self) -> int | None:
        """Expiry of a GTD order."""
        return self._init.expire_time_ns

    @property
    def post_only(self) -> bool:
        """Maker-only order."""
        return self._init.post_only

    @property
    def reduce_only(self) -> bool:
        """May only reduce a position."""
        return self._init.reduce_only

    @property
    def tags(self) -> tuple[str, ...]:
        """Free-form tags given at creation."""
        return self._init.tags

    @property
    def quantity(self) -> Quantity:
        """Total quantity (after any update)."""
        return self._quantity

    @property
    def price(self) -> Price | None:
        """Limit price (after any update), None for market/stop-market orders."""
        return self._price

    @property
    def trigger_price(self) -> Price | None:
        """Trigger price of stop orders (after any update)."""
        return self._trigger_price

    @property
    def is_buy(self) -> bool:
        """True for a buy order."""
        return self._init.side is OrderSide.BUY

    @property
    def is_sell(self) -> bool:
        """True for a sell order."""
        return self._init.side is OrderSide.SELL

    # -- state -----------------------------------------------------------------------

    @property
    def status(self) -> OrderStatus:
        """Current status."""
        return self._status

    @property
    def venue_order_id(self) -> VenueOrderId | None:
        """The venue's id, once accepted (or filled)."""
        return self._venue_order_id

    @property
    def account_id(self) -> AccountId | None:
        """The account, once submitted."""
        return self._account_id

    @property
    def position_id(self) -> PositionId | None:
        """The position of the last fill that named one."""
        return self._position_id

    @property
    def filled_qty(self) -> Quantity:
        """Quantity filled so far."""
        return self._filled_qty

    @property
    def leaves_qty(self) -> Quantity:
        """Quantity still to fill (zero once the order is closed)."""
        if self._status in _CLOSED:
            return Quantity(0, self._quantity.precision)
        return self._quantity - self._filled_qty

    @property
    def avg_px(self) -> float | None:
        """Volume-weighted average fill price, None before any fill."""
        filled = self._filled_qty
        if not filled.raw:
            return None
        # notional is scaled 10**32; the filled qty 10**16 once rescaled: one exact division.
        scale: int = 10 ** (16 - filled.precision) * 10**16
        return self._fill_notional / (filled.raw * scale)

    @property
    def trade_ids(self) -> frozenset[TradeId]:
        """Trade ids of the fills applied."""
        return frozenset(self._trade_ids)

    @property
    def last_trade_id(self) -> TradeId | None:
        """Trade id of the last fill."""
        return self._last_trade_id

    @property
    def events(self) -> list[OrderEvent]:
        """All events applied, OrderInitialized first (a copy)."""
        return list(self._events)

    @property
    def event_count(self) -> int:
        """Number of events applied, OrderInitialized included."""
        return len(self._events)

    @property
    def last_event(self) -> OrderEvent:
        """The most recent event."""
        return self._events[-1]

    @property
    def is_open(self) -> bool:
        """Working at the venue: ACCEPTED, TRIGGERED, PENDING_*, PARTIALLY_FILLED."""
        return self._status in _OPEN

    @property
    def is_closed(self) -> bool:
        """Done: DENIED, REJECTED, CANCELED, EXPIRED or FILLED."""
        return self._status in _CLOSED

    @property
    def is_inflight(self) -> bool:
        """Awaiting a venue answer: SUBMITTED, PENDING_UPDATE, PENDING_CANCEL."""
        return self._status in _INFLIGHT

    @property
    def ts_init(self) -> int:
        """When the order was created on this node."""
        return self._init.ts_init

    @property
    def ts_last(self) -> int:
        """`ts_event` of the last event."""
        return self._ts_last

    def __repr__(self) -> str:
        price = f" @ {self._price}" if self._price is not None else ""
        return (
            f"Order({self._init.client_order_id}, {self._init.side.value} {self._quantity} "
            f"{self._init.instrument_id} {self._init.order_type.value}{price}, "
            f"{self._status.value}, "
            f"filled={self._filled_qty})"
        )


__all__ = [
    "FILL",
    "LATE_FILL",
    "ORDER_TRANSITIONS",
    "PREVIOUS",
    "SAME",
    "InvalidStateTransition",
    "Order",
]
