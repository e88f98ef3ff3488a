"""Tick-to-trade latency of the node, single vs multiprocess, against the raw pyzmq floor.

Run: ``.venv/bin/python benchmarks/bench_tick_to_trade.py [--duration S] [--quick]``

1. The scenario of ``benchmarks/configs/tick_to_trade.toml`` (one instrument on the
   sim venue, ``--rate`` quotes per second, a strategy that submits a far-from-market
   post-only buy from its quote handler whenever it has no order working, and
   cancels it once accepted) runs with ``livenode run --summary-json`` as a
   subprocess, once with ``mode = "single"`` and once with ``mode = "multiprocess"``.
   The sim exec client records ``now - command.ts_trigger`` per submitted order:
   from the quote entering the data client (``ts_init``, stamped on entry by
   `bench_components.EntryStampedSimDataClientFactory`) to the order leaving the
   exec client. The node's summary carries the percentiles (``latency`` section).
2. The raw floor, in the same run: the same number of cross-process hops as the
   multiprocess node (data -> trader: the quote; trader -> risk and risk -> exec:
   the SubmitOrder; 3 hops, 4 processes) as a chain of blocking pyzmq PUB/SUB
   sockets over ipc, one frame per message framed like the bus (``pack_frame``),
   carrying the same messages (a `QuoteTick`, then a `SubmitOrder`, encoded by the
   node's codec; each relay decodes and re-encodes), paced at the same rate, and
   pinned to the cores the node's workers ran on. No event loop, no engines: what
   the hops cost by themselves.
3. Prints mode, samples, p50, p90, p99, p99.9 and max (us), the ratios
   multiprocess / raw floor and multiprocess / single, and writes a JSON result.

Percentiles are nearest-rank over sorted samples (no HdrHistogram dependency).
The node's samples include its first orders (warm-up): they move max, not p50.
Numbers drift 2x run to run on shared 2-core hosts: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "configs" / "tick_to_trade.toml"
RESULTS = HERE / "results"
ROLES = ("data", "trader", "risk", "exec")  # the chain of a quote and its order
QUANTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9, "max": 100.0}
TARGET_RATIO = 1.5  # multiprocess p50 / raw floor p50
MULTIPROCESS_STARTUP = 4.0  # seconds added to --duration for spawning the workers
FLOOR_WARMUP = 50  # messages through the chain before measuring (slow joiners, caches)


# -- statistics ----------------------------------------------------------------------------


def percentiles_ns(samples: list[int]) -> dict[str, int]:
    """Nearest-rank p50/p90/p99/p99.9/max of `samples` (the exec client's formula)."""
    data = sorted(samples)
    if not data:
        return {}
    n = len(data)
    return {
        key: data[min(n - 1, max(0, round(q / 100 * n) - 1))] for key, q in QUANTILES.items()
    }


# -- the node --------------------------------------------------------------------------------


def node_config(
    mode: str, rate: float, every_n: int, stamp: str, out_dir: Path,
    role_cores: list[int] | None = None,
) -> Path:
    """The benchmark config with `mode`, the feed rate and the stamping rewritten;
    with `role_cores` (data, trader, risk, exec) an explicit pinned topology. A mode
    ``single+sqlite`` / ``multiprocess+redis:PORT`` also turns the cache database on."""
    label = mode
    mode, _, database = mode.partition("+")
    text = CONFIG.read_text(encoding="utf-8")
    if database == "sqlite":
        sqlite_file = out_dir / f"{label}.sqlite"
        text += ("\n[cache.database]\ntype = \"sqlite\"\n"
                 f"path = \"{sqlite_file}\"\nflush_on_start = true\n")
    elif database.startswith("redis:"):
        text += ("\n[cache.database]\ntype = \"redis\"\n"
                 f"port = {int(database[6:])}\nflush_on_start = true\n")
    elif database:
        raise ValueError(f"mode {label!r}: expected +sqlite or +redis:PORT after the mode")
    replacements = [
        (r'(?m)^mode = "(?:single|multiprocess)"', f'mode = "{mode}"'),
        (r"(?m)^rate_per_second = [0-9.]+", f"rate_per_second = {float(rate)}"),
        (r"(?m)^every_n = \d+", f"every_n = {int(every_n)}"),
    ]
    if stamp == "venue":  # the stock client: ts_init stamped by the venue (its process)
        replacements.append(
            (r'"bench_components:EntryStampedSimDataClientFactory"',
             '"livenode.adapters.sim:SimDataClientFactory"')
        )
    for pattern, value in replacements:
        text, count = re.subn(pattern, value, text)
        if count != 1:
            raise RuntimeError(f"{CONFIG}: expected one match of {pattern!r}, found {count}")
    if mode == "multiprocess" and role_cores:
        members = {"data": '["SIM"]', "trader": '["QuoteReactor-001"]', "risk": "[]",
                   "exec": '["SIM"]'}
        names = {"data": "data-SIM", "trader": "trader", "risk": "risk", "exec": "exec-SIM"}
        for role, core in zip(ROLES, role_cores):
            text += (f'\n[[workers]]\nname = "{names[role]}"\nrole = "{role}"\n'
                     f"members = {members[role]}\ncores = [{core}]\n")
    path = out_dir / f"tick_to_trade-{label.replace(':', '-')}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_node(config: Path, duration: float, out_dir: Path, verbose: bool) -> dict[str, Any]:
    """`livenode run CONFIG --duration D --summary-json ...` in a subprocess; its summary."""
    summary_path = out_dir / f"{config.stem}.summary.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE), env.get("PYTHONPATH", "")) if p
    )
    cmd = [
        sys.executable, "-m", "livenode", "run", str(config),
        "--duration", f"{duration:g}", "--summary-json", str(summary_path),
    ]
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=duration + 120, check=False
    )
    if verbose or proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}")
    return json.loads(summary_path.read_text(encoding="utf-8"))


