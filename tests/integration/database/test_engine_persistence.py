"""The execution engine with a cache database (a real SQLite file): what it applies
is stored, in order, and while the database cannot be written new orders are
denied per `on_failure` (cancels still go out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.engines.helpers import (
    accepted,
    account_state,
    cancel,
    filled,
    order_init,
    submit,
    submitted,
)
from tests.unit.engines.test_execution_engine import Harness

from livenode.cache.database import CacheDatabase, SqliteBackend
from livenode.engines.execution_engine import DATABASE_UNAVAILABLE
from livenode.model.enums import OrderSide, OrderStatus
from livenode.model.events import OrderDenied, OrderFilled, OrderInitialized

WAIT = 30.0


def _attached(tmp_path: Path, on_failure: str = "HALTED") -> tuple[Harness, CacheDatabase]:
    h = Harness()
    db = CacheDatabase(SqliteBackend("TESTER-001", tmp_path / "db.sqlite"))
    db.open()
    h.engine.use_database(db, on_failure)
    return h, db


def _reopen(tmp_path: Path) -> list[object]:
    again = CacheDatabase(SqliteBackend("TESTER-001", tmp_path / "db.sqlite"))
    try:
        return list(again.open().order_events)
    finally:
        again.close()


def test_every_applied_event_is_stored_in_order(tmp_path: Path) -> None:
    h, db = _attached(tmp_path)
    o = h.fill(OrderSide.BUY, "1.000", "100.00", "T-1")
    h.event(account_state())
    assert db.wait_written(WAIT)
    db.close()
    stored = _reopen(tmp_path)
    order = h.env.cache.order(o.client_order_id)
    assert order is not None
    assert [type(e) for e in stored] == [type(e) for e in order.events]
    assert stored[0] == o and type(stored[0]) is OrderInitialized
    fill = stored[-1]
    assert type(fill) is OrderFilled and fill.position_id is not None  # as the engine applied it


def test_halted_while_the_database_is_down_denies_new_orders_only(tmp_path: Path) -> None:
    h, db = _attached(tmp_path)
    resting = h.open_order()
    h.engine.set_database_fault("disk full")
    new = order_init()
    h.send(submit(new))
    denied = [e for e in h.order_events if type(e) is OrderDenied]
    assert len(denied) == 1 and denied[0].client_order_id == new.client_order_id
    assert denied[0].reason.startswith(DATABASE_UNAVAILABLE) and "disk full" in denied[0].reason
    # A cancel still reaches the venue: it only takes risk off.
    before = len(h.client.commands)
    h.send(cancel(resting.client_order_id))
    assert len(h.client.commands) == before + 1
    h.engine.set_database_fault(None)
    again = order_init()
    h.send(submit(again))
    assert h.client.commands[-1].order == again
    assert h.engine.counters()["database_denials"] == 1
    db.close()


@pytest.mark.parametrize(("side", "qty", "allowed"), [
    (OrderSide.SELL, "0.500", True),   # reduces the long
    (OrderSide.SELL, "2.000", False),  # would flip it
    (OrderSide.BUY, "0.100", False),   # increases it
])
def test_reducing_while_the_database_is_down_allows_only_reducing_orders(
    tmp_path: Path, side: OrderSide, qty: str, allowed: bool,
) -> None:
    h, db = _attached(tmp_path, on_failure="REDUCING")
    h.fill(OrderSide.BUY, "1.000", "100.00", "T-1")
    h.engine.set_database_fault("redis down")
    o = order_init(side=side, qty=qty)
    h.send(submit(o))
    was_denied = any(type(e) is OrderDenied and e.client_order_id == o.client_order_id
                     for e in h.order_events)
    assert was_denied is (not allowed)
    db.close()


def test_a_database_that_lost_the_state_for_good_halts_even_a_reducing_node(
    tmp_path: Path,
) -> None:
    h, db = _attached(tmp_path, on_failure="REDUCING")
    h.fill(OrderSide.BUY, "1.000", "100.00", "T-1")
    assert h.engine.database_trading == "ACTIVE"
    h.engine.set_database_fault("lost it, not rewritten", halt=True)
    assert h.engine.database_trading == "HALTED"
    reducing = order_init(side=OrderSide.SELL, qty="0.500")
    h.send(submit(reducing))
    [denial] = [e for e in h.order_events if type(e) is OrderDenied]
    assert denial.reason == f"{DATABASE_UNAVAILABLE}: trading HALTED: lost it, not rewritten"
    h.engine.set_database_fault(None)  # the writer's "caught up" cannot clear it
    assert h.engine.database_trading == "HALTED"
    assert h.engine.database_fault == "lost it, not rewritten"
    db.close()


def test_an_order_is_stored_before_it_reaches_the_client(tmp_path: Path) -> None:
    """The OrderInitialized is queued before the client gets the command: a crash
    after the send finds the order in the database, never an orphan at the venue."""
    h, db = _attached(tmp_path)
    queued_at_send: list[int] = []
    original = h.client.submit_order
    before = db.writer.submitted

    def submit_order(command: object) -> None:
        queued_at_send.append(db.writer.submitted - before)
        original(command)

    h.client.submit_order = submit_order  # type: ignore[method-assign]
    o = order_init()
    h.send(submit(o))
    assert queued_at_send == [1]
    h.event(submitted(o))
    h.event(accepted(o))
    h.event(filled(o, "1.000", "100.00", "T-9"))
    assert h.env.cache.order(o.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert db.wait_written(WAIT)
    db.close()
    assert len(_reopen(tmp_path)) == 4
