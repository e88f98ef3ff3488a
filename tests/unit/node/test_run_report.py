"""`RunReport`: the typed run report, its merge and its JSON form (issue 9 §3)."""

from __future__ import annotations

import json

import msgspec
import pytest

from livenode.core.latency import LatencyHistogram
from livenode.node.run_report import (
    ORDER_STATUS_KEYS,
    AccountRow,
    BalanceRow,
    Counters,
    FaultRow,
    FillRow,
    Histogram,
    LeftOpenRow,
    OrdersReport,
    PositionRow,
    RunReport,
    StrategyStateRow,
    TickToTrade,
    decode_report,
    encode_report,
)


def _histogram(*values: int) -> Histogram:
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    return Histogram.of(h)


def _fill(n: int, strategy: str) -> FillRow:
    return FillRow(instrument_id="BTCUSDT.SIM", strategy_id=strategy, client_order_id=f"O-{n}",
                   venue_order_id=f"V-{n}", trade_id=f"T-{n}", side="BUY", quantity="0.010",
                   price="100.00", currency="USDT", commission="0.01000000",
                   commission_currency="USDT", liquidity_side="TAKER", ts_event=n)


def _account(account_id: str, total: str) -> AccountRow:
    balance = BalanceRow(currency="USDT", total=total, locked="0", free=total)
    return AccountRow(account_id=account_id, account_type="CASH", balances=[balance],
                      initial_balances=[balance])


def _ttt(*values: int) -> TickToTrade:
    h = _histogram(*values)
    s = h.summary()
    return TickToTrade(samples=len(values), p50=s["p50"], p90=s["p90"], p99=s["p99"],
                       p99_9=s["p99.9"], max=s["max"], histogram=h)


A = RunReport(
    trader_id="T-1", mode="multiprocess", run_seconds=3.0,
    strategies=["S-A"],
    strategy_states={"S-A": StrategyStateRow(state="RUNNING", events_handled=5)},
    counters=Counters(order_events=10, orders_created=4, orders_submitted=3, fills=2),
    engines={"Portfolio": {"events": 7}},
    orders=OrdersReport(by_status={"filled": 2, "denied": 1, "accepted": 1}),
    risk_denials={"NOTIONAL": 1},
    rejections={"insufficient balance": 1},
    fills=[_fill(1, "S-A"), _fill(2, "S-A")],
    positions={"BTCUSDT.SIM": PositionRow(instrument_id="BTCUSDT.SIM", net_quantity="0.020",
                                          realized_pnl="-0.02000000", unrealized_pnl=None,
                                          currency="USDT", closed_cycles=1)},
    pnl_by_strategy={"S-A": {"USDT": "-0.02"}},
    accounts={"SIM-001": _account("SIM-001", "100")},
    hops={"data->trader": _histogram(1000, 2000)},
)
B = RunReport(
    trader_id="T-1", mode="multiprocess", run_seconds=5.0,
    strategies=["S-B"],
    faulted_strategies={"S-B": FaultRow(error="RuntimeError: boom", on_fault="stop")},
    counters=Counters(order_events=1, orders_created=1, fills=1),
    engines={"Portfolio": {"events": 3, "accounts": 1}},
    orders=OrdersReport(by_status={"filled": 1}),
    risk_denials={"NOTIONAL": 2, "RATE": 1},
    fills=[_fill(3, "S-B")],
    fills_truncated=True,
    positions={"BTCUSDT.SIM": PositionRow(instrument_id="BTCUSDT.SIM", net_quantity="-0.005",
                                          realized_pnl="1.5", unrealized_pnl="0.25",
                                          currency="USDT", closed_cycles=2)},
    pnl_by_strategy={"S-B": {"USDT": "1.75"}, "S-A": {"USDT": "0.02"}},
    tick_to_trade={"SIM": _ttt(10_000, 20_000)},
    hops={"data->trader": _histogram(3000)},
)
C = RunReport(
    counters=Counters(quotes=500, trades=20),
    engines={"DataEngine": {"quotes": 500}},
    accounts={"SIM-001": _account("SIM-001", "99.5")},
    tick_to_trade={"SIM": _ttt(30_000)},
    hops={"trader->risk": _histogram(4000)},
)


