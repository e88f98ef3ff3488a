"""Netting positions: open, add, reduce, close, flip, PnL with fees, reopen."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livenode.model import (
    Money,
    OrderSide,
    Position,
    PositionChanged,
    PositionClosed,
    PositionId,
    PositionOpened,
    PositionSide,
    Price,
    Quantity,
    netting_position_id,
)

from .factories import BTC, BTCUSDT, STRATEGY, USDT, currency_pair, filled, perpetual

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def usdt(value: str) -> Money:
    return Money.new(value, USDT)


def fee(value: str) -> Money:
    return Money.new(value, USDT)


def test_open_long() -> None:
    pos = Position(currency_pair(), filled(qty="1.000", px="100.00", commission=fee("0.1"), ts=5))
    assert (
        pos.id == PositionId("BTCUSDT.SIM-EMACross-001") == netting_position_id(BTCUSDT, STRATEGY)
    )
    assert pos.side is PositionSide.LONG and pos.is_long and pos.is_open and not pos.is_closed
    assert pos.quantity == Quantity(1, 0) and pos.signed_qty == 1.0
    assert pos.avg_px_open == 100.0 and pos.avg_px_close is None
    assert pos.realized_pnl == usdt("-0.1")  # the commission
    assert pos.commissions == usdt("0.1")
    assert pos.ts_opened == 5 and pos.ts_closed is None
    assert pos.unrealized_pnl(Price.from_str("101.50")) == usdt("1.5")
    assert pos.total_pnl(Price.from_str("101.50")) == usdt("1.4")
    assert pos.notional_value(Price.from_str("101.50")) == usdt("101.5")
    assert pos.entry is BUY


def test_add_moves_weighted_average_exactly() -> None:
    pos = Position(currency_pair(), filled(qty="1.000", px="100.00"))
    pos.apply(filled(qty="2.000", px="103.00"))
    assert pos.quantity == Quantity(3, 0)
    assert pos.avg_px_open == 102.0
    pos.apply(filled(qty="1.000", px="100.01"))
    # (100 + 206 + 100.01) / 4 = 101.5025
    assert pos.avg_px_open == 101.5025
    assert pos.peak_qty == Quantity(4, 0)


def test_reduce_then_close_long_realizes_pnl_net_of_fees() -> None:
    pos = Position(currency_pair(), filled(qty="2.000", px="100.00", commission=fee("0.2")))
    pos.apply(filled(qty="0.500", px="110.00", side=SELL, commission=fee("0.05")))
    assert pos.side is PositionSide.LONG and pos.quantity == Quantity.from_str("1.5")
    assert pos.realized_pnl == usdt("4.75")  # 0.5*10 - 0.25
    assert pos.avg_px_open == 100.0 and pos.avg_px_close == 110.0
    pos.apply(filled(qty="1.500", px="90.00", side=SELL, commission=fee("0.15"), ts=77))
    assert pos.is_closed and pos.side is PositionSide.FLAT and pos.quantity == Quantity.zero(3)
    assert pos.realized_pnl == usdt("-10.4")  # 5 - 15 - 0.4
    assert pos.avg_px_close == 95.0  # (0.5*110 + 1.5*90) / 2
    assert pos.commissions == usdt("0.4")
    assert pos.ts_closed == 77 and pos.duration_ns == 77 - 20
    assert pos.unrealized_pnl(Price.from_str("1.00")) == Money.zero(USDT)


def test_short_pnl_signs() -> None:
    pos = Position(currency_pair(), filled(qty="1.000", px="100.00", side=SELL))
    assert pos.side is PositionSide.SHORT and pos.signed_qty == -1.0 and pos.is_short
    assert pos.unrealized_pnl(Price.from_str("90.00")) == usdt("10")
    assert pos.unrealized_pnl(Price.from_str("105.00")) == usdt("-5")
    pos.apply(filled(qty="1.000", px="95.00", side=BUY))
    assert pos.is_closed and pos.realized_pnl == usdt("5")


def test_flip_long_to_short_and_back() -> None:
    pos = Position(currency_pair(), filled(qty="1.000", px="100.00"))
    pos.apply(filled(qty="3.000", px="110.00", side=SELL, commission=fee("0.3")))
    assert pos.side is PositionSide.SHORT and pos.quantity == Quantity(2, 0)
    assert pos.realized_pnl == usdt("9.7")  # 1*10 - 0.3
    assert pos.avg_px_open == 110.0 and pos.entry is SELL
    assert pos.is_open and pos.ts_closed is None
    assert pos.unrealized_pnl(Price.from_str("100.00")) == usdt("20")
    pos.apply(filled(qty="3.000", px="100.00", side=BUY))
    assert pos.side is PositionSide.LONG and pos.quantity == Quantity(1, 0)
    assert pos.realized_pnl == usdt("29.7")  # + 2*10
    assert pos.avg_px_open == 100.0


def test_multiplier_and_commission_in_other_currency() -> None:
    inst = perpetual(multiplier=Quantity.from_str("0.1"))
    pos = Position(
        inst,
        filled(qty="10.000", px="100.0", commission=Money.new("0.001", BTC), instrument_id=inst.id),
    )
    pos.apply(filled(qty="10.000", px="101.5", side=SELL, instrument_id=inst.id))
    assert pos.realized_pnl == usdt("1.5")  # 10 * 1.5 * 0.1; BTC fee kept apart
    assert pos.commissions == Money.zero(USDT)
    assert pos.commissions_by_currency() == {BTC: Money.new("0.001", BTC)}


def test_rounding_of_fractional_average_is_half_even_once() -> None:
    pos = Position(currency_pair(), filled(qty="3.000", px="100.00"))
    pos.apply(filled(qty="3.000", px="100.01"))  # avg 100.005 exactly
    assert pos.unrealized_pnl(Price.from_str("100.01")) == usdt("0.03")  # 6 * 0.005
    pos.apply(filled(qty="1.000", px="100.02"))  # avg = 700.05/7 = 100.00714285...
    expected = (Fraction("100.03") - Fraction("700.05") / 7) * 7
    got = pos.unrealized_pnl(Price.from_str("100.03"))
    assert abs(Fraction(got.as_decimal()) - expected) <= Fraction(1, 2 * 10**8)


def test_refuses_other_instrument_and_duplicate_trade() -> None:
    pos = Position(currency_pair(), filled(trade_id="A"))
    with pytest.raises(ValueError, match="duplicate trade id A"):
        pos.apply(filled(trade_id="A"))
    with pytest.raises(ValueError, match="BTC-PERP"):
        Position(currency_pair(), filled(instrument_id=perpetual().id))


def test_fill_with_more_size_digits_than_instrument() -> None:
    pos = Position(currency_pair(), filled(qty="1.000"))
    pos.apply(filled(qty="0.0005", side=SELL, px="100.00"))
    assert pos.quantity == Quantity.from_str("0.9995") and pos.quantity.precision == 4


def test_snapshot_events_and_kinds() -> None:
    pos = Position(currency_pair(), filled(qty="1.000", px="100.00", ts=5))
    opened = pos.snapshot_event()
    assert type(opened) is PositionOpened
    assert opened.position_id == pos.id and opened.side is PositionSide.LONG
    assert opened.quantity == Quantity(1, 0) and opened.signed_qty == 1.0
    assert opened.ts_event == 5 and opened.ts_opened == 5 and len(opened.event_id) == 32
    pos.apply(filled(qty="0.500", px="102.00", side=SELL, ts=6))
    changed = pos.snapshot_event(last=Price.from_str("104.00"), event_id="e", ts_init=9)
    assert type(changed) is PositionChanged
    assert changed.unrealized_pnl == usdt("2") and changed.realized_pnl == usdt("1")
    assert changed.event_id == "e" and changed.ts_init == 9
    pos.apply(filled(qty="0.500", px="102.00", side=SELL, ts=7))
    closed = pos.snapshot_event()
    assert type(closed) is PositionClosed and closed.ts_closed == 7 and not closed.is_open
    assert type(pos.snapshot_event(PositionChanged)) is PositionChanged


def test_closed_position_reopens_as_new_lifecycle() -> None:
    pos = Position(currency_pair(), filled(qty="1.000", px="100.00"))
    pos.apply(filled(qty="1.000", px="101.00", side=SELL))
    assert pos.is_closed and pos.realized_pnl == usdt("1")
    pos.apply(filled(qty="2.000", px="50.00", side=SELL, ts=30))
    assert pos.side is PositionSide.SHORT and pos.realized_pnl == Money.zero(USDT)
    assert pos.ts_opened == 30 and pos.ts_closed is None and pos.event_count == 1
    assert type(pos.snapshot_event()) is PositionOpened
    assert len(pos.trade_ids) == 3


# -- property test against a Fraction reference -------------------------------------------

fills = st.lists(
    st.tuples(
        st.sampled_from([BUY, SELL]),
        st.integers(1, 5000),
        st.integers(1, 20000),
        st.integers(0, 100),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=200, deadline=None)
@given(fills, st.integers(1, 20000))
def test_matches_reference_model(spec: list[tuple[OrderSide, int, int, int]], mark: int) -> None:
    inst = currency_pair()
    signed = Fraction(0)
    avg = Fraction(0)
    realized = Fraction(0)
    pos: Position | None = None
    for side, qty_raw, px_raw, fee_raw in spec:
        q = Fraction(qty_raw, 1000)
        px = Fraction(px_raw, 100)
        fill = filled(
            qty=str(Decimal(qty_raw) / 1000), px=str(Decimal(px_raw) / 100), side=side,
            commission=Money(fee_raw, 2, USDT),
        )
        if pos is not None and pos.is_closed:
            signed, avg, realized = Fraction(0), Fraction(0), Fraction(0)
        if pos is None:
            pos = Position(inst, fill)
        else:
            pos.apply(fill)
        # reference: each realized amount rounded to 8 dp half-even, like Money
        realized -= Fraction(fee_raw, 100)
        d = 1 if side is BUY else -1
        if signed == 0 or (signed > 0) == (d > 0):
            avg = (avg * abs(signed) + px * q) / (abs(signed) + q)
        else:
            closing = min(q, abs(signed))
            pnl = (px - avg) * closing * (1 if signed > 0 else -1)
            realized += Fraction(round(pnl * 10**8), 10**8)
            if q > abs(signed):
                avg = px
        signed += d * q
        assert pos.signed_qty == float(signed)
        assert Fraction(pos.realized_pnl.as_decimal()) == realized
        if signed:
            assert pos.avg_px_open == float(avg)
    assert pos is not None
    last = Fraction(mark, 100)
    expected_unrealized = Fraction(round((last - avg) * signed * 10**8), 10**8) if signed else 0
    assert Fraction(pos.unrealized_pnl(Price(mark, 2)).as_decimal()) == expected_unrealized


def test_a_position_that_never_goes_flat_keeps_bounded_memory() -> None:
    from livenode.model.position import MAX_FILLS_KEPT, MAX_TRADE_IDS_KEPT

    pos = Position(currency_pair(), filled(qty="1.000", px="100.00"))
    n = MAX_TRADE_IDS_KEPT + 5
    for _ in range(n - 1):
        pos.apply(filled(qty="0.001", px="100.00"))
    assert pos.event_count == n
    assert len(pos.events) == MAX_FILLS_KEPT
    assert len(pos.trade_ids) == MAX_TRADE_IDS_KEPT
    assert pos.quantity == Quantity.from_str(f"{1 + 0.001 * (n - 1):.3f}")
