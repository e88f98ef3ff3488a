"""The FIX execution client against the real peer: a QuickFIX acceptor process.

Each test starts `tests/peers/fix_acceptor.py` on a free loopback port (its own
directory), runs a single-process node in this process with the fixed-price data
client (quotes and the instrument BTCUSDT.FIX) and the FIX execution client, and drives
a `Manual` strategy. The acceptor is stopped by pid; the root conftest fails a test
that leaves a process behind.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("quickfix", reason="the quickfix wheel is built by scripts/test")

from tests.fixtures.adapters.fix_manual import Manual
from tests.peers.harness import AcceptorProcess

from livenode.adapters.fix import FixExecClient
from livenode.config import load_config_str
from livenode.core.clock import LiveClock
from livenode.model.enums import OrderSide, OrderStatus, TimeInForce
from livenode.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderUpdated,
)
from livenode.model.identifiers import InstrumentId
from livenode.model.objects import Price, Quantity
from livenode.model.orders import Order
from livenode.node.gates import StartupGateError
from livenode.node.node import TradingNode

WAIT = 20.0
IID = InstrumentId.from_str("BTCUSDT.FIX")


def _document(port: int, data_dir: Path, **fix: Any) -> dict[str, Any]:
    return {
        "trader_id": "FIXT-001",
        "environment": "sandbox",
        "status_interval": 5.0,
        "data_clients": {"FIX": {
            "factory": "tests.fixtures.adapters.fixed_price:FixedPriceDataClientFactory",
            "config": {"venue": "FIX", "price": "100.00", "quote_interval": 0.05}}},
        "exec_clients": {"FIX": {
            "factory": "livenode.adapters.fix:FixExecClientFactory",
            "config": {"venue": "FIX", "sender_comp_id": "NODE", "target_comp_id": "VENUE",
                       "port": port, "heartbeat": 5, "data_dir": str(data_dir),
                       "reconnect_initial": 0.2, "reconnect_max": 1.0, **fix}}},
        "strategies": [{
            "path": "tests.fixtures.adapters.fix_manual:Manual",
            "config_path": "tests.fixtures.adapters.fix_manual:ManualConfig",
            "config": {},
        }],
    }


class Run:
    """A started node with its strategy and FIX client."""

    def __init__(self, node: TradingNode) -> None:
        self.node = node
        strategy = node.kernel.strategies[0]
        assert isinstance(strategy, Manual)
        self.strategy = strategy
        client = node.kernel.exec_clients["FIX"]
        assert isinstance(client, FixExecClient)
        self.client = client

    def qty(self, value: str) -> Quantity:
        return Quantity.from_str(value)

    def market(self, side: OrderSide, qty: str) -> Order:
        assert self.strategy.order_factory is not None
        order = self.strategy.order_factory.market(IID, side, self.qty(qty))
        assert self.strategy.submit_order(order)
        return order

    def limit(self, side: OrderSide, qty: str, price: str, **kw: Any) -> Order:
        assert self.strategy.order_factory is not None
        order = self.strategy.order_factory.limit(IID, side, self.qty(qty),
                                                  Price.from_str(price), **kw)
        assert self.strategy.submit_order(order)
        return order

    def events(self, order: Order, kind: type) -> list[Any]:
        return [e for e in order.events if isinstance(e, kind)]


async def until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll `check` until true; fail naming `what`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def acceptor(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AcceptorProcess]:
    """The QuickFIX acceptor (liquidity from ``@pytest.mark.parametrize`` indirect or none)."""
    liquidity = getattr(request, "param", "")
    proc = AcceptorProcess(tmp_path / "acceptor", liquidity=liquidity).start()
    try:
        yield proc
    finally:
        code = proc.stop()
        assert code in (0, None), proc.output()


@pytest.fixture
async def run(acceptor: AcceptorProcess, tmp_path: Path) -> AsyncIterator[Run]:
    """A started node trading against `acceptor`."""
    loop = asyncio.get_running_loop()
    config = load_config_str(json.dumps(_document(acceptor.port, tmp_path / "node")), "json")
    node = TradingNode(config, loop, clock=LiveClock(loop))
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


def _node_fills(run: Run) -> list[tuple[str, str, str, str]]:
    fills = [e for o in run.node.kernel.cache.orders() for e in o.events
             if isinstance(e, OrderFilled)]
    return sorted((str(f.trade_id), f.order_side.value, str(f.last_qty), str(f.last_px))
                  for f in fills)


def _acceptor_fills(acceptor: AcceptorProcess) -> list[tuple[str, str, str, str]]:
    return sorted((f["exec_id"], f["side"], str(Decimal(f["last_qty"]).quantize(Decimal("0.001"))),
                   str(Decimal(f["last_px"]).quantize(Decimal("0.01"))))
                  for f in acceptor.fills())


async def test_logon_and_market_orders_fill_and_books_match_the_acceptor(
    run: Run, acceptor: AcceptorProcess
) -> None:
    assert run.client.session.logged_on.is_set()
    buy = run.market(OrderSide.BUY, "0.010")
    await until(lambda: buy.status is OrderStatus.FILLED, "the buy filled")
    sell = run.market(OrderSide.SELL, "0.010")
    await until(lambda: sell.status is OrderStatus.FILLED, "the sell filled")
    assert buy.avg_px == 100.0 and sell.avg_px == 100.0
    assert _node_fills(run) == _acceptor_fills(acceptor)
    assert run.node.kernel.cache.positions_open() == []
    assert run.client.session.counters["rejects_sent"] == 0
    assert run.client.session.counters["rejects_received"] == 0


@pytest.mark.parametrize("acceptor", ["0.004"], indirect=True)
async def test_a_partial_fill_then_cancel_of_the_rest(run: Run, acceptor: AcceptorProcess) -> None:
    order = run.limit(OrderSide.BUY, "0.010", "101.00")
    await until(lambda: order.status is OrderStatus.PARTIALLY_FILLED, "a partial fill")
    assert str(order.filled_qty) == "0.004"
    # Below the filled quantity: the venue refuses the replace (OrderCancelReject 434=2).
    assert run.strategy.modify_order(order, quantity=run.qty("0.003"))
    await until(lambda: bool(run.events(order, OrderModifyRejected)), "the modify rejected")
    assert "not above filled" in run.events(order, OrderModifyRejected)[0].reason
    assert run.strategy.cancel_order(order)
    await until(lambda: order.status is OrderStatus.CANCELED, "the cancel")
    assert str(order.filled_qty) == "0.004"
    assert _node_fills(run) == _acceptor_fills(acceptor)


@pytest.mark.parametrize("acceptor", ["0.004"], indirect=True)
async def test_a_market_order_fills_in_parts(run: Run, acceptor: AcceptorProcess) -> None:
    order = run.market(OrderSide.BUY, "0.010")
    await until(lambda: order.status is OrderStatus.FILLED, "the fill")
    assert [str(f.last_qty) for f in run.events(order, OrderFilled)] == ["0.004", "0.004",
                                                                         "0.002"]
    assert _node_fills(run) == _acceptor_fills(acceptor)


async def test_a_resting_limit_is_replaced_through_the_price_and_fills(
    run: Run, acceptor: AcceptorProcess
) -> None:
    order = run.limit(OrderSide.BUY, "0.010", "99.00")
    await until(lambda: order.status is OrderStatus.ACCEPTED, "the accept")
    assert run.strategy.modify_order(order, quantity=run.qty("0.020"),
                                     price=Price.from_str("100.50"))
    await until(lambda: order.status is OrderStatus.FILLED, "the fill after the replace")
    updated = run.events(order, OrderUpdated)
    assert updated and str(updated[0].quantity) == "0.020"
    assert str(updated[0].price) == "100.50"
    assert str(order.filled_qty) == "0.020"
    assert _node_fills(run) == _acceptor_fills(acceptor)


async def test_cancel_of_a_resting_order(run: Run) -> None:
    order = run.limit(OrderSide.SELL, "0.010", "105.00", time_in_force=TimeInForce.DAY)
    await until(lambda: order.status is OrderStatus.ACCEPTED, "the accept")
    assert run.strategy.cancel_order(order)
    await until(lambda: order.status is OrderStatus.CANCELED, "the cancel")
    assert len(run.events(order, OrderCanceled)) == 1


async def test_a_post_only_order_that_would_take_is_rejected(run: Run) -> None:
    order = run.limit(OrderSide.BUY, "0.010", "101.00", post_only=True)
    await until(lambda: order.status is OrderStatus.REJECTED, "the reject")
    assert "post-only" in run.events(order, OrderRejected)[0].reason


async def test_ioc_remainder_and_fok_are_canceled(run: Run, acceptor: AcceptorProcess) -> None:
    ioc = run.limit(OrderSide.BUY, "0.010", "99.00", time_in_force=TimeInForce.IOC)
    await until(lambda: ioc.status is OrderStatus.CANCELED, "the IOC canceled")
    fok = run.limit(OrderSide.BUY, "0.010", "101.00", time_in_force=TimeInForce.FOK)
    await until(lambda: fok.status is OrderStatus.FILLED, "the FOK filled")


async def test_order_status_and_mass_status_reports(run: Run) -> None:
    order = run.limit(OrderSide.BUY, "0.010", "98.00")
    await until(lambda: order.status is OrderStatus.ACCEPTED, "the accept")
    open_reports = await run.client.generate_order_status_reports()
    assert [r.client_order_id for r in open_reports] == [order.client_order_id]
    assert open_reports[0].order_status is OrderStatus.ACCEPTED
    assert str(open_reports[0].price) == "98.00"
    one = await run.client.generate_order_status_reports_for([order.client_order_id])
    assert len(one) == 1 and one[0].venue_order_id == order.venue_order_id


async def test_a_gap_in_the_node_s_sequence_is_filled_on_the_acceptor_s_resend_request(
    run: Run, acceptor: AcceptorProcess
) -> None:
    run.client.session.skip_outgoing(3)
    order = run.market(OrderSide.BUY, "0.010")
    await until(lambda: order.status is OrderStatus.FILLED, "the fill after the gap")
    counters = run.client.session.counters
    assert counters["resend_requests_received"] >= 1 and counters["gap_fills_sent"] >= 1
    assert _node_fills(run) == _acceptor_fills(acceptor)


async def test_a_gap_in_the_acceptor_s_sequence_is_resent_on_request(
    run: Run, acceptor: AcceptorProcess
) -> None:
    acceptor.signal(signal.SIGUSR1)
    await asyncio.to_thread(acceptor.wait_line, "skipped 3 outgoing")
    order = run.market(OrderSide.BUY, "0.010")
    await until(lambda: order.status is OrderStatus.FILLED, "the fill after the resend")
    assert run.client.session.counters["resend_requests_sent"] >= 1
    assert len(run.events(order, OrderFilled)) == 1
    assert _node_fills(run) == _acceptor_fills(acceptor)


async def test_acceptor_restart_with_an_order_resting(run: Run, acceptor: AcceptorProcess) -> None:
    order = run.limit(OrderSide.BUY, "0.010", "99.00")
    await until(lambda: order.status is OrderStatus.ACCEPTED, "the accept")
    await asyncio.to_thread(acceptor.kill)
    await until(lambda: not run.client.session.logged_on.is_set(), "the session down")
    # Fail-closed while the session is down: the engine denies new orders to the venue.
    await until(lambda: run.node.kernel.exec_engine.halted_venues() != {}, "the venue halted")
    refused = run.market(OrderSide.BUY, "0.010")
    await until(lambda: refused.status is OrderStatus.DENIED, "the refusal while down")
    assert run.events(refused, OrderDenied)[0].reason.startswith(
        "VENUE_DISCONNECTED: trading to FIX is halted: FIX session down")
    await asyncio.to_thread(acceptor.start)
    await until(lambda: run.client.session.in_sync.is_set(), "the logon after the restart")
    # Trading resumes only once the engine reconciled the client with the venue.
    await until(lambda: run.node.kernel.exec_engine.halted_venues() == {},
                "reconciled after the reconnect")
    # The restarted acceptor still has the order (and both sides their sequence numbers).
    assert run.strategy.modify_order(order, price=Price.from_str("100.00"))
    await until(lambda: order.status is OrderStatus.FILLED, "the fill after the restart")
    assert run.client.session.counters["logons"] >= 2
    assert _node_fills(run) == _acceptor_fills(acceptor)


async def test_stop_orders_trigger_at_the_price_or_rest(
    run: Run, acceptor: AcceptorProcess
) -> None:
    assert run.strategy.order_factory is not None
    factory = run.strategy.order_factory
    stop = factory.stop_market(IID, OrderSide.BUY, run.qty("0.010"), Price.from_str("99.00"))
    assert run.strategy.submit_order(stop)
    await until(lambda: stop.status is OrderStatus.FILLED, "the stop triggered and filled")
    resting = factory.stop_limit(IID, OrderSide.BUY, run.qty("0.010"), Price.from_str("101.50"),
                                 Price.from_str("101.00"), time_in_force=TimeInForce.GTD,
                                 expire_time_ns=run.node.kernel.clock.timestamp_ns() + 3600 * 10**9)
    assert run.strategy.submit_order(resting)
    await until(lambda: resting.status is OrderStatus.ACCEPTED, "the stop-limit resting")
    assert run.strategy.cancel_order(resting)
    await until(lambda: resting.status is OrderStatus.CANCELED, "the cancel")
    assert _node_fills(run) == _acceptor_fills(acceptor)


async def test_restated_and_expired_reports_are_applied_once(run: Run) -> None:
    # The QuickFIX peer never restates nor expires an order (its price never moves), so
    # these two ExecutionReports are fed to the client as the session would deliver them.
    from livenode.adapters.fix.codec import decode, encode

    order = run.limit(OrderSide.SELL, "0.010", "105.00")
    await until(lambda: order.status is OrderStatus.ACCEPTED, "the accept")
    common = [(37, str(order.venue_order_id)), (11, str(order.client_order_id)),
              (55, "BTCUSDT"), (54, "2"), (40, "2"), (59, "1")]

    def report(exec_id: str, exec_type: str, status: str, qty: str) -> Any:
        return decode(encode("8", [*common, (17, exec_id), (150, exec_type), (39, status),
                                   (38, qty), (44, "105.00"), (151, qty), (14, "0"), (6, "0")],
                             [(49, "VENUE"), (56, "NODE"), (34, "1"), (52, "x")]))

    run.client._on_message(report("R-1", "D", "0", "0.006"))
    run.client._on_message(report("R-1", "D", "0", "0.006"))  # a PossDup resend: once
    await until(lambda: str(order.quantity) == "0.006", "the restatement")
    assert len(run.events(order, OrderUpdated)) == 1
    run.client._on_message(report("R-2", "C", "C", "0.006"))
    await until(lambda: order.status is OrderStatus.EXPIRED, "the expiry")
    assert run.client.counters["duplicate_reports"] == 1


async def test_a_disconnect_with_an_order_in_flight_is_settled_by_the_resend(
    run: Run, acceptor: AcceptorProcess
) -> None:
    # Freeze the acceptor, send the order (it sits in the socket), drop the connection,
    # thaw the acceptor: it handles the order and answers into a dead socket. The node's
    # next logon sees the acceptor's sequence ahead, asks for a resend and gets the
    # reports (PossDupFlag=Y): the order is filled, once.
    acceptor.signal(signal.SIGSTOP)
    try:
        order = run.market(OrderSide.BUY, "0.010")
        await until(lambda: order.status is OrderStatus.SUBMITTED
                    and run.client.commands_in_flight == 1, "the order on its way")
        await asyncio.sleep(0.2)
        run.client.session.drop()
    finally:
        acceptor.signal(signal.SIGCONT)
    await until(lambda: order.status is OrderStatus.FILLED, "the fill after the reconnect")
    assert len(run.events(order, OrderFilled)) == 1
    counters = run.client.session.counters
    assert counters["logons"] >= 2 and counters["resend_requests_sent"] >= 1
    assert _node_fills(run) == _acceptor_fills(acceptor)


async def test_logon_credentials_come_from_the_environment_variables_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = AcceptorProcess(tmp_path / "acceptor",
                           extra=["--username", "trader", "--password", "s3cret"]).start()
    loop = asyncio.get_running_loop()
    try:
        for password, ok in (("wrong", False), ("s3cret", True)):
            monkeypatch.setenv("FIXT_USER", "trader")
            monkeypatch.setenv("FIXT_PASSWORD", password)
            doc = _document(proc.port, tmp_path / "node", username_env="FIXT_USER",
                            password_env="FIXT_PASSWORD", logon_timeout=3.0)
            doc["timeouts"] = {"connection": 5}
            node = TradingNode(load_config_str(json.dumps(doc), "json"), loop,
                               clock=LiveClock(loop))
            node.build()
            task = asyncio.create_task(node.run_async())
            try:
                started = await asyncio.wait_for(node.wait_started(), WAIT)
                assert started is ok, proc.output()
            finally:
                await asyncio.wait_for(node.stop_async("test"), WAIT)
                if ok:
                    await asyncio.wait_for(task, WAIT)
                else:  # the start gate failed: the logon was refused
                    with pytest.raises(StartupGateError, match="no FIX logon"):
                        await asyncio.wait_for(task, WAIT)
                node.dispose()
        assert "bad username or password" in "\n".join(
            p.read_text() for p in (tmp_path / "acceptor" / "log").glob("*event*.log"))
    finally:
        assert proc.stop() in (0, None), proc.output()
