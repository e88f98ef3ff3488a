"""What every cache database backend implements, and the records it stores.

A backend stores opaque bytes (msgpack of the node's messages, made by
`CacheDatabase`) under one trader id, in five areas:

- ``instrument``: the latest definition per instrument id;
- ``order_event``: every order event, in the order written (an append-only log:
  an order is rebuilt by replaying its events, positions by replaying the fills);
- ``account``: the latest account state per account id;
- ``kv``: a key-value area per client (a venue session's sequence numbers, ...),
  keyed ``(namespace, key)``; a None value deletes the key;
- ``strategy``: the saved state of each strategy (one blob per strategy id).

Writes come in batches (`write`); a backend applies a batch atomically where it
can (one SQLite transaction, one Redis MULTI/EXEC) and in order, so what a crash
leaves is always a prefix of what was written.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "FIRST_STATE_PREFIX",
    "SCHEMA_VERSION",
    "DatabaseBackend",
    "DatabaseError",
    "DatabaseUnavailableError",
    "SchemaVersionError",
    "StoredRecords",
    "WriteOp",
]

#: The layout version this code writes. A database with a higher version was
#: written by newer code and is refused (its layout may mean something else).
SCHEMA_VERSION = 1

Area = Literal["instrument", "order_event", "account", "kv", "strategy"]
#: The key under which an account's first reported state is kept (its starting
#: balances), beside its latest state under the account id.
FIRST_STATE_PREFIX = "first:"
#: One write: (area, key, value). For ``kv`` the key is ``namespace + "\0" + key``.
WriteOp = tuple[Area, str, bytes | None]


class DatabaseError(RuntimeError):
    """The cache database refused an operation (bad schema, bad credentials, ...)."""


class DatabaseUnavailableError(DatabaseError):
    """The database could not be reached; the operation may succeed later."""


class SchemaVersionError(DatabaseError):
    """The database was written with a newer schema than this code understands."""


@dataclass
class StoredRecords:
    """Everything a backend holds for one trader id, as bytes."""

    instruments: list[bytes] = field(default_factory=list)
    order_events: list[bytes] = field(default_factory=list)
    # account id -> its latest state; FIRST_STATE_PREFIX + id -> its first state.
    accounts: dict[str, bytes] = field(default_factory=dict)
    kv: dict[tuple[str, str], bytes] = field(default_factory=dict)
    strategies: dict[str, bytes] = field(default_factory=dict)


def split_kv_key(key: str) -> tuple[str, str]:
    """``"namespace\\0key"`` -> ``(namespace, key)``."""
    namespace, _, name = key.partition("\0")
    return namespace, name


class DatabaseBackend(abc.ABC):
    """One storage engine (SQLite, Redis). Not thread-safe: one thread uses it.

    Args:
        trader_id: every record is stored under it; nothing else is touched.
    """

    #: Short name for logs and status ("sqlite", "redis").
    kind: str = ""

    def __init__(self, trader_id: str) -> None:
        self.trader_id = trader_id

    @abc.abstractmethod
    def open(self) -> None:
        """Connect, create the layout on first use, check its version.

        Raises:
            SchemaVersionError: the database is from a newer schema.
            DatabaseUnavailableError: it cannot be reached.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection (idempotent)."""

    @abc.abstractmethod
    def schema_version(self) -> int | None:
        """The stored layout version (None for an empty database)."""

    @abc.abstractmethod
    def write(self, ops: list[WriteOp]) -> None:
        """Apply `ops` in order, atomically where the backend can.

        Raises:
            DatabaseUnavailableError: nothing (or, for a lost reply, possibly
                everything) was written; the caller retries the same batch.
        """

    @abc.abstractmethod
    def load(self) -> StoredRecords:
        """Everything stored for this trader id."""

    @abc.abstractmethod
    def load_strategies(self) -> dict[str, bytes]:
        """The stored strategy states of this trader id only (strategy id -> payload):
        what a process that hosts strategies but no execution engine reads."""

    @abc.abstractmethod
    def read_kv(self, namespace: str, key: str) -> bytes | None:
        """One value of the key-value area (None: not set), read now.

        Raises:
            DatabaseUnavailableError: the database could not be reached.
        """

    @abc.abstractmethod
    def clone(self) -> DatabaseBackend:
        """A new, unopened backend over the same store with the same settings: a second
        connection, for a thread or a caller that must not wait behind the writer."""

    @abc.abstractmethod
    def flush_trader(self) -> int:
        """Delete every record of this trader id (and no other); returns how many."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the data lives, for logs (never a password)."""
