"""What the supervisor reports: `livenode status` (from the handles, the workers'
last heartbeats and the OS) and the per-worker part of `--summary-json`."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

import msgspec
import psutil

from livenode.bus.control import WorkerStatus
from livenode.core.latency import LatencyHistogram
from livenode.node.metrics import ProcessMetrics
from livenode.node.run_report import Counters, Histogram, RunReport
from livenode.roles import role_type
from livenode.supervisor.handles import WorkerHandle

__all__ = ["dead_worker_flows", "health_fields", "hop_latency", "merged_report",
           "process_metrics", "stage_latency", "worker_status", "workers_summary"]

def dead_worker_flows(
    report: RunReport | None, facts: dict[str, Any] | None, role: str
) -> RunReport | None:
    """What a dead worker did, for the summary (None: it never said): the flows of its
    last light report (`RunReport.flows_only`), with each counter its last heartbeat's
    status facts also hold raised to that newer figure. The light report comes every
    `HOP_REPORT_INTERVAL` (2 s), the facts with every heartbeat: without them the
    summary could count fewer fills than a status line showed before the kill."""
    if report is None and not facts:
        return None
    flows = report.flows_only() if report is not None else RunReport()
    newer = {field: max(getattr(flows.counters, field), int(facts[key]))
             for field, key in role_type(role).counters_in_facts.items()
             if facts and isinstance(facts.get(key), int)}
    if not newer:
        return flows
    counters: Counters = msgspec.structs.replace(flows.counters, **newer)
    return msgspec.structs.replace(flows, counters=counters)


def worker_status(handle: WorkerHandle, t: float) -> WorkerStatus:
    """One worker's status line, with its memory, CPU and actual cores from the OS."""
    rss, cpu = 0, 0.0
    cores = handle.actual_cores
    if handle.alive and handle.pid is not None:
        try:
            first = handle.ps is None or handle.ps.pid != handle.pid
            if first:
                handle.ps = psutil.Process(handle.pid)
            process = handle.ps
            assert process is not None
            rss = process.memory_info().rss
            # Since the previous status request; the first one reports the average
            # since the worker started.
            cpu = process.cpu_percent(interval=None)
            if first:
                times = process.cpu_times()
                alive_for = max(time.time() - process.create_time(), 1e-3)
                cpu = round(100.0 * (times.user + times.system) / alive_for, 1)
            cores = tuple(process.cpu_affinity())
        except psutil.Error:
            cores = handle.actual_cores
    return WorkerStatus(
        name=handle.name,
        role=handle.role,
        pid=handle.pid or 0,
        cores=list(cores),
        state=handle.state.value,
        uptime_s=round(t - handle.started_at, 3) if handle.alive else 0.0,
        heartbeat_age_s=round(t - handle.last_heartbeat, 3),
        restarts=handle.restarts,
        counters=handle.counters,
        rss_bytes=rss,
        cpu_percent=cpu,
    )


def health_fields(
    stats: dict[str, dict[str, Any]], venues_down: dict[str, str]
) -> dict[str, Any]:
    """From the workers' last heartbeat facts: stalled orders and cache database state
    per worker, the instruments halted for a position mismatch, and the venues halted
    (by the supervisor: `venues_down`; by an exec worker whose client's session is
    down or not reconciled since)."""
    halted = {venue: reason for s in stats.values()
              for venue, reason in s.get("halted_venues", {}).items()}
    halted.update(venues_down)
    return {
        "halted_venues": halted,
        "stalled_orders": {name: s["stalled"] for name, s in stats.items() if s.get("stalled")},
        "databases": {name: s["database"] for name, s in stats.items() if s.get("database")},
        "halted_instruments": {iid: reason for s in stats.values()
                               for iid, reason in s.get("halted_instruments", {}).items()},
        "hop_latency": hop_latency(stats),
        "tick_to_trade": {name: figures for name, figures in sorted(
            (client, LatencyHistogram.decode(encoded.encode("ascii")).summary())
            for s in stats.values() for client, encoded in s.get("t2t_hdr", {}).items())},
    }


