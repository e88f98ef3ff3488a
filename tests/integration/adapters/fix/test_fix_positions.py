"""RequestForPositions (35=AN) against the real peer, a QuickFIX acceptor process.

The client with ``request_positions = true`` asks the acceptor for its positions; the
acceptor answers with a RequestForPositionsAck and one PositionReport (35=AP) per symbol,
its net from its own record of fills. The reports must equal that net, and the node's
reconciliation must use them: a node started without a database recovers its filled
orders from the venue's mass status (its position then equals the venue's); once the
venue no longer reports those orders (purged at the end of the day, positions kept), a
node that does not know the fills halts the instrument.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("quickfix", reason="the quickfix wheel is built by scripts/test")

from tests.integration.adapters.fix.test_fix_e2e import IID, WAIT, Run, _document, until
from tests.peers.harness import AcceptorProcess

from livenode.config import load_config_str
from livenode.core.clock import LiveClock
from livenode.model.enums import OrderSide, OrderStatus, PositionSide
from livenode.model.events import OrderDenied
from livenode.node.node import TradingNode


@pytest.fixture
def acceptor(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AcceptorProcess]:
    """The acceptor; ``--no-positions`` when parametrized indirect with True."""
    extra = ["--no-positions"] if getattr(request, "param", False) else []
    proc = AcceptorProcess(tmp_path / "acceptor", extra=extra).start()
    try:
        yield proc
    finally:
        assert proc.stop() in (0, None), proc.output()


@asynccontextmanager
async def started(acceptor: AcceptorProcess, data_dir: Path, *, reconcile: bool = True,
                  **fix: object) -> AsyncIterator[Run]:
    """A node with ``request_positions`` (and reconciliation), started against `acceptor`;
    its strategy leaves its position open at the stop (the venue keeps it)."""
    loop = asyncio.get_running_loop()
    document = _document(acceptor.port, data_dir, request_positions=True, **fix)
    document["exec_engine"] = {"reconciliation": reconcile}
    document["strategies"][0]["config"] = {"manage_stop": False}
    node = TradingNode(load_config_str(json.dumps(document), "json"), loop,
                       clock=LiveClock(loop))
    node.build()
    task = asyncio.create_task(node.run_async())
    try:
        assert await asyncio.wait_for(node.wait_started(), WAIT), acceptor.output()
        await until(lambda: node.kernel.cache.quote_tick(IID) is not None, "a quote")
        yield Run(node)
    finally:
        await asyncio.wait_for(node.stop_async("test"), WAIT)
        await asyncio.wait_for(task, WAIT)
        node.dispose()


def _acceptor_net(acceptor: AcceptorProcess) -> Decimal:
    return sum((Decimal(f["last_qty"]) * (1 if f["side"] == "BUY" else -1)
                for f in acceptor.fills()), Decimal(0))


async def test_reported_positions_equal_the_acceptor_s_net_and_reconcile(
    acceptor: AcceptorProcess, tmp_path: Path
) -> None:
    async with started(acceptor, tmp_path / "a") as run:
        # Before any fill the acceptor has no positions (PosReqResult 2): nothing to report.
        assert await run.client.generate_position_status_reports() == []
        buy = run.market(OrderSide.BUY, "0.030")
        sell = run.market(OrderSide.SELL, "0.010")
        await until(lambda: buy.status is OrderStatus.FILLED
                    and sell.status is OrderStatus.FILLED, "both orders filled")
        reports = await run.client.generate_position_status_reports()
        assert [(r.instrument_id, r.position_side, str(r.quantity)) for r in reports] == [
            (IID, PositionSide.LONG, "0.020")]
        assert reports[0].quantity.as_decimal() == _acceptor_net(acceptor) == Decimal("0.02")
        assert run.node.kernel.exec_engine is not None
        assert run.node.kernel.exec_engine.halted_instruments() == {}
        # Short of what it bought: the venue reports SHORT.
        sell = run.market(OrderSide.SELL, "0.050")
        await until(lambda: sell.status is OrderStatus.FILLED, "the sell filled")
        reports = await run.client.generate_position_status_reports()
        assert [(r.position_side, str(r.quantity)) for r in reports] == [
            (PositionSide.SHORT, "0.030")]
        assert -reports[0].quantity.as_decimal() == _acceptor_net(acceptor)
    # A node that does not know those fills (another data directory, no database, so a
    # new session: ResetSeqNumFlag) recovers its strategy's filled orders from the
    # venue's mass status: its position is the venue's, nothing is halted.
    async with started(acceptor, tmp_path / "b", reset_on_logon=True) as blind:
        engine = blind.node.kernel.exec_engine
        assert engine is not None
        assert engine.halted_instruments() == {}
        recovered = blind.node.kernel.cache.orders()
        assert len(recovered) == 3 and all("RECOVERED" in o.tags for o in recovered)
        net = sum(p.signed_qty for p in blind.node.kernel.cache.positions_open())
        assert net == pytest.approx(-0.030)
    # The venue purges its closed orders (the end of its day) and keeps the position: a
    # node that does not know the fills compares the venue's position with its own and
    # halts the instrument.
    acceptor.stop()
    state_path = acceptor.directory / "orders.json"
    state = json.loads(state_path.read_text())
    state["orders"] = [o for o in state["orders"] if o["status"] not in ("2", "4", "8", "C")]
    state["by_clid"] = {}
    state_path.write_text(json.dumps(state))
    acceptor.start()
    async with started(acceptor, tmp_path / "c", reset_on_logon=True) as blind:
        assert blind.node.kernel.exec_engine is not None
        halted = blind.node.kernel.exec_engine.halted_instruments()
        assert halted == {str(IID): "position at the venue -0.030, in the cache 0"}
        order = blind.market(OrderSide.BUY, "0.010")
        await until(lambda: order.status is OrderStatus.DENIED, "the denial")
        assert "POSITION_MISMATCH" in blind.events(order, OrderDenied)[0].reason


@pytest.mark.parametrize("acceptor", [True], indirect=True)
async def test_a_peer_without_positions_refuses_the_request_by_name(
    acceptor: AcceptorProcess, tmp_path: Path
) -> None:
    """(With reconciliation on, such a node does not start: its reconciliation fails.)"""
    async with started(acceptor, tmp_path / "node", reconcile=False) as run:
        with pytest.raises(RuntimeError, match=r"RequestForPositions refused by the venue "
                                               r"\(BusinessMessageReject\): Unsupported"):
            await run.client.generate_position_status_reports()
