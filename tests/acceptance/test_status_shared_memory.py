"""`livenode status` reads a running single-process node's prices, positions and
balances straight from its shared memory (no supervisor to ask, no bus message);
`livenode stop` stops it in order."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.acceptance.helpers import LivenodeProcess, livenode_command

ROOT = Path(__file__).resolve().parents[2]
FILLS_SEEN = r"^status .* fills=[1-9]"

Start = Callable[..., LivenodeProcess]


def test_status_shows_live_prices_and_positions_from_shared_memory(
    livenode: Start, tmp_path: Path
) -> None:
    config = tmp_path / "status.toml"
    text = (ROOT / "configs" / "sandbox.toml").read_text()
    config.write_text(re.sub(r'(?m)^trader_id = ".*"$', 'trader_id = "SHMSTATUS-001"', text))
    node = livenode("run", config)
    node.wait_for_line(FILLS_SEEN, timeout=90)

    status = subprocess.run(
        [*livenode_command(), "status", "--trader", "SHMSTATUS-001", "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["trader_id"] == "SHMSTATUS-001" and report["mode"] == "single"
    quotes = {q["instrument_id"]: q for q in report["market"]["quotes"]}
    assert set(quotes) == {"BTCUSDT.SIM", "ETHUSDT-PERP.SIM"}
    for quote in quotes.values():
        assert float(quote["bid"]) < float(quote["ask"])
        assert quote["age_ms"] < 10_000  # live: written moments ago
    assert report["market"]["positions"], "fills were seen, so positions exist"
    assert {b["currency"] for b in report["market"]["balances"]} >= {"USDT"}

    table = subprocess.run(
        [*livenode_command(), "status", "--trader", "SHMSTATUS-001"],
        capture_output=True, text=True, timeout=60,
    )
    assert table.returncode == 0 and "BTCUSDT.SIM" in table.stdout
    assert re.search(r"(?m)^account +currency +total +free +locked$", table.stdout), table.stdout
    assert re.search(r"(?m)^\S+ +USDT +[-\d.]+ +[-\d.]+ +[-\d.]+$", table.stdout), table.stdout

    # The live view until Ctrl-C: into a pipe (not a terminal) as plain snapshots,
    # one after the other, separated by an empty line; no terminal control codes.
    watch = LivenodeProcess("status", "--trader", "SHMSTATUS-001", "--watch", "0.2",
                            stderr_path=tmp_path / "watch.err")
    try:
        watch.wait_for_line(r"^node SHMSTATUS-001 ", timeout=60)
        watch.wait_for_line(r"BTCUSDT\.SIM", timeout=60)
        watch.wait_for_line(r"^$", timeout=60)  # a second snapshot follows
        watch.wait_for_line(r"^node SHMSTATUS-001 ", timeout=60)
        watch.wait_for_line(r"BTCUSDT\.SIM", timeout=60)
        watch.send(signal.SIGINT)
        assert watch.wait(timeout=30) == 0
        assert "\x1b" not in watch.output()
    finally:
        watch.kill()

    # `livenode stop` finds the single-process node by its run directory too.
    stop = subprocess.run(
        [*livenode_command(), "stop", "--trader", "SHMSTATUS-001"],
        capture_output=True, text=True, timeout=60,
    )
    assert stop.returncode == 0 and stop.stdout.startswith("stopping SHMSTATUS-001-"), stop
    node.wait_for_line(r"^stopping: received SIGTERM$", timeout=30)
    assert node.wait(timeout=90) == 0, node.output()
    gone = subprocess.run(
        [*livenode_command(), "status", "--trader", "SHMSTATUS-001"],
        capture_output=True, text=True, timeout=60,
    )
    assert gone.returncode == 3 and "no running node" in gone.stderr
