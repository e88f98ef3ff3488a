"""Value types of the sim venue's matching: instrument spec, orders, actions.

Plain data on scaled integers (prices at the instrument's price precision,
quantities at its size precision), shared by the matching engine and the
account. String constants mirror the model enums' values so the venue converts
with a dict lookup at its edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

BUY = "BUY"
SELL = "SELL"
MARKET = "MARKET"
LIMIT = "LIMIT"
STOP_MARKET = "STOP_MARKET"
STOP_LIMIT = "STOP_LIMIT"
MAKER = "MAKER"
TAKER = "TAKER"

# Status action kinds; the names are those of the order events the venue emits.
ACCEPTED = "ACCEPTED"
REJECTED = "REJECTED"
CANCELED = "CANCELED"
EXPIRED = "EXPIRED"
TRIGGERED = "TRIGGERED"
UPDATED = "UPDATED"
MODIFY_REJECTED = "MODIFY_REJECTED"
CANCEL_REJECTED = "CANCEL_REJECTED"

DAY_NS = 86_400_000_000_000


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """What matching and the account need to know about an instrument, in raw integers."""

    symbol: str
    kind: str  # "spot" | "perpetual"
    base: str
    quote: str
    price_precision: int
    size_precision: int
    price_increment: int  # raw at price_precision
    size_increment: int  # raw at size_precision
    min_quantity: int | None  # raw at size_precision
    max_quantity: int | None
    min_notional: Fraction | None  # in quote currency units
    max_notional: Fraction | None
    maker_fee: Fraction
    taker_fee: Fraction
    fee_precision: int  # precision of the commission (quote/settlement) currency

    def notional(self, qty: int, price: int) -> Fraction:
        """Exact notional value of ``qty`` at ``price`` in quote currency units."""
        return Fraction(qty * price, 10 ** (self.size_precision + self.price_precision))

    def commission(self, qty: int, price: int, liquidity: str) -> int:
        """Commission raw at ``fee_precision``, rounded up (venue's favour)."""
        rate = self.maker_fee if liquidity == MAKER else self.taker_fee
        value: Fraction = self.notional(qty, price) * rate * 10**self.fee_precision
        return -((-value.numerator) // value.denominator)

    def fmt_price(self, raw: int) -> str:
        return fmt_raw(raw, self.price_precision)

    def fmt_qty(self, raw: int) -> str:
        return fmt_raw(raw, self.size_precision)


def fmt_raw(raw: int, precision: int) -> str:
    """Render a raw integer as a decimal string, for rejection reasons."""
    if precision == 0:
        return str(raw)
    sign = "-" if raw < 0 else ""
    digits = str(abs(raw)).rjust(precision + 1, "0")
    return f"{sign}{digits[:-precision]}.{digits[-precision:]}"


@dataclass(slots=True, eq=False)
class SimOrder:
    """An order as the venue holds it; ``tag`` is the venue's opaque per-order data."""

    client_order_id: str
    venue_order_id: str
    side: str
    order_type: str
    quantity: int
    price: int | None = None
    trigger_price: int | None = None
    time_in_force: str = "GTC"
    expire_time_ns: int | None = None
    post_only: bool = False
    reduce_only: bool = False
    filled: int = 0
    status: str = "INITIALIZED"
    triggered: bool = False
    seq: int = 0
    ts_accepted: int = 0
    ts_last: int = 0
    avg_px: float | None = None
    tag: Any = None
    notional_filled: int = field(default=0)  # sum qty*px raw, for avg_px

    @property
    def leaves(self) -> int:
        return self.quantity - self.filled

    @property
    def is_open(self) -> bool:
        return self.status in ("ACCEPTED", "PARTIALLY_FILLED", "TRIGGERED")

    @property
    def is_stop(self) -> bool:
        return self.order_type in (STOP_MARKET, STOP_LIMIT)

    @property
    def acts_as_market(self) -> bool:
        """A market order, or a stop-market that has triggered."""
        return self.order_type == MARKET or (self.order_type == STOP_MARKET and self.triggered)

    @property
    def acts_as_limit(self) -> bool:
        return self.order_type == LIMIT or (self.order_type == STOP_LIMIT and self.triggered)


@dataclass(frozen=True, slots=True)
class Fill:
    order: SimOrder
    qty: int
    price: int
    liquidity: str
    trade_id: str
    commission: int  # raw at spec.fee_precision
    ts: int


@dataclass(frozen=True, slots=True)
class Status:
    kind: str
    order: SimOrder
    reason: str = ""
    ts: int = 0


class AccountHooks(Protocol):
    """The account the engine reserves funds with and books fills to."""

    def reserve(self, order: SimOrder, spec: InstrumentSpec, price: int) -> str | None:
        """Lock funds for the order's leaves at ``price``; a reason if insufficient."""

    def release(self, order: SimOrder) -> None:
        """Unlock whatever the order holds."""

    def apply_fill(self, fill: Fill, spec: InstrumentSpec) -> None:
        """Book a fill to balances and positions."""

    def position(self, symbol: str) -> int:
        """Signed net position raw at the instrument's size precision."""


def check_quantity(spec: InstrumentSpec, qty: int) -> str | None:
    """Why ``qty`` is not a valid order quantity of ``spec``, or None."""
    if qty <= 0:
        return f"quantity {spec.fmt_qty(qty)} must be positive"
    if qty % spec.size_increment:
        return (
            f"quantity {spec.fmt_qty(qty)} is not a multiple of the size increment "
            f"{spec.fmt_qty(spec.size_increment)}"
        )
    if spec.min_quantity is not None and qty < spec.min_quantity:
        return (
            f"quantity {spec.fmt_qty(qty)} is below the minimum quantity "
            f"{spec.fmt_qty(spec.min_quantity)}"
        )
    if spec.max_quantity is not None and qty > spec.max_quantity:
        return (
            f"quantity {spec.fmt_qty(qty)} is above the maximum quantity "
            f"{spec.fmt_qty(spec.max_quantity)}"
        )
    return None


def check_price(spec: InstrumentSpec, price: int | None, what: str) -> str | None:
    """Why ``price`` (named ``what`` in the reason) is invalid for ``spec``, or None."""
    if price is None:
        return None
    if price <= 0:
        return f"{what} {spec.fmt_price(price)} must be positive"
    if price % spec.price_increment:
        return (
            f"{what} {spec.fmt_price(price)} is not a multiple of the price increment "
            f"{spec.fmt_price(spec.price_increment)}"
        )
    return None


def check_notional(spec: InstrumentSpec, qty: int, price: int) -> str | None:
    """Why ``qty`` at ``price`` is outside the notional limits of ``spec``, or None."""
    notional = spec.notional(qty, price)
    if spec.min_notional is not None and notional < spec.min_notional:
        return (
            f"notional {float(notional):g} {spec.quote} is below the minimum notional "
            f"{float(spec.min_notional):g} {spec.quote}"
        )
    if spec.max_notional is not None and notional > spec.max_notional:
        return (
            f"notional {float(notional):g} {spec.quote} is above the maximum notional "
            f"{float(spec.max_notional):g} {spec.quote}"
        )
    return None
