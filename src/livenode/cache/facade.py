"""The read-only view of the cache that strategies get.

A strategy must not change what the engines rely on: it gets every query of
`Cache` and none of its mutators. Collections are always fresh lists built per
call (the cache never hands out its internal dicts), so a strategy that sorts
or clears a result changes nothing in the cache.

Objects themselves (an `Order`, a `Position`) are the live ones: copying them
on every query would cost the hot path, and strategies are expected to change
orders only through commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from livenode.cache.cache import Cache

if TYPE_CHECKING:
    from livenode.model.accounts import Account
    from livenode.model.data import Bar, BarType, QuoteTick, TradeTick
    from livenode.model.enums import OrderSide, PriceType
    from livenode.model.identifiers import (
        AccountId,
        ClientOrderId,
        InstrumentId,
        PositionId,
        StrategyId,
        Venue,
        VenueOrderId,
    )
    from livenode.model.instruments import Instrument
    from livenode.model.objects import Price
    from livenode.model.orders import Order
    from livenode.model.position import Position

__all__ = ["CacheFacade"]


class CacheFacade:
    """Read-only access to a `Cache`; see the `Cache` methods of the same names."""

    __slots__ = ("__cache",)

    def __init__(self, cache: Cache) -> None:
        # Name-mangled and slotted: not reachable as `facade.cache` by accident.
        self.__cache = cache

    # -- instruments and market data --------------------------------------------------------

    def instrument(self, instrument_id: InstrumentId) -> Instrument | None:
        """Return the instrument, or None."""
        return self.__cache.instrument(instrument_id)

    def instruments(self, venue: Venue | None = None) -> list[Instrument]:
        """Return the instruments (of `venue` if given)."""
        return self.__cache.instruments(venue)

    def instrument_ids(self, venue: Venue | None = None) -> list[InstrumentId]:
        """Return the instrument ids (of `venue` if given)."""
        return self.__cache.instrument_ids(venue)

    def quote_tick(self, instrument_id: InstrumentId) -> QuoteTick | None:
        """Return the latest quote, or None."""
        return self.__cache.quote_tick(instrument_id)

    def trade_tick(self, instrument_id: InstrumentId) -> TradeTick | None:
        """Return the latest trade, or None."""
        return self.__cache.trade_tick(instrument_id)

    def bar(self, bar_type: BarType) -> Bar | None:
        """Return the latest bar, or None."""
        return self.__cache.bar(bar_type)

    def price(self, instrument_id: InstrumentId, price_type: PriceType) -> Price | None:
        """Return the latest BID / ASK / MID / LAST price, or None."""
        return self.__cache.price(instrument_id, price_type)

    # -- orders -----------------------------------------------------------------------------

    def order(self, client_order_id: ClientOrderId) -> Order | None:
        """Return the order, or None."""
        return self.__cache.order(client_order_id)

    def order_exists(self, client_order_id: ClientOrderId) -> bool:
        """Return True if the cache holds that order."""
        return self.__cache.order_exists(client_order_id)

    def client_order_id(self, venue_order_id: VenueOrderId) -> ClientOrderId | None:
        """Return the client order id of a venue order id, or None."""
        return self.__cache.client_order_id(venue_order_id)

    def orders(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        """Return the orders matching the filters."""
        return self.__cache.orders(venue, instrument_id, strategy_id, side)

    def orders_open(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        """Return the open orders matching the filters."""
        return self.__cache.orders_open(venue, instrument_id, strategy_id, side)

    def orders_closed(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        """Return the closed orders matching the filters."""
        return self.__cache.orders_closed(venue, instrument_id, strategy_id, side)

    def orders_active(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        """Return the orders not yet closed matching the filters."""
        return self.__cache.orders_active(venue, instrument_id, strategy_id, side)

    def has_active_orders(
        self,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> bool:
        """Whether any order not yet closed matches the filters."""
        return self.__cache.has_active_orders(instrument_id, strategy_id)

    def orders_inflight(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        """Return the in-flight orders matching the filters."""
        return self.__cache.orders_inflight(venue, instrument_id, strategy_id, side)

    def orders_open_count(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> int:
        """Return how many open orders match the filters."""
        return self.__cache.orders_open_count(venue, instrument_id, strategy_id, side)

    def orders_closed_count(self) -> int:
        """Return how many closed orders the cache holds."""
        return self.__cache.orders_closed_count()

    def orders_inflight_count(self) -> int:
        """Return how many orders are in flight."""
        return self.__cache.orders_inflight_count()

    def orders_total_count(self) -> int:
        """Return how many orders the cache holds."""
        return self.__cache.orders_total_count()

    # -- positions and accounts -------------------------------------------------------------

    def position(self, position_id: PositionId) -> Position | None:
        """Return the position, or None."""
        return self.__cache.position(position_id)

    def position_exists(self, position_id: PositionId) -> bool:
        """Return True if the cache holds that position."""
        return self.__cache.position_exists(position_id)

    def position_for_instrument_and_strategy(
        self, instrument_id: InstrumentId, strategy_id: StrategyId
    ) -> Position | None:
        """Return the pair's open (else latest) position, or None."""
        return self.__cache.position_for_instrument_and_strategy(instrument_id, strategy_id)

    def positions(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> list[Position]:
        """Return the positions matching the filters."""
        return self.__cache.positions(venue, instrument_id, strategy_id)

    def positions_open(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> list[Position]:
        """Return the open positions matching the filters."""
        return self.__cache.positions_open(venue, instrument_id, strategy_id)

    def positions_closed(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> list[Position]:
        """Return the closed positions matching the filters."""
        return self.__cache.positions_closed(venue, instrument_id, strategy_id)

    def positions_open_count(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> int:
        """Return how many open positions match the filters."""
        return self.__cache.positions_open_count(venue, instrument_id, strategy_id)

    def account(self, account_id: AccountId) -> Account | None:
        """Return the account, or None."""
        return self.__cache.account(account_id)

    def account_for_venue(self, venue: Venue) -> Account | None:
        """Return the account of `venue`, or None."""
        return self.__cache.account_for_venue(venue)

    def accounts(self) -> list[Account]:
        """Return every account."""
        return self.__cache.accounts()

    def __repr__(self) -> str:
        return f"CacheFacade({self.__cache!r})"
