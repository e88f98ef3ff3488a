"""Synthetic market of one instrument: a seeded random walk of quotes and trades.

Pure logic on scaled integers, no asyncio: `RandomWalk.step(ts)` returns the next
`RawQuote` and, with probability ``trade_probability``, a `RawTrade`. The venue
turns them into model ticks and feeds them to matching; the feed scheduler
decides *when* to step.

Shape of the market (chosen to look like a liquid crypto book):
- the mid follows a geometric random walk: ``mid *= exp(volatility * N(0, 1))``;
- the spread is ``spread_ticks`` price increments plus a random extra of 0, 1 or
  2 increments (70/20/10 %), so ask > bid always, both on the increment grid;
- displayed sizes are exponential around ``mean_size``, on the size increment,
  at least one increment;
- a trade prints at the bid (seller aggressor) or the ask (buyer aggressor) with
  a size exponential around ``mean_size / 2`` capped at the displayed size.

Each instrument's generator is seeded from ``f"{seed}:{symbol}"`` so adding an
instrument never changes another instrument's path.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from livenode.venues.sim.orders import InstrumentSpec

BUYER = "BUYER"
SELLER = "SELLER"


@dataclass(frozen=True, slots=True)
class RawQuote:
    bid: int
    ask: int
    bid_size: int
    ask_size: int
    ts: int


@dataclass(frozen=True, slots=True)
class RawTrade:
    price: int
    size: int
    aggressor: str  # BUYER | SELLER
    trade_id: str
    ts: int


def to_raw(value: str | float, precision: int) -> int:
    """A decimal string (or float) as a raw integer at ``precision`` (rounded half up)."""
    try:
        dec = Decimal(str(value))
        if not dec.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    return int((dec * (10**precision)).to_integral_value(ROUND_HALF_UP))


class RandomWalk:
    """Deterministic (given seed and symbol) quote/trade generator for one instrument."""

    def __init__(
        self,
        spec: InstrumentSpec,
        seed: int,
        start_price: str,
        volatility: float,
        spread_ticks: int,
        mean_size: str,
        trade_probability: float,
    ) -> None:
        self.spec = spec
        self._rng = random.Random(f"{seed}:{spec.symbol}")
        self._inc = spec.price_increment
        self._size_inc = spec.size_increment
        self._mid = float(to_raw(start_price, spec.price_precision))
        self._vol = volatility
        self._spread = max(1, spread_ticks) * self._inc
        self._mean_size = max(float(to_raw(mean_size, spec.size_precision)), float(self._size_inc))
        self._trade_p = trade_probability
        self._trade_seq = 0
        self._floor = 10 * self._inc  # the walk never goes below ten ticks

    def _size(self, mean: float) -> int:
        units = int(self._rng.expovariate(1.0 / mean) / self._size_inc)
        return max(1, units) * self._size_inc

    def step(self, ts: int) -> tuple[RawQuote, RawTrade | None]:
        """Advance the walk one quote update; maybe print a trade at the new quote."""
        rng = self._rng
        self._mid *= math.exp(self._vol * rng.gauss(0.0, 1.0))
        if self._mid < self._floor:
            self._mid = float(self._floor)
        r = rng.random()
        extra = 0 if r < 0.7 else (1 if r < 0.9 else 2)
        spread = self._spread + extra * self._inc
        inc = self._inc
        bid = int((self._mid - spread / 2) // inc) * inc
        if bid < inc:
            bid = inc
        ask = bid + spread
        quote = RawQuote(bid, ask, self._size(self._mean_size), self._size(self._mean_size), ts)
        trade = None
        if rng.random() < self._trade_p:
            self._trade_seq += 1
            if rng.random() < 0.5:
                price, aggressor, cap = ask, BUYER, quote.ask_size
            else:
                price, aggressor, cap = bid, SELLER, quote.bid_size
            size = min(self._size(self._mean_size / 2), cap)
            trade = RawTrade(price, size, aggressor, f"{self.spec.symbol}-M{self._trade_seq}", ts)
        return quote, trade
