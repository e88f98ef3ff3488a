"""The sim venue process killed mid-run: the supervisor restarts it on its state file,
the exec worker reconnects and reconciles, trading resumes, and the node's books equal
the venue's."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

from tests.fixtures.multiprocess.books import assert_books_match
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    wait_fills_above,
    wait_fills_increase,
    wait_log,
    wait_pids_gone,
)


def test_venue_killed_is_restarted_and_the_node_meets_its_books(
    mp: MultiprocessHarness, tmp_path: Path
) -> None:
    state = tmp_path / "venue.sqlite"
    overlay = tmp_path / "venue.toml"
    overlay.write_text(
        '[data_clients.SIM.config]\nvenue_on_exit = "restart"\n'
        f'[data_clients.SIM.config.venue_config]\nstate_path = "{state}"\n'
    )
    summary_path = tmp_path / "run.summary.json"
    node = mp.start("run", mp.config("restart_all.toml", overlay), "--summary-json",
                    summary_path)
    node.wait_for_line(r"^node \S+ RUNNING \(4 workers\)$", timeout=60)
    service_pid = int(re.search(r"service +sim-SIM ready \(pid (\d+)\)",
                                "\n".join(node.lines)).group(1))
    wait_fills_above(node, 2, timeout=60)

    os.kill(service_pid, signal.SIGKILL)
    wait_pids_gone([service_pid], timeout=10, what="killed venue")
    back = wait_log(node, r"service sim-SIM is back \(pid (\d+)\)", timeout=60)
    mp.pids.add(int(back.group(1)))
    wait_log(node, r"exec-SIM: venue SIM reconnected and reconciled", timeout=60)
    wait_log(node, r"venue SIM reconnected and reconciled by exec-SIM: trading resumes")
    assert "sim venue SIM: restored" in node.log()
    fills_after = wait_fills_increase(node, timeout=60)
    assert fills_after > 0
    status = mp.status()
    assert status["halted_venues"] == {}, status["halted_venues"]

    node.send(signal.SIGINT)
    code = node.wait(timeout=90)
    assert code == 0, node.output()
    summary = json.loads(summary_path.read_text())
    assert_books_match(summary, state)
    wait_pids_gone([w["pid"] for w in summary["workers"]], timeout=10, what="worker pids")
