"""The auditor: reads the node's books and asks each venue, for `audit.compare_books`.

`BooksAuditor` (one per execution engine) notes the venues' fills when the node
starts (not the node's to know), remembers the trade ids the engine applied
(`TradeLedger`: the cache purges closed orders and their fills with them), and audits
each execution client's venue on demand, asking again while the books differ (an
event may be on its way). See `livenode.engines.audit` for what is compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from livenode.engines.audit import (
    AUDIT_SCOPES,
    NodeBooks,
    NodeOrder,
    VenueAudit,
    VenueBooks,
    compare_books,
    report_key,
)

if TYPE_CHECKING:
    from livenode.cache.cache import Cache
    from livenode.engines.clients import LiveExecutionClient
    from livenode.model.identifiers import TradeId
    from livenode.model.orders import Order
    from livenode.model.reports import FillReport

__all__ = ["BooksAuditor", "TradeLedger", "node_books", "venue_books"]

_log = logging.getLogger("livenode.engines.audit")


def _node_order(order: Order) -> NodeOrder:
    return NodeOrder(
        client_order_id=str(order.client_order_id),
        venue_order_id=None if order.venue_order_id is None else str(order.venue_order_id),
        status=order.status.value,
        side=order.side.value,
        quantity=order.quantity.as_decimal(),
        filled_qty=order.filled_qty.as_decimal(),
        price=None if order.price is None else order.price.as_decimal(),
    )


def node_books(
    cache: Cache,
    client: LiveExecutionClient,
    venue: VenueBooks,
    applied_trade_ids: TradeLedger,
    baseline_trade_ids: frozenset[str],
) -> NodeBooks:
    """Read the node's books for `client`'s venue from `cache`, as far as `venue`'s
    reports need them."""
    at = client.venue
    live = cache.orders_open(venue=at) + cache.orders_inflight(venue=at)
    open_orders = {o.client_order_id: o for o in live if not o.is_closed}
    named: dict[str, NodeOrder | None] = {}
    for report in venue.open_orders or []:
        coid = report.client_order_id or cache.client_order_id(report.venue_order_id)
        order = None if coid is None else cache.order(coid)
        named[report_key(report)] = None if order is None else _node_order(order)
    positions: dict[str, Decimal] = {}
    for position in cache.positions_open(venue=at):
        key = str(position.instrument_id)
        qty = position.quantity.as_decimal()
        positions[key] = positions.get(key, Decimal(0)) + (
            qty if position.signed_qty >= 0 else -qty)
    balances: dict[str, tuple[Decimal, Decimal]] | None = None
    account = cache.account(client.account_id)
    if account is not None:
        balances = {ccy.code: (b.total.as_decimal(), b.locked.as_decimal())
                    for ccy, b in account.balances().items()}
    known: set[str] = set()
    for fill in venue.fills or []:
        tid = str(fill.trade_id)
        if tid in baseline_trade_ids:
            continue
        coid = fill.client_order_id or cache.client_order_id(fill.venue_order_id)
        order = None if coid is None else cache.order(coid)
        if (order is not None and fill.trade_id in order.trade_ids) or (
                fill.trade_id in applied_trade_ids):
            known.add(tid)
    return NodeBooks(
        open_orders=[_node_order(o) for o in open_orders.values()],
        orders_named=named,
        positions=positions,
        balances=balances,
        known_trade_ids=frozenset(known),
        baseline_trade_ids=baseline_trade_ids,
    )


class TradeLedger:
    """The trade ids the engine applied this run, the newest `capacity` kept (the
    cache purges closed orders, and their fills with them)."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self._order: deque[TradeId] = deque()
        self._ids: set[TradeId] = set()
        self._capacity = capacity

    def record(self, trade_id: TradeId) -> None:
        """Remember one applied fill."""
        if trade_id in self._ids:
            return
        self._ids.add(trade_id)
        self._order.append(trade_id)
        if len(self._order) > self._capacity:
            self._ids.discard(self._order.popleft())

    def __contains__(self, trade_id: object) -> bool:
        return trade_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


# -- asking the venue --------------------------------------------------------------------


async def venue_books(client: LiveExecutionClient, scope: frozenset[str]) -> VenueBooks:
    """Ask `client`'s venue for every report in `scope` (concurrently)."""
    async def nothing() -> None:
        return None

    orders, positions, balances, fills = await asyncio.gather(
        client.generate_order_status_reports() if "orders" in scope else nothing(),
        client.generate_position_status_reports() if "positions" in scope else nothing(),
        client.generate_balance_reports() if "balances" in scope else nothing(),
        client.generate_fill_reports() if "fills" in scope else nothing(),
    )
    return VenueBooks(open_orders=orders, positions=positions, balances=balances, fills=fills)


