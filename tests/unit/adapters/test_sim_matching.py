"""Matching engine of the simulated venue: order types x TIF x post-only, fees, balances."""

from __future__ import annotations

from fractions import Fraction

import pytest

from livenode.venues.sim.account import SimCashAccount
from livenode.venues.sim.matching import (
    ACCEPTED,
    CANCEL_REJECTED,
    CANCELED,
    DAY_NS,
    EXPIRED,
    MAKER,
    MODIFY_REJECTED,
    REJECTED,
    TAKER,
    TRIGGERED,
    UPDATED,
    Fill,
    InstrumentSpec,
    MatchingEngine,
    SimOrder,
    Status,
)

# BTCUSDT: price 0.01 (precision 2), size 0.001 (precision 3); raw values below.
SPEC = InstrumentSpec(
    symbol="BTCUSDT",
    kind="spot",
    base="BTC",
    quote="USDT",
    price_precision=2,
    size_precision=3,
    price_increment=1,
    size_increment=1,
    min_quantity=1,
    max_quantity=100_000,
    min_notional=Fraction(5),
    max_notional=Fraction(1_000_000),
    maker_fee=Fraction("0.0002"),
    taker_fee=Fraction("0.0005"),
    fee_precision=8,
)
PERP = InstrumentSpec(**{**{f: getattr(SPEC, f) for f in SPEC.__slots__}, "kind": "perpetual",
                         "symbol": "BTCUSDT-PERP"})
USDT = 10**8  # 1 USDT raw at precision 8
BTC = 10**8

_ids = iter(range(1, 1_000_000))


def order(side: str = "BUY", type_: str = "LIMIT", qty: int = 1000, price: int | None = None,
          trigger: int | None = None, tif: str = "GTC", **kw: object) -> SimOrder:
    n = next(_ids)
    return SimOrder(f"O-{n}", f"V-{n}", side, type_, qty, price, trigger, tif, **kw)


def kinds(actions) -> list[str]:
    return [a.kind if isinstance(a, Status) else "FILL" for a in actions]


def fills(actions) -> list[Fill]:
    return [a for a in actions if isinstance(a, Fill)]


@pytest.fixture
def eng() -> MatchingEngine:
    e = MatchingEngine(SPEC)
    # bid 100.00 x 2.000, ask 100.10 x 1.000
    e.on_quote(10_000, 10_010, 2000, 1000, ts=1)
    return e


def make_account(usdt: int = 1_000_000, btc: int = 10) -> SimCashAccount:
    return SimCashAccount({"USDT": usdt * USDT, "BTC": btc * BTC}, {"USDT": 8, "BTC": 8})


# -- market orders ------------------------------------------------------------------------


def test_market_buy_fills_at_ask_as_taker(eng):
    acts = eng.submit(order("BUY", "MARKET", qty=500), ts=2)
    assert kinds(acts) == [ACCEPTED, "FILL"]
    f = fills(acts)[0]
    assert (f.qty, f.price, f.liquidity) == (500, 10_010, TAKER)
    assert f.order.status == "FILLED"


def test_market_sell_fills_at_bid(eng):
    f = fills(eng.submit(order("SELL", "MARKET", qty=700), ts=2))[0]
    assert (f.qty, f.price) == (700, 10_000)


def test_market_gtc_partial_fill_remainder_fills_on_next_quotes(eng):
    o = order("BUY", "MARKET", qty=2500)
    acts = eng.submit(o, ts=2)
    assert [f.qty for f in fills(acts)] == [1000]
    assert o.status == "PARTIALLY_FILLED" and o.leaves == 1500
    acts = eng.on_quote(10_000, 10_020, 2000, 800, ts=3)
    assert [(f.qty, f.price, f.liquidity) for f in fills(acts)] == [(800, 10_020, TAKER)]
    acts = eng.on_quote(10_000, 10_030, 2000, 5000, ts=4)
    assert [f.qty for f in fills(acts)] == [700]
    assert o.status == "FILLED" and o.avg_px == pytest.approx(
        (1000 * 100.10 + 800 * 100.20 + 700 * 100.30) / 2500)


def test_market_ioc_remainder_canceled(eng):
    o = order("BUY", "MARKET", qty=2500, tif="IOC")
    acts = eng.submit(o, ts=2)
    assert kinds(acts) == [ACCEPTED, "FILL", CANCELED]
    assert o.filled == 1000 and o.status == CANCELED


