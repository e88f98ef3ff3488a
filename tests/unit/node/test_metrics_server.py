"""`MetricsServer` and `NodeCollector` over real HTTP: what a scrape shows, a loop
that does not answer (served stale, never hanging), and the port closed by `stop`."""

from __future__ import annotations

import asyncio
import os
import socket
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from livenode.config import MetricsConfig
from livenode.core.latency import LatencyHistogram
from livenode.node.metrics import MetricsSnapshot, ProcessMetrics
from livenode.node.metrics_server import MetricsServer
from livenode.node.run_report import Counters, Histogram, OrdersReport, RunReport


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    return {
        sample.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())) + "}":
            sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


def _report() -> RunReport:
    hop = LatencyHistogram()
    for ns in (20_000, 40_000, 3_000_000):
        hop.record(ns)
    return RunReport(
        trader_id="T-1", instance_id="i-1", mode="multiprocess", environment="sandbox",
        counters=Counters(fills=7, orders_created=9, quotes=100),
        orders=OrdersReport(by_status={"filled": 6, "canceled": 3}),
        pnl_by_strategy={"S-1": {"USDT": "-1.25"}},
        hops={"data->trader": Histogram.of(hop)},
    )


async def test_a_scrape_shows_the_snapshot_and_stop_closes_the_port() -> None:
    port = _free_port()
    calls: list[int] = []

    def snapshot() -> MetricsSnapshot:
        calls.append(1)
        process = ProcessMetrics(name="w", role="trader", pid=os.getpid(), state="RUNNING",
                                 messages_in=42, queue_depth=3, heartbeat_age_s=0.5)
        return MetricsSnapshot(report=_report(), processes=[process])

    server = MetricsServer(MetricsConfig(enabled=True, port=port), asyncio.get_running_loop(),
                           snapshot)
    server.start()
    try:
        assert server.address == ("127.0.0.1", port)
        samples = await asyncio.to_thread(_get, port)
    finally:
        await server.stop()
    assert calls == [1]  # one snapshot per scrape, taken on this loop
    assert samples["livenode_fills_total{}"] == 7
    assert samples["livenode_orders{status=filled}"] == 6
    assert samples["livenode_orders{status=denied}"] == 0
    assert samples["livenode_strategy_pnl{currency=USDT,strategy=S-1}"] == -1.25
    assert samples["livenode_worker_messages_received_total{role=trader,worker=w}"] == 42
    assert samples["livenode_worker_queue_depth{role=trader,worker=w}"] == 3
    assert samples["livenode_worker_resident_memory_bytes{role=trader,worker=w}"] > 0
    assert samples["livenode_metrics_stale{}"] == 0
    # 20 us and 40 us are under 50 us, 3 ms is not under 2.5 ms.
    assert samples["livenode_hop_latency_seconds_bucket{hop=data->trader,le=5e-05}"] == 2
    assert samples["livenode_hop_latency_seconds_bucket{hop=data->trader,le=0.0025}"] == 2
    assert samples["livenode_hop_latency_seconds_bucket{hop=data->trader,le=+Inf}"] == 3
    assert samples["livenode_hop_latency_seconds_count{hop=data->trader}"] == 3
    assert abs(samples["livenode_hop_latency_quantiles_seconds{hop=data->trader,quantile=0.5}"]
               - 40e-6) < 40e-9
    assert server.address is None
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the port is still open after stop"


def test_a_loop_that_does_not_answer_gets_the_last_state_marked_stale() -> None:
    port = _free_port()
    stuck = asyncio.new_event_loop()  # never runs: a loop busy for longer than a scrape
    server = MetricsServer(MetricsConfig(enabled=True, port=port), stuck,
                           lambda: MetricsSnapshot(report=_report()))
    server.start()
    try:
        samples = _get(port)
    finally:
        asyncio.run(server.stop())
        stuck.close()
    assert samples["livenode_metrics_stale{}"] == 1
    assert samples["livenode_fills_total{}"] == 0  # nothing served before: an empty state


def test_a_disabled_endpoint_listens_nowhere() -> None:
    loop = asyncio.new_event_loop()
    try:
        server = MetricsServer(MetricsConfig(), loop, lambda: MetricsSnapshot(report=RunReport()))
        server.start()
        assert server.address is None
    finally:
        loop.close()
