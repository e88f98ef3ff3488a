"""The portfolio: positions, exposure, PnL and balances, as events report them.

The portfolio follows the bus, not the execution engine's objects: position
snapshots on `events.position.*`, account states on `events.account.*`, quotes on
`data.quotes.*`. So it works the same whether the execution engine lives in its
process or behind a socket (placement is configuration, docs/ARCHITECTURE.md).

Unrealized PnL is marked at the price the position could be closed at now: a long
at the bid, a short at the ask, of the latest quote. It is computed when asked,
never per quote: the quote handler only stores the quote.

A netting position lives in cycles (flat to flat; a flip closes one and opens
the next, see `livenode.model.position`). Each snapshot describes its current
cycle; realized PnL of the cycles before it is kept per instrument and strategy,
so `realized_pnl` is the lifetime total. The `PositionClosed` snapshots of the
cycles closed while the portfolio listened are kept too (`closed_positions`,
the last `MAX_CLOSED_KEPT`).

Strategies read it through `PortfolioFacade` (read-only).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from livenode.bus import topics
from livenode.core.component import Component
from livenode.model.data import QuoteTick
from livenode.model.events import AccountState, PositionClosed, PositionOpened
from livenode.model.objects import Money
from livenode.model.seen_events import SeenEvents

if TYPE_CHECKING:
    from livenode.bus.message_bus import MessageBus
    from livenode.cache.cache import Cache
    from livenode.config import PortfolioConfig
    from livenode.core.clock import Clock
    from livenode.model.identifiers import AccountId, InstrumentId, PositionId, StrategyId, Venue
    from livenode.model.objects import AccountBalance, Currency

__all__ = ["Portfolio", "PortfolioFacade"]

_log = logging.getLogger("livenode.engines.portfolio")

_ZERO = Decimal(0)

#: `PositionClosed` snapshots the portfolio keeps (`closed_positions`).
MAX_CLOSED_KEPT = 10_000


def _dec(value: Any) -> Decimal:
    """A Decimal from a float (via its shortest repr), a fixed-point value or a number."""
    if value is None:
        return _ZERO
    if isinstance(value, float):
        return Decimal(repr(value))
    as_decimal = getattr(value, "as_decimal", None)
    return as_decimal() if as_decimal is not None else Decimal(value)


class Portfolio(Component):
    """Net positions, exposure, realized and unrealized PnL, account balances.

    Args:
        msgbus: subscribed to position and account events and to quotes.
        cache: instruments (multiplier), positions and accounts at start.
        clock: the node's clock.
        config: `PortfolioConfig` (reserved).
    """

    def __init__(
        self,
        msgbus: MessageBus,
        cache: Cache,
        clock: Clock,
        config: PortfolioConfig,
        component_id: str = "Portfolio",
    ) -> None:
        super().__init__(component_id, clock, publisher=msgbus)
        self._msgbus = msgbus
        self._cache = cache
        self._config = config
        # Latest snapshot per position id; by instrument for the queries.
        self._positions: dict[PositionId, Any] = {}
        self._by_instrument: dict[InstrumentId, dict[PositionId, None]] = {}
        # Realized PnL of positions closed and then replaced (netting reuses ids).
        self._realized_archive: dict[tuple[InstrumentId, StrategyId], Money] = {}
        # Closed cycles, oldest first (bounded; `closed_count` counts them all).
        self._closed: deque[PositionClosed] = deque(maxlen=MAX_CLOSED_KEPT)
        self.closed_count = 0
        self._quotes: dict[InstrumentId, QuoteTick] = {}
        self._accounts: dict[AccountId, AccountState] = {}
        self._account_waiters: list[asyncio.Event] = []
        self.position_events = 0
        self.account_events = 0
        # The one duplicate rule every consumer of events uses.
        self._seen = SeenEvents()
        self._load_from_cache()
        msgbus.subscribe(topics.ALL_POSITION_EVENTS, self._on_position_event)
        msgbus.subscribe(topics.ALL_ACCOUNT_EVENTS, self._on_account_state)
        msgbus.subscribe(topics.ALL_QUOTES, self._on_quote)

    # -- inputs -----------------------------------------------------------------------------

    def _load_from_cache(self) -> None:
        """Start from what the cache holds (e.g. recovered from the database)."""
        for position in self._cache.positions():
            try:
                self._load_position(position)
            except Exception:
                _log.exception("Portfolio: cannot snapshot cached position %s", position.id)
        for iid in self._cache.instrument_ids():
            quote = self._cache.quote_tick(iid)
            if quote is not None:
                self._quotes[iid] = quote

    def _load_position(self, position: Any) -> None:
        """A cached position: its current cycle, its closed cycles, and the realized
        PnL of the cycles before the current one (so lifetime totals stay right)."""
        cycles = position.closed_cycles
        if position.is_open:
            current = position.snapshot_event(PositionOpened)
        elif cycles:
            current = cycles[-1]
        else:
            return  # flat without a closed cycle (rebuilt from a snapshot): nothing
        self._closed.extend(cycles)
        self.closed_count += len(cycles)
        before = position.lifetime_realized_pnl - current.realized_pnl
        if before.raw:
            key = (current.instrument_id, current.strategy_id)
            kept = self._realized_archive.get(key)
            self._realized_archive[key] = before if kept is None else kept + before
        self._store(current)

    def _on_quote(self, quote: QuoteTick) -> None:
        self._quotes[quote.instrument_id] = quote

    def _on_position_event(self, event: Any) -> None:
        if not self._seen.first_time(event):
            return  # heard again (a resend, a replay): its PnL is counted once
        self.position_events += 1
        if type(event) is PositionClosed:
            self._closed.append(event)
            self.closed_count += 1
        self._store(event)

    def _store(self, event: Any) -> None:
        pid = event.position_id
        previous = self._positions.get(pid)
        if previous is not None and type(event) is PositionOpened:
            # The id is reused for a new cycle (after a close, or a flip's
            # PositionClosed): keep the old cycle's realized PnL.
            key = (previous.instrument_id, previous.strategy_id)
            kept = self._realized_archive.get(key)
            pnl = previous.realized_pnl
            self._realized_archive[key] = pnl if kept is None else kept + pnl
        self._positions[pid] = event
        self._by_instrument.setdefault(event.instrument_id, {})[pid] = None

    def _on_account_state(self, state: AccountState) -> None:
        self.account_events += 1
        self._accounts[state.account_id] = state
        for waiter in self._account_waiters:
            waiter.set()

    # -- initialization ---------------------------------------------------------------------

    def has_account(self, venue: Venue) -> bool:
        """True once an account of `venue` is known (cache or account events)."""
        if self._cache.account_for_venue(venue) is not None:
            return True
        return any(aid.venue == venue for aid in self._accounts)

    def is_initialized_for(self, venues: Iterable[Venue]) -> bool:
        """True when every venue given has an account."""
        return all(self.has_account(v) for v in venues)

    @property
    def is_initialized(self) -> bool:
        """True once at least one account is known (see `wait_initialized` for venues)."""
        return bool(self._accounts) or bool(self._cache.accounts())

    async def wait_initialized(self, venues: Iterable[Venue], timeout: float) -> bool:
        """Wait until every venue has an account; False when `timeout` (s) ran out first."""
        venues = list(venues)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waiter = asyncio.Event()
        self._account_waiters.append(waiter)
        try:
            while not self.is_initialized_for(venues):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                waiter.clear()
                try:
                    await asyncio.wait_for(waiter.wait(), remaining)
                except TimeoutError:
                    return self.is_initialized_for(venues)
            return True
        finally:
            self._account_waiters.remove(waiter)

    # -- positions --------------------------------------------------------------------------

    def _snapshots(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> list[Any]:
        pids = self._by_instrument.get(instrument_id)
        if not pids:
            return []
        out = []
        for pid in pids:
            snap = self._positions[pid]
            if strategy_id is None or snap.strategy_id == strategy_id:
                out.append(snap)
        return out

    @staticmethod
    def _signed_qty(snap: Any) -> Decimal:
        if type(snap) is PositionClosed:
            return _ZERO
        qty: Decimal = snap.quantity.as_decimal()
        return -qty if snap.signed_qty < 0 else qty

    def net_position(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> Decimal:
        """Signed net quantity: positive long, negative short, 0 flat (exact)."""
        return sum((self._signed_qty(s) for s in self._snapshots(instrument_id, strategy_id)),
                   _ZERO)

    def is_flat(self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None) -> bool:
        """True when the net position is zero."""
        return self.net_position(instrument_id, strategy_id) == 0

    def is_net_long(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> bool:
        """True when the net position is positive."""
        return self.net_position(instrument_id, strategy_id) > 0

    def is_net_short(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> bool:
        """True when the net position is negative."""
        return self.net_position(instrument_id, strategy_id) < 0

    def is_completely_flat(self) -> bool:
        """True when no instrument has an open position."""
        return all(self.is_flat(iid) for iid in self._by_instrument)

    # -- marks and PnL ----------------------------------------------------------------------

    def mark_price(self, instrument_id: InstrumentId, net: Decimal) -> Decimal | None:
        """The closing price of a position of size `net`: bid for long, ask for short.

        From the shared-memory quote table when the node has one (the latest quote
        wherever it was written), else from the quotes this process received.
        """
        if self._cache.has_shared_market:
            quote = self._cache.quote_tick(instrument_id)
        else:
            quote = self._quotes.get(instrument_id)
        if quote is None:
            return None
        return (quote.bid_price if net >= 0 else quote.ask_price).as_decimal()

    def _multiplier(self, instrument_id: InstrumentId) -> Decimal:
        instrument = self._cache.instrument(instrument_id)
        return _ZERO + 1 if instrument is None else instrument.multiplier.as_decimal()

    def _position_unrealized(self, snap: Any, multiplier: Decimal) -> Decimal | None:
        net = self._signed_qty(snap)
        if net == 0:
            return _ZERO
        mark = self.mark_price(snap.instrument_id, net)
        if mark is None:
            return None
        return (mark - _dec(snap.avg_px_open)) * net * multiplier

    def unrealized_pnl(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> Money | None:
        """Unrealized PnL of the open positions, marked to the latest quote.

        None when there is no position, or an open one has no quote to mark at.
        """
        snaps = self._snapshots(instrument_id, strategy_id)
        if not snaps:
            return None
        multiplier = self._multiplier(instrument_id)
        total = _ZERO
        for snap in snaps:
            pnl = self._position_unrealized(snap, multiplier)
            if pnl is None:
                return None
            total += pnl
        return Money.new(total, snaps[0].realized_pnl.currency)

    def realized_pnl(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> Money | None:
        """Lifetime realized PnL: every cycle, net of commissions; None if no position."""
        snaps = self._snapshots(instrument_id, strategy_id)
        if not snaps:
            return None
        currency = snaps[0].realized_pnl.currency
        total = Money.zero(currency)
        for snap in snaps:
            total = total + snap.realized_pnl
        for (iid, sid), kept in self._realized_archive.items():
            if iid == instrument_id and (strategy_id is None or sid == strategy_id):
                total = total + kept
        return total

    def closed_positions(
        self,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> list[PositionClosed]:
        """The `PositionClosed` snapshots of closed cycles, oldest first (filtered)."""
        return [
            e for e in self._closed
            if (instrument_id is None or e.instrument_id == instrument_id)
            and (strategy_id is None or e.strategy_id == strategy_id)
        ]

    def total_pnl(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> Money | None:
        """Realized plus unrealized PnL; None if either is unknown."""
        realized = self.realized_pnl(instrument_id, strategy_id)
        unrealized = self.unrealized_pnl(instrument_id, strategy_id)
        if realized is None or unrealized is None:
            return None
        return realized + unrealized

    def net_exposure(self, instrument_id: InstrumentId) -> Money | None:
        """Signed market value of the net position at its mark (None if no price)."""
        snaps = self._snapshots(instrument_id)
        if not snaps:
            return None
        net = self.net_position(instrument_id)
        if net == 0:
            return Money.zero(snaps[0].realized_pnl.currency)
        mark = self.mark_price(instrument_id, net)
        if mark is None:
            return None
        value = net * mark * self._multiplier(instrument_id)
        return Money.new(value, snaps[0].realized_pnl.currency)

    def unrealized_pnls(self, venue: Venue) -> dict[Currency, Money]:
        """Unrealized PnL of every instrument of `venue`, summed per currency.

        Instruments without a quote to mark at are left out.
        """
        out: dict[Currency, Money] = {}
        for iid in self._by_instrument:
            if iid.venue != venue:
                continue
            pnl = self.unrealized_pnl(iid)
            if pnl is None:
                continue
            prior = out.get(pnl.currency)
            out[pnl.currency] = pnl if prior is None else prior + pnl
        return out

    def realized_pnls(self, venue: Venue) -> dict[Currency, Money]:
        """Realized PnL of every instrument of `venue`, summed per currency."""
        out: dict[Currency, Money] = {}
        for iid in self._by_instrument:
            if iid.venue != venue:
                continue
            pnl = self.realized_pnl(iid)
            if pnl is None:
                continue
            prior = out.get(pnl.currency)
            out[pnl.currency] = pnl if prior is None else prior + pnl
        return out

    # -- accounts ---------------------------------------------------------------------------

    def balances(self, venue: Venue) -> dict[Currency, AccountBalance]:
        """The latest balances of the venue's account, by currency (empty if none)."""
        state = self._latest_state(venue)
        if state is not None:
            return {b.total.currency: b for b in state.balances}
        account = self._cache.account_for_venue(venue)
        if account is None:
            return {}
        return dict(account.balances())

    def _latest_state(self, venue: Venue) -> AccountState | None:
        latest = None
        for aid, state in self._accounts.items():
            if aid.venue == venue and (latest is None or state.ts_event >= latest.ts_event):
                latest = state
        return latest

    def counters(self) -> dict[str, int]:
        """The counters, for status lines and the supervisor."""
        return {
            "position_events": self.position_events,
            "account_events": self.account_events,
            "positions": len(self._positions),
            "closed_positions": self.closed_count,
        }

    @property
    def facade(self) -> PortfolioFacade:
        """A read-only view for strategies."""
        return PortfolioFacade(self)

    def _on_dispose(self) -> None:
        self._msgbus.unsubscribe(topics.ALL_POSITION_EVENTS, self._on_position_event)
        self._msgbus.unsubscribe(topics.ALL_ACCOUNT_EVENTS, self._on_account_state)
        self._msgbus.unsubscribe(topics.ALL_QUOTES, self._on_quote)


