"""Events: order lifecycle, positions, accounts, components and trading state.

All are keyword-only bus messages (many fields of the same type; a positional
mix-up would go unnoticed). An order's events, applied in order to an `Order`
(`livenode.model.orders`), rebuild it anywhere: `OrderInitialized` carries the
full description of the order.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from livenode.model.enums import (
    AccountType,
    ComponentState,
    LiquiditySide,
    OrderSide,
    OrderType,
    PositionSide,
    TimeInForce,
    TradingState,
)
from livenode.model.identifiers import (
    AccountId,
    ClientOrderId,
    ComponentId,
    InstrumentId,
    PositionId,
    StrategyId,
    TradeId,
    TraderId,
    Venue,
    VenueOrderId,
)
from livenode.model.messages import Message, ValueStruct
from livenode.model.objects import AccountBalance, Currency, Money, Price, Quantity

# -- orders -------------------------------------------------------------------

#: The `Inference.rule` of a fill reconciliation applied for a quantity the venue
#: reports filled and no fill report explains: the venue's own fills for it, if they
#: arrive later, confirm it instead of being applied again (`Order.confirm_inferred`).
FILL_NOT_REPORTED = "fill_not_reported"


class Inference(ValueStruct, frozen=True):
    """Why the node made an order event the venue did not send as such.

    Reconciliation infers events from the venue's reports (an acceptance from an
    order reported open, a fill from a filled quantity no fill report explains, a
    cancel for an order the venue does not have): the event names the rule that
    inferred it and the report it was inferred from, so a later report of the
    venue can be matched against it (see `FILL_NOT_REPORTED`).
    """

    rule: str
    report_id: str | None = None


class OrderEvent(Message, frozen=True, kw_only=True):
    """Fields common to every order event.

    `inferred` is None for an event the venue (or the node's own command path)
    sent; reconciliation sets it on the events it infers from reports.
    """

    trader_id: TraderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId
    event_id: str
    ts_event: int
    ts_init: int
    inferred: Inference | None = None


_NEEDS_PRICE = (OrderType.LIMIT, OrderType.STOP_LIMIT)
_NEEDS_TRIGGER = (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
# Module constants: reading a member through its Enum class costs ~130 ns on
# Python 3.11, and this validation runs on every construction and decode.
_LIMIT = OrderType.LIMIT
_GTD = TimeInForce.GTD


class OrderInitialized(OrderEvent, frozen=True, kw_only=True):
    """An order was created: its full, self-contained description.

    Validated on construction and on decode: LIMIT and STOP_LIMIT need a
    `price`, STOP_* need a `trigger_price`, MARKET/STOP_MARKET have no `price`,
    GTD needs `expire_time_ns`, `quantity` is positive, `post_only` is for
    LIMIT orders only.
    """

    side: OrderSide
    order_type: OrderType
    quantity: Quantity
    price: Price | None = None
    trigger_price: Price | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_time_ns: int | None = None
    post_only: bool = False
    reduce_only: bool = False
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        order_type = self.order_type
        problem = None
        if self.quantity.raw <= 0:
            problem = f"quantity must be positive, got {self.quantity}"
        elif order_type in _NEEDS_PRICE and self.price is None:
            problem = f"a {order_type.value} order needs a price"
        elif order_type not in _NEEDS_PRICE and self.price is not None:
            problem = f"a {order_type.value} order has no price (got {self.price})"
        elif order_type in _NEEDS_TRIGGER and self.trigger_price is None:
            problem = f"a {order_type.value} order needs a trigger_price"
        elif order_type not in _NEEDS_TRIGGER and self.trigger_price is not None:
            problem = f"a {order_type.value} order has no trigger_price"
        elif self.time_in_force is _GTD and self.expire_time_ns is None:
            problem = "a GTD order needs expire_time_ns"
        elif self.post_only and order_type is not _LIMIT:
            problem = f"post_only applies to LIMIT orders, not {order_type.value}"
        if problem is not None:
            raise ValueError(f"invalid OrderInitialized {self.client_order_id}: {problem}")


class OrderDenied(OrderEvent, frozen=True, kw_only=True):
    """The order was refused before leaving the node (e.g. by the risk engine)."""

    reason: str


class OrderSubmitted(OrderEvent, frozen=True, kw_only=True):
    """The order was sent to the venue."""

    account_id: AccountId


class OrderAccepted(OrderEvent, frozen=True, kw_only=True):
    """The venue acknowledged the order and assigned its id."""

    venue_order_id: VenueOrderId
    account_id: AccountId


class OrderRejected(OrderEvent, frozen=True, kw_only=True):
    """The venue refused the order."""

    account_id: AccountId
    reason: str


class OrderPendingUpdate(OrderEvent, frozen=True, kw_only=True):
    """A modify request was sent; the venue has not answered yet."""


class OrderPendingCancel(OrderEvent, frozen=True, kw_only=True):
    """A cancel request was sent; the venue has not answered yet."""


class OrderModifyRejected(OrderEvent, frozen=True, kw_only=True):
    """The venue (or the risk engine) refused a modify request."""

    reason: str


class OrderCancelRejected(OrderEvent, frozen=True, kw_only=True):
    """The venue refused a cancel request (e.g. the order was already filled)."""

    reason: str


class OrderUpdated(OrderEvent, frozen=True, kw_only=True):
    """The order's quantity and/or prices changed at the venue."""

    quantity: Quantity
    price: Price | None = None
    trigger_price: Price | None = None


class OrderTriggered(OrderEvent, frozen=True, kw_only=True):
    """A stop order's trigger price was reached."""


class OrderFilled(OrderEvent, frozen=True, kw_only=True):
    """An execution: `last_qty` at `last_px`, with its commission."""

    venue_order_id: VenueOrderId
    account_id: AccountId
    trade_id: TradeId
    position_id: PositionId | None = None
    order_side: OrderSide
    order_type: OrderType
    last_qty: Quantity
    last_px: Price
    currency: Currency
    commission: Money
    liquidity_side: LiquiditySide

    def __post_init__(self) -> None:
        if self.last_qty.raw <= 0:
            raise ValueError(
                f"invalid OrderFilled {self.client_order_id} trade {self.trade_id}: "
                f"last_qty must be positive, got {self.last_qty}"
            )

    @property
    def is_buy(self) -> bool:
        """True for a buy fill."""
        return self.order_side is OrderSide.BUY

    @property
    def is_sell(self) -> bool:
        """True for a sell fill."""
        return self.order_side is OrderSide.SELL


class OrderCanceled(OrderEvent, frozen=True, kw_only=True):
    """The order was canceled (by request, by the venue, or an unfilled IOC/FOK)."""


class OrderExpired(OrderEvent, frozen=True, kw_only=True):
    """The order reached its expiry (GTD, DAY)."""


#: Every order event type, in lifecycle order.
ORDER_EVENT_TYPES: tuple[type[OrderEvent], ...] = (
    OrderInitialized,
    OrderDenied,
    OrderSubmitted,
    OrderAccepted,
    OrderRejected,
    OrderPendingUpdate,
    OrderPendingCancel,
    OrderModifyRejected,
    OrderCancelRejected,
    OrderUpdated,
    OrderTriggered,
    OrderFilled,
    OrderCanceled,
    OrderExpired,
)

_E = TypeVar("_E", bound="OrderEvent")


def order_event(
    cls: type[_E], about: Any, event_id: str, ts: int, **fields: Any
) -> _E:
    """An order event of type `cls` about the order `about` names.

    `about` is anything carrying the order's identity: its `OrderInitialized` or a
    command about it (trader, strategy, instrument, client order id). The event
    happens now: `ts_event` and `ts_init` are both `ts`.
    """
    return cls(
        trader_id=about.trader_id,
        strategy_id=about.strategy_id,
        instrument_id=about.instrument_id,
        client_order_id=about.client_order_id,
        event_id=event_id,
        ts_event=ts,
        ts_init=ts,
        **fields,
    )


# -- positions ----------------------------------------------------------------


class PositionEvent(Message, frozen=True, kw_only=True):
    """A snapshot of a position after a fill (see `Position.snapshot_event`).

    Every field describes the position's current *cycle* (flat to flat): a flip
    publishes `PositionClosed` for the old cycle, then `PositionOpened` for the
    new one (see `livenode.model.position`). `signed_qty` is positive long,
    negative short; `avg_px_close` is None until the cycle was reduced;
    `peak_qty` is the largest quantity of the cycle and `entry` the side of its
    opening fill (both None from a version that did not send them); PnL and
    commissions are in the quote currency.
    """

    trader_id: TraderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    position_id: PositionId
    account_id: AccountId
    opening_order_id: ClientOrderId
    closing_order_id: ClientOrderId | None = None
    side: PositionSide
    quantity: Quantity
    signed_qty: float
    last_qty: Quantity
    last_px: Price
    avg_px_open: float
    avg_px_close: float | None = None
    realized_pnl: Money
    unrealized_pnl: Money
    commissions: Money
    ts_opened: int
    ts_closed: int | None = None
    event_id: str
    ts_event: int
    ts_init: int
    # Last, with defaults: array-like encodings of older versions still decode.
    peak_qty: Quantity | None = None
    entry: OrderSide | None = None
    #: The position's version: the fills applied to it in its life, as the execution
    #: engine counts them (`Position.version`; commands carry the one their strategy
    #: saw, so another process judges them on state at least as new).
    version: int = 0

    @property
    def is_open(self) -> bool:
        """True unless the position is flat."""
        return self.side is not PositionSide.FLAT


class PositionOpened(PositionEvent, frozen=True, kw_only=True):
    """The first fill of a position."""


class PositionChanged(PositionEvent, frozen=True, kw_only=True):
    """A fill changed an open position (a flip is PositionClosed + PositionOpened)."""


class PositionClosed(PositionEvent, frozen=True, kw_only=True):
    """A fill made the position flat, or flipped it (the old cycle's last snapshot)."""


# -- accounts, components, trading state -----------------------------------------


class AccountState(Message, frozen=True, kw_only=True):
    """The balances of an account, as reported by the venue (or computed, `reported=False`)."""

    account_id: AccountId
    account_type: AccountType
    balances: list[AccountBalance]
    base_currency: Currency | None = None
    reported: bool = True
    event_id: str
    ts_event: int
    ts_init: int
    #: The account's version: the states the execution engine applied to it (its
    #: count, stamped as it publishes; `Account.version`). Commands carry the one
    #: their strategy saw (read-your-writes, `livenode.engines.state_gate`).
    version: int = 0


class ComponentStateChanged(Message, frozen=True, kw_only=True):
    """A component moved to a new lifecycle state.

    `component_id` may be given as a plain str; it is stored as a `ComponentId`.
    """

    component_id: ComponentId
    component_type: str
    state: ComponentState
    event_id: str
    ts_event: int
    ts_init: int

    def __post_init__(self) -> None:
        component_id: object = self.component_id  # a str is accepted despite the annotation
        if type(component_id) is str:
            # Convenience for components that keep their id as a str; frozen, hence force.
            msgspec.structs.force_setattr(self, "component_id", ComponentId(component_id))


class TradingStateChanged(Message, frozen=True, kw_only=True):
    """The risk engine's trading state changed (for one venue, or all when `venue` is None)."""

    trader_id: TraderId
    state: TradingState
    reason: str
    venue: Venue | None = None
    event_id: str
    ts_event: int
    ts_init: int


class StateReplayed(Message, frozen=True, kw_only=True):
    """A worker finished sending its state to the workers that follow it: a data
    worker its instruments, an execution worker its open orders (every event) and
    open positions. Everything it sent before this, on the same connection, has
    arrived when this arrives. `publisher` names the worker, `role` its role,
    `strategies` the strategies replayed (None: all)."""

    trader_id: TraderId
    publisher: str
    role: str
    strategies: list[str] | None = None
    instruments: int = 0
    orders: int = 0
    positions: int = 0
    event_id: str
    ts_event: int
    ts_init: int


class StrategiesStarted(Message, frozen=True, kw_only=True):
    """A trader worker's strategies have started and sent their data subscriptions,
    published to each data worker on its data command topic: everything the trader
    sent it before this, on the same connection, has arrived when this arrives. A
    data worker starts its finite sources (a replay) once every trader said so.
    `publisher` names the trader worker, `strategies` its strategies."""

    trader_id: TraderId
    publisher: str
    strategies: list[str]
    event_id: str
    ts_event: int
    ts_init: int


class SourceEnded(Message, frozen=True, kw_only=True):
    """A data worker's client asked the node to stop because its source ended (a
    replay finished with ``stop_at_end``, or stopped at a bad line: `failure`).
    Published to the trader workers after every tick the worker published before
    it, so a trader that has it has handled the whole source."""

    trader_id: TraderId
    publisher: str
    reason: str
    failure: str | None = None
    event_id: str
    ts_event: int
    ts_init: int


__all__ = [
    "FILL_NOT_REPORTED",
    "ORDER_EVENT_TYPES",
    "AccountState",
    "ComponentStateChanged",
    "Inference",
    "OrderAccepted",
    "OrderCancelRejected",
    "OrderCanceled",
    "OrderDenied",
    "OrderEvent",
    "OrderExpired",
    "OrderFilled",
    "OrderInitialized",
    "OrderModifyRejected",
    "OrderPendingCancel",
    "OrderPendingUpdate",
    "OrderRejected",
    "OrderSubmitted",
    "OrderTriggered",
    "OrderUpdated",
    "PositionChanged",
    "PositionClosed",
    "PositionEvent",
    "PositionOpened",
    "SourceEnded",
    "StateReplayed",
    "StrategiesStarted",
    "TradingStateChanged",
]
