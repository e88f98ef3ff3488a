"""Execution reports: the venue's view of orders, fills and positions, used to
reconcile the node's state at start-up and after a restart.

All are keyword-only bus messages. A report's `client_order_id` is None for an
order the node did not create (external).
"""

from __future__ import annotations

from livenode.model.enums import (
    LiquiditySide,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
)
from livenode.model.identifiers import (
    AccountId,
    ClientId,
    ClientOrderId,
    InstrumentId,
    PositionId,
    TradeId,
    Venue,
    VenueOrderId,
)
from livenode.model.messages import Message
from livenode.model.objects import Money, Price, Quantity


class OrderStatusReport(Message, frozen=True, kw_only=True):
    """The venue's state of one order."""

    account_id: AccountId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId | None = None
    venue_order_id: VenueOrderId
    order_side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    order_status: OrderStatus
    quantity: Quantity
    filled_qty: Quantity
    price: Price | None = None
    trigger_price: Price | None = None
    avg_px: float | None = None
    expire_time_ns: int | None = None
    post_only: bool = False
    reduce_only: bool = False
    cancel_reason: str | None = None
    report_id: str
    ts_accepted: int
    ts_last: int
    ts_init: int

    @property
    def leaves_qty(self) -> Quantity:
        """Quantity still working (zero once the order is closed)."""
        if self.filled_qty >= self.quantity:
            return Quantity(0, self.quantity.precision)
        return self.quantity - self.filled_qty


class FillReport(Message, frozen=True, kw_only=True):
    """One execution as the venue reports it."""

    account_id: AccountId
    instrument_id: InstrumentId
    venue_order_id: VenueOrderId
    client_order_id: ClientOrderId | None = None
    trade_id: TradeId
    order_side: OrderSide
    last_qty: Quantity
    last_px: Price
    commission: Money
    liquidity_side: LiquiditySide
    venue_position_id: PositionId | None = None
    report_id: str
    ts_event: int
    ts_init: int


class PositionStatusReport(Message, frozen=True, kw_only=True):
    """The venue's position in one instrument (FLAT with zero quantity when none)."""

    account_id: AccountId
    instrument_id: InstrumentId
    position_side: PositionSide
    quantity: Quantity
    avg_px_open: float | None = None
    venue_position_id: PositionId | None = None
    report_id: str
    ts_last: int
    ts_init: int

    @property
    def signed_qty(self) -> float:
        """Positive long, negative short, zero flat."""
        qty = self.quantity.as_double()
        return -qty if self.position_side is PositionSide.SHORT else qty


class ExecutionMassStatus(Message, frozen=True, kw_only=True):
    """Everything an execution client knows about one account, in one message."""

    client_id: ClientId
    account_id: AccountId
    venue: Venue
    order_reports: list[OrderStatusReport] = []
    fill_reports: list[FillReport] = []
    position_reports: list[PositionStatusReport] = []
    report_id: str
    ts_init: int


__all__ = ["ExecutionMassStatus", "FillReport", "OrderStatusReport", "PositionStatusReport"]