def test_market_fok_not_fillable_canceled_without_fill(eng):
    o = order("BUY", "MARKET", qty=2500, tif="FOK")
    assert kinds(eng.submit(o, ts=2)) == [ACCEPTED, CANCELED]
    assert o.filled == 0


def test_market_fok_fillable_fills_whole(eng):
    acts = eng.submit(order("SELL", "MARKET", qty=2000, tif="FOK"), ts=2)
    assert kinds(acts) == [ACCEPTED, "FILL"] and fills(acts)[0].qty == 2000


def test_displayed_size_is_consumed_until_next_quote(eng):
    a = fills(eng.submit(order("BUY", "MARKET", qty=800, tif="IOC"), ts=2))
    acts = eng.submit(order("BUY", "MARKET", qty=800, tif="IOC"), ts=2)
    assert [f.qty for f in a] == [800]
    assert [f.qty for f in fills(acts)] == [200] and kinds(acts)[-1] == CANCELED


def test_market_without_quote_rejected_naming_why():
    e = MatchingEngine(SPEC)
    acts = e.submit(order("BUY", "MARKET"), ts=1)
    assert kinds(acts) == [REJECTED] and "no market for BTCUSDT" in acts[0].reason


# -- limit orders -------------------------------------------------------------------------


def test_limit_rests_then_fills_as_maker_when_trade_prints_through(eng):
    o = order("BUY", "LIMIT", qty=1000, price=9_990)
    assert kinds(eng.submit(o, ts=2)) == [ACCEPTED]
    assert eng.on_trade(9_990, 5000, ts=3) == []  # at the price: not through
    acts = eng.on_trade(9_980, 400, ts=4)
    f = fills(acts)[0]
    assert (f.qty, f.price, f.liquidity) == (400, 9_990, MAKER)  # limited by trade size
    assert o.status == "PARTIALLY_FILLED"
    f = fills(eng.on_trade(9_985, 5000, ts=5))[0]
    assert f.qty == 600 and o.status == "FILLED"


def test_sell_limit_fills_when_trade_prints_above(eng):
    o = order("SELL", "LIMIT", qty=300, price=10_050)
    eng.submit(o, ts=2)
    assert eng.on_trade(10_040, 1000, ts=3) == []
    assert fills(eng.on_trade(10_051, 1000, ts=4))[0].price == 10_050


def test_resting_limit_fills_when_opposite_quote_crosses(eng):
    o = order("BUY", "LIMIT", qty=1500, price=9_990)
    eng.submit(o, ts=2)
    acts = eng.on_quote(9_970, 9_985, 500, 600, ts=3)
    f = fills(acts)[0]
    assert (f.qty, f.price, f.liquidity) == (600, 9_990, MAKER)
    acts = eng.on_quote(9_970, 9_990, 500, 5000, ts=4)  # ask == limit crosses too
    assert fills(acts)[0].qty == 900 and o.status == "FILLED"


def test_marketable_limit_takes_at_quote_price_then_rests(eng):
    o = order("BUY", "LIMIT", qty=1500, price=10_050)
    acts = eng.submit(o, ts=2)
    f = fills(acts)[0]
    assert (f.qty, f.price, f.liquidity) == (1000, 10_010, TAKER)
    assert o.is_open and o.leaves == 500
    # later fills are maker fills at the limit price
    f = fills(eng.on_trade(10_000, 1000, ts=3))[0]
    assert (f.qty, f.price, f.liquidity) == (500, 10_050, MAKER)


def test_limit_ioc_not_marketable_canceled(eng):
    o = order("BUY", "LIMIT", qty=100, price=9_000, tif="IOC")
    assert kinds(eng.submit(o, ts=2)) == [ACCEPTED, CANCELED]


def test_limit_ioc_partial(eng):
    o = order("SELL", "LIMIT", qty=3000, price=9_990, tif="IOC")
    acts = eng.submit(o, ts=2)
    assert kinds(acts) == [ACCEPTED, "FILL", CANCELED] and o.filled == 2000


def test_limit_fok_all_or_nothing(eng):
    o = order("BUY", "LIMIT", qty=1001, price=10_010, tif="FOK")
    assert kinds(eng.submit(o, ts=2)) == [ACCEPTED, CANCELED] and o.filled == 0
    o2 = order("BUY", "LIMIT", qty=1000, price=10_010, tif="FOK")
    assert kinds(eng.submit(o2, ts=2)) == [ACCEPTED, "FILL"] and o2.status == "FILLED"