def node_latency(summary: dict[str, Any]) -> dict[str, int]:
    """The tick-to-trade row of the (one) sim exec client in a node summary."""
    per_client = summary.get("latency", {}).get("tick_to_trade_ns", {})
    if not per_client:
        raise RuntimeError("the node summary has no tick-to-trade samples (no order went out?)")
    return dict(per_client["SIM"] if "SIM" in per_client else next(iter(per_client.values())))


def worker_cores(summary: dict[str, Any]) -> list[list[int] | None]:
    """The cores each role's worker ran on, in chain order (data, trader, risk, exec)."""
    by_role: dict[str, list[int]] = {}
    for worker in summary.get("workers", []):
        cores = [int(c) for c in worker.get("cores") or []]
        by_role.setdefault(worker.get("role", ""), cores)
    return [by_role.get(role) or None for role in ROLES]


# -- the raw pyzmq floor ---------------------------------------------------------------------


def _floor_stage(
    index: int, stages: int, endpoints: list[str], cores: list[int] | None,
    rate: float, count: int, conn: Any,
) -> None:
    """One process of the chain: source (0), relays, sink (stages - 1)."""
    import msgspec
    import zmq

    from livenode.bus.zmq_transport import pack_frame, unpack_frame
    from livenode.model.codec import Codec
    from livenode.model.commands import SubmitOrder
    from livenode.model.data import QuoteTick
    from livenode.model.enums import OrderSide, OrderType
    from livenode.model.events import OrderInitialized
    from livenode.model.identifiers import (
        ClientOrderId,
        InstrumentId,
        StrategyId,
        TraderId,
    )
    from livenode.model.objects import Price, Quantity

    if cores:
        os.sched_setaffinity(0, cores)
    codec = Codec()
    encode, decode = codec.encode, codec.decode
    replace = msgspec.structs.replace
    iid = InstrumentId("BTCUSDT.SIM")
    trader, strategy = TraderId("BENCH-001"), StrategyId("QuoteReactor-001")
    order = OrderInitialized(
        trader_id=trader, strategy_id=strategy, instrument_id=iid,
        client_order_id=ClientOrderId("O-20260101-000000-001-001-1"),
        event_id="0" * 32, ts_event=0, ts_init=0, side=OrderSide.BUY,
        order_type=OrderType.LIMIT, quantity=Quantity(100, 5), price=Price(4500000, 2),
        post_only=True,
    )
    submit = SubmitOrder(
        trader_id=trader, strategy_id=strategy, command_id="0" * 32, ts_init=0,
        ts_trigger=0, order=order,
    )
    quote_topic, submit_topics = "data.quotes.SIM.BTCUSDT", ["commands.risk", "commands.exec.SIM"]
    ctx = zmq.Context()
    sub = pub = None
    if index > 0:
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(endpoints[index - 1])
    if index < stages - 1:
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.bind(endpoints[index])
    conn.send("ready")
    try:
        if index == 0:
            assert pub is not None
            conn.recv()  # go
            interval = 1.0 / rate
            total = FLOOR_WARMUP + count
            start = time.perf_counter()
            for seq in range(total + 1):
                target = start + seq * interval
                delay = target - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                now = time.time_ns()
                ts = -1 if seq == total else now  # -1: end of run
                q = QuoteTick(iid, Price(5000000, 2), Price(5000001, 2),
                              Quantity(100, 5), Quantity(100, 5), now, ts)
                pub.send(pack_frame(quote_topic, "floor-0", seq + 1, encode(q)))
            conn.send("sent")
            return
        assert sub is not None
        samples: list[int] = []
        while True:
            frame = sub.recv()
            _, envelope = unpack_frame(frame)
            msg = decode(envelope.payload)
            # The quote's ts_init travels on as the command's ts_trigger, as in the node.
            ts = msg.ts_init if type(msg) is QuoteTick else msg.ts_trigger
            if pub is not None:
                # The last two relays (trader, risk) send the order; any before
                # them (the data worker, behind a venue stage) pass the quote on.
                position = index - (stages - 3)
                if position < 0:
                    frame = pack_frame(quote_topic, f"floor-{index}", envelope.seq, encode(msg))
                else:
                    out = replace(submit, ts_init=time.time_ns(), ts_trigger=ts)
                    frame = pack_frame(submit_topics[position], f"floor-{index}",
                                       envelope.seq, encode(out))
                pub.send(frame)
                if ts == -1:
                    return
                continue
            if ts == -1:
                break
            now = time.time_ns()
            if envelope.seq > FLOOR_WARMUP:
                samples.append(now - ts)
        conn.send(samples)
    finally:
        for sock in (sub, pub):
            if sock is not None:
                sock.close(linger=0)
        ctx.term()