class BooksAuditor:
    """Audits the books of each execution client's venue (see the module docstring).

    Args:
        cache: the node's cache (the node's books).
        changed: an event the engine sets whenever it applied something (an audit
            that found differences waits on it before it asks again: an event on
            its way settles many).
    """

    #: Seconds between two attempts when nothing changed in the node meanwhile.
    RETRY_INTERVAL = 0.5

    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self.applied = TradeLedger()
        self._baseline: dict[str, frozenset[str]] = {}
        self.last: dict[str, VenueAudit] = {}
        self.audits = 0
        self.differences_found = 0

    def record_fill(self, trade_id: TradeId) -> None:
        """The engine applied a fill (called on the fill path: a set insert)."""
        self.applied.record(trade_id)

    def note_baseline(self, client: LiveExecutionClient, fills: list[FillReport]) -> None:
        """The fills `client`'s venue reported at the start's reconciliation: the
        baseline, when none was noted yet (a reconciliation after a reconnect is not
        the start)."""
        self._baseline.setdefault(client.name, frozenset(str(f.trade_id) for f in fills))

    async def take_baseline(self, clients: list[LiveExecutionClient], timeout: float) -> None:
        """Note the fills each venue reports now: fills from before the node started
        are not the node's to know. A venue that cannot answer gets an empty baseline
        (every fill it later reports is audited) and a warning."""
        for client in clients:
            if "fills" not in client.audit_scope() or client.name in self._baseline:
                continue  # reconciliation noted it from the same report
            try:
                fills = await asyncio.wait_for(client.generate_fill_reports(), timeout)
            except Exception as exc:
                _log.warning("audit: %s did not report its fills at start (%r); every fill "
                             "it reports at the audit is checked", client.name, exc)
                continue
            self._baseline[client.name] = frozenset(str(f.trade_id) for f in fills)

    async def audit(self, client: LiveExecutionClient, timeout: float) -> VenueAudit:
        """One attempt: ask the venue, compare, return the verdict."""
        scope = client.audit_scope()
        checked = [s for s in AUDIT_SCOPES if s in scope]
        unchecked = [s for s in AUDIT_SCOPES if s not in scope]
        try:
            books = await asyncio.wait_for(venue_books(client, scope), timeout)
        except TimeoutError:
            return VenueAudit(venue=str(client.venue), account_id=str(client.account_id),
                              checked=checked, not_reported=unchecked,
                              error=f"the venue did not report within {timeout:g}s")
        except Exception as exc:
            return VenueAudit(venue=str(client.venue), account_id=str(client.account_id),
                              checked=checked, not_reported=unchecked,
                              error=f"asking the venue failed: {type(exc).__name__}: {exc}")
        mine = node_books(self._cache, client, books, self.applied,
                          self._baseline.get(client.name, frozenset()))
        return VenueAudit(venue=str(client.venue), account_id=str(client.account_id),
                          checked=checked, not_reported=unchecked,
                          differences=compare_books(mine, books))

    async def audit_all(
        self, clients: list[LiveExecutionClient], timeout: float,
        changed: asyncio.Event | None = None,
    ) -> dict[str, VenueAudit]:
        """Audit every client's venue; a venue that differs is asked again (after the
        node applied something, or `RETRY_INTERVAL`) until it matches or `timeout`
        ran out: a difference may be an event still on its way. Logs the verdict."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        out: dict[str, VenueAudit] = {}
        for client in clients:
            attempts = 0
            while True:
                attempts += 1
                remaining = max(0.01, deadline - loop.time())
                verdict = await self.audit(client, remaining)
                if verdict.matches or loop.time() >= deadline:
                    break
                wake = changed if changed is not None else asyncio.Event()
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        wake.wait(), min(self.RETRY_INTERVAL, max(0.0, deadline - loop.time())))
            verdict = msgspec.structs.replace(verdict, attempts=attempts)
            out[client.name] = verdict
            self.audits += 1
            self.differences_found += len(verdict.differences)
            log = _log.info if verdict.matches else _log.error
            for line in verdict.lines():
                log("audit: %s", line)
        self.last.update(out)
        return out
