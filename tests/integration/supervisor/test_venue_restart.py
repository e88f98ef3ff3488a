"""The sim venue process killed mid-run: the supervisor restarts it on its state file,
the exec worker reconnects and reconciles, trading resumes, and the node's books equal
the venue's."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from tests.fixtures.multiprocess.books import assert_books_match
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    wait_fills_above,
    wait_fills_increase,
    wait_log,
    wait_pids_gone,
)

# The risk engine inside the trader's process: trading to the venue must halt there
# too while the venue is down (before, only a worker of role "risk" was told).
RISK_IN_TRADER = """
[supervisor]
risk_placement = "trader"

[[workers]]
name = "data-SIM"
role = "data"
members = ["SIM"]
on_exit = "restart"

[[workers]]
name = "trader"
role = "trader"
members = ["MarketMaker-001", "EMACross-001"]
on_exit = "stop"

[[workers]]
name = "exec-SIM"
role = "exec"
members = ["SIM"]
on_exit = "restart"
"""


@pytest.mark.parametrize("placement", ["worker", "trader"], ids=["risk-worker", "risk-in-trader"])
def test_venue_killed_is_restarted_and_the_node_meets_its_books(
    mp: MultiprocessHarness, tmp_path: Path, placement: str
) -> None:
    state = tmp_path / "venue.sqlite"
    overlay = tmp_path / "venue.toml"
    overlay.write_text(
        '[data_clients.SIM.config]\nvenue_on_exit = "restart"\n'
        f'[data_clients.SIM.config.venue_config]\nstate_path = "{state}"\n'
        + (RISK_IN_TRADER if placement == "trader" else "")
    )
    summary_path = tmp_path / "run.summary.json"
    node = mp.start("run", mp.config("restart_all.toml", overlay), "--summary-json",
                    summary_path)
    workers = 3 if placement == "trader" else 4
    node.wait_for_line(rf"^node \S+ RUNNING \({workers} workers\)$", timeout=60)
    service_pid = int(re.search(r"service +sim-SIM ready \(pid (\d+)\)",
                                "\n".join(node.lines)).group(1))
    wait_fills_above(node, 2, timeout=60)

    os.kill(service_pid, signal.SIGKILL)
    wait_pids_gone([service_pid], timeout=10, what="killed venue")
    # The risk engine, wherever it runs, halts trading to the venue while it is down.
    wait_log(node, r"RiskEngine: trading state HALTED for venue SIM", timeout=30)
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
