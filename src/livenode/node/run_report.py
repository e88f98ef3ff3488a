"""`RunReport`: the facts of one run as typed, mergeable msgspec structs.

Every process that runs components builds one from what it observed
(`livenode.node.stats.NodeStats.report`): a single-process node reports the
whole run, a worker of a multiprocess node the part its roles own. A worker
sends its report to the supervisor msgpack-encoded (`encode_report` /
`decode_report`, never pickle): a light one with its heartbeats, the full one
with its stop acknowledgement. The supervisor folds them together with
`RunReport.merge`, and `RunReport.to_dict` turns the result into the JSON-ready
summary the CLI prints and ``--summary-json`` writes (its keys are a public
format: see ``docs/metrics.md``).

`merge` is associative (``a.merge(b).merge(c) == a.merge(b.merge(c))``), so
reports can be folded in any grouping: counters add, per-strategy,
per-instrument and per-account maps are unioned (a key in both: numbers add,
histograms merge, otherwise the right-hand row wins), lists are concatenated,
and latency histograms (HdrHistograms, encoded) merge exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from livenode.core.latency import LatencyHistogram
from livenode.engines.audit import VenueAudit, books_match, verdict_text, verdicts_to_builtins

__all__ = [
    "ORDER_STATUS_KEYS",
    "TICK_TO_TRADE_QUANTILES",
    "AccountRow",
    "BalanceRow",
    "ClientsReport",
    "ClosedPositionRow",
    "Counters",
    "DatabaseReport",
    "FaultRow",
    "FeedRow",
    "FillRow",
    "Histogram",
    "LeftOpenRow",
    "OpenOrderRow",
    "OrdersReport",
    "PositionRow",
    "RunReport",
    "StrategyStateRow",
    "TickToTrade",
    "decimal_text",
    "decode_report",
    "encode_report",
]

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
# The statuses an order never leaves (a dead worker's count of them is final).
_FINAL_STATUS = frozenset({"filled", "canceled", "expired", "rejected", "denied"})
#: Keys of `latency.tick_to_trade_ns.{client}` and the percentiles (0-100) they are.
TICK_TO_TRADE_QUANTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9, "max": 100.0}


class _Row(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the report's rows: frozen, keyword-only."""


S = TypeVar("S", bound=_Row)
V = TypeVar("V")


def decimal_text(value: Decimal) -> str:
    """Plain notation ("0.00000000", never "0E-8"), all digits kept."""
    return format(value, "f")


def _add_text(a: str, b: str) -> str:
    return decimal_text(Decimal(a) + Decimal(b))


