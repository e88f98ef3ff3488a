"""The multiprocess node as a user runs it: the same end-to-end scenario in both modes,
`livenode status` / `livenode stop` against a running node, and the ordered stop.

Every test runs under the `mp` harness (tests/fixtures/multiprocess/harness.py): its
own run base, and a teardown that fails the test if a process, a run directory or
a shared-memory segment is left behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import psutil
import pytest
import zmq

from livenode.bus.control import ControlCodec, Heartbeat, WorkerCounters
from tests.acceptance.helpers import ROOT
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    mp,  # noqa: F401 - the fixture
    wait_fills_above,
    wait_log,
    wait_pids_gone,
)
from tests.fixtures.node.checks import check_summary

pytestmark = pytest.mark.slow

WORKERS = {"data-SIM": "data", "trader": "trader", "risk": "risk", "exec-SIM": "exec"}
SHUTDOWN_ORDER = ["trader", "data", "risk", "exec"]


@pytest.fixture(autouse=True)
def _nothing_left_behind(mp: MultiprocessHarness) -> None:  # noqa: F811
    """Every test here is checked for leftovers (processes, run dirs, shm segments)."""


@pytest.mark.parametrize("config", ["sandbox.toml", "sandbox-multiprocess.toml"])
def test_sigint_end_to_end_in_both_modes(
    mp: MultiprocessHarness, tmp_path: Path, config: str  # noqa: F811
) -> None:
    multiprocess = "multiprocess" in config
    summary_path = tmp_path / "run.summary.json"
    node = mp.start("run", ROOT / "configs" / config, "--summary-json", summary_path)
    if multiprocess:
        node.wait_for_line(r"^node SANDBOX-001 RUNNING \(4 workers\)$", timeout=60)
        worker_pids = {w["name"]: w["pid"] for w in mp.status()["workers"]}
    wait_fills_above(node, 0, timeout=90)
    node.send(signal.SIGINT)
    node.wait_for_line(r"^stopping: received SIGINT$", timeout=30)
    code = node.wait(timeout=90)
    assert code == 0, node.output()

    text = "\n".join(node.lines)
    mode = "multiprocess" if multiprocess else "single"
    assert f"== summary: SANDBOX-001 ({mode}, sandbox) ==" in text
    assert "shutdown       clean in" in text
    summary = json.loads(summary_path.read_text())
    assert summary["exit_code"] == 0
    assert summary["shutdown"]["clean"] is True
    assert summary["shutdown"]["reason"] == "received SIGINT"
    assert summary["counters"]["fills"] > 0
    check_summary(summary, spot="BTCUSDT.SIM", perpetual="ETHUSDT-PERP.SIM")
    # The strategies' manage_stop cancelled every order and flattened every position,
    # but dust: a remainder below the venue's minimum order (a partial fill can leave the
    # market maker 0.00004 BTC off its lots) cannot be closed. It is never silent: each
    # one is named with its quantity, and the run is not called flat.
    assert summary["orders"]["open"] == []
    by_status = summary["orders"]["by_status"]
    assert by_status["submitted"] == by_status["accepted"] == by_status["partially_filled"] == 0
    _check_flat_or_dust_named(summary, text)
    assert not any(s["manage_stop_timed_out"] for s in summary["strategy_states"].values())
    if not multiprocess:
        return

    workers = {w["name"]: w for w in summary["workers"]}
    assert {name: w["role"] for name, w in workers.items()} == WORKERS
    allowed = set(os.sched_getaffinity(0))
    for name, worker in workers.items():
        assert worker["pid"] == worker_pids[name], worker
        assert worker["cores"] and set(worker["cores"]) <= allowed, worker
        assert worker["exit_status"] == "exit 0", worker
        assert worker["restarts"] == 0 and worker["killed"] is False, worker
        assert worker["stop_clean"] is True, worker
        assert f"  worker {name:<14} {worker['role']:<7} pid {worker['pid']} " in text
    wait_pids_gone(worker_pids.values(), timeout=10, what="worker pids")
    _check_ordered_stop(summary, node.log())


def _check_flat_or_dust_named(summary: dict[str, Any], table: str) -> None:
    open_positions = {p["instrument_id"]: Decimal(p["net_quantity"])
                      for p in summary["positions"] if Decimal(p["net_quantity"]) != 0}
    named: dict[str, Decimal] = {}
    for row in summary["left_open"]:
        assert row["reason"].startswith("dust: "), row
        named[row["instrument_id"]] = named.get(row["instrument_id"], Decimal(0)) + Decimal(
            row["quantity"])
        assert f"left open      {row['instrument_id']} {row['quantity']} " in table
    assert named == open_positions, (summary["left_open"], summary["positions"])
    assert summary["flat"] is (not open_positions)
    assert ("; not flat: " in table) is bool(open_positions)


def _check_ordered_stop(summary: dict[str, Any], log: str) -> None:
    """Traders, then data, then risk, then exec; and the traders' manage_stop orders
    went through risk and exec (still running) before the trader phase ended."""
    workers = {w["role"]: w for w in summary["workers"]}
    exits = [workers[role]["exited_at"] for role in SHUTDOWN_ORDER]
    requested = summary["shutdown"]["requested_at"]
    assert requested is not None and requested <= exits[0], (requested, exits)
    assert exits == sorted(exits), f"exit times not in the order {SHUTDOWN_ORDER}: {exits}"
    # The supervisor's log says the same, line by line.
    reaped = re.findall(r"livenode\.supervisor: worker (\S+) \((\w+)\) pid \d+: exit 0", log)
    assert [role for _, role in reaped] == SHUTDOWN_ORDER, reaped
    # Every worker's lines carry its name (issue 10 §4): one "RUNNING" line per worker.
    running = re.findall(r"^\S+ INFO +(?:\[(\S+)\] )?livenode\.node: node \S+ RUNNING$", log, re.M)
    assert sorted(running) == sorted(w["name"] for w in summary["workers"]), running
    # Orders that manage_stop sent after the stop began were filled by the venue
    # (through risk and exec) before the trader exited; cancels leave no open order.
    stop_ns, trader_exit_ns = requested * 1e9, workers["trader"]["exited_at"] * 1e9
    during = [f for f in summary["fills"] if stop_ns <= f["ts_event"] <= trader_exit_ns]
    canceled = summary["orders"]["by_status"]["canceled"]
    assert during or canceled, "no sign of manage_stop's orders during the trader phase"
    assert summary["orders"]["open"] == []


def test_status_and_stop_against_a_running_node(
    mp: MultiprocessHarness, tmp_path: Path  # noqa: F811
) -> None:
    summary_path = tmp_path / "run.summary.json"
    node = mp.start("run", mp.config("plain.toml"), "--summary-json", summary_path)
    node.wait_for_line(r"^node MPPLAIN-001 RUNNING \(4 workers\)$", timeout=60)
    wait_fills_above(node, 0, timeout=60)

    status = mp.status("MPPLAIN-001")
    assert status["trader_id"] == "MPPLAIN-001"
    assert status["supervisor_pid"] == node.proc.pid
    assert status["state"] == "RUNNING"
    assert {w["name"]: w["role"] for w in status["workers"]} == WORKERS
    for worker in status["workers"]:
        process = psutil.Process(worker["pid"])
        assert process.ppid() == node.proc.pid, worker
        assert worker["cores"] == sorted(process.cpu_affinity()), worker
        assert worker["state"] == "RUNNING", worker
        assert 0 <= worker["heartbeat_age_s"] < 3.0, worker  # heartbeat_timeout of the config
        assert worker["msgs_in"] > 0 and worker["msgs_out"] > 0, worker
        assert worker["restarts"] == 0 and worker["malformed"] == 0, worker

    # Bus hop latency, sampled by the receiving workers: the quote's first hop and
    # the order's two (1 in hop_latency_every = 8 messages).
    hops = mp.wait_status(
        lambda s: all(s["hop_latency"].get(h, {}).get("count", 0) > 0
                      for h in ("data-SIM->trader", "trader->risk", "risk->exec-SIM")),
        timeout=60, what="hop latency of data->trader, trader->risk, risk->exec")["hop_latency"]
    for figures in hops.values():
        if figures["count"]:
            assert 0 < figures["p50"] <= figures["p99"] <= figures["max"], hops
    # End to end as well: tick to trade of the exec client so far, live.
    t2t = mp.wait_status(lambda s: s["tick_to_trade"].get("SIM", {}).get("count", 0) > 0,
                         timeout=60, what="live tick to trade of SIM")["tick_to_trade"]["SIM"]
    assert 0 < t2t["p50"] <= t2t["p99"] <= t2t["max"], t2t

    text = mp.cli("status", "--trader", "MPPLAIN-001")
    assert text.returncode == 0, text.stderr
    assert f"supervisor pid {node.proc.pid}  RUNNING" in text.stdout
    assert re.search(r"^data-SIM->trader +\d+ +[\d.]+ ", text.stdout, re.MULTILINE), text.stdout
    assert re.search(r"^tick-to-trade SIM +\d+ +[\d.]+ ", text.stdout, re.MULTILINE), text.stdout
    for worker in status["workers"]:
        cores = ",".join(map(str, worker["cores"]))
        assert re.search(
            rf"^{worker['name']} +{worker['role']} +{worker['pid']} +{cores} +RUNNING ",
            text.stdout, re.MULTILINE,
        ), text.stdout

    # Garbage on the control channel is dropped (and logged), never fatal.
    _send_control_garbage(mp)
    wait_log(node, r"dropped control frame from b'intruder'.*malformed control frame")
    wait_log(node, r"control message Heartbeat from unknown peer b'intruder'")
    fills = wait_fills_above(node, 0)
    assert all(w["state"] == "RUNNING" for w in mp.status()["workers"])
    wait_fills_above(node, fills)

    stop = mp.cli("stop", "--trader", "MPPLAIN-001")
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.startswith("stopping MPPLAIN-001-")
    assert node.wait(timeout=60) == 0, node.output()
    summary = json.loads(summary_path.read_text())
    assert summary["shutdown"] == {**summary["shutdown"], "clean": True, "reason": "livenode stop"}
    assert [w["exit_status"] for w in summary["workers"]] == ["exit 0"] * 4
    assert summary["orders"]["open"] == []  # (the fill arithmetic is the test above's)
    assert summary["hop_latency"]["data-SIM->trader"]["count"] > 0, summary["hop_latency"]
    wait_pids_gone([w["pid"] for w in status["workers"]], timeout=10, what="worker pids")
    # Nothing to talk to any more.
    gone = mp.cli("status", "--trader", "MPPLAIN-001")
    assert gone.returncode == 3 and "no running node" in gone.stderr, gone


def _send_control_garbage(mp: MultiprocessHarness) -> None:  # noqa: F811
    """A raw DEALER on the supervisor's control ROUTER: frames that are not protocol
    messages, and a well-formed message from a peer that is no worker."""
    (run_dir,) = mp.run_dirs()
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 1000)
    dealer.setsockopt(zmq.IDENTITY, b"intruder")
    dealer.connect(f"ipc://{run_dir / 'control.ipc'}")
    try:
        for frame in (b"", b"garbage", b"\xc1\xff\x00", msgspec.msgpack.encode(["Hello", 1]),
                      b"\x93" + b"\xff" * 5000):
            dealer.send(frame)
        dealer.send_multipart([b"two", b"frames"])
        heartbeat = Heartbeat(worker="intruder", ts_ns=time.time_ns(), state="RUNNING",
                              counters=WorkerCounters())
        dealer.send(ControlCodec().encode(heartbeat))
    finally:
        dealer.close()  # lingers up to 1 s so the frames leave
        context.term()
