"""`VenueStateStore`: the sim venue's own durable book, like a real venue's.

A real venue keeps its orders, fills and balances when its process restarts,
and a node that reconnects finds them there. The sim venue does the same when
``venue_config.state_path`` is set: every batch of matching actions (accept,
fill, cancel, ...) is written to a SQLite file *before* its events leave the
venue, so whatever a client has heard of is on disk (write-ahead). A venue
started on an existing file continues from it: open orders back in their
books, closed orders and fills for the reports, positions, balances and locks,
and the id counters.

Durability: WAL mode with ``synchronous = NORMAL``; a commit reaches the
operating system before the events go out, so a killed venue process loses
nothing. A machine crash may lose the last commits (no fsync per commit), as
the venue is a simulator, not a ledger.

Rows of closed orders are kept (fills refer to them); on load the venue keeps
only its ``max_closed_orders`` newest, as it does while running.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import msgspec

from livenode.model.codec import Codec
from livenode.model.identifiers import PositionId
from livenode.venues.sim.account import NetPosition
from livenode.venues.sim.orders import Fill, SimOrder

__all__ = ["StoredVenue", "VenueStateError", "VenueStateStore"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, symbol TEXT NOT NULL, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS fills (
    id INTEGER PRIMARY KEY AUTOINCREMENT, symbol TEXT NOT NULL, data BLOB NOT NULL
);
"""

# SimOrder fields stored as they are (the tag is stored apart: it holds the order's
# OrderInitialized and position id, encoded with the bus codec).
_ORDER_FIELDS = (
    "client_order_id", "venue_order_id", "side", "order_type", "quantity", "price",
    "trigger_price", "time_in_force", "expire_time_ns", "post_only", "reduce_only", "filled",
    "status", "triggered", "seq", "ts_accepted", "ts_last", "avg_px", "notional_filled",
)


# Raw integers that may pass 64 bits (msgpack's limit) at high precisions: stored as text.
_BIG_INT_FIELDS = ("quantity", "price", "trigger_price", "filled", "notional_filled")


def _big(value: int | None) -> str | None:
    return None if value is None else str(value)


def _unbig(value: str | None) -> int | None:
    return None if value is None else int(value)


class VenueStateError(RuntimeError):
    """The state file cannot be used (another venue's, a newer schema, unreadable)."""


@dataclass
class StoredVenue:
    """What a venue restores from its state file."""

    orders: dict[str, tuple[str, SimOrder]] = field(default_factory=dict)  # id -> (symbol, order)
    fills: list[tuple[str, Fill]] = field(default_factory=list)  # in the order they happened
    totals: dict[str, int] = field(default_factory=dict)
    locks: dict[str, tuple[str, int]] = field(default_factory=dict)
    positions: dict[str, NetPosition] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)


def _fraction(value: Fraction | int) -> str:
    # As text: exact fractions outgrow 64-bit integers (msgpack's limit) after a few
    # partial closes.
    return str(Fraction(value))