def raw_floor(
    hops: int, rate: float, count: int, stage_cores: list[list[int] | None]
) -> list[int]:
    """Latency samples (ns) of `count` messages through `hops` chained pyzmq hops;
    process i is pinned to ``stage_cores[i]`` (the last entry serves the rest)."""
    stages = hops + 1
    run_dir = Path(tempfile.mkdtemp(prefix="livenode-floor-"))
    endpoints = [f"ipc://{run_dir}/hop{i}.ipc" for i in range(hops)]
    spawn = mp.get_context("spawn")
    pipes, procs = [], []
    try:
        for index in range(stages):
            parent, child = spawn.Pipe()
            proc = spawn.Process(
                target=_floor_stage,
                args=(index, stages, endpoints,
                      stage_cores[min(index, len(stage_cores) - 1)] if stage_cores else None,
                      rate, count, child),
                daemon=True,
            )
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        for parent in pipes:
            if not parent.poll(30) or parent.recv() != "ready":
                raise RuntimeError("a raw-floor process did not start")
        time.sleep(0.5)  # subscriptions propagate (the warm-up messages absorb the rest)
        pipes[0].send("go")
        timeout = count / rate + 30
        if not pipes[-1].poll(timeout):
            raise RuntimeError("the raw-floor chain did not finish (messages lost?)")
        samples: list[int] = pipes[-1].recv()
        for proc in procs:
            proc.join(5)
        return samples
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(1)
        shutil.rmtree(run_dir, ignore_errors=True)


# -- report ----------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> list[str]:
    head = f"{'mode':<26} {'samples':>8}" + "".join(f" {k:>9}" for k in QUANTILES)
    lines = [head + "   (us)", "-" * len(head)]
    for row in rows:
        values = "".join(f" {row[k] / 1000:>9.1f}" for k in QUANTILES)
        lines.append(f"{row['mode']:<26} {row['samples']:>8}{values}")
    return lines


