"""The rows of a `RunReport` built from the model's objects and events."""

from __future__ import annotations

import re
import traceback
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from livenode.core.latency import LatencyHistogram
from livenode.model.enums import OrderStatus
from livenode.model.events import AccountState, OrderFilled
from livenode.node.kernel import ALL_ROLES
from livenode.node.run_report import (
    TICK_TO_TRADE_QUANTILES,
    AccountRow,
    BalanceRow,
    ClosedPositionRow,
    FillRow,
    Histogram,
    OpenOrderRow,
    TickToTrade,
    decimal_text,
)

if TYPE_CHECKING:
    from livenode.node.kernel import Kernel

__all__ = [
    "STATUS_KEY",
    "account_row",
    "balance_row",
    "closed_position_row",
    "exception_line",
    "faults_fail_run",
    "fill_row",
    "money_text",
    "open_order_row",
    "pnl_by_strategy",
    "reason_key",
    "tick_to_trade_rows",
]

#: The summary's `orders.by_status` key of each order status.
STATUS_KEY = {
    OrderStatus.INITIALIZED: "submitted",
    OrderStatus.SUBMITTED: "submitted",
    OrderStatus.ACCEPTED: "accepted",
    OrderStatus.PENDING_UPDATE: "accepted",
    OrderStatus.PENDING_CANCEL: "accepted",
    OrderStatus.TRIGGERED: "accepted",
    OrderStatus.PARTIALLY_FILLED: "partially_filled",
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.EXPIRED: "expired",
    OrderStatus.REJECTED: "rejected",
    OrderStatus.DENIED: "denied",
}


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value))


def money_text(value: Any) -> str:
    """A `Money` as its plain decimal text."""
    return decimal_text(value.as_decimal())


def _float_text(value: float | None) -> str | None:
    """A reported float (average prices) as its shortest decimal text."""
    return None if value is None else decimal_text(Decimal(repr(value)))


def balance_row(balance: Any) -> BalanceRow:
    """A balance as decimal strings."""
    return BalanceRow(
        currency=str(balance.total.currency.code),
        total=money_text(balance.total),
        locked=money_text(balance.locked),
        free=money_text(balance.free),
    )


def account_row(first: AccountState, last: AccountState) -> AccountRow:
    """An account's balances now and as first reported."""
    return AccountRow(
        account_id=str(last.account_id),
        account_type=_enum_name(last.account_type),
        balances=[balance_row(b) for b in last.balances],
        initial_balances=[balance_row(b) for b in first.balances],
    )


def closed_position_row(event: Any) -> ClosedPositionRow:
    """A closed position cycle (its `PositionClosed` snapshot) as a row."""
    entry = event.entry
    return ClosedPositionRow(
        instrument_id=str(event.instrument_id),
        strategy_id=str(event.strategy_id),
        position_id=str(event.position_id),
        side=None if entry is None else ("LONG" if entry.value == "BUY" else "SHORT"),
        peak_qty=None if event.peak_qty is None else decimal_text(event.peak_qty.as_decimal()),
        avg_px_open=_float_text(event.avg_px_open),
        avg_px_close=_float_text(event.avg_px_close),
        realized_pnl=money_text(event.realized_pnl),
        commissions=money_text(event.commissions),
        currency=str(event.realized_pnl.currency.code),
        opening_order_id=str(event.opening_order_id),
        closing_order_id=None if event.closing_order_id is None
        else str(event.closing_order_id),
        ts_opened=event.ts_opened,
        ts_closed=event.ts_closed,
    )


def fill_row(fill: OrderFilled) -> FillRow:
    """A fill as a row (decimal strings keep it exact)."""
    return FillRow(
        instrument_id=str(fill.instrument_id),
        strategy_id=str(fill.strategy_id),
        client_order_id=str(fill.client_order_id),
        venue_order_id=str(fill.venue_order_id),
        trade_id=str(fill.trade_id),
        side=_enum_name(fill.order_side),
        quantity=decimal_text(fill.last_qty.as_decimal()),
        price=decimal_text(fill.last_px.as_decimal()),
        currency=str(fill.currency.code),
        commission=money_text(fill.commission),
        commission_currency=str(fill.commission.currency.code),
        liquidity_side=_enum_name(fill.liquidity_side),
        ts_event=fill.ts_event,
    )


