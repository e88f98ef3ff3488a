"""OrderFactory: order fields, client order id format and uniqueness, argument checks."""

from __future__ import annotations

import re

import pytest

from livenode.core.clock import TestClock
from livenode.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from livenode.model.identifiers import StrategyId
from livenode.model.objects import Price, Quantity
from livenode.trading.order_factory import OrderFactory

from .helpers import BTC, T0, TRADER_ID

QTY = Quantity.from_str("0.500")


def factory(strategy: str = "EMACross-001") -> OrderFactory:
    return OrderFactory(TRADER_ID, StrategyId(strategy), TestClock(T0))


def test_each_kind_builds_an_initialized_order_with_its_fields() -> None:
    f = factory()
    m = f.market(BTC, OrderSide.BUY, QTY, reduce_only=True, tags=["x"])
    lim = f.limit(BTC, OrderSide.SELL, QTY, Price.from_str("101.50"), post_only=True)
    sm = f.stop_market(BTC, OrderSide.SELL, QTY, Price.from_str("95.00"))
    sl = f.stop_limit(
        BTC, OrderSide.BUY, QTY, Price.from_str("105.10"), Price.from_str("105.00"),
        time_in_force=TimeInForce.GTD, expire_time_ns=T0 + 10**9,
    )
    assert [o.order_type for o in (m, lim, sm, sl)] == [
        OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.STOP_LIMIT,
    ]
    assert all(o.status is OrderStatus.INITIALIZED for o in (m, lim, sm, sl))
    assert m.reduce_only and m.tags == ("x",) and m.price is None
    assert lim.post_only and lim.price == Price.from_str("101.50") and lim.side is OrderSide.SELL
    assert sm.trigger_price == Price.from_str("95.00") and sm.price is None
    assert sl.price == Price.from_str("105.10") and sl.trigger_price == Price.from_str("105.00")
    assert sl.time_in_force is TimeInForce.GTD and sl.expire_time_ns == T0 + 10**9
    assert m.strategy_id == StrategyId("EMACross-001") and m.init_event.trader_id == TRADER_ID
    assert m.ts_init == T0


def test_client_order_ids_are_stamped_and_unique_per_strategy() -> None:
    a, b = factory("EMACross-001"), factory("MarketMaker-001")
    ids = [a.market(BTC, OrderSide.BUY, QTY).client_order_id for _ in range(3)]
    ids += [b.market(BTC, OrderSide.BUY, QTY).client_order_id for _ in range(3)]
    assert str(ids[0]) == "O-20251126-144000-EMACross-001-1"
    assert all(re.fullmatch(r"O-\d{8}-\d{6}-[A-Za-z]+-001-\d+", str(i)) for i in ids)
    assert len(set(ids)) == 6  # same tag, different strategies: no collision
    assert a.count == 3


def test_set_count_continues_after_recovered_ids() -> None:
    f = factory()
    f.set_count(41)
    assert str(f.next_client_order_id()).endswith("-42")
    with pytest.raises(ValueError):
        f.set_count(-1)


def test_bad_arguments_fail_at_the_call_site() -> None:
    f = factory()
    with pytest.raises(ValueError, match="quantity"):
        f.market(BTC, OrderSide.BUY, Quantity.from_str("0"))
    with pytest.raises(ValueError, match="GTD"):
        f.limit(BTC, OrderSide.BUY, QTY, Price.from_str("1.00"), time_in_force=TimeInForce.GTD)
    with pytest.raises(ValueError, match="expire_time_ns"):
        f.limit(BTC, OrderSide.BUY, QTY, Price.from_str("1.00"), expire_time_ns=T0)


def test_continue_after_skips_the_ids_of_a_run_in_the_same_second() -> None:
    """A node restarted within the second of its predecessor has the same run stamp:
    it continues after the restored ids of its own prefix, ignoring any other."""
    before = factory()
    restored = [before.next_client_order_id() for _ in range(3)]
    other = factory("Other-001").next_client_order_id()
    again = factory()
    again.continue_after([*restored, other])
    assert again.next_client_order_id() not in restored
    assert again.count == 4
    fresh = factory()
    fresh.continue_after([other])
    assert fresh.count == 0
