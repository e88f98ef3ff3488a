"""Instruments: the tradable contracts and their price/size rules.

`Instrument` is the common base (and `AnyInstrument` the union of the concrete
types). Both concrete types are linear: notional and PnL are in the quote
currency, `notional = quantity * price * multiplier`.

Fields are keyword-only: there are many of them and a positional mix-up between
two `Quantity` fields would go unnoticed.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from livenode.model.enums import LiquiditySide
from livenode.model.fixed_point import div_round_half_even, parse_decimal, raw_from_value
from livenode.model.identifiers import InstrumentId, Symbol, Venue
from livenode.model.messages import Message
from livenode.model.objects import Currency, Money, Price, Quantity


@lru_cache(maxsize=1024)
def _fee_rate(text: str) -> tuple[int, int]:
    # Fees are stored as decimal strings; parsing one per commission would cost a
    # Decimal per fill, so the (raw, precision) pair is memoised.
    return parse_decimal(text, "fee rate")


class Instrument(Message, frozen=True, kw_only=True):
    """Common fields and helpers of every instrument (use a concrete subclass)."""

    id: InstrumentId
    base_currency: Currency
    quote_currency: Currency
    settlement_currency: Currency
    price_precision: int
    size_precision: int
    price_increment: Price
    size_increment: Quantity
    multiplier: Quantity = Quantity(1, 0)
    min_quantity: Quantity | None = None
    max_quantity: Quantity | None = None
    min_notional: Money | None = None
    max_notional: Money | None = None
    maker_fee: str = "0"
    taker_fee: str = "0"
    ts_event: int
    ts_init: int

    def __post_init__(self) -> None:
        name = f"{type(self).__name__} {self.id}"
        if self.price_increment.precision != self.price_precision:
            raise ValueError(
                f"invalid {name}: price_increment {self.price_increment} has precision "
                f"{self.price_increment.precision}, price_precision is {self.price_precision}"
            )
        if self.size_increment.precision != self.size_precision:
            raise ValueError(
                f"invalid {name}: size_increment {self.size_increment} has precision "
                f"{self.size_increment.precision}, size_precision is {self.size_precision}"
            )
        if self.price_increment.raw <= 0 or self.size_increment.raw <= 0:
            raise ValueError(f"invalid {name}: increments must be positive")
        if self.multiplier.raw <= 0:
            raise ValueError(f"invalid {name}: multiplier must be positive")
        for field in ("maker_fee", "taker_fee"):
            text = getattr(self, field)
            try:
                _fee_rate(text)
            except (ValueError, TypeError):
                raise ValueError(
                    f"invalid {name}: {field} {text!r} is not a decimal string like '0.001'"
                ) from None

    # -- identity -----------------------------------------------------------

    @property
    def symbol(self) -> Symbol:
        """The instrument's symbol."""
        return self.id.symbol

    @property
    def venue(self) -> Venue:
        """The instrument's venue."""
        return self.id.venue

    # -- values at the instrument's precision ---------------------------------

    def make_price(self, value: int | float | str | Decimal | Price) -> Price:
        """`value` as a Price at `price_precision`, rounded half to even.

        Rounds to the precision, not to the increment: check that with
        `is_price_on_increment`.
        """
        return Price(raw_from_value(value, self.price_precision, "Price"), self.price_precision)

    def make_qty(self, value: int | float | str | Decimal | Quantity) -> Quantity:
        """`value` as a Quantity at `size_precision`, rounded half to even."""
        return Quantity(raw_from_value(value, self.size_precision, "Quantity"), self.size_precision)

    def is_price_on_increment(self, price: Price) -> bool:
        """True if `price` is an exact multiple of `price_increment`."""
        return _on_increment(price.raw, price.precision, self.price_increment)

    def is_qty_on_increment(self, quantity: Quantity) -> bool:
        """True if `quantity` is an exact multiple of `size_increment`."""
        return _on_increment(quantity.raw, quantity.precision, self.size_increment)

    # -- money ------------------------------------------------------------------

    def notional_value(self, quantity: Quantity, price: Price) -> Money:
        """`quantity * price * multiplier` in the quote currency, rounded half to even."""
        currency = self.quote_currency
        m = self.multiplier
        num = quantity.raw * price.raw * m.raw
        scale = quantity.precision + price.precision + m.precision
        return Money(_to_precision(num, scale, currency.precision), currency.precision, currency)

    def calculate_commission(
        self, quantity: Quantity, price: Price, liquidity_side: LiquiditySide
    ) -> Money:
        """Fee for a fill: notional * (maker or taker fee), in the quote currency.

        Negative fees (maker rebates) give negative commissions.
        """
        currency = self.quote_currency
        fee_raw, fee_precision = _fee_rate(
            self.maker_fee if liquidity_side is LiquiditySide.MAKER else self.taker_fee
        )
        m = self.multiplier
        num = quantity.raw * price.raw * m.raw * fee_raw
        scale = quantity.precision + price.precision + m.precision + fee_precision
        return Money(_to_precision(num, scale, currency.precision), currency.precision, currency)

    @property
    def maker_fee_decimal(self) -> Decimal:
        """The maker fee rate as a Decimal."""
        return Decimal(self.maker_fee)

    @property
    def taker_fee_decimal(self) -> Decimal:
        """The taker fee rate as a Decimal."""
        return Decimal(self.taker_fee)


def _on_increment(raw: int, precision: int, increment: Price | Quantity) -> bool:
    p = max(precision, increment.precision)
    value: int = raw * 10 ** (p - precision)
    step: int = increment.raw * 10 ** (p - increment.precision)
    return value % step == 0


def _to_precision(num: int, scale: int, precision: int) -> int:
    """`num / 10**scale` at `precision`, rounded half to even."""
    if scale <= precision:
        scaled: int = num * 10 ** (precision - scale)
        return scaled
    return div_round_half_even(num, 10 ** (scale - precision))


class CurrencyPair(Instrument, frozen=True, kw_only=True):
    """A spot currency pair, e.g. BTCUSDT: base is bought/sold, priced in quote."""


class PerpetualContract(Instrument, frozen=True, kw_only=True):
    """A linear perpetual swap (margined and settled in the quote currency)."""


#: The union of the concrete instrument types (what decodes from the bus).
AnyInstrument = CurrencyPair | PerpetualContract

__all__ = ["AnyInstrument", "CurrencyPair", "Instrument", "PerpetualContract"]
