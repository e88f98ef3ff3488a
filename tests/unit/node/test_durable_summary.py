"""The summary read back from the database: counts across runs, and its own check."""

from __future__ import annotations

from typing import Any

from livenode.cache.database import DatabaseState
from livenode.model.enums import OrderSide
from livenode.model.identifiers import StrategyId
from livenode.node.durable_summary import apply_durable_books, books_from_state
from tests.unit.engines.helpers import (
    IID,
    STRAT,
    accepted,
    account_state,
    filled,
    order_init,
    submitted,
)


def _state() -> DatabaseState:
    """Two runs' worth: a buy of 3 (two fills), a sell of 1, an order still open,
    and an EXTERNAL fill of 1 (another session on the account)."""
    buy = order_init(qty="3.000", coid="B-1")
    sell = order_init(side=OrderSide.SELL, qty="1.000", coid="S-1")
    rest = order_init(qty="1.000", coid="R-1")
    ext = order_init(qty="1.000", coid="EXT-1", strategy_id=StrategyId("EXTERNAL"))
    events: list[Any] = []
    for init in (buy, sell, rest, ext):
        events += [init, submitted(init), accepted(init, vid=f"V-{init.client_order_id}")]
    events += [
        filled(buy, "2.000", "100.00", "T-1", vid="V-B-1"),
        filled(buy, "1.000", "100.00", "T-2", vid="V-B-1"),
        filled(sell, "1.000", "101.00", "T-3", vid="V-S-1"),
        filled(ext, "1.000", "99.00", "T-4", vid="V-EXT-1"),
    ]
    first, last = account_state(), account_state(usdt_free="99000")
    return DatabaseState(order_events=events, accounts={"SIM-001": (first, last)})


def _summary(net: str, denied: int = 0) -> dict[str, Any]:
    return {
        "orders": {"total": 1, "by_status": {"filled": 1, "denied": denied}, "open": []},
        "fills": [{"trade_id": "T-3"}],
        "counters": {"fills": 1},
        "positions": [{"instrument_id": str(IID), "net_quantity": net}],
        "accounts": [],
    }


def test_the_summary_counts_every_stored_order_and_fill() -> None:
    books = books_from_state(_state(), "sqlite test.sqlite")
    summary = _summary("3.000", denied=2)
    assert apply_durable_books(summary, books) == []
    assert summary["orders"]["by_status"] == {"filled": 3, "accepted": 1, "denied": 2}
    assert summary["orders"]["total"] == 6
    assert [f["trade_id"] for f in summary["fills"]] == ["T-1", "T-2", "T-3", "T-4"]
    assert summary["counters"]["fills"] == 4
    assert summary["this_run"]["fills"] == 1
    (account,) = summary["accounts"]
    usdt = next(b for b in account["balances"] if b["currency"] == "USDT")
    assert usdt["total"].startswith("99000")
    assert summary["durable_source"] == "sqlite test.sqlite" and summary["errors"] == []


def test_positions_that_disagree_with_the_fills_are_an_error() -> None:
    books = books_from_state(_state(), "x")
    summary = _summary("2.000")  # the node lost a fill somewhere
    (error,) = apply_durable_books(summary, books)
    assert error == (f"position {IID}: the node reported 2.000, its fills in the database "
                     "add up to 3.000")
    assert summary["errors"] == [error]


def test_the_check_covers_only_the_strategies_the_node_reported() -> None:
    # A multiprocess trader reports its strategies' positions, not EXTERNAL ones.
    books = books_from_state(_state(), "x")
    assert apply_durable_books(_summary("2.000"), books, strategies={str(STRAT)}) == []
    assert apply_durable_books(_summary("3.000"), books, strategies={str(STRAT)}) != []


