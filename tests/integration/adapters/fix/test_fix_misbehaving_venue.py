"""The FIX client against a QuickFIX acceptor that misbehaves on command.

Each test arms a fault in the running acceptor (`AcceptorProcess.command`, see the
command table in `tests/peers/fix_acceptor.py`), makes the node trade into it, waits for
the node's events (never a fixed sleep) and ends with the books: the node's orders,
fills and position equal the acceptor's own record (``orders.json``, ``fills.jsonl``),
each fill applied once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("quickfix", reason="the quickfix wheel is built by scripts/test")

from tests.integration.adapters.fix.test_fix_e2e import (
    IID,
    WAIT,
    Run,
    _acceptor_fills,
    _document,
    _node_fills,
    until,
)
from tests.peers.harness import AcceptorProcess

from livenode.config import load_config_str
from livenode.core.clock import LiveClock
from livenode.model.enums import OrderSide, OrderStatus
from livenode.model.events import (
    OrderCanceled,
    OrderCancelRejected,
    OrderFilled,
    OrderRejected,
)
from livenode.node.node import TradingNode

_CLOSED = ("2", "4", "8", "C")


@pytest.fixture
def acceptor(tmp_path: Path) -> Iterator[AcceptorProcess]:
    proc = AcceptorProcess(tmp_path / "acceptor").start()
    try:
        yield proc
    finally:
        assert proc.stop() in (0, None), proc.output()


@pytest.fixture
async def run(acceptor: AcceptorProcess, tmp_path: Path) -> AsyncIterator[Run]:
    """A started node trading against `acceptor`; its strategy leaves positions open
    at the stop (the books are compared while it runs)."""
    loop = asyncio.get_running_loop()
    # The acceptor answers RequestForPositions: the audit compares positions too.
    document = _document(acceptor.port, tmp_path / "node", request_positions=True)
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
        # The stop's audit asked the acceptor too: its open orders and positions equal
        # the node's (FIX reports no balances or fill history).
        audit = node.kernel.exec_engine.last_audit if node.kernel.exec_engine else {}
        node.dispose()
    assert audit, "the stop audited the venue"
    for verdict in audit.values():
        assert verdict.checked == ["orders", "positions"], verdict
        assert verdict.matches, verdict.lines()


async def command(acceptor: AcceptorProcess, name: str, **args: object) -> None:
    """Arm or run a fault in the acceptor (off the loop: the harness waits for its line)."""
    await asyncio.to_thread(acceptor.command, name, **args)


def assert_books_match(run: Run, acceptor: AcceptorProcess) -> None:
    """The node's orders, fills and net position equal the acceptor's record."""
    state = json.loads((acceptor.directory / "orders.json").read_text())
    venue = {o["order_id"]: o for o in state["orders"]}
    node = {str(o.venue_order_id): o for o in run.node.kernel.cache.orders()
            if o.venue_order_id is not None}
    assert set(node) == set(venue), (sorted(node), sorted(venue))
    for order_id, theirs in venue.items():
        ours = node[order_id]
        assert ours.filled_qty.as_decimal() == Decimal(theirs["cum_qty"]), order_id
        assert ours.is_open == (theirs["status"] not in _CLOSED), (order_id, ours.status)
    # Fills: the same trades (ExecID = trade id), each once.
    node_fills = _node_fills(run)
    assert len(node_fills) == len({f[0] for f in node_fills}), node_fills
    assert node_fills == _acceptor_fills(acceptor)
    venue_net = sum((Decimal(f["last_qty"]) * (1 if f["side"] == "BUY" else -1)
                     for f in acceptor.fills()), Decimal(0))
    node_net = sum(p.signed_qty for p in run.node.kernel.cache.positions_open()
                   if p.instrument_id == IID)
    assert abs(node_net - float(venue_net)) < 1e-9, (node_net, venue_net)


async def test_a_fill_of_an_order_the_node_never_sent_is_adopted_as_external(
    run: Run, acceptor: AcceptorProcess
) -> None:
    await command(acceptor, "fill_unknown", symbol="BTCUSDT", side="BUY", qty="0.005")
    cache = run.node.kernel.cache
    await until(lambda: any(str(o.strategy_id) == "EXTERNAL" for o in cache.orders()),
                "the fill adopted as an EXTERNAL order")
    (external,) = [o for o in cache.orders() if str(o.strategy_id) == "EXTERNAL"]
    assert external.status is OrderStatus.FILLED and str(external.filled_qty) == "0.005"
    assert str(external.venue_order_id).startswith("X-")
    assert run.client.counters["external_fills"] == 1
    # The position is the venue's (FIX 4.4 has no balance message: the account stays
    # the configured balances for every fill, the node's own included).
    (position,) = cache.positions_open()
    assert str(position.strategy_id) == "EXTERNAL" and position.signed_qty == 0.005
    assert_books_match(run, acceptor)


async def test_a_session_reject_of_a_new_order_rejects_it_at_once_with_the_venue_s_text(
    run: Run, acceptor: AcceptorProcess
) -> None:
    await command(acceptor, "reject_next_order", text="instrument halted by the venue")
    started = time.monotonic()
    order = run.limit(OrderSide.BUY, "0.010", "99.00")
    await until(lambda: order.status is OrderStatus.REJECTED, "the reject",
                timeout=run.client.command_timeout - 2)
    assert time.monotonic() - started < run.client.command_timeout / 2
    reason = run.events(order, OrderRejected)[0].reason
    assert "instrument halted by the venue" in reason and "session reject" in reason
    assert "COMMAND_TIMEOUT" not in reason
    assert run.client.counters["session_rejects"] == 1
    # The session goes on: the next order trades.
    fill = run.market(OrderSide.BUY, "0.010")
    await until(lambda: fill.status is OrderStatus.FILLED, "the next order filled")
    assert_books_match(run, acceptor)


async def test_a_lost_cancel_confirmation_is_settled_by_asking_the_venue_not_rejected(
    run: Run, acceptor: AcceptorProcess
) -> None:
    run.client.command_timeout = 2.0  # the cancel's wait (10 s by default)
    order = run.limit(OrderSide.SELL, "0.010", "105.00")
    await until(lambda: order.status is OrderStatus.ACCEPTED, "the accept")
    await command(acceptor, "drop_cancel_ack")
    assert run.strategy.cancel_order(order)
    await asyncio.to_thread(acceptor.wait_line, "withholding the cancel confirmation")
    # No confirmation: after command_timeout the client asks the venue (which then
    # sends the withheld confirmation late); the venue's answer cancels the order.
    await until(lambda: order.status is OrderStatus.CANCELED, "the cancel settled")
    await asyncio.to_thread(acceptor.wait_line, "released 1 withheld")
    await until(lambda: run.client.counters["duplicate_reports"]
                + run.client.counters["reports"] > 0, "the late confirmation read")
    assert run.events(order, OrderCancelRejected) == []
    assert not [e for e in run.strategy.order_events if isinstance(e, OrderCancelRejected)]
    assert len(run.events(order, OrderCanceled)) == 1
    assert run.client.counters["unanswered_amends"] == 1
    assert_books_match(run, acceptor)


async def test_a_mass_status_answer_with_empty_fields_halts_the_venue_not_the_start(
    acceptor: AcceptorProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The status request fails at once with the reason; the node starts with the venue
    halted (new orders denied), reconciles it again on its check timer (the acceptor
    answers correctly the second time), then trades, and stops with the books equal."""
    await command(acceptor, "empty_mass_status")
    loop = asyncio.get_running_loop()
    document = _document(acceptor.port, tmp_path / "node", request_positions=True)
    document["timeouts"] = {"reconciliation": 30}
    document["strategies"][0]["config"] = {"manage_stop": False}
    node = TradingNode(load_config_str(json.dumps(document), "json"), loop,
                       clock=LiveClock(loop))
    node.build()
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    task = asyncio.create_task(node.run_async())
    engine = node.kernel.exec_engine
    assert engine is not None
    try:
        assert await asyncio.wait_for(node.wait_started(), WAIT), acceptor.output()
        # Not after request_timeout (5 s) nor the gate's 30 s: the answer was refused.
        assert time.monotonic() - started < 4.0
        log = caplog.text
        assert "OrderMassStatusRequest" in log and "empty value" in log
        assert "not reconciled at start" in log and "not valid FIX" in log
        await until(lambda: not engine.halted_venues(), "the venue reconciled again")
        assert "reconciled: trading to" in caplog.text
        await until(lambda: node.kernel.cache.quote_tick(IID) is not None, "a quote")
        run = Run(node)
        order = run.market(OrderSide.BUY, "0.010")
        await until(lambda: order.status is OrderStatus.FILLED, "the fill")
        assert_books_match(run, acceptor)
    finally:
        await asyncio.wait_for(node.stop_async("test"), WAIT)
        await asyncio.wait_for(task, WAIT)
        audit = engine.last_audit
        node.dispose()
    assert audit and all(v.matches for v in audit.values()), [v.lines() for v in audit.values()]
    assert node.exit_code == 0
    # Our own logout at the stop is the normal end of the session: INFO, not a warning.
    assert "FIX session closed" in caplog.text
    assert not [r for r in caplog.records
                if r.levelno >= logging.WARNING and "session down" in r.getMessage()]