def test_limit_fok_not_marketable_canceled(eng):
    assert kinds(eng.submit(order("BUY", "LIMIT", qty=100, price=9_000, tif="FOK"), ts=2)) == [
        ACCEPTED, CANCELED]


def test_price_time_priority(eng):
    a = order("BUY", "LIMIT", qty=500, price=9_990)
    b = order("BUY", "LIMIT", qty=500, price=9_995)
    c = order("BUY", "LIMIT", qty=500, price=9_995)
    for o in (a, b, c):
        eng.submit(o, ts=2)
    acts = eng.on_trade(9_980, 700, ts=3)
    assert [(f.order.client_order_id, f.qty) for f in fills(acts)] == [
        (b.client_order_id, 500), (c.client_order_id, 200)]


# -- post-only ----------------------------------------------------------------------------


def test_post_only_rests_when_not_crossing(eng):
    o = order("BUY", "LIMIT", qty=100, price=10_000, post_only=True)
    assert kinds(eng.submit(o, ts=2)) == [ACCEPTED]
    assert fills(eng.on_trade(9_999, 100, ts=3))[0].liquidity == MAKER


@pytest.mark.parametrize("side,price", [("BUY", 10_010), ("BUY", 10_200), ("SELL", 10_000)])
def test_post_only_rejected_when_crossing(eng, side, price):
    acts = eng.submit(order(side, "LIMIT", qty=100, price=price, post_only=True), ts=2)
    assert kinds(acts) == [REJECTED] and "post-only order would cross" in acts[0].reason


@pytest.mark.parametrize("tif", ["IOC", "FOK"])
def test_post_only_with_ioc_fok_rejected(eng, tif):
    acts = eng.submit(order("BUY", "LIMIT", qty=100, price=9_000, tif=tif, post_only=True), 2)
    assert kinds(acts) == [REJECTED] and f"time in force {tif}" in acts[0].reason


def test_post_only_only_for_limit(eng):
    acts = eng.submit(order("BUY", "MARKET", qty=100, post_only=True), 2)
    assert "post-only is only valid for LIMIT" in acts[0].reason


# -- stops ------------------------------------------------------------------------------


def test_stop_market_buy_triggers_on_trade_and_fills_at_ask(eng):
    o = order("BUY", "STOP_MARKET", qty=500, trigger=10_100)
    assert kinds(eng.submit(o, ts=2)) == [ACCEPTED]
    assert eng.on_trade(10_050, 100, ts=3) == []
    eng.on_quote(10_090, 10_110, 1000, 1000, ts=4)  # ask 101.10 >= trigger: triggers
    assert o.status == "FILLED" and o.avg_px == pytest.approx(101.10)


def test_stop_market_sell_triggered_by_trade_fills_against_bid(eng):
    o = order("SELL", "STOP_MARKET", qty=500, trigger=9_950)
    eng.submit(o, ts=2)
    eng.on_quote(9_960, 9_970, 300, 300, ts=3)
    acts = eng.on_trade(9_950, 10, ts=4)
    assert [f.qty for f in fills(acts)] == [300]  # size-limited by the bid
    assert o.triggered and o.leaves == 200
    acts = eng.on_quote(9_940, 9_950, 1000, 1000, ts=5)
    assert [(f.qty, f.price) for f in fills(acts)] == [(200, 9_940)]


def test_stop_limit_triggers_emits_triggered_then_rests_as_limit(eng):
    o = order("BUY", "STOP_LIMIT", qty=500, price=10_100, trigger=10_050)
    eng.submit(o, ts=2)
    acts = eng.on_trade(10_060, 10, ts=3)  # triggers; ask 100.10 <= 101.00: takes
    assert kinds(acts) == [TRIGGERED, "FILL"]
    assert fills(acts)[0].price == 10_010 and o.status == "FILLED"


def test_stop_limit_triggered_not_marketable_rests(eng):
    o = order("SELL", "STOP_LIMIT", qty=500, price=9_990, trigger=9_995)
    eng.submit(o, ts=2)
    acts = eng.on_quote(9_980, 9_995, 1000, 1000, ts=3)  # bid 99.80 <= trigger; < limit
    assert kinds(acts) == [TRIGGERED] and o.status == "TRIGGERED"
    acts = eng.on_trade(9_999, 1000, ts=4)
    assert fills(acts)[0].price == 9_990 and fills(acts)[0].liquidity == MAKER


