"""`livenode run` for ``mode = "multiprocess"``: the supervisor in the foreground.

Same output as single mode: the startup summary (plus the topology and core
plan, and where each process's log file is), a status line every
`status_interval` seconds assembled from the workers' heartbeats, and on stop
the summary table and `--summary-json`, which here also lists every worker
(name, role, pid, cores, exit status, restarts).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from decimal import Decimal
from typing import Any

from livenode.cache.shm import ShmError
from livenode.cli.summary import status_line, summary_table, write_summary_json
from livenode.config import ConfigError, TradingNodeConfig
from livenode.node.durable_summary import database_errors, durable_summary
from livenode.node.metrics_server import MetricsServerError
from livenode.node.node import FORCED_EXIT_BASE
from livenode.node.stats import faults_fail_run
from livenode.roles.topology import TopologyError
from livenode.supervisor.cores import CorePlanError
from livenode.supervisor.rundir import NodeAlreadyRunningError, TraderAlreadyRunningError
from livenode.supervisor.status_report import stage_latency
from livenode.supervisor.supervisor import Supervisor

_log = logging.getLogger("livenode.cli")

EXIT_CONFIG_ERROR = 2
EXIT_FAILURE = 1


async def run_supervised(
    config: TradingNodeConfig,
    args: argparse.Namespace,
    say: Any,
    error: Any,
) -> int:
    """Run a multiprocess node until it stops; return the exit code."""
    try:
        supervisor = Supervisor(config, out=say,
                                exclusive=not getattr(args, "allow_second_node", False))
    except (TopologyError, CorePlanError, ConfigError) as exc:
        error(f"{args.config}: {exc}")
        return EXIT_CONFIG_ERROR
    for line in supervisor.topology_lines():
        say(line)
    run_task = asyncio.ensure_future(supervisor.run())
    status_task = asyncio.ensure_future(_status_loop(supervisor, config.status_interval, say))
    announce = asyncio.ensure_future(_announce_stop(supervisor, say))
    # As in single mode: SECONDS of running, counted once every worker runs.
    duration = asyncio.ensure_future(_stop_after(supervisor, args.duration))
    try:
        code = await run_task
    except (NodeAlreadyRunningError, TraderAlreadyRunningError, MetricsServerError,
            ShmError) as exc:
        error(str(exc))
        return EXIT_FAILURE
    finally:
        for task in (status_task, announce, duration):
            task.cancel()
    summary = merged_summary(supervisor)
    forced = supervisor.forced_signal is not None
    if supervisor.forced_signal is not None:
        # A second signal killed the workers: exit 128 + N as in single mode, and
        # still print (and write) what the supervisor knows.
        code = FORCED_EXIT_BASE + supervisor.forced_signal
        summary["exit_code"] = code
        summary["shutdown"]["forced"] = True
    book_errors: list[str] = []
    database_problems: list[str] = []
    if forced and not summary.get("started"):
        for line in summary_table(summary):
            say(line)
    elif summary.get("started"):
        database_problems = database_errors(summary)
        # The traders report their strategies' positions only: compare those.
        book_errors = durable_summary(summary, config, set(summary.get("strategies", [])))
        for line in summary_table(summary):
            say(line)
    for worker in summary["workers"]:
        say(
            f"  worker {worker['name']:<14} {worker['role']:<7} pid {worker['pid']} cores "
            f"{worker['cores']} {worker['exit_status']}"
            + (" (killed)" if worker["killed"] else "")
            + (f", {worker['restarts']} restart(s)" if worker["restarts"] else "")
        )
    if supervisor.failure is not None:
        error(f"the node stopped because of a failure: {supervisor.failure}")
    if summary["audit"]["books_match_venue"] is False and not forced:
        error("the books differ from the venue (see audit above)")
        summary["exit_code"] = code = EXIT_FAILURE
    if faults_fail_run(summary.get("faulted_strategies", {})) and code == 0:
        summary["exit_code"] = code = EXIT_FAILURE
    for problem in database_problems:
        error(problem)
    for book_error in book_errors:
        error(f"the books do not add up: {book_error}")
    if (book_errors or database_problems) and not forced:
        summary["exit_code"] = code = EXIT_FAILURE
    if args.summary_json is not None:
        try:
            write_summary_json(summary, args.summary_json)
        except OSError as exc:
            error(f"cannot write {args.summary_json}: {exc.strerror or exc}")
            return EXIT_FAILURE
    return code


async def _status_loop(supervisor: Supervisor, interval: float, say: Any) -> None:
    running_since: float | None = None
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        if supervisor.state != "RUNNING":
            continue
        if running_since is None:
            running_since = loop.time()
        stats = list(supervisor.stats.items())
        roles = {name: supervisor.handles[name].role for name, _ in stats}
        data = [s for name, s in stats if roles[name] == "data"]
        traders = [s for name, s in stats if roles[name] == "trader"]
        execs = [s for name, s in stats if roles[name] == "exec"]
        seconds = loop.time() - running_since + interval
        open_positions: dict[str, Decimal] = {}
        pnl: dict[str, Decimal] = {}
        for s in traders:
            for key, value in s.get("open_positions", {}).items():
                open_positions[key] = open_positions.get(key, Decimal(0)) + Decimal(value)
            for key, value in s.get("pnl", {}).items():
                pnl[key] = pnl.get(key, Decimal(0)) + Decimal(value)
        say(
            status_line(
                seconds=seconds,
                state=_worst_trading_state([s.get("trading_state") for _, s in stats]),
                orders=sum(s.get("orders", 0) for s in traders),
                fills=sum(s.get("fills", 0) for s in traders),
                denied=sum(s.get("denied", 0) for s in traders),
                open_positions=open_positions,
                pnl=pnl,
                stalled=sum(s.get("stalled", 0) for s in execs),
                faulted=sorted({sid for s in traders for sid in s.get("faulted", [])}),
                stale=sorted({venue for s in data for venue in s.get("stale", {})}),
                halted=sorted({i for s in execs
                               for key in ("halted_venues", "halted_instruments")
                               for i in s.get(key, {})}),
                database=_worst_database([s["database"] for s in execs if s.get("database")]),
            )
        )


_TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")


def _worst_trading_state(states: list[str | None]) -> str | None:
    """The strictest trading state the workers with a risk engine report (None: none)."""
    known = [s for s in states if s in _TRADING_STATES]
    return max(known, key=_TRADING_STATES.index) if known else None


def _worst_database(databases: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One database state for the status line: a faulted one first, else the most behind."""
    if not databases:
        return None
    return max(databases, key=lambda d: (d.get("fault") is not None or d.get("state", "ok")
                                         != "ok", d.get("pending", 0)))