def test_the_closed_position_cycles_come_from_every_stored_fill() -> None:
    """A flip split over two runs: the first sold 2@120 (fee 0.12), the second bought
    3@100 (fee 0.30); the summary lists the short's cycle from the stored fills."""
    import msgspec

    from livenode.model.position import netting_position_id
    from tests.unit.engines.helpers import make_instrument

    sell = order_init(side=OrderSide.SELL, qty="2.000", price="120.00", coid="S-1")
    buy = order_init(qty="3.000", coid="B-1")
    events: list[Any] = []
    for init in (sell, buy):
        events += [init, submitted(init), accepted(init, vid=f"V-{init.client_order_id}")]
    fills = [filled(sell, "2.000", "120.00", "T-1", commission="0.12", vid="V-S-1"),
             filled(buy, "3.000", "100.00", "T-2", commission="0.30", vid="V-B-1")]
    # stored as the execution engine applied them: with the netting position id
    pid = netting_position_id(IID, STRAT)
    events += [msgspec.structs.replace(f, position_id=pid) for f in fills]
    state = DatabaseState(instruments=[make_instrument()], order_events=events)
    books = books_from_state(state, "sqlite test.sqlite")
    summary = _summary("1.000")
    summary["closed_positions"] = []  # this run saw no cycle close
    assert apply_durable_books(summary, books) == []
    (closed,) = summary["closed_positions"]
    assert closed["side"] == "SHORT" and closed["peak_qty"] == "2.000"
    assert closed["realized_pnl"] == "39.68000000" and closed["commissions"] == "0.32000000"
    assert closed["avg_px_open"] == "120.0" and closed["avg_px_close"] == "100.0"
    assert (closed["opening_order_id"], closed["closing_order_id"]) == ("S-1", "B-1")
    assert summary["positions"][0]["closed_cycles"] == 1
    assert summary["this_run"]["closed_positions"] == []
    # a strategy the trader workers do not host: none of its cycles
    other = _summary("0")
    assert apply_durable_books(other, books, {"S-OTHER"}) == []
    assert other["closed_positions"] == [] and other["positions"][0]["closed_cycles"] == 0


def test_denials_and_rejections_of_every_run_are_counted_from_the_database() -> None:
    """Issue 17: after a trader restart the summary said `denied 4` with 97 OrderDenied
    stored, and listed 23 of 91 rejections: the run's own counters start at zero."""
    from livenode.model.events import OrderDenied, OrderRejected
    from tests.unit.engines.helpers import ACCOUNT, T0

    state = _state()
    for n in range(5):
        init = order_init(qty="1.000", coid=f"D-{n}")
        state.order_events += [init, OrderDenied(
            reason="POSITION_MISMATCH: venue 1, cache 0", trader_id=init.trader_id,
            strategy_id=init.strategy_id, instrument_id=init.instrument_id,
            client_order_id=init.client_order_id, event_id=f"d{n}", ts_event=T0, ts_init=T0)]
    for n in range(3):
        init = order_init(qty="1.000", coid=f"J-{n}")
        state.order_events += [init, submitted(init), OrderRejected(
            account_id=ACCOUNT, reason=f"insufficient balance (need {n + 5}, free 1)",
            trader_id=init.trader_id, strategy_id=init.strategy_id,
            instrument_id=init.instrument_id, client_order_id=init.client_order_id,
            event_id=f"j{n}", ts_event=T0, ts_init=T0)]
    books = books_from_state(state, "sqlite test.sqlite")
    summary = _summary("3.000", denied=1)
    summary["risk_denials"] = {"POSITION_MISMATCH": 1, "SUBMIT_RATE_EXCEEDED": 1}
    summary["rejections"] = {"insufficient balance": 1}
    apply_durable_books(summary, books)
    assert summary["orders"]["by_status"]["denied"] == 5
    assert summary["orders"]["by_status"]["rejected"] == 3
    assert summary["risk_denials"] == {"POSITION_MISMATCH": 5, "SUBMIT_RATE_EXCEEDED": 1}
    assert summary["rejections"] == {"insufficient balance": 3}
