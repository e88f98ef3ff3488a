"""`NodeStats`: the facts of one run, for the CLI's status lines and final summary.

It follows the bus as any other subscriber would (order and account events,
quote and trade counts) and reads the cache and the portfolio when asked, so it
holds no reference into an engine's internals. What it keeps is bounded: fills
up to `max_fills` (the count goes on; the summary says when the list was cut),
one initial account state per account.

An order's *final status* is counted when the event that closes it arrives
(denied, rejected, canceled, expired, or the fill that completes it); orders
still open at the end are counted by their status then. So the counts stay
right even after the cache purged closed orders.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from livenode.bus import topics
from livenode.engines.risk_checks import net_position_from_cache
from livenode.model.enums import ComponentState, OrderStatus
from livenode.model.events import (
    AccountState,
    OrderCancelRejected,
    OrderDenied,
    OrderFilled,
    OrderInitialized,
    OrderModifyRejected,
    OrderRejected,
    OrderSubmitted,
)

if TYPE_CHECKING:
    from livenode.node.kernel import Kernel

__all__ = [
    "LATENCY_QUANTILES",
    "ORDER_STATUS_KEYS",
    "NodeStats",
    "exception_line",
    "faults_fail_run",
    "reason_key",
]

# Orders refused (venue rejections, risk denials) and fills, one INFO line each.
_orders_log = logging.getLogger("livenode.orders")

# Keys of `orders.by_status` in the summary, in the order the table shows them.
ORDER_STATUS_KEYS = (
    "submitted",
    "accepted",
    "partially_filled",
    "filled",
    "canceled",
    "expired",
    "rejected",
    "denied",
)
# Keys of `latency.tick_to_trade_ns.{client}` and the percentiles (0-100) they are.
LATENCY_QUANTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9, "max": 100.0}
_STATUS_KEY = {
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
_CLOSED = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
        OrderStatus.DENIED,
    }
)


class NodeStats:
    """Counts and records what a run did.

    Args:
        kernel: the kernel whose bus, cache and portfolio are observed.
        max_fills: fills kept for the summary (each one is checked by tests
            against the position arithmetic); further fills are only counted.
    """

    def __init__(self, kernel: Kernel, max_fills: int = 100_000) -> None:
        self._kernel = kernel
        self._max_fills = max_fills
        self.quotes = 0
        self.trades = 0
        self.order_events = 0
        self.orders_initialized = 0
        self.orders_submitted = 0
        self.fill_count = 0
        self.fills: list[OrderFilled] = []
        self.final_status: Counter[str] = Counter()
        self.denials: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()
        # Logged where the strategies live (one line per event in a multiprocess node).
        self._log_orders = kernel.trader is not None
        self._log_fills = self._log_orders and kernel.config.logging.log_fills
        self.initial_accounts: dict[str, AccountState] = {}
        self.last_accounts: dict[str, AccountState] = {}
        self._subscribed = False
        self._started_at: float | None = None
        self._stopped_at: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe to the bus (before any client connects, so nothing is missed)."""
        if self._subscribed:
            return
        bus = self._kernel.msgbus
        # Lowest priority: observers run after the components that act on a message.
        bus.subscribe(topics.ALL_QUOTES, self._on_quote, priority=-100)
        bus.subscribe(topics.ALL_TRADES, self._on_trade, priority=-100)
        bus.subscribe(topics.ALL_ORDER_EVENTS, self._on_order_event, priority=-100)
        bus.subscribe(topics.ALL_ACCOUNT_EVENTS, self._on_account_state, priority=-100)
        self._subscribed = True
        self._started_at = time.monotonic()

    def stop(self) -> None:
        """Freeze the run time (counters stay readable)."""
        if self._started_at is not None and self._stopped_at is None:
            self._stopped_at = time.monotonic()

    def close(self) -> None:
        """Unsubscribe from the bus; idempotent."""
        if not self._subscribed:
            return
        bus = self._kernel.msgbus
        bus.unsubscribe(topics.ALL_QUOTES, self._on_quote)
        bus.unsubscribe(topics.ALL_TRADES, self._on_trade)
        bus.unsubscribe(topics.ALL_ORDER_EVENTS, self._on_order_event)
        bus.unsubscribe(topics.ALL_ACCOUNT_EVENTS, self._on_account_state)
        self._subscribed = False

    def faulted_strategies(self) -> dict[str, dict[str, str]]:
        """FAULTED strategies: the last line of the exception and their ``on_fault``."""
        trader = self._kernel.trader
        if trader is None:
            return {}
        return {
            str(s.id): {
                "error": exception_line(getattr(s, "last_error", None)),
                "on_fault": str(s.config.on_fault),
            }
            for s in trader.strategies()
            if s.state is ComponentState.FAULTED
        }

    @property
    def orders_total(self) -> int:
        """Orders created so far: submitted to a venue or denied before it."""
        # OrderInitialized may or may not travel on the bus; every order that left
        # a strategy is either submitted or denied, so count those when larger.
        return max(self.orders_initialized, self.orders_submitted + self.final_status["denied"])

    @property
    def run_seconds(self) -> float:
        """Seconds since `start` (until `stop`)."""
        if self._started_at is None:
            return 0.0
        end = self._stopped_at if self._stopped_at is not None else time.monotonic()
        return end - self._started_at

    # -- handlers (hot path: counters only, no formatting) ------------------------------------

    def _on_quote(self, _quote: Any) -> None:
        self.quotes += 1

    def _on_trade(self, _trade: Any) -> None:
        self.trades += 1

    def _on_order_event(self, event: Any) -> None:
        self.order_events += 1
        if isinstance(event, OrderFilled):
            self.fill_count += 1
            if len(self.fills) < self._max_fills:
                self.fills.append(event)
            order = self._kernel.cache.order(event.client_order_id)
            if order is not None and order.status is OrderStatus.FILLED:
                self.final_status["filled"] += 1
            if self._log_fills:
                _orders_log.info(
                    "fill %s %s %s %s @ %s %s (%s, commission %s) %s",
                    event.strategy_id,
                    event.client_order_id,
                    event.order_side.value,
                    event.last_qty,
                    event.last_px,
                    event.instrument_id,
                    event.liquidity_side.value,
                    event.commission,
                    event.trade_id,
                )
            return
        if isinstance(event, OrderInitialized):
            self.orders_initialized += 1
            return
        if isinstance(event, OrderSubmitted):
            self.orders_submitted += 1
            return
        if isinstance(event, OrderDenied):
            # By code ("SUBMIT_RATE_EXCEEDED"), not the detail text with its amounts.
            self.denials[event.reason.split(":", 1)[0]] += 1
            self.final_status["denied"] += 1
            if self._log_orders:
                _orders_log.info(
                    "denied %s %s %s: %s",
                    event.strategy_id, event.client_order_id, event.instrument_id, event.reason,
                )
            return
        if isinstance(event, OrderRejected):
            self.rejections[reason_key(event.reason)] += 1
            self.final_status["rejected"] += 1
            if self._log_orders:
                _orders_log.info(
                    "rejected %s %s %s: %s",
                    event.strategy_id, event.client_order_id, event.instrument_id, event.reason,
                )
            return
        if isinstance(event, (OrderModifyRejected, OrderCancelRejected)):
            if self._log_orders:
                what = "modify" if isinstance(event, OrderModifyRejected) else "cancel"
                _orders_log.info(
                    "%s rejected %s %s %s: %s",
                    what, event.strategy_id, event.client_order_id, event.instrument_id,
                    event.reason,
                )
            return
        key = _TERMINAL_EVENTS.get(type(event).__name__)
        if key is not None:
            self.final_status[key] += 1

    def _on_account_state(self, state: Any) -> None:
        if not isinstance(state, AccountState):
            return
        key = str(state.account_id)
        self.initial_accounts.setdefault(key, state)
        self.last_accounts[key] = state

    # -- reading -----------------------------------------------------------------------------

    def orders_by_status(self) -> dict[str, int]:
        """Final status counts plus the orders still open, by status."""
        counts = Counter({key: 0 for key in ORDER_STATUS_KEYS})
        counts.update(self.final_status)
        # Closed orders were counted by their closing event (the cache may have
        # purged them); only the orders still open are read from the cache.
        for order in self._kernel.cache.orders():
            if order.status not in _CLOSED:
                counts[_STATUS_KEY.get(order.status, "accepted")] += 1
        return dict(counts)

    def open_positions(self) -> dict[str, Decimal]:
        """Net signed quantity per instrument, for the instruments not flat."""
        portfolio = self._kernel.portfolio
        if portfolio is None:
            return {}
        nets = {}
        for instrument_id in self._kernel.cache.instrument_ids():
            net = self._net(instrument_id)
            if net != 0:
                nets[str(instrument_id)] = net
        return nets

    def pnl_totals(self) -> dict[str, Decimal]:
        """Realized + unrealized PnL per currency over every instrument."""
        totals: dict[str, Decimal] = {}
        for row in self.positions():
            currency = row["currency"]
            value = Decimal(row["realized_pnl"]) + Decimal(row["unrealized_pnl"] or 0)
            totals[currency] = totals.get(currency, Decimal(0)) + value
        return totals

    def positions(self) -> list[dict[str, Any]]:
        """One row per instrument traded: net quantity, realized and unrealized PnL.

        Read from the portfolio (which follows position events on the bus), so
        realized PnL is net of commissions, as the positions report it; unrealized
        PnL is marked at the latest quote (None when there is none). Realized PnL
        is the lifetime total, every cycle; ``closed_cycles`` counts the cycles
        closed (listed in `closed_positions`).
        """
        portfolio = self._kernel.portfolio
        if portfolio is None:
            return []
        rows = []
        for instrument_id in self._kernel.cache.instrument_ids():
            realized = portfolio.realized_pnl(instrument_id)
            if realized is None:
                continue  # never traded
            unrealized = portfolio.unrealized_pnl(instrument_id)
            closed = len(portfolio.closed_positions(instrument_id))
            rows.append(
                {
                    "instrument_id": str(instrument_id),
                    "net_quantity": _decimal_text(self._net(instrument_id)),
                    "realized_pnl": _money(realized),
                    "unrealized_pnl": None if unrealized is None else _money(unrealized),
                    "currency": str(realized.currency.code),
                    "closed_cycles": closed,
                }
            )
        return sorted(rows, key=lambda r: r["instrument_id"])

    def _net(self, instrument_id: Any) -> Decimal:
        # From the cache, which applies each fill to its position before any handler
        # runs (the execution engine, or a trader worker's mirror): what the
        # strategies saw. The portfolio follows the position events, which may still
        # be on the bus when a trader worker reports at its stop.
        return net_position_from_cache(self._kernel.cache, instrument_id)

    def closed_positions(self) -> list[dict[str, Any]]:
        """One row per closed position cycle (flat to flat; a flip closes one), oldest
        first: what the portfolio heard on the bus (its last `MAX_CLOSED_KEPT`)."""
        portfolio = self._kernel.portfolio
        if portfolio is None:
            return []
        return [closed_position_row(event) for event in portfolio.closed_positions()]

    def accounts(self) -> list[dict[str, Any]]:
        """Balances per account now, and as first reported (for the cash-flow check)."""
        return [account_row(self.initial_accounts[key], last)
                for key, last in sorted(self.last_accounts.items())]

    def open_orders(self) -> list[dict[str, Any]]:
        """Orders not closed at the time of asking (after a stop: left working at a venue)."""
        return [
            {
                "client_order_id": str(order.client_order_id),
                "instrument_id": str(order.instrument_id),
                "strategy_id": str(order.strategy_id),
                "side": _enum_name(order.side),
                "order_type": _enum_name(order.order_type),
                "status": _enum_name(order.status),
                "quantity": _decimal_text(order.quantity.as_decimal()),
                "filled_qty": _decimal_text(order.filled_qty.as_decimal()),
            }
            for order in self._kernel.cache.orders()
            if order.status not in _CLOSED
        ]

    def strategy_states(self) -> dict[str, dict[str, Any]]:
        """Per strategy: state, counters, and whether its managed stop timed out."""
        trader = self._kernel.trader
        if trader is None:
            return {}
        states = trader.counters()
        for strategy in trader.strategies():
            row = states[str(strategy.id)]
            row["manage_stop_timed_out"] = bool(getattr(strategy, "manage_stop_timed_out", False))
            row["on_fault"] = str(strategy.config.on_fault)
            row["last_error"] = exception_line(getattr(strategy, "last_error", None)) or None
        return states

    def fill_rows(self) -> list[dict[str, Any]]:
        """The recorded fills as JSON-ready rows (decimal strings keep them exact)."""
        return [fill_row(fill) for fill in self.fills]

    def status(self) -> dict[str, Any]:
        """The few facts of a status line, JSON-ready (a worker sends them in heartbeats)."""
        return {
            "run_seconds": round(self.run_seconds, 3),
            "quotes": self.quotes,
            "trades": self.trades,
            "orders": self.orders_total,
            "fills": self.fill_count,
            "open_positions": {k: str(v) for k, v in self.open_positions().items()},
            "pnl": {k: str(v) for k, v in self.pnl_totals().items()},
            "database": self.database_status(),
            "stalled": self.stalled_orders,
            "halted_instruments": self.halted_instruments,
            "halted_venues": self.halted_venues,
            "faulted": sorted(self.faulted_strategies()),
        }

    @property
    def stalled_orders(self) -> int:
        """Orders in flight past the execution engine's `inflight_timeout` (0 without one)."""
        engine = self._kernel.exec_engine
        return engine.stalled if engine is not None else 0

    @property
    def halted_venues(self) -> dict[str, str]:
        """Venues whose new orders are denied: the client's session is down, or not
        reconciled since it came back. With the reason."""
        engine = self._kernel.exec_engine
        return engine.halted_venues() if engine is not None else {}

    @property
    def halted_instruments(self) -> dict[str, str]:
        """Instruments whose new orders are denied for a position mismatch, with why."""
        engine = self._kernel.exec_engine
        return engine.halted_instruments() if engine is not None else {}

    def database_status(self) -> dict[str, Any] | None:
        """The cache database writer's state (None without a database), with the
        trading restriction it causes while it cannot write."""
        kernel = self._kernel
        if kernel.database is None:
            return None
        status = kernel.database.status().to_dict()
        engine = kernel.exec_engine
        fault = engine.database_fault if engine is not None else None
        status["fault"] = fault
        status["trading"] = (
            "ACTIVE" if fault is None else kernel.config.cache.database.on_failure  # type: ignore[union-attr]
        )
        return status

    def summary(self) -> dict[str, Any]:
        """Everything above in one JSON-ready dict (see `livenode.cli.summary`)."""
        kernel = self._kernel
        by_status = self.orders_by_status()
        return {
            "trader_id": str(kernel.trader_id),
            "instance_id": kernel.instance_id,
            "mode": kernel.config.mode,
            "environment": kernel.config.environment,
            "run_seconds": round(self.run_seconds, 3),
            "clients": {
                "data": sorted(kernel.data_clients),
                "exec": sorted(kernel.exec_clients),
            },
            "strategies": [str(s.id) for s in kernel.strategies],
            "database": self.database_status(),
            "strategy_states": self.strategy_states(),
            "counters": {
                "quotes": self.quotes,
                "trades": self.trades,
                "order_events": self.order_events,
                # Orders the strategies created: submitted to a venue or denied before.
                "orders_created": self.orders_total,
                "orders_submitted": self.orders_submitted,
                "fills": self.fill_count,
            },
            "engines": {
                type(engine).__name__: engine.counters() for engine in kernel.engines
            },
            "orders": {
                "total": sum(by_status.values()),
                "by_status": by_status,
                "open": self.open_orders(),
            },
            "risk_denials": dict(self.denials),
            "rejections": dict(self.rejections),
            "faulted_strategies": self.faulted_strategies(),
            "fills": self.fill_rows(),
            "fills_truncated": self.fill_count > len(self.fills),
            "positions": self.positions(),
            "closed_positions": self.closed_positions(),
            "accounts": self.accounts(),
            "latency": self.latency(),
        }

    def latency(self) -> dict[str, Any]:
        """Tick-to-trade percentiles (ns) per exec client that records them.

        ``{"tick_to_trade_ns": {client: {"samples", "p50", "p90", "p99", "p99.9",
        "max"}}}``: from a quote entering the node to its order leaving the exec
        client (``latencies_ns`` / ``latency_percentiles`` of the client, e.g. the
        sim one). Clients without samples are left out.
        """
        per_client: dict[str, dict[str, int]] = {}
        for name, client in sorted(self._kernel.exec_clients.items()):
            samples = getattr(client, "latencies_ns", None)
            percentiles = getattr(client, "latency_percentiles", None)
            if not samples or percentiles is None:
                continue
            values = percentiles(*LATENCY_QUANTILES.values())
            row = {"samples": len(samples)}
            row.update({key: int(values[q]) for key, q in LATENCY_QUANTILES.items()})
            per_client[name] = row
        return {"tick_to_trade_ns": per_client}