@pytest.mark.parametrize("side,trigger", [("BUY", 10_010), ("BUY", 9_000), ("SELL", 10_000)])
def test_stop_that_would_trigger_immediately_rejected(eng, side, trigger):
    acts = eng.submit(order(side, "STOP_MARKET", qty=100, trigger=trigger), ts=2)
    assert kinds(acts) == [REJECTED] and "would trigger immediately" in acts[0].reason


def test_stop_needs_trigger_and_stop_limit_needs_price(eng):
    assert "needs a trigger price" in eng.submit(order("BUY", "STOP_MARKET"), 2)[0].reason
    r = eng.submit(order("BUY", "STOP_LIMIT", trigger=10_100), 2)[0].reason
    assert "needs a price" in r


# -- expiry -----------------------------------------------------------------------------


def test_gtd_expires(eng):
    o = order("BUY", "LIMIT", qty=100, price=9_000, tif="GTD", expire_time_ns=100)
    eng.submit(o, ts=2)
    assert eng.expire(99) == ()
    assert kinds(eng.expire(100)) == [EXPIRED] and o.status == EXPIRED


def test_gtd_expires_on_market_update(eng):
    o = order("BUY", "LIMIT", qty=100, price=9_000, tif="GTD", expire_time_ns=50)
    eng.submit(o, ts=2)
    assert kinds(eng.on_quote(10_000, 10_010, 1, 1, ts=60)) == [EXPIRED]


def test_gtd_in_the_past_or_missing_rejected(eng):
    r = eng.submit(order("BUY", "LIMIT", 100, 9_000, tif="GTD", expire_time_ns=2), 5)[0]
    assert r.kind == REJECTED and "not in the future" in r.reason
    r = eng.submit(order("BUY", "LIMIT", 100, 9_000, tif="GTD"), 5)[0]
    assert "needs an expire time" in r.reason


def test_day_expires_at_next_utc_midnight(eng):
    ts = 3 * DAY_NS + 5
    o = order("BUY", "LIMIT", qty=100, price=9_000, tif="DAY")
    eng.submit(o, ts=ts)
    assert o.expire_time_ns == 4 * DAY_NS
    assert eng.expire(4 * DAY_NS - 1) == ()
    assert kinds(eng.expire(4 * DAY_NS)) == [EXPIRED]


# -- modify / cancel --------------------------------------------------------------------


def test_modify_price_rematches_as_taker(eng):
    o = order("BUY", "LIMIT", qty=500, price=9_900)
    eng.submit(o, ts=2)
    acts = eng.modify(o.client_order_id, None, 10_010, None, ts=3)
    assert kinds(acts) == [UPDATED, "FILL"] and fills(acts)[0].liquidity == TAKER


def test_modify_quantity(eng):
    o = order("BUY", "LIMIT", qty=500, price=9_900)
    eng.submit(o, ts=2)
    assert kinds(eng.modify(o.client_order_id, 800, None, None, ts=3)) == [UPDATED]
    assert o.quantity == 800


def test_modify_rejections_name_why(eng):
    o = order("BUY", "LIMIT", qty=500, price=9_900, post_only=True)
    eng.submit(o, ts=2)
    eng.on_trade(9_800, 200, ts=3)  # partially filled 200
    cases = {
        (100, None, None): "not above the filled quantity",
        (None, 10_020, None): "post-only order would cross",
        (None, None, 9_000): "has no trigger price",
        (1500, None, None) if False else (None, 0, None): "must be positive",
    }
    for (q, p, t), why in cases.items():
        acts = eng.modify(o.client_order_id, q, p, t, ts=4)
        assert kinds(acts) == [MODIFY_REJECTED] and why in acts[0].reason, why
    assert "not found" in eng.modify("nope", 1, None, None, 4)[0].reason


def test_modify_stop_trigger(eng):
    o = order("BUY", "STOP_MARKET", qty=100, trigger=10_500)
    eng.submit(o, ts=2)
    r = eng.modify(o.client_order_id, None, None, 10_000, ts=3)[0]
    assert r.kind == MODIFY_REJECTED and "would trigger immediately" in r.reason
    assert kinds(eng.modify(o.client_order_id, None, None, 10_400, ts=3)) == [UPDATED]
    assert o.trigger_price == 10_400


def test_modify_price_loses_time_priority(eng):
    a = order("BUY", "LIMIT", qty=500, price=9_990)
    b = order("BUY", "LIMIT", qty=500, price=9_990)
    eng.submit(a, 2)
    eng.submit(b, 2)
    eng.modify(a.client_order_id, None, 9_991, None, 3)
    eng.modify(a.client_order_id, None, 9_990, None, 3)
    assert fills(eng.on_trade(9_980, 500, 4))[0].order is b


