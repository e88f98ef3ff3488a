"""What `livenode run` prints: the startup summary, status lines, the final table,
and the `--summary-json` file. All of it is formatted from `TradingNode.summary()`
(or the config, before the node runs), so the table and the JSON state the same
facts.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from livenode.config import TradingNodeConfig, resolve_strategy, strategy_id_of
from livenode.node.stats import LATENCY_QUANTILES, ORDER_STATUS_KEYS

__all__ = [
    "StatusMeter",
    "closed_position_lines",
    "instrument_line",
    "latency_lines",
    "log_lines",
    "positions_fragment",
    "startup_lines",
    "status_line",
    "summary_table",
    "write_summary_json",
]


#: What the startup summary adds when the config names no trader id.
TRADER_DEFAULTED = "(the default: the config sets no trader_id)"


def startup_lines(
    config: TradingNodeConfig, config_path: str, *, trader_defaulted: bool = False
) -> list[str]:
    """The short summary printed before the node starts; `trader_defaulted` says the
    trader id is the default one, which every config without `trader_id` shares (their
    database and leftovers would mix)."""
    strategies = []
    for index, strategy_cfg in enumerate(config.strategies):
        strategy_cls, struct = resolve_strategy(strategy_cfg, f"strategies[{index}]")
        instrument = getattr(struct, "instrument_id", None)
        name = strategy_id_of(strategy_cls, struct)
        strategies.append(f"{name} ({instrument})" if instrument else name)
    clients = [f"{name} (data)" for name in config.data_clients]
    clients += [f"{name} (exec)" for name in config.exec_clients]
    return [
        f"livenode run {config_path}",
        f"  trader      {config.trader_id}"
        + (f" {TRADER_DEFAULTED}" if trader_defaulted else ""),
        f"  mode        {config.mode} ({config.environment})",
        f"  clients     {', '.join(clients) or 'none'}",
        f"  strategies  {', '.join(strategies) or 'none'}",
        *log_lines(config),
    ]


def log_lines(config: TradingNodeConfig) -> list[str]:
    """Where the log goes: ``  log         data/logs/SANDBOX-001.log (INFO and up; the
    screen: WARNING and up)``, and in multiprocess mode the workers' files beside it
    (none when the config names no file: the screen has everything)."""
    logging = config.logging
    if logging.file is None:
        return []
    level = logging.level
    console = max(level, logging.console_level, key=_LEVELS.index)
    screen = "the screen too" if console == level else f"the screen: {console} and up"
    lines = [f"  log         {logging.file} ({level} and up; {screen})"]
    if config.mode == "multiprocess":
        lines.append(f"              one per process beside it: "
                     f"{Path(logging.file_for('<process>') or '').name}")
    return lines


_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def instrument_line(instruments: list[str]) -> str:
    """The instruments the clients loaded, known once the node has connected."""
    return f"  instruments {', '.join(instruments) or 'none'}"


class StatusMeter:
    """Formats a single-process node's status line from its `NodeStats`."""

    def line(self, stats: Any) -> str:
        """One status line from a `NodeStats` (cheap: counters and open positions only)."""
        return status_line(
            seconds=stats.run_seconds,
            state=stats.trading_state,
            orders=stats.orders_total,
            fills=stats.fill_count,
            denied=sum(stats.denials.values()),
            open_positions=stats.open_positions(),
            pnl=stats.pnl_totals(),
            database=stats.database_status(),
            stalled=stats.stalled_orders,
            halted=sorted(stats.halted_venues) + sorted(stats.halted_instruments),
            faulted=sorted(stats.faulted_strategies()),
            stale=sorted(stats.stale_feeds),
        )


#: Open positions a status line names; more are counted (``+2 more``).
MAX_STATUS_POSITIONS = 3


