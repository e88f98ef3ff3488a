"""The run summary from durable state: everything the cache database holds.

A process's own counters start again at zero when it is restarted, and a node
restarted on its database continues a book that an earlier run began; only the
database has all of it. When `[cache.database]` is configured, the summary's
orders, fills, balances and closed position cycles (rebuilt from the stored
fills; this run's own under ``this_run``) are therefore read back from it after
the node stopped (every run of this trader id since its last flush), and checked:
the fills, added up per instrument, must give the positions the node itself
reported. A difference is an error in the summary (``errors``) and exit 1; a
summary that disagrees with itself must never pass silently.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import msgspec

from livenode.cache.cache import Cache
from livenode.cache.database import DatabaseError, DatabaseState
from livenode.config import TradingNodeConfig
from livenode.engines.recovery import restore_execution_state
from livenode.model.enums import OrderSide
from livenode.model.events import (
    AccountState,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    PositionClosed,
)
from livenode.node.database import build_cache_database
from livenode.node.report_rows import (
    STATUS_KEY,
    account_row,
    closed_position_row,
    fill_row,
    reason_key,
)

__all__ = ["DurableBooks", "apply_durable_books", "database_errors", "durable_summary",
           "load_durable_books"]

_log = logging.getLogger("livenode.node.durable_summary")

@dataclass
class DurableBooks:
    """What the database says the node did (see the module doc)."""

    source: str
    orders_by_status: Counter[str] = field(default_factory=Counter)
    fills: list[OrderFilled] = field(default_factory=list)
    # Signed net quantity per instrument, added up from the fills: per strategy.
    net_by_strategy: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    accounts: list[tuple[AccountState, AccountState]] = field(default_factory=list)
    # The position cycles the stored fills close (a flip closes one), by ts_closed.
    closed_positions: list[PositionClosed] = field(default_factory=list)
    # Every stored denial by its code, and rejection by its reason (as the run's
    # statistics count them): a restarted process's own counts start at zero.
    denials: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)

    def net(self, strategies: set[str] | None = None) -> dict[str, Decimal]:
        """Net quantity per instrument over ``strategies`` (None: all of them)."""
        out: dict[str, Decimal] = {}
        for (instrument, strategy), qty in self.net_by_strategy.items():
            if strategies is None or strategy in strategies:
                out[instrument] = out.get(instrument, Decimal(0)) + qty
        return out


def load_durable_books(config: TradingNodeConfig) -> DurableBooks | None:
    """Read the node's books back from its database; None without one.

    Raises:
        DatabaseError: the database cannot be read.
        LookupError: the Redis password's environment variable is not set.
    """
    if config.cache.database is None:
        return None
    database = build_cache_database(config)
    try:
        state = database.open()
    finally:
        database.close()
    return books_from_state(state, database.backend.describe())


def books_from_state(state: DatabaseState, source: str) -> DurableBooks:
    """`DurableBooks` of a loaded database state."""
    # Every order counts here: a cache bounded like the node's would forget old ones.
    cache = Cache(SimpleNamespace(max_closed_orders=len(state.order_events) + 1))
    restore_execution_state(cache, state)
    books = DurableBooks(source)
    for order in cache.orders():
        books.orders_by_status[STATUS_KEY[order.status]] += 1
    for event in state.order_events:
        kind = type(event)
        if kind is OrderDenied:
            books.denials[event.reason.split(":", 1)[0]] += 1
            continue
        if kind is OrderRejected:
            books.rejections[reason_key(event.reason)] += 1
            continue
        if kind is not OrderFilled:
            continue
        books.fills.append(event)
        key = (str(event.instrument_id), str(event.strategy_id))
        qty = event.last_qty.as_decimal()
        signed = qty if event.order_side is OrderSide.BUY else -qty
        books.net_by_strategy[key] = books.net_by_strategy.get(key, Decimal(0)) + signed
    books.accounts = [state.accounts[key] for key in sorted(state.accounts)]
    books.closed_positions = sorted(
        (cycle for position in cache.positions() for cycle in position.closed_cycles),
        key=lambda c: (c.ts_closed or 0, str(c.position_id)),
    )
    return books


def apply_durable_books(
    summary: dict[str, Any], books: DurableBooks, strategies: set[str] | None = None
) -> list[str]:
    """Put the durable books into ``summary`` and check them; return the mismatches.

    What the node reported in this run stays under ``summary["this_run"]``. The
    positions the node reported (net per instrument over ``strategies``; None: all,
    as a single-process node's portfolio holds them) must equal its fills' sum.
    """
    summary["this_run"] = {
        "orders": summary.get("orders"),
        "fills": len(summary.get("fills", [])),
        "accounts": summary.get("accounts"),
        "closed_positions": summary.get("closed_positions", []),
    }
    by_status = Counter(books.orders_by_status)
    # A risk denial reaches the execution engine, which stores it; the run's own
    # count is kept where it is higher (a denial whose store was still pending).
    by_status["denied"] = max(
        by_status["denied"], summary.get("orders", {}).get("by_status", {}).get("denied", 0))
    for key, stored in (("risk_denials", books.denials), ("rejections", books.rejections)):
        counted = Counter(summary.get(key) or {})
        summary[key] = {reason: max(stored[reason], counted[reason])
                        for reason in sorted(set(stored) | set(counted))}
    open_rows = summary.get("orders", {}).get("open", [])
    summary["orders"] = {"total": sum(by_status.values()), "by_status": dict(by_status),
                         "open": open_rows}
    summary["fills"] = [msgspec.to_builtins(fill_row(f)) for f in books.fills]
    summary["fills_truncated"] = False
    summary.setdefault("counters", {})["fills"] = len(books.fills)
    if books.accounts:
        summary["accounts"] = [msgspec.to_builtins(account_row(first, last))
                               for first, last in books.accounts]
    closed = [c for c in books.closed_positions
              if strategies is None or str(c.strategy_id) in strategies]
    summary["closed_positions"] = [msgspec.to_builtins(closed_position_row(c)) for c in closed]
    for row in summary.get("positions", []):
        iid = row["instrument_id"]
        row["closed_cycles"] = sum(1 for c in closed if str(c.instrument_id) == iid)
    summary["durable_source"] = books.source
    errors: list[str] = []
    from_fills = books.net(strategies)
    reported = {row["instrument_id"]: Decimal(row["net_quantity"])
                for row in summary.get("positions", [])}
    for instrument in sorted(set(from_fills) | set(reported)):
        fills_qty = from_fills.get(instrument, Decimal(0))
        reported_qty = reported.get(instrument, Decimal(0))
        if fills_qty != reported_qty:
            errors.append(
                f"position {instrument}: the node reported {reported_qty}, its fills in the "
                f"database add up to {fills_qty}"
            )
    summary["errors"] = summary.get("errors", []) + errors
    for error in errors:
        _log.error("summary: %s", error)
    return errors


def durable_summary(
    summary: dict[str, Any], config: TradingNodeConfig, strategies: set[str] | None = None
) -> list[str]:
    """`load_durable_books` then `apply_durable_books`; a database that cannot be read
    is itself the error (the books could not be checked)."""
    try:
        books = load_durable_books(config)
    except (DatabaseError, LookupError) as exc:
        error = f"the books could not be read back from the cache database: {exc}"
        summary["errors"] = [*summary.get("errors", []), error]
        _log.error("summary: %s", error)
        return [error]
    if books is None:
        return []
    return apply_durable_books(summary, books, strategies)


def database_errors(summary: dict[str, Any]) -> list[str]:
    """What the cache database's own state at the stop says against the run, added to
    ``summary["errors"]``: it lost the node's state and was not rewritten, or writes of
    the run were still not written when the node stopped. Either way the books it
    holds are not the node's, whatever they add up to."""
    database = summary.get("database") or {}
    state = database.get("state", "ok")
    errors: list[str] = []
    if state in ("halted", "lost"):
        errors.append(f"the cache database lost this node's state and it was not rewritten: "
                      f"{database.get('last_error') or database.get('last_loss')}")
    elif state != "ok" or database.get("pending"):
        errors.append(f"the cache database was {state} at the stop: "
                      f"{database.get('pending', 0)} write(s) of this run not written "
                      f"({database.get('last_error')})")
    summary["errors"] = [*summary.get("errors", []), *errors]
    for error in errors:
        _log.error("summary: %s", error)
    return errors