def test_cancel_and_cancel_rejected(eng):
    o = order("BUY", "LIMIT", qty=100, price=9_000)
    eng.submit(o, 2)
    assert kinds(eng.cancel(o.client_order_id, 3)) == [CANCELED]
    r = eng.cancel(o.client_order_id, 4)[0]
    assert r.kind == CANCEL_REJECTED and "already closed (CANCELED)" in r.reason
    assert "not found" in eng.cancel("X-1", 4)[0].reason
    assert eng.open_orders() == []


def test_cancel_all_by_side(eng):
    buys = [order("BUY", "LIMIT", qty=100, price=9_000) for _ in range(3)]
    sell = order("SELL", "LIMIT", qty=100, price=11_000)
    for o in [*buys, sell]:
        eng.submit(o, 2)
    assert kinds(eng.cancel_all("BUY", 3)) == [CANCELED] * 3
    assert eng.open_orders() == [sell]
    assert kinds(eng.cancel_all(None, 3)) == [CANCELED]


# -- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw,why",
    [
        ({"qty": 0}, "must be positive"),
        ({"qty": 200_000}, "above the maximum quantity"),
        ({"qty": 10, "price": 100}, "below the minimum notional"),
        ({"qty": 100_000, "price": 2_000_000}, "above the maximum notional"),
        ({"price": None}, "needs a price"),
        ({"tif": "XYZ"}, "unsupported time in force"),
        ({"side": "HOLD"}, "invalid order side"),
    ],
)
def test_rejections_name_why(eng, kw, why):
    args = {"side": "BUY", "type_": "LIMIT", "qty": 1000, "price": 9_000, **kw}
    acts = eng.submit(order(**args), 2)
    assert kinds(acts) == [REJECTED] and why in acts[0].reason


def test_increment_rejections():
    spec = InstrumentSpec(**{**{f: getattr(SPEC, f) for f in SPEC.__slots__},
                             "price_increment": 5, "size_increment": 10, "min_quantity": 10})
    e = MatchingEngine(spec)
    r = e.submit(order("BUY", "LIMIT", qty=15, price=9_000), 1)[0]
    assert "not a multiple of the size increment 0.010" in r.reason
    r = e.submit(order("BUY", "LIMIT", qty=1000, price=9_001), 1)[0]
    assert "not a multiple of the price increment 0.05" in r.reason
    r = e.submit(order("BUY", "LIMIT", qty=0 + 0 * 1 + 0, price=9_000), 1)[0]
    assert "must be positive" in r.reason


def test_duplicate_client_order_id_rejected(eng):
    o = order("BUY", "LIMIT", qty=100, price=9_000)
    eng.submit(o, 2)
    dup = SimOrder(o.client_order_id, "V-x", "BUY", "LIMIT", 100, 9_000)
    assert "duplicate client order id" in eng.submit(dup, 3)[0].reason


# -- fees and account -------------------------------------------------------------------


def test_fees_taker_and_maker():
    e = MatchingEngine(SPEC, make_account())
    e.on_quote(10_000, 10_010, 10_000, 10_000, ts=1)
    taker = fills(e.submit(order("BUY", "MARKET", qty=1000), 2))[0]
    # 1 BTC at 100.10 * 0.0005 = 0.05005 USDT
    assert taker.commission == 5_005_000
    e.submit(order("SELL", "LIMIT", qty=1000, price=10_100), 3)
    maker = fills(e.on_trade(10_200, 5000, 4))[0]
    assert maker.liquidity == MAKER and maker.commission == 2_020_000  # 101.00 * 0.0002


def test_cash_account_balances_after_spot_round_trip():
    acct = make_account(usdt=1000, btc=0)
    e = MatchingEngine(SPEC, acct)
    e.on_quote(10_000, 10_010, 10_000, 10_000, ts=1)
    e.submit(order("BUY", "MARKET", qty=2000), 2)  # 2 BTC at 100.10 = 200.20 + fee 0.1001
    assert acct.totals["BTC"] == 2 * BTC
    assert acct.totals["USDT"] == (1000 - 200.20 - 0.1001) * USDT
    e.submit(order("SELL", "MARKET", qty=2000), 3)  # at 100.00: +200 - 0.1
    assert acct.totals["BTC"] == 0
    assert acct.totals["USDT"] == round((1000 - 200.20 - 0.1001 + 200 - 0.1) * USDT)
    assert acct.locked("USDT") == 0


