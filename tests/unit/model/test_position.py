"""Netting positions: open, add, reduce, close, flip, PnL with fees, reopen."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livenode.model import (
    ClientOrderId,
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
    closed = pos.apply(filled(qty="3.000", px="110.00", side=SELL, commission=fee("0.3")))
    assert type(closed) is PositionClosed and closed.side is PositionSide.FLAT
    assert closed.realized_pnl == usdt("9.9")  # 1*10 - 0.1 (a third of the fee)
    assert pos.side is PositionSide.SHORT and pos.quantity == Quantity(2, 0)
    assert pos.realized_pnl == usdt("-0.2")  # the new cycle's two thirds of the fee
    assert pos.avg_px_open == 110.0 and pos.avg_px_close is None and pos.entry is SELL
    assert pos.is_open and pos.ts_closed is None
    assert pos.unrealized_pnl(Price.from_str("100.00")) == usdt("20")
    closed = pos.apply(filled(qty="3.000", px="100.00", side=BUY))
    assert closed is not None and closed.realized_pnl == usdt("19.8")  # 2*10 - 0.2
    assert pos.side is PositionSide.LONG and pos.quantity == Quantity(1, 0)
    assert pos.realized_pnl == Money.zero(USDT)
    assert pos.lifetime_realized_pnl == usdt("29.7")
    assert pos.avg_px_open == 100.0 and pos.cycle_count == 2


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
    lifetime = Fraction(0)
    pos: Position | None = None
    for side, qty_raw, px_raw, fee_raw in spec:
        q = Fraction(qty_raw, 1000)
        px = Fraction(px_raw, 100)
        fill = filled(
            qty=str(Decimal(qty_raw) / 1000), px=str(Decimal(px_raw) / 100), side=side,
            commission=Money(fee_raw, 2, USDT),
        )
        if pos is not None and pos.is_closed:
            lifetime += realized
            signed, avg, realized = Fraction(0), Fraction(0), Fraction(0)
        if pos is None:
            pos = Position(inst, fill)
        else:
            pos.apply(fill)
        # reference: each realized amount rounded to 8 dp half-even, like Money
        fee_total = Fraction(fee_raw, 100)
        d = 1 if side is BUY else -1
        if signed == 0 or (signed > 0) == (d > 0):
            realized -= fee_total
            avg = (avg * abs(signed) + px * q) / (abs(signed) + q)
        else:
            closing = min(q, abs(signed))
            # a flip's close takes its share of the fee, rounded to the fee's
            # precision (here 2 dp), half to even; the open takes the rest
            close_fee = Fraction(round(fee_total * closing / q * 100), 100)
            pnl = (px - avg) * closing * (1 if signed > 0 else -1)
            realized += Fraction(round(pnl * 10**8), 10**8) - close_fee
            if q > abs(signed):
                lifetime += realized
                realized = -(fee_total - close_fee)  # the new cycle
                avg = px
            else:
                realized -= fee_total - close_fee  # zero: no split
        signed += d * q
        assert pos.signed_qty == float(signed)
        assert Fraction(pos.realized_pnl.as_decimal()) == realized
        assert Fraction(pos.lifetime_realized_pnl.as_decimal()) == lifetime + realized
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


# -- cycles: a flip closes one position cycle and opens another -----------------------------

def _perp_fill(side: OrderSide, qty: str, px: str, commission: str, coid: str, ts: int) -> Any:
    return filled(qty=qty, px=px, side=side, commission=fee(commission),
                  coid=ClientOrderId(coid), ts=ts, instrument_id=perpetual().id)


def _issue_example() -> tuple[Position, PositionClosed | None]:
    """Issue 10: SELL 2@120 (fee 0.12), then BUY 3@100 (fee 0.30) flips it."""
    pos = Position(perpetual(), _perp_fill(SELL, "2.000", "120.0", "0.12", "O-1", 100))
    closed = pos.apply(_perp_fill(BUY, "3.000", "100.0", "0.30", "O-2", 200))
    return pos, closed


def test_a_flip_closes_the_cycle_with_its_share_of_the_fee() -> None:
    pos, closed = _issue_example()
    assert type(closed) is PositionClosed
    assert closed.realized_pnl == usdt("39.68")  # 40 - 0.12 - 0.20
    assert closed.commissions == usdt("0.32")
    assert closed.side is PositionSide.FLAT and closed.quantity == Quantity(0, 3)
    assert closed.entry is SELL and closed.peak_qty == Quantity.from_str("2.000")
    assert closed.avg_px_open == 120.0 and closed.avg_px_close == 100.0
    assert closed.last_qty == Quantity.from_str("2.000") and closed.last_px == Price(1000, 1)
    assert closed.opening_order_id == ClientOrderId("O-1")
    assert closed.closing_order_id == ClientOrderId("O-2")
    assert closed.ts_opened == 100 and closed.ts_closed == 200 and closed.ts_event == 200
    assert closed.unrealized_pnl == Money.zero(USDT)
    assert pos.closed_cycles == [closed] and pos.cycle_count == 1


def test_a_flip_opens_a_new_cycle_with_the_rest_of_the_fill() -> None:
    pos, _ = _issue_example()
    assert pos.side is PositionSide.LONG and pos.quantity == Quantity.from_str("1.000")
    assert pos.realized_pnl == usdt("-0.10")  # the rest of the flip's fee
    assert pos.commissions == usdt("0.10")
    assert pos.avg_px_open == 100.0 and pos.avg_px_close is None
    assert pos.peak_qty == Quantity.from_str("1.000")
    assert pos.entry is BUY
    assert pos.opening_order_id == ClientOrderId("O-2") and pos.closing_order_id is None
    assert pos.ts_opened == 200 and pos.ts_closed is None
    assert pos.lifetime_realized_pnl == usdt("39.58")
    (open_part,) = pos.events
    assert open_part.last_qty == Quantity.from_str("1.000")
    assert open_part.commission == usdt("0.10")
    assert pos.event_count == 1
    opened = pos.snapshot_event()
    assert type(opened) is PositionOpened and opened.realized_pnl == usdt("-0.10")
    assert opened.peak_qty == Quantity.from_str("1.000") and opened.entry is BUY
    # then SELL 1@105 (fee 0.05) closes the long: its own cycle
    closed = pos.apply(_perp_fill(SELL, "1.000", "105.0", "0.05", "O-3", 300))
    assert closed is not None and closed.realized_pnl == usdt("4.85")  # 5 - 0.10 - 0.05
    assert closed.avg_px_open == 100.0 and closed.avg_px_close == 105.0
    assert closed.peak_qty == Quantity.from_str("1.000") and closed.entry is BUY
    assert closed.ts_opened == 200 and closed.ts_closed == 300
    assert closed.opening_order_id == ClientOrderId("O-2")
    assert closed.closing_order_id == ClientOrderId("O-3")
    assert pos.lifetime_realized_pnl == usdt("44.53")
    assert [c.realized_pnl for c in pos.closed_cycles] == [usdt("39.68"), usdt("4.85")]


def test_a_partial_close_after_a_flip_belongs_to_the_new_cycle() -> None:
    pos, _ = _issue_example()
    assert pos.apply(_perp_fill(SELL, "0.400", "105.0", "0.02", "O-3", 300)) is None
    assert pos.side is PositionSide.LONG and pos.quantity == Quantity.from_str("0.600")
    assert pos.realized_pnl == usdt("1.88")  # 0.4*5 - 0.10 - 0.02
    assert pos.avg_px_open == 100.0 and pos.avg_px_close == 105.0
    assert pos.peak_qty == Quantity.from_str("1.000")
    assert pos.commissions == usdt("0.12")
    assert pos.ts_opened == 200 and pos.ts_closed is None
    assert type(pos.snapshot_event()) is PositionChanged
    assert pos.lifetime_realized_pnl == usdt("41.56")  # 39.68 + 1.88
    assert pos.unrealized_pnl(Price.from_str("110.0")) == usdt("6")  # 0.6 * 10


def test_a_flip_on_a_spot_pair_splits_a_base_currency_fee() -> None:
    pos = Position(currency_pair(), filled(qty="1.000", px="100.00", commission=fee("0.10"),
                                           ts=1))
    closed = pos.apply(filled(qty="1.500", px="110.00", side=SELL, ts=2,
                              commission=Money.new("0.0015", BTC)))
    assert closed is not None
    assert closed.realized_pnl == usdt("9.90")  # 10 - 0.10; the BTC fee is kept apart
    assert closed.commissions == usdt("0.10") and closed.peak_qty == Quantity(1000, 3)
    assert closed.avg_px_open == 100.0 and closed.avg_px_close == 110.0
    assert pos.side is PositionSide.SHORT and pos.quantity == Quantity.from_str("0.500")
    assert pos.realized_pnl == Money.zero(USDT)
    assert pos.commissions_by_currency() == {BTC: Money.new("0.0005", BTC)}
    assert pos.avg_px_open == 110.0 and pos.ts_opened == 2
    assert pos.lifetime_realized_pnl == usdt("9.90")


def test_a_maker_rebate_is_split_like_a_fee() -> None:
    pos = Position(perpetual(), _perp_fill(SELL, "2.000", "120.0", "-0.12", "O-1", 100))
    assert pos.realized_pnl == usdt("0.12")
    closed = pos.apply(_perp_fill(BUY, "3.000", "100.0", "-0.30", "O-2", 200))
    assert closed is not None
    assert closed.realized_pnl == usdt("40.32")  # 40 + 0.12 + 0.20
    assert closed.commissions == usdt("-0.32")
    assert pos.realized_pnl == usdt("0.10") and pos.commissions == usdt("-0.10")
    assert pos.lifetime_realized_pnl == usdt("40.42")


def test_a_fee_that_does_not_split_evenly_rounds_half_even_and_sums_exactly() -> None:
    pos = Position(perpetual(), _perp_fill(SELL, "1.000", "120.0", "0", "O-1", 100))
    # 0.00000001 * 1/2 = 0.000000005: the close's share rounds half to even (to 0)
    closed = pos.apply(_perp_fill(BUY, "2.000", "100.0", "0.00000001", "O-2", 200))
    assert closed is not None and closed.commissions == Money.zero(USDT)
    assert pos.commissions == usdt("0.00000001")
    # -0.00000003 * 2/3 = -0.00000002; the open takes -0.00000001
    pos = Position(perpetual(), _perp_fill(SELL, "2.000", "120.0", "0", "O-1", 100))
    closed = pos.apply(_perp_fill(BUY, "3.000", "100.0", "-0.00000003", "O-2", 200))
    assert closed is not None and closed.commissions == usdt("-0.00000002")
    assert pos.commissions == usdt("-0.00000001")


def test_a_snapshot_of_the_new_cycle_restores_it() -> None:
    pos, _ = _issue_example()
    restored = Position.from_snapshot(perpetual(), pos.snapshot_event())
    assert restored.peak_qty == Quantity.from_str("1.000") and restored.entry is BUY
    assert restored.ts_opened == 200 and restored.opening_order_id == ClientOrderId("O-2")
    assert restored.realized_pnl == usdt("-0.10")
    closed = restored.apply(_perp_fill(SELL, "1.000", "105.0", "0.05", "O-3", 300))
    assert closed is not None and closed.realized_pnl == usdt("4.85")


def test_a_snapshot_without_the_new_fields_still_loads() -> None:
    """An event encoded by a version without `peak_qty`/`entry`/`version` decodes and
    restores."""
    import msgspec

    from livenode.model.codec import decode, encode

    pos, _ = _issue_example()
    event = pos.snapshot_event(PositionChanged)
    fields = msgspec.msgpack.decode(encode(event))  # array-like: [tag, field, ...]
    assert fields[-3:] == [[1000, 3], "BUY", pos.version]  # peak_qty, entry, version
    old = decode(msgspec.msgpack.encode(fields[:-3]))  # as a version without them sent it
    assert type(old) is PositionChanged and old.peak_qty is None and old.entry is None
    assert old.version == 0
    restored = Position.from_snapshot(perpetual(), old)
    assert restored.peak_qty == Quantity.from_str("1.000") and restored.entry is BUY
