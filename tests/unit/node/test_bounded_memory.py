"""A node's per-order state stays bounded by its caps as orders go by (issue 9).

The benchmark scenario's strategy (`QuoteReactor`: a post-only buy far below the
market on a quote, cancelled once accepted) drives an embedded single-mode node
through many times more order lifecycles than ``[cache] max_closed_orders``; every
container that holds something per order must then be at its bound, not at the
number of orders. Lengths are asserted, never memory figures (those depend on the
machine); `livenode bench lifecycle` measures the RSS.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from livenode.bench.components import QuoteReactor
from livenode.bench.scenario import scenario_config, write_config
from livenode.config import load_config
from livenode.model.accounts import MAX_EVENTS_KEPT
from livenode.node.node import TradingNode

CAP = 20
ORDERS = 12 * CAP  # each order makes 2 account states: 24x the events an account keeps


async def _run_until(node: TradingNode, strategy: QuoteReactor, orders: int) -> None:
    run = asyncio.create_task(node.run_async())
    try:
        assert await asyncio.wait_for(node.wait_started(), 30)
        deadline = time.monotonic() + 120
        while strategy.released < orders:
            assert time.monotonic() < deadline, f"{strategy.released}/{orders} orders"
            assert not run.done(), "the node stopped"
            await asyncio.sleep(0.05)
    finally:
        await asyncio.wait_for(node.stop_async("test over"), 60)
        await asyncio.wait_for(run, 10)


async def test_per_order_state_stays_at_its_cap_over_many_orders(tmp_path: Path) -> None:
    config = load_config(write_config(
        scenario_config("single", rate=2000.0, count=ORDERS, trader_id="BOUNDED-001",
                        max_closed_orders=CAP, max_latency_samples=CAP),
        tmp_path / "bounded.toml",
    ))
    node = TradingNode(config)
    node.build()
    try:
        await _check_bounded(node)
    finally:
        node.dispose()


async def _check_bounded(node: TradingNode) -> None:
    kernel = node.kernel
    assert kernel.trader is not None
    (strategy,) = kernel.trader.strategies()
    assert isinstance(strategy, QuoteReactor)
    await _run_until(node, strategy, ORDERS)

    assert strategy.submitted == ORDERS  # every order went through risk and the venue
    cache = kernel.cache
    assert cache.orders_closed_count() == CAP
    assert cache.orders_total_count() == CAP  # none active once the node stopped
    assert cache.purged_orders == ORDERS - CAP
    assert len(cache._venue_order_ids) <= CAP

    # The venue reports the account on every submit and every cancel.
    (account,) = cache.accounts()
    assert account.event_count >= 2 * ORDERS
    assert len(account.events) == MAX_EVENTS_KEPT

    clients: list[Any] = [c for c in kernel.clients if hasattr(c, "latencies_ns")]
    assert clients and all(len(c.latencies_ns) <= CAP for c in clients)

    # The sim venue forgets closed orders beyond its own max_closed_orders.
    (exec_client,) = clients
    venue = exec_client.sim_venue
    assert all(len(e.closed_orders()) <= CAP for e in venue._engines.values())