_TERMINAL_EVENTS = {
    "OrderCanceled": "canceled",
    "OrderExpired": "expired",
}


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


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value))


def _money(value: Any) -> str:
    return _decimal_text(value.as_decimal())


def _decimal_text(value: Decimal) -> str:
    """Plain notation ("0.00000000", never "0E-8"), all digits kept."""
    return format(value, "f")


def balance_row(balance: Any) -> dict[str, str]:
    """A balance as JSON-ready decimal strings."""
    return {
        "currency": str(balance.total.currency.code),
        "total": _money(balance.total),
        "locked": _money(balance.locked),
        "free": _money(balance.free),
    }


def account_row(first: AccountState, last: AccountState) -> dict[str, Any]:
    """An account's balances now and as first reported, JSON-ready."""
    return {
        "account_id": str(last.account_id),
        "account_type": _enum_name(last.account_type),
        "balances": [balance_row(b) for b in last.balances],
        "initial_balances": [balance_row(b) for b in first.balances],
    }


def _float_text(value: float | None) -> str | None:
    """A reported float (average prices) as its shortest decimal text."""
    return None if value is None else _decimal_text(Decimal(repr(value)))


def closed_position_row(event: Any) -> dict[str, Any]:
    """A closed position cycle (its `PositionClosed` snapshot) as a JSON-ready row."""
    entry = event.entry
    return {
        "instrument_id": str(event.instrument_id),
        "strategy_id": str(event.strategy_id),
        "position_id": str(event.position_id),
        "side": None if entry is None else ("LONG" if entry.value == "BUY" else "SHORT"),
        "peak_qty": None if event.peak_qty is None
        else _decimal_text(event.peak_qty.as_decimal()),
        "avg_px_open": _float_text(event.avg_px_open),
        "avg_px_close": _float_text(event.avg_px_close),
        "realized_pnl": _money(event.realized_pnl),
        "commissions": _money(event.commissions),
        "currency": str(event.realized_pnl.currency.code),
        "opening_order_id": str(event.opening_order_id),
        "closing_order_id": None if event.closing_order_id is None
        else str(event.closing_order_id),
        "ts_opened": event.ts_opened,
        "ts_closed": event.ts_closed,
    }


def fill_row(fill: OrderFilled) -> dict[str, Any]:
    """A fill as a JSON-ready row (decimal strings keep it exact)."""
    return {
        "instrument_id": str(fill.instrument_id),
        "strategy_id": str(fill.strategy_id),
        "client_order_id": str(fill.client_order_id),
        "venue_order_id": str(fill.venue_order_id),
        "trade_id": str(fill.trade_id),
        "side": _enum_name(fill.order_side),
        "quantity": _decimal_text(fill.last_qty.as_decimal()),
        "price": _decimal_text(fill.last_px.as_decimal()),
        "currency": str(fill.currency.code),
        "commission": _money(fill.commission),
        "commission_currency": str(fill.commission.currency.code),
        "liquidity_side": _enum_name(fill.liquidity_side),
        "ts_event": fill.ts_event,
    }
