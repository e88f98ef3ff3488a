"""What `livenode run` prints, formatted from a summary: status line, table, JSON."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from livenode.cli.summary import startup_lines, status_line, summary_table, write_summary_json
from livenode.config import TradingNodeConfig

SANDBOX = Path(__file__).resolve().parents[3] / "configs" / "sandbox.toml"

SUMMARY = {
    "trader_id": "T-001",
    "mode": "single",
    "environment": "sandbox",
    "run_seconds": 12.34,
    "counters": {"quotes": 100, "trades": 5, "fills": 2},
    "orders": {
        "total": 4,
        "by_status": {"filled": 2, "canceled": 1, "denied": 1, "accepted": 0},
        "open": [],
    },
    "risk_denials": {"NOTIONAL_EXCEEDS_MAX_PER_ORDER": 1},
    "positions": [
        {"instrument_id": "BTCUSDT.SIM", "net_quantity": "0.01", "realized_pnl": "-1.234",
         "unrealized_pnl": None, "currency": "USDT"},
    ],
    "accounts": [
        {"account_id": "SIM-001", "balances": [
            {"currency": "USDT", "total": "99.5", "free": "99.5", "locked": "0"}]},
    ],
    "shutdown": {"clean": True, "seconds": 0.25, "reason": "received SIGINT"},
}


def test_status_line_has_the_promised_fields() -> None:
    line = status_line(
        seconds=4.2, state="ACTIVE", orders=7, fills=3, denied=1,
        open_positions={"BTCUSDT.SIM": Decimal("-0.02")}, pnl={"USDT": Decimal("1.005")},
    )
    assert line == "status t=4s ACTIVE orders=7 fills=3 denied=1 pos=BTCUSDT:-0.02 pnl=+1.00 USDT"
    flat = status_line(seconds=0, orders=0, fills=0, open_positions={}, pnl={})
    assert flat == "status t=0s orders=0 fills=0 denied=0 pos=flat pnl=0"  # no state known
    assert "stalled" not in flat
    stalled = status_line(seconds=0, orders=2, fills=0, open_positions={}, pnl={}, stalled=2)
    assert stalled.endswith(" stalled=2")


def test_status_line_names_positions_briefly() -> None:
    from livenode.cli.summary import positions_fragment

    assert positions_fragment({"ETHUSDT-PERP.SIM": Decimal("0.100"),
                               "BTCUSDT.SIM": Decimal("-0.02")}) == (
        "pos=BTCUSDT:-0.02,ETHUSDT-PERP:+0.100")
    # One symbol on two venues: the full ids, or the line would be ambiguous.
    assert positions_fragment({"BTCUSDT.SIM": Decimal(1), "BTCUSDT.XCH": Decimal(-1)}) == (
        "pos=BTCUSDT.SIM:+1,BTCUSDT.XCH:-1")
    many = {f"S{n}.SIM": Decimal(n) for n in range(1, 6)}
    assert positions_fragment(many) == "pos=S1:+1,S2:+2,S3:+3,+2 more"


def test_summary_table_states_every_fact() -> None:
    text = "\n".join(summary_table(SUMMARY))
    assert "== summary: T-001 (single, sandbox) ==" in text
    assert "orders         4 (submitted 0, accepted 0, partially filled 0, filled 2" in text
    assert "denied 1" in text
    assert "fills          2" in text
    assert "risk denials   NOTIONAL_EXCEEDS_MAX_PER_ORDER: 1" in text
    assert "BTCUSDT.SIM" in text and "-1.23 USDT" in text and "n/a" in text
    assert "SIM-001    USDT" in text
    assert "shutdown       clean in 0.25 s (received SIGINT)" in text


def test_summary_table_names_what_the_stop_left_open_and_never_calls_it_flat() -> None:
    summary = {**SUMMARY, "flat": False, "left_open": [{
        "strategy_id": "MarketMaker-001", "instrument_id": "BTCUSDT.SIM",
        "position_id": "BTCUSDT.SIM-MarketMaker-001", "quantity": "0.01",
        "reason": "dust: notional 1.9995 USDT below the minimum notional 5 USDT"}]}
    lines = summary_table(summary)
    assert ("left open      BTCUSDT.SIM 0.01 (MarketMaker-001): dust: notional 1.9995 USDT "
            "below the minimum notional 5 USDT") in lines
    assert lines[-1] == ("shutdown       clean in 0.25 s (received SIGINT); "
                         "not flat: BTCUSDT.SIM 0.01")
    flat = {**SUMMARY, "positions": [{**SUMMARY["positions"][0], "net_quantity": "0.00"}]}
    text = summary_table(flat)
    assert text[-1] == "shutdown       clean in 0.25 s (received SIGINT)"
    assert not any(line.startswith("left open") for line in text)


def test_summary_json_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    write_summary_json(SUMMARY, path)
    assert json.loads(path.read_text()) == SUMMARY
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left


def test_startup_lines_name_trader_mode_clients_strategies(
    sandbox_config: TradingNodeConfig,
) -> None:
    lines = startup_lines(sandbox_config, "configs/sandbox.toml")
    assert lines[0] == "livenode run configs/sandbox.toml"
    assert "  trader      SANDBOX-001" in lines
    assert "  mode        single (sandbox)" in lines
    assert "  clients     SIM (data), SIM (exec)" in lines
    assert (
        "  strategies  MarketMaker-001 (BTCUSDT.SIM), EMACross-001 (ETHUSDT-PERP.SIM)" in lines
    )
    assert not any(line.startswith("  log") for line in lines)  # no file: no line


def test_startup_lines_say_where_the_log_file_is(sandbox_config: TradingNodeConfig) -> None:
    import argparse

    from livenode.cli.run import logging_for_run
    from livenode.config import load_config

    args = argparse.Namespace(log_file=None, verbose=False)
    config = logging_for_run(sandbox_config, args)
    assert config.logging.file == "data/logs/SANDBOX-001.log"
    lines = startup_lines(config, "configs/sandbox.toml")
    assert lines[-1] == (
        "  log         data/logs/SANDBOX-001.log (INFO and up; the screen: WARNING and up)")
    verbose = logging_for_run(sandbox_config, argparse.Namespace(log_file=None, verbose=True))
    assert startup_lines(verbose, "x")[-1].endswith("(INFO and up; the screen too)")
    multi = logging_for_run(load_config(SANDBOX.with_name("sandbox-multiprocess.toml")), args)
    assert startup_lines(multi, "x")[-1] == (
        "              one per process beside it: SANDBOX-001-<process>.log")


CLOSED_ROW = {
    "instrument_id": "BTC-PERP.SIM", "strategy_id": "S-001", "position_id": "BTC-PERP.SIM-S-001",
    "side": "SHORT", "peak_qty": "2.000", "avg_px_open": "120.0", "avg_px_close": "100.0",
    "realized_pnl": "39.68000000", "commissions": "0.32000000", "currency": "USDT",
    "opening_order_id": "O-1", "closing_order_id": "O-2", "ts_opened": 1, "ts_closed": 2,
}


def test_summary_table_lists_the_closed_position_cycles() -> None:
    summary = dict(SUMMARY, closed_positions=[CLOSED_ROW])
    lines = summary_table(summary)
    at = lines.index("closed positions (1)")
    assert lines[at + 1].split() == ["instrument", "side", "peak", "qty", "avg", "open", "avg",
                                     "close", "realized", "commissions"]
    assert lines[at + 2].split() == ["BTC-PERP.SIM", "SHORT", "2.000", "120.0", "100.0",
                                     "+39.68", "USDT", "+0.32", "USDT"]
    assert lines[at + 3] == "balances"
    # none closed: no section; the table of a summary without the key still prints
    assert not any(line.startswith("closed positions") for line in summary_table(SUMMARY))


def test_summary_table_lists_only_the_newest_closed_cycles() -> None:
    from livenode.cli.summary import MAX_CLOSED_LINES

    rows = [dict(CLOSED_ROW, realized_pnl=f"{n}.00000000") for n in range(MAX_CLOSED_LINES + 3)]
    lines = summary_table(dict(SUMMARY, closed_positions=rows))
    at = lines.index(f"closed positions ({MAX_CLOSED_LINES + 3})")
    assert lines[at + 2] == "  ... 3 earlier (see --summary-json)"
    assert "+3.00 USDT" in lines[at + 3]
    assert f"+{MAX_CLOSED_LINES + 2}.00 USDT" in lines[at + 2 + MAX_CLOSED_LINES]
    assert lines[at + 3 + MAX_CLOSED_LINES] == "balances"


def test_closed_cycle_average_prices_are_shown_to_ten_significant_digits() -> None:
    row = dict(CLOSED_ROW, avg_px_open="50014.93442885771", avg_px_close=None)
    lines = summary_table(dict(SUMMARY, closed_positions=[row]))
    at = lines.index("closed positions (1)")
    assert lines[at + 2].split()[3:5] == ["50014.93443", "n/a"]
