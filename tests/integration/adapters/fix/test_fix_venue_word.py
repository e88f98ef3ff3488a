"""The venue's word over the node's own decisions, against the real QuickFIX acceptor.

See docs/audit.md ("The venue's word over the node's own decisions"):

- an order the node rejected itself because its NewOrderSingle got no answer within
  ``command_timeout`` (``COMMAND_TIMEOUT``) is reopened by the venue's late
  acknowledgement and fill (`Order.rejected_locally`, counter ``orders_reopened``);
- a fill reconciliation had to infer after a reconnect (``RECON-...``: FIX reports a
  filled quantity and no fill history) is confirmed by the venue's own fill when that
  arrives: recorded, not applied twice (counter ``inferred_fills_confirmed``).

The acceptor withholds the reports of the next NewOrderSingle on command (``delay_ack``
with a delay far beyond the test, then ``release`` when the test wants them out), so the
order of what the node sees is decided by the test, not by timers. Each test waits on
events, never a fixed sleep, and ends with the node's books equal to the acceptor's; the
`run` fixture (imported) checks the stop's audit (open orders and positions) too.

`command_timeout` is not a field of the FIX client's config (`FixExecClientConfig`
forbids unknown fields): it is the client's attribute (`LiveExecutionClient`, 10 s by
default), set on the running client here as the misbehaving-venue tests do.
"""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal

import pytest

pytest.importorskip("quickfix", reason="the quickfix wheel is built by scripts/test")

import tests.integration.adapters.fix.test_fix_misbehaving_venue as misbehaving
from tests.integration.adapters.fix.test_fix_e2e import IID, Run, until
from tests.integration.adapters.fix.test_fix_misbehaving_venue import (
    assert_books_match,
    command,
)
from tests.peers.harness import AcceptorProcess

