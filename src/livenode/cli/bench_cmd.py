"""`livenode bench t2t | throughput | lifecycle`: benchmark the node on this host.

Each prints a report on stdout, a progress bar on stderr, and with ``--json PATH``
writes the result with the machine's facts (``--plot PATH.png`` too, for t2t).
Exit codes: 0 done, 1 a node failed during the benchmark, 2 bad options (including
an option value this build does not support yet), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# Only light modules here: every `livenode` command builds this parser. The
# benchmarks themselves (the sim venue, the strategies) are imported when one runs.
from livenode.bench.scenario import (
    THROUGHPUT_RATES,
    TOPOLOGIES,
    WAITS,
    NotSupportedYetError,
    scenario_config,
)

__all__ = ["add_bench_parser", "run_bench_command"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _csv(kind: type, what: str) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        try:
            values = tuple(kind(part.strip()) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {what}, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}")
        return values
    return parse


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value
    return parse


def add_bench_parser(subparsers: Any) -> None:
    """Register ``livenode bench`` and its subcommands."""
    bench = subparsers.add_parser(
        "bench", help="benchmark the node on this host (latency, throughput, lifecycle)",
        description="Benchmark the node on this host; see docs/benchmarks.md.",
    )
    sub = bench.add_subparsers(dest="bench", metavar="BENCHMARK")
    sub.required = True

    t2t = sub.add_parser(
        "t2t", help="tick-to-trade latency per mode and per hop, vs the raw IPC floor",
        description="Tick-to-trade percentiles (quote entering the data client -> order "
                    "leaving the exec client) of the standard scenario (risk on, sim venue "
                    "acking) per mode, the bus hops' percentiles, and the raw pyzmq floor "
                    "(same hops, payloads, pinning) measured in the same run.",
    )
    t2t.add_argument("--modes", type=_csv(str, "modes"), default=("single", "multiprocess"),
                     help="comma-separated: single, multiprocess (default both); MODE+sqlite "
                          "or MODE+redis:PORT adds the cache database")
    t2t.add_argument("--topology", choices=TOPOLOGIES, default="default",
                     help="where risk runs in multiprocess mode (default: its own worker)")
    t2t.add_argument("--wait", choices=WAITS, default="block",
                     help="how workers wait for frames: block in the loop, spin, or "
                          "block and yield the core after each send")
    t2t.add_argument("--rate", type=_positive(float), default=200.0,
                     help="quotes per second from the sim feed (default 200)")
    t2t.add_argument("--count", type=_positive(int), default=None,
                     help="orders measured per mode: stop after N (instead of --duration)")
    t2t.add_argument("--duration", type=_positive(float), default=20.0,
                     help="seconds each node runs when --count is not given (default 20)")
    t2t.add_argument("--every", type=_positive(int), default=1, metavar="K",
                     help="an order on every K-th quote (default 1)")
    t2t.add_argument("--stamp", choices=("entry", "venue"), default="entry",
                     help="entry: quotes stamped entering the data client (default); venue: "
                          "by the sim venue (adds the venue -> data hop, and one floor hop)")
    t2t.add_argument("--worker-cores", type=_csv(int, "core ids"), default=None,
                     help="pin the workers data,trader,risk,exec (e.g. 0,1,0,1); the floor "
                          "is pinned the same way (default: the derived topology)")
    t2t.add_argument("--stages", type=_positive(int), default=0, metavar="K",
                     help="multiprocess: trace 1 inbound message in K stage by stage (wire, "
                          "recv, decode, work before the send, ...) and print each stage's "
                          "p50 per worker ([message_bus] stage_trace_every; ~10 us a traced "
                          "message)")
    t2t.add_argument("--json", type=Path, help="write the result here")
    t2t.add_argument("--plot", type=Path, help="draw latency by percentile to this PNG")
    t2t.add_argument("--verbose", action="store_true", help="show the nodes' output")

    thr = sub.add_parser(
        "throughput", help="highest sustained quote rate and quote->order rate",
        description="Steps the offered quote rate until p99 exceeds --bound-factor x the "
                    "idle p99 or the achieved rate falls below --behind x the offered one; "
                    "per mode, for quotes into a trivial strategy and for quote->order "
                    "round trips with risk on.",
    )
    thr.add_argument("--modes", type=_csv(str, "modes"), default=("single", "multiprocess"))
    thr.add_argument("--kinds", type=_csv(str, "kinds"), default=("quotes", "orders"),
                     help="quotes, orders or both (default)")
    ladder = THROUGHPUT_RATES
    thr.add_argument("--rates", type=_csv(float, "rates"), default=ladder,
                     help="offered quotes/s, in order (default "
                          f"{','.join(f'{r:g}' for r in ladder)})")
    thr.add_argument("--idle-rate", type=_positive(float), default=100.0,
                     help="quotes/s of the idle run that sets the p99 bound (default 100)")
    thr.add_argument("--step-seconds", type=_positive(float), default=5.0,
                     help="seconds measured per step (default 5)")
    thr.add_argument("--bound-factor", type=_positive(float), default=10.0,
                     help="p99 bound as a multiple of the idle p99 (default 10)")
    thr.add_argument("--behind", type=_positive(float), default=0.9,
                     help="fail a step achieving less than this fraction of the offer (0.9)")
    thr.add_argument("--json", type=Path, help="write the result here")
    thr.add_argument("--verbose", action="store_true", help="show the nodes' output")

    life = sub.add_parser(
        "lifecycle", help="start-up time, RSS per process, ordered stop time",
        description="Time from `livenode run` to every worker READY, RSS of every process "
                    "after a warm-up and at points over N orders (with its slope once "
                    "--max-closed-orders orders have closed), and the ordered stop's time.",
    )
    life.add_argument("--modes", type=_csv(str, "modes"), default=("single", "multiprocess"))
    life.add_argument("--rate", type=_positive(float), default=500.0,
                      help="quotes per second (default 500)")
    life.add_argument("--warmup", type=_positive(int), default=200,
                      help="orders before the first RSS reading (default 200)")
    life.add_argument("--orders", type=_positive(int), default=5000,
                      help="orders before the last RSS reading (default 5000)")
    life.add_argument("--samples", type=_positive(int), default=4,
                      help="RSS readings spread over --orders (default 4: after 25, 50, 75 "
                           "and 100 %% of them)")
    life.add_argument("--max-closed-orders", type=_positive(int), default=None, metavar="N",
                      help="closed orders the node's cache and the sim venue keep, and the "
                           "exec client's latency samples (default: the scenario's, 10000 "
                           "orders); a small N shows the plateau past it in a short run")
    life.add_argument("--json", type=Path, help="write the result here")
    life.add_argument("--verbose", action="store_true", help="show the nodes' output")
    bench.set_defaults(command="bench")


def run_bench_command(args: argparse.Namespace) -> int:
    """Run the chosen benchmark; its exit code."""
    program = Path(sys.argv[0]).name
    if program in ("__main__.py", "livenode", ""):
        program = "livenode"  # python -m livenode, or the console script
    command = " ".join([program, *sys.argv[1:]])  # for the record in the JSON

    try:
        if args.bench == "t2t":
            result = _t2t(args, command)
        elif args.bench == "throughput":
            from livenode.bench.throughput import ThroughputOptions, run_throughput

            result = run_throughput(ThroughputOptions(
                modes=args.modes, kinds=args.kinds, rates=args.rates, idle_rate=args.idle_rate,
                step_seconds=args.step_seconds, bound_factor=args.bound_factor,
                behind=args.behind, echo=args.verbose, command=command,
            ))
        else:
            from livenode.bench.lifecycle import LifecycleOptions, run_lifecycle

            result = run_lifecycle(LifecycleOptions(
                modes=args.modes, rate=args.rate, warmup=args.warmup, orders=args.orders,
                samples=args.samples, max_closed_orders=args.max_closed_orders,
                echo=args.verbose, command=command,
            ))
    except NotSupportedYetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as exc:  # NodeRunError among them: a node failed
        print(f"error: the benchmark failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        # The node under test got the terminal's SIGINT too, and was stopped and reaped.
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print()
    print("\n".join(result["lines"]))
    if args.json is not None:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {args.json}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"result: {args.json}")
    return EXIT_OK


def _t2t(args: argparse.Namespace, command: str) -> dict[str, Any]:
    from livenode.bench.t2t import T2TOptions, check_modes, run_t2t

    check_modes(args.modes)
    # Refuse an unsupported --topology / --wait before any node starts.
    scenario_config("single", args.topology, args.wait)
    if args.worker_cores is not None and len(args.worker_cores) != 4:
        raise ValueError(f"--worker-cores: expected 4 cores (data,trader,risk,exec), got "
                         f"{','.join(map(str, args.worker_cores))}")
    if args.plot is not None:
        if args.plot.suffix.lower() != ".png":
            raise ValueError(f"--plot {args.plot}: expected a .png file name")
        try:
            import matplotlib  # noqa: F401 - checked before the nodes run, not after
        except ImportError:
            raise ValueError("--plot needs matplotlib: pip install 'livenode[bench]'") from None
    result = run_t2t(T2TOptions(
        modes=args.modes, topology=args.topology, wait=args.wait, rate=args.rate,
        count=args.count, duration=args.duration, every=args.every, stamp=args.stamp,
        worker_cores=args.worker_cores, stages=args.stages, echo=args.verbose,
        command=command,
    ))
    if args.plot is not None:
        from livenode.bench.plot import plot_percentiles, summary_points

        series = {label: summary_points(row) for label, row in result["modes"].items()}
        series[result["floor"]["mode"] + " (floor)"] = [
            (q, ns) for q, ns in result["floor_points"]
        ]
        machine = result["machine"]
        subtitle = (f"{machine['cpu_model']}, {machine['cpu_count']} cores, load "
                    f"{machine['load_before'][0]:.2f} -> {machine['load_after'][0]:.2f}; "
                    f"{args.rate:g} quotes/s, {result['date']}")
        plot_percentiles(series, args.plot, "livenode tick to trade by percentile", subtitle)
        result["plot"] = str(args.plot)
        result["lines"].append(f"plot: {args.plot}")
    return result
