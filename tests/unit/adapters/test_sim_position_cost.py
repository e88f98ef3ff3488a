"""The sim venue's net position keeps its cost exact across partial closes, so the
realized PnL it books equals the fills' arithmetic (no drift of the last digits)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from livenode.venues.sim.account import NetPosition, SimCashAccount
from livenode.venues.sim.orders import InstrumentSpec

SPEC = InstrumentSpec(
    symbol="ETHUSDT-PERP", kind="perpetual", base="ETH", quote="USDT",
    price_precision=2, size_precision=3, price_increment=1, size_increment=1,
    min_quantity=None, max_quantity=None, min_notional=None, max_notional=None,
    maker_fee=Fraction(0), taker_fee=Fraction(0), fee_precision=8,
)


def test_three_buys_then_closes_in_thirds_realize_exactly() -> None:
    pos = NetPosition()
    for price in (300001, 300002, 300004):  # 3000.01, 3000.02, 3000.04 (1.000 each)
        SimCashAccount._apply_position(pos, 1000, price, SPEC, 0)
    realized = sum(
        (SimCashAccount._apply_position(pos, -1000, 300010, SPEC, 0) for _ in range(3)),
        Fraction(0),
    )
    # Entry average 3000.02333..., exit 3000.10, 3 units: exactly 0.23 USDT.
    assert realized == Fraction(23, 100)
    assert pos.qty == 0 and pos.cost == 0


@given(
    st.lists(
        st.tuples(st.integers(1, 5000), st.integers(100_000, 500_000)), min_size=1, max_size=8
    ),
    st.integers(100_000, 500_000),
    st.lists(st.integers(1, 7), min_size=1, max_size=6),
)
def test_partial_closes_sum_to_the_exact_pnl(
    buys: list[tuple[int, int]], exit_price: int, parts: list[int]
) -> None:
    pos = NetPosition()
    for qty, price in buys:
        SimCashAccount._apply_position(pos, qty, price, SPEC, 0)
    total_qty = sum(q for q, _ in buys)
    total_cost = Fraction(sum(q * p for q, p in buys))
    # Close it all in uneven slices.
    weights = sum(parts)
    slices = [total_qty * w // weights for w in parts]
    slices[-1] += total_qty - sum(slices)
    realized = Fraction(0)
    for qty in slices:
        if qty:
            realized += SimCashAccount._apply_position(pos, -qty, exit_price, SPEC, 0)
    scale = 10 ** (SPEC.size_precision + SPEC.price_precision)
    assert realized == (exit_price * total_qty - total_cost) / scale
    assert pos.qty == 0