def hop_latency(stats: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Each bus hop's latency percentiles, "publisher->worker", from the histograms
    in the receiving workers' last heartbeats (decoded here, off their loops)."""
    return {f"{publisher}->{name}": LatencyHistogram.decode(encoded.encode("ascii")).summary()
            for name, s in sorted(stats.items())
            for publisher, encoded in sorted(s.get("hops_hdr", {}).items())}


def stage_latency(stats: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per worker, the stage trace (`livenode.bus.stage_trace`) of each inbound topic
    kind: ``{worker: {kind: {"messages", "frames_sent", stage: percentiles}}}``;
    empty unless ``message_bus.stage_trace_every`` is on."""
    out: dict[str, dict[str, Any]] = {}
    for name, s in sorted(stats.items()):
        kinds: dict[str, Any] = {}
        for key, encoded in sorted(s.get("stages_hdr", {}).items()):
            kind, _, stage = key.rpartition(":")
            figures = LatencyHistogram.decode(encoded.encode("ascii")).summary()
            kinds.setdefault(kind, {})[stage] = figures
        for kind, (messages, frames) in s.get("stage_fanout", {}).items():
            kinds.setdefault(kind, {}).update(messages=messages, frames_sent=frames)
        if kinds:
            out[name] = kinds
    return out


def workers_summary(handles: Iterable[WorkerHandle]) -> list[dict[str, Any]]:
    """Per worker, for `--summary-json`: name, role, pid, cores, exit status (and when,
    UNIX seconds), whether it was killed, restarts, whether its stop was clean."""
    return [
        {
            "name": h.name,
            "role": h.role,
            "pid": h.pid,
            "cores": list(h.actual_cores),
            "exit_status": h.exit_status,
            "exited_at": h.exited_at,
            "killed": h.killed,
            "restarts": h.restarts,
            "stop_clean": h.stop_clean,
        }
        for h in handles
    ]


def merged_report(
    handles: Iterable[WorkerHandle], stats: dict[str, dict[str, Any]], *, live: bool = False
) -> RunReport:
    """The node's run report: every worker's own (each reports only what its roles
    own: `NodeStats.report`) merged by role (`Role.merge_rank`), then the bus hops'
    histograms from the receiving workers' last heartbeats (`stats`). `live`: the
    light reports of the heartbeats, else the final ones of the stop acknowledgements."""
    ordered = sorted(handles, key=lambda h: (role_type(h.role).merge_rank, h.name))
    report = RunReport()
    for handle in ordered:
        for earlier in handle.earlier_reports:  # what its dead predecessors did
            report = report.merge(earlier)
        own = handle.live_report if live else handle.report
        if own is not None:
            report = report.merge(own)
    hops = {f"{publisher}->{name}": Histogram(hdr=encoded)
            for name, s in sorted(stats.items())
            for publisher, encoded in sorted(s.get("hops_hdr", {}).items())}
    report = report.merge(RunReport(hops=hops))
    if live:  # the final reports carry their own; live ones only the heartbeats' histograms
        report = report.with_live_tick_to_trade(
            {client: Histogram(hdr=encoded) for s in stats.values()
             for client, encoded in s.get("t2t_hdr", {}).items()})
    return report


def process_metrics(handles: Iterable[WorkerHandle], t: float) -> list[ProcessMetrics]:
    """The supervisor and every worker for the metrics endpoint: state, restarts,
    heartbeat age and the bus counters of the worker's last heartbeat."""
    rows = [ProcessMetrics(name="supervisor", role="supervisor", pid=os.getpid(),
                           state="RUNNING")]
    for h in handles:
        c = h.counters
        rows.append(ProcessMetrics(
            name=h.name, role=h.role, pid=h.pid, state=h.state.value, alive=h.alive,
            restarts=h.restarts,
            heartbeat_age_s=round(t - h.last_heartbeat, 3) if h.alive else None,
            messages_in=c.msgs_in, messages_out=c.msgs_out, dropped=c.dropped, gaps=c.gaps,
            malformed=c.malformed, handler_errors=c.handler_errors, queue_depth=c.pending,
        ))
    return rows