def test_resting_orders_lock_funds_and_release_on_cancel():
    acct = make_account(usdt=1000, btc=1)
    e = MatchingEngine(SPEC, acct)
    e.on_quote(10_000, 10_010, 10_000, 10_000, ts=1)
    buy = order("BUY", "LIMIT", qty=5000, price=9_000)  # 5 BTC at 90 = 450 (+taker fee)
    e.submit(buy, 2)
    assert acct.locked("USDT") == round(450 * 1.0005 * USDT)
    sell = order("SELL", "LIMIT", qty=1000, price=11_000)
    e.submit(sell, 2)
    assert acct.locked("BTC") == BTC and acct.free("BTC") == 0
    e.cancel(buy.client_order_id, 3)
    e.cancel(sell.client_order_id, 3)
    assert acct.locked("USDT") == 0 and acct.locked("BTC") == 0


def test_insufficient_balance_rejected_naming_amounts():
    acct = make_account(usdt=100, btc=0)
    e = MatchingEngine(SPEC, acct)
    e.on_quote(10_000, 10_010, 10_000, 10_000, ts=1)
    r = e.submit(order("BUY", "LIMIT", qty=2000, price=9_000), 2)[0]
    assert r.kind == REJECTED
    assert r.reason.startswith("insufficient balance: need 180.09000000 USDT, free 100.00000000")
    r = e.submit(order("SELL", "MARKET", qty=1000), 2)[0]
    assert "insufficient balance" in r.reason and "BTC" in r.reason
    # the free balance counts funds locked by other orders
    assert kinds(e.submit(order("BUY", "LIMIT", qty=1000, price=9_000), 3)) == [ACCEPTED]
    assert "insufficient balance" in e.submit(order("BUY", "LIMIT", 1000, 9_000), 3)[0].reason


def test_modify_rejected_when_new_lock_exceeds_balance_keeps_old_lock():
    acct = make_account(usdt=100, btc=0)
    e = MatchingEngine(SPEC, acct)
    e.on_quote(10_000, 10_010, 10_000, 10_000, ts=1)
    o = order("BUY", "LIMIT", qty=500, price=9_000)
    e.submit(o, 2)
    before = acct.locked("USDT")
    r = e.modify(o.client_order_id, 5000, None, None, 3)[0]
    assert r.kind == MODIFY_REJECTED and "insufficient balance" in r.reason
    assert o.quantity == 500 and acct.locked("USDT") == before


def test_balance_check_can_be_disabled():
    acct = SimCashAccount({"USDT": 0}, {"USDT": 8}, reject_when_insufficient_balance=False)
    e = MatchingEngine(SPEC, acct)
    e.on_quote(10_000, 10_010, 10_000, 10_000, ts=1)
    assert kinds(e.submit(order("BUY", "MARKET", qty=1000), 2)) == [ACCEPTED, "FILL"]
    assert acct.totals["USDT"] < 0


def test_perpetual_margin_realized_pnl_and_reduce_only():
    acct = make_account(usdt=1000, btc=0)
    e = MatchingEngine(PERP, acct)
    e.on_quote(10_000, 10_010, 10_000, 10_000, ts=1)
    r = e.submit(order("SELL", "MARKET", qty=1000, reduce_only=True), 2)[0]
    assert r.kind == REJECTED and "reduce-only" in r.reason
    e.submit(order("SELL", "MARKET", qty=2000), 2)  # short 2 at 100.00, fee 0.1
    assert acct.position("BTCUSDT-PERP") == -2000
    assert acct.locked("USDT") == 200 * USDT  # position margin at leverage 1
    e.on_quote(9_000, 9_010, 10_000, 10_000, ts=3)
    acts = e.submit(order("BUY", "MARKET", qty=2000, reduce_only=True), 4)  # at 90.10
    assert kinds(acts) == [ACCEPTED, "FILL"]
    assert acct.position("BTCUSDT-PERP") == 0 and acct.locked("USDT") == 0
    fee_open, fee_close = 0.1 * USDT, round(180.20 * 0.0005 * USDT)
    assert acct.totals["USDT"] == round(1000 * USDT + 19.80 * USDT - fee_open - fee_close)
    assert acct.positions["BTCUSDT-PERP"].realized == Fraction("19.8")
