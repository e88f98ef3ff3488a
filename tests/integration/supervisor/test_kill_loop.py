"""A kill loop: for over a minute, SIGKILL a random role (data, trader, risk, exec or
the venue) every few seconds while both strategies trade, on both cache backends.

After a clean stop the node's books must equal the venue's (its own state file):
every venue fill once in the node's books, no order sent twice, the same net
positions, balances and open orders, and the summary (read back from the database:
every process's work) consistent with itself. The run ends exit 0. Without a
database, the stop's audit must be true to the venue's state file.

The seed of the random choice is printed; `LIVENODE_KILL_LOOP_SEED` replays one."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
from decimal import Decimal
from pathlib import Path

import pytest
from tests.acceptance.helpers import LivenodeProcess
from tests.fixtures.multiprocess.books import (
    assert_books_match,
    assert_no_order_sent_twice,
    venue_books,
)
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    wait_fills_above,
    wait_fills_increase,
    wait_pids_gone,
    wait_until,
)

pytestmark = pytest.mark.slow

LOOP_SECONDS = 60.0
WORKERS = {"data": "data-SIM", "trader": "trader", "risk": "risk", "exec": "exec-SIM"}
ROLES = [*WORKERS, "venue"]
VENUE_PID = re.compile(r"service +sim-SIM (?:ready|is back) \(pid (\d+)\)")
VENUE_RESUMED = "venue SIM reconnected and reconciled by exec-SIM: trading resumes"
EXEC_RESUMED = "RiskEngine: trading state ACTIVE for venue SIM (exec-SIM is back)"


def _venue_pid(node: LivenodeProcess) -> int:
    # "ready" is on the start-up table (stdout); "is back" is logged (the log file).
    return int(VENUE_PID.findall("\n".join(node.lines) + "\n" + node.log())[-1])


def _kill_worker(mp: MultiprocessHarness, node: LivenodeProcess, name: str) -> None:
    before = mp.worker(mp.status(), name)
    assert before["state"] == "RUNNING", before
    resumed = node.log().count(EXEC_RESUMED)
    os.kill(before["pid"], signal.SIGKILL)
    wait_pids_gone([before["pid"]], timeout=10, what=f"killed {name}")
    mp.wait_worker(name, lambda w: w["restarts"] == before["restarts"] + 1
                   and w["state"] == "RUNNING", timeout=60, what="restarted and RUNNING")
    if name == WORKERS["exec"]:
        wait_until(lambda: node.log().count(EXEC_RESUMED) > resumed, 60,
                   "risk resumes trading to SIM after the exec restart")


def _kill_venue(mp: MultiprocessHarness, node: LivenodeProcess) -> None:
    pid = _venue_pid(node)
    resumed = node.log().count(VENUE_RESUMED)
    os.kill(pid, signal.SIGKILL)
    wait_pids_gone([pid], timeout=10, what="killed venue")
    wait_until(lambda: _venue_pid(node) != pid, 60, "the venue back with a new pid")
    mp.pids.add(_venue_pid(node))
    wait_until(lambda: node.log().count(VENUE_RESUMED) > resumed, 60,
               "the venue reconciled and trading resumed")


def _kill_loop(mp: MultiprocessHarness, node: LivenodeProcess,
               chooser: random.Random) -> list[str]:
    """Kill a random role every time both strategies traded again, for `LOOP_SECONDS`
    and until every role died once; return the roles in the order killed."""
    killed: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < LOOP_SECONDS or set(killed) != set(ROLES):
        # Every role at least once, in random order, then random picks.
        unkilled = [role for role in ROLES if role not in killed]
        role = chooser.choice(unkilled or ROLES)
        killed.append(role)
        if role == "venue":
            _kill_venue(mp, node)
        else:
            _kill_worker(mp, node, WORKERS[role])
        # Both strategies trade again before the next kill.
        wait_fills_increase(node, timeout=60)
    print(f"killed in order: {killed}")
    return killed


def test_random_kills_for_a_minute_leave_the_books_equal_to_the_venues(
    mp: MultiprocessHarness, tmp_path: Path, database_toml: str
) -> None:
    seed = int(os.environ.get("LIVENODE_KILL_LOOP_SEED", random.randrange(1 << 30)))
    print(f"kill loop seed: {seed}")
    chooser = random.Random(seed)
    state = tmp_path / "venue.sqlite"
    overlay = tmp_path / "kill-loop.toml"
    overlay.write_text(
        database_toml
        # Every role dies several times within the window: no crash-loop stop.
        + "[supervisor]\nmax_restarts = 50\nrestart_backoff = 0.5\nrestart_backoff_max = 1.0\n"
        + '[data_clients.SIM.config]\nvenue_on_exit = "restart"\n'
        + f'[data_clients.SIM.config.venue_config]\nstate_path = "{state}"\n'
    )
    summary_path = tmp_path / "run.summary.json"
    node = mp.start("run", mp.config("restart_all.toml", overlay), "--summary-json",
                    summary_path)
    node.wait_for_line(r"^node \S+ RUNNING \(4 workers\)$", timeout=60)
    mp.pids.add(_venue_pid(node))
    wait_fills_above(node, 2, timeout=60)

    killed = _kill_loop(mp, node, chooser)

    node.send(signal.SIGINT)
    code = node.wait(timeout=120)
    assert code == 0, f"seed {seed}, kills {killed}:\n{node.output()}"
    stderr = node.log()
    assert "books do not add up" not in stderr
    # No order the node holds denied or rejected was acted on at the venue.
    acted_on = re.findall(r"invalid transition (?:DENIED|REJECTED) -> Order\w+", stderr)
    assert not acted_on, acted_on
    summary = json.loads(summary_path.read_text())
    assert summary["durable_source"] and summary["errors"] == [], summary["errors"]
    assert summary["this_run"]["fills"] > 0
    assert_books_match(summary, state)
    assert_no_order_sent_twice(summary, state, stderr)
    wait_pids_gone([w["pid"] for w in summary["workers"]], timeout=10, what="worker pids")


def test_random_kills_without_a_database_end_with_the_audit_true_to_the_venue(
    mp: MultiprocessHarness, tmp_path: Path
) -> None:
    """The same loop with no cache database (the sandbox default): every restarted
    worker recovers from its peers and the venue. The referee is the venue's state
    file: the stop's audit must say what it holds. Either the books match (exit 0, and
    the summary's positions and balances equal the venue's), or the run exits 1 and
    the audit names each difference with the venue's amount; never "clean" with one."""
    seed = int(os.environ.get("LIVENODE_KILL_LOOP_SEED", random.randrange(1 << 30)))
    print(f"kill loop seed: {seed}")
    state = tmp_path / "venue.sqlite"
    overlay = tmp_path / "kill-loop.toml"
    overlay.write_text(
        'trader_id = "MPKILLNODB-001"\n'
        "[supervisor]\nmax_restarts = 50\nrestart_backoff = 0.5\nrestart_backoff_max = 1.0\n"
        '[data_clients.SIM.config]\nvenue_on_exit = "restart"\n'
        f'[data_clients.SIM.config.venue_config]\nstate_path = "{state}"\n'
    )
    summary_path = tmp_path / "run.summary.json"
    node = mp.start("run", mp.config("restart_all.toml", overlay), "--summary-json",
                    summary_path)
    node.wait_for_line(r"^node \S+ RUNNING \(4 workers\)$", timeout=60)
    mp.pids.add(_venue_pid(node))
    wait_fills_above(node, 2, timeout=60)
    killed = _kill_loop(mp, node, random.Random(seed))

    node.send(signal.SIGINT)
    code = node.wait(timeout=120)
    summary = json.loads(summary_path.read_text())
    venue = venue_books(state)
    audit = summary["audit"]
    (verdict,) = audit["venues"].values()
    context = f"seed {seed}, kills {killed}: {verdict}\n{node.output()}"
    assert verdict["error"] is None, context
    positions = {p["instrument_id"]: Decimal(p["net_quantity"]) for p in summary["positions"]}
    balances = {b["currency"]: Decimal(b["total"])
                for b in summary["accounts"][0]["balances"]}
    # Nothing applied twice: each fill listed once, each one a venue fill.
    trade_ids = [f["trade_id"] for f in summary["fills"]]
    assert len(trade_ids) == len(set(trade_ids)), context
    assert set(trade_ids) <= set(venue["trade_ids"]), context
    if audit["books_match_venue"]:
        assert code == 0 and summary["shutdown"]["clean"], context
        for instrument, qty in venue["positions"].items():
            assert positions.get(instrument, Decimal(0)) == qty, context
        assert balances == venue["balances"], context
    else:
        assert code == 1 and not summary["shutdown"]["clean"], context
        for diff in verdict["differences"]:
            if diff["kind"] == "position":
                assert Decimal(diff["venue"].split()[0]) == venue["positions"].get(
                    diff["key"], Decimal(0)), context
    wait_pids_gone([w["pid"] for w in summary["workers"]], timeout=10, what="worker pids")
