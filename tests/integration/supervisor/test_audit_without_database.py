"""Without a cache database, the exec worker and then the trader worker are killed
while both strategies trade. The new exec worker recovers from the venue: the orders
its strategies made are theirs again (not EXTERNAL) and each strategy's position is
rebuilt from the venue's fills; the new trader gets its state replayed, and the summary
keeps what the dead trader counted. The stop's audit is the referee, checked against
the venue's own state file: the run ends with the books equal to the venue's, exit 0;
had they differed, exit 1 naming every difference with the venue's amount (never a
"clean" stop while the venue holds something the node does not)."""

from __future__ import annotations

import json
import os
import signal
from decimal import Decimal
from pathlib import Path

import pytest
from tests.fixtures.multiprocess.books import venue_books
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    wait_fills_above,
    wait_fills_increase,
    wait_log,
    wait_pids_gone,
    wait_until,
)

pytestmark = pytest.mark.slow

EXEC_RESUMED = "RiskEngine: trading state ACTIVE for venue SIM (exec-SIM is back)"
REBUILT = r"no cache database: \d+ position\(s\) at SIM rebuilt"


def _kill(mp: MultiprocessHarness, name: str) -> None:
    old = mp.worker(mp.status(), name)
    os.kill(old["pid"], signal.SIGKILL)
    wait_pids_gone([old["pid"]], timeout=10, what=f"killed {name}")
    mp.wait_worker(name, lambda w: w["restarts"] == 1 and w["state"] == "RUNNING",
                   timeout=60, what="restarted and RUNNING")


def test_workers_killed_without_a_database_recover_from_the_venue_and_the_audit_agrees(
    mp: MultiprocessHarness, tmp_path: Path
) -> None:
    state = tmp_path / "venue.sqlite"
    overlay = tmp_path / "nodb.toml"
    overlay.write_text(
        'trader_id = "MPNODB-001"\n'
        f'[data_clients.SIM.config.venue_config]\nstate_path = "{state}"\n'
    )
    summary_path = tmp_path / "summary.json"
    node = mp.start("run", mp.config("restart_all.toml", overlay), "--summary-json",
                    summary_path)
    node.wait_for_line(r"^node \S+ RUNNING \(4 workers\)$", timeout=60)
    # Trade until the venue holds positions: the market maker keeps inventory.
    wait_fills_above(node, 4, timeout=90)
    _kill(mp, "exec-SIM")
    wait_until(lambda: EXEC_RESUMED in node.log(), 60, "trading to SIM resumes")
    # Logged by the new exec worker before it was ready, but by another process than
    # the line above (each writes its own log file from its own logging thread): waited for,
    # not assumed to be there already.
    wait_log(node, REBUILT, timeout=30)
    before_trader_kill = wait_fills_increase(node, timeout=60)  # trading goes on
    _kill(mp, "trader")
    wait_fills_increase(node, timeout=60)  # the new trader trades

    node.send(signal.SIGINT)
    code = node.wait(timeout=120)
    summary = json.loads(summary_path.read_text())
    venue = venue_books(state)
    (verdict,) = summary["audit"]["venues"].values()
    assert verdict["error"] is None and verdict["checked"] == [
        "orders", "positions", "balances", "fills"], verdict
    assert verdict["differences"] == [], verdict
    assert summary["audit"]["books_match_venue"] is True
    assert code == 0 and summary["shutdown"]["clean"], node.output()
    assert "invalid transition" not in node.log()
    # The venue's state file agrees: positions (the summary's, every strategy's and
    # EXTERNAL's) and balances.
    positions = {p["instrument_id"]: Decimal(p["net_quantity"]) for p in summary["positions"]}
    for instrument, qty in venue["positions"].items():
        assert positions.get(instrument, Decimal(0)) == qty, (instrument, positions, venue)
    balances = {b["currency"]: Decimal(b["total"]) for b in summary["accounts"][0]["balances"]}
    assert balances == venue["balances"]
    # Nothing applied twice: each fill listed once, each one a venue fill.
    trade_ids = [f["trade_id"] for f in summary["fills"]]
    assert len(trade_ids) == len(set(trade_ids)) and set(trade_ids) <= set(venue["trade_ids"])
    # What the dead trader counted is still in the summary.
    assert summary["counters"]["fills"] >= before_trader_kill
    wait_pids_gone([w["pid"] for w in summary["workers"]], timeout=10, what="worker pids")
