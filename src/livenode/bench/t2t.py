"""`livenode bench t2t`: tick-to-trade latency per mode, per hop, against the raw floor.

For each mode the standard scenario (`livenode.bench.scenario`) runs with
``livenode run --summary-json`` as a subprocess. The exec client records, per
submitted order, ``now - command.ts_trigger``: from the quote entering the data
client to the order leaving the exec client; the summary carries the percentiles
(``latency.tick_to_trade_ns``) and, in multiprocess mode, each bus hop's
percentiles from the workers' HdrHistograms (``hop_latency``, sampled 1 in
``[message_bus] hop_latency_every``). Then the raw pyzmq floor (`livenode.bench.floor`)
runs in the same invocation, with as many messages as the node measured, at the
node's order rate, pinned like the multiprocess workers. Result: a table with the
ratios, a JSON document with the machine's facts, optionally a PNG.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livenode.bench.floor import raw_floor
from livenode.bench.node_run import NodeProcess, NodeRunError
from livenode.bench.report import (
    Progress,
    load_average,
    machine_facts,
    percentiles_ns,
    ratio,
    table,
    utc_now,
)
from livenode.bench.scenario import (
    chain_roles,
    scenario_config,
    unique_trader_id,
    write_config,
)
from livenode.bus.stage_trace import STAGES

__all__ = ["ROLES", "T2TOptions", "run_t2t"]

ROLES = ("data", "trader", "risk", "exec")  # the chain of a quote and its order
TARGET_RATIO = 1.3  # multiprocess p50 / raw floor p50: the project's target for its hops
START_TIMEOUT = 90.0  # seconds for a node to have every worker READY (loaded hosts)


@dataclass(frozen=True)
class T2TOptions:
    """What `livenode bench t2t` was asked for (see its ``--help``)."""

    modes: tuple[str, ...] = ("single", "multiprocess")
    topology: str = "default"
    wait: str = "block"
    rate: float = 200.0
    count: int | None = None
    duration: float = 20.0
    every: int = 1
    stamp: str = "entry"
    worker_cores: tuple[int, ...] | None = None
    stages: int = 0  # trace 1 message in this many stage by stage (0: off)
    echo: bool = False
    command: str = ""


def _database(label: str, work: Path) -> dict[str, Any] | None:
    """``MODE+sqlite`` / ``MODE+redis:PORT``: the cache database of that variant."""
    _, _, database = label.partition("+")
    if not database:
        return None
    if database == "sqlite":
        return {"type": "sqlite", "path": str(work / f"{label}.sqlite"), "flush_on_start": True}
    if database.startswith("redis:") and database[6:].isdigit():
        return {"type": "redis", "port": int(database[6:]), "flush_on_start": True}
    raise ValueError(f"--modes: {label!r}: expected MODE, MODE+sqlite or MODE+redis:PORT")


def check_modes(modes: tuple[str, ...]) -> None:
    """ValueError naming a bad ``--modes`` entry."""
    if not modes:
        raise ValueError("--modes: expected at least one of single, multiprocess")
    for label in modes:
        mode = label.partition("+")[0]
        if mode not in ("single", "multiprocess"):
            raise ValueError(f"--modes: {label!r}: expected single or multiprocess "
                             "(optionally +sqlite or +redis:PORT)")
        _database(label, Path("."))


def _node_row(summary: dict[str, Any]) -> dict[str, Any]:
    per_client = summary.get("latency", {}).get("tick_to_trade_ns", {})
    if not per_client:
        raise NodeRunError("the node summary has no tick-to-trade samples (no order went out?)")
    row = per_client.get("SIM") or next(iter(per_client.values()))
    return dict(row)


def _worker_cores(
    summary: dict[str, Any], roles: tuple[str, ...] = ROLES
) -> list[list[int] | None]:
    """The cores each role's worker ran on, in chain order (`roles`)."""
    by_role: dict[str, list[int]] = {}
    for worker in summary.get("workers", []):
        by_role.setdefault(worker.get("role", ""), [int(c) for c in worker.get("cores") or []])
    return [by_role.get(role) or None for role in roles]


