"""The whole node killed with SIGKILL while it trades, then started again with the same
trader id: its database plus reconciliation give the venue's books, on both backends.

The venue keeps its book in its state file (like a real venue, it outlives the node's
processes); the node's second run must know every order and fill the venue knows,
none twice, and its summary (read back from the database: both runs) must match the
venue's fills, positions and balances."""

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


def test_node_killed_with_sigkill_resumes_with_the_venues_books(
    mp: MultiprocessHarness, tmp_path: Path, database_toml: str
) -> None:
    state = tmp_path / "venue.sqlite"
    overlay = tmp_path / "durable.toml"
    overlay.write_text(
        database_toml
        + f'[data_clients.SIM.config.venue_config]\nstate_path = "{state}"\n'
    )
    config = mp.config("restart_all.toml", overlay)

    first = mp.start("run", config)
    first.wait_for_line(r"^node \S+ RUNNING \(4 workers\)$", timeout=60)
    venue_pid = int(re.search(r"service +sim-SIM ready \(pid (\d+)\)",
                              "\n".join(first.lines)).group(1))
    wait_fills_above(first, 6, timeout=60)
    pids = [w["pid"] for w in mp.status()["workers"]] + [venue_pid]
    os.kill(first.proc.pid, signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL
    wait_pids_gone(pids, timeout=15, what="workers and the venue of the killed node")

    summary_path = tmp_path / "second.summary.json"
    second = mp.start("run", config, "--summary-json", summary_path)
    second.wait_for_line(r"^node \S+ RUNNING \(4 workers\)$", timeout=60)
    restored = wait_log(second, r"sim venue SIM: restored (\d+) order\(s\)")
    assert int(restored.group(1)) > 0
    loaded = wait_log(second, r"cache database [^\n]+?: loaded \d+ instrument\(s\), "
                                 r"([1-9]\d*) order\(s\)")
    assert loaded
    wait_fills_increase(second, timeout=60)
    second.send(signal.SIGINT)
    code = second.wait(timeout=90)
    stderr = second.log()
    assert "books do not add up" not in stderr, second.output()
    assert code == 0, second.output()
    summary = json.loads(summary_path.read_text())
    assert summary["durable_source"] and summary["errors"] == []
    # Both runs' fills: more than the second run saw by itself.
    assert len(summary["fills"]) > summary["this_run"]["fills"] > 0
    assert_books_match(summary, state)
    wait_pids_gone([w["pid"] for w in summary["workers"]], timeout=10, what="worker pids")
