"""The rewrite of a process's state into a database that lost it: the order events
go in an order they could have been applied in (each order's own order, each
position's fills in the order it took them), the replay of the plan gives back
exactly the orders and positions held, and a process that no longer holds the
whole history refuses to rewrite (never half a history)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from livenode.cache.cache import Cache
from livenode.cache.database import CacheDatabase, DatabaseState, SqliteBackend
from livenode.engines.recovery import restore_execution_state
from livenode.model.enums import OrderSide
from livenode.model.events import OrderFilled, OrderInitialized
from livenode.model.position import netting_position_id
from livenode.node.database_rewrite import (
    RewriteRefused,
    events_in_apply_order,
    plan_rewrite,
    verify_rewrite,
)
from tests.unit.cache.helpers import (
    BTCUSDT_SIM,
    accepted,
    canceled,
    filled,
    order_init,
    pair,
    submitted,
)
from tests.unit.engines.helpers import account_state


def _fill(init: OrderInitialized, qty: str, px: str) -> OrderFilled:
    from livenode.model.objects import Price

    fill = filled(init, qty)
    return msgspec.structs.replace(
        fill, last_px=Price.from_str(px),
        position_id=netting_position_id(init.instrument_id, init.strategy_id))


def _history() -> list[Any]:
    """Two orders of one position whose fills interleave across a flip: applied in
    another order (order by order) the position's prices and PnL would differ."""
    buy = order_init(side=OrderSide.BUY, qty="1.000", price="100.00")
    sell = order_init(side=OrderSide.SELL, qty="2.000", price="120.00")
    other = order_init(side=OrderSide.BUY, qty="0.500", price="90.00")
    return [
        buy, submitted(buy), accepted(buy),
        sell, submitted(sell), accepted(sell),
        _fill(buy, "0.400", "100.00"),
        other, submitted(other), accepted(other),
        _fill(sell, "2.000", "120.00"),  # flips the long 0.4 to a short 1.6
        _fill(buy, "0.600", "101.00"),
        canceled(other),
    ]


def _cache(events: list[Any], max_closed: int = 10_000) -> Cache:
    cache = Cache(SimpleNamespace(max_closed_orders=max_closed))
    first = account_state()
    state = DatabaseState(instruments=[pair(BTCUSDT_SIM)], order_events=events,
                          accounts={first.account_id.value: (first, account_state("900"))})
    assert restore_execution_state(cache, state).refused_events == 0
    return cache


def _database(tmp_path: Path) -> CacheDatabase:
    return CacheDatabase(SqliteBackend("TESTER-001", tmp_path / "never-opened.sqlite"))


def test_the_rewrite_keeps_each_positions_fill_order_across_orders(tmp_path: Path) -> None:
    history = _history()
    cache = _cache(history)
    plan = plan_rewrite(_database(tmp_path), cache=cache, strategies={"S-1": {"k": b"v"}})
    events = plan.order_events
    assert sorted(e.event_id for e in events) == sorted(e.event_id for e in history)
    fills = [e.trade_id for e in events if type(e) is OrderFilled]
    assert fills == [e.trade_id for e in history if type(e) is OrderFilled]
    for order in cache.orders():  # each order's events in its own order
        assert [e for e in events if e.client_order_id == order.client_order_id] == order.events
    assert verify_rewrite(plan) is None
    areas = [op[0] for op in plan.ops]
    # Instruments and accounts first (positions need their instrument), then states,
    # then the orders.
    assert areas == ["instrument", "account", "account", "strategy",
                     *(["order_event"] * len(history))]
    assert plan.cut == 0
    assert "3 order(s) (13 event(s), 3 fill(s)), 1 position(s)" in plan.describe()


def test_order_by_order_would_rebuild_another_position_and_the_check_says_so(
    tmp_path: Path,
) -> None:
    cache = _cache(_history())
    plan = plan_rewrite(_database(tmp_path), cache=cache, strategies={})
    by_order = [e for order in cache.orders() for e in order.events]
    plan.order_events = by_order  # what a naive rewrite would store
    problem = verify_rewrite(plan)
    assert problem is not None and problem.startswith("position BTCUSDT.SIM-EMACross-001")


def test_purged_orders_mean_the_history_is_not_all_here(tmp_path: Path) -> None:
    history = _history()
    cache = _cache(history, max_closed=1)
    assert cache.purged_orders
    with pytest.raises(RewriteRefused, match="purged from memory"):
        plan_rewrite(_database(tmp_path), cache=cache, strategies={})


def test_a_position_without_its_fills_cannot_be_rewritten(tmp_path: Path) -> None:
    from livenode.model.events import PositionOpened
    from livenode.model.position import Position

    cache = _cache(_history())
    [position] = cache.positions()
    snapshot = position.snapshot_event(PositionOpened)
    cache.update_position(Position.from_snapshot(pair(BTCUSDT_SIM), snapshot))
    with pytest.raises(RewriteRefused, match="remembers the order of"):
        plan_rewrite(_database(tmp_path), cache=cache, strategies={})


def test_chains_and_positions_that_disagree_are_refused() -> None:
    history = _history()
    fills = [e for e in history if type(e) is OrderFilled]
    chains = [[e for e in history if e.client_order_id == coid]
              for coid in dict.fromkeys(e.client_order_id for e in history)]
    pid = fills[0].position_id
    assert pid is not None
    # The position claims it took the buy's second fill before its first: impossible.
    sequences = {pid: [fills[2].trade_id, fills[1].trade_id, fills[0].trade_id]}
    with pytest.raises(RewriteRefused, match="cannot be put in an order"):
        events_in_apply_order(chains, sequences)


def test_strategy_states_alone_need_no_cache(tmp_path: Path) -> None:
    plan = plan_rewrite(_database(tmp_path), cache=None, strategies={"S-1": {"n": b"1"}})
    assert [op[:2] for op in plan.ops] == [("strategy", "S-1")]
    assert verify_rewrite(plan) is None