def _hops(summary: dict[str, Any], roles: tuple[str, ...] = ROLES) -> list[dict[str, Any]]:
    """Per bus hop (``publisher->receiver`` worker names), its percentiles; the hops of
    the tick-to-trade chain (`roles` in order: data->trader, trader->risk, risk->exec by
    default) first, in order."""
    names = {w.get("name"): w.get("role") for w in summary.get("workers", [])}
    chain = list(itertools.pairwise(roles))
    rows = []
    for hop, figures in summary.get("hop_latency", {}).items():
        publisher, _, receiver = hop.partition("->")
        pair = (names.get(publisher), names.get(receiver))
        rows.append({"hop": hop, "chain": pair in chain,
                     "order": chain.index(pair) if pair in chain else len(chain),
                     "samples": figures.get("count", 0),
                     **{k: v for k, v in figures.items() if k != "count"}})
    rows.sort(key=lambda r: (r["order"], r["hop"]))
    for row in rows:
        del row["order"]
    return rows


def _run_mode(opts: T2TOptions, label: str, work: Path, progress: Progress) -> dict[str, Any]:
    mode = label.partition("+")[0]
    count = opts.count
    config = scenario_config(
        mode, opts.topology, opts.wait, rate=opts.rate, every=opts.every, count=count,
        progress_every=max(1, count // 50) if count else 0, trader_id=unique_trader_id(),
        stamp="venue" if opts.stamp == "venue" else "entry",
        worker_cores=list(opts.worker_cores) if opts.worker_cores else None,
        database=_database(label, work),
        stage_trace_every=opts.stages,
    )
    name = label.replace(":", "-").replace("+", "-")
    path = write_config(config, work / f"t2t-{name}.toml")
    progress.start(f"t2t {label}: starting")

    def on_report(report: dict[str, Any]) -> None:
        if report.get("event") == "progress" and count:
            progress.update(report["orders"] / count, f"{report['orders']}/{count} orders")

    node = NodeProcess(path, work / f"t2t-{name}.summary.json",
                       duration=None if count else opts.duration,
                       on_report=on_report, echo=opts.echo)
    with node:
        node.wait_for(node.ready, START_TIMEOUT, "every worker READY")
        progress.start(f"t2t {label}")
        if count:
            # A generous bound: every order could wait for a whole quote interval.
            budget = count * opts.every / opts.rate * 4 + 60
            node.wait_for(node.done, budget, f"{count} orders")
            node.stop()
        else:
            node.wait(opts.duration + START_TIMEOUT + 60)
    progress.update(1.0)
    summary = node.summary()
    row: dict[str, Any] = {"mode": label, **_node_row(summary), "node_pid": node.pid,
                           "trader_id": config["trader_id"]}
    if mode == "multiprocess":
        roles = chain_roles(opts.topology)
        row["worker_cores"] = dict(zip(roles, _worker_cores(summary, roles), strict=True))
        row["hops"] = _hops(summary, roles)
        row["worker_pids"] = {w["name"]: w["pid"] for w in summary.get("workers", [])}
        if opts.stages:
            row["stages"] = summary.get("stage_latency", {})
    return row


def stage_lines(stages: dict[str, dict[str, Any]], every: int) -> list[str]:
    """The stage trace of a multiprocess run (``stage_latency`` of its summary) as a
    table: per worker and inbound topic kind, each stage's p50 in microseconds."""
    head = f"{'worker: inbound kind':<34} {'traced':>7}" + "".join(
        f" {stage:>10}" for stage in STAGES)
    lines = [f"stages (1 in {every} inbound messages traced; p50 us)", head]
    for worker, kinds in sorted(stages.items()):
        for kind, figures in sorted(kinds.items()):
            traced = max((f.get("count", 0) for f in figures.values() if isinstance(f, dict)),
                         default=0)
            cells = "".join(
                f" {figures[stage]['p50'] / 1000:>10.1f}"
                if isinstance(figures.get(stage), dict) and figures[stage].get("count")
                else f" {'-':>10}" for stage in STAGES)
            lines.append(f"{worker + ': ' + kind:<34} {traced:>7}{cells}")
    return lines


def run_t2t(opts: T2TOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Run every mode and the floor; the JSON-ready result (also has ``lines``, the
    printed report)."""
    check_modes(opts.modes)
    progress = progress or Progress()
    machine = machine_facts()
    started = utc_now()
    # As many hops as the node's chain: 3 (2 with risk inside another worker), one
    # more when the venue stamps the quote.
    hops = len(chain_roles(opts.topology)) - 1 + (opts.stamp == "venue")
    rows: list[dict[str, Any]] = []
    by_mode: dict[str, dict[str, Any]] = {}
    work = Path(tempfile.mkdtemp(prefix="livenode-bench-"))
    try:
        for label in opts.modes:
            row = _run_mode(opts, label, work, progress)
            rows.append(row)
            by_mode[label] = row
    finally:
        progress.finish()
        shutil.rmtree(work, ignore_errors=True)

    multi = by_mode.get("multiprocess")
    if multi is not None:
        cores: list[list[int] | None] = list(multi["worker_cores"].values())
    elif opts.worker_cores:
        cores = [[opts.worker_cores[ROLES.index(role)]] for role in chain_roles(opts.topology)]
    else:  # like the derived topology: every worker on the last core
        last = (os.cpu_count() or 1) - 1
        cores = [[last] if last else None]
    if opts.stamp == "venue":  # the venue process (unpinned) leads the chain
        cores = [None, *cores]
    base = multi or next(iter(by_mode.values()))
    count = int(base["samples"])
    order_rate = opts.rate / opts.every
    progress.start(f"raw floor ({hops} hops)")
    samples = raw_floor(hops, order_rate, count, cores, progress.update)
    progress.finish()
    floor = {"mode": f"raw pyzmq {hops} hops", "samples": len(samples),
             **percentiles_ns(samples), "stage_cores": cores}

    ratios = {
        "multiprocess/raw_floor": ratio(multi, floor),
        "multiprocess/single": ratio(multi, by_mode.get("single")),
        "single/raw_floor": ratio(by_mode.get("single"), floor),
    }
    for label, row in by_mode.items():
        plain = label.partition("+")[0]
        if label != plain and plain in by_mode:
            ratios[f"{label}/{plain}"] = ratio(row, by_mode[plain])
    lines = table([*rows, floor])
    for row in rows:
        if row.get("hops"):
            lines += ["", f"bus hops of {row['mode']} (sampled: message_bus.hop_latency_every)"]
            lines += table([{**h, "mode": ("  " if h["chain"] else "  (other) ") + h["hop"]}
                            for h in row["hops"]])[2:]
        if row.get("stages"):
            lines += ["", *stage_lines(row["stages"], opts.stages)]
    lines.append("")
    lines += [f"{name:<24} " + "  ".join(f"{k} {v:.2f}x" for k, v in values.items())
              for name, values in ratios.items() if values]
    target_met = None
    if ratios["multiprocess/raw_floor"]:
        p50 = ratios["multiprocess/raw_floor"]["p50"]
        target_met = p50 <= TARGET_RATIO
        lines.append(f"target: multiprocess p50 within {TARGET_RATIO}x of the raw floor: "
                     f"{p50:.2f}x ({'met' if target_met else 'NOT met'})")
    machine["load_after"] = load_average()
    return {
        "benchmark": "tick_to_trade",
        "date": started,
        "command": opts.command,
        "machine": machine,
        "params": {
            "modes": list(opts.modes), "topology": opts.topology, "wait": opts.wait,
            "rate": opts.rate, "count": opts.count,
            "duration": None if opts.count else opts.duration, "every": opts.every,
            "stamp": opts.stamp, "hops": hops, "floor_rate": order_rate,
            "worker_cores": list(opts.worker_cores) if opts.worker_cores else None,
            "stages": opts.stages,
        },
        "unit": "ns",
        "modes": {label: row for label, row in by_mode.items()},
        "floor": floor,
        "floor_points": _floor_points(samples),
        "ratios": ratios,
        "target_ratio": TARGET_RATIO,
        "target_met": target_met,
        "lines": lines,
    }


def _floor_points(samples: list[int]) -> list[list[float]]:
    from livenode.bench.plot import dense_points

    return [[q, ns] for q, ns in dense_points(samples)]
