"""Commands: requests to trade (to the risk and execution engines) and to
subscribe to market data (to the data engine).

All are keyword-only bus messages. Trading commands carry `ts_trigger`: the
`ts_init` of the event whose handler created the command, or the command's own
`ts_init` outside a handler; tick-to-trade latency is measured from it.
"""

from __future__ import annotations

from livenode.model.data import BarType
from livenode.model.enums import OrderSide
from livenode.model.events import OrderInitialized
from livenode.model.identifiers import (
    ClientId,
    ClientOrderId,
    InstrumentId,
    PositionId,
    StrategyId,
    TraderId,
    Venue,
    VenueOrderId,
)
from livenode.model.messages import Message
from livenode.model.objects import Price, Quantity

# -- trading ------------------------------------------------------------------


class TradingCommand(Message, frozen=True, kw_only=True):
    """Fields common to every trading command."""

    trader_id: TraderId
    strategy_id: StrategyId
    command_id: str
    ts_init: int
    ts_trigger: int


class SubmitOrder(TradingCommand, frozen=True, kw_only=True):
    """Submit a new order, described by its `OrderInitialized` event."""

    order: OrderInitialized
    position_id: PositionId | None = None
    # A trader sends a submit again (resend=True) after a risk or exec worker
    # restarted, for an order it never heard back about: the first may have died
    # with that worker. Risk forwards it unchecked when it knows the order; exec
    # ignores it when it knows the order. So a command is delivered at least once
    # and applied once.
    resend: bool = False
    # With resend: the event ids of the order's events the trader has applied. Exec,
    # which has the order, sends the trader every event it holds that is not among
    # them (an answer the trader missed: a cancel made while it was restarting, a
    # fill whose publish died with a killed exec worker). Ids, not a count: the
    # trader may have heard later events (a cancel rejected by the new exec worker)
    # without an earlier one, so a count would point past what it missed.
    known_event_ids: tuple[str, ...] = ()
    # The execution client to use (its name); None: the venue's default client. A
    # modify or cancel without one follows the order (the client of its account).
    client_id: ClientId | None = None
    # The version of the strategy's position in the instrument its sender had seen
    # (`Position.version`, 0: none): a risk engine in another process judges the
    # command on a position at least that new (read-your-writes), waiting for it.
    position_version: int = 0
    # Likewise the version of the venue's account it saw (`Account.version`, 0: none):
    # the balance a submit is checked against.
    account_version: int = 0

    @property
    def instrument_id(self) -> InstrumentId:
        """The order's instrument."""
        return self.order.instrument_id

    @property
    def client_order_id(self) -> ClientOrderId:
        """The order's client order id."""
        return self.order.client_order_id


class ModifyOrder(TradingCommand, frozen=True, kw_only=True):
    """Change an open order's quantity and/or prices (None = unchanged)."""

    instrument_id: InstrumentId
    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId | None = None
    quantity: Quantity | None = None
    price: Price | None = None
    trigger_price: Price | None = None
    # The execution client to use (its name); None: the venue's default client. A
    # modify or cancel without one follows the order (the client of its account).
    client_id: ClientId | None = None
    # As `SubmitOrder.position_version`.
    position_version: int = 0


class CancelOrder(TradingCommand, frozen=True, kw_only=True):
    """Cancel one order."""

    instrument_id: InstrumentId
    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId | None = None
    # The execution client to use (its name); None: the venue's default client. A
    # modify or cancel without one follows the order (the client of its account).
    client_id: ClientId | None = None


class CancelAllOrders(TradingCommand, frozen=True, kw_only=True):
    """Cancel the strategy's open orders on an instrument (one side, or both when None)."""

    instrument_id: InstrumentId
    order_side: OrderSide | None = None
    # The execution client to use (its name); None: the venue's default client. A
    # modify or cancel without one follows the order (the client of its account).
    client_id: ClientId | None = None


# -- market data subscriptions ---------------------------------------------------


class DataCommand(Message, frozen=True, kw_only=True):
    """Fields common to every data command: routed to the data client of `venue`
    (or to `client_id` when given)."""

    client_id: ClientId | None = None
    venue: Venue
    command_id: str
    ts_init: int


class SubscribeQuoteTicks(DataCommand, frozen=True, kw_only=True):
    """Start streaming quotes of an instrument."""

    instrument_id: InstrumentId


class SubscribeTradeTicks(DataCommand, frozen=True, kw_only=True):
    """Start streaming trades of an instrument."""

    instrument_id: InstrumentId


class SubscribeBars(DataCommand, frozen=True, kw_only=True):
    """Start streaming bars of a bar type."""

    bar_type: BarType


class UnsubscribeQuoteTicks(DataCommand, frozen=True, kw_only=True):
    """Stop streaming quotes of an instrument."""

    instrument_id: InstrumentId


class UnsubscribeTradeTicks(DataCommand, frozen=True, kw_only=True):
    """Stop streaming trades of an instrument."""

    instrument_id: InstrumentId


class UnsubscribeBars(DataCommand, frozen=True, kw_only=True):
    """Stop streaming bars of a bar type."""

    bar_type: BarType


__all__ = [
    "CancelAllOrders",
    "CancelOrder",
    "DataCommand",
    "ModifyOrder",
    "SubmitOrder",
    "SubscribeBars",
    "SubscribeQuoteTicks",
    "SubscribeTradeTicks",
    "TradingCommand",
    "UnsubscribeBars",
    "UnsubscribeQuoteTicks",
    "UnsubscribeTradeTicks",
]