def _add_ints(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


def _union(a: dict[str, V], b: dict[str, V]) -> dict[str, V]:
    """Right wins on a key in both (last writer wins: associative)."""
    return {**a, **b}


def _ordered_union(a: list[str], b: list[str]) -> list[str]:
    return list(dict.fromkeys([*a, *b]))


def _last(a: str, b: str) -> str:
    return b or a


class Counters(_Row, frozen=True, kw_only=True):
    """What a process counted; each one adds up over processes."""

    quotes: int = 0
    trades: int = 0
    order_events: int = 0
    # Orders the strategies created: submitted to a venue or denied before.
    orders_created: int = 0
    orders_submitted: int = 0
    fills: int = 0

    def merge(self, other: Counters) -> Counters:
        """Field by field sum."""
        return Counters(**{f: getattr(self, f) + getattr(other, f)
                           for f in self.__struct_fields__})


class OpenOrderRow(_Row, frozen=True, kw_only=True):
    """An order not closed when the report was made."""

    client_order_id: str
    instrument_id: str
    strategy_id: str
    side: str
    order_type: str
    status: str
    quantity: str
    filled_qty: str


class OrdersReport(_Row, frozen=True, kw_only=True):
    """Orders by final status (open ones by their status at the time), and the open ones."""

    by_status: dict[str, int] = {}
    open: list[OpenOrderRow] = []

    @property
    def total(self) -> int:
        """Every order counted in `by_status`."""
        return sum(self.by_status.values())

    def merge(self, other: OrdersReport) -> OrdersReport:
        """Status counts add; open orders are listed together."""
        return OrdersReport(by_status=_add_ints(self.by_status, other.by_status),
                            open=[*self.open, *other.open])


class FillRow(_Row, frozen=True, kw_only=True):
    """A fill (decimal strings keep it exact)."""

    instrument_id: str
    strategy_id: str
    client_order_id: str
    venue_order_id: str
    trade_id: str
    side: str
    quantity: str
    price: str
    currency: str
    commission: str
    commission_currency: str
    liquidity_side: str
    ts_event: int


class PositionRow(_Row, frozen=True, kw_only=True):
    """An instrument traded: net quantity, lifetime realized PnL (net of commissions),
    unrealized PnL at the latest quote (None without one), closed cycles."""

    instrument_id: str
    net_quantity: str
    realized_pnl: str
    unrealized_pnl: str | None
    currency: str
    closed_cycles: int = 0

    def merge(self, other: PositionRow) -> PositionRow:
        """Two processes' strategies on one instrument: their quantities and PnL add."""
        if self.unrealized_pnl is None or other.unrealized_pnl is None:
            unrealized = self.unrealized_pnl if other.unrealized_pnl is None \
                else other.unrealized_pnl
        else:
            unrealized = _add_text(self.unrealized_pnl, other.unrealized_pnl)
        return PositionRow(
            instrument_id=self.instrument_id,
            net_quantity=_add_text(self.net_quantity, other.net_quantity),
            realized_pnl=_add_text(self.realized_pnl, other.realized_pnl),
            unrealized_pnl=unrealized,
            currency=self.currency,
            closed_cycles=self.closed_cycles + other.closed_cycles,
        )


class ClosedPositionRow(_Row, frozen=True, kw_only=True):
    """A closed position cycle (flat to flat; a flip closes one)."""

    instrument_id: str
    strategy_id: str
    position_id: str
    side: str | None
    peak_qty: str | None
    avg_px_open: str | None
    avg_px_close: str | None
    realized_pnl: str
    commissions: str
    currency: str
    opening_order_id: str
    closing_order_id: str | None
    ts_opened: int
    ts_closed: int | None


class BalanceRow(_Row, frozen=True, kw_only=True):
    """One currency's balance, as decimal strings."""

    currency: str
    total: str
    locked: str
    free: str


class AccountRow(_Row, frozen=True, kw_only=True):
    """An account's balances now, and as first reported (for the cash-flow check)."""

    account_id: str
    account_type: str
    balances: list[BalanceRow]
    initial_balances: list[BalanceRow]


class FaultRow(_Row, frozen=True, kw_only=True):
    """A FAULTED strategy: the last line of its exception and its ``on_fault``."""

    error: str
    on_fault: str


class LeftOpenRow(_Row, frozen=True, kw_only=True):
    """A position a strategy's managed stop left open: signed quantity (decimal text)
    and why (``dust: ...``, or why it was not flattened)."""

    instrument_id: str
    position_id: str
    quantity: str
    reason: str


class StrategyStateRow(_Row, frozen=True, kw_only=True):
    """A strategy's state and counters, whether its managed stop timed out, and the
    positions that stop left open."""

    state: str
    events_handled: int = 0
    error_count: int = 0
    orders_submitted: int = 0
    orders_refused: int = 0
    commands_sent: int = 0
    manage_stop_timed_out: bool = False
    on_fault: str = ""
    last_error: str | None = None
    left_open: list[LeftOpenRow] = []


class DatabaseReport(_Row, frozen=True, kw_only=True):
    """The cache database writer's state and the trading restriction it causes."""

    backend: str
    healthy: bool
    pending: int
    written: int
    batches: int
    failures: int
    lag_seconds: float
    last_error: str | None
    fault: str | None
    trading: str
    # ok, down, lost, rewriting, halted (`livenode.cache.database.writer`).
    state: str = "ok"
    # Times the database lost the node's state, the last reason, and the rewrites.
    losses: int = 0
    last_loss: str | None = None
    rewrites: int = 0
    rewritten: int = 0
    superseded: int = 0
    discarded: int = 0


class Histogram(_Row, frozen=True, kw_only=True):
    """A latency HdrHistogram in its encoded form (`LatencyHistogram.encode`)."""

    hdr: str

    @classmethod
    def of(cls, histogram: LatencyHistogram) -> Histogram:
        """The encoded form of `histogram`."""
        return cls(hdr=histogram.encode().decode("ascii"))

    def decode(self) -> LatencyHistogram:
        """The histogram itself (about 0.1 ms)."""
        return LatencyHistogram.decode(self.hdr.encode("ascii"))

    def merge(self, other: Histogram) -> Histogram:
        """Both histograms' values in one."""
        merged = self.decode()
        merged.merge(other.decode())
        return Histogram.of(merged)

    def summary(self) -> dict[str, int]:
        """``count``, ``p50`` .. ``p99.9`` and ``max`` in nanoseconds."""
        return self.decode().summary()


class TickToTrade(_Row, frozen=True, kw_only=True):
    """One exec client's tick-to-trade latency (ns): the percentiles the client
    computed from its samples, and the samples' histogram to merge with."""

    samples: int
    p50: int
    p90: int
    p99: int
    p99_9: int = msgspec.field(name="p99.9")
    max: int
    histogram: Histogram | None = None

    @classmethod
    def of(cls, histogram: Histogram) -> TickToTrade | None:
        """The row of `histogram`'s samples (None when it has none)."""
        h = histogram.decode()
        s = h.summary()
        if not h.count:
            return None
        return cls(samples=h.count, p50=s["p50"], p90=s["p90"], p99=s["p99"],
                   p99_9=s["p99.9"], max=s["max"], histogram=histogram)

    def merge(self, other: TickToTrade) -> TickToTrade:
        """One client reported twice: percentiles of both histograms together (the
        right-hand row when either has none)."""
        if self.histogram is None or other.histogram is None:
            return other
        return TickToTrade.of(self.histogram.merge(other.histogram)) or other

    def to_dict(self) -> dict[str, int]:
        """The summary's row: ``samples`` and the percentiles."""
        return {"samples": self.samples, "p50": self.p50, "p90": self.p90, "p99": self.p99,
                "p99.9": self.p99_9, "max": self.max}


class ClientsReport(_Row, frozen=True, kw_only=True):
    """The data and execution clients by name."""

    data: list[str] = []
    exec: list[str] = []

    def merge(self, other: ClientsReport) -> ClientsReport:
        """Every client of both, sorted."""
        return ClientsReport(data=sorted({*self.data, *other.data}),
                             exec=sorted({*self.exec, *other.exec}))


def _merge_maps(a: dict[str, S], b: dict[str, S]) -> dict[str, S]:
    """Union; a key in both merges its rows (`merge` of the row)."""
    out = dict(a)
    for key, row in b.items():
        mine = out.get(key)
        out[key] = row if mine is None else mine.merge(row)  # type: ignore[attr-defined]
    return out


def _merge_pnl(a: dict[str, dict[str, str]],
               b: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    out = {sid: dict(per_ccy) for sid, per_ccy in a.items()}
    for sid, per_ccy in b.items():
        mine = out.setdefault(sid, {})
        for ccy, value in per_ccy.items():
            mine[ccy] = _add_text(mine[ccy], value) if ccy in mine else value
    return out


class GcRow(_Row, frozen=True, kw_only=True):
    """One process's collector pauses (`livenode.core.gc_pauses.GcPauses.summary`) and
    what its survivor freezes kept (`SurvivorFreezer`). Per process by nature: a report
    carries one row per process, keyed by its name ("node" in single mode)."""

    generations: dict[str, dict[str, int]]
    max_ns: int
    over_5ms: int
    collected: int
    frozen_objects: int
    refreezes: int = 0
    kept_by_freeze: int | None = None


class FeedRow(_Row, frozen=True, kw_only=True):
    """One venue's market data feed as its data engine judged it at its last check
    (`DataEngine.feeds`): STALE after ``[data_engine] stale_after`` without a tick."""

    stale: bool
    seconds_without_data: float


class RunReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a run (or one process of it) did. See the module docstring."""

    trader_id: str = ""
    instance_id: str = ""
    mode: str = ""
    environment: str = ""
    run_seconds: float = 0.0
    clients: ClientsReport = ClientsReport()
    strategies: list[str] = []
    database: DatabaseReport | None = None
    strategy_states: dict[str, StrategyStateRow] = {}
    counters: Counters = Counters()
    # Per engine class: its counters (they add over processes).
    engines: dict[str, dict[str, int]] = {}
    orders: OrdersReport = OrdersReport()
    risk_denials: dict[str, int] = {}
    rejections: dict[str, int] = {}
    faulted_strategies: dict[str, FaultRow] = {}
    fills: list[FillRow] = []
    fills_truncated: bool = False
    # By instrument id.
    positions: dict[str, PositionRow] = {}
    # Realized + unrealized PnL per strategy and currency (decimal strings).
    pnl_by_strategy: dict[str, dict[str, str]] = {}
    closed_positions: list[ClosedPositionRow] = []
    # By account id.
    accounts: dict[str, AccountRow] = {}
    # By exec client name.
    tick_to_trade: dict[str, TickToTrade] = {}
    # By bus hop, "publisher->worker".
    hops: dict[str, Histogram] = {}
    gc: dict[str, GcRow] = {}
    # The latest audit of the books against each venue, by exec client name.
    audit: dict[str, VenueAudit] = {}
    # By venue: its feed, as the data engine that takes it judged it last.
    feeds: dict[str, FeedRow] = {}

    def merge(self, other: RunReport) -> RunReport:
        """Both reports in one (associative; see the module docstring). Identity
        fields (trader id, mode, ...) and the database state are the right-hand
        side's when it has them; the run time is the longer one."""
        engines = {name: dict(c) for name, c in self.engines.items()}
        for name, counters in other.engines.items():
            engines[name] = _add_ints(engines.get(name, {}), counters)
        return RunReport(
            trader_id=_last(self.trader_id, other.trader_id),
            instance_id=_last(self.instance_id, other.instance_id),
            mode=_last(self.mode, other.mode),
            environment=_last(self.environment, other.environment),
            run_seconds=max(self.run_seconds, other.run_seconds),
            clients=self.clients.merge(other.clients),
            strategies=_ordered_union(self.strategies, other.strategies),
            database=other.database if other.database is not None else self.database,
            strategy_states=_union(self.strategy_states, other.strategy_states),
            counters=self.counters.merge(other.counters),
            engines=engines,
            orders=self.orders.merge(other.orders),
            risk_denials=_add_ints(self.risk_denials, other.risk_denials),
            rejections=_add_ints(self.rejections, other.rejections),
            faulted_strategies=_union(self.faulted_strategies, other.faulted_strategies),
            fills=[*self.fills, *other.fills],
            fills_truncated=self.fills_truncated or other.fills_truncated,
            positions=_merge_maps(self.positions, other.positions),
            pnl_by_strategy=_merge_pnl(self.pnl_by_strategy, other.pnl_by_strategy),
            closed_positions=[*self.closed_positions, *other.closed_positions],
            accounts=_union(self.accounts, other.accounts),
            tick_to_trade=_merge_maps(self.tick_to_trade, other.tick_to_trade),
            hops=_merge_maps(self.hops, other.hops),
            gc=_merge_maps(self.gc, other.gc),
            audit=_union(self.audit, other.audit),
            feeds=_union(self.feeds, other.feeds),
        )

    def flows_only(self) -> RunReport:
        """What this report counted over time, without the state it held at the time:
        the part of a dead worker's last report the node's summary keeps once a new
        worker took over its state (counters, final order statuses, denials and
        rejections, fills and closed cycles it listed, its engines' counters). Its
        positions, PnL, balances, open orders, strategy states, database, audit,
        latency and collector rows are left out: the new worker reports them (a
        position replayed to it would otherwise count twice)."""
        final = {key: n for key, n in self.orders.by_status.items() if key in _FINAL_STATUS}
        return RunReport(
            trader_id=self.trader_id, instance_id=self.instance_id, mode=self.mode,
            environment=self.environment, clients=self.clients, strategies=self.strategies,
            counters=self.counters, engines=self.engines,
            orders=OrdersReport(by_status=final), risk_denials=self.risk_denials,
            rejections=self.rejections, fills=self.fills,
            fills_truncated=self.fills_truncated, closed_positions=self.closed_positions,
        )

    @property
    def books_match_venue(self) -> bool | None:
        """`audit.books_match` of the venues' latest verdicts (None: not audited)."""
        return books_match(self.audit)

    def with_live_tick_to_trade(self, histograms: dict[str, Histogram]) -> RunReport:
        """This report with tick to trade so far, from each exec client's histogram
        (`NodeStats.live_tick_to_trade`; a client without samples is left out)."""
        rows = {name: row for name, histogram in histograms.items()
                if (row := TickToTrade.of(histogram)) is not None}
        return msgspec.structs.replace(self, tick_to_trade=rows)

    def left_open(self) -> list[dict[str, str]]:
        """Every position a strategy's managed stop left open, with the strategy's id,
        sorted by instrument and strategy."""
        rows = [{"strategy_id": sid, **msgspec.to_builtins(row)}
                for sid, state in self.strategy_states.items() for row in state.left_open]
        return sorted(rows, key=lambda r: (r["instrument_id"], r["strategy_id"]))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready summary (the ``--summary-json`` keys; rows sorted by key)."""
        by_status = {key: 0 for key in ORDER_STATUS_KEYS}
        by_status.update(self.orders.by_status)
        out: dict[str, Any] = {
            "trader_id": self.trader_id,
            "instance_id": self.instance_id,
            "mode": self.mode,
            "environment": self.environment,
            "run_seconds": round(self.run_seconds, 3),
            "clients": msgspec.to_builtins(self.clients),
            "strategies": list(self.strategies),
            "database": None if self.database is None else msgspec.to_builtins(self.database),
            "strategy_states": msgspec.to_builtins(self.strategy_states),
            "counters": msgspec.to_builtins(self.counters),
            "engines": {name: dict(c) for name, c in self.engines.items()},
            "orders": {
                "total": sum(by_status.values()),
                "by_status": by_status,
                "open": msgspec.to_builtins(self.orders.open),
            },
            "risk_denials": dict(self.risk_denials),
            "rejections": dict(self.rejections),
            "faulted_strategies": msgspec.to_builtins(self.faulted_strategies),
            "fills": msgspec.to_builtins(self.fills),
            "fills_truncated": self.fills_truncated,
            "positions": [msgspec.to_builtins(self.positions[k]) for k in sorted(self.positions)],
            # Flat: no instrument's net quantity is other than 0. What the strategies'
            # managed stops left open (dust, or not flattened) is named, never silent.
            "flat": all(Decimal(p.net_quantity) == 0 for p in self.positions.values()),
            "left_open": self.left_open(),
            "pnl_by_strategy": {sid: dict(v) for sid, v in sorted(self.pnl_by_strategy.items())},
            "closed_positions": msgspec.to_builtins(self.closed_positions),
            "accounts": [msgspec.to_builtins(self.accounts[k]) for k in sorted(self.accounts)],
            "latency": {"tick_to_trade_ns": {
                name: row.to_dict() for name, row in sorted(self.tick_to_trade.items())
            }},
        }
        if self.mode == "multiprocess" or self.hops:
            out["hop_latency"] = {hop: h.summary() for hop, h in sorted(self.hops.items())}
        out["audit"] = {
            "books_match_venue": self.books_match_venue,
            "verdict": verdict_text(self.books_match_venue),
            "venues": verdicts_to_builtins(self.audit),
        }
        if self.gc:
            out["gc"] = {name: msgspec.to_builtins(row) for name, row in sorted(self.gc.items())}
        out["feeds"] = {venue: msgspec.to_builtins(row)
                        for venue, row in sorted(self.feeds.items())}
        return out


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(RunReport)


def encode_report(report: RunReport) -> bytes:
    """msgpack bytes of `report` (what a worker sends the supervisor)."""
    return _encoder.encode(report)


def decode_report(data: bytes) -> RunReport:
    """A report from `encode_report`'s bytes.

    Raises:
        ValueError: the bytes are not a report (names what was wrong where).
    """
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"malformed run report ({len(data)} bytes): {exc}") from exc
