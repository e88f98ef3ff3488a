"""Without a cache database, a killed exec worker comes back without the positions its
predecessor had built from fills (docs/persistence.md, "What is lost without a
database"). The stop's audit must then be true to the venue, with the venue's own state
file as the referee: either the books match the venue's (exit 0), or the run exits 1
and the summary names every instrument whose position differs, with the venue's
amount. It never ends "clean" while the venue holds a position the node does not."""

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
    wait_pids_gone,
    wait_until,
)

pytestmark = pytest.mark.slow

EXEC_RESUMED = "RiskEngine: trading state ACTIVE for venue SIM (exec-SIM is back)"


def test_an_exec_worker_killed_without_a_database_ends_with_the_audit_true_to_the_venue(
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
    # Trade until the venue holds a position: the market maker keeps inventory.
    wait_fills_above(node, 4, timeout=90)
    old = mp.worker(mp.status(), "exec-SIM")
    os.kill(old["pid"], signal.SIGKILL)
    wait_pids_gone([old["pid"]], timeout=10, what="killed exec-SIM")
    mp.wait_worker("exec-SIM", lambda w: w["restarts"] == 1 and w["state"] == "RUNNING",
                   timeout=60, what="restarted and RUNNING")
    wait_until(lambda: EXEC_RESUMED in node.stderr(), 60, "trading to SIM resumes")

    node.send(signal.SIGINT)
    code = node.wait(timeout=120)
    summary = json.loads(summary_path.read_text())
    venue = venue_books(state)
    audit = summary["audit"]
    (verdict,) = audit["venues"].values()
    assert verdict["error"] is None and verdict["checked"] == [
        "orders", "positions", "balances", "fills"], verdict
    differ = {d["key"]: d for d in verdict["differences"] if d["kind"] == "position"}
    if audit["books_match_venue"]:
        assert code == 0 and summary["shutdown"]["clean"], node.output()
    else:
        # Never "clean" with a difference: exit 1, and each difference is the venue's truth.
        assert code == 1 and not summary["shutdown"]["clean"], node.output()
        assert "books differ from the venue" in node.stderr()
        for instrument, diff in differ.items():
            assert Decimal(diff["venue"].split()[0]) == venue["positions"].get(
                instrument, Decimal(0)), (diff, venue["positions"])
    # Every instrument the venue holds a position in either matches or is named.
    balances = {b["currency"]: Decimal(b["total"]) for b in summary["accounts"][0]["balances"]}
    if balances != venue["balances"]:
        assert any(d["kind"] == "balance" for d in verdict["differences"]), verdict
    wait_pids_gone([w["pid"] for w in summary["workers"]], timeout=10, what="worker pids")
