"""The matching engine of one simulated instrument: pure logic, no asyncio, no model objects.

Prices and quantities are scaled integers (`raw`) at the instrument's price and
size precision, so matching is integer comparison; the venue converts model
objects at its edge. Every call takes the venue time ``ts`` and returns the
actions it caused (`Fill` and `Status`), which the venue turns into order
events. The market is top of book only (best bid/ask and their sizes, plus
trade prints). Semantics, chosen to be conservative and documented here:

- **Market orders** take the opposite quote at its price, limited by its size.
  Size taken at a quote is consumed until the next quote, so two orders cannot
  both take the same displayed size. The remainder is canceled for IOC;
  FOK is canceled unfilled when the quote cannot fill it whole; for GTC/GTD/DAY
  the remainder stays working and takes each following quote until filled.
  A market order with no quote yet is rejected.
- **Limit orders** that are marketable on arrival (or after a modify) take the
  opposite quote as taker at the quote's price (size-limited, then IOC/FOK as
  above); the rest rests. A resting limit fills as maker *at its own price*
  when the opposite quote crosses it (ask <= buy price: up to the ask size) or
  when a trade prints strictly through it (trade < buy price: up to the trade
  size). A trade *at* the limit price does not fill it (queue position unknown).
- **Post-only** is for limit orders with GTC/GTD/DAY; if it would cross on
  arrival it is rejected, on a modify the modify is rejected.
- **Stops**: a buy stop triggers when a trade prints at or above the trigger or
  the ask reaches it; a sell stop when a trade prints at or below it or the bid
  reaches it. A stop that would trigger on arrival is rejected. A triggered
  stop-market behaves as a market order, a triggered stop-limit (which emits
  TRIGGERED) as a limit order arriving at that moment.
- **Expiry**: GTD at ``expire_time_ns``, DAY at the next UTC midnight after
  acceptance; expired orders emit EXPIRED.
- **Modify** re-validates, re-reserves funds, emits UPDATED and re-matches;
  a price change or a quantity increase loses time priority.
- **Fees**: ``notional * rate`` in the commission currency, rounded up (in the
  venue's favour); maker rate for maker fills, taker rate for taker fills.
"""

from __future__ import annotations

import logging
from typing import Any

from livenode.venues.sim.orders import (  # re-exported: the engine's vocabulary
    ACCEPTED,
    BUY,
    CANCEL_REJECTED,
    CANCELED,
    DAY_NS,
    EXPIRED,
    LIMIT,
    MAKER,
    MARKET,
    MODIFY_REJECTED,
    REJECTED,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    TAKER,
    TRIGGERED,
    UPDATED,
    AccountHooks,
    Fill,
    InstrumentSpec,
    SimOrder,
    Status,
    check_notional,
    check_price,
    check_quantity,
    fmt_raw,
)
from livenode.venues.sim.resting_best import RestingBest

_log = logging.getLogger(__name__)

__all__ = [
    "ACCEPTED",
    "BUY",
    "CANCELED",
    "CANCEL_REJECTED",
    "DAY_NS",
    "EXPIRED",
    "LIMIT",
    "MAKER",
    "MARKET",
    "MODIFY_REJECTED",
    "REJECTED",
    "SELL",
    "STOP_LIMIT",
    "STOP_MARKET",
    "TAKER",
    "TRIGGERED",
    "UPDATED",
    "AccountHooks",
    "Fill",
    "InstrumentSpec",
    "MatchingEngine",
    "SimOrder",
    "Status",
    "check_notional",
    "check_price",
    "check_quantity",
    "fmt_raw",
]

_NO_ACTIONS: tuple[Any, ...] = ()

