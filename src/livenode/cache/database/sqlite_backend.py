"""The embedded cache database: one SQLite file in WAL mode.

WAL with ``synchronous=NORMAL``: a committed transaction survives the process
being killed (it is in the WAL file, in the OS page cache); a power loss may
lose the last transactions, never corrupt the file. Every table carries the
trader id, so one file can hold several traders and `flush_trader` deletes
only its own rows.

Every call is bounded: a write waits at most `timeout` seconds for another
connection's lock (SQLite's busy timeout), then fails and the writer reports the
database down. The run marker of a writer (`markers`, one row per trader and
writer) is checked and advanced inside the write's own transaction.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from livenode.cache.database.backend import (
    SCHEMA_VERSION,
    DatabaseBackend,
    DatabaseUnavailableError,
    RunMarker,
    SchemaVersionError,
    StoredRecords,
    WriteOp,
    split_kv_key,
)

__all__ = ["SqliteBackend"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instruments (
    trader_id TEXT NOT NULL, id TEXT NOT NULL, payload BLOB NOT NULL,
    PRIMARY KEY (trader_id, id));
CREATE TABLE IF NOT EXISTS order_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, trader_id TEXT NOT NULL,
    client_order_id TEXT NOT NULL, payload BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS order_events_trader ON order_events (trader_id, seq);
CREATE TABLE IF NOT EXISTS accounts (
    trader_id TEXT NOT NULL, id TEXT NOT NULL, payload BLOB NOT NULL,
    PRIMARY KEY (trader_id, id));
CREATE TABLE IF NOT EXISTS kv (
    trader_id TEXT NOT NULL, namespace TEXT NOT NULL, key TEXT NOT NULL,
    value BLOB NOT NULL, PRIMARY KEY (trader_id, namespace, key));
CREATE TABLE IF NOT EXISTS strategies (
    trader_id TEXT NOT NULL, id TEXT NOT NULL, payload BLOB NOT NULL,
    PRIMARY KEY (trader_id, id));
CREATE TABLE IF NOT EXISTS markers (
    trader_id TEXT NOT NULL, writer TEXT NOT NULL, instance_id TEXT NOT NULL,
    writes INTEGER NOT NULL, PRIMARY KEY (trader_id, writer));
"""

_TABLES = ("instruments", "order_events", "accounts", "kv", "strategies", "markers")


