"""A node killed (SIGKILL) without a cache database, against the real QuickFIX acceptor:
the next node recovers its predecessor's order from the venue, and the late fill of that
order is booked once, not dropped as unknown.

Node 1 runs as its own process (``livenode run``) and buys at market on its first quote;
the acceptor withholds that order's reports (``delay_ack``), and node 1 is killed while
they are withheld. Node 2 (in this process: same trader, strategy and FIX session store,
no database) starts: reconciliation finds the order in the venue's mass status, filled,
under a client order id its strategy made, so it is that strategy's (tag ``RECOVERED``)
with its fill inferred (FIX reports no fill history). The acceptor then sends the
withheld reports: the venue's own fill confirms the inferred one (recorded, not applied
twice). Afterwards the node's books equal the acceptor's, and the stop's audit agrees.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("quickfix", reason="the quickfix wheel is built by scripts/test")

import tests.integration.adapters.fix.test_fix_misbehaving_venue as misbehaving
from tests.acceptance.helpers import LivenodeProcess
from tests.integration.adapters.fix.test_fix_e2e import IID, WAIT, _document, until
from tests.integration.adapters.fix.test_fix_misbehaving_venue import command
from tests.peers.harness import AcceptorProcess

from livenode.config import load_config_str
from livenode.config.toml_writer import dumps_toml
from livenode.core.clock import LiveClock
from livenode.model.enums import OrderStatus
from livenode.model.events import OrderFilled
from livenode.model.identifiers import ClientOrderId, TradeId
from livenode.node.node import TradingNode

acceptor = misbehaving.acceptor

#: Far beyond the test: the withheld reports go out on ``release`` only.
HOLD = 120


@pytest.fixture
def run_base(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A run base of its own (short: ipc paths are limited), removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="ln-fixkill-", dir="/tmp"))
    monkeypatch.setenv("LIVENODE_RUN_BASE", str(base))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_a_late_fill_of_a_killed_node_s_order_is_booked_once_by_its_successor(
    acceptor: AcceptorProcess, tmp_path: Path, run_base: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    document = _document(acceptor.port, tmp_path / "fix", request_positions=True)
    strategy = document["strategies"][0]
    strategy["config"] = {"manage_stop": False, "buy_on_start": "0.010"}
    config_path = tmp_path / "node1.toml"
    config_path.write_text(dumps_toml(document))

    await command(acceptor, "delay_ack", seconds=HOLD)
    first = LivenodeProcess("run", config_path, stderr_path=tmp_path / "node1.stderr")
    try:
        await asyncio.to_thread(acceptor.wait_line, "holding the reports of", 60.0)
        held = [ln for ln in acceptor.lines if "holding the reports of" in ln][-1]
        coid = ClientOrderId(held.split("holding the reports of ")[1].split()[0])
        first.proc.kill()  # SIGKILL: no stop, no logout, nothing saved
        assert await asyncio.to_thread(first.wait) == -9
    finally:
        first.kill()
    state = json.loads((acceptor.directory / "orders.json").read_text())
    (venue_order,) = state["orders"]
    assert venue_order["cl_ord_id"] == str(coid) and venue_order["status"] == "2"

    # Node 2: the same node without the order-on-start, no database.
    strategy["config"] = {"manage_stop": False}
    loop = asyncio.get_running_loop()
    node = TradingNode(load_config_str(json.dumps(document), "json"), loop,
                       clock=LiveClock(loop))
    node.build()
    caplog.set_level(logging.INFO)
    task = asyncio.create_task(node.run_async())
    engine = node.kernel.exec_engine
    assert engine is not None
    try:
        assert await asyncio.wait_for(node.wait_started(), WAIT), acceptor.output()
        order = node.kernel.cache.order(coid)
        assert order is not None, "the predecessor's order recovered from the venue"
        assert order.strategy_id == node.kernel.strategies[0].id
        assert "RECOVERED" in order.tags and order.status is OrderStatus.FILLED
        (inferred,) = [e for e in order.events if isinstance(e, OrderFilled)]
        assert inferred.inferred is not None and inferred.inferred.rule == "fill_not_reported"

        await command(acceptor, "release")
        venue_trade = TradeId(acceptor.fills()[0]["exec_id"])
        await until(lambda: venue_trade in order.trade_ids, "the late fill confirmed")
        assert engine.counters()["inferred_fills_confirmed"] == 1
        assert [e for e in order.events if isinstance(e, OrderFilled)] == [inferred]
        assert order.filled_qty == order.quantity
        net = sum(p.signed_qty for p in node.kernel.cache.positions_open()
                  if p.instrument_id == IID)
        assert net == pytest.approx(0.010)
        assert "unknown" not in " ".join(
            r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
            and str(coid) in r.getMessage())
    finally:
        await asyncio.wait_for(node.stop_async("test"), WAIT)
        await asyncio.wait_for(task, WAIT)
        audit = engine.last_audit
        node.dispose()
    assert audit and all(v.matches for v in audit.values()), [v.lines() for v in audit.values()]
    assert node.exit_code == 0
    assert engine.counters()["invalid_transitions"] == 0
