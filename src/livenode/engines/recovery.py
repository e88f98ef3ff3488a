"""Rebuild the execution state of a process from the cache database.

Orders are rebuilt by replaying their stored events through the order state
machine, and positions by replaying the stored fills, in the order they were
written, through the same position arithmetic as the execution engine: the
result is the state the previous process had reached when its last write
landed, to the last digit (no snapshot floats). Reconciliation with the venue
then brings it up to the venue's truth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from livenode.cache.cache import Cache
from livenode.cache.database import DatabaseState
from livenode.engines.positions import apply_fill_to_position
from livenode.model.accounts import CashAccount, MarginAccount
from livenode.model.enums import AccountType
from livenode.model.events import OrderFilled, OrderInitialized
from livenode.model.orders import InvalidStateTransition, Order

__all__ = ["RestoredCounts", "restore_execution_state"]

_log = logging.getLogger("livenode.engines.recovery")


@dataclass(frozen=True)
class RestoredCounts:
    """What `restore_execution_state` put into the cache."""

    instruments: int
    orders: int
    open_orders: int
    fills: int
    open_positions: int
    accounts: int
    refused_events: int

    def __str__(self) -> str:
        return (
            f"{self.instruments} instrument(s), {self.orders} order(s) "
            f"({self.open_orders} open), {self.fills} fill(s), "
            f"{self.open_positions} open position(s), {self.accounts} account(s)"
            + (f", {self.refused_events} event(s) refused" if self.refused_events else "")
        )


def restore_execution_state(cache: Cache, state: DatabaseState) -> RestoredCounts:
    """Put the stored instruments, orders, positions and accounts into `cache`.

    An event the order's state machine refuses (a database edited by hand, a
    write from a buggy version) is logged and skipped, like the execution
    engine does with a live event.
    """
    for instrument in state.instruments:
        cache.add_instrument(instrument)
    orders: dict[object, Order] = {}
    fills = refused = 0
    for event in state.order_events:
        coid = event.client_order_id
        order = orders.get(coid)
        if type(event) is OrderInitialized:
            if order is None:
                order = Order(event)
                orders[coid] = order
                if cache.order(coid) is None:
                    cache.add_order(order)
            continue
        if order is None:
            refused += 1
            _log.error("recovery: %s for %s without its OrderInitialized skipped",
                       type(event).__name__, coid)
            continue
        try:
            order.apply(event)
        except InvalidStateTransition as exc:
            refused += 1
            _log.error("recovery: stored %s refused by %s: %s", type(event).__name__, coid, exc)
            continue
        cache.update_order(order)
        if type(event) is OrderFilled:
            fills += 1
            apply_fill_to_position(cache, event)
    for first, last in state.accounts.values():
        cls = CashAccount if first.account_type is AccountType.CASH else MarginAccount
        account = cls(first)
        if last is not first and last.event_id != first.event_id:
            account.apply(last)
        if cache.account(account.id) is None:
            cache.add_account(account)
        else:
            cache.update_account(account)
    counts = RestoredCounts(
        instruments=len(state.instruments),
        orders=len(orders),
        open_orders=sum(1 for o in orders.values() if o.is_open or o.is_inflight),
        fills=fills,
        open_positions=len(cache.positions_open()),
        accounts=len(state.accounts),
        refused_events=refused,
    )
    return counts