class SqliteBackend(DatabaseBackend):
    """SQLite file at `path` (its directory is created, mode 0700)."""

    kind = "sqlite"

    def __init__(self, trader_id: str, path: str | Path, timeout: float = 5.0) -> None:
        if not timeout > 0:
            raise ValueError(f"sqlite busy timeout: expected seconds > 0, got {timeout!r}")
        super().__init__(trader_id)
        self.path = Path(path)
        self._timeout = timeout
        self._conn: sqlite3.Connection | None = None

    def describe(self) -> str:
        return f"sqlite {self.path}"

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            # check_same_thread off: opened on the node's thread, then used only by
            # the writer thread (never both at once).
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise DatabaseUnavailableError(f"{self.describe()}: {exc}") from exc
        self._conn = conn
        version = self.schema_version()
        if version is None:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif version > SCHEMA_VERSION:
            self.close()
            raise SchemaVersionError(
                f"{self.describe()}: schema version {version} is newer than this livenode "
                f"understands ({SCHEMA_VERSION}); use a newer livenode or another database"
            )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise DatabaseUnavailableError(f"{self.describe()}: not open")
        return self._conn

    def schema_version(self) -> int | None:
        row = self._connection().execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        return None if row is None else int(row[0])

    def write(self, ops: list[WriteOp]) -> None:
        conn = self._connection()
        trader = self.trader_id
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                marker = self._marker
                if marker is not None:
                    problem = self._marker_problem(self._stored_marker(conn, marker[0]))
                    if problem is not None:
                        raise problem  # rolled back below: nothing of the batch lands
                for area, key, value in ops:
                    if area == "order_event":
                        conn.execute(
                            "INSERT INTO order_events (trader_id, client_order_id, payload) "
                            "VALUES (?, ?, ?)",
                            (trader, key, value),
                        )
                    elif area == "kv":
                        namespace, name = split_kv_key(key)
                        if value is None:
                            conn.execute(
                                "DELETE FROM kv WHERE trader_id = ? AND namespace = ? AND key = ?",
                                (trader, namespace, name),
                            )
                        else:
                            conn.execute(
                                "INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?)",
                                (trader, namespace, name, value),
                            )
                    else:
                        table = {"instrument": "instruments", "account": "accounts",
                                 "strategy": "strategies"}[area]
                        conn.execute(
                            f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)",
                            (trader, key, value),
                        )
                count = None
                if marker is not None:
                    count = self._advance_marker(conn, marker, len(ops))
                conn.execute("COMMIT")
                if count is not None:
                    self._marker_writes = count
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            # Locked, disk full, I/O error: the batch was rolled back; retry later.
            raise DatabaseUnavailableError(f"{self.describe()}: {exc}") from exc

    def _stored_marker(self, conn: sqlite3.Connection, writer: str) -> RunMarker | None:
        row = conn.execute(
            "SELECT instance_id, writes FROM markers WHERE trader_id = ? AND writer = ?",
            (self.trader_id, writer)).fetchone()
        return None if row is None else RunMarker(writer, row[0], int(row[1]))

    def _advance_marker(
        self, conn: sqlite3.Connection, marker: tuple[str, str], count: int
    ) -> int:
        writer, instance_id = marker
        conn.execute(
            "INSERT INTO markers (trader_id, writer, instance_id, writes) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (trader_id, writer) DO UPDATE SET "
            "writes = writes + excluded.writes, instance_id = excluded.instance_id",
            (self.trader_id, writer, instance_id, count))
        stored = self._stored_marker(conn, writer)
        assert stored is not None  # written just above, in this transaction
        return stored.writes

    def read_marker(self, writer: str) -> RunMarker | None:
        try:
            return self._stored_marker(self._connection(), writer)
        except sqlite3.OperationalError as exc:
            raise DatabaseUnavailableError(f"{self.describe()}: {exc}") from exc

    def load(self) -> StoredRecords:
        conn = self._connection()
        args = (self.trader_id,)
        records = StoredRecords()
        records.instruments = [
            row[0] for row in conn.execute(
                "SELECT payload FROM instruments WHERE trader_id = ? ORDER BY rowid", args)
        ]
        records.order_events = [
            row[0] for row in conn.execute(
                "SELECT payload FROM order_events WHERE trader_id = ? ORDER BY seq", args)
        ]
        records.accounts = {
            key: payload for key, payload in conn.execute(
                "SELECT id, payload FROM accounts WHERE trader_id = ?", args)
        }
        records.kv = {
            (ns, key): value for ns, key, value in conn.execute(
                "SELECT namespace, key, value FROM kv WHERE trader_id = ?", args)
        }
        records.strategies = self.load_strategies()
        return records

    def load_strategies(self) -> dict[str, bytes]:
        return {
            sid: payload for sid, payload in self._connection().execute(
                "SELECT id, payload FROM strategies WHERE trader_id = ?", (self.trader_id,))
        }

    def read_kv(self, namespace: str, key: str) -> bytes | None:
        try:
            row = self._connection().execute(
                "SELECT value FROM kv WHERE trader_id = ? AND namespace = ? AND key = ?",
                (self.trader_id, namespace, key)).fetchone()
        except sqlite3.OperationalError as exc:
            raise DatabaseUnavailableError(f"{self.describe()}: {exc}") from exc
        return None if row is None else bytes(row[0])

    def clone(self) -> SqliteBackend:
        return SqliteBackend(self.trader_id, self.path, timeout=self._timeout)

    def flush_trader(self) -> int:
        conn = self._connection()
        removed = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in _TABLES:
                cursor = conn.execute(
                    f"DELETE FROM {table} WHERE trader_id = ?",
                    (self.trader_id,),
                )
                removed += cursor.rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return removed
