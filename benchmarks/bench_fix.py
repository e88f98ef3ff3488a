"""Tick-to-trade through the FIX 4.4 client vs the sim client, and the FIX codec's cost.

Run (from the repository root; the FIX peer needs the ``quickfix`` wheel)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_fix.py [--duration S] [--quick]
        [--rate R] [--modes sim,fix,fix+sqlite] [--codec-count N] [--json FILE]

1. ``sim``: the tick-to-trade scenario of ``benchmarks/configs/tick_to_trade.toml``
   (`bench_components.QuoteReactor` submits a far-below-market post-only buy from its
   quote handler whenever it has no order working, and cancels it once accepted) in a
   single-process node (``livenode run --summary-json``, a subprocess), sim data and sim
   execution client. Tick-to-trade: from the quote entering the data client to the
   order handed to the sim venue.
2. ``fix``: the same node and feed with the FIX execution client instead (venue SIM,
   so the orders are for the same instrument), over TCP loopback to the QuickFIX
   acceptor ``tests/peers/fix_acceptor.py`` (its own process, priced at the feed's
   start so the buys rest, then are canceled). Tick-to-trade: from the quote entering
   the data client to the NewOrderSingle written to the socket (the client's command
   task, the message's encoding, the sequence number saved before the send, the
   write): `FixExecClient` stamps on send. ``fix+sqlite`` / ``sim+sqlite`` run with a
   SQLite cache database (FIX: the sequence numbers are then committed to it before
   each send instead of the file).
3. The codec on its own, in this process: `codec.encode` of a NewOrderSingle (its
   header and fields as the client builds them) and `codec.decode` of an
   ExecutionReport (New) as QuickFIX sends it, each timed per call; and the save of
   the sequence numbers every message makes (to the file, to SQLite).

Prints per row the samples and p50/p90/p99/max in us (codec rows in ns), the ratios
fix / sim, the ``uptime`` load before and after, and writes a JSON result (default
``benchmarks/results/bench_fix-<time>.json``). Percentiles are nearest-rank over
sorted samples; the nodes' samples include their first orders (warm-up moves max,
not p50). The host drifts 2x run to run: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = HERE / "configs" / "tick_to_trade.toml"
RESULTS = HERE / "results"
QUANTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}
START_PRICE = "50000"  # the feed's start_price in the scenario: the acceptor's price


def percentiles(samples: list[int]) -> dict[str, int]:
    """Nearest-rank p50/p90/p99/max (the exec client's formula)."""
    data = sorted(samples)
    n = len(data)
    return {k: data[min(n - 1, max(0, round(q / 100 * n) - 1))] for k, q in QUANTILES.items()}


def uptime() -> str:
    """`uptime`'s line (load averages), or os.getloadavg() when the command is missing."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the nodes ---------------------------------------------------------------------------


def node_document(kind: str, rate: float, work: Path, port: int | None) -> dict[str, Any]:
    """The scenario's config as a dict, with the exec client `kind` ("sim" or "fix")."""
    with CONFIG.open("rb") as f:
        document: dict[str, Any] = tomllib.load(f)
    document["mode"] = "single"
    document["data_clients"]["SIM"]["config"]["venue_config"]["feed"]["rate_per_second"] = rate
    if kind == "fix":
        assert port is not None
        document["exec_clients"] = {"SIM": {
            "factory": "livenode.adapters.fix:FixExecClientFactory",
            "config": {
                "venue": "SIM", "account_id": "SIM-001", "sender_comp_id": "NODE",
                "target_comp_id": "VENUE", "port": port, "heartbeat": 30,
                "data_dir": str(work / "fix-node"), "balances": ["100000000 USDT"],
            },
        }}
    return document


def run_node(label: str, document: dict[str, Any], duration: float, work: Path,
             verbose: bool) -> dict[str, Any]:
    """``livenode run CONFIG --duration D --summary-json`` in a subprocess; the exec
    client's tick-to-trade row of its summary."""
    config = work / f"{label}.json"
    config.write_text(json.dumps(document), encoding="utf-8")
    summary_path = work / f"{label}.summary.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "livenode", "run", str(config), "--duration",
           f"{duration:g}", "--summary-json", str(summary_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=work,
                          timeout=duration + 120, check=False)
    if verbose or proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
    if proc.returncode != 0:
        raise RuntimeError(f"{label}: {' '.join(cmd)} exited with {proc.returncode}")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    row = summary.get("latency", {}).get("tick_to_trade_ns", {}).get("SIM")
    if not row:
        raise RuntimeError(f"{label}: the node's summary has no tick-to-trade samples")
    return {"mode": label, "samples": row["samples"], **{k: row[k] for k in QUANTILES}}


def run_mode(label: str, rate: float, duration: float, work: Path, verbose: bool
             ) -> dict[str, Any]:
    """One node run (with its own acceptor process for a FIX mode, stopped by pid)."""
    kind, _, database = label.partition("+")
    if kind not in ("sim", "fix") or database not in ("", "sqlite"):
        raise ValueError(f"mode {label!r}: expected sim, fix, sim+sqlite or fix+sqlite")
    mode_dir = work / label
    mode_dir.mkdir()
    acceptor = None
    if kind == "fix":
        sys.path.insert(0, str(ROOT))
        from tests.peers.harness import AcceptorProcess  # the real peer: QuickFIX

        acceptor = AcceptorProcess(mode_dir / "acceptor", price=START_PRICE).start()
    try:
        document = node_document(kind, rate, mode_dir, acceptor.port if acceptor else None)
        if database:
            document["cache"]["database"] = {"type": "sqlite",
                                             "path": str(mode_dir / "node.sqlite")}
        return run_node(label, document, duration, mode_dir, verbose)
    finally:
        if acceptor is not None:
            acceptor.stop()


# -- the codec ---------------------------------------------------------------------------


def codec_rows(count: int) -> list[dict[str, Any]]:
    """Per-call cost of encoding a NewOrderSingle and decoding an ExecutionReport."""
    from livenode.adapters.fix.codec import decode, encode

    header = [(49, "NODE"), (56, "VENUE"), (34, "12345"), (52, "20261203-10:00:00.000")]
    nos = [(11, "O-20261203-100000-QuoteReactor-001-12345"), (55, "BTCUSDT"), (54, "1"),
           (60, "20261203-10:00:00.000"), (38, "0.00100"), (40, "2"), (44, "45000.00"),
           (59, "1"), (18, "6")]
    report = encode("8", [
        (37, "Q-12345"), (11, "O-20261203-100000-QuoteReactor-001-12345"), (17, "E-12346"),
        (150, "0"), (39, "0"), (55, "BTCUSDT"), (54, "1"), (40, "2"), (38, "0.00100"),
        (59, "1"), (151, "0.001"), (14, "0"), (6, "0"), (60, "20261203-10:00:00.000"),
        (44, "45000.00"), (18, "6")],
        [(49, "VENUE"), (56, "NODE"), (34, "23456"), (52, "20261203-10:00:00.000")])
    clock = time.perf_counter_ns
    rows = []
    for label, call in (("fix codec: encode NewOrderSingle", lambda: encode("D", nos, header)),
                        ("fix codec: decode ExecutionReport", lambda: decode(report))):
        for _ in range(min(count, 2000)):  # warm-up
            call()
        samples = []
        for _ in range(count):
            t0 = clock()
            call()
            samples.append(clock() - t0)
        rows.append({"mode": label, "samples": count, **percentiles(samples)})
    return rows


def seqnum_rows(count: int, work: Path) -> list[dict[str, Any]]:
    """Per-save cost of the sequence numbers (one per FIX message, before it leaves):
    the file of a node without a cache database, and a SQLite cache database."""
    from livenode.adapters.fix.seqnums import DatabaseSeqNumStore, FileSeqNumStore
    from livenode.cache.database import CacheDatabase, SqliteBackend

    database = CacheDatabase(SqliteBackend("BENCH-001", work / "seqnums.sqlite"))
    database.open()
    stores = [("fix seqnums: save to the file", FileSeqNumStore(work / "bench.seqnums")),
              ("fix seqnums: save to sqlite", DatabaseSeqNumStore(
                  database.adapter_state("fix"), "seqnums/NODE/VENUE"))]
    clock = time.perf_counter_ns
    rows = []
    try:
        for label, store in stores:
            samples = []
            for _ in range(count):
                store.next_out += 1
                t0 = clock()
                store.save()
                samples.append(clock() - t0)
            store.close()
            rows.append({"mode": label, "samples": count, **percentiles(samples)})
    finally:
        database.close()
    return rows


# -- report ------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]], unit: str, scale: float) -> list[str]:
    head = f"{'row':<36} {'samples':>8}" + "".join(f" {k:>10}" for k in QUANTILES)
    lines = [f"{head}   ({unit})", "-" * len(head)]
    for row in rows:
        values = "".join(f" {row[k] / scale:>10.1f}" for k in QUANTILES)
        lines.append(f"{row['mode']:<36} {row['samples']:>8}{values}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds each node runs (default 20)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2 s per node, 20000 codec calls")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="quotes per second from the sim feed (default 200)")
    parser.add_argument("--modes", default="sim,fix",
                        help="comma-separated: sim, fix, sim+sqlite, fix+sqlite "
                             "(default sim,fix)")
    parser.add_argument("--codec-count", type=int, default=200_000,
                        help="timed calls of each codec operation (default 200000)")
    parser.add_argument("--json", type=Path, default=None,
                        help="result file (default benchmarks/results/bench_fix-<time>.json)")
    parser.add_argument("--verbose", action="store_true", help="show the nodes' output")
    args = parser.parse_args(argv)
    duration = 2.0 if args.quick else args.duration
    codec_count = min(args.codec_count, 20_000) if args.quick else args.codec_count
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if codec_count < 1:
        parser.error(f"--codec-count: expected >= 1, got {codec_count}")
    started = dt.datetime.now(dt.UTC)
    load_before = uptime()

    nodes: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="livenode-bench-fix-"))
    try:
        for label in modes:
            print(f"running the node ({label}, {duration:g} s) ...", flush=True)
            nodes.append(run_mode(label, args.rate, duration, work, args.verbose))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"timing the FIX codec ({codec_count} calls each) and the sequence number "
          f"saves ...", flush=True)
    codec = codec_rows(codec_count)
    seq_dir = Path(tempfile.mkdtemp(prefix="livenode-bench-fix-"))
    try:
        codec += seqnum_rows(min(codec_count, 5000), seq_dir)
    finally:
        shutil.rmtree(seq_dir, ignore_errors=True)
    load_after = uptime()

    by_mode = {row["mode"]: row for row in nodes}
    ratios: dict[str, dict[str, float]] = {}
    for label, row in by_mode.items():
        kind, plus, database = label.partition("+")
        base = by_mode.get("sim" + plus + database)
        if kind == "fix" and base:
            ratios[f"{label}/{base['mode']}"] = {
                k: round(row[k] / base[k], 2) for k in QUANTILES if base[k]}
    lines = table(nodes, "us", 1000.0) if nodes else []
    lines += ["", *table(codec, "ns", 1.0), ""]
    for name, values in ratios.items():
        lines.append(f"{name:<24} " + "  ".join(f"{k} {v:.2f}x" for k, v in values.items()))
    lines += [f"uptime before: {load_before}", f"uptime after:  {load_after}"]
    print()
    print("\n".join(lines))

    result = {
        "benchmark": "bench_fix",
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "host": {"python": platform.python_version(), "platform": platform.platform(),
                 "cpu_count": os.cpu_count(), "uptime_before": load_before,
                 "uptime_after": load_after, "load_avg": list(os.getloadavg())},
        "params": {"duration": duration, "rate": args.rate, "modes": modes,
                   "codec_count": codec_count, "quick": args.quick},
        "unit": "ns",
        "tick_to_trade": nodes,
        "codec": codec,
        "ratios": ratios,
    }
    path = args.json
    if path is None:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"bench_fix-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nresult: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