def positions_fragment(open_positions: dict[str, Decimal]) -> str:
    """``pos=BTCUSDT:+0.02,ETHUSDT-PERP:-0.100`` (an instrument by its symbol, or its
    full id when two venues share the symbol), ``pos=flat`` when none is open."""
    if not open_positions:
        return "pos=flat"
    items = sorted(open_positions.items())
    names = {key: key.rpartition(".")[0] or key for key, _ in items}
    if len(set(names.values())) < len(names):
        names = {key: key for key, _ in items}  # a symbol on two venues: full ids
    shown = [f"{names[key]}:{value:+}" for key, value in items[:MAX_STATUS_POSITIONS]]
    if len(items) > MAX_STATUS_POSITIONS:
        shown.append(f"+{len(items) - MAX_STATUS_POSITIONS} more")
    return "pos=" + ",".join(shown)


def status_line(
    *,
    seconds: float,
    orders: int,
    fills: int,
    open_positions: dict[str, Decimal],
    pnl: dict[str, Decimal],
    state: str | None = None,
    denied: int = 0,
    database: dict[str, Any] | None = None,
    stalled: int = 0,
    halted: list[str] | None = None,
    faulted: list[str] | None = None,
    stale: list[str] | None = None,
) -> str:
    """One compact line:
    ``status t=12s ACTIVE orders=37 fills=12 denied=0 pos=BTCUSDT:+0.02 pnl=+1.23 USDT``
    (`state`: the trading state, left out when unknown), then ``db=ok`` or
    ``db=DOWN(HALTED) pending=N lag=Ns`` with a cache database, and what needs a look:
    ``stalled=``, ``halted=``, ``FAULTED=``, ``STALE=`` (venues whose market data
    stopped for ``[data_engine] stale_after``)."""
    pnl_text = " ".join(f"{_signed(v)} {c}" for c, v in sorted(pnl.items())) or "0"
    line = f"status t={seconds:.0f}s" + (f" {state}" if state else "")
    line += (f" orders={orders} fills={fills} denied={denied} "
             f"{positions_fragment(open_positions)} pnl={pnl_text}")
    if database is not None:
        line += " " + database_fragment(database)
    if stalled:
        # Orders a venue has not answered for longer than inflight_timeout: never
        # hidden behind a healthy-looking line.
        line += f" stalled={stalled}"
    if halted:
        line += f" halted={','.join(halted)}"
    if faulted:
        line += f" FAULTED={','.join(faulted)}"
    if stale:
        line += f" STALE={','.join(stale)}"
    return line


#: The status word of each writer state that is not ok.
_DB_WORDS = {"down": "DOWN", "lost": "LOST", "rewriting": "REWRITING", "halted": "LOST"}


def database_fragment(database: dict[str, Any]) -> str:
    """``db=ok`` (pending writes shown when any), or ``db=DOWN(HALTED) pending=N lag=Ns``:
    DOWN while writes fail, LOST when the database lost the node's state (and, for good,
    once it is not rewritten), REWRITING while the node writes it again."""
    pending = int(database.get("pending", 0))
    lag = float(database.get("lag_seconds", 0.0))
    state = str(database.get("state", "ok"))
    if state == "ok" and database.get("fault") is None and database.get("healthy", True):
        return "db=ok" + (f" pending={pending}" if pending else "")
    word = _DB_WORDS.get(state, "DOWN")
    return f"db={word}({database.get('trading', 'HALTED')}) pending={pending} lag={lag:.1f}s"


def database_lines(summary: dict[str, Any]) -> list[str]:
    """What happened to the cache database's state during the run, when anything did:
    ``database       lost this node's state 1 time(s) (...); rewritten from memory ...``."""
    database = summary.get("database") or {}
    losses = int(database.get("losses", 0) or 0)
    if not losses:
        return []
    text = f"database       lost this node's state {losses} time(s) ({database.get('last_loss')})"
    if database.get("state") == "halted":
        return [text + f"; NOT rewritten: {database.get('discarded', 0)} write(s) dropped"]
    return [text + f"; rewritten from memory {database.get('rewrites', 0)} time(s) "
                   f"({database.get('rewritten', 0)} write(s))"]


