"""The sim venue process killed mid-run: the supervisor restarts it on its state file,
the exec worker reconnects and reconciles, trading resumes, and the node's books equal
the venue's."""

from __future__ import annotations

import json
import os
import re
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    wait_fills_above,
    wait_fills_increase,
    wait_pids_gone,
    wait_stderr,
)

from livenode.adapters.sim.state_store import VenueStateStore
from livenode.adapters.sim.venue_events import currency_of


def venue_books(state_path: Path) -> dict[str, Any]:
    """The venue's truth from its own state file: trade ids, net positions, balances."""
    store = VenueStateStore(state_path, "SIM")
    try:
        stored = store.load()
    finally:
        store.close()
    assert stored is not None, f"{state_path} holds no venue state"
    positions = {}
    for symbol, pos in stored.positions.items():
        (spec_precision,) = {3 if symbol.endswith("PERP") else 5}
        positions[f"{symbol}.SIM"] = Decimal(pos.qty).scaleb(-spec_precision)
    balances = {code: Decimal(raw).scaleb(-currency_of(code).precision)
                for code, raw in stored.totals.items()}
    return {"trade_ids": [fill.trade_id for _s, fill in stored.fills],
            "positions": positions, "balances": balances}


def node_books(summary: dict[str, Any]) -> dict[str, Any]:
    assert not summary["fills_truncated"]
    positions = {p["instrument_id"]: Decimal(p["net_quantity"]) for p in summary["positions"]}
    (account,) = summary["accounts"]
    balances = {b["currency"]: Decimal(b["total"]) for b in account["balances"]}
    return {"trade_ids": [f["trade_id"] for f in summary["fills"]],
            "positions": positions, "balances": balances}


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
    back = wait_stderr(node, r"service sim-SIM is back \(pid (\d+)\)", timeout=60)
    mp.pids.add(int(back.group(1)))
    wait_stderr(node, r"exec-SIM: venue SIM reconnected and reconciled", timeout=60)
    wait_stderr(node, r"venue SIM reconnected and reconciled by exec-SIM: trading resumes")
    assert "sim venue SIM: restored" in node.stderr()
    fills_after = wait_fills_increase(node, timeout=60)
    assert fills_after > 0
    status = mp.status()
    assert status["halted_venues"] == {}, status["halted_venues"]

    node.send(signal.SIGINT)
    code = node.wait(timeout=90)
    assert code == 0, node.output()
    summary = json.loads(summary_path.read_text())
    ours, theirs = node_books(summary), venue_books(state)
    # Every fill the venue made, once, and nothing it did not make.
    assert len(ours["trade_ids"]) == len(set(ours["trade_ids"])), "a fill applied twice"
    assert sorted(ours["trade_ids"]) == sorted(theirs["trade_ids"])
    for instrument, qty in theirs["positions"].items():
        assert ours["positions"].get(instrument, Decimal(0)) == qty, (instrument, ours, theirs)
    assert ours["balances"] == theirs["balances"]
    wait_pids_gone([w["pid"] for w in summary["workers"]], timeout=10, what="worker pids")
