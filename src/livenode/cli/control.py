"""`livenode status`, `livenode stop` and `livenode clean`: talking to a running node.

A running multiprocess node is found through its run directory (see
`livenode.supervisor.rundir`); the commands connect a DEALER to its control
ROUTER and ask, the same channel (and, for stop, the same code path) the
supervisor's own signal handler uses.

Before reading or talking to anything, every command checks the run base and each
run directory it uses the way `livenode run` checks its run base (this user's, mode
0700: `check_private_dir`) and each socket it connects to (this user's socket:
`check_socket`); otherwise it refuses with a one-line error and exit 1. `clean`
removes only what its own run base records: its run directories, its lock files and
the shared memory of the nodes they name (`node_records`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import zmq

from livenode.bus.control import (
    Ack,
    AuditReply,
    AuditRequest,
    ControlSocket,
    StatusReply,
    StatusRequest,
    StopRequest,
)
from livenode.cache.shm import ShmError
from livenode.cache.shm.cleanup import remove_stale_segments
from livenode.cli.market_view import format_market_view, read_market_view
from livenode.cli.summary import database_fragment
from livenode.engines.audit import (
    books_match,
    decode_audits,
    verdict_text,
    verdicts_to_builtins,
)
from livenode.supervisor.rundir import (
    RunDir,
    UnsafeRunBaseError,
    check_socket,
    default_base,
    find_run_dirs,
    node_records,
    remove_free_locks,
    select_instance,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NOT_FOUND = 3


def add_control_parsers(subparsers: Any) -> None:
    """Register `status`, `stop` and `clean` on the `livenode` subparsers."""
    status = subparsers.add_parser("status", help="show the workers of a running node")
    _add_target(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.add_argument(
        "--watch", type=float, metavar="SECONDS",
        help="refresh every SECONDS until Ctrl-C (a live view, like top)",
    )
    stop = subparsers.add_parser("stop", help="stop a running node in order")
    _add_target(stop)
    stop.add_argument("--now", action="store_true", help="kill the workers at once")
    audit = subparsers.add_parser(
        "audit", help="compare a running node's books with its venues (exit 1 if they differ)"
    )
    _add_target(audit)
    audit.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    clean = subparsers.add_parser(
        "clean", help="remove run directories and shared memory left by killed nodes"
    )
    clean.add_argument("--trader", help="only this trader id's leftovers")
    clean.add_argument("--run-base", type=Path, help=argparse.SUPPRESS)


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trader", help="trader id of the node (needed when several run)")
    parser.add_argument(
        "--instance",
        help="instance id of the node, or a unique start of it (needed when several "
             "nodes of one trader id run)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer")
    parser.add_argument("--run-base", type=Path, help=argparse.SUPPRESS)


def run_control_command(args: argparse.Namespace) -> int:
    try:
        return _run_control_command(args)
    except UnsafeRunBaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _run_control_command(args: argparse.Namespace) -> int:
    if args.command == "clean":
        return _clean(args)
    if args.command == "status":
        return _watch(args) if args.watch else _status(args)
    if args.command == "audit":
        return _audit(args)
    target = _the_target(args)
    if not isinstance(target, RunDir):
        return target
    if not target.is_supervised:
        return _stop_single(target, args.now)
    request = StopRequest(now=args.now, reason="livenode stop" + (" --now" if args.now else ""))
    try:
        reply = asyncio.run(_ask(target, request, args.timeout))
    except TimeoutError:
        return _no_answer(target, args.timeout)
    if isinstance(reply, Ack):
        print(f"stopping {target.path.name}{' now' if args.now else ''}")
        return EXIT_OK
    print(f"error: unexpected answer {type(reply).__name__}", file=sys.stderr)
    return EXIT_FAILED


def _the_target(args: argparse.Namespace) -> RunDir | int:
    """The one running node `args` names, or the exit code of the error printed (none
    found, or several and no choice)."""
    targets = _running(args)
    if not targets:
        return _not_found(args)
    if len(targets) > 1:
        return _several(targets, getattr(args, "instance", None))
    return targets[0]


def _audit(args: argparse.Namespace) -> int:
    """Ask the node (its supervisor, or a single node's own socket) to audit its books
    against every venue now; print each verdict; exit 1 unless every venue matches."""
    target = _the_target(args)
    if not isinstance(target, RunDir):
        return target
    socket = "control.ipc" if target.is_supervised else "node.ipc"
    try:
        reply = asyncio.run(_ask(target, AuditRequest(), args.timeout, socket))
    except TimeoutError:
        return _no_answer(target, args.timeout)
    if not isinstance(reply, AuditReply):
        print(f"error: unexpected answer {type(reply).__name__}", file=sys.stderr)
        return EXIT_FAILED
    try:
        verdicts = decode_audits(reply.audit) if reply.audit else {}
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    matches = None if reply.error else books_match(verdicts)
    if args.json:
        print(json.dumps({
            "books_match_venue": matches,
            "error": reply.error or None,
            "venues": verdicts_to_builtins(verdicts),
        }, indent=2, sort_keys=True))
    else:
        print(verdict_text(matches))
        for name, verdict in sorted(verdicts.items()):
            client = "" if name == verdict.venue else f"{name} "
            for line in verdict.lines():
                print(f"  {client}{line}")
        if reply.error:
            print(f"  error: {reply.error}")
    return EXIT_OK if matches else EXIT_FAILED


def _stop_single(target: RunDir, now: bool) -> int:
    """A single-process node stops in order on SIGTERM (a second one: at once)."""
    pid = target.read_owner().get("pid")
    if not isinstance(pid, int):
        print(f"error: no pid in {target.pid_file}", file=sys.stderr)
        return EXIT_FAILED
    os.kill(pid, signal.SIGTERM)
    if now:
        time.sleep(0.2)  # let the first signal start the stop; the second ends it
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    print(f"stopping {target.path.name}{' now' if now else ''}")
    return EXIT_OK


def _running(args: argparse.Namespace) -> list[RunDir]:
    """The live nodes of `--trader` (or all); with `--instance`, those of that instance
    id or, failing that, whose instance id starts with it (`select_instance`)."""
    alive = [d for d in find_run_dirs(args.trader, args.run_base) if d.is_alive()]
    instance = getattr(args, "instance", None)
    return alive if instance is None else select_instance(alive, instance)


def _not_found(args: argparse.Namespace) -> int:
    who = f" of trader {args.trader}" if args.trader else ""
    if getattr(args, "instance", None):
        who += f" with instance {args.instance} (or an instance id starting with it)"
    print(f"error: no running node{who} found (run directories under "
          f"{args.run_base or default_base()})", file=sys.stderr)
    return EXIT_NOT_FOUND


def _several(targets: list[RunDir], instance: str | None = None) -> int:
    described = []
    for target in targets:
        try:
            owner = target.read_owner()
        except (OSError, ValueError):
            continue
        described.append(
            f"trader {owner.get('trader_id')} instance {owner.get('instance_id')} "
            f"(pid {owner.get('pid')})"
        )
    if instance is not None:
        print(f"error: --instance {instance} matches several running nodes: "
              f"{'; '.join(described)}; give more of the instance id (or --trader)",
              file=sys.stderr)
    else:
        print(f"error: several nodes are running: {'; '.join(described)}; choose one "
              "with --trader and/or --instance", file=sys.stderr)
    return EXIT_FAILED


def _no_answer(run_dir: RunDir, timeout: float) -> int:
    print(f"error: the node at {run_dir.path} did not answer within {timeout:g}s",
          file=sys.stderr)
    return EXIT_FAILED


def _watch(args: argparse.Namespace) -> int:
    """Redraw the status every `--watch` seconds until Ctrl-C or the node is gone.

    On a terminal each snapshot replaces the last (like `top`); otherwise (a pipe,
    a file) the snapshots are printed one after the other, plain text separated by
    an empty line, with no terminal control codes.
    """
    if args.watch <= 0:
        print("error: --watch: expected a positive number of seconds", file=sys.stderr)
        return EXIT_FAILED
    redraw = sys.stdout.isatty()
    first = True
    try:
        while True:
            if redraw:
                print("\x1b[H\x1b[2J", end="")  # home + clear: redraw in place
            elif not first:
                print()
            first = False
            code = _status(args)
            sys.stdout.flush()
            if code != EXIT_OK:
                return code
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    """Workers from the supervisor (multiprocess), market state from shared memory.

    A single-process node has no supervisor to ask: its run directory names it,
    and its shared memory shows its prices, positions and balances.
    """
    target = _the_target(args)
    if not isinstance(target, RunDir):
        return target
    reply: StatusReply | None = None
    if target.is_supervised:
        try:
            answer = asyncio.run(_ask(target, StatusRequest(), args.timeout))
        except TimeoutError:
            return _no_answer(target, args.timeout)
        if isinstance(answer, StatusReply):
            reply = answer
    owner = target.read_owner()
    trader_id, instance_id = str(owner.get("trader_id")), str(owner.get("instance_id"))
    view = None
    try:
        view = read_market_view(trader_id, instance_id)
    except ShmError as exc:
        print(f"warning: shared memory not readable: {exc}", file=sys.stderr)
    if args.json:
        out: dict[str, Any] = status_to_builtins(reply) if reply is not None else {
            "trader_id": trader_id,
            "instance_id": instance_id,
            "supervisor_pid": None,
            "state": "RUNNING",
            "mode": "single",
            "workers": [],
        }
        out.setdefault("mode", "multiprocess")
        out["market"] = view
        print(json.dumps(out, indent=2))
    else:
        if reply is not None:
            print(format_status(reply))
        else:
            print(f"node {trader_id} instance {instance_id}  single process "
                  f"(pid {owner.get('pid')})")
        if view is not None:
            print("\n".join(format_market_view(view)))
    return EXIT_OK


async def _ask(run_dir: RunDir, request: Any, timeout: float,
               socket: str = "control.ipc") -> Any:
    """Send `request` to the node's `socket` in its run directory (the supervisor's
    ``control.ipc``, or a single node's ``node.ipc``) and wait for the answer.

    Raises:
        UnsafeRunBaseError: the socket file is not this user's socket (`check_socket`).
        TimeoutError: no answer within `timeout` seconds.
    """
    path = run_dir.path / socket
    check_socket(path)
    context: zmq.Context[Any] = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.IDENTITY, f"cli-{os.getpid()}".encode())
    dealer.connect(f"ipc://{path}")
    control = ControlSocket(dealer, asyncio.get_running_loop())
    try:
        control.send(request)
        _, reply = await asyncio.wait_for(control.recv(), timeout)
        return reply
    except TimeoutError:
        raise TimeoutError from None
    finally:
        control.close()
        context.term()


def status_to_builtins(reply: StatusReply) -> dict[str, Any]:
    """The status as JSON-ready builtins with named fields (the structs are array-like)."""
    return {
        "trader_id": reply.trader_id,
        "instance_id": reply.instance_id,
        "supervisor_pid": reply.supervisor_pid,
        "state": reply.state,
        "workers": [
            {
                "name": w.name,
                "role": w.role,
                "pid": w.pid,
                "cores": list(w.cores),
                "state": w.state,
                "uptime_s": w.uptime_s,
                "heartbeat_age_s": w.heartbeat_age_s,
                "restarts": w.restarts,
                "msgs_in": w.counters.msgs_in,
                "msgs_out": w.counters.msgs_out,
                "dropped": w.counters.dropped,
                "gaps": w.counters.gaps,
                "malformed": w.counters.malformed,
                "late_topics": w.counters.late_topics,
                "rss_bytes": w.rss_bytes,
                "cpu_percent": w.cpu_percent,
            }
            for w in reply.workers
        ],
        "halted_venues": dict(reply.halted_venues),
        "stalled_orders": dict(reply.stalled_orders),
        "databases": dict(reply.databases),
        "halted_instruments": dict(reply.halted_instruments),
        "hop_latency": dict(reply.hop_latency),
        "tick_to_trade": dict(reply.tick_to_trade),
    }


def format_status(reply: StatusReply) -> str:
    lines = [
        f"node {reply.trader_id} instance {reply.instance_id}  supervisor pid "
        f"{reply.supervisor_pid}  {reply.state}",
        f"{'worker':<14} {'role':<7} {'pid':>7} {'cores':<8} {'state':<9} {'uptime':>8} "
        f"{'hb age':>7} {'in':>9} {'out':>9} {'drops':>6} {'gaps':>5} {'rss MB':>7} {'cpu%':>6}",
    ]
    for w in reply.workers:
        cores = ",".join(str(c) for c in w.cores)
        lines.append(
            f"{w.name:<14} {w.role:<7} {w.pid:>7} {cores:<8} {w.state:<9} {w.uptime_s:>7.1f}s "
            f"{w.heartbeat_age_s:>6.1f}s {w.counters.msgs_in:>9} {w.counters.msgs_out:>9} "
            f"{w.counters.dropped:>6} {w.counters.gaps:>5} {w.rss_bytes / 1e6:>7.1f} "
            f"{w.cpu_percent:>6.1f}"
        )
    for venue, reason in sorted(reply.halted_venues.items()):
        lines.append(f"venue {venue} HALTED: {reason}")
    latency_rows = [(f"tick-to-trade {client}", figures)
                    for client, figures in sorted(reply.tick_to_trade.items())]
    latency_rows += sorted(reply.hop_latency.items())
    if latency_rows:
        lines.append(f"{'latency (bus hop or end to end)':<32} {'samples':>8} {'p50 us':>8} "
                     f"{'p99 us':>8} {'p99.9 us':>9} {'max us':>8}")
    for path, figures in latency_rows:
        if figures.get("count"):
            lines.append(
                f"{path:<32} {figures['count']:>8} {figures['p50'] / 1e3:>8.1f} "
                f"{figures['p99'] / 1e3:>8.1f} {figures['p99.9'] / 1e3:>9.1f} "
                f"{figures['max'] / 1e3:>8.1f}")
    for instrument, reason in sorted(reply.halted_instruments.items()):
        lines.append(f"instrument {instrument} HALTED: {reason}")
    for worker, count in sorted(reply.stalled_orders.items()):
        lines.append(f"{worker}: {count} order(s) stalled (no answer from the venue)")
    for worker, database in sorted(reply.databases.items()):
        why = database.get("fault") or (
            database.get("last_error") if database.get("state", "ok") != "ok" else None)
        lines.append(f"{worker} cache database: {database_fragment(database)}"
                     + (f": {why}" if why else ""))
    return "\n".join(lines)


def _clean(args: argparse.Namespace) -> int:
    """Remove what killed nodes of this run base left (of `--trader`, or all): their
    run directories, their free lock files, and the stale shared memory of the nodes
    those record. A segment no record of this run base names (another run base's
    node, or one nobody can tell) is left alone, however much it looks like ours."""
    base = args.run_base or default_base()
    # The records first: removing a dead run directory removes its pid file.
    records = node_records(base, args.trader)
    removed_dirs = []
    for run_dir in find_run_dirs(args.trader, base):
        if not run_dir.is_alive():
            run_dir.remove()
            removed_dirs.append(run_dir.path.name)
    segments = remove_stale_segments(
        args.trader, select=lambda segment: any(r.owns(segment) for r in records)
    )
    locks = remove_free_locks(base, args.trader)
    for name in removed_dirs:
        print(f"removed run directory {name}")
    for name in locks:
        print(f"removed trader lock {name} (no node holds it)")
    for segment in segments:
        print(f"removed shared memory {segment.name} ({segment.reason})")
    if not removed_dirs and not segments and not locks:
        print("nothing to clean")
    return EXIT_OK
