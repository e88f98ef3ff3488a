"""Recognising an order or position event heard a second time.

After a worker restart the bus can carry an event again: resent under its own id,
a fill rebuilt by reconciliation under a new event id and the same trade id, or a
step an order has once (initialized, submitted, accepted, canceled, expired) made
again by an exec worker that recovered the order from the venue (without a cache
database it rebuilds the order, `OrderInitialized` included, under new ids, and
replays it to its peers, which may hold the order under the trader's own). The
books (cache, mirror, execution engine) skip such an event; a consumer that counts
or reacts to events (a strategy's handlers, the run's statistics) must skip it too.
"""

from __future__ import annotations

from typing import Any

from livenode.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
)

__all__ = ["ONCE_PER_ORDER", "SeenEvents"]

#: Events an order has at most once (its creation, submission, acknowledgement and end).
ONCE_PER_ORDER: frozenset[type] = frozenset(
    {OrderInitialized, OrderSubmitted, OrderAccepted, OrderCanceled, OrderExpired})
_ONCE_PER_ORDER = ONCE_PER_ORDER


class SeenEvents:
    """The keys of the newest `kept` events seen: its event id, or for a fill its
    order and trade id (a venue's trade is one fill, whatever event carries it)."""

    __slots__ = ("_kept", "_seen", "duplicates")

    def __init__(self, kept: int = 10_000) -> None:
        self._kept = kept
        self._seen: dict[Any, None] = {}
        self.duplicates = 0

    def first_time(self, event: Any) -> bool:
        """True the first time `event` is seen; False (and counted) after."""
        kind = type(event)
        if kind is OrderFilled:
            key: Any = (event.client_order_id, event.trade_id)
        elif kind in _ONCE_PER_ORDER:
            # Made again under a new id by an exec worker that recovered the order
            # from the venue (no cache database): still the same step of that order.
            key = (kind, event.client_order_id)
        else:
            key = event.event_id
        seen = self._seen
        if key in seen:
            self.duplicates += 1
            return False
        seen[key] = None
        if len(seen) > self._kept:
            del seen[next(iter(seen))]
        return True