from livenode.engines.execution_engine import ExecutionEngine
from livenode.model.enums import OrderSide, OrderStatus
from livenode.model.events import (
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from livenode.model.orders import Order

# The fixtures of the misbehaving-venue tests: the acceptor, and a started node whose
# stop's audit must match it.
acceptor = misbehaving.acceptor
run = misbehaving.run

#: Far beyond any test here: the withheld reports go out on ``release`` only.
HOLD = 120


def _engine(run: Run) -> ExecutionEngine:
    engine = run.node.kernel.exec_engine
    assert engine is not None
    return engine


def _node_net(run: Run) -> float:
    return sum(p.signed_qty for p in run.node.kernel.cache.positions_open()
               if p.instrument_id == IID)


def _venue_net(acceptor: AcceptorProcess) -> Decimal:
    return sum((Decimal(f["last_qty"]) * (1 if f["side"] == "BUY" else -1)
                for f in acceptor.fills()), Decimal(0))


def _no_invalid_transition(run: Run, caplog: pytest.LogCaptureFixture) -> None:
    assert _engine(run).counters()["invalid_transitions"] == 0
    refused = [r.getMessage() for r in caplog.records if "invalid transition" in r.getMessage()]
    assert refused == []


async def _rejected_for_a_command_timeout(run: Run, acceptor: AcceptorProcess,
                                         order_of: str) -> Order:
    """An order whose reports the acceptor withholds, rejected by the node when its
    submit got no answer within command_timeout (COMMAND_TIMEOUT)."""
    run.client.command_timeout = 1.5  # the submit's wait for the venue (10 s by default)
    await command(acceptor, "delay_ack", seconds=HOLD)
    order = (run.market(OrderSide.BUY, "0.010") if order_of == "market"
             else run.limit(OrderSide.BUY, "0.010", "99.00"))
    await asyncio.to_thread(acceptor.wait_line, f"holding the reports of {order.client_order_id}")
    await until(lambda: order.status is OrderStatus.REJECTED, "the COMMAND_TIMEOUT rejection")
    (rejected,) = run.events(order, OrderRejected)
    assert rejected.reason.startswith("COMMAND_TIMEOUT"), rejected.reason
    assert order.rejected_locally and order.venue_order_id is None
    assert _engine(run).counters()["orders_reopened"] == 0
    # The venue has the order all the same (filled, or resting).
    state = json.loads((acceptor.directory / "orders.json").read_text())
    assert [o["cl_ord_id"] for o in state["orders"]] == [str(order.client_order_id)]
    return order


def _heard_after_the_rejection(run: Run, order: Order) -> list[type]:
    heard = [type(e) for e in run.strategy.order_events
             if e.client_order_id == order.client_order_id]
    return heard[heard.index(OrderRejected) + 1:]


async def test_a_market_order_rejected_for_a_command_timeout_is_reopened_by_the_venue_s_fill(
    run: Run, acceptor: AcceptorProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    order = await _rejected_for_a_command_timeout(run, acceptor, "market")
    # The venue's word, late: its New, then its fill.
    await command(acceptor, "release")
    await asyncio.to_thread(acceptor.wait_line, "released 2 withheld")
    await until(lambda: order.status is OrderStatus.FILLED, "the order reopened and filled")
    assert _engine(run).counters()["orders_reopened"] == 1
    assert not order.rejected_locally
    (fill,) = run.events(order, OrderFilled)
    assert str(fill.trade_id).startswith("E-") and str(order.filled_qty) == "0.010"
    assert str(order.venue_order_id).startswith("Q-")
    assert type(order.events[-1]) is OrderFilled
    # The strategy heard the reopening (after the rejection), the fill once.
    assert _heard_after_the_rejection(run, order)[-1:] == [OrderFilled]
    assert any("reopened by the venue's" in r.getMessage() for r in caplog.records)
    assert _node_net(run) == pytest.approx(0.010)
    _no_invalid_transition(run, caplog)
    assert_books_match(run, acceptor)


async def test_a_resting_limit_rejected_for_a_command_timeout_is_reopened_by_the_venue_s_ack(
    run: Run, acceptor: AcceptorProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    order = await _rejected_for_a_command_timeout(run, acceptor, "limit")
    # The venue's word, late: its New (ExecType 0); the order rests at the venue.
    await command(acceptor, "release")
    await asyncio.to_thread(acceptor.wait_line, "released 1 withheld")
    await until(lambda: order.status is OrderStatus.ACCEPTED, "the order reopened by the ack")
    assert _engine(run).counters()["orders_reopened"] == 1
    assert not order.rejected_locally and order.is_open
    assert str(order.venue_order_id).startswith("Q-")
    assert [type(e) for e in order.events[1:]] == [OrderSubmitted, OrderRejected, OrderAccepted]
    assert _heard_after_the_rejection(run, order) == [OrderAccepted]
    assert run.node.kernel.cache.positions_open() == []
    _no_invalid_transition(run, caplog)
    assert_books_match(run, acceptor)


async def test_a_fill_inferred_after_a_reconnect_is_confirmed_by_the_venue_s_own_fill(
    run: Run, acceptor: AcceptorProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    engine = _engine(run)
    # The submit must still be waiting when reconciliation asks about the order (a
    # COMMAND_TIMEOUT rejection first is the other test's case).
    run.client.command_timeout = 60.0
    await command(acceptor, "delay_ack", seconds=HOLD)
    order = run.market(OrderSide.BUY, "0.010")
    # The acceptor took the order and filled it in its book; its reports are withheld.
    await asyncio.to_thread(acceptor.wait_line, f"holding the reports of {order.client_order_id}")
    assert [f["cl_ord_id"] for f in acceptor.fills()] == [str(order.client_order_id)]
    (venue_fill,) = acceptor.fills()
    assert order.status is OrderStatus.SUBMITTED
    # The connection drops between the order and its fill; the session reconnects, the
    # engine reconciles: the venue reports the order filled (OrderStatusRequest), with
    # no fill history, so the fill is inferred.
    logons = run.client.session.counters["logons"]
    run.client.session.drop()
    await until(lambda: run.client.session.counters["logons"] > logons, "the reconnect")
    await until(lambda: order.status is OrderStatus.FILLED, "the fill inferred by reconciliation")
    await until(lambda: not engine.halted_venues(), "trading resumed after the reconcile")
    (inferred,) = run.events(order, OrderFilled)
    assert str(inferred.trade_id).startswith("RECON-"), inferred.trade_id
    assert inferred.inferred is not None and inferred.inferred.rule == "fill_not_reported"
    # Inferred by the reconciliation after the reconnect, not by the stalled-order check.
    assert engine.counters()["stall_queries"] == 0
    assert any("reconciled: trading to" in r.getMessage() for r in caplog.records)
    assert engine.counters()["inferred_fills_confirmed"] == 0
    assert _node_net(run) == pytest.approx(0.010)
    # Now the venue's own reports (New, then the fill under its ExecID) arrive.
    await command(acceptor, "release")
    await asyncio.to_thread(acceptor.wait_line, "released 2 withheld")
    await until(lambda: engine.counters()["inferred_fills_confirmed"] >= 1,
                "the venue's fill confirming the inferred one")
    # The submit's wait ends with the venue's answer (no COMMAND_TIMEOUT after all).
    await until(lambda: run.client.commands_in_flight == 0, "the submit answered")
    assert order.status is OrderStatus.FILLED and str(order.filled_qty) == "0.010"
    assert run.events(order, OrderFilled) == [inferred]  # filled once
    assert run.events(order, OrderRejected) == []
    assert order.trade_ids == {inferred.trade_id, type(inferred.trade_id)(venue_fill["exec_id"])}
    assert _node_net(run) == pytest.approx(0.010)  # not doubled
    assert engine.counters()["fills"] == 1
    assert engine.counters()["duplicate_fills"] == 0
    _no_invalid_transition(run, caplog)
    # The books: the same orders and net position as the venue; the node's one fill is
    # the inferred one (its RECON- id stays), the venue's ExecID recorded on the order.
    state = [o for o in run.node.kernel.cache.orders() if o.venue_order_id is not None]
    assert [str(o.venue_order_id) for o in state] == [venue_fill["order_id"]]
    assert order.is_open is False and Decimal(str(order.filled_qty)) == Decimal("0.010")
    assert _node_net(run) == pytest.approx(float(_venue_net(acceptor)))