async def test_fills_carry_the_venue_s_transact_time(run: Run) -> None:
    order = run.market(OrderSide.BUY, "0.010")
    await until(lambda: order.status is OrderStatus.FILLED, "the fill")
    (fill,) = run.events(order, OrderFilled)
    # The acceptor's TransactTime has milliseconds; the local clock has nanoseconds.
    assert fill.ts_event % 1_000_000 == 0
    assert abs(fill.ts_event - fill.ts_init) < 5 * 10**9
    assert run.client.counters["bad_transact_times"] == 0


@pytest.mark.parametrize("poss_dup", [False, True])
async def test_a_duplicated_report_is_applied_once(
    run: Run, acceptor: AcceptorProcess, poss_dup: bool
) -> None:
    await command(acceptor, "duplicate", poss_dup=poss_dup)
    order = run.market(OrderSide.BUY, "0.010")
    await until(lambda: order.status is OrderStatus.FILLED, "the fill")
    await asyncio.to_thread(acceptor.wait_line, "sent a report twice")
    await until(lambda: run.client.counters["duplicate_reports"] == 1, "the copy read")
    assert len(run.events(order, OrderFilled)) == 1
    assert_books_match(run, acceptor)


async def test_a_venue_silent_for_a_while_answers_late_and_the_books_match(
    run: Run, acceptor: AcceptorProcess
) -> None:
    await command(acceptor, "silent", seconds=3)
    order = run.market(OrderSide.BUY, "0.010")
    await asyncio.to_thread(acceptor.wait_line, "silent for 3")
    assert order.status is not OrderStatus.FILLED
    await until(lambda: order.status is OrderStatus.FILLED, "the late fill")
    assert len(run.events(order, OrderFilled)) == 1
    assert_books_match(run, acceptor)
