"""`livenode bench` as a user runs it: real nodes in subprocesses, real sockets.

Only the structure of what it reports is checked (modes, percentile keys, the
floor, ratios, machine facts, a PNG that is a PNG), never a speed. Each test also
checks that the benchmark left no node behind: no process, shared memory or run
directory of the trader ids it used (``BENCH-<pid of the bench>``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from livenode.cache.shm import list_segments
from livenode.supervisor.rundir import find_run_dirs
from tests.acceptance.helpers import ROOT, livenode_command

PERCENTILES = {"p50", "p90", "p99", "p99.9", "max"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _bench(tmp_path: Path, *args: str, timeout: float = 240) -> tuple[subprocess.Popen[str], str,
                                                                        str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*livenode_command(), "bench", *args], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc, out, err


def _assert_nothing_left(bench_pid: int, pids: list[int]) -> None:
    trader_id = f"BENCH-{bench_pid}"
    alive = [pid for pid in pids if psutil.pid_exists(pid)
             and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"processes of the benchmark's nodes still run: {alive}"
    assert not [s.name for s in list_segments(trader_id, invalid_grace_s=0.0)]
    assert not list(find_run_dirs(trader_id))


def _check_row(row: dict[str, Any]) -> None:
    assert row.keys() >= PERCENTILES
    assert row["samples"] > 0
    assert row["p50"] <= row["p90"] <= row["p99"] <= row["p99.9"] <= row["max"]


@pytest.mark.slow
def test_t2t_count_writes_the_result_and_the_plot(tmp_path: Path) -> None:
    result_path, plot_path = tmp_path / "out" / "t2t.json", tmp_path / "t2t.png"
    proc, out, err = _bench(tmp_path, "t2t", "--count", "2000", "--rate", "1000",
                            "--json", str(result_path), "--plot", str(plot_path))
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    result = json.loads(result_path.read_text())
    assert list(result["modes"]) == ["single", "multiprocess"]
    for row in result["modes"].values():
        _check_row(row)
        assert row["samples"] == 2000  # --count: exactly N orders measured
    _check_row(result["floor"])
    assert result["floor"]["samples"] == 2000  # as many messages as the node measured
    multi = result["modes"]["multiprocess"]
    assert multi["worker_cores"].keys() == {"data", "trader", "risk", "exec"}
    chain = [hop for hop in multi["hops"] if hop["chain"]]
    assert [hop["hop"] for hop in chain] == ["data-SIM->trader", "trader->risk", "risk->exec-SIM"]
    for hop in chain:
        _check_row(hop)
    for name in ("multiprocess/raw_floor", "multiprocess/single", "single/raw_floor"):
        assert set(result["ratios"][name]) == PERCENTILES
        assert all(value > 0 for value in result["ratios"][name].values())
    machine = result["machine"]
    for key in ("cpu_model", "cpu_count", "affinity", "load_before", "load_after", "kernel",
                "python"):
        assert machine[key], key
    assert {"pyzmq", "msgspec", "uvloop"} <= {k for k, v in machine["packages"].items() if v}
    assert result["params"]["count"] == 2000 and result["unit"] == "ns"
    assert plot_path.read_bytes()[:8] == PNG_MAGIC
    # The table on stdout, the progress on stderr.
    assert "multiprocess/raw_floor" in out and "raw pyzmq 3 hops" in out
    assert "t2t multiprocess" in err and "raw floor" in err
    pids = [multi["node_pid"], *multi["worker_pids"].values(),
            result["modes"]["single"]["node_pid"]]
    _assert_nothing_left(proc.pid, pids)


@pytest.mark.slow
def test_t2t_with_risk_in_the_exec_worker_measures_two_hops(tmp_path: Path) -> None:
    result_path = tmp_path / "t2t.json"
    proc, out, err = _bench(tmp_path, "t2t", "--modes", "multiprocess", "--topology",
                            "risk-in-exec", "--count", "300", "--rate", "500",
                            "--stages", "4", "--json", str(result_path))
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    result = json.loads(result_path.read_text())
    multi = result["modes"]["multiprocess"]
    _check_row(multi)
    # --stages: the trader's quotes timed stage by stage, printed per worker and kind.
    quotes = multi["stages"]["trader"]["data.quotes"]
    assert quotes["wire"]["count"] > 0 and quotes["decode"]["p50"] > 0, quotes
    assert "stages (1 in 4 inbound messages traced; p50 us)" in out
    assert re.search(r"^trader: data\.quotes +\d+ +[\d.]+ ", out, re.MULTILINE), out[-3000:]
    # Three workers; the exec worker (it hosts risk) is named by the derived topology.
    assert len(multi["worker_pids"]) == 3
    assert multi["worker_cores"].keys() == {"data", "trader", "exec"}
    chain = [h["hop"] for h in multi["hops"] if h["chain"]]
    assert chain[0] == "data-SIM->trader" and chain[1].startswith("trader->exec")
    assert len(chain) == 2
    assert result["params"]["hops"] == 2 and result["floor"]["mode"] == "raw pyzmq 2 hops"
    _check_row(result["floor"])
    _assert_nothing_left(proc.pid, [multi["node_pid"], *multi["worker_pids"].values()])


def test_bad_options_name_what_is_wrong(tmp_path: Path) -> None:
    proc, _, err = _bench(tmp_path, "t2t", "--modes", "single,turbo", timeout=60)
    assert proc.returncode == 2 and "--modes: 'turbo'" in err
    proc, _, err = _bench(tmp_path, "t2t", "--count", "0", timeout=60)
    assert proc.returncode == 2 and "--count" in err
    proc, _, err = _bench(tmp_path, "t2t", "--plot", "latency.svg", timeout=60)
    assert proc.returncode == 2 and "--plot latency.svg: expected a .png" in err


@pytest.mark.slow
def test_throughput_steps_until_a_bound_and_reports_per_kind(tmp_path: Path) -> None:
    result_path = tmp_path / "throughput.json"
    proc, out, err = _bench(tmp_path, "throughput", "--modes", "single", "--rates", "300,600",
                            "--idle-rate", "200", "--step-seconds", "1",
                            "--json", str(result_path))
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    result = json.loads(result_path.read_text())
    assert set(result["results"]) == {"single/quotes", "single/orders"}
    for found in result["results"].values():
        assert found["idle"]["p99_ns"] > 0
        assert found["p99_bound_ns"] == found["idle"]["p99_ns"] * 10
        assert 1 <= len(found["steps"]) <= 2
        for step in found["steps"]:
            assert step["received"] > 0 and step["achieved"] > 0
            assert step["passed"] is (step["failed_because"] is None)
        passed = [s["offered"] for s in found["steps"] if s["passed"]]
        assert found["max_sustained"] == (passed[-1] if passed else None)
    assert result["feed_alone"]["offered"] == 600 and result["feed_alone"]["delivered"] > 0
    assert result["machine"]["load_after"]
    assert "max sustained" in out and "sim feed alone" in out


@pytest.mark.slow
def test_lifecycle_reports_start_rss_and_stop(tmp_path: Path) -> None:
    result_path = tmp_path / "lifecycle.json"
    proc, out, err = _bench(tmp_path, "lifecycle", "--modes", "single,multiprocess",
                            "--rate", "500", "--warmup", "50", "--orders", "200",
                            "--max-closed-orders", "100", "--json", str(result_path))
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    result = json.loads(result_path.read_text())
    single, multi = result["results"]["single"], result["results"]["multiprocess"]
    assert set(single["pids"]) == {"node"}
    assert {"supervisor", "data-SIM", "trader", "risk", "exec-SIM"} <= set(multi["pids"])
    for found in (single, multi):
        assert found["start_to_ready_s"] > 0 and found["stop_s"] > 0
        assert found["stop_clean"] is True
        assert found["orders"] >= 200
        for reading in ("rss_after_warmup", "rss_after_orders"):
            assert set(found[reading]) == set(found["pids"])
            assert all(rss and rss > 0 for rss in found[reading].values())
        # Readings at the warm-up and at 25/50/75/100 % of the orders; past the cap of
        # 100 closed orders every process has a slope (a figure, not asserted).
        assert [s["orders"] for s in found["rss_samples"]] == [50, 100, 150, 200]
        assert found["rss_samples"][-1]["rss"] == found["rss_after_orders"]
        for slopes in ("rss_slope_kib_per_1000_orders", "rss_slope_last_kib_per_1000_orders"):
            assert set(found[slopes]) == set(found["pids"])
            assert all(isinstance(v, float) for v in found[slopes].values())
    assert "sim-SIM" in multi["pids"]  # the venue process the supervisor runs
    _assert_nothing_left(proc.pid, [*single["pids"].values(), *multi["pids"].values()])


def test_the_script_in_benchmarks_is_the_command(tmp_path: Path) -> None:
    script = ROOT / "benchmarks" / "bench_tick_to_trade.py"
    proc = subprocess.run([sys.executable, str(script), "--modes", "turbo"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "--modes: 'turbo'" in proc.stderr
