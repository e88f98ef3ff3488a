"""The Prometheus endpoint as an operator uses it: `livenode run` with `[metrics]`
on, scraped over HTTP while the node trades (single and multiprocess), closed
after the stop; a port in use fails the run before it starts.

Under the `mp` harness: nothing may be left behind (processes, run directories,
shared memory).
"""

from __future__ import annotations

import json
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.acceptance.helpers import ROOT
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    compose_config,
    mp,  # noqa: F401 - the fixture
    wait_fills_above,
    wait_until,
)

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(tmp_path: Path, base: str, trader_id: str, port: int) -> Path:
    overlay = tmp_path / "metrics.toml"
    overlay.write_text(f'trader_id = "{trader_id}"\n\n[metrics]\nenabled = true\n'
                       f'port = {port}\n')
    return compose_config(tmp_path / "node.toml", overlay, base=ROOT / "configs" / base)


def scrape(port: int) -> Samples:
    """GET /metrics, parsed by prometheus_client's own parser: (name, labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape_until(port: int, check: Callable[[Samples], bool], what: str) -> Samples:
    def probe() -> Samples | None:
        try:
            samples = scrape(port)
        except (urllib.error.URLError, ConnectionError):
            return None  # not listening yet
        return samples if check(samples) else None

    return wait_until(probe, timeout=90, what=what, interval=0.2)


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


HOPS = ("data-SIM->trader", "trader->risk", "risk->exec-SIM")
WORKERS = {"data-SIM": "data", "trader": "trader", "risk": "risk", "exec-SIM": "exec",
           "supervisor": "supervisor"}


@pytest.mark.parametrize("config", ["sandbox.toml", "sandbox-multiprocess.toml"])
def test_the_endpoint_follows_a_trading_node_and_closes_at_stop(
    mp: MultiprocessHarness, tmp_path: Path, config: str  # noqa: F811
) -> None:
    multiprocess = "multiprocess" in config
    port = _free_port()
    trader_id = "METRICSMP-001" if multiprocess else "METRICS-001"
    summary_path = tmp_path / "summary.json"
    node = mp.start("run", _config(tmp_path, config, trader_id, port),
                    "--summary-json", summary_path)
    wait_fills_above(node, 0, timeout=90)

    def trading(samples: Samples) -> bool:
        hops = all(value(samples, "livenode_hop_latency_seconds_count", hop=h) > 0
                   for h in HOPS) if multiprocess else True
        sent = value(samples, "livenode_tick_to_trade_seconds_count", client="SIM") > 0
        return value(samples, "livenode_fills_total") > 0 and hops and sent

    first = scrape_until(port, trading, "a scrape with fills (and every hop in multiprocess)")
    second = scrape_until(
        port,
        lambda s: (value(s, "livenode_fills_total") > value(first, "livenode_fills_total")
                   and value(s, "livenode_orders_created_total")
                   > value(first, "livenode_orders_created_total")),
        "fills and orders to increase between two scrapes",
    )
    mode = "multiprocess" if multiprocess else "single"
    assert value(second, "livenode_info", trader_id=trader_id,
                 instance_id=_instance(second), mode=mode, environment="sandbox") == 1
    assert value(second, "livenode_metrics_stale") == 0
    assert value(second, "livenode_quotes_total") > value(first, "livenode_quotes_total")
    assert value(second, "livenode_orders", status="filled") > 0
    assert {s for (name, labels), _ in second.items() if name == "livenode_strategy_pnl"
            for key, s in labels if key == "strategy"} == {"MarketMaker-001", "EMACross-001"}
    workers = WORKERS if multiprocess else {"node": "single"}
    for worker, role in workers.items():
        assert value(second, "livenode_worker_up", worker=worker, role=role) == 1, worker
        assert value(second, "livenode_worker_resident_memory_bytes",
                     worker=worker, role=role) > 0, worker
        assert value(second, "livenode_worker_cpu_seconds_total",
                     worker=worker, role=role) > 0, worker
    if multiprocess:
        received = ("livenode_worker_messages_received_total", {"worker": "trader",
                                                                "role": "trader"})
        assert value(second, received[0], **received[1]) > value(first, received[0],
                                                                 **received[1])
        for worker, role in WORKERS.items():
            if role != "supervisor":
                assert value(second, "livenode_worker_heartbeat_age_seconds",
                             worker=worker, role=role) < 30, worker
                assert ("livenode_worker_queue_depth",
                        (("role", role), ("worker", worker))) in second
        for hop in HOPS:
            count = value(second, "livenode_hop_latency_seconds_count", hop=hop)
            assert value(second, "livenode_hop_latency_seconds_bucket",
                         hop=hop, le="+Inf") == count > 0
            assert value(second, "livenode_hop_latency_seconds_sum", hop=hop) > 0
            assert value(second, "livenode_hop_latency_quantiles_seconds",
                         hop=hop, quantile="0.99") > 0

    # Tick to trade of the exec client, live: a histogram and its percentiles.
    sent = value(second, "livenode_tick_to_trade_seconds_count", client="SIM")
    assert sent >= value(first, "livenode_tick_to_trade_seconds_count", client="SIM") > 0
    assert value(second, "livenode_tick_to_trade_seconds_bucket", client="SIM",
                 le="+Inf") == sent
    assert value(second, "livenode_tick_to_trade_quantiles_seconds", client="SIM",
                 quantile="0.5") > 0

    node.send(signal.SIGINT)
    assert node.wait(timeout=90) == 0, node.output()
    assert _refused(port), f"port {port} still accepts connections after the stop"
    summary = json.loads(summary_path.read_text())
    # The endpoint showed the same run: the final counts are at least the last scrape's.
    assert summary["counters"]["fills"] >= value(second, "livenode_fills_total")
    assert summary["orders"]["total"] >= value(second, "livenode_orders_created_total")


def _instance(samples: Samples) -> str:
    (labels,) = [dict(labels) for (name, labels) in samples if name == "livenode_info"]
    return labels["instance_id"]


@pytest.mark.parametrize("config", ["sandbox.toml", "sandbox-multiprocess.toml"])
def test_a_metrics_port_in_use_fails_the_run_before_it_starts(
    mp: MultiprocessHarness, tmp_path: Path, config: str  # noqa: F811
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        trader_id = "METRICSBUSYMP-001" if "multiprocess" in config else "METRICSBUSY-001"
        node = mp.start("run", _config(tmp_path, config, trader_id, port))
        assert node.wait(timeout=60) == 1, node.output()
    assert f"metrics: cannot listen on 127.0.0.1:{port} ([metrics] host/port)" in node.stderr()
    assert "RUNNING" not in node.output()