class PortfolioFacade:
    """Read-only view of a `Portfolio` (what strategies get): queries, no inputs."""

    __slots__ = ("_portfolio",)

    def __init__(self, portfolio: Portfolio) -> None:
        self._portfolio = portfolio

    @property
    def is_initialized(self) -> bool:
        """See `Portfolio.is_initialized`."""
        return self._portfolio.is_initialized

    def net_position(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> Decimal:
        """See `Portfolio.net_position`."""
        return self._portfolio.net_position(instrument_id, strategy_id)

    def is_flat(self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None) -> bool:
        """See `Portfolio.is_flat`."""
        return self._portfolio.is_flat(instrument_id, strategy_id)

    def is_net_long(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> bool:
        """See `Portfolio.is_net_long`."""
        return self._portfolio.is_net_long(instrument_id, strategy_id)

    def is_net_short(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> bool:
        """See `Portfolio.is_net_short`."""
        return self._portfolio.is_net_short(instrument_id, strategy_id)

    def is_completely_flat(self) -> bool:
        """See `Portfolio.is_completely_flat`."""
        return self._portfolio.is_completely_flat()

    def net_exposure(self, instrument_id: InstrumentId) -> Money | None:
        """See `Portfolio.net_exposure`."""
        return self._portfolio.net_exposure(instrument_id)

    def unrealized_pnl(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> Money | None:
        """See `Portfolio.unrealized_pnl`."""
        return self._portfolio.unrealized_pnl(instrument_id, strategy_id)

    def realized_pnl(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> Money | None:
        """See `Portfolio.realized_pnl`."""
        return self._portfolio.realized_pnl(instrument_id, strategy_id)

    def closed_positions(
        self,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
    ) -> list[PositionClosed]:
        """See `Portfolio.closed_positions`."""
        return self._portfolio.closed_positions(instrument_id, strategy_id)

    def total_pnl(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> Money | None:
        """See `Portfolio.total_pnl`."""
        return self._portfolio.total_pnl(instrument_id, strategy_id)

    def unrealized_pnls(self, venue: Venue) -> dict[Currency, Money]:
        """See `Portfolio.unrealized_pnls`."""
        return self._portfolio.unrealized_pnls(venue)

    def realized_pnls(self, venue: Venue) -> dict[Currency, Money]:
        """See `Portfolio.realized_pnls`."""
        return self._portfolio.realized_pnls(venue)

    def balances(self, venue: Venue) -> dict[Currency, AccountBalance]:
        """See `Portfolio.balances`."""
        return self._portfolio.balances(venue)
