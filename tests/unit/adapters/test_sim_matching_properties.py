"""Property test of the matching engine: random orders and market moves keep invariants."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from livenode.venues.sim.account import SimCashAccount
from livenode.venues.sim.matching import Fill, MatchingEngine, SimOrder, Status
from tests.unit.adapters.test_sim_matching import SPEC

order_st = st.tuples(
    st.sampled_from(["BUY", "SELL"]),
    st.sampled_from(["MARKET", "LIMIT", "STOP_MARKET", "STOP_LIMIT"]),
    st.sampled_from(["GTC", "IOC", "FOK"]),
    st.integers(1, 3000),  # qty raw (0.001 .. 3 BTC)
    st.integers(9_800, 10_200),  # price raw
    st.integers(-150, 150),  # trigger offset from price
    st.booleans(),  # post-only
)
op_st = st.one_of(
    st.tuples(st.just("order"), order_st),
    st.tuples(st.just("quote"), st.integers(9_800, 10_200), st.integers(1, 20),
              st.integers(1, 3000), st.integers(1, 3000)),
    st.tuples(st.just("trade"), st.integers(9_800, 10_200), st.integers(1, 3000)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("modify"), st.integers(0, 50), st.integers(1, 3000),
              st.integers(9_800, 10_200)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(op_st, max_size=60))
def test_invariants(ops):
    acct = SimCashAccount({"USDT": 10**6 * 10**8, "BTC": 100 * 10**8}, {"USDT": 8, "BTC": 8})
    eng = MatchingEngine(SPEC, acct)
    eng.on_quote(10_000, 10_010, 1000, 1000, ts=0)
    orders: list[SimOrder] = []
    filled: dict[str, int] = defaultdict(int)
    ts = 1
    for op in ops:
        ts += 1
        kind = op[0]
        if kind == "order":
            side, otype, tif, qty, price, toff, post = op[1]
            post = post and otype == "LIMIT" and tif == "GTC"
            o = SimOrder(
                f"O-{ts}", f"V-{ts}", side, otype, qty,
                price if otype in ("LIMIT", "STOP_LIMIT") else None,
                price + toff if otype.startswith("STOP") else None,
                tif, post_only=post,
            )
            orders.append(o)
            actions = eng.submit(o, ts)
        elif kind == "quote":
            bid = op[1]
            actions = eng.on_quote(bid, bid + op[2], op[3], op[4], ts)
        elif kind == "trade":
            actions = eng.on_trade(op[1], op[2], ts)
        elif kind == "cancel":
            target = orders[op[1] % len(orders)].client_order_id if orders else "none"
            actions = eng.cancel(target, ts)
        else:
            target = orders[op[1] % len(orders)].client_order_id if orders else "none"
            actions = eng.modify(target, op[2], op[3] if orders and orders[
                op[1] % len(orders)].price is not None else None, None, ts)
        for a in actions:
            if isinstance(a, Fill):
                o = a.order
                filled[o.client_order_id] += a.qty
                assert a.qty > 0 and a.price % SPEC.price_increment == 0
                if o.price is not None and o.order_type in ("LIMIT", "STOP_LIMIT"):
                    # a limit order never fills at a worse price than its limit
                    assert a.price <= o.price if o.side == "BUY" else a.price >= o.price
                if o.post_only:
                    assert a.liquidity == "MAKER"
                assert a.commission >= 0
            else:
                assert isinstance(a, Status)
                if a.kind in ("REJECTED", "MODIFY_REJECTED", "CANCEL_REJECTED"):
                    assert a.reason
        for o in orders:
            assert 0 <= o.filled <= o.quantity
            assert filled[o.client_order_id] == o.filled
            if o.time_in_force in ("IOC", "FOK") and o.status != "REJECTED":
                # IOC/FOK never rest once past their arrival (or trigger)
                assert not o.is_open or (o.is_stop and not o.triggered)
            if o.time_in_force == "FOK" and o.status == "CANCELED" and not o.is_stop:
                assert o.filled == 0
    open_ids = {o.client_order_id for o in eng.open_orders()}
    assert all(o.is_open for o in eng.open_orders())
    if not open_ids:
        assert acct.locked("USDT") == 0 and acct.locked("BTC") == 0
    assert acct.locked("USDT") >= 0 and acct.locked("BTC") >= 0
