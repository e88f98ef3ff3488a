"""`livenode bench lifecycle`: start-up time, memory per process, ordered stop time.

Per mode, the tick-to-trade scenario runs (``livenode run`` as a subprocess):

- start: from launching ``livenode run`` to the line saying every worker is READY
  (single mode: "running");
- RSS of every process of the node (the supervisor or the single process, each
  worker; pids from ``livenode status --json``) once the strategy completed
  ``warmup`` orders, and again after ``orders`` orders (each order is a quote in, a
  `SubmitOrder` through risk and exec, and its events back: ~6 bus messages);
- stop: from SIGINT to the process's exit (the ordered stop), and the stop time the
  node reports itself (``shutdown.seconds`` of its summary).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from livenode.bench.node_run import NodeProcess, NodeRunError
from livenode.bench.report import Progress, load_average, machine_facts, utc_now
from livenode.bench.scenario import scenario_config, unique_trader_id, write_config
from livenode.bench.t2t import START_TIMEOUT

__all__ = ["LifecycleOptions", "run_lifecycle"]


@dataclass(frozen=True)
class LifecycleOptions:
    """What `livenode bench lifecycle` was asked for (see its ``--help``)."""

    modes: tuple[str, ...] = ("single", "multiprocess")
    rate: float = 500.0
    warmup: int = 200
    orders: int = 5000
    echo: bool = False
    command: str = ""


def _processes(node: NodeProcess, mode: str, trader_id: str) -> dict[str, int]:
    """name -> pid of every process of the running node."""
    if mode == "single":
        return {"node": node.pid}
    proc = subprocess.run(
        [sys.executable, "-m", "livenode", "status", "--json", "--trader", trader_id],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if proc.returncode != 0:
        raise NodeRunError(f"livenode status --trader {trader_id} failed: {proc.stderr.strip()}")
    status = json.loads(proc.stdout)
    pids = {"supervisor": int(status["supervisor_pid"])}
    pids.update({w["name"]: int(w["pid"]) for w in status["workers"]})
    return pids


def _rss(pids: dict[str, int]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for name, pid in pids.items():
        try:
            out[name] = int(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            out[name] = None  # gone (restarted or exited): no figure rather than a wrong one
    return out


def _run_mode(opts: LifecycleOptions, mode: str, work: Path,
              progress: Progress) -> dict[str, Any]:
    trader_id = unique_trader_id()
    config = scenario_config(mode, rate=opts.rate, progress_every=min(50, opts.warmup),
                             trader_id=trader_id)
    path = write_config(config, work / f"lifecycle-{mode}.toml")
    warm, measured = threading.Event(), threading.Event()

    def on_report(report: dict[str, Any]) -> None:
        if report.get("event") != "progress":
            return
        done = int(report["orders"])
        progress.update(done / opts.orders, f"{done}/{opts.orders} orders")
        if done >= opts.warmup:
            warm.set()
        if done >= opts.orders:
            measured.set()

    progress.start(f"lifecycle {mode}")
    node = NodeProcess(path, work / f"lifecycle-{mode}.summary.json", on_report=on_report,
                       echo=opts.echo)
    with node:
        node.wait_for(node.ready, START_TIMEOUT, "every worker READY")
        assert node.t_ready is not None
        start_s = node.t_ready - node.t_start
        pids = _processes(node, mode, trader_id)
        budget = opts.orders / opts.rate * 4 + 60
        node.wait_for(warm, budget, f"{opts.warmup} orders")
        rss_warm = _rss(pids)
        node.wait_for(measured, budget, f"{opts.orders} orders")
        rss_after = _rss(pids)
        node.stop()
    progress.finish()
    summary = node.summary()
    assert node.t_stop is not None and node.t_exit is not None
    return {
        "start_to_ready_s": round(start_s, 3),
        "stop_s": round(node.t_exit - node.t_stop, 3),
        "stop_reported_s": summary.get("shutdown", {}).get("seconds"),
        "stop_clean": summary.get("shutdown", {}).get("clean"),
        "pids": pids,
        "rss_after_warmup": rss_warm,
        "rss_after_orders": rss_after,
        "orders": summary.get("counters", {}).get("orders_submitted"),
    }


def run_lifecycle(opts: LifecycleOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Every mode; the JSON-ready result (with ``lines``, the printed report)."""
    for mode in opts.modes:
        if mode not in ("single", "multiprocess"):
            raise ValueError(f"--modes: {mode!r}: expected single or multiprocess")
    if not 0 < opts.warmup <= opts.orders:
        raise ValueError(f"--warmup: expected 1 .. --orders ({opts.orders}), got {opts.warmup}")
    if opts.rate <= 0:
        raise ValueError(f"--rate: expected a positive number of quotes per second, got "
                         f"{opts.rate}")
    progress = progress or Progress()
    machine = machine_facts()
    started = utc_now()
    results: dict[str, dict[str, Any]] = {}
    work = Path(tempfile.mkdtemp(prefix="livenode-bench-"))
    try:
        for mode in opts.modes:
            results[mode] = _run_mode(opts, mode, work, progress)
    finally:
        progress.finish()
        shutil.rmtree(work, ignore_errors=True)
    lines = []
    for mode, found in results.items():
        lines.append(f"{mode}: start to READY {found['start_to_ready_s']:.2f} s, ordered stop "
                     f"{found['stop_s']:.2f} s (reported {found['stop_reported_s']} s, "
                     f"clean {found['stop_clean']})")
        lines.append(f"  {'process':<14} {'pid':>8} {'RSS warm MiB':>13} "
                     f"{'RSS after MiB':>14}   (after {opts.warmup} / {opts.orders} orders)")
        for name, pid in found["pids"].items():
            warm_rss, after_rss = found["rss_after_warmup"][name], found["rss_after_orders"][name]
            lines.append(f"  {name:<14} {pid:>8} {_mib(warm_rss):>13} {_mib(after_rss):>14}")
    machine["load_after"] = load_average()
    return {
        "benchmark": "lifecycle",
        "date": started,
        "command": opts.command,
        "machine": machine,
        "params": {"modes": list(opts.modes), "rate": opts.rate, "warmup": opts.warmup,
                   "orders": opts.orders},
        "results": results,
        "lines": lines,
    }


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f}"
