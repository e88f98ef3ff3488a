"""The simulated venue's cash account: balances, funds locked by open orders, positions.

Pure logic on scaled integers (each currency at its own precision), like the
matching engine it serves. Rules:

- Spot: a buy locks ``leaves * price * (1 + taker_fee)`` of the quote currency,
  a sell locks ``leaves`` of the base currency. A buy fill moves quote to base,
  a sell fill base to quote; the commission is always charged in the quote
  currency.
- Perpetual (linear, settled in the quote currency): an order locks margin
  ``leaves * price / leverage`` plus the taker fee (a reduce-only order locks
  nothing); an open position locks ``|cost| / leverage``; a fill books realized
  PnL and commission to the settlement balance.
- With ``reject_when_insufficient_balance`` an order whose lock exceeds the free
  balance is rejected, naming the amounts; without it balances may go negative.
  A market order is checked at the quote it takes; a later fill at a worse price
  is booked as it happens (the free balance may dip below zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from livenode.venues.sim.orders import BUY, Fill, InstrumentSpec, SimOrder
from livenode.venues.sim.orders import fmt_raw as _fmt_raw


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


def _fmt(raw: int, precision: int) -> str:
    """Raw integer as a decimal string (Python 3.11's Fraction has no format spec)."""
    return _fmt_raw(raw, precision)


@dataclass(slots=True)
class NetPosition:
    """Net position of one instrument: signed quantity raw and signed cost raw.

    ``cost`` is ``sum(qty * price)`` of the open quantity at precision
    size_precision + price_precision, so the average entry is ``cost / qty``.
    """

    qty: int = 0
    # Exact (a Fraction once a partial close splits it): rounding it on each partial
    # close would make realized PnL drift from what the fills say.
    cost: Fraction | int = 0
    realized: Fraction = Fraction(0)
    ts_opened: int = 0
    ts_last: int = 0


class SimCashAccount:
    """Balances per currency (raw at that currency's precision) and their locks."""

    def __init__(
        self,
        starting_balances: dict[str, int],
        precisions: dict[str, int],
        leverage: int = 1,
        reject_when_insufficient_balance: bool = True,
    ) -> None:
        self.precisions = dict(precisions)
        self.totals: dict[str, int] = dict(starting_balances)
        self.leverage = max(1, leverage)
        self.reject_when_insufficient = reject_when_insufficient_balance
        self._locks: dict[str, tuple[str, int]] = {}  # client order id -> (currency, raw)
        self._locked: dict[str, int] = {}  # currency -> sum of order locks
        self.positions: dict[str, NetPosition] = {}
        self._perp_specs: dict[str, InstrumentSpec] = {}

    # -- queries ----------------------------------------------------------------------

    def precision(self, currency: str) -> int:
        return self.precisions.get(currency, 8)

    def locked(self, currency: str) -> int:
        """Funds locked by open orders and (for perpetuals) by open positions."""
        locked = self._locked.get(currency, 0)
        for symbol, spec in self._perp_specs.items():
            pos = self.positions.get(symbol)
            if pos is not None and pos.qty and spec.quote == currency:
                locked += self._to_ccy(
                    abs(Fraction(pos.cost)) / 10 ** (spec.size_precision + spec.price_precision)
                    / self.leverage,
                    currency,
                )
        return locked

    def free(self, currency: str) -> int:
        return self.totals.get(currency, 0) - self.locked(currency)

    def currencies(self) -> list[str]:
        return list(self.totals)

    def position(self, symbol: str) -> int:
        pos = self.positions.get(symbol)
        return pos.qty if pos is not None else 0

    def locks(self) -> dict[str, tuple[str, int]]:
        """Funds locked per open order: client order id -> (currency, raw)."""
        return dict(self._locks)

    def restore(
        self,
        totals: dict[str, int],
        locks: dict[str, tuple[str, int]],
        positions: dict[str, NetPosition],
        perp_specs: dict[str, InstrumentSpec],
    ) -> None:
        """Take back a stored account (the venue's state file)."""
        self.totals = dict(totals)
        self._locks = dict(locks)
        self._locked = {}
        for currency, amount in self._locks.values():
            self._locked[currency] = self._locked.get(currency, 0) + amount
        self.positions = dict(positions)
        self._perp_specs = {s: spec for s, spec in perp_specs.items() if s in self.positions}

    # -- AccountHooks -----------------------------------------------------------------

    def reserve(self, order: SimOrder, spec: InstrumentSpec, price: int) -> str | None:
        currency, amount = self._requirement(order, spec, price)
        held = self._locks.get(order.client_order_id)
        held_amount = held[1] if held is not None and held[0] == currency else 0
        if self.reject_when_insufficient and amount > held_amount:
            free = self.free(currency) + held_amount
            if amount > free:
                prec = self.precision(currency)
                return (
                    f"insufficient balance: need {_fmt(amount, prec)} {currency}, "
                    f"free {_fmt(free, prec)} {currency}"
                )
        self.release(order)
        if amount:
            self._locks[order.client_order_id] = (currency, amount)
            self._locked[currency] = self._locked.get(currency, 0) + amount
        return None

    def release(self, order: SimOrder) -> None:
        held = self._locks.pop(order.client_order_id, None)
        if held is not None:
            self._locked[held[0]] -= held[1]

    def apply_fill(self, fill: Fill, spec: InstrumentSpec) -> None:
        order = fill.order
        signed = fill.qty if order.side == BUY else -fill.qty
        pos = self.positions.get(spec.symbol)
        if pos is None:
            pos = self.positions[spec.symbol] = NetPosition(ts_opened=fill.ts)
        realized = self._apply_position(pos, signed, fill.price, spec, fill.ts)
        quote = spec.quote
        self.totals[quote] = self.totals.get(quote, 0) - fill.commission
        if spec.kind == "perpetual":
            self._perp_specs[spec.symbol] = spec
            self.totals[quote] += self._to_ccy(realized, quote, exact_floor=True)
            return
        notional = spec.notional(fill.qty, fill.price)
        base_qty = self._to_ccy(Fraction(fill.qty, 10**spec.size_precision), spec.base)
        if order.side == BUY:
            self.totals[quote] -= self._to_ccy(notional, quote)
            self.totals[spec.base] = self.totals.get(spec.base, 0) + base_qty
        else:
            self.totals[quote] += self._to_ccy(notional, quote, exact_floor=True)
            self.totals[spec.base] = self.totals.get(spec.base, 0) - base_qty

    # -- internals --------------------------------------------------------------------

    def _requirement(self, order: SimOrder, spec: InstrumentSpec, price: int) -> tuple[str, int]:
        leaves = order.leaves
        if spec.kind == "perpetual":
            if order.reduce_only:
                return spec.quote, 0
            notional = spec.notional(leaves, price)
            need = notional / self.leverage + notional * max(spec.taker_fee, Fraction(0))
            return spec.quote, self._to_ccy(need, spec.quote)
        if order.side == BUY:
            notional = spec.notional(leaves, price)
            need = notional * (1 + max(spec.taker_fee, Fraction(0)))
            return spec.quote, self._to_ccy(need, spec.quote)
        return spec.base, self._to_ccy(Fraction(leaves, 10**spec.size_precision), spec.base)

    def _to_ccy(self, value: Fraction, currency: str, exact_floor: bool = False) -> int:
        """Units of ``currency`` as raw; debits round up, credits (exact_floor) down."""
        scaled: Fraction = value * 10 ** self.precision(currency)
        if exact_floor:
            return scaled.numerator // scaled.denominator
        return _ceil(scaled)

    @staticmethod
    def _apply_position(
        pos: NetPosition, signed: int, price: int, spec: InstrumentSpec, ts: int
    ) -> Fraction:
        """Update the net position; return the realized PnL in quote units."""
        scale = 10 ** (spec.size_precision + spec.price_precision)
        realized = Fraction(0)
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            if pos.qty == 0:
                pos.ts_opened = ts
            pos.qty += signed
            pos.cost += signed * price
        else:
            closing = min(abs(signed), abs(pos.qty))
            direction = 1 if pos.qty > 0 else -1
            # Average entry cost of the closed part, then PnL = (exit - entry) * qty * dir.
            entry_cost = Fraction(pos.cost) * closing / abs(pos.qty)
            realized = (Fraction(closing * price) - direction * entry_cost) * direction / scale
            pos.cost = Fraction(pos.cost) - entry_cost
            pos.qty += direction * -closing
            if pos.qty == 0:
                pos.cost = 0
            rest = abs(signed) - closing
            if rest:
                pos.ts_opened = ts
                pos.qty = rest if signed > 0 else -rest
                pos.cost = pos.qty * price
        pos.realized += realized
        pos.ts_last = ts
        return realized