async def _stop_after(supervisor: Supervisor, seconds: float | None) -> None:
    if seconds is None:
        return
    await supervisor.wait_running()
    await asyncio.sleep(seconds)
    supervisor.request_stop(f"--duration {seconds:g}s elapsed")


async def _announce_stop(supervisor: Supervisor, say: Any) -> None:
    await supervisor.wait_stop_requested()
    say(f"stopping: {supervisor.stop_reason}")


def merged_summary(supervisor: Supervisor) -> dict[str, Any]:
    """The node's summary: the workers' final run reports merged by the supervisor
    (`Supervisor.run_report`: the traders' orders, fills and positions, the data
    workers' market data, the exec workers' balances and tick-to-trade, every bus
    hop), with how the run ended and every worker's exit."""
    summary = supervisor.run_report().to_dict()
    summary["started"] = supervisor.state == "STOPPED" and any(
        h.report is not None for h in supervisor.handles.values())
    summary["failure"] = supervisor.failure
    summary["gate_error"] = None
    summary["shutdown"] = {
        "clean": supervisor.clean,
        "seconds": round(supervisor.shutdown_seconds or 0.0, 3),
        "reason": supervisor.stop_reason,
        "requested_at": supervisor.stop_requested_at,
        "forced": supervisor.forced_signal is not None,
    }
    if summary["audit"]["books_match_venue"] is False:
        # The venue is the truth: a stop whose books differ from it is not clean.
        summary["shutdown"]["clean"] = False
    summary["exit_code"] = 0 if summary["shutdown"]["clean"] else 1
    summary["workers"] = supervisor.workers_summary()
    if supervisor.restarts.squatted_ports:
        # Another local process bound a restarting worker's bus port (tcp).
        summary["squatted_ports"] = list(supervisor.restarts.squatted_ports)
    stages = stage_latency(supervisor.stats)
    if stages:
        summary["stage_latency"] = stages
    return summary
