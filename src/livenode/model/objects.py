"""Value types: `Currency` and the fixed-point `Price`, `Quantity` and `Money`.

A fixed-point value holds `raw: int` and `precision: int`; its value is exactly
`raw / 10**precision` (precision 0..16, raw within a signed 64-bit int so it fits
msgpack and the shared-memory tables).

Semantics, chosen for exactness and speed:

* Equality, ordering and hashing are by *value*, across precisions:
  `Price(10000, 2) == Price(100000, 3)` and both hash alike. A value also
  compares exactly with `int`, `Decimal` and `float` (a float by its exact
  binary value, like `Decimal` does: `Price.from_str("0.1") != 0.1`), and
  hashes like an equal number. Different types never compare equal
  (`Price(1, 0) != Quantity(1, 0)`); ordering them raises `TypeError`.
* `+`/`-` with the same type return that type at the larger precision, exact.
  Mixing types (e.g. `Price + 1`) raises `TypeError`.
* `*` by an `int` returns the same type, exact. `*` or `/` by `float` returns
  `float`. `*` by a fixed-point value or a `Decimal`, and `/` by anything that is
  not a float, return `Decimal` (multiplication exact, division rounded to the
  current decimal context).
* A `Quantity` is never negative: an operation that would make one raises ValueError.
* `Money` adds, subtracts and orders only with the same currency (ValueError otherwise).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, ClassVar, Self

from livenode.model.fixed_point import (
    MAX_PRECISION,
    POW10,
    RAW_MAX,
    RAW_MIN,
    check_precision,
    format_fixed,
    numeric_hash,
    parse_decimal,
    raw_from_value,
    to_decimal,
)
from livenode.model.messages import ValueStruct


class Currency(ValueStruct, frozen=True):
    """A currency or asset: its code and the precision money in it is kept at."""

    code: str
    precision: int

    def __post_init__(self) -> None:
        code = self.code
        if type(code) is not str or not code or not code.isalnum() or not code.isupper():
            raise ValueError(f"invalid Currency code {code!r}: expected uppercase letters/digits")
        check_precision(self.precision, "Currency")

    @classmethod
    def from_str(cls, code: str) -> Currency:
        """The known currency with this code (USD, USDT, USDC, EUR, GBP, JPY, BTC, ETH)."""
        try:
            return _KNOWN_CURRENCIES[code]
        except (KeyError, TypeError):
            known = ", ".join(_KNOWN_CURRENCIES)
            raise ValueError(f"unknown Currency {code!r}: known codes are {known}") from None

    def __str__(self) -> str:
        return self.code

    def __repr__(self) -> str:
        return f"Currency({self.code!r}, {self.precision})"


USD = Currency("USD", 2)
EUR = Currency("EUR", 2)
GBP = Currency("GBP", 2)
JPY = Currency("JPY", 0)
USDT = Currency("USDT", 8)
USDC = Currency("USDC", 8)
BTC = Currency("BTC", 8)
ETH = Currency("ETH", 8)
_KNOWN_CURRENCIES: dict[str, Currency] = {
    c.code: c for c in (USD, USDT, USDC, EUR, GBP, JPY, BTC, ETH)
}


class FixedPoint(ValueStruct, frozen=True):
    """Shared behaviour of `Price`, `Quantity` and `Money` (see the module doc)."""

    raw: int
    precision: int

    _raw_min: ClassVar[int] = RAW_MIN

    def __post_init__(self) -> None:
        # One chained test keeps this cheap: it runs for every decoded value.
        # (Decoding already guarantees ints; construction in code does not.)
        raw = self.raw
        precision = self.precision
        if not (
            type(raw) is int
            and RAW_MIN <= raw <= RAW_MAX
            and type(precision) is int
            and 0 <= precision <= MAX_PRECISION
        ):
            raise self._invalid()

    def _invalid(self) -> ValueError:
        name = type(self).__name__
        if type(self.precision) is not int or not 0 <= self.precision <= MAX_PRECISION:
            return ValueError(
                f"invalid {name} precision {self.precision!r}: "
                f"expected an int in [0, {MAX_PRECISION}]"
            )
        if type(self.raw) is not int:
            return ValueError(f"invalid {name} raw {self.raw!r}: expected an int")
        if self.raw < self._raw_min:
            bound = "non-negative" if self._raw_min == 0 else f">= {self._raw_min}"
            return ValueError(
                f"invalid {name} {format_fixed(self.raw, self.precision)}: must be {bound}"
            )
        return ValueError(f"invalid {name} raw {self.raw}: out of the signed 64-bit range")

    # -- construction -----------------------------------------------------

    def _make(self, raw: int, precision: int) -> Self:
        """A value of the same type (and currency, for Money)."""
        return type(self)(raw, precision)

    @classmethod
    def from_raw(cls, raw: int, precision: int) -> Self:
        """From the scaled integer: value = raw / 10**precision."""
        return cls(raw, precision)

    # -- conversion -------------------------------------------------------

    def as_double(self) -> float:
        """Nearest float (correctly rounded)."""
        return self.raw / POW10[self.precision]

    def __float__(self) -> float:
        return self.raw / POW10[self.precision]

    def as_decimal(self) -> Decimal:
        """Exact `Decimal` with `precision` fractional digits."""
        return to_decimal(self.raw, self.precision)

    def __str__(self) -> str:
        return format_fixed(self.raw, self.precision)

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{format_fixed(self.raw, self.precision)}')"

    def __bool__(self) -> bool:
        return self.raw != 0

    def is_zero(self) -> bool:
        """True if the value is zero."""
        return self.raw == 0

    def is_positive(self) -> bool:
        """True if the value is strictly positive."""
        return self.raw > 0

    # -- comparison -------------------------------------------------------

    def _comparable(self, other: object) -> tuple[Any, Any] | None:
        """Two numbers whose comparison is that of self and other; None if not comparable."""
        if type(other) is type(self):
            diff = self.precision - other.precision
            if diff == 0:
                return self.raw, other.raw
            if diff > 0:
                return self.raw, other.raw * POW10[diff]
            return self.raw * POW10[-diff], other.raw
        if isinstance(other, int):
            return self.raw, other * POW10[self.precision]
        if isinstance(other, float | Decimal):
            finite = math.isfinite(other) if isinstance(other, float) else other.is_finite()
            if not finite:
                return self.as_double(), float(other)  # inf / nan semantics of float
            num, den = other.as_integer_ratio()
            return self.raw * den, num * POW10[self.precision]
        return None

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self) and self.precision == other.precision:
            return self.raw == other.raw
        pair = self._comparable(other)
        if pair is None:
            return NotImplemented
        a, b = pair
        return bool(a == b)

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def _ordered(self, other: object) -> tuple[Any, Any]:
        pair = self._comparable(other)
        if pair is None:
            raise TypeError(
                f"cannot order {type(self).__name__} and {type(other).__name__}"
            )
        return pair

    def __lt__(self, other: object) -> bool:
        a, b = self._ordered(other)
        return bool(a < b)

    def __le__(self, other: object) -> bool:
        a, b = self._ordered(other)
        return bool(a <= b)

    def __gt__(self, other: object) -> bool:
        a, b = self._ordered(other)
        return bool(a > b)

    def __ge__(self, other: object) -> bool:
        a, b = self._ordered(other)
        return bool(a >= b)

    def __hash__(self) -> int:
        return numeric_hash(self.raw, self.precision)

    # -- arithmetic -------------------------------------------------------

    def _check_same(self, other: Self) -> None:
        """Hook: Money refuses to mix currencies."""

    def __add__(self, other: object) -> Self:
        if type(other) is not type(self):
            return NotImplemented
        self._check_same(other)
        p1, p2 = self.precision, other.precision
        if p1 == p2:
            return self._make(self.raw + other.raw, p1)
        if p1 > p2:
            return self._make(self.raw + other.raw * POW10[p1 - p2], p1)
        return self._make(self.raw * POW10[p2 - p1] + other.raw, p2)

    def __sub__(self, other: object) -> Self:
        if type(other) is not type(self):
            return NotImplemented
        self._check_same(other)
        p1, p2 = self.precision, other.precision
        if p1 == p2:
            return self._make(self.raw - other.raw, p1)
        if p1 > p2:
            return self._make(self.raw - other.raw * POW10[p1 - p2], p1)
        return self._make(self.raw * POW10[p2 - p1] - other.raw, p2)

    def __neg__(self) -> Self:
        return self._make(-self.raw, self.precision)

    def __pos__(self) -> Self:
        return self

    def __abs__(self) -> Self:
        return self if self.raw >= 0 else self._make(-self.raw, self.precision)

    def __mul__(self, other: object) -> Any:
        if isinstance(other, int) and not isinstance(other, bool):
            return self._make(self.raw * other, self.precision)
        if isinstance(other, float):
            return self.as_double() * other
        if isinstance(other, FixedPoint):
            return to_decimal(self.raw * other.raw, self.precision + other.precision)
        if isinstance(other, Decimal):
            return self.as_decimal() * other
        return NotImplemented

    def __rmul__(self, other: object) -> Any:
        if isinstance(other, FixedPoint):
            return NotImplemented
        return self.__mul__(other)

    def __truediv__(self, other: object) -> Any:
        if isinstance(other, float):
            return self.as_double() / other
        if isinstance(other, FixedPoint):
            return self.as_decimal() / other.as_decimal()
        if isinstance(other, int | Decimal):
            return self.as_decimal() / other
        return NotImplemented

    def __rtruediv__(self, other: object) -> Any:
        if isinstance(other, float):
            return other / self.as_double()
        if isinstance(other, int | Decimal):
            return Decimal(other) / self.as_decimal()
        return NotImplemented


class Price(FixedPoint, frozen=True):
    """A price (may be negative, e.g. a spread): `Price(raw, precision)`."""

    @classmethod
    def from_str(cls, value: str) -> Price:
        """Parse "100.25"; the precision is the number of fractional digits given."""
        raw, precision = parse_decimal(value, cls.__name__)
        return cls(raw, precision)

    @classmethod
    def new(cls, value: int | float | str | Decimal, precision: int) -> Price:
        """The value rounded half-to-even at `precision` (a float by its shortest repr)."""
        return cls(raw_from_value(value, precision, cls.__name__), precision)


class Quantity(FixedPoint, frozen=True):
    """A non-negative quantity: `Quantity(raw, precision)`; negative raises ValueError."""

    _raw_min: ClassVar[int] = 0

    def __post_init__(self) -> None:
        raw = self.raw
        precision = self.precision
        if not (
            type(raw) is int
            and 0 <= raw <= RAW_MAX
            and type(precision) is int
            and 0 <= precision <= MAX_PRECISION
        ):
            raise self._invalid()

    @classmethod
    def from_str(cls, value: str) -> Quantity:
        """Parse "0.500"; the precision is the number of fractional digits given."""
        raw, precision = parse_decimal(value, cls.__name__)
        return cls(raw, precision)

    @classmethod
    def new(cls, value: int | float | str | Decimal, precision: int) -> Quantity:
        """The value rounded half-to-even at `precision` (a float by its shortest repr)."""
        return cls(raw_from_value(value, precision, cls.__name__), precision)

    @classmethod
    def zero(cls, precision: int = 0) -> Quantity:
        """Zero at `precision`."""
        return cls(0, precision)


class Money(FixedPoint, frozen=True):
    """An amount of a currency (may be negative): `Money(raw, precision, currency)`."""

    currency: Currency

    def __post_init__(self) -> None:
        FixedPoint.__post_init__(self)
        if type(self.currency) is not Currency:
            raise ValueError(f"invalid Money currency {self.currency!r}: expected a Currency")

    def _make(self, raw: int, precision: int) -> Money:
        return Money(raw, precision, self.currency)

    def _check_same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(
                f"cannot combine Money in {self.currency.code} with Money in {other.currency.code}"
            )

    def _comparable(self, other: object) -> tuple[Any, Any] | None:
        if type(other) is Money and other.currency != self.currency:
            return None
        return FixedPoint._comparable(self, other)

    def _ordered(self, other: object) -> tuple[Any, Any]:
        if type(other) is Money:
            self._check_same(other)
        return FixedPoint._ordered(self, other)

    def __eq__(self, other: object) -> bool:
        if type(other) is Money and other.currency != self.currency:
            return False
        return FixedPoint.__eq__(self, other)

    def __hash__(self) -> int:
        return numeric_hash(self.raw, self.precision)

    @classmethod
    def from_raw(cls, raw: int, precision: int, currency: Currency | None = None) -> Money:
        """From the scaled integer; `currency` is required."""
        if currency is None:
            raise ValueError("Money.from_raw needs a currency")
        return cls(raw, precision, currency)

    @classmethod
    def new(cls, value: int | float | str | Decimal, currency: Currency) -> Money:
        """The value rounded half-to-even at the currency's precision."""
        return cls(
            raw_from_value(value, currency.precision, cls.__name__), currency.precision, currency
        )

    @classmethod
    def zero(cls, currency: Currency) -> Money:
        """Zero of `currency`, at its precision."""
        return cls(0, currency.precision, currency)

    @classmethod
    def from_str(cls, value: str) -> Money:
        """Parse "100.50 USD" (known currency codes only); precision from the digits."""
        amount, _, code = value.strip().partition(" ")
        if not code:
            raise ValueError(f"invalid Money {value!r}: expected '<amount> <CURRENCY>'")
        raw, precision = parse_decimal(amount, cls.__name__)
        return cls(raw, precision, Currency.from_str(code.strip()))

    def __str__(self) -> str:
        return f"{format_fixed(self.raw, self.precision)} {self.currency.code}"

    def __repr__(self) -> str:
        return f"Money('{format_fixed(self.raw, self.precision)}', {self.currency.code})"


class AccountBalance(ValueStruct, frozen=True):
    """A balance in one currency: `total == locked + free`, all in the same currency."""

    total: Money
    locked: Money
    free: Money

    def __post_init__(self) -> None:
        currency = self.total.currency
        if self.locked.currency != currency or self.free.currency != currency:
            raise ValueError(
                f"invalid AccountBalance: currencies differ ({self.total.currency.code}, "
                f"{self.locked.currency.code}, {self.free.currency.code})"
            )
        if self.locked + self.free != self.total:
            raise ValueError(
                f"invalid AccountBalance: total {self.total} != "
                f"locked {self.locked} + free {self.free}"
            )

    @property
    def currency(self) -> Currency:
        """The currency of the balance."""
        return self.total.currency


__all__ = [
    "BTC",
    "ETH",
    "EUR",
    "GBP",
    "JPY",
    "USD",
    "USDC",
    "USDT",
    "AccountBalance",
    "Currency",
    "FixedPoint",
    "Money",
    "Price",
    "Quantity",
]