def _signed(value: Decimal) -> str:
    cents = value.quantize(Decimal("0.01"))
    if cents == 0:
        cents = abs(cents)  # "+0.00", never "-0.00" for a tiny loss
    return f"{cents:+}"


def summary_table(summary: dict[str, Any]) -> list[str]:
    """The final summary as aligned text lines."""
    lines = [
        f"== summary: {summary['trader_id']} ({summary['mode']}, {summary['environment']}) ==",
        f"run time       {summary['run_seconds']:.1f} s",
    ]
    counters = summary["counters"]
    lines.append(
        f"market data    {counters['quotes']} quotes, {counters['trades']} trades"
    )
    orders = summary["orders"]
    by_status = orders["by_status"]
    status_text = ", ".join(f"{key.replace('_', ' ')} {by_status.get(key, 0)}"
                            for key in ORDER_STATUS_KEYS)
    lines.append(f"orders         {orders['total']} ({status_text})")
    lines.append(f"fills          {counters['fills']}")
    lines.extend(latency_lines(summary))
    if summary["risk_denials"]:
        denials = ", ".join(f"{reason}: {n}" for reason, n in summary["risk_denials"].items())
        lines.append(f"risk denials   {denials}")
    if summary.get("rejections"):
        rejections = ", ".join(f"{reason}: {n}" for reason, n in summary["rejections"].items())
        lines.append(f"rejections     {rejections}")
    for sid, row in sorted(summary.get("faulted_strategies", {}).items()):
        effect = "" if row.get("on_fault") != "continue" else " (on_fault = continue)"
        lines.append(f"FAULTED        {sid}: {row.get('error') or '?'}{effect}")
    stuck = [sid for sid, st in summary.get("strategy_states", {}).items()
             if st.get("manage_stop_timed_out")]
    if stuck:
        lines.append(f"not flattened  {', '.join(stuck)} (manage_stop timed out)")
    for row in summary.get("left_open", []):
        lines.append(f"left open      {row['instrument_id']} {row['quantity']} "
                     f"({row['strategy_id']}): {row['reason']}")
    lines.append("positions")
    if summary["positions"]:
        lines.append(
            f"  {'instrument':<20} {'net qty':>14} {'realized':>16} {'unrealized':>16}"
        )
        for row in summary["positions"]:
            lines.append(
                f"  {row['instrument_id']:<20} {row['net_quantity']:>14} "
                f"{_money_text(row['realized_pnl'], row['currency']):>16} "
                f"{_money_text(row['unrealized_pnl'], row['currency']):>16}"
            )
    else:
        lines.append("  none")
    lines.extend(closed_position_lines(summary))
    lines.append("balances")
    if summary["accounts"]:
        for account in summary["accounts"]:
            for balance in account["balances"]:
                lines.append(
                    f"  {account['account_id']:<10} {balance['currency']:<5} "
                    f"total {balance['total']:>18}  free {balance['free']:>18}  "
                    f"locked {balance['locked']}"
                )
    else:
        lines.append("  none")
    if summary.get("durable_source"):
        lines.append(f"books          from the cache database {summary['durable_source']} "
                     "(every run of this trader id)")
    lines.extend(database_lines(summary))
    lines.extend(audit_lines(summary))
    for error in summary.get("errors", []):
        lines.append(f"ERROR          {error}")
    shutdown = summary["shutdown"]
    how = "clean" if shutdown["clean"] else "NOT clean"
    reason = f" ({shutdown['reason']})" if shutdown.get("reason") else ""
    residue = "".join(f", {row['instrument_id']} {row['net_quantity']}"
                      for row in summary["positions"] if Decimal(row["net_quantity"]) != 0)
    # A stop that leaves positions open is never called flat: it names them.
    flat = f"; not flat: {residue[2:]}" if residue else ""
    lines.append(f"shutdown       {how} in {shutdown['seconds']:.2f} s{reason}{flat}")
    return lines