def open_order_row(order: Any) -> OpenOrderRow:
    """An order not closed yet."""
    return OpenOrderRow(
        client_order_id=str(order.client_order_id),
        instrument_id=str(order.instrument_id),
        strategy_id=str(order.strategy_id),
        side=_enum_name(order.side),
        order_type=_enum_name(order.order_type),
        status=_enum_name(order.status),
        quantity=decimal_text(order.quantity.as_decimal()),
        filled_qty=decimal_text(order.filled_qty.as_decimal()),
    )


def tick_to_trade_rows(exec_clients: dict[str, Any]) -> dict[str, TickToTrade]:
    """Tick-to-trade latency per exec client that records it: the client's own
    percentiles of its ``latencies_ns`` samples (``latency_percentiles``), and the
    samples' histogram for merging. Clients without samples are left out."""
    per_client: dict[str, TickToTrade] = {}
    for name, client in sorted(exec_clients.items()):
        samples = getattr(client, "latencies_ns", None)
        percentiles = getattr(client, "latency_percentiles", None)
        if not samples or percentiles is None:
            continue
        values = percentiles(*TICK_TO_TRADE_QUANTILES.values())
        histogram = LatencyHistogram()
        for ns in samples:
            histogram.record(ns)
        per_client[name] = TickToTrade(
            samples=len(samples),
            p50=int(values[50.0]),
            p90=int(values[90.0]),
            p99=int(values[99.0]),
            p99_9=int(values[99.9]),
            max=int(values[100.0]),
            histogram=Histogram.of(histogram),
        )
    return per_client


_REASON_DETAIL = re.compile(r"\s*[:(].*\Z", re.S)


def reason_key(reason: str) -> str:
    """What a rejection is counted by: its reason without the details (amounts, ids
    after a colon or in parentheses): ``"insufficient balance (need 5, free 1)"`` →
    ``"insufficient balance"``, ``"ORDER_CLOSED: order is closed"`` → ``"ORDER_CLOSED"``."""
    key = _REASON_DETAIL.sub("", reason).strip()
    return key or reason.strip() or "(no reason)"


def exception_line(exc: BaseException | None) -> str:
    """The last line of an exception as a traceback prints it (``RuntimeError: boom``)."""
    if exc is None:
        return ""
    lines = traceback.format_exception_only(type(exc), exc)
    return lines[-1].strip() if lines else type(exc).__name__


def faults_fail_run(faulted: dict[str, dict[str, str]]) -> list[str]:
    """The faulted strategies that make the run fail (``on_fault`` other than "continue")."""
    return sorted(sid for sid, row in faulted.items() if row.get("on_fault") != "continue")


def pnl_by_strategy(kernel: Kernel) -> dict[str, dict[str, str]]:
    """Realized + unrealized PnL per strategy and currency (unmarked positions: 0):
    this process's strategies, and in a single-process node also any other
    strategy id holding a position (e.g. EXTERNAL, found at reconciliation)."""
    portfolio, trader = kernel.portfolio, kernel.trader
    if portfolio is None or trader is None:
        return {}
    strategy_ids = {str(s.id): s.id for s in trader.strategies()}
    if kernel.roles == ALL_ROLES:
        strategy_ids.update({str(p.strategy_id): p.strategy_id
                             for p in kernel.cache.positions()})
    out: dict[str, dict[str, str]] = {}
    instruments = list(kernel.cache.instrument_ids())
    for key, strategy_id in sorted(strategy_ids.items()):
        totals: dict[str, Decimal] = {}
        for instrument_id in instruments:
            realized = portfolio.realized_pnl(instrument_id, strategy_id)
            if realized is None:
                continue
            unrealized = portfolio.unrealized_pnl(instrument_id, strategy_id)
            value = realized.as_decimal() + (
                unrealized.as_decimal() if unrealized is not None else Decimal(0))
            ccy = str(realized.currency.code)
            totals[ccy] = totals.get(ccy, Decimal(0)) + value
        out[key] = {ccy: decimal_text(v) for ccy, v in totals.items()}
    return out
