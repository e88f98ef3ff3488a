"""An adapter written only against the public seam works in both modes.

`tests/fixtures/adapters/fixed_price.py` is such an adapter: its execution client's
hooks are coroutines (accept, then fill at a fixed price, each after a sleep) and
it builds every event with the base class's builders. A `RoundTrips` strategy
trades it: three buys, each sold back on its fill.
"""

from __future__ import annotations

import asyncio
import json
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.adapters.fixed_price import FixedPriceExecClient, RoundTrips
from tests.fixtures.multiprocess.harness import MultiprocessHarness, mp, wait_log  # noqa: F401

from livenode.config import load_config_str
from livenode.core.clock import LiveClock
from livenode.model.enums import OrderStatus
from livenode.model.events import OrderAccepted, OrderFilled, OrderSubmitted
from livenode.node.node import TradingNode

WAIT = 60.0
ROUND_TRIPS = 3
ADAPTER = "tests.fixtures.adapters.fixed_price"


def _document(mode: str) -> dict[str, Any]:
    client = {"venue": "ASYNC", "price": "100.00"}
    return {
        "trader_id": "SEAM-001",
        "mode": mode,
        "environment": "sandbox",
        "status_interval": 0.5,
        "cache": {"shared_memory": mode == "multiprocess"},
        "timeouts": {"shutdown": 40},  # more than the sum of the stop phases
        "data_clients": {"ASYNC": {"factory": f"{ADAPTER}:FixedPriceDataClientFactory",
                                   "config": client}},
        "exec_clients": {"ASYNC": {"factory": f"{ADAPTER}:FixedPriceExecClientFactory",
                                   "config": client}},
        "strategies": [{
            "path": f"{ADAPTER}:RoundTrips",
            "config_path": f"{ADAPTER}:RoundTripsConfig",
            "config": {"instrument_id": "BTCUSDT.ASYNC", "round_trips": ROUND_TRIPS},
        }],
    }


async def test_an_async_adapter_on_the_public_seam_trades_in_a_single_process_node() -> None:
    loop = asyncio.get_running_loop()
    config = load_config_str(json.dumps(_document("single")), "json")
    node = TradingNode(config, loop, clock=LiveClock(loop))
    node.build()
    run = asyncio.create_task(node.run_async())
    try:
        assert await asyncio.wait_for(node.wait_started(), WAIT)
        strategy = node.kernel.strategies[0]
        assert isinstance(strategy, RoundTrips)
        await asyncio.wait_for(strategy.done.wait(), WAIT)
    finally:
        await asyncio.wait_for(node.stop_async("test"), WAIT)
        await asyncio.wait_for(run, WAIT)
    try:
        client = node.kernel.exec_clients["ASYNC"]
        assert isinstance(client, FixedPriceExecClient)
        orders = node.kernel.cache.orders()
        assert len(orders) == 2 * ROUND_TRIPS
        for order in orders:
            assert order.status is OrderStatus.FILLED
            kinds = [type(e) for e in order.events[1:]]
            assert kinds == [OrderSubmitted, OrderAccepted, OrderFilled], kinds
            assert order.avg_px == 100.0
        fills = [e for o in orders for e in o.events if type(e) is OrderFilled]
        assert {str(f.account_id) for f in fills} == {"ASYNC-001"}
        # The base class stamped tick-to-trade once per submit, for this adapter too.
        assert len(client.latencies_ns) == 2 * ROUND_TRIPS
        assert all(latency >= 0 for latency in client.latencies_ns)
        assert client.commands_in_flight == 0 and client.command_failures == 0
        assert node.kernel.cache.positions_open() == []
    finally:
        node.dispose()


@pytest.mark.slow
def test_an_async_adapter_on_the_public_seam_trades_in_a_multiprocess_node(
    mp: MultiprocessHarness, tmp_path: Path  # noqa: F811
) -> None:
    config_path = tmp_path / "seam.json"
    config_path.write_text(json.dumps(_document("multiprocess")))
    summary_path = tmp_path / "seam.summary.json"
    node = mp.start("run", config_path, "--summary-json", summary_path)
    node.wait_for_line(r"^node SEAM-001 RUNNING \(\d+ workers\)$", timeout=60)
    mp.status()  # records the worker pids for the leftover check
    wait_log(node, r"round trips done: 3", timeout=60)
    node.send(signal.SIGINT)
    assert node.wait(timeout=90) == 0, node.output()
    summary = json.loads(summary_path.read_text())
    assert summary["exit_code"] == 0 and summary["shutdown"]["clean"] is True
    assert summary["counters"]["fills"] == 2 * ROUND_TRIPS
    assert summary["orders"]["open"] == []
    assert all(Decimal(p["net_quantity"]) == 0 for p in summary["positions"])
