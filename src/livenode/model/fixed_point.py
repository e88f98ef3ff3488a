"""Integer helpers behind the fixed-point value types (`objects.py`).

A fixed-point value is an integer `raw` and a `precision`: the value is exactly
`raw / 10**precision`. Everything here works on plain ints so the hot path
never touches `Decimal`; `Decimal` is only used to parse user input.
"""

from __future__ import annotations

import math
import sys
from decimal import Decimal, InvalidOperation

#: Largest supported number of decimal digits.
MAX_PRECISION = 16
#: Raw values are bounded to a signed 64-bit integer: that is what msgpack and
#: the shared-memory tables can hold.
RAW_MAX = 2**63 - 1
RAW_MIN = -RAW_MAX

#: `POW10[p] == 10**p` for every precision and every difference of precisions.
POW10: tuple[int, ...] = tuple(10**i for i in range(2 * MAX_PRECISION + 1))

_HASH_MODULUS = sys.hash_info.modulus
# Modular inverses of 10**p: lets a fixed-point value hash exactly like the equal
# int / Fraction / Decimal / float without building any of them.
_INV_POW10: tuple[int, ...] = tuple(
    pow(10**i, _HASH_MODULUS - 2, _HASH_MODULUS) for i in range(MAX_PRECISION + 1)
)


def check_precision(precision: int, type_name: str) -> None:
    """Raise ValueError unless `precision` is an int in [0, MAX_PRECISION]."""
    if type(precision) is not int or not 0 <= precision <= MAX_PRECISION:
        raise ValueError(
            f"invalid {type_name} precision {precision!r}: expected an int in [0, {MAX_PRECISION}]"
        )


def numeric_hash(raw: int, precision: int) -> int:
    """`hash(Fraction(raw, 10**precision))`, computed without the Fraction.

    Mirrors CPython's numeric hash, so equal numbers of any type hash alike.
    """
    if precision == 0:
        return hash(raw)
    h = (abs(raw) % _HASH_MODULUS) * _INV_POW10[precision] % _HASH_MODULUS
    if raw < 0:
        h = -h
    return -2 if h == -1 else h


def div_round_half_even(num: int, den: int) -> int:
    """`num / den` rounded to the nearest int, ties to even (`den > 0`)."""
    q, r = divmod(num, den)
    twice = 2 * r
    if twice > den or (twice == den and q & 1):
        q += 1
    return q


def rescale(raw: int, from_precision: int, to_precision: int) -> int:
    """Re-express `raw` at another precision, rounding half to even when digits are lost."""
    if to_precision >= from_precision:
        return raw * POW10[to_precision - from_precision]
    return div_round_half_even(raw, POW10[from_precision - to_precision])


def format_fixed(raw: int, precision: int) -> str:
    """Format exactly with `precision` fractional digits, e.g. (10025, 2) -> "100.25"."""
    if precision == 0:
        return str(raw)
    digits = str(abs(raw)).rjust(precision + 1, "0")
    text = f"{digits[:-precision]}.{digits[-precision:]}"
    return f"-{text}" if raw < 0 else text


def to_decimal(raw: int, precision: int) -> Decimal:
    """Exact `Decimal` of a fixed-point value (string construction never rounds)."""
    return Decimal(f"{raw}E-{precision}") if precision else Decimal(raw)


def _finite_decimal(text: object, type_name: str) -> Decimal:
    """Parse a decimal string, refusing non-finite and absurd magnitudes.

    The magnitude check matters: "1e999999999" is a valid Decimal, but turning
    it into an int would take forever; nothing beyond ~1e19 fits a raw anyway.
    """
    try:
        value = Decimal(text.strip()) if isinstance(text, str) else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise ValueError(f"invalid {type_name} {text!r}: expected a finite decimal number")
    if value and value.adjusted() > 2 * MAX_PRECISION + 4:
        raise ValueError(f"invalid {type_name} {text!r}: out of range")
    return value


def parse_decimal(text: str, type_name: str) -> tuple[int, int]:
    """Parse a decimal string into `(raw, precision)`, precision taken from its digits.

    "100.250" -> (100250, 3); "1e-3" -> (1, 3); "5" -> (5, 0).
    """
    value = _finite_decimal(text, type_name)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, so never 'n'/'N'/'F'
    if -exponent > MAX_PRECISION:
        raise ValueError(
            f"invalid {type_name} {text!r}: more than {MAX_PRECISION} decimal places"
        )
    coefficient = int("".join(map(str, digits))) if digits else 0
    if sign:
        coefficient = -coefficient
    if exponent >= 0:
        return coefficient * 10**exponent, 0
    return coefficient, -exponent


def raw_from_value(value: object, precision: int, type_name: str) -> int:
    """The raw int of `value` at `precision`, rounding half to even.

    Accepts int (exact), str / Decimal (exact decimal, rounded), float (its
    shortest repr, i.e. what the user typed, rounded) and any fixed-point value
    (an object with int `raw` and `precision`).
    """
    check_precision(precision, type_name)
    if type(value) is int:
        return value * POW10[precision]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"invalid {type_name} {value!r}: not finite")
        value = repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"invalid {type_name} {value!r}: not finite")
        value = str(value)
    if isinstance(value, str):
        d = _finite_decimal(value, type_name)
        if d and d.adjusted() < -(MAX_PRECISION + 2):
            return 0  # far below half a unit at any precision: rounds to zero
        n, den = d.as_integer_ratio()  # den is a product of powers of 2 and 5
        return div_round_half_even(n * POW10[precision], den)
    raw = getattr(value, "raw", None)
    src_precision = getattr(value, "precision", None)
    if type(raw) is int and type(src_precision) is int:
        return rescale(raw, src_precision, precision)
    raise ValueError(
        f"invalid {type_name} {value!r}: expected int, float, str, Decimal or a fixed-point value"
    )
