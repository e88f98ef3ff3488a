"""The risk checks on scaled integers decide exactly as the Decimal arithmetic they
replaced: the free-balance check (need = notional * (1 + taker fee), or the
quantity sold, against the free balance), the quantity bounds and the notional
bounds, with the same denial reasons."""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from livenode.engines.risk_checks import (
    INSUFFICIENT_FREE_BALANCE,
    NOTIONAL_ABOVE_MAX,
    NOTIONAL_BELOW_MIN,
    QUANTITY_ABOVE_MAX,
    QUANTITY_BELOW_MIN,
    OrderChecks,
)
from livenode.model.accounts import CashAccount
from livenode.model.enums import OrderSide
from livenode.model.objects import Money, Quantity
from tests.unit.engines.helpers import (
    BTC,
    USDT,
    account_state,
    make_env,
    make_instrument,
    order_init,
    quote,
)


def _checks(usdt_free: str, btc_free: str, **instrument: Any) -> tuple[OrderChecks, Any]:
    env = make_env()
    inst = make_instrument(**instrument)
    env.cache.add_instrument(inst)
    env.cache.add_quote_tick(quote("100.00", "100.10"))
    env.cache.add_account(CashAccount(account_state(usdt_free=usdt_free, btc_free=btc_free)))
    return OrderChecks(env.cache, lambda _iid, _sid=None: Decimal(0)), inst


def _reference_balance_reason(init: Any, inst: Any, usdt_free: str, btc_free: str) -> str | None:
    """The Decimal computation the engine used before (high precision: exact here)."""
    with localcontext() as ctx:
        ctx.prec = 60
        if init.side is OrderSide.BUY:
            currency, free = USDT, Money.new(usdt_free, USDT).as_decimal()
            notional = inst.notional_value(init.quantity, init.price)
            need = notional.as_decimal() * (1 + Decimal(inst.taker_fee))
        else:
            currency, free = BTC, Money.new(btc_free, BTC).as_decimal()
            need = init.quantity.as_decimal()
        if need > free:
            need_str = f"{need.quantize(Decimal(1).scaleb(-currency.precision)):f}"
            return f"{INSUFFICIENT_FREE_BALANCE}: need {need_str} {currency.code}, free {free:f}"
    return None


_fee = st.sampled_from(["0", "0.001", "0.0005", "-0.0002", "0.00075", "0.1", "1E-3"])
_price_raw = st.integers(min_value=1000, max_value=200_000)  # 10.00 .. 2000.00
_qty_raw = st.integers(min_value=1, max_value=100_000)  # 0.001 .. 100.000


@settings(deadline=None, max_examples=300)
@given(
    side=st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
    price_raw=_price_raw,
    qty_raw=_qty_raw,
    fee=_fee,
    slack=st.integers(min_value=-3, max_value=3),
)
def test_balance_check_matches_the_decimal_reference(
    side: OrderSide, price_raw: int, qty_raw: int, fee: str, slack: int
) -> None:
    # The free balance sits within a few units of the last digit of what the
    # order needs, so both outcomes and the exact boundary are exercised.
    inst = make_instrument(taker_fee=fee)
    init = order_init(side=side, qty=f"{Decimal(qty_raw).scaleb(-3):f}",
                      price=f"{Decimal(price_raw).scaleb(-2):f}")
    if side is OrderSide.BUY:
        need = inst.notional_value(init.quantity, init.price).as_decimal() * (1 + Decimal(fee))
        free_usdt = max(Decimal(0), need.quantize(Decimal("1E-8")) + slack * Decimal("1E-8"))
        usdt_free, btc_free = f"{free_usdt:f}", "10"
    else:
        free_btc = max(Decimal(0), init.quantity.as_decimal() + slack * Decimal("1E-8"))
        usdt_free, btc_free = "100000", f"{free_btc:f}"
    checks, inst = _checks(usdt_free, btc_free, taker_fee=fee, min_notional=None,
                           max_notional=None)
    assert checks.check_order(init, None, None) == _reference_balance_reason(
        init, inst, usdt_free, btc_free
    )


def test_balance_boundary_exactly_enough_passes_one_unit_less_is_denied() -> None:
    # BUY 1.000 @ 100.00 with a 0.001 taker fee needs exactly 100.1 USDT.
    init = order_init(qty="1.000", price="100.00")
    checks, _ = _checks("100.1", "10")
    assert checks.check_order(init, None, None) is None
    checks, _ = _checks("100.09999999", "10")
    assert checks.check_order(init, None, None) == (
        f"{INSUFFICIENT_FREE_BALANCE}: need 100.10000000 USDT, free 100.09999999"
    )


@settings(deadline=None, max_examples=200)
@given(
    qty_raw=_qty_raw,
    bound_raw=st.integers(min_value=1, max_value=100_000),
    bound_precision=st.integers(min_value=0, max_value=5),
)
def test_quantity_bounds_match_fixed_point_comparison(
    qty_raw: int, bound_raw: int, bound_precision: int
) -> None:
    bound = Quantity(bound_raw, bound_precision)
    init = order_init(qty=f"{Decimal(qty_raw).scaleb(-3):f}", price="100.00")
    for field, code, below in (("min_quantity", QUANTITY_BELOW_MIN, True),
                               ("max_quantity", QUANTITY_ABOVE_MAX, False)):
        checks, _ = _checks("1000000000", "1000000", **{field: bound, "min_notional": None,
                                                       "max_notional": None})
        reason = checks.check_order(init, None, None)
        breached = init.quantity < bound if below else init.quantity > bound
        assert (reason is not None and reason.startswith(code)) is breached


@settings(deadline=None, max_examples=200)
@given(
    qty_raw=_qty_raw,
    bound_raw=st.integers(min_value=1, max_value=10**12),
    bound_precision=st.integers(min_value=0, max_value=8),
)
def test_notional_bounds_match_money_comparison(
    qty_raw: int, bound_raw: int, bound_precision: int
) -> None:
    bound = Money(bound_raw, bound_precision, USDT)
    init = order_init(qty=f"{Decimal(qty_raw).scaleb(-3):f}", price="100.00")
    for field, code, below in (("min_notional", NOTIONAL_BELOW_MIN, True),
                               ("max_notional", NOTIONAL_ABOVE_MAX, False)):
        overrides: dict[str, Any] = {"min_notional": None, "max_notional": None, field: bound}
        checks, inst = _checks("1000000000", "1000000", **overrides)
        notional = inst.notional_value(init.quantity, init.price)
        reason = checks.check_order(init, None, None)
        breached = notional < bound if below else notional > bound
        assert (reason is not None and reason.startswith(code)) is breached
