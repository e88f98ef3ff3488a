"""Fixed-point values: exact arithmetic and comparison, checked against Decimal."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livenode.model import AccountBalance, Currency, Money, Price, Quantity
from livenode.model.fixed_point import MAX_PRECISION, RAW_MAX

USD = Currency.from_str("USD")
EUR = Currency.from_str("EUR")

precisions = st.integers(0, MAX_PRECISION)
raws = st.integers(-RAW_MAX, RAW_MAX)
prices = st.builds(Price, raws, precisions)
quantities = st.builds(Quantity, st.integers(0, RAW_MAX), precisions)


def decimal_raw(value: Decimal, precision: int) -> int:
    with localcontext() as ctx:
        ctx.prec = 200
        scaled = value.scaleb(precision)
        assert scaled == scaled.to_integral_value()
        return int(scaled)


# -- construction and validation ------------------------------------------------------


def test_value_is_raw_over_ten_to_the_precision() -> None:
    assert Price(10025, 2).as_decimal() == Decimal("100.25")
    assert str(Price(10025, 2)) == "100.25"
    assert str(Price(-5, 3)) == "-0.005"
    assert str(Quantity(0, 4)) == "0.0000"
    assert str(Price(7, 0)) == "7"
    assert repr(Price(10025, 2)) == "Price('100.25')"
    assert float(Price(10025, 2)) == 100.25
    assert Price(10025, 2).as_double() == 100.25


@pytest.mark.parametrize("precision", [-1, 17, 1.5, "2"])
def test_precision_out_of_range_rejected(precision: object) -> None:
    with pytest.raises(ValueError, match="Price precision"):
        Price(1, precision)  # type: ignore[arg-type]


def test_raw_outside_int64_rejected() -> None:
    Price(RAW_MAX, 0)
    with pytest.raises(ValueError, match="64-bit"):
        Price(RAW_MAX + 1, 0)
    with pytest.raises(ValueError, match="raw"):
        Price(1.5, 2)  # type: ignore[arg-type]


def test_quantity_negative_rejected_everywhere() -> None:
    with pytest.raises(ValueError, match=r"Quantity -0.01: must be non-negative"):
        Quantity(-1, 2)
    with pytest.raises(ValueError):
        Quantity.from_str("-1")
    with pytest.raises(ValueError):
        Quantity(1, 0) - Quantity(2, 0)
    with pytest.raises(ValueError):
        -Quantity(1, 0)
    with pytest.raises(ValueError):
        Quantity(1, 0) * -1
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(msgspec.msgpack.encode([-1, 0]), type=Quantity)


def test_from_str_takes_precision_from_digits() -> None:
    assert Price.from_str("100.250") == Price(100250, 3)
    assert Price.from_str("100.250").precision == 3
    assert Price.from_str("1e-3") == Price(1, 3)
    assert Price.from_str("-2.5").raw == -25
    assert Quantity.from_str("5").precision == 0
    for bad in ("", "abc", "nan", "inf", "1e999999999", "0.12345678901234567"):
        with pytest.raises(ValueError, match="Price"):
            Price.from_str(bad)


@pytest.mark.parametrize(
    ("value", "precision", "expected"),
    [
        (3, 2, "3.00"),
        ("1.005", 2, "1.00"),  # half to even
        ("1.015", 2, "1.02"),
        (1.005, 2, "1.00"),  # a float by its shortest repr, not its binary value
        (0.1, 3, "0.100"),
        (Decimal("2.5"), 0, "2"),
        (Decimal("3.5"), 0, "4"),
        ("-1.005", 2, "-1.00"),
        (Price(12345, 3), 2, "12.34"),
        ("1e-30", 2, "0.00"),
    ],
)
def test_new_rounds_half_to_even(value: object, precision: int, expected: str) -> None:
    assert str(Price.new(value, precision)) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [math.nan, math.inf, "x", None, [1]])
def test_new_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(ValueError):
        Price.new(bad, 2)  # type: ignore[arg-type]


@settings(deadline=None)  # CI hosts are shared; timing is not the property
@given(
    value=st.decimals(
        allow_nan=False, allow_infinity=False, places=6, min_value=-(10**9), max_value=10**9
    ),
    precision=st.integers(0, 8),
)
def test_new_matches_decimal_quantize(value: Decimal, precision: int) -> None:
    expected = value.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_EVEN)
    assert Price.new(value, precision).as_decimal() == expected


@settings(deadline=None)  # CI hosts are shared; timing is not the property
@given(prices)
def test_str_roundtrips_through_from_str(p: Price) -> None:
    back = Price.from_str(str(p))
    assert back == p
    assert back.precision == p.precision
    assert Decimal(str(p)) == p.as_decimal()
    assert float(p) == float(p.as_decimal())


# -- comparison and hashing --------------------------------------------------------------


def test_equal_across_precisions_and_hash_alike() -> None:
    a, b = Price(10000, 2), Price(100000, 3)
    assert a == b
    assert hash(a) == hash(b)
    assert not a != b  # noqa: SIM202 - exercises __ne__
    assert {a: "x"}[b] == "x"
    assert Price(10001, 2) > Price(100000, 3)
    assert Price(10000, 2) >= Price(100000, 3) and Price(10000, 2) <= Price(100000, 3)


def test_compares_exactly_with_numbers() -> None:
    assert Price(10000, 2) == 100
    assert Price(10050, 2) == Decimal("100.5") == Price(10050, 2)
    assert Price(5, 1) == 0.5  # 0.5 is exact in binary
    assert Price(1, 1) != 0.1  # like Decimal("0.1") != 0.1
    assert Price(1, 1) < 0.2
    assert Price(1, 1) < math.inf and Price(1, 1) > -math.inf
    assert not Price(1, 1) == math.nan  # noqa: SIM201 - exercises __eq__
    assert Quantity(3, 0) > 0
    assert hash(Price(10050, 2)) == hash(Decimal("100.5")) == hash(100.5)


def test_types_do_not_mix() -> None:
    assert Price(1, 0) != Quantity(1, 0)
    with pytest.raises(TypeError):
        Price(1, 0) < Quantity(1, 0)  # noqa: B015
    with pytest.raises(TypeError):
        Price(1, 0) + Quantity(1, 0)  # type: ignore[operator]
    with pytest.raises(TypeError):
        Price(1, 0) + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        Price(1, 0) < "1"  # noqa: B015


@settings(deadline=None)  # CI hosts are shared; timing is not the property
@given(prices, prices)
def test_ordering_and_equality_match_decimal(a: Price, b: Price) -> None:
    da, db = a.as_decimal(), b.as_decimal()
    assert (a == b) == (da == db)
    assert (a != b) == (da != db)
    assert (a < b) == (da < db)
    assert (a <= b) == (da <= db)
    assert (a > b) == (da > db)
    assert (a >= b) == (da >= db)
    if a == b:
        assert hash(a) == hash(b)


@settings(deadline=None)  # CI hosts are shared; timing is not the property
@given(prices)
def test_hash_is_the_numeric_hash(p: Price) -> None:
    assert hash(p) == hash(p.as_decimal()) == hash(Fraction(p.raw, 10**p.precision))


@settings(deadline=None)  # CI hosts are shared; timing is not the property
@given(
    prices,
    st.one_of(
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=False),
        st.decimals(allow_nan=False, allow_infinity=False),
    ),
)
def test_comparison_with_numbers_is_exact(p: Price, other: int | float | Decimal) -> None:
    exact = Fraction(p.raw, 10**p.precision)
    if isinstance(other, float) and math.isinf(other):
        assert (p < other) == (other > 0)
        return
    o = Fraction(other)
    assert (p == other) == (exact == o)
    assert (p < other) == (exact < o)
    assert (p > other) == (exact > o)


# -- arithmetic -------------------------------------------------------------------------------


def test_add_sub_at_larger_precision() -> None:
    s = Price(10025, 2) + Price(1, 3)
    assert s == Price(100251, 3) and s.precision == 3 and type(s) is Price
    d = Quantity(5, 1) - Quantity(25, 2)
    assert d == Quantity(25, 2) and d.precision == 2 and type(d) is Quantity
    assert -Price(5, 1) == Price(-5, 1)
    assert abs(Price(-5, 1)) == Price(5, 1)
    assert +Price(5, 1) is not None


@settings(deadline=None)  # CI hosts are shared; timing is not the property
@given(prices, prices)
def test_add_sub_exact_or_out_of_range(a: Price, b: Price) -> None:
    precision = max(a.precision, b.precision)
    with localcontext() as ctx:
        ctx.prec = 200  # wide enough that Decimal is exact here
        cases = [
            (Price.__add__, a.as_decimal() + b.as_decimal()),
            (Price.__sub__, a.as_decimal() - b.as_decimal()),
        ]
    for op, expected in cases:
        raw = decimal_raw(expected, precision)
        if abs(raw) > RAW_MAX:
            with pytest.raises(ValueError):
                op(a, b)
        else:
            result = op(a, b)
            assert type(result) is Price
            assert result.raw == raw and result.precision == precision


@settings(deadline=None)  # CI hosts are shared; timing is not the property
@given(prices, st.integers(-1000, 1000))
def test_mul_by_int_exact(p: Price, k: int) -> None:
    expected = p.raw * k
    if abs(expected) > RAW_MAX:
        with pytest.raises(ValueError):
            p * k
    else:
        assert p * k == Price(expected, p.precision) == k * p
        assert (p * k).precision == p.precision


@settings(deadline=None)  # CI hosts are shared; timing is not the property
@given(prices, quantities)
def test_mul_by_fixed_point_is_exact_decimal(p: Price, q: Quantity) -> None:
    product = p * q
    assert isinstance(product, Decimal)
    assert Fraction(product) == Fraction(p.raw, 10**p.precision) * Fraction(q.raw, 10**q.precision)


def test_mixed_mul_and_div_result_types() -> None:
    p = Price(10050, 2)
    assert p * 0.5 == 50.25 and isinstance(p * 0.5, float)
    assert p * Decimal("2") == Decimal("201.00")
    assert p / 2 == Decimal("50.25") and isinstance(p / 2, Decimal)
    assert p / Quantity(2, 0) == Decimal("50.25")
    assert p / 2.0 == 50.25 and isinstance(p / 2.0, float)
    assert 201 / p == Decimal(2)
    with pytest.raises(ZeroDivisionError):
        p / 0


def test_bool_and_zero() -> None:
    assert not Quantity.zero(3)
    assert Quantity.zero(3).precision == 3
    assert Quantity(1, 3) and Quantity(1, 3).is_positive()
    assert Quantity.zero().is_zero()


# -- currency and money ---------------------------------------------------------------------


def test_currency_from_str() -> None:
    assert Currency.from_str("USDT") == Currency("USDT", 8)
    assert Currency.from_str("USD").precision == 2
    assert str(Currency.from_str("BTC")) == "BTC"
    with pytest.raises(ValueError, match="unknown Currency 'XYZ'"):
        Currency.from_str("XYZ")
    with pytest.raises(ValueError):
        Currency("usd", 2)
    with pytest.raises(ValueError):
        Currency("USD", 17)


def test_money_new_str_and_arithmetic() -> None:
    m = Money.new("10.005", USD)
    assert m == Money(1000, 2, USD)  # half to even
    assert str(m) == "10.00 USD"
    assert repr(m) == "Money('10.00', USD)"
    assert Money.from_str("1.5 USD") == Money(150, 2, USD)
    total = Money(150, 2, USD) + Money(1, 3, USD)
    assert total == Money(1501, 3, USD) and total.currency == USD
    assert Money.zero(USD) - Money(1, 2, USD) == Money(-1, 2, USD)
    assert Money(5, 2, USD) * 3 == Money(15, 2, USD)
    assert Money(5, 2, USD) > 0


def test_money_currency_mismatch() -> None:
    with pytest.raises(ValueError, match=r"USD.*EUR"):
        Money(1, 2, USD) + Money(1, 2, EUR)
    with pytest.raises(ValueError):
        Money(1, 2, USD) < Money(1, 2, EUR)  # noqa: B015
    assert Money(1, 2, USD) != Money(1, 2, EUR)
    with pytest.raises(ValueError, match="currency"):
        Money(1, 2, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Money.from_str("1.5")


def test_values_roundtrip_msgpack() -> None:
    for value in (Price(-10025, 2), Quantity(5, 16), Money(-1, 8, Currency.from_str("BTC"))):
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(value), type=type(value)) == value


def test_account_balance_invariants() -> None:
    b = AccountBalance(Money(1000, 2, USD), Money(300, 2, USD), Money(700, 2, USD))
    assert b.currency == USD
    with pytest.raises(ValueError, match="total"):
        AccountBalance(Money(1000, 2, USD), Money(300, 2, USD), Money(600, 2, USD))
    with pytest.raises(ValueError, match="currencies"):
        AccountBalance(Money(1000, 2, USD), Money(300, 2, USD), Money(700, 2, EUR))
