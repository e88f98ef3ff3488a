"""The node summary's ``latency`` section, which the tick-to-trade benchmark reads.

(The benchmark itself, `livenode bench t2t`, is tested in tests/unit/bench and
tests/acceptance/test_bench_cli.py.)
"""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace

from livenode.cli.summary import latency_lines
from livenode.node.stats import NodeStats


def test_summary_latency_section_and_table_line() -> None:
    client = SimpleNamespace(
        latencies_ns=deque(range(1000, 101_000, 1000)),
        latency_percentiles=lambda *qs: {q: int(q * 1000) for q in qs},
    )
    silent = SimpleNamespace(latencies_ns=deque(), latency_percentiles=lambda *qs: {})
    kernel = SimpleNamespace(exec_clients={"SIM": client, "IDLE": silent, "FIX": object()},
                             trader=None)
    latency = NodeStats(kernel).latency()  # type: ignore[arg-type]
    assert latency == {
        "tick_to_trade_ns": {
            "SIM": {"samples": 100, "p50": 50_000, "p90": 90_000, "p99": 99_000,
                    "p99.9": 99_900, "max": 100_000}
        }
    }
    assert latency_lines({"latency": latency}) == [
        "tick-to-trade  SIM: p50 50 us  p90 90 us  p99 99 us  p99.9 100 us  max 100 us (100 orders)"
    ]
    assert latency_lines({}) == []