def audit_lines(summary: dict[str, Any]) -> list[str]:
    """``audit          books match venue`` or every difference, per exec client."""
    audit = summary.get("audit") or {}
    venues = audit.get("venues") or {}
    if not venues:
        return ["audit          not audited (no execution client reported)"]
    lines = [f"audit          {audit['verdict']}"]
    for name, row in sorted(venues.items()):
        checked = ", ".join(row["checked"]) or "nothing"
        unchecked = (f"; not reported: {', '.join(row['not_reported'])}"
                     if row["not_reported"] else "")
        if row["error"] is not None:
            lines.append(f"  {name}: NOT AUDITED: {row['error']}")
            continue
        if not row["checked"]:
            lines.append(f"  {name}: not audited: the venue reports nothing to compare")
            continue
        if not row["differences"]:
            lines.append(f"  {name}: match ({checked}{unchecked})")
            continue
        lines.append(f"  {name}: {len(row['differences'])} difference(s) ({checked}{unchecked})")
        for diff in row["differences"]:
            lines.append(f"    {diff['kind']} {diff['key']}: node {diff['node']}, "
                         f"venue {diff['venue']}")
    return lines


#: Closed cycles the table lists (the newest); `--summary-json` has them all.
MAX_CLOSED_LINES = 20


def _price_text(value: str | None) -> str:
    """An average price for the table: 10 significant digits (the JSON keeps all)."""
    if not value:
        return "n/a"
    return f"{Decimal(value):.10g}"


def closed_position_lines(summary: dict[str, Any]) -> list[str]:
    """The closed position cycles (flat to flat; a flip closes one), newest last."""
    rows = summary.get("closed_positions") or []
    if not rows:
        return []
    lines = [f"closed positions ({len(rows)})"]
    lines.append(
        f"  {'instrument':<20} {'side':<5} {'peak qty':>12} {'avg open':>14} "
        f"{'avg close':>14} {'realized':>16} {'commissions':>16}"
    )
    if len(rows) > MAX_CLOSED_LINES:
        lines.append(f"  ... {len(rows) - MAX_CLOSED_LINES} earlier (see --summary-json)")
    for row in rows[-MAX_CLOSED_LINES:]:
        lines.append(
            f"  {row['instrument_id']:<20} {row['side'] or '?':<5} "
            f"{row['peak_qty'] or '?':>12} {_price_text(row['avg_px_open']):>14} "
            f"{_price_text(row['avg_px_close']):>14} "
            f"{_money_text(row['realized_pnl'], row['currency']):>16} "
            f"{_money_text(row['commissions'], row['currency']):>16}"
        )
    return lines


def latency_lines(summary: dict[str, Any]) -> list[str]:
    """``tick-to-trade  SIM: p50 48 us  p90 …  max … (1234 orders)``, one line per exec client."""
    per_client = summary.get("latency", {}).get("tick_to_trade_ns", {})
    lines = []
    for name, row in sorted(per_client.items()):
        values = "  ".join(
            f"{key} {row[key] / 1000:.0f} us" for key in LATENCY_QUANTILES if key in row
        )
        lines.append(f"tick-to-trade  {name}: {values} ({row.get('samples', 0)} orders)")
    for process, gc in sorted(summary.get("gc", {}).items()):
        collections = sum(g.get("count", 0) for g in gc["generations"].values())
        kept = gc.get("kept_by_freeze")
        lines.append(f"gc pauses      {process}: {collections} collections, longest "
                     f"{gc['max_ns'] / 1e6:.2f} ms, {gc['over_5ms']} over 5 ms"
                     + (f", {kept} objects kept by freezing" if kept else ""))
    return lines


def _money_text(value: str | None, currency: str) -> str:
    if value is None:
        return "n/a"  # no quote to mark the position at
    return f"{_signed(Decimal(value))} {currency}"


def write_summary_json(summary: dict[str, Any], path: Path) -> None:
    """Write the summary atomically (a reader never sees half a file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