def test_merge_is_associative() -> None:
    left = A.merge(B).merge(C)
    right = A.merge(B.merge(C))
    assert left.to_dict() == right.to_dict()
    assert encode_report(left) == encode_report(right)


def test_merge_adds_counters_and_unions_the_maps() -> None:
    merged = A.merge(B).merge(C)
    assert merged.counters == Counters(quotes=500, trades=20, order_events=11,
                                       orders_created=5, orders_submitted=3, fills=3)
    assert merged.orders.by_status == {"filled": 3, "denied": 1, "accepted": 1}
    assert merged.orders.total == 5
    assert merged.risk_denials == {"NOTIONAL": 3, "RATE": 1}
    assert merged.engines == {"Portfolio": {"events": 10, "accounts": 1},
                              "DataEngine": {"quotes": 500}}
    assert merged.strategies == ["S-A", "S-B"]
    assert set(merged.strategy_states) == {"S-A"} and set(merged.faulted_strategies) == {"S-B"}
    assert [f.trade_id for f in merged.fills] == ["T-1", "T-2", "T-3"]
    assert merged.fills_truncated
    assert merged.run_seconds == 5.0
    # Two processes' strategies on one instrument: quantities and PnL add.
    position = merged.positions["BTCUSDT.SIM"]
    assert (position.net_quantity, position.realized_pnl, position.unrealized_pnl,
            position.closed_cycles) == ("0.015", "1.48000000", "0.25", 3)
    assert merged.pnl_by_strategy == {"S-A": {"USDT": "0.00"}, "S-B": {"USDT": "1.75"}}
    # The right-hand account row wins (the supervisor merges the exec workers last).
    assert merged.accounts["SIM-001"].balances[0].total == "99.5"


def test_merge_merges_the_histograms() -> None:
    merged = A.merge(B).merge(C)
    hop = merged.hops["data->trader"].summary()
    assert hop["count"] == 3
    assert hop["max"] == pytest.approx(3000, rel=1e-3)
    assert merged.hops["trader->risk"].summary()["count"] == 1
    ttt = merged.tick_to_trade["SIM"]
    assert ttt.samples == 3
    assert ttt.max == pytest.approx(30_000, rel=1e-3)
    assert ttt.p50 == pytest.approx(20_000, rel=1e-3)


def test_the_json_form_keeps_the_summary_keys() -> None:
    summary = json.loads(json.dumps(A.merge(B).merge(C).to_dict()))
    assert set(summary) >= {
        "trader_id", "instance_id", "mode", "environment", "run_seconds", "clients",
        "strategies", "database", "strategy_states", "counters", "engines", "orders",
        "risk_denials", "rejections", "faulted_strategies", "fills", "fills_truncated",
        "positions", "closed_positions", "accounts", "latency", "hop_latency",
    }
    assert summary["orders"]["total"] == 5
    assert list(summary["orders"]["by_status"]) == list(ORDER_STATUS_KEYS)
    assert summary["counters"]["fills"] == 3
    assert summary["positions"][0]["instrument_id"] == "BTCUSDT.SIM"
    assert summary["accounts"][0]["balances"][0] == {
        "currency": "USDT", "total": "99.5", "locked": "0", "free": "99.5"}
    row = summary["latency"]["tick_to_trade_ns"]["SIM"]
    assert set(row) == {"samples", "p50", "p90", "p99", "p99.9", "max"}
    assert summary["hop_latency"]["data->trader"]["count"] == 3
    assert summary["faulted_strategies"]["S-B"] == {"error": "RuntimeError: boom",
                                                    "on_fault": "stop"}
    assert summary["strategy_states"]["S-A"]["state"] == "RUNNING"
    # A single-process node has no bus hops: no such section.
    assert "hop_latency" not in RunReport(mode="single").to_dict()


def test_a_report_travels_as_msgpack_and_bad_bytes_name_the_fault() -> None:
    report = A.merge(B)
    assert decode_report(encode_report(report)) == report
    with pytest.raises(ValueError, match=r"malformed run report \(3 bytes\)"):
        decode_report(b"\x93\x01\x02")
    with pytest.raises(ValueError, match="malformed run report"):
        decode_report(msgspec.msgpack.encode({"counters": {"fills": "many"}}))


