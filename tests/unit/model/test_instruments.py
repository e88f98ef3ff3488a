"""Instruments: validation, rounding helpers, increments, notional and commission."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livenode.model import LiquiditySide, Money, Price, Quantity, Symbol, Venue

from .factories import USDT, currency_pair, perpetual


def test_identity_helpers() -> None:
    inst = currency_pair()
    assert inst.symbol == Symbol("BTCUSDT")
    assert inst.venue == Venue("SIM")
    assert inst.multiplier == Quantity(1, 0)
    assert inst.maker_fee_decimal == Decimal("0.001")
    assert inst.taker_fee_decimal == Decimal("0.002")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(price_increment=Price(1, 3)), "price_increment"),
        (dict(size_increment=Quantity(1, 2)), "size_increment"),
        (dict(price_increment=Price(0, 2)), "increments must be positive"),
        (dict(multiplier=Quantity(0, 0)), "multiplier"),
        (dict(maker_fee="cheap"), "maker_fee 'cheap'"),
        (dict(taker_fee=""), "taker_fee"),
    ],
)
def test_invalid_instruments_rejected(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        currency_pair(**overrides)


def test_make_price_and_qty_round_half_even_to_precision() -> None:
    inst = currency_pair()
    assert inst.make_price(100.125) == Price(10012, 2)
    assert inst.make_price("100.135") == Price(10014, 2)
    assert inst.make_price(100).precision == 2
    assert inst.make_price(Price(1001234, 4)) == Price(10012, 2)
    assert inst.make_qty(0.0015) == Quantity(2, 3)
    assert inst.make_qty("2").precision == 3
    with pytest.raises(ValueError):
        inst.make_qty(-1)


def test_increment_checks() -> None:
    perp = perpetual()  # price increment 0.5
    assert perp.is_price_on_increment(Price.from_str("100.5"))
    assert perp.is_price_on_increment(Price.from_str("100.50"))  # more digits, same value
    assert not perp.is_price_on_increment(Price.from_str("100.2"))
    assert not perp.is_price_on_increment(Price.from_str("100.55"))
    assert perp.is_qty_on_increment(Quantity.from_str("0.001"))
    assert not perp.is_qty_on_increment(Quantity.from_str("0.0015"))


@settings(deadline=None)  # CI hosts are shared; timing is not the property
@given(st.integers(-10**9, 10**9))
def test_made_prices_on_a_cent_increment_are_on_increment(raw: int) -> None:
    inst = currency_pair()
    price = inst.make_price(Decimal(raw) / 1000)
    assert inst.is_price_on_increment(price)


def test_notional_value_in_quote_currency() -> None:
    inst = currency_pair()
    notional = inst.notional_value(Quantity.from_str("1.5"), Price.from_str("100.25"))
    assert notional == Money.new("150.375", USDT)
    assert notional.currency == USDT
    with_mult = perpetual(multiplier=Quantity.from_str("0.01"))
    assert with_mult.notional_value(Quantity(3, 0), Price.from_str("100.5")) == Money.new(
        "3.015", USDT
    )


def test_commission_by_liquidity_side_and_rebates() -> None:
    inst = currency_pair()
    qty, px = Quantity.from_str("1.5"), Price.from_str("100.25")
    assert inst.calculate_commission(qty, px, LiquiditySide.MAKER) == Money.new("0.150375", USDT)
    assert inst.calculate_commission(qty, px, LiquiditySide.TAKER) == Money.new("0.30075", USDT)
    perp = perpetual()  # maker fee -0.0001: a rebate
    rebate = perp.calculate_commission(
        Quantity(2, 0), Price.from_str("1000.0"), LiquiditySide.MAKER
    )
    assert rebate == Money.new("-0.2", USDT)


@settings(deadline=None)  # CI hosts are shared; timing is not the property
@given(
    qty=st.integers(1, 10**6),  # up to 1000 BTC
    px=st.integers(1, 10**8),  # up to 1M USDT: notional stays within Money's int64 raw
    fee=st.sampled_from(["0", "0.001", "0.00075", "-0.00025", "0.1"]),
)
def test_commission_matches_decimal(qty: int, px: int, fee: str) -> None:
    inst = currency_pair(taker_fee=fee)
    q, p = Quantity(qty, 3), Price(px, 2)
    expected = (q.as_decimal() * p.as_decimal() * Decimal(fee)).quantize(Decimal("1e-8"))
    assert inst.calculate_commission(q, p, LiquiditySide.TAKER).as_decimal() == expected
