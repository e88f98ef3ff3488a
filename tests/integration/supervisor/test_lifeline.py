"""The worker side of the lifeline: a supervisor that stops answering (SIGSTOP, as a
hung or starved process would) makes its workers stop themselves; when it comes
back, it takes their exits as unexpected (exit 4, not a stop it asked for) and
restarts them by their policy, and the node trades on and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from tests.fixtures.multiprocess.books import assert_books_match, assert_no_order_sent_twice
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    wait_fills_above,
    wait_fills_increase,
    wait_pids_gone,
)

from livenode.supervisor.handles import EXIT_LIFELINE_LOST

pytestmark = pytest.mark.slow


def test_workers_of_a_stopped_supervisor_stop_and_are_restarted_when_it_returns(
    mp: MultiprocessHarness, tmp_path: Path
) -> None:
    state = tmp_path / "venue.sqlite"
    overlay = tmp_path / "venue.toml"
    # With a cache database the summary holds every process's fills (durable books).
    overlay.write_text(
        f'[cache.database]\ntype = "sqlite"\npath = "{tmp_path / "node.sqlite"}"\n'
        f'[data_clients.SIM.config.venue_config]\nstate_path = "{state}"\n')
    summary_path = tmp_path / "run.summary.json"
    node = mp.start("run", mp.config("restart_all.toml", overlay), "--summary-json",
                    summary_path)
    node.wait_for_line(r"^node \S+ RUNNING \(4 workers\)$", timeout=60)
    wait_fills_above(node, 0, timeout=60)
    before = {w["name"]: w["pid"] for w in mp.status()["workers"]}

    os.kill(node.proc.pid, signal.SIGSTOP)
    try:
        # heartbeat_timeout is 3 s in the test configs: every worker gives up on it.
        wait_pids_gone(before.values(), timeout=60, what="workers of the stopped supervisor")
    finally:
        os.kill(node.proc.pid, signal.SIGCONT)
    assert "supervisor silent for" in node.log()

    for name, pid in before.items():
        mp.wait_worker(name, lambda w, pid=pid: w["pid"] != pid and w["state"] == "RUNNING",
                       timeout=90, what="restarted after it stopped itself")
    wait_fills_increase(node, timeout=60)

    node.send(signal.SIGINT)
    code = node.wait(timeout=90)
    assert code == 0, node.output()
    summary = json.loads(summary_path.read_text())
    workers = {w["name"]: w for w in summary["workers"]}
    assert all(w["restarts"] == 1 for w in workers.values()), workers
    assert f"exit {EXIT_LIFELINE_LOST}" in node.log()
    # Every worker came back with the right state: the books equal the venue's, every
    # fill once, and the orders it holds open are the ones the node holds open.
    assert_books_match(summary, state)
    assert_no_order_sent_twice(summary, state, node.log())
    wait_pids_gone([w["pid"] for w in summary["workers"]], timeout=10, what="worker pids")
