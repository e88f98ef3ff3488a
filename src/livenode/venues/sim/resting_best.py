"""The best resting limit prices of a matching engine's book, kept without a scan.

A quote or trade print can only make a resting order act if a stop or market-like
order rests, or if the best limit buy or sell is marketable at the new prices. Most
quotes do neither: `RestingBest` answers "can anything act?" in amortized O(1) so
the engine walks its book (in priority order, the only place matching happens)
only when something can.

Plain LIMIT orders go into two lazy heaps, best price first (then time). An entry
is valid while its order is still in the book with the price and sequence number
it was pushed with; stale entries are dropped when they reach the top, and the
heaps are rebuilt when stale entries outnumber live ones (memory stays bounded).
Every other order type is only counted: while one rests, nothing is skipped.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from livenode.venues.sim.orders import BUY, LIMIT, SimOrder

__all__ = ["RestingBest"]

_Entry = tuple[int, int, str]  # (price key, seq, client order id)
_COMPACT_SLACK = 64  # stale entries tolerated above twice the live orders


class RestingBest:
    """Best resting LIMIT buy and sell of one book, and a count of other orders."""

    def __init__(self, book: Mapping[str, SimOrder]) -> None:
        self._book = book  # the engine's open orders by client order id (read only)
        self._buys: list[_Entry] = []  # (-price, seq, cid): highest price first
        self._sells: list[_Entry] = []  # (price, seq, cid): lowest price first
        self._live_limits = 0
        self._others = 0  # resting orders that are not plain LIMIT (stops, market)

    def add(self, order: SimOrder) -> None:
        """`order` has entered the book."""
        if order.order_type != LIMIT:
            self._others += 1
            return
        self._live_limits += 1
        self._push(order)

    def repriced(self, order: SimOrder) -> None:
        """`order`, in the book, has a new price or sequence number."""
        if order.order_type == LIMIT:
            self._push(order)

    def remove(self, order: SimOrder) -> None:
        """`order` has left the book (its heap entry goes stale)."""
        if order.order_type != LIMIT:
            self._others -= 1
            return
        self._live_limits -= 1
        if len(self._buys) + len(self._sells) > 2 * self._live_limits + _COMPACT_SLACK:
            self._rebuild()

    def quiet_for_quote(self, bid: int, ask: int) -> bool:
        """True when no resting order can act on this quote (a buy fills at ask <= its
        limit, a sell at bid >= its limit; stops and market orders always may)."""
        if self._others:
            return False
        best_buy, best_sell = self._best(self._buys, -1), self._best(self._sells, 1)
        return (best_buy is None or best_buy < ask) and (best_sell is None or best_sell > bid)

    def quiet_for_trade(self, price: int) -> bool:
        """True when no resting order can act on a trade at `price` (a limit acts only
        when the print trades through it)."""
        if self._others:
            return False
        best_buy, best_sell = self._best(self._buys, -1), self._best(self._sells, 1)
        return (best_buy is None or best_buy <= price) and (
            best_sell is None or best_sell >= price
        )

    def _push(self, order: SimOrder) -> None:
        price = order.price
        assert price is not None  # _validate: a LIMIT order has a price
        if order.side == BUY:
            heapq.heappush(self._buys, (-price, order.seq, order.client_order_id))
        else:
            heapq.heappush(self._sells, (price, order.seq, order.client_order_id))

    def _best(self, heap: list[_Entry], sign: int) -> int | None:
        """The best live price of `heap` (keys are ``sign * price``), after dropping
        stale entries from its top; None if no LIMIT order of that side rests."""
        book = self._book
        while heap:
            key, seq, cid = heap[0]
            order = book.get(cid)
            price = sign * key
            if order is not None and order.seq == seq and order.price == price:
                return price
            heapq.heappop(heap)
        return None

    def _rebuild(self) -> None:
        buys: list[_Entry] = []
        sells: list[_Entry] = []
        for order in self._book.values():
            if order.order_type == LIMIT:
                assert order.price is not None
                if order.side == BUY:
                    buys.append((-order.price, order.seq, order.client_order_id))
                else:
                    sells.append((order.price, order.seq, order.client_order_id))
        heapq.heapify(buys)
        heapq.heapify(sells)
        self._buys, self._sells = buys, sells
