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
import time
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from livenode.bus import topics
from livenode.core.latency import TailHistogram
from livenode.engines.reconciliation import EXTERNAL_STRATEGY_ID
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
from livenode.model.seen_events import SeenEvents
from livenode.node.position_rows import (
    closed_position_rows,
    external_position_rows,
    open_nets,
    position_rows,
)
from livenode.node.report_rows import (
    STATUS_KEY,
    account_row,
    exception_line,
    faults_fail_run,
    fill_row,
    open_order_row,
    pnl_by_strategy,
    reason_key,
    tick_to_trade_rows,
)
from livenode.node.run_report import (
    ORDER_STATUS_KEYS,
    TICK_TO_TRADE_QUANTILES,
    AccountRow,
    ClientsReport,
    Counters,
    DatabaseReport,
    FaultRow,
    FeedRow,
    Histogram,
    OrdersReport,
    PositionRow,
    RunReport,
    StrategyStateRow,
    TickToTrade,
    decimal_text,
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

#: Keys of `latency.tick_to_trade_ns.{client}` and the percentiles (0-100) they are.
LATENCY_QUANTILES = TICK_TO_TRADE_QUANTILES
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
        self._live_tick_to_trade: dict[str, TailHistogram] = {}
        self._seen_events = SeenEvents()

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
        if not self._seen_events.first_time(event):
            return  # heard again after a worker restart: counted once
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
                counts[STATUS_KEY.get(order.status, "accepted")] += 1
        return dict(counts)

    def open_positions(self) -> dict[str, Decimal]:
        """Net signed quantity per instrument, for the instruments not flat (of the
        positions this process reports: `livenode.node.position_rows`)."""
        return open_nets(self._kernel)

    def pnl_totals(self) -> dict[str, Decimal]:
        """Realized + unrealized PnL per currency over every instrument."""
        totals: dict[str, Decimal] = {}
        for row in self.positions().values():
            value = Decimal(row.realized_pnl) + Decimal(row.unrealized_pnl or 0)
            totals[row.currency] = totals.get(row.currency, Decimal(0)) + value
        return totals

    def positions(self) -> dict[str, PositionRow]:
        """Per instrument traded: net quantity, realized and unrealized PnL, of the
        positions this process reports (`livenode.node.position_rows.position_rows`)."""
        return position_rows(self._kernel)

    def external_positions(self) -> dict[str, PositionRow]:
        """Per instrument, the EXTERNAL positions: what an exec worker reports."""
        return external_position_rows(self._kernel)

    def pnl_by_strategy(self) -> dict[str, dict[str, str]]:
        """Realized + unrealized PnL per strategy and currency (`report_rows.pnl_by_strategy`)."""
        return pnl_by_strategy(self._kernel)

    def accounts(self) -> dict[str, AccountRow]:
        """Balances per account now, and as first reported (for the cash-flow check)."""
        return {key: account_row(self.initial_accounts[key], last)
                for key, last in sorted(self.last_accounts.items())}

    def strategy_states(self) -> dict[str, StrategyStateRow]:
        """Per strategy: state, counters, whether its managed stop timed out, and the
        positions it left open."""
        trader = self._kernel.trader
        if trader is None:
            return {}
        states = trader.counters()
        out = {}
        for strategy in trader.strategies():
            row = dict(states[str(strategy.id)])
            row["manage_stop_timed_out"] = bool(getattr(strategy, "manage_stop_timed_out", False))
            row["left_open"] = [
                {"instrument_id": str(p.instrument_id), "position_id": str(p.position_id),
                 "quantity": decimal_text(p.quantity), "reason": p.reason}
                for p in getattr(strategy, "left_open", ())
            ]
            row["on_fault"] = str(strategy.config.on_fault)
            row["last_error"] = exception_line(getattr(strategy, "last_error", None)) or None
            out[str(strategy.id)] = msgspec.convert(row, StrategyStateRow)
        return out

    def status(self) -> dict[str, Any]:
        """The few facts of a status line, JSON-ready (a worker sends them in heartbeats)."""
        return {
            "run_seconds": round(self.run_seconds, 3),
            "quotes": self.quotes,
            "trades": self.trades,
            "orders": self.orders_total,
            "fills": self.fill_count,
            "denied": sum(self.denials.values()),
            "trading_state": self.trading_state,
            "open_positions": {k: str(v) for k, v in self.open_positions().items()},
            "pnl": {k: str(v) for k, v in self.pnl_totals().items()},
            "database": self.database_status(),
            "stalled": self.stalled_orders,
            "halted_instruments": self.halted_instruments,
            "halted_venues": self.halted_venues,
            "faulted": sorted(self.faulted_strategies()),
            "stale": self.stale_feeds,
        }

    @property
    def trading_state(self) -> str | None:
        """The risk engine's global trading state (ACTIVE, REDUCING, HALTED); None in a
        process without a risk engine."""
        engine = self._kernel.risk_engine
        return engine.trading_state.value if engine is not None else None

    @property
    def stale_feeds(self) -> dict[str, float]:
        """Venues whose subscribed feed sent nothing for ``[data_engine] stale_after``
        seconds: seconds without a tick (empty where no data engine runs)."""
        engine = self._kernel.data_engine
        return engine.stale_venues() if engine is not None else {}

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
        status["fault"] = engine.database_fault if engine is not None else None
        status["trading"] = engine.database_trading if engine is not None else "ACTIVE"
        return status

    def report(self, *, live: bool = False) -> RunReport:
        """What this process observed, as far as its roles own it (a single-process
        node: everything). A worker of a multiprocess node reports only its share,
        so the supervisor's merge counts each fact once: a trader its strategies'
        orders, fills and positions, a data worker the market data, an exec worker
        the cache database and tick-to-trade; every process its engines, clients
        and account balances (the supervisor merges the exec workers' last).

        Args:
            live: the light report of a heartbeat: without the lists that grow
                with the run (fills, closed cycles, open orders) and without
                tick-to-trade (sorting the samples is the slow part).
        """
        kernel = self._kernel
        roles = kernel.roles
        trader, data, execution = "trader" in roles, "data" in roles, "exec" in roles
        database = self.database_status() if execution else None
        return RunReport(
            trader_id=str(kernel.trader_id),
            instance_id=kernel.instance_id,
            mode=kernel.config.mode,
            environment=kernel.config.environment,
            run_seconds=self.run_seconds,
            clients=ClientsReport(data=sorted(kernel.data_clients),
                                  exec=sorted(kernel.exec_clients)),
            strategies=[str(s.id) for s in kernel.strategies] if trader else [],
            database=None if database is None else msgspec.convert(database, DatabaseReport),
            strategy_states=self.strategy_states() if trader else {},
            counters=Counters(
                quotes=self.quotes if data else 0,
                trades=self.trades if data else 0,
                **({
                    "order_events": self.order_events,
                    "orders_created": self.orders_total,
                    "orders_submitted": self.orders_submitted,
                    "fills": self.fill_count,
                } if trader else {}),
            ),
            engines={type(engine).__name__: engine.counters() for engine in kernel.engines},
            orders=OrdersReport(
                by_status=self.orders_by_status(),
                open=[] if live else [open_order_row(o) for o in kernel.cache.orders()
                                      if o.status not in _CLOSED],
            ) if trader else OrdersReport(),
            risk_denials=dict(self.denials) if trader else {},
            rejections=dict(self.rejections) if trader else {},
            faulted_strategies={sid: FaultRow(**row)
                                for sid, row in self.faulted_strategies().items()},
            fills=[] if live else [fill_row(f) for f in self.fills] if trader
            else [fill_row(f) for f in self.fills
                  if f.strategy_id == EXTERNAL_STRATEGY_ID] if execution else [],
            fills_truncated=trader and not live and self.fill_count > len(self.fills),
            positions=self.positions() if trader
            else self.external_positions() if execution else {},
            pnl_by_strategy=self.pnl_by_strategy() if trader else {},
            closed_positions=[] if live or not trader else closed_position_rows(kernel),
            accounts=self.accounts(),
            tick_to_trade={} if live or not execution else self.tick_to_trade(),
            audit=kernel.exec_engine.last_audit
            if execution and kernel.exec_engine is not None else {},
            feeds={venue: FeedRow(stale=stale, seconds_without_data=idle)
                   for venue, (stale, idle) in kernel.data_engine.feeds().items()}
            if data and kernel.data_engine is not None else {},
        )

    def summary(self) -> dict[str, Any]:
        """`report` as the JSON-ready summary dict (see `livenode.cli.summary`)."""
        return self.report().to_dict()

    def tick_to_trade(self) -> dict[str, TickToTrade]:
        """Tick-to-trade latency per exec client that records it (`latency`)."""
        return tick_to_trade_rows(self._kernel.exec_clients)

    def live_tick_to_trade(self) -> dict[str, Histogram]:
        """Tick-to-trade so far per exec client that records it, as encoded histograms
        (for heartbeats and scrapes: the samples since the last call are recorded, ~1.5
        us each, and the percentiles are left to the reader, ~1 ms each)."""
        out: dict[str, Histogram] = {}
        for name, client in sorted(self._kernel.exec_clients.items()):
            samples = getattr(client, "latencies_ns", None)
            if samples is None:
                continue
            tail = self._live_tick_to_trade.get(name)
            if tail is None:
                tail = self._live_tick_to_trade[name] = TailHistogram()
            histogram = tail.catch_up(samples, getattr(client, "latency_count", len(samples)))
            if histogram.count:
                out[name] = Histogram.of(histogram)
        return out

    def latency(self) -> dict[str, Any]:
        """Tick-to-trade percentiles (ns) per exec client that records them.

        ``{"tick_to_trade_ns": {client: {"samples", "p50", "p90", "p99", "p99.9",
        "max"}}}``: from a quote entering the node to its order leaving the exec
        client (``latencies_ns`` / ``latency_percentiles`` of the client, e.g. the
        sim one). Clients without samples are left out.
        """
        return {"tick_to_trade_ns": {name: row.to_dict()
                                     for name, row in self.tick_to_trade().items()}}


_TERMINAL_EVENTS = {
    "OrderCanceled": "canceled",
    "OrderExpired": "expired",
}
