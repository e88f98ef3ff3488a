"""`livenode bench lifecycle`: start-up time, memory per process, ordered stop time.

Per mode, the tick-to-trade scenario runs (``livenode run`` as a subprocess):

- start: from launching ``livenode run`` to the line saying every worker is READY
  (single mode: "running");
- RSS of every process of the node (the supervisor or the single process, each
  worker, and the sim venue process the supervisor runs beside them; pids from
  ``livenode status --json`` and the supervisor's output) once the strategy
  completed ``warmup`` orders, then at ``samples`` points spread over ``orders``
  orders (by default after 25, 50, 75 and 100 % of them; each order is a quote in,
  a `SubmitOrder` through risk and exec, and its events back: ~6 bus messages);
- the slope of each process's RSS past the cap (KiB per 1000 orders, between the
  first and the last reading taken once ``max_closed_orders`` orders had closed,
  and over the last interval alone): the cache and the venue hold at most that many
  closed orders, so past it a node whose memory is bounded stays flat (give a small
  ``max_closed_orders`` to see the plateau in a short run; a bound larger than the
  cap, such as the risk engine's 100,000 remembered verdicts, flattens later, which
  the last interval shows);
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

__all__ = ["LifecycleOptions", "checkpoints", "run_lifecycle", "slope_past_cap"]


@dataclass(frozen=True)
class LifecycleOptions:
    """What `livenode bench lifecycle` was asked for (see its ``--help``)."""

    modes: tuple[str, ...] = ("single", "multiprocess")
    rate: float = 500.0
    warmup: int = 200
    orders: int = 5000
    #: RSS readings spread evenly over ``orders`` (besides the one after ``warmup``).
    samples: int = 4
    #: The closed orders the cache and the sim venue keep, and the exec client's
    #: latency sample window; None: the scenario's (10000 orders, 1M samples).
    max_closed_orders: int | None = None
    echo: bool = False
    command: str = ""

    @property
    def cap(self) -> int:
        """The run's ``[cache] max_closed_orders`` (the scenario's unless given)."""
        config = scenario_config("single", max_closed_orders=self.max_closed_orders)
        return int(config["cache"]["max_closed_orders"])


def checkpoints(warmup: int, orders: int, samples: int) -> list[int]:
    """The order counts at which RSS is read: ``warmup``, then ``orders * k / samples``
    for k = 1 .. samples (rounded up), ascending and without repeats."""
    points = {warmup, orders}
    points.update(-(-orders * k // samples) for k in range(1, samples))
    return sorted(points)


def slope_past_cap(readings: list[tuple[int, int | None]], cap: int) -> float | None:
    """KiB per 1000 orders between the first and the last reading taken at or past
    `cap` orders (`readings`: (orders, RSS bytes or None), ascending); None without
    two such readings."""
    past = [(n, rss) for n, rss in readings if n >= cap and rss is not None]
    if len(past) < 2 or past[-1][0] == past[0][0]:
        return None
    (n0, rss0), (n1, rss1) = past[0], past[-1]
    assert rss0 is not None and rss1 is not None
    return round((rss1 - rss0) / 1024 / ((n1 - n0) / 1000), 2)


def _slopes(readings: dict[int, dict[str, int | None]], name: str,
            cap: int) -> tuple[float | None, float | None]:
    """(past the cap, over the last interval) for process `name`."""
    series = [(n, rss[name]) for n, rss in readings.items()]
    return slope_past_cap(series, cap), slope_past_cap(series[-2:], cap)


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


def _progress_every(opts: LifecycleOptions) -> int:
    """How often the strategy reports: every checkpoint must be a multiple of it, or
    the reading would come up to that many orders late."""
    every = min(50, opts.warmup)
    points = checkpoints(opts.warmup, opts.orders, opts.samples)
    while every > 1 and any(n % every for n in points):
        every -= 1
    return every


def _run_mode(opts: LifecycleOptions, mode: str, work: Path,
              progress: Progress) -> dict[str, Any]:
    trader_id = unique_trader_id()
    config = scenario_config(mode, rate=opts.rate, progress_every=_progress_every(opts),
                             trader_id=trader_id, max_closed_orders=opts.max_closed_orders,
                             max_latency_samples=opts.max_closed_orders)
    path = write_config(config, work / f"lifecycle-{mode}.toml")
    points = checkpoints(opts.warmup, opts.orders, opts.samples)
    reached = {n: threading.Event() for n in points}

    def on_report(report: dict[str, Any]) -> None:
        if report.get("event") != "progress":
            return
        done = int(report["orders"])
        progress.update(done / opts.orders, f"{done}/{opts.orders} orders")
        for n, event in reached.items():
            if done >= n:
                event.set()

    progress.start(f"lifecycle {mode}")
    node = NodeProcess(path, work / f"lifecycle-{mode}.summary.json", on_report=on_report,
                       echo=opts.echo)
    with node:
        node.wait_for(node.ready, START_TIMEOUT, "every worker READY")
        assert node.t_ready is not None
        start_s = node.t_ready - node.t_start
        pids = _processes(node, mode, trader_id)
        pids.update(node.services)  # the sim venue process (multiprocess mode)
        budget = opts.orders / opts.rate * 4 + 60
        readings: dict[int, dict[str, int | None]] = {}
        for n in points:
            node.wait_for(reached[n], budget, f"{n} orders")
            readings[n] = _rss(pids)
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
        "rss_after_warmup": readings[opts.warmup],
        "rss_after_orders": readings[opts.orders],
        # Every reading, ascending: {"orders": n, "rss": {process: bytes or None}}.
        "rss_samples": [{"orders": n, "rss": rss} for n, rss in readings.items()],
        "rss_slope_kib_per_1000_orders": {
            name: _slopes(readings, name, opts.cap)[0] for name in pids
        },
        "rss_slope_last_kib_per_1000_orders": {
            name: _slopes(readings, name, opts.cap)[1] for name in pids
        },
        "orders": summary.get("counters", {}).get("orders_submitted"),
    }


def run_lifecycle(opts: LifecycleOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Every mode; the JSON-ready result (with ``lines``, the printed report)."""
    for mode in opts.modes:
        if mode not in ("single", "multiprocess"):
            raise ValueError(f"--modes: {mode!r}: expected single or multiprocess")
    if not 0 < opts.warmup <= opts.orders:
        raise ValueError(f"--warmup: expected 1 .. --orders ({opts.orders}), got {opts.warmup}")
    if opts.samples < 1:
        raise ValueError(f"--samples: expected >= 1, got {opts.samples}")
    if opts.max_closed_orders is not None and opts.max_closed_orders < 1:
        raise ValueError(f"--max-closed-orders: expected >= 1, got {opts.max_closed_orders}")
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
        samples = found["rss_samples"]
        heads = "".join(f" {'@' + str(s['orders']):>8}" for s in samples)
        lines.append(f"  {'process':<14} {'pid':>8}{heads}  {'past cap':>9} {'last':>8}   (RSS "
                     f"MiB after N orders; KiB per 1000 orders past the cap, {opts.cap}, "
                     f"and over the last interval)")
        for name, pid in found["pids"].items():
            cells = "".join(f" {_mib(s['rss'][name]):>8}" for s in samples)
            whole = found["rss_slope_kib_per_1000_orders"][name]
            last = found["rss_slope_last_kib_per_1000_orders"][name]
            lines.append(f"  {name:<14} {pid:>8}{cells}  {_num(whole):>9} {_num(last):>8}")
    machine["load_after"] = load_average()
    return {
        "benchmark": "lifecycle",
        "date": started,
        "command": opts.command,
        "machine": machine,
        "params": {"modes": list(opts.modes), "rate": opts.rate, "warmup": opts.warmup,
                   "orders": opts.orders, "samples": opts.samples,
                   "max_closed_orders": opts.cap},
        "results": results,
        "lines": lines,
    }


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