def test_a_position_left_open_at_stop_is_named_and_the_run_is_not_flat() -> None:
    # A trader worker's strategy left dust open: it travels with its report to the
    # supervisor, and the summary names it (with the strategy) and is not flat.
    dust = LeftOpenRow(instrument_id="BTCUSDT.SIM", position_id="BTCUSDT.SIM-S-A",
                       quantity="-0.00004", reason="dust: notional 2 USDT below the minimum")
    trader = RunReport(
        strategy_states={"S-A": StrategyStateRow(state="STOPPED", left_open=[dust]),
                         "S-B": StrategyStateRow(state="STOPPED")},
        positions={"BTCUSDT.SIM": PositionRow(
            instrument_id="BTCUSDT.SIM", net_quantity="-0.00004", realized_pnl="0",
            unrealized_pnl=None, currency="USDT")})
    summary = decode_report(encode_report(trader)).merge(C).to_dict()
    assert summary["flat"] is False
    assert summary["left_open"] == [{
        "strategy_id": "S-A", "instrument_id": "BTCUSDT.SIM", "position_id": "BTCUSDT.SIM-S-A",
        "quantity": "-0.00004", "reason": "dust: notional 2 USDT below the minimum"}]
    # Flat: every instrument's net quantity is 0, nothing left open.
    flat = RunReport(positions={"BTCUSDT.SIM": PositionRow(
        instrument_id="BTCUSDT.SIM", net_quantity="0.00000", realized_pnl="1",
        unrealized_pnl=None, currency="USDT")}).to_dict()
    assert flat["flat"] is True and flat["left_open"] == []


def test_a_dead_workers_flows_stay_and_its_state_goes() -> None:
    dead = A.flows_only()
    assert dead.counters == A.counters and dead.fills == A.fills
    assert dead.risk_denials == A.risk_denials and dead.rejections == A.rejections
    # Final statuses only: an order open then is replayed to the new worker, which counts it.
    assert dead.orders.by_status == {"filled": 2, "denied": 1}
    assert not dead.positions and not dead.pnl_by_strategy and not dead.accounts
    assert not dead.strategy_states and not dead.hops
    # Its successor's report merged on top: the counts add, the state is the successor's.
    merged = dead.merge(B)
    assert merged.counters.fills == A.counters.fills + B.counters.fills
    assert merged.positions == B.positions


def test_the_supervisor_keeps_a_restarted_workers_earlier_counts() -> None:
    from types import SimpleNamespace

    from livenode.supervisor.status_report import merged_report

    handle = SimpleNamespace(role="trader", name="trader", report=B, live_report=B,
                             earlier_reports=[A.flows_only()])
    for live in (True, False):
        report = merged_report([handle], {}, live=live)  # type: ignore[list-item]
        assert report.counters.fills == 3 and report.positions == B.positions
        assert [f.trade_id for f in report.fills] == ["T-1", "T-2", "T-3"]


def test_a_dead_workers_counts_are_its_last_heartbeats_when_newer() -> None:
    """The light report comes every 2 s, the status facts with every heartbeat: a trader
    killed 1.9 s after its last light report had counted more fills than it says, and
    the status line showed them. The summary keeps the newer figure (issue 16)."""
    from livenode.supervisor.status_report import dead_worker_flows

    facts = {"fills": 40, "orders": 9, "quotes": 7000, "trades": 3}
    kept = dead_worker_flows(A, facts, "trader")
    assert kept is not None
    assert (kept.counters.fills, kept.counters.orders_created) == (40, 9)
    # A trader's quotes are the ones it heard, not the run's: the data worker counts those.
    assert (kept.counters.quotes, kept.counters.trades) == (A.counters.quotes, 0)
    assert kept.counters.orders_submitted == A.counters.orders_submitted
    assert kept.fills == A.fills and kept.orders.by_status == A.flows_only().orders.by_status
    # Older facts never lower what the report counted; a data worker's are its ticks.
    older = dead_worker_flows(A, {"fills": 1, "orders": 1}, "trader")
    assert older is not None and older.counters == A.counters
    data = dead_worker_flows(C, facts, "data")
    assert data is not None and (data.counters.quotes, data.counters.trades) == (7000, 20)
    assert data.counters.fills == 0
    # Dead before its first light report: its heartbeats still said what it counted.
    early = dead_worker_flows(None, facts, "trader")
    assert early is not None and early.counters.fills == 40
    assert dead_worker_flows(None, None, "trader") is None
