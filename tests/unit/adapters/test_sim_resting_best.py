"""`RestingBest` lets the matching engine skip quotes and prints that cannot move any
resting order: skipping must never change what the engine does.

The differential property test runs the same random orders and market moves
through two engines, one as shipped and one whose `RestingBest` never says "quiet"
(so it walks its whole book on every quote and print, as before the shortcut), and
requires the same actions, in the same order, from both.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from livenode.venues.sim.account import SimCashAccount
from livenode.venues.sim.matching import Fill, MatchingEngine, SimOrder
from livenode.venues.sim.resting_best import RestingBest
from tests.unit.adapters.test_sim_matching import SPEC
from tests.unit.adapters.test_sim_matching_properties import op_st


class AlwaysWalk(RestingBest):
    """The reference: never skips the book walk."""

    def quiet_for_quote(self, bid: int, ask: int) -> bool:
        return False

    def quiet_for_trade(self, price: int) -> bool:
        return False


def _engine(*, shortcut: bool) -> MatchingEngine:
    acct = SimCashAccount({"USDT": 10**6 * 10**8, "BTC": 100 * 10**8}, {"USDT": 8, "BTC": 8})
    engine = MatchingEngine(SPEC, acct)
    if not shortcut:
        engine._best = AlwaysWalk(engine._orders)
    engine.on_quote(10_000, 10_010, 1000, 1000, ts=0)
    return engine


def _new_order(ts: int, spec: tuple[Any, ...]) -> SimOrder:
    side, otype, tif, qty, price, toff, post = spec
    post = post and otype == "LIMIT" and tif == "GTC"
    return SimOrder(
        f"O-{ts}", f"V-{ts}", side, otype, qty,
        price if otype in ("LIMIT", "STOP_LIMIT") else None,
        price + toff if otype.startswith("STOP") else None,
        tif, post_only=post,
    )


def _apply(engine: MatchingEngine, op: tuple[Any, ...], ts: int, cids: list[str]) -> list[tuple]:
    kind = op[0]
    if kind == "order":
        order = _new_order(ts, op[1])
        cids.append(order.client_order_id)
        actions = engine.submit(order, ts)
    elif kind == "quote":
        actions = engine.on_quote(op[1], op[1] + op[2], op[3], op[4], ts)
    elif kind == "trade":
        actions = engine.on_trade(op[1], op[2], ts)
    else:
        target = cids[op[1] % len(cids)] if cids else "none"
        if kind == "cancel":
            actions = engine.cancel(target, ts)
        else:
            current = engine.get(target)
            price = op[3] if current is not None and current.price is not None else None
            actions = engine.modify(target, op[2], price, None, ts)
    return [
        ("fill", a.order.client_order_id, a.qty, a.price, a.liquidity, a.trade_id)
        if isinstance(a, Fill) else (a.kind, a.order.client_order_id, a.reason)
        for a in actions
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(op_st, max_size=80))
def test_skipping_quiet_quotes_changes_nothing(ops: list[tuple[Any, ...]]) -> None:
    fast, reference = _engine(shortcut=True), _engine(shortcut=False)
    fast_cids: list[str] = []
    reference_cids: list[str] = []
    for ts, op in enumerate(ops, start=1):
        assert _apply(fast, op, ts, fast_cids) == _apply(reference, op, ts, reference_cids)
    assert [(o.client_order_id, o.filled, o.status) for o in fast.open_orders()] == [
        (o.client_order_id, o.filled, o.status) for o in reference.open_orders()
    ]


def test_a_far_limit_is_skipped_and_a_marketable_one_is_not() -> None:
    engine = _engine(shortcut=True)
    buy = SimOrder("B-1", "V-B-1", "BUY", "LIMIT", 100, 9_900, None, "GTC")
    engine.submit(buy, 1)
    assert engine._best.quiet_for_quote(9_950, 9_960)  # ask above the buy's limit
    assert not engine._best.quiet_for_quote(9_890, 9_900)  # ask reaches it
    fills = [a for a in engine.on_quote(9_890, 9_900, 1000, 1000, 2) if isinstance(a, Fill)]
    assert [(f.order.client_order_id, f.qty, f.price) for f in fills] == [("B-1", 100, 9_900)]
    assert engine._best.quiet_for_quote(9_890, 9_900)  # filled: nothing rests any more


def test_a_resting_stop_always_walks_the_book() -> None:
    engine = _engine(shortcut=True)
    stop = SimOrder("S-1", "V-S-1", "SELL", "STOP_MARKET", 100, None, 9_000, "GTC")
    engine.submit(stop, 1)
    assert not engine._best.quiet_for_quote(9_950, 9_960)
    engine.cancel("S-1", 2)
    assert engine._best.quiet_for_quote(9_950, 9_960)


def test_stale_entries_stay_bounded() -> None:
    engine = _engine(shortcut=True)
    engine.submit(SimOrder("KEEP", "V-KEEP", "BUY", "LIMIT", 100, 9_000, None, "GTC"), 1)
    for i in range(5_000):
        cid = f"O-{i}"
        engine.submit(SimOrder(cid, f"V-{cid}", "BUY", "LIMIT", 100, 9_500, None, "GTC"), i + 2)
        engine.modify(cid, 100, 9_400, None, i + 2)  # a second, stale entry
        engine.cancel(cid, i + 2)
    best = engine._best
    assert len(best._buys) + len(best._sells) <= 2 * 1 + 64 + 2
    assert best.quiet_for_quote(9_000 - 10, 9_001)
    assert not best.quiet_for_quote(8_990, 9_000)
