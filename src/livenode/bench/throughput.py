"""`livenode bench throughput`: the highest sustained rate, found by stepping the offer.

Two kinds, per mode, each with `RateProbe` as the only strategy:

- ``quotes``: quotes through one trader worker into a trivial strategy (it counts
  them and samples their latency from the data client's entry stamp);
- ``orders``: quote -> order round trips with risk on: the strategy submits an order
  on every quote (never waiting for the previous one) and samples the time from the
  quote to the venue's acceptance reaching it; accepted orders are cancelled.

First an idle run at ``idle_rate`` gives the idle p99. Then the offered rate steps up
(``rates``), one node run of ``step_seconds`` each, until a step fails: its p99 is
above ``bound_factor`` x the idle p99, or the achieved rate (what the strategy
received per second, after its warm-up) is below ``behind`` x the offered one. The
answer is the last step that passed.

To tell a slow node from a slow feed, the run also measures the sim feed alone
(`feed_capacity`): the same `SimFeed` and random walk on a uvloop loop, into a sink
that only counts, offered the highest rate of the ladder.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livenode.bench.node_run import NodeProcess, NodeRunError
from livenode.bench.report import Progress, load_average, machine_facts, utc_now
from livenode.bench.scenario import (
    THROUGHPUT_RATES,
    scenario_config,
    unique_trader_id,
    write_config,
)
from livenode.bench.t2t import START_TIMEOUT
from livenode.venues.sim.config import SimFeedConfig, SimInstrumentConfig
from livenode.venues.sim.feed import SimFeed
from livenode.venues.sim.instruments import build_spec
from livenode.venues.sim.market import RandomWalk

__all__ = ["KINDS", "ThroughputOptions", "feed_capacity", "run_throughput", "step_failures"]

KINDS = ("quotes", "orders")
WARMUP_SECONDS = 0.5  # of quotes the probe ignores at the start of each step


@dataclass(frozen=True)
class ThroughputOptions:
    """What `livenode bench throughput` was asked for (see its ``--help``)."""

    modes: tuple[str, ...] = ("single", "multiprocess")
    kinds: tuple[str, ...] = KINDS
    rates: tuple[float, ...] = THROUGHPUT_RATES
    idle_rate: float = 100.0
    step_seconds: float = 5.0
    bound_factor: float = 10.0
    behind: float = 0.9
    echo: bool = False
    command: str = ""


def feed_capacity(rate: float, seconds: float = 1.0) -> dict[str, Any]:
    """The sim feed alone (one random walk, the scenario's instrument) offered `rate`
    quotes/s for `seconds` on a uvloop loop, into a sink that only counts."""
    import uvloop

    instrument = SimInstrumentConfig(
        symbol="BTCUSDT", kind="spot", base="BTC", quote="USDT", price_precision=2,
        price_increment="0.01", size_precision=5, size_increment="0.00001",
        min_quantity="0.00001", start_price="50000", volatility=0.0001,
    )
    received = 0

    def count(*_: Any) -> None:
        nonlocal received
        received += 1

    async def run() -> dict[str, Any]:
        walk = RandomWalk(build_spec(instrument), 7, instrument.start_price,
                          instrument.volatility, instrument.spread_ticks, instrument.mean_size,
                          0.0)
        feed = SimFeed(SimFeedConfig(rate_per_second=rate), asyncio.get_running_loop(),
                       time.time_ns, count, count, walks={"BTCUSDT": walk})
        started = time.perf_counter()
        feed.start()
        await asyncio.sleep(seconds)
        feed.stop()
        elapsed = time.perf_counter() - started
        return {"offered": rate, "delivered": round(received / elapsed, 1),
                "lag_dropped": feed.lag_dropped}

    return uvloop.run(run())


def _step(opts: ThroughputOptions, mode: str, kind: str, rate: float, work: Path,
          progress: Progress) -> dict[str, Any]:
    """One node run at `rate` quotes/s: achieved rate, p99, what the feed delivered."""
    config = scenario_config(
        mode, rate=rate, strategy="probe-orders" if kind == "orders" else "probe-quotes",
        trader_id=unique_trader_id(), warmup_quotes=int(rate * WARMUP_SECONDS),
    )
    path = write_config(config, work / f"throughput-{mode}-{kind}-{rate:g}.toml")
    node = NodeProcess(path, path.with_suffix(".summary.json"),
                       duration=opts.step_seconds + WARMUP_SECONDS, echo=opts.echo)
    with node:
        node.wait_for(node.ready, START_TIMEOUT, "every worker READY")
        progress.update(0.5, f"{rate:g}/s running")
        code = node.wait(opts.step_seconds + START_TIMEOUT + 60)
    # Past its limit a node may not stop cleanly (a trader flooded with events it must
    # not drop misses its stop timeout): that fails the step, not the benchmark.
    summary = node.summary(clean=False)
    results = [r for r in node.reports if r.get("event") == "result"]
    if not results:
        raise NodeRunError(f"the probe strategy did not report at stop:\n{node.tail()}")
    result = results[-1]
    if kind == "quotes":
        count, span, latency = result["quotes"], result["quote_span_ns"], result["quote_latency_ns"]
    else:
        count, span = result["accepted"], result["accepted_span_ns"]
        latency = result["order_latency_ns"]
    achieved = (count - 1) / (span / 1e9) if count > 1 and span > 0 else 0.0
    return {
        "offered": rate,
        "achieved": round(achieved, 1),
        "received": count,
        "p50_ns": latency.get("p50"),
        "p99_ns": latency.get("p99"),
        "max_ns": latency.get("max"),
        "latency_samples": latency.get("count", 0),
        "quotes_in_node": summary.get("counters", {}).get("quotes", 0),
        "exit_code": code,
    }


def step_failures(step: dict[str, Any], bound_ns: float, behind: float) -> list[str]:
    """Why a step fails (empty: it passed): p99 above `bound_ns` (or none measured),
    achieved below `behind` x offered, or a stop that was not clean."""
    reasons = []
    p99 = step.get("p99_ns")
    if p99 is None or p99 > bound_ns:
        reasons.append(f"p99 {(p99 or 0) / 1000:.0f} us > bound {bound_ns / 1000:.0f} us")
    if step["achieved"] < behind * step["offered"]:
        reasons.append(f"achieved {step['achieved']:.0f}/s < {behind:g} x offered")
    if step.get("exit_code") != 0:
        reasons.append(f"the node's stop was not clean (exit {step.get('exit_code')})")
    return reasons


def _search(opts: ThroughputOptions, mode: str, kind: str, work: Path,
            progress: Progress) -> dict[str, Any]:
    progress.start(f"throughput {mode} {kind}: idle")
    idle = _step(opts, mode, kind, opts.idle_rate, work, progress)
    if not idle["p99_ns"] or idle["exit_code"] != 0:
        raise NodeRunError(f"{mode} {kind}: the idle run measured no latency or did not stop "
                           f"cleanly (exit {idle['exit_code']})")
    bound = idle["p99_ns"] * opts.bound_factor
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    for rate in opts.rates:
        progress.start(f"throughput {mode} {kind}: {rate:g}/s")
        step = _step(opts, mode, kind, rate, work, progress)
        reasons = step_failures(step, bound, opts.behind)
        step["passed"] = not reasons
        step["failed_because"] = "; ".join(reasons) or None
        steps.append(step)
        if reasons:
            break
        best = step
    progress.finish()
    return {
        "idle": idle,
        "p99_bound_ns": bound,
        "steps": steps,
        "max_sustained": best["offered"] if best else None,
        "max_sustained_achieved": best["achieved"] if best else None,
        "limit_not_reached": bool(steps) and steps[-1]["passed"],
    }


def run_throughput(opts: ThroughputOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Every mode and kind; the JSON-ready result (with ``lines``, the printed report)."""
    for kind in opts.kinds:
        if kind not in KINDS:
            raise ValueError(f"--kinds: {kind!r}: expected quotes or orders")
    for mode in opts.modes:
        if mode not in ("single", "multiprocess"):
            raise ValueError(f"--modes: {mode!r}: expected single or multiprocess")
    if not opts.rates or any(r <= 0 for r in opts.rates):
        raise ValueError(f"--rates: expected positive quotes per second, got {opts.rates}")
    progress = progress or Progress()
    machine = machine_facts()
    started = utc_now()
    results: dict[str, dict[str, Any]] = {}
    work = Path(tempfile.mkdtemp(prefix="livenode-bench-"))
    try:
        for mode in opts.modes:
            for kind in opts.kinds:
                results[f"{mode}/{kind}"] = _search(opts, mode, kind, work, progress)
    finally:
        progress.finish()
        shutil.rmtree(work, ignore_errors=True)
    feed = feed_capacity(max(opts.rates))
    lines = [f"sim feed alone: {feed['delivered']:.0f}/s delivered of {feed['offered']:g}/s "
             f"offered ({feed['lag_dropped']} dropped as backlog)", "",
             f"{'mode/kind':<22} {'offered/s':>10} {'achieved/s':>11} "
             f"{'p50 us':>8} {'p99 us':>8}  verdict"]
    for name, found in results.items():
        for step in [{**found["idle"], "passed": True, "failed_because": "idle"},
                     *found["steps"]]:
            verdict = ("idle" if step["failed_because"] == "idle"
                       else "ok" if step["passed"] else step["failed_because"])
            lines.append(
                f"{name:<22} {step['offered']:>10.0f} {step['achieved']:>11.0f} "
                f"{(step['p50_ns'] or 0) / 1000:>8.0f} "
                f"{(step['p99_ns'] or 0) / 1000:>8.0f}  {verdict}")
        best = found["max_sustained"]
        lines.append(f"{name:<22} max sustained: "
                     + (f"{best:g}/s" if best else "none of the steps")
                     + (" (the highest step passed: the limit is above it)"
                        if found["limit_not_reached"] else ""))
    machine["load_after"] = load_average()
    return {
        "benchmark": "throughput",
        "date": started,
        "command": opts.command,
        "machine": machine,
        "params": {"modes": list(opts.modes), "kinds": list(opts.kinds),
                   "rates": list(opts.rates), "idle_rate": opts.idle_rate,
                   "step_seconds": opts.step_seconds, "bound_factor": opts.bound_factor,
                   "behind": opts.behind},
        "unit": "ns",
        "feed_alone": feed,
        "results": results,
        "lines": lines,
    }
