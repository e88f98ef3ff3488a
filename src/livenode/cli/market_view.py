"""What `livenode status` reads straight from a node's shared memory: the latest
quote of every instrument and every position snapshot, without a bus message
(and without asking the node anything: it works even when the node is busy).
"""

from __future__ import annotations

import time
from typing import Any

from livenode.cache.shm import ShmError, ShmTables, segment_prefix
from livenode.model.identifiers import AccountId


def read_market_view(trader_id: str, instance_id: str) -> dict[str, Any]:
    """Quotes, positions and balances of one node, as JSON-ready builtins."""
    tables = ShmTables.attach(segment_prefix(trader_id, instance_id))
    try:
        now = time.time_ns()
        quotes: list[dict[str, Any]] = []
        for instrument_id in tables.instruments.instrument_ids():
            try:
                quote = tables.quotes.read(instrument_id)
            except ShmError as exc:
                quotes.append({"instrument_id": str(instrument_id), "error": str(exc)})
                continue
            if quote is None:
                continue
            quotes.append(
                {
                    "instrument_id": str(instrument_id),
                    "bid": str(quote.bid_price),
                    "ask": str(quote.ask_price),
                    "bid_size": str(quote.bid_size),
                    "ask_size": str(quote.ask_size),
                    "age_ms": round((now - quote.ts_init) / 1e6, 1),
                }
            )
        positions = []
        # PositionTable is not iterable: keys() is its own method, not a dict view.
        for strategy_id, instrument_id in tables.positions.keys():  # noqa: SIM118
            snapshot = tables.positions.read(strategy_id, instrument_id)
            if snapshot is None:
                continue
            positions.append(
                {
                    "strategy_id": str(strategy_id),
                    "instrument_id": str(instrument_id),
                    "side": snapshot.side.value,
                    "quantity": str(snapshot.quantity),
                    "avg_px_open": snapshot.avg_px_open,
                    "realized_pnl": str(snapshot.realized_pnl),
                    "unrealized_pnl": str(snapshot.unrealized_pnl),
                }
            )
        tables.accounts.index.refresh()  # keys written by the node since we attached
        accounts = sorted({key.split(" ")[0] for key in tables.accounts.index.keys})
        balances = [
            {
                "account_id": account,
                "currency": b.total.currency.code,
                "total": format(b.total.as_decimal(), "f"),
                "free": format(b.free.as_decimal(), "f"),
                "locked": format(b.locked.as_decimal(), "f"),
            }
            for account in accounts
            for b in tables.accounts.balances(AccountId(account))
        ]
        return {"quotes": quotes, "positions": positions, "balances": balances}
    finally:
        tables.close()


def format_market_view(view: dict[str, Any]) -> list[str]:
    """The view as table lines: quotes, then positions and balances (each with a header
    line, left out when there are none)."""
    lines = [
        f"{'instrument':<22} {'bid':>14} {'ask':>14} {'bid size':>12} {'ask size':>12} {'age':>9}"
    ]
    for q in view["quotes"]:
        if "error" in q:
            lines.append(f"{q['instrument_id']:<22} {q['error']}")
            continue
        lines.append(
            f"{q['instrument_id']:<22} {q['bid']:>14} {q['ask']:>14} {q['bid_size']:>12} "
            f"{q['ask_size']:>12} {q['age_ms']:>7.1f}ms"
        )
    if view["positions"]:
        lines.append(f"{'strategy':<18} {'instrument':<22} {'side':<6} {'qty':>12} "
                     f"{'realized':>18} {'unrealized':>18}")
        for p in view["positions"]:
            lines.append(
                f"{p['strategy_id']:<18} {p['instrument_id']:<22} {p['side']:<6} "
                f"{p['quantity']:>12} {p['realized_pnl']:>18} {p['unrealized_pnl']:>18}"
            )
    if view["balances"]:
        lines.append(f"{'account':<18} {'currency':<8} {'total':>20} {'free':>20} "
                     f"{'locked':>20}")
        for b in view["balances"]:
            lines.append(f"{b['account_id']:<18} {b['currency']:<8} {b['total']:>20} "
                         f"{b['free']:>20} {b['locked']:>20}")
    return lines
