"""What the Prometheus endpoint exports, read from the node's state at scrape time.

`NodeCollector` is a custom Prometheus collector: nothing is counted per
message; each scrape takes one `MetricsSnapshot` (the run report merged so far
and one row per process) and turns it into metric families. The snapshot is
taken on the node's (or supervisor's) event loop by `livenode.node.metrics_server`;
everything slower (reading RSS and CPU from the OS, reading the latency
histograms' buckets) happens here, on the HTTP server's thread. The names are
documented in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import msgspec
import psutil
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from livenode.core.latency import PERCENTILES
from livenode.node.run_report import ORDER_STATUS_KEYS, Histogram, RunReport

__all__ = ["LATENCY_BUCKETS_S", "MetricsSnapshot", "NodeCollector", "ProcessMetrics"]

#: Upper bounds (seconds) of the hop latency histograms' buckets (+Inf added).
LATENCY_BUCKETS_S = (
    5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
    1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
    1.0, 2.5, 5.0, 10.0,
)


class ProcessMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """One process of the node (a worker; a single-process node: itself). A counter
    that does not apply (an in-process bus has no drops) is None and not exported."""

    name: str
    role: str
    pid: int | None
    state: str
    alive: bool = True
    restarts: int = 0
    heartbeat_age_s: float | None = None
    messages_in: int | None = None
    messages_out: int | None = None
    dropped: int | None = None
    gaps: int | None = None
    malformed: int | None = None
    handler_errors: int | None = None
    # Messages waiting to be sent (back-pressure, or held for a peer that is down).
    queue_depth: int | None = None


class MetricsSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The node's state at one scrape."""

    report: RunReport
    processes: list[ProcessMetrics] = []
    # Served from the previous scrape: the event loop did not answer in time.
    stale: bool = False


_WORKER_COUNTERS = (
    ("messages_in", "livenode_worker_messages_received",
     "Bus messages the process received from its peers"),
    ("messages_out", "livenode_worker_messages_sent", "Bus messages the process published"),
    ("dropped", "livenode_worker_messages_dropped",
     "Market data messages dropped under back-pressure (never commands or events)"),
    ("gaps", "livenode_worker_sequence_gaps", "Sequence gaps seen on the bus"),
    ("malformed", "livenode_worker_malformed_frames", "Bus frames that did not decode"),
    ("handler_errors", "livenode_worker_handler_errors", "Message handlers that raised"),
)