class VenueStateStore:
    """One venue's state file (see the module doc)."""

    def __init__(self, path: str | Path, venue: str) -> None:
        self.path = Path(path)
        self.venue = venue
        self._codec = Codec()
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._check_identity()
        except sqlite3.Error as exc:
            raise VenueStateError(f"sim venue {venue}: state file {self.path}: {exc}") from None

    def _check_identity(self) -> None:
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        if not meta:
            self._db.execute("BEGIN")
            self._db.execute("INSERT INTO meta VALUES ('schema', ?), ('venue', ?)",
                             (str(SCHEMA_VERSION), self.venue))
            self._db.execute("COMMIT")
            return
        version = int(meta.get("schema", 0))
        if version > SCHEMA_VERSION:
            raise VenueStateError(
                f"sim venue {self.venue}: state file {self.path} has schema {version}, newer "
                f"than this version's {SCHEMA_VERSION}"
            )
        stored_venue = meta.get("venue")
        if stored_venue != self.venue:
            raise VenueStateError(
                f"sim venue {self.venue}: state file {self.path} belongs to venue {stored_venue!r}"
            )

    # -- write ------------------------------------------------------------------------

    def save(
        self,
        orders: Iterable[tuple[str, SimOrder]],
        fills: Iterable[tuple[str, Fill]],
        account: Any,
        counters: dict[str, int],
    ) -> None:
        """Write one batch of changes in one transaction.

        ``account`` is the venue's `SimCashAccount` (stored whole: a few rows);
        ``counters`` the id sequences the venue continues from.
        """
        db = self._db
        try:
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR REPLACE INTO orders VALUES (?, ?, ?)",
                [(o.client_order_id, symbol, self._encode_order(o)) for symbol, o in orders],
            )
            db.executemany(
                "INSERT INTO fills (symbol, data) VALUES (?, ?)",
                [(symbol, self._encode_fill(f)) for symbol, f in fills],
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('account', ?)",
                       (self._encode_account(account),))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('counters', ?)",
                       (self._encoder.encode(counters),))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise VenueStateError(
                f"sim venue {self.venue}: state file {self.path}: {exc}"
            ) from None

    def _encode_order(self, order: SimOrder) -> bytes:
        record: dict[str, Any] = {name: getattr(order, name) for name in _ORDER_FIELDS}
        for name in _BIG_INT_FIELDS:
            record[name] = _big(record[name])
        init, position_id = order.tag
        record["init"] = self._codec.encode(init)
        record["position_id"] = None if position_id is None else str(position_id)
        return self._encoder.encode(record)

    def _encode_fill(self, fill: Fill) -> bytes:
        return self._encoder.encode({
            "order": fill.order.client_order_id, "qty": str(fill.qty), "price": str(fill.price),
            "liquidity": fill.liquidity, "trade_id": fill.trade_id,
            "commission": str(fill.commission), "ts": fill.ts,
        })

    def _encode_account(self, account: Any) -> bytes:
        # Raw integers as text too: a balance raw at 18 decimals passes 2**63.
        positions = {
            symbol: [str(p.qty), _fraction(p.cost), _fraction(p.realized), p.ts_opened,
                     p.ts_last]
            for symbol, p in account.positions.items()
        }
        return self._encoder.encode({
            "totals": {code: str(raw) for code, raw in account.totals.items()},
            "locks": {cid: [ccy, str(raw)] for cid, (ccy, raw) in account.locks().items()},
            "positions": positions,
        })

    # -- read -------------------------------------------------------------------------

    def load(self) -> StoredVenue | None:
        """The stored state, or None for a new file."""
        db = self._db
        meta = dict(db.execute("SELECT key, value FROM meta"))
        if "account" not in meta:
            return None
        state = StoredVenue()
        try:
            for _cid, symbol, data in db.execute("SELECT * FROM orders"):
                order = self._decode_order(data)
                state.orders[order.client_order_id] = (symbol, order)
            for _id, symbol, data in db.execute("SELECT * FROM fills ORDER BY id"):
                raw = self._decoder.decode(data)
                entry = state.orders.get(raw["order"])
                if entry is None:
                    raise VenueStateError(f"fill {raw['trade_id']} of unknown order {raw['order']}")
                state.fills.append((symbol, Fill(
                    entry[1], int(raw["qty"]), int(raw["price"]), raw["liquidity"],
                    raw["trade_id"], int(raw["commission"]), raw["ts"],
                )))
            account = self._decoder.decode(meta["account"])
            state.totals = {k: int(v) for k, v in account["totals"].items()}
            state.locks = {cid: (lock[0], int(lock[1])) for cid, lock in account["locks"].items()}
            for symbol, (qty, cost, realized, ts_opened, ts_last) in account["positions"].items():
                state.positions[symbol] = NetPosition(
                    int(qty), Fraction(cost), Fraction(realized), ts_opened, ts_last
                )
            state.counters = {k: int(v) for k, v in self._decoder.decode(meta["counters"]).items()}
        except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
            raise VenueStateError(
                f"sim venue {self.venue}: state file {self.path} is damaged: {exc}"
            ) from None
        return state

    def _decode_order(self, data: bytes) -> SimOrder:
        record = self._decoder.decode(data)
        for name in _BIG_INT_FIELDS:
            record[name] = _unbig(record[name])
        init = self._codec.decode(record.pop("init"))
        position_id = record.pop("position_id")
        order = SimOrder(**record)
        order.tag = (init, None if position_id is None else PositionId(position_id))
        return order

    def close(self) -> None:
        self._db.close()