class MatchingEngine:
    """Orders of one instrument matched against its top of book and trade prints."""

    def __init__(
        self,
        spec: InstrumentSpec,
        account: AccountHooks | None = None,
        max_closed_orders: int = 10_000,
        trade_id_prefix: str | None = None,
    ) -> None:
        self.spec = spec
        self.account = account
        # Closed orders are kept for reports and "already closed" reasons, bounded so a
        # long-running venue's memory stays flat (oldest forgotten first).
        self._max_closed = max_closed_orders
        self.bid: int | None = None
        self.ask: int | None = None
        self.bid_size = 0
        self.ask_size = 0
        self.last: int | None = None
        # Displayed size still available to takers at the current quote.
        self._bid_avail = 0
        self._ask_avail = 0
        self._orders: dict[str, SimOrder] = {}  # open orders by client order id
        # Lets a quote or print that cannot move any resting order skip the book walk.
        self._best = RestingBest(self._orders)
        self._closed: dict[str, SimOrder] = {}
        self._seq = 0
        self._fill_seq = 0
        self._trade_prefix = trade_id_prefix or spec.symbol
        self._next_expiry: int | None = None

    # -- queries ----------------------------------------------------------------------

    def open_orders(self) -> list[SimOrder]:
        return list(self._orders.values())

    def get(self, client_order_id: str) -> SimOrder | None:
        return self._orders.get(client_order_id) or self._closed.get(client_order_id)

    def closed_orders(self) -> list[SimOrder]:
        return list(self._closed.values())

    @property
    def counters(self) -> tuple[int, int]:
        """(order sequence, fill sequence): what a restored engine continues from."""
        return self._seq, self._fill_seq

    def restore(self, orders: list[SimOrder], seq: int, fill_seq: int) -> None:
        """Take back the orders of a stored venue (open ones into the book).

        Closed orders beyond ``max_closed_orders`` are forgotten, oldest first, as
        while running; expiry of open GTD/DAY orders is scheduled again.
        """
        for order in sorted(orders, key=lambda o: (o.ts_last, o.seq)):
            if order.is_open:
                self._orders[order.client_order_id] = order
                self._best.add(order)
                if order.expire_time_ns is not None and order.time_in_force in ("GTD", "DAY"):
                    self._note_expiry(order.expire_time_ns)
            else:
                self._closed[order.client_order_id] = order
                if len(self._closed) > self._max_closed:
                    del self._closed[next(iter(self._closed))]
        self._seq = max(self._seq, seq)
        self._fill_seq = max(self._fill_seq, fill_seq)

    @property
    def next_expiry(self) -> int | None:
        return self._next_expiry

    # -- commands ---------------------------------------------------------------------

    def submit(self, order: SimOrder, ts: int) -> list[Fill | Status]:
        """Validate, accept and match a new order (or reject it naming why)."""
        out: list[Fill | Status] = []
        if order.client_order_id in self._orders or order.client_order_id in self._closed:
            # A client sent the same order twice: never filled twice, always said.
            _log.warning("%s: a second submit of client order id %s rejected",
                         self.spec.symbol, order.client_order_id)
            return self._reject(order, f"duplicate client order id {order.client_order_id}", ts)
        reason = self._validate(order, ts)
        if reason is not None:
            return self._reject(order, reason, ts)
        ref = self._reference_price(order)
        if self.account is not None:
            reason = self.account.reserve(order, self.spec, ref)
            if reason is not None:
                return self._reject(order, reason, ts)
        self._seq += 1
        order.seq = self._seq
        order.status = "ACCEPTED"
        order.ts_accepted = order.ts_last = ts
        if order.time_in_force == "DAY":
            order.expire_time_ns = (ts // DAY_NS + 1) * DAY_NS
        self._orders[order.client_order_id] = order
        self._best.add(order)
        if order.expire_time_ns is not None and order.time_in_force in ("GTD", "DAY"):
            self._note_expiry(order.expire_time_ns)
        out.append(Status(ACCEPTED, order, ts=ts))
        if not order.is_stop:
            self._on_arrival(order, out, ts)
        return out

    def modify(
        self,
        client_order_id: str,
        quantity: int | None,
        price: int | None,
        trigger_price: int | None,
        ts: int,
    ) -> list[Fill | Status]:
        """Change an open order's quantity/price/trigger, then re-match it."""
        order = self._orders.get(client_order_id)
        if order is None:
            return self._missing(client_order_id, MODIFY_REJECTED, ts)
        spec = self.spec
        new_qty = order.quantity if quantity is None else quantity
        new_px = order.price if price is None else price
        new_trig = order.trigger_price if trigger_price is None else trigger_price
        reason: str | None = None
        if price is not None and order.price is None:
            reason = f"a {order.order_type} order has no price to modify"
        elif trigger_price is not None and order.trigger_price is None:
            reason = f"a {order.order_type} order has no trigger price to modify"
        elif trigger_price is not None and order.triggered:
            reason = "the stop order has already triggered"
        elif new_qty <= order.filled:
            reason = (
                f"quantity {spec.fmt_qty(new_qty)} is not above the filled quantity "
                f"{spec.fmt_qty(order.filled)}"
            )
        else:
            reason = check_quantity(self.spec, new_qty) or check_price(self.spec, new_px, "price")
            reason = reason or check_price(self.spec, new_trig, "trigger price")
            if reason is None and new_px is not None:
                reason = check_notional(self.spec, new_qty, new_px)
        if reason is None and order.post_only and new_px is not None and self._crosses(
            order.side, new_px
        ):
            reason = self._post_only_reason(order.side, new_px)
        if (
            reason is None
            and new_trig is not None
            and not order.triggered
            and self._stop_triggers(order.side, new_trig)
        ):
            reason = self._stop_reason(order.side, new_trig)
        if reason is not None:
            return [Status(MODIFY_REJECTED, order, reason, ts)]
        old = (order.quantity, order.price, order.trigger_price)
        order.quantity, order.price, order.trigger_price = new_qty, new_px, new_trig
        if self.account is not None:
            reason = self.account.reserve(order, spec, self._reference_price(order))
            if reason is not None:
                order.quantity, order.price, order.trigger_price = old
                self.account.reserve(order, spec, self._reference_price(order))
                return [Status(MODIFY_REJECTED, order, reason, ts)]
        if new_px != old[1] or new_qty > old[0]:
            self._seq += 1
            order.seq = self._seq
            self._best.repriced(order)
        order.ts_last = ts
        out: list[Fill | Status] = [Status(UPDATED, order, ts=ts)]
        if order.acts_as_limit:
            self._take(order, out, ts)
        return out

    def cancel(self, client_order_id: str, ts: int) -> list[Fill | Status]:
        order = self._orders.get(client_order_id)
        if order is None:
            return self._missing(client_order_id, CANCEL_REJECTED, ts)
        out: list[Fill | Status] = []
        self._close(order, CANCELED, out, ts)
        return out

    def cancel_all(self, side: str | None, ts: int) -> list[Fill | Status]:
        out: list[Fill | Status] = []
        for order in list(self._orders.values()):
            if side is None or order.side == side:
                self._close(order, CANCELED, out, ts)
        return out

    # -- market -----------------------------------------------------------------------

    def on_quote(
        self, bid: int, ask: int, bid_size: int, ask_size: int, ts: int
    ) -> list[Fill | Status] | tuple[Any, ...]:
        self.bid, self.ask, self.bid_size, self.ask_size = bid, ask, bid_size, ask_size
        self._bid_avail, self._ask_avail = bid_size, ask_size
        if not self._orders:
            return _NO_ACTIONS
        out: list[Fill | Status] = []
        if self._next_expiry is not None and ts >= self._next_expiry:
            self._expire(out, ts)
        if self._best.quiet_for_quote(bid, ask):
            return out
        for order in self._by_priority():
            if not order.is_open:
                continue
            if order.is_stop and not order.triggered:
                trig = order.trigger_price
                assert trig is not None  # _validate: a stop order has a trigger price
                if (order.side == BUY and ask >= trig) or (order.side == SELL and bid <= trig):
                    self._trigger(order, out, ts)
                continue
            if order.acts_as_market:
                self._take(order, out, ts)
                continue
            limit = order.price
            assert limit is not None  # LIMIT or triggered STOP_LIMIT: _validate required a price
            if (order.side == BUY and ask <= limit) or (order.side == SELL and bid >= limit):
                self._maker_fill_from_quote(order, out, ts)
        return out

    def on_trade(self, price: int, size: int, ts: int) -> list[Fill | Status] | tuple[Any, ...]:
        self.last = price
        if not self._orders:
            return _NO_ACTIONS
        out: list[Fill | Status] = []
        if self._next_expiry is not None and ts >= self._next_expiry:
            self._expire(out, ts)
        if self._best.quiet_for_trade(price):
            return out
        avail = size
        for order in self._by_priority():
            if not order.is_open:
                continue
            if order.is_stop and not order.triggered:
                trig = order.trigger_price
                assert trig is not None  # _validate: a stop order has a trigger price
                if (order.side == BUY and price >= trig) or (order.side == SELL and price <= trig):
                    self._trigger(order, out, ts)
                continue
            if not order.acts_as_limit or avail <= 0:
                continue
            limit = order.price
            assert limit is not None  # _validate: an order acting as a limit has a price
            through = price < limit if order.side == BUY else price > limit
            if through:
                qty = min(order.leaves, avail)
                avail -= qty
                self._fill(order, qty, limit, MAKER, out, ts)
        return out

    def expire(self, ts: int) -> list[Fill | Status] | tuple[Any, ...]:
        """Expire GTD/DAY orders due at ``ts`` (the venue calls this on a timer)."""
        if self._next_expiry is None or ts < self._next_expiry:
            return _NO_ACTIONS
        out: list[Fill | Status] = []
        self._expire(out, ts)
        return out

    # -- internals --------------------------------------------------------------------

    def _reject(self, order: SimOrder, reason: str, ts: int) -> list[Fill | Status]:
        order.status = "REJECTED"
        order.ts_last = ts
        return [Status(REJECTED, order, reason, ts)]

    def _missing(self, client_order_id: str, kind: str, ts: int) -> list[Fill | Status]:
        closed = self._closed.get(client_order_id)
        if closed is not None:
            reason = f"order {client_order_id} is already closed ({closed.status})"
            return [Status(kind, closed, reason, ts)]
        ghost = SimOrder(client_order_id, "", "", "", 0)
        return [Status(kind, ghost, f"order {client_order_id} not found", ts)]

    def _validate(self, order: SimOrder, ts: int) -> str | None:
        spec = self.spec
        if order.side not in (BUY, SELL):
            return f"invalid order side {order.side!r}"
        if order.order_type not in (MARKET, LIMIT, STOP_MARKET, STOP_LIMIT):
            return f"unsupported order type {order.order_type!r}"
        tif = order.time_in_force
        if tif not in ("GTC", "IOC", "FOK", "GTD", "DAY"):
            return f"unsupported time in force {tif!r}"
        reason = check_quantity(self.spec, order.quantity)
        if reason:
            return reason
        if order.order_type in (LIMIT, STOP_LIMIT) and order.price is None:
            return f"a {order.order_type} order needs a price"
        if order.is_stop and order.trigger_price is None:
            return f"a {order.order_type} order needs a trigger price"
        reason = check_price(self.spec, order.price, "price") or check_price(self.spec,
            order.trigger_price, "trigger price"
        )
        if reason:
            return reason
        if tif == "GTD":
            if order.expire_time_ns is None:
                return "a GTD order needs an expire time"
            if order.expire_time_ns <= ts:
                return f"expire time {order.expire_time_ns} is not in the future (now {ts})"
        if order.post_only:
            if order.order_type != LIMIT:
                return f"post-only is only valid for LIMIT orders, not {order.order_type}"
            if tif in ("IOC", "FOK"):
                return f"post-only is not valid with time in force {tif}"
        if order.acts_as_market and (self.bid is None or self.ask is None):
            return f"no market for {spec.symbol} yet: cannot fill a market order"
        ref = self._reference_price(order)
        if ref:
            reason = check_notional(self.spec, order.quantity, ref)
            if reason:
                return reason
        # (_crosses / _stop_triggers are False for a None price, so the checks add nothing.)
        if order.post_only and order.price is not None and self._crosses(order.side, order.price):
            return self._post_only_reason(order.side, order.price)
        if (
            order.is_stop
            and order.trigger_price is not None
            and self._stop_triggers(order.side, order.trigger_price)
        ):
            return self._stop_reason(order.side, order.trigger_price)
        if order.reduce_only and self.account is not None:
            pos = self.account.position(spec.symbol)
            signed = order.quantity if order.side == BUY else -order.quantity
            if pos == 0 or (pos > 0) == (signed > 0) or abs(signed) > abs(pos):
                return (
                    f"reduce-only {order.side} {spec.fmt_qty(order.quantity)} would increase "
                    f"or flip the position {spec.fmt_qty(pos)}"
                )
        return None

    def _reference_price(self, order: SimOrder) -> int:
        """The price funds are reserved at: limit price, else the quote a market order takes."""
        if order.price is not None:
            return order.price
        if order.trigger_price is not None and not order.triggered:
            return order.trigger_price
        quote = self.ask if order.side == BUY else self.bid
        return quote or 0

    def _crosses(self, side: str, price: int | None) -> bool:
        if price is None:
            return False
        if side == BUY:
            return self.ask is not None and price >= self.ask
        return self.bid is not None and price <= self.bid

    def _post_only_reason(self, side: str, price: int) -> str:
        spec = self.spec
        if side == BUY:
            return (
                f"post-only order would cross: buy price {spec.fmt_price(price)} >= best ask "
                f"{spec.fmt_price(self.ask or 0)}"
            )
        return (
            f"post-only order would cross: sell price {spec.fmt_price(price)} <= best bid "
            f"{spec.fmt_price(self.bid or 0)}"
        )

    def _stop_triggers(self, side: str, trigger: int | None) -> bool:
        if trigger is None:
            return False
        if side == BUY:
            return (self.ask is not None and self.ask >= trigger) or (
                self.last is not None and self.last >= trigger
            )
        return (self.bid is not None and self.bid <= trigger) or (
            self.last is not None and self.last <= trigger
        )

    def _stop_reason(self, side: str, trigger: int) -> str:
        spec = self.spec
        ref = self.ask if side == BUY else self.bid
        return (
            f"stop order would trigger immediately: {side.lower()} trigger price "
            f"{spec.fmt_price(trigger)} vs market {spec.fmt_price(ref or self.last or 0)}"
        )

    def _by_priority(self) -> list[SimOrder]:
        """Open orders, best price first then time; a snapshot, safe to mutate under."""
        orders = self._orders.values()
        if len(orders) == 1:
            return list(orders)
        return sorted(orders, key=self._priority_key)

    @staticmethod
    def _priority_key(order: SimOrder) -> tuple[int, int, int]:
        # Market-like first; then buys by descending price, sells by ascending price.
        if order.acts_as_market:
            return (0, 0, order.seq)
        px = order.price or order.trigger_price or 0
        return (1, -px if order.side == BUY else px, order.seq)

    def _on_arrival(self, order: SimOrder, out: list[Fill | Status], ts: int) -> None:
        """Take liquidity on arrival (or trigger) and apply IOC/FOK to the rest."""
        tif = order.time_in_force
        if tif == "FOK":
            avail = self._takeable(order)
            if avail < order.leaves:
                self._close(order, CANCELED, out, ts)
                return
        self._take(order, out, ts)
        if tif in ("IOC", "FOK") and order.is_open:
            self._close(order, CANCELED, out, ts)

    def _takeable(self, order: SimOrder) -> int:
        """Displayed size this order could take now at the opposite quote."""
        limit = None
        if order.acts_as_limit:
            limit = order.price
            assert limit is not None  # _validate: an order acting as a limit has a price
        if order.side == BUY:
            if self.ask is None or (limit is not None and limit < self.ask):
                return 0
            return self._ask_avail
        if self.bid is None or (limit is not None and limit > self.bid):
            return 0
        return self._bid_avail

    def _take(self, order: SimOrder, out: list[Fill | Status], ts: int) -> None:
        qty = min(order.leaves, self._takeable(order))
        if qty <= 0:
            return
        if order.side == BUY:
            self._ask_avail -= qty
            price = self.ask
        else:
            self._bid_avail -= qty
            price = self.bid
        assert price is not None  # _takeable is 0 without the opposite quote
        self._fill(order, qty, price, TAKER, out, ts)

    def _maker_fill_from_quote(self, order: SimOrder, out: list[Fill | Status], ts: int) -> None:
        if order.side == BUY:
            qty = min(order.leaves, self._ask_avail)
            self._ask_avail -= qty
        else:
            qty = min(order.leaves, self._bid_avail)
            self._bid_avail -= qty
        if qty > 0:
            assert order.price is not None  # only limit-acting orders make liquidity
            self._fill(order, qty, order.price, MAKER, out, ts)

    def _trigger(self, order: SimOrder, out: list[Fill | Status], ts: int) -> None:
        order.triggered = True
        order.ts_last = ts
        if order.order_type == STOP_LIMIT:
            order.status = "TRIGGERED"
            out.append(Status(TRIGGERED, order, ts=ts))
        if self.account is not None:
            self.account.reserve(order, self.spec, self._reference_price(order))
        self._on_arrival(order, out, ts)

    def _fill(
        self, order: SimOrder, qty: int, price: int, liq: str, out: list[Fill | Status], ts: int
    ) -> None:
        self._fill_seq += 1
        order.filled += qty
        order.notional_filled += qty * price
        order.avg_px = order.notional_filled / order.filled / 10**self.spec.price_precision
        order.ts_last = ts
        fill = Fill(
            order,
            qty,
            price,
            liq,
            f"{self._trade_prefix}-{self._fill_seq}",
            self.spec.commission(qty, price, liq),
            ts,
        )
        if self.account is not None:
            self.account.apply_fill(fill, self.spec)
        out.append(fill)
        if order.leaves == 0:
            order.status = "FILLED"
            self._retire(order)
        else:
            order.status = "PARTIALLY_FILLED"
            if self.account is not None:
                self.account.reserve(order, self.spec, self._reference_price(order))

    def _close(self, order: SimOrder, kind: str, out: list[Fill | Status], ts: int) -> None:
        order.status = kind
        order.ts_last = ts
        self._retire(order)
        out.append(Status(kind, order, ts=ts))

    def _retire(self, order: SimOrder) -> None:
        if self._orders.pop(order.client_order_id, None) is not None:
            self._best.remove(order)
        self._closed[order.client_order_id] = order
        if len(self._closed) > self._max_closed:
            del self._closed[next(iter(self._closed))]
        if self.account is not None:
            self.account.release(order)

    def _note_expiry(self, ts: int) -> None:
        if self._next_expiry is None or ts < self._next_expiry:
            self._next_expiry = ts

    def _expire(self, out: list[Fill | Status], ts: int) -> None:
        self._next_expiry = None
        for order in list(self._orders.values()):
            exp = order.expire_time_ns
            if exp is None or order.time_in_force not in ("GTD", "DAY"):
                continue
            if exp <= ts:
                self._close(order, EXPIRED, out, ts)
            else:
                self._note_expiry(exp)
