"""The in-process cache: instruments, latest market data, orders, positions, accounts.

One `Cache` per node process. Engines write to it (the `DataEngine` the market
data, the `ExecutionEngine` orders, positions and accounts); strategies read it
through `CacheFacade`. It holds live objects (`Order`, `Position`, accounts),
not copies: the engine that applies an event to an object then calls
`update_order` / `update_position` / `update_account` so the indexes follow.

Indexes are insertion-ordered dicts used as sets (`dict[key, None]`), so every
query answers in a deterministic order: orders and positions in the order they
were first added to the cache.

Memory is bounded (see DESIGN "Performance habits"): beyond
`max_closed_orders` closed orders, the oldest closed (by the time they closed)
are purged from the cache and every index.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from livenode.cache._index import (
    Index,
    OrderedSet,
    any_common,
    index_add,
    index_discard,
    intersect,
    narrow,
)
from livenode.cache.shm.errors import StaleRowError
from livenode.core.errors import DuplicateCacheEntryError
from livenode.model.enums import PriceType

if TYPE_CHECKING:
    from livenode.model.accounts import Account
    from livenode.model.data import Bar, BarType, QuoteTick, TradeTick
    from livenode.model.enums import OrderSide
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

__all__ = ["DEFAULT_MAX_CLOSED_ORDERS", "Cache"]

_log = logging.getLogger("livenode.cache")

DEFAULT_MAX_CLOSED_ORDERS = 10_000


class Cache:
    """The node's in-memory state.

    Args:
        config: a `CacheConfig` (only `max_closed_orders` is read) or None for
            the defaults. Duck-typed: the cache layer does not import config.
    """

    def __init__(self, config: Any | None = None) -> None:
        max_closed = getattr(config, "max_closed_orders", DEFAULT_MAX_CLOSED_ORDERS)
        if not isinstance(max_closed, int) or max_closed < 0:
            raise ValueError(f"max_closed_orders: expected an int >= 0, got {max_closed!r}")
        self.max_closed_orders: int = max_closed
        # The node's shared-memory tables, when attached: the latest quote and
        # trade of any instrument, wherever in the node it was written.
        self._shared: Any | None = None
        self._clear()

    def attach_shared(self, tables: Any | None) -> None:
        """Read the latest quotes and trades from the node's shared-memory tables.

        `tables` is a `livenode.cache.shm.ShmTables` (None detaches). Reads are
        consistent snapshots (sequence lock); the local dict remains the fallback
        for instruments the tables do not hold.
        """
        self._shared = tables

    @property
    def has_shared_market(self) -> bool:
        """Whether latest market data comes from shared memory."""
        return self._shared is not None

    def reset(self) -> None:
        """Forget everything (a node reset); the bound stays."""
        self._clear()

    def _clear(self) -> None:
        self.purged_orders = 0
        self._instruments: dict[InstrumentId, Instrument] = {}
        self._quotes: dict[InstrumentId, QuoteTick] = {}
        self._trades: dict[InstrumentId, TradeTick] = {}
        self._bars: dict[BarType, Bar] = {}
        self._init_orders()
        self._init_positions()
        self._accounts: dict[AccountId, Account] = {}
        self._account_by_venue: dict[Venue, AccountId] = {}

    def _init_orders(self) -> None:
        self._orders: dict[ClientOrderId, Order] = {}
        self._order_seq: dict[ClientOrderId, int] = {}
        self._next_order_seq = 0
        self._orders_open: OrderedSet = {}
        self._orders_closed: OrderedSet = {}  # in the order the orders closed: purge from the front
        self._orders_inflight: OrderedSet = {}
        # Not closed: initialized, submitted, working or in flight. Kept as an index so
        # "what is still live" costs the live orders, not every order the cache holds.
        self._orders_active: OrderedSet = {}
        self._orders_by_strategy: Index = {}
        self._orders_by_instrument: Index = {}
        self._orders_by_venue: Index = {}
        self._venue_order_ids: dict[VenueOrderId, ClientOrderId] = {}

    def _init_positions(self) -> None:
        self._positions: dict[PositionId, Position] = {}
        self._position_seq: dict[PositionId, int] = {}
        self._next_position_seq = 0
        self._positions_open: OrderedSet = {}
        self._positions_closed: OrderedSet = {}
        self._positions_by_strategy: Index = {}
        self._positions_by_instrument: Index = {}
        self._positions_by_venue: Index = {}
        self._position_by_pair: dict[tuple[InstrumentId, StrategyId], PositionId] = {}

    # -- instruments ------------------------------------------------------------------------

    def add_instrument(self, instrument: Instrument) -> None:
        """Add or replace an instrument (venues update instrument definitions)."""
        self._instruments[instrument.id] = instrument

    def instrument(self, instrument_id: InstrumentId) -> Instrument | None:
        """Return the instrument, or None if unknown."""
        return self._instruments.get(instrument_id)

    def instruments(self, venue: Venue | None = None) -> list[Instrument]:
        """Return the instruments (of `venue` if given), in the order first added."""
        if venue is None:
            return list(self._instruments.values())
        return [i for i in self._instruments.values() if i.id.venue == venue]

    def instrument_ids(self, venue: Venue | None = None) -> list[InstrumentId]:
        """Return the instrument ids (of `venue` if given), in the order first added."""
        if venue is None:
            return list(self._instruments)
        return [i for i in self._instruments if i.venue == venue]

    # -- market data (latest only) ----------------------------------------------------------

    def add_quote_tick(self, tick: QuoteTick) -> None:
        """Keep `tick` as the latest quote of its instrument."""
        self._quotes[tick.instrument_id] = tick

    def quote_tick(self, instrument_id: InstrumentId) -> QuoteTick | None:
        """Return the latest quote, or None (from shared memory when attached)."""
        if self._shared is not None:
            try:
                quote = self._shared.quotes.read(instrument_id)
            except StaleRowError as exc:  # its writer died mid-write: say so, use ours
                _log.warning("shared quote of %s is stale: %s", instrument_id, exc)
                quote = None
            if quote is not None:
                return quote  # type: ignore[no-any-return]
        return self._quotes.get(instrument_id)

    def add_trade_tick(self, tick: TradeTick) -> None:
        """Keep `tick` as the latest trade of its instrument."""
        self._trades[tick.instrument_id] = tick

    def trade_tick(self, instrument_id: InstrumentId) -> TradeTick | None:
        """Return the latest trade, or None (from shared memory when attached)."""
        if self._shared is not None:
            try:
                trade = self._shared.trades.read(instrument_id)
            except StaleRowError as exc:
                _log.warning("shared trade of %s is stale: %s", instrument_id, exc)
                trade = None
            if trade is not None:
                return trade  # type: ignore[no-any-return]
        return self._trades.get(instrument_id)

    def add_bar(self, bar: Bar) -> None:
        """Keep `bar` as the latest bar of its bar type."""
        self._bars[bar.bar_type] = bar

    def bar(self, bar_type: BarType) -> Bar | None:
        """Return the latest bar of `bar_type`, or None."""
        return self._bars.get(bar_type)

    def price(self, instrument_id: InstrumentId, price_type: PriceType) -> Price | None:
        """Return the latest BID / ASK / MID (from the quote) or LAST (from the trade) price.

        MID is `QuoteTick.mid_price()` (exact, one digit more than the quote).
        None when the source (quote or trade) is missing.
        """
        if price_type is PriceType.LAST:
            trade = self.trade_tick(instrument_id)
            return None if trade is None else trade.price
        quote = self.quote_tick(instrument_id)
        if quote is None:
            return None
        return quote.extract_price(price_type)

    # -- orders -----------------------------------------------------------------------------

    def add_order(self, order: Order) -> None:
        """Add a new order and index it by strategy, instrument, venue and status.

        Raises:
            DuplicateCacheEntryError: an order with that client order id exists
                (a `ValueError`).
        """
        cid = order.client_order_id
        if cid in self._orders:
            raise DuplicateCacheEntryError(f"order {cid} is already in the cache")
        self._orders[cid] = order
        self._next_order_seq += 1
        self._order_seq[cid] = self._next_order_seq
        index_add(self._orders_by_strategy, order.strategy_id, cid)
        index_add(self._orders_by_instrument, order.instrument_id, cid)
        index_add(self._orders_by_venue, order.instrument_id.venue, cid)
        self._index_order_status(order)

    def update_order(self, order: Order) -> None:
        """Re-index `order` after an event was applied to it (status, venue order id).

        An order the cache does not know (e.g. purged, or created by
        reconciliation) is added.
        """
        cid = order.client_order_id
        if cid not in self._orders:
            self.add_order(order)
            return
        self._orders[cid] = order
        self._index_order_status(order)

    def _index_order_status(self, order: Order) -> None:
        cid = order.client_order_id
        venue_order_id = order.venue_order_id
        if venue_order_id is not None:
            self._venue_order_ids[venue_order_id] = cid
        if order.is_inflight:
            self._orders_inflight[cid] = None
        else:
            self._orders_inflight.pop(cid, None)
        if order.is_open:
            self._orders_open[cid] = None
        else:
            self._orders_open.pop(cid, None)
        if order.is_closed:
            self._orders_active.pop(cid, None)
            if cid not in self._orders_closed:
                self._orders_closed[cid] = None
                self._purge_closed_orders()
        else:
            self._orders_active[cid] = None
            self._orders_closed.pop(cid, None)

    def _purge_closed_orders(self) -> None:
        while len(self._orders_closed) > self.max_closed_orders:
            cid = next(iter(self._orders_closed))
            self._remove_order(cid)
            self.purged_orders += 1

    def _remove_order(self, cid: ClientOrderId) -> None:
        order = self._orders.pop(cid)
        del self._order_seq[cid]
        self._orders_open.pop(cid, None)
        self._orders_closed.pop(cid, None)
        self._orders_inflight.pop(cid, None)
        self._orders_active.pop(cid, None)
        index_discard(self._orders_by_strategy, order.strategy_id, cid)
        index_discard(self._orders_by_instrument, order.instrument_id, cid)
        index_discard(self._orders_by_venue, order.instrument_id.venue, cid)
        venue_order_id = order.venue_order_id
        if venue_order_id is not None and self._venue_order_ids.get(venue_order_id) == cid:
            del self._venue_order_ids[venue_order_id]

    def order(self, client_order_id: ClientOrderId) -> Order | None:
        """Return the order, or None if unknown (or purged)."""
        return self._orders.get(client_order_id)

    def order_exists(self, client_order_id: ClientOrderId) -> bool:
        """Return True if the cache holds that order."""
        return client_order_id in self._orders

    def client_order_id(self, venue_order_id: VenueOrderId) -> ClientOrderId | None:
        """Return the client order id of a venue order id seen on an order, or None."""
        return self._venue_order_ids.get(venue_order_id)

    def orders(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        """Return the orders matching every filter given, in the order they were added."""
        return self._select_orders(None, venue, instrument_id, strategy_id, side)

    def orders_open(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        """Return the open orders (working at the venue) matching the filters."""
        return self._select_orders(self._orders_open, venue, instrument_id, strategy_id, side)

    def orders_closed(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        """Return the closed orders still held (see `max_closed_orders`) matching the filters."""
        return self._select_orders(self._orders_closed, venue, instrument_id, strategy_id, side)

    def orders_active(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        """Return the orders not yet closed (initialized, submitted, working or in flight)
        matching every filter given, in the order they were added."""
        return self._select_orders(self._orders_active, venue, instrument_id, strategy_id, side)

    def has_active_orders(
        self,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> bool:
        """Whether any order not yet closed matches the filters (stops at the first:
        cheaper than `orders_active` when only the answer is wanted)."""
        sets = narrow(self._orders_active, ((self._orders_by_instrument, instrument_id),
                                            (self._orders_by_strategy, strategy_id)))
        return sets is not None and any_common(sets, self._orders)

    def orders_inflight(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        """Return the in-flight orders (sent, awaiting the venue's answer) matching the filters."""
        return self._select_orders(self._orders_inflight, venue, instrument_id, strategy_id, side)

    def orders_open_count(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> int:
        """Return how many open orders match the filters."""
        if venue is None and instrument_id is None and strategy_id is None and side is None:
            return len(self._orders_open)
        return len(self.orders_open(venue, instrument_id, strategy_id, side))

    def orders_closed_count(self) -> int:
        """Return how many closed orders the cache holds."""
        return len(self._orders_closed)

    def orders_inflight_count(self) -> int:
        """Return how many orders are in flight."""
        return len(self._orders_inflight)

    def orders_total_count(self) -> int:
        """Return how many orders the cache holds."""
        return len(self._orders)

    def _select_orders(
        self,
        status: OrderedSet | None,
        venue: Venue | None,
        instrument_id: InstrumentId | None,
        strategy_id: StrategyId | None,
        side: OrderSide | None,
    ) -> list[Order]:
        sets = narrow(
            status,
            ((self._orders_by_venue, venue), (self._orders_by_instrument, instrument_id),
             (self._orders_by_strategy, strategy_id)),
        )
        if sets is None:
            return []
        cids = intersect(sets, self._orders, self._order_seq)
        orders = [self._orders[c] for c in cids]
        if side is not None:
            orders = [o for o in orders if o.side is side]
        return orders

    # -- positions --------------------------------------------------------------------------

    def add_position(self, position: Position) -> None:
        """Add a new position and index it by strategy, instrument, venue and open/closed.

        Raises:
            DuplicateCacheEntryError: a position with that id exists (a `ValueError`).
        """
        pid = position.id
        if pid in self._positions:
            raise DuplicateCacheEntryError(f"position {pid} is already in the cache")
        self._positions[pid] = position
        self._next_position_seq += 1
        self._position_seq[pid] = self._next_position_seq
        index_add(self._positions_by_strategy, position.strategy_id, pid)
        index_add(self._positions_by_instrument, position.instrument_id, pid)
        index_add(self._positions_by_venue, position.instrument_id.venue, pid)
        self._index_position_status(position)

    def update_position(self, position: Position) -> None:
        """Re-index `position` after a fill was applied (or store it if unknown)."""
        pid = position.id
        if pid not in self._positions:
            self.add_position(position)
            return
        self._positions[pid] = position
        self._index_position_status(position)

    def _index_position_status(self, position: Position) -> None:
        pid = position.id
        if position.is_open:
            self._positions_open[pid] = None
            self._positions_closed.pop(pid, None)
        else:
            self._positions_open.pop(pid, None)
            self._positions_closed[pid] = None
        pair = (position.instrument_id, position.strategy_id)
        current = self._position_by_pair.get(pair)
        # Keep pointing at the open position of the pair; a closed one only if none is open.
        if position.is_open or current is None or current not in self._positions_open:
            self._position_by_pair[pair] = pid

    def position(self, position_id: PositionId) -> Position | None:
        """Return the position, or None."""
        return self._positions.get(position_id)

    def position_exists(self, position_id: PositionId) -> bool:
        """Return True if the cache holds that position."""
        return position_id in self._positions

    def position_for_instrument_and_strategy(
        self, instrument_id: InstrumentId, strategy_id: StrategyId
    ) -> Position | None:
        """Return the pair's open position, else its latest closed one, else None (netting)."""
        pid = self._position_by_pair.get((instrument_id, strategy_id))
        return None if pid is None else self._positions.get(pid)

    def positions(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> list[Position]:
        """Return the positions matching every filter given, in the order they were added."""
        return self._select_positions(None, venue, instrument_id, strategy_id)

    def positions_open(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> list[Position]:
        """Return the open positions matching the filters."""
        return self._select_positions(self._positions_open, venue, instrument_id, strategy_id)

    def positions_closed(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> list[Position]:
        """Return the closed positions matching the filters."""
        return self._select_positions(self._positions_closed, venue, instrument_id, strategy_id)

    def positions_open_count(
        self,
        venue: Venue | None = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> int:
        """Return how many open positions match the filters."""
        return len(self.positions_open(venue, instrument_id, strategy_id))

    def _select_positions(
        self,
        status: OrderedSet | None,
        venue: Venue | None,
        instrument_id: InstrumentId | None,
        strategy_id: StrategyId | None,
    ) -> list[Position]:
        sets = narrow(
            status,
            ((self._positions_by_venue, venue), (self._positions_by_instrument, instrument_id),
             (self._positions_by_strategy, strategy_id)),
        )
        if sets is None:
            return []
        pids = intersect(sets, self._positions, self._position_seq)
        return [self._positions[p] for p in pids]

    # -- accounts ---------------------------------------------------------------------------

    def add_account(self, account: Account) -> None:
        """Add an account (`CashAccount` / `MarginAccount`); indexed by its venue.

        Raises:
            DuplicateCacheEntryError: an account with that id exists (a `ValueError`).
        """
        if account.id in self._accounts:
            raise DuplicateCacheEntryError(f"account {account.id} is already in the cache")
        self._store_account(account)

    def update_account(self, account: Account) -> None:
        """Store `account` after an `AccountState` was applied (or add it if unknown)."""
        self._store_account(account)

    def _store_account(self, account: Account) -> None:
        account_id: AccountId = account.id
        self._accounts[account_id] = account
        self._account_by_venue[account_id.venue] = account_id

    def account(self, account_id: AccountId) -> Account | None:
        """Return the account, or None."""
        return self._accounts.get(account_id)

    def account_for_venue(self, venue: Venue) -> Account | None:
        """Return the account of `venue` (the last one added for it), or None."""
        account_id = self._account_by_venue.get(venue)
        return None if account_id is None else self._accounts.get(account_id)

    def accounts(self) -> list[Account]:
        """Return every account, in the order added."""
        return list(self._accounts.values())

    def __repr__(self) -> str:
        return (
            f"Cache(instruments={len(self._instruments)}, orders={len(self._orders)}, "
            f"open={len(self._orders_open)}, positions={len(self._positions)}, "
            f"accounts={len(self._accounts)})"
        )

