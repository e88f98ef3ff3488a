"""A node whose database loses its state while it trades (in process, a real SQLite
file, no sockets): another connection flushes the trader's records under it. The
node's next write is refused by the run marker (nothing lands in the emptied
database), the node rewrites its whole state from memory, and the database then
holds exactly what the node holds: a node started on it would rebuild the same
orders and positions. A node that no longer holds its whole history halts instead
and writes nothing more."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from livenode.cache.cache import Cache
from livenode.cache.database import CacheDatabase, SqliteBackend
from livenode.config import TradingNodeConfig, load_config_str
from livenode.engines.recovery import restore_execution_state
from livenode.model.events import OrderFilled
from livenode.node.node import TradingNode

ROOT = Path(__file__).resolve().parents[3]
WAIT = 60.0
TRADER = "LOST-001"


def _config(path: Path, max_closed_orders: int = 10_000) -> TradingNodeConfig:
    doc = tomllib.loads((ROOT / "configs" / "sandbox.toml").read_text())
    doc["trader_id"] = TRADER
    doc["cache"] = {"shared_memory": False, "max_closed_orders": max_closed_orders,
                    "database": {"type": "sqlite", "path": str(path), "flush_on_start": True,
                                 "retry_interval": 0.05, "check_interval": 0.2}}
    return load_config_str(json.dumps(doc), "json")


async def _until(check: Any, what: str) -> None:
    """Poll the node's state on its own loop (no event to wait on from outside)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def _fills(node: TradingNode) -> int:
    return sum(1 for o in node.kernel.cache.orders() for e in o.events if type(e) is OrderFilled)


def _flush_under_the_node(path: Path) -> int:
    other = SqliteBackend(TRADER, path)
    other.open()
    try:
        return other.flush_trader()
    finally:
        other.close()


def _facts(cache: Cache) -> tuple[dict[str, Any], dict[str, Any]]:
    orders = {o.client_order_id.value: (o.status, o.filled_qty) for o in cache.orders()}
    positions = {p.id.value: (p.signed_qty, str(p.lifetime_realized_pnl), p.cycle_count,
                              p.version) for p in cache.positions()}
    return orders, positions


async def test_a_flushed_database_is_rewritten_whole_and_reads_back_as_the_node_holds_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.sqlite"
    node = TradingNode(_config(path), asyncio.get_running_loop())
    node.build()
    run = asyncio.create_task(node.run_async())
    try:
        assert await asyncio.wait_for(node.wait_started(), WAIT)
        await _until(lambda: _fills(node) >= 6, "six fills")
        database = node.kernel.database
        assert database is not None
        assert _flush_under_the_node(path) > 0
        await _until(lambda: database.status().rewrites == 1
                     and database.status().state == "ok", "the rewrite")
        fills_then = _fills(node)
        await _until(lambda: _fills(node) > fills_then, "trading after the rewrite")
        status = database.status()
        assert (status.losses, status.rewrites) == (1, 1) and status.last_loss is not None
        assert "run marker exec:SIM" in status.last_loss
    finally:
        await asyncio.wait_for(node.stop_async("test"), WAIT)
        await asyncio.wait_for(run, WAIT)
    try:
        assert node.exit_code == 0
        expected = _facts(node.kernel.cache)
    finally:
        node.dispose()
    again = CacheDatabase(SqliteBackend(TRADER, path))
    try:
        state = again.open()
    finally:
        again.close()
    trade_ids = [e.trade_id for e in state.order_events if type(e) is OrderFilled]
    assert len(trade_ids) == len(set(trade_ids)), "a fill stored twice"
    rebuilt = Cache(SimpleNamespace(max_closed_orders=len(state.order_events) + 1))
    assert restore_execution_state(rebuilt, state).refused_events == 0
    assert _facts(rebuilt) == expected


async def test_a_node_without_its_whole_history_halts_and_writes_nothing_more(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.sqlite"
    node = TradingNode(_config(path, max_closed_orders=2), asyncio.get_running_loop())
    node.build()
    run = asyncio.create_task(node.run_async())
    try:
        assert await asyncio.wait_for(node.wait_started(), WAIT)
        assert node.kernel.exec_engine is not None
        await _until(lambda: node.kernel.cache.purged_orders > 0, "purged orders")
        database = node.kernel.database
        assert database is not None
        _flush_under_the_node(path)
        await _until(lambda: database.status().state == "halted", "the halt")
        assert node.kernel.exec_engine.database_trading == "HALTED"
        assert "closed order(s) were purged" in (database.status().last_error or "")
    finally:
        await asyncio.wait_for(node.stop_async("test"), WAIT)
        await asyncio.wait_for(run, WAIT)
    try:
        assert node.exit_code == 1  # the stop is not clean: the run is not durable
        assert node.summary()["database"]["state"] == "halted"
    finally:
        node.dispose()
    again = CacheDatabase(SqliteBackend(TRADER, path))
    try:
        assert again.open().order_events == []  # no half history
    finally:
        again.close()

