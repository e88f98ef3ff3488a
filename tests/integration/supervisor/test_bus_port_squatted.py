"""A restarted worker whose TCP bus port another local process took while it was down
(issue 18): it comes back on a fresh port, its subscribers follow it, and the
squatting is reported (a WARNING naming the port, `squatted_ports` in the summary).

Before, the port was kept across the restart: anyone could bind it during the
restart back-off, the new worker then failed with "Address already in use" and the
node exited 1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import psutil
import pytest
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    wait_fills_above,
    wait_fills_increase,
    wait_log,
    wait_pids_gone,
    wait_until,
)

pytestmark = pytest.mark.slow


def _listening_ports(pid: int) -> list[int]:
    return sorted({c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp")
                   if c.status == psutil.CONN_LISTEN})


def _squat(port: int) -> socket.socket | None:
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
    except OSError:
        squatter.close()
        return None
    return squatter


def test_a_squatted_port_during_a_restart_moves_the_worker(
    mp: MultiprocessHarness, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    assert mp.cli("keys", "generate", str(keys)).returncode == 0
    overlay = tmp_path / "tcp.toml"
    overlay.write_text('trader_id = "MPSQUAT-001"\n[message_bus]\ntransport = "tcp"\n'
                       f'curve_keys_dir = "{keys}"\n')
    summary_path = tmp_path / "summary.json"
    node = mp.start("run", mp.config("restart_all.toml", str(overlay)),
                    "--summary-json", summary_path)
    node.wait_for_line(r"^node \S+ RUNNING \(4 workers\)$", timeout=90)
    wait_fills_above(node, 0, timeout=60)

    old = mp.worker(mp.status(), "data-SIM")
    ports = _listening_ports(old["pid"])
    assert len(ports) == 1, ports  # its bus publisher
    port = ports[0]
    os.kill(old["pid"], signal.SIGKILL)
    wait_pids_gone([old["pid"]], timeout=10, what="killed data-SIM")
    # The restart back-off is 2 s: take the port in it, as another local user could.
    squatter = wait_until(lambda: _squat(port), 10, f"port {port} squatted")
    try:
        wait_log(node, rf"data-SIM's bus port tcp://127\.0\.0\.1:{port} was taken by "
                          r"another process while data-SIM was down; it comes back on "
                          r"tcp://127\.0\.0\.1:\d+")
        new = mp.wait_worker("data-SIM", lambda w: w["restarts"] == 1
                             and w["state"] == "RUNNING", timeout=90,
                             what="restarted and RUNNING")
        assert _listening_ports(new["pid"]) != [port]
        # Its subscribers followed it: quotes reach the trader again, orders fill.
        mp.wait_worker("data-SIM", lambda w: w["msgs_out"] > 100, timeout=60,
                       what="publishing quotes again")
        wait_fills_increase(node, timeout=60)
    finally:
        squatter.close()
    node.send(signal.SIGINT)
    code = node.wait(timeout=90)
    summary = json.loads(summary_path.read_text())
    assert summary["squatted_ports"] == [f"tcp://127.0.0.1:{port}"], summary.get("squatted_ports")
    workers = {w["name"]: w for w in summary["workers"]}
    assert workers["data-SIM"]["restarts"] == 1, workers
    assert "Address already in use" not in node.log(), node.log()[-3000:]
    assert code == 0, node.output() + node.log()[-3000:]
    # The moved worker's peers traded on: the stop's audit holds the books to the venue's
    # (orders, positions, balances, fills), and each fill is booked once.
    assert summary["audit"]["books_match_venue"] is True, summary["audit"]
    trade_ids = [f["trade_id"] for f in summary["fills"]]
    assert len(trade_ids) == len(set(trade_ids)), trade_ids