class NodeCollector(Collector):
    """Turns `snapshot()` into Prometheus metric families at each scrape.

    Args:
        snapshot: returns the node's current state (called once per scrape, on
            the HTTP server's thread).
    """

    def __init__(self, snapshot: Callable[[], MetricsSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """The metric families of one scrape."""
        snap = self._snapshot()
        report = snap.report
        info = GaugeMetricFamily("livenode_info", "The node: trader id, instance, mode",
                                 labels=["trader_id", "instance_id", "mode", "environment"])
        info.add_metric([report.trader_id, report.instance_id, report.mode,
                         report.environment], 1)
        yield info
        yield GaugeMetricFamily("livenode_metrics_stale",
                                "1: this scrape repeats the previous state (loop busy)",
                                value=1 if snap.stale else 0)
        yield GaugeMetricFamily("livenode_run_seconds", "Seconds the node has run",
                                value=report.run_seconds)
        yield from _process_metrics(snap.processes)
        yield from _report_metrics(report)
        yield from _database_metrics(report)
        yield from _data_metrics(report)
        yield from _hop_metrics(report)


def _process_metrics(processes: list[ProcessMetrics]) -> Iterator[Metric]:
    labels = ["worker", "role"]
    up = GaugeMetricFamily("livenode_worker_up", "1 while the process is alive", labels=labels)
    state = GaugeMetricFamily("livenode_worker_state", "The process's state (value 1)",
                              labels=[*labels, "state"])
    restarts = CounterMetricFamily("livenode_worker_restarts", "Restarts of the worker",
                                   labels=labels)
    age = GaugeMetricFamily("livenode_worker_heartbeat_age_seconds",
                            "Seconds since the worker's last heartbeat", labels=labels)
    depth = GaugeMetricFamily("livenode_worker_queue_depth",
                              "Messages waiting to be sent (back-pressure or held for a peer)",
                              labels=labels)
    rss = GaugeMetricFamily("livenode_worker_resident_memory_bytes",
                            "Resident memory of the process", labels=labels)
    cpu = CounterMetricFamily("livenode_worker_cpu_seconds",
                              "CPU time (user + system) of the process", labels=labels)
    counters = {attr: CounterMetricFamily(name, doc, labels=labels)
                for attr, name, doc in _WORKER_COUNTERS}
    for p in processes:
        key = [p.name, p.role]
        up.add_metric(key, 1 if p.alive else 0)
        state.add_metric([*key, p.state], 1)
        restarts.add_metric(key, p.restarts)
        if p.heartbeat_age_s is not None:
            age.add_metric(key, p.heartbeat_age_s)
        if p.queue_depth is not None:
            depth.add_metric(key, p.queue_depth)
        for attr, family in counters.items():
            value = getattr(p, attr)
            if value is not None:
                family.add_metric(key, value)
        if p.alive and p.pid:
            try:
                process = psutil.Process(p.pid)
                with process.oneshot():
                    rss.add_metric(key, process.memory_info().rss)
                    times = process.cpu_times()
                    cpu.add_metric(key, times.user + times.system)
            except psutil.Error:
                pass  # exited between the snapshot and now: nothing to read
    yield from (up, state, restarts, age, depth, rss, cpu, *counters.values())


def _report_metrics(report: RunReport) -> Iterator[Metric]:
    orders = GaugeMetricFamily(
        "livenode_orders",
        "Orders by status: final status of closed orders, current status of open ones",
        labels=["status"])
    by_status = report.orders.by_status
    for status in ORDER_STATUS_KEYS:
        orders.add_metric([status], by_status.get(status, 0))
    yield orders
    c = report.counters
    for name, count, doc in (
        ("livenode_orders_created", c.orders_created,
         "Orders the strategies created (submitted or denied)"),
        ("livenode_orders_submitted", c.orders_submitted, "Orders submitted to a venue"),
        ("livenode_fills", c.fills, "Fills"),
        ("livenode_quotes", c.quotes, "Quotes received by the data engines"),
        ("livenode_trades", c.trades, "Trades received by the data engines"),
        ("livenode_order_events", c.order_events, "Order events seen by the strategies"),
    ):
        yield CounterMetricFamily(name, doc, value=count)
    for name, counts, doc in (
        ("livenode_risk_denials", report.risk_denials, "Orders denied by risk, by reason"),
        ("livenode_rejections", report.rejections, "Orders rejected by a venue, by reason"),
    ):
        family = CounterMetricFamily(name, doc, labels=["reason"])
        for reason, n in sorted(counts.items()):
            family.add_metric([reason], n)
        yield family
    pnl = GaugeMetricFamily("livenode_strategy_pnl",
                            "Realized + unrealized PnL per strategy (unmarked positions: 0)",
                            labels=["strategy", "currency"])
    for sid, per_ccy in sorted(report.pnl_by_strategy.items()):
        for ccy, value in sorted(per_ccy.items()):
            pnl.add_metric([sid, ccy], float(value))
    yield pnl
    submitted = CounterMetricFamily("livenode_strategy_orders_submitted",
                                    "Orders each strategy submitted", labels=["strategy"])
    refused = CounterMetricFamily("livenode_strategy_orders_refused",
                                  "Orders of each strategy denied or rejected",
                                  labels=["strategy"])
    state = GaugeMetricFamily("livenode_strategy_state", "Each strategy's state (value 1)",
                              labels=["strategy", "state"])
    for sid, strategy in sorted(report.strategy_states.items()):
        submitted.add_metric([sid], strategy.orders_submitted)
        refused.add_metric([sid], strategy.orders_refused)
        state.add_metric([sid, strategy.state], 1)
    yield from (submitted, refused, state)
    net = GaugeMetricFamily("livenode_position_net_quantity", "Net position per instrument",
                            labels=["instrument"])
    realized = GaugeMetricFamily("livenode_position_realized_pnl",
                                 "Lifetime realized PnL per instrument (net of commissions)",
                                 labels=["instrument", "currency"])
    unrealized = GaugeMetricFamily("livenode_position_unrealized_pnl",
                                   "Unrealized PnL per instrument at the latest quote",
                                   labels=["instrument", "currency"])
    for iid, row in sorted(report.positions.items()):
        net.add_metric([iid], float(row.net_quantity))
        realized.add_metric([iid, row.currency], float(row.realized_pnl))
        if row.unrealized_pnl is not None:
            unrealized.add_metric([iid, row.currency], float(row.unrealized_pnl))
    yield from (net, realized, unrealized)


#: The cache database writer's states (`livenode_database_state`).
DATABASE_STATES = ("ok", "down", "lost", "rewriting", "halted")


def _database_metrics(report: RunReport) -> Iterator[Metric]:
    """The cache database's health, measured by its writer (none without a database)."""
    db = report.database
    if db is None:
        return
    yield GaugeMetricFamily("livenode_database_up",
                            "1 while the cache database's writes land (state ok)",
                            value=1 if db.state == "ok" else 0)
    state = GaugeMetricFamily("livenode_database_state",
                              "The cache database writer's state (value 1)", labels=["state"])
    for name in DATABASE_STATES:
        state.add_metric([name], 1 if db.state == name else 0)
    yield state
    yield GaugeMetricFamily("livenode_database_pending_writes",
                            "Writes queued for the cache database", value=db.pending)
    yield GaugeMetricFamily("livenode_database_lag_seconds",
                            "Age of the oldest write not yet in the cache database",
                            value=db.lag_seconds)
    for name, value, doc in (
        ("livenode_database_writes", db.written, "Writes made durable"),
        ("livenode_database_write_failures", db.failures,
         "Write attempts that failed or timed out"),
        ("livenode_database_losses", db.losses,
         "Times the database lost the node's state (run marker missing or behind)"),
        ("livenode_database_rewrites", db.rewrites,
         "Rewrites of the node's full state after a loss"),
    ):
        yield CounterMetricFamily(name, doc, value=value)


def _data_metrics(report: RunReport) -> Iterator[Metric]:
    """Market data the data engines dropped, by reason, and each venue's feed."""
    dropped = CounterMetricFamily("livenode_data_dropped",
                                  "Quotes and trades the data engines dropped as bad, by reason",
                                  labels=["reason"])
    for key, n in sorted(report.engines.get("DataEngine", {}).items()):
        if key.startswith("dropped_"):
            dropped.add_metric([key.removeprefix("dropped_")], n)
    yield dropped
    stale = GaugeMetricFamily("livenode_data_feed_stale",
                              "1: no quote or trade from the venue for [data_engine] stale_after",
                              labels=["venue"])
    idle = GaugeMetricFamily("livenode_data_feed_idle_seconds",
                             "Seconds since the venue's last quote or trade (at the last check)",
                             labels=["venue"])
    for venue, row in sorted(report.feeds.items()):
        stale.add_metric([venue], 1 if row.stale else 0)
        idle.add_metric([venue], row.seconds_without_data)
    yield from (stale, idle)


def _hop_metrics(report: RunReport) -> Iterator[Metric]:
    yield from _latency_metrics(
        "livenode_hop_latency", "Bus hop latency (publisher's send to subscriber's receive), "
        "sampled", "hop", report.hops)
    yield from _latency_metrics(
        "livenode_tick_to_trade", "Tick to trade (a quote entering the data client to its "
        "order leaving the exec client)", "client",
        {client: row.histogram for client, row in report.tick_to_trade.items()
         if row.histogram is not None})


def _latency_metrics(
    prefix: str, what: str, label: str, histograms: dict[str, Histogram]
) -> Iterator[Metric]:
    """``{prefix}_seconds`` (a histogram) and ``{prefix}_quantiles_seconds`` (a summary
    of the HdrHistogram's percentiles), one series per `label` value."""
    histogram = HistogramMetricFamily(f"{prefix}_seconds", what, labels=[label])
    name = f"{prefix}_quantiles_seconds"
    quantiles = Metric(name, f"{what}: percentiles from the HdrHistogram", "summary")
    bounds_ns = [round(b * 1e9) for b in LATENCY_BUCKETS_S]
    for key, encoded in sorted(histograms.items()):
        h = encoded.decode()
        cumulative, sum_ns = h.cumulative_counts(bounds_ns)
        buckets = [(_bound_text(b), n) for b, n in zip(LATENCY_BUCKETS_S, cumulative,
                                                        strict=True)]
        buckets.append(("+Inf", h.count))
        histogram.add_metric([key], buckets, sum_value=sum_ns / 1e9)
        summary = h.summary()
        for field, pct in PERCENTILES.items():
            if field in summary:
                quantiles.add_sample(name, {label: key, "quantile": f"{pct / 100:g}"},
                                     summary[field] / 1e9)
        quantiles.add_sample(f"{name}_count", {label: key}, h.count)
        quantiles.add_sample(f"{name}_sum", {label: key}, sum_ns / 1e9)
    yield histogram
    yield quantiles


def _bound_text(seconds: float) -> str:
    return f"{seconds:g}"