def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, float] | None:
    if not a or not b:
        return None
    return {k: round(a[k] / b[k], 2) for k in QUANTILES if b.get(k)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds each node runs (default 20)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2 s per node, at most 300 floor samples")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="quotes per second from the sim feed, and floor messages per second")
    parser.add_argument("--every-n", type=int, default=1, help="an order every n-th quote")
    parser.add_argument("--modes", default="single,multiprocess",
                        help="comma-separated node modes to run (default both); "
                             "MODE+sqlite or MODE+redis:PORT runs it with the cache database")
    parser.add_argument("--stamp", choices=("entry", "venue"), default="entry",
                        help="entry: ts_init stamped when the quote enters the data client "
                             "(default); venue: by the sim venue (includes the venue -> data "
                             "worker hop in multiprocess mode)")
    parser.add_argument("--hops", type=int, default=None,
                        help="hops of the raw floor (default 3; 4 with --stamp venue)")
    parser.add_argument("--worker-cores", default=None,
                        help="pin the multiprocess workers data,trader,risk,exec to these "
                             "cores, e.g. '0,1,0,1' (default: the derived topology)")
    parser.add_argument("--json", type=Path, default=None, help="result file (default "
                        "benchmarks/results/tick_to_trade-<time>.json)")
    parser.add_argument("--verbose", action="store_true", help="show the nodes' output")
    args = parser.parse_args(argv)
    duration = 2.0 if args.quick else args.duration
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    hops = args.hops or (4 if args.stamp == "venue" else 3)
    started = dt.datetime.now(dt.UTC)

    rows: list[dict[str, Any]] = []
    by_mode: dict[str, dict[str, Any]] = {}
    role_cores = ([int(c) for c in args.worker_cores.split(",")]
                  if args.worker_cores else None)
    if role_cores is not None and len(role_cores) != len(ROLES):
        parser.error("--worker-cores: expected 4 cores (data,trader,risk,exec)")
    cores: list[list[int] | None] | None = None
    work = Path(tempfile.mkdtemp(prefix="livenode-bench-"))
    try:
        for mode in modes:
            print(f"running the node ({mode}, {duration:g} s) ...", flush=True)
            # `--duration` counts from the command's start: a multiprocess node
            # spends its first seconds spawning workers and the venue process.
            allowance = MULTIPROCESS_STARTUP if mode.startswith("multiprocess") else 0.0
            summary = run_node(
                node_config(mode, args.rate, args.every_n, args.stamp, work, role_cores),
                duration + allowance, work, args.verbose,
            )
            row = {"mode": mode, **node_latency(summary)}
            if mode == "multiprocess":  # the plain one: its cores pin the floor
                cores = worker_cores(summary)
                row["worker_cores"] = dict(zip(ROLES, cores))
            rows.append(row)
            by_mode[mode] = row
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if cores is None:  # no multiprocess run: pin as asked, or like the derived topology
        last = (os.cpu_count() or 1) - 1
        cores = ([[c] for c in role_cores] if role_cores else [[last] if last else None])
    if hops == 4:  # --stamp venue: the venue process (unpinned) leads the chain
        cores = [None, *cores]
    base = by_mode.get("multiprocess") or by_mode.get("single")
    count = base["samples"] if base else int(args.rate * duration)
    if args.quick:
        count = min(count, 300)
    print(f"running the raw pyzmq floor ({hops} hops, {count} messages, "
          f"cores {cores}) ...", flush=True)
    floor_samples = raw_floor(hops, args.rate, count, cores)
    floor = {"mode": f"raw pyzmq {hops} hops", "samples": len(floor_samples),
             **percentiles_ns(floor_samples), "stage_cores": cores}
    rows.append(floor)

    multi, single = by_mode.get("multiprocess"), by_mode.get("single")
    ratios = {
        "multiprocess/raw_floor": ratio(multi, floor),
        "multiprocess/single": ratio(multi, single),
        "single/raw_floor": ratio(single, floor),
    }
    for label, row in by_mode.items():
        base_mode = label.partition("+")[0]
        if label != base_mode and by_mode.get(base_mode):
            ratios[f"{label}/{base_mode}"] = ratio(row, by_mode[base_mode])
    lines = table(rows)
    lines.append("")
    for name, values in ratios.items():
        if values:
            lines.append(f"{name:<24} " + "  ".join(f"{k} {v:.2f}x" for k, v in values.items()))
    target_met = None
    if ratios["multiprocess/raw_floor"]:
        p50_ratio = ratios["multiprocess/raw_floor"]["p50"]
        target_met = p50_ratio <= TARGET_RATIO
        lines.append(
            f"target: multiprocess p50 within {TARGET_RATIO}x of the raw floor: "
            f"{p50_ratio:.2f}x ({'met' if target_met else 'NOT met'})"
        )
    print()
    print("\n".join(lines))

    result = {
        "benchmark": "tick_to_trade",
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "host": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_avg": list(os.getloadavg()),
        },
        "params": {
            "duration": duration, "rate": args.rate, "every_n": args.every_n,
            "stamp": args.stamp, "hops": hops, "quick": args.quick,
        },
        "unit": "ns",
        "rows": rows,
        "ratios": ratios,
        "target_ratio": TARGET_RATIO,
        "target_met": target_met,
    }
    path = args.json
    if path is None:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"tick_to_trade-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nresult: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
