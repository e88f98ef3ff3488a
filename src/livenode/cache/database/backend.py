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
can (one SQLite transaction, one Redis transaction) and in order, so what a crash
leaves is always a prefix of what was written.

The run marker (`use_marker`): a writer that owns part of the state (the execution
engine of a process, a trader worker's strategies) names itself, and from then on
every batch it writes also advances, in the same transaction, a counter of its
writes stored beside the data, with the node's instance id. Before applying a batch
the backend compares that stored marker with what this writer has written: a
database that came back without the writer's data (restarted empty, restored from
an older copy, flushed by someone else) refuses the batch with `DatabaseLostError`
instead of receiving a fragment of history. The check is part of every write, so it
holds whatever the client library does underneath (redis-py reconnects to a
restarted server without telling its caller).
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
    "DatabaseLostError",
    "DatabaseUnavailableError",
    "LossKind",
    "RunMarker",
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


#: Why a run marker does not match: ``missing`` (the database no longer has it:
#: restarted empty, flushed), ``behind`` (it counts fewer writes than this writer
#: made: restored from an older copy), ``owner`` (another node instance has taken
#: the writer's name since).
LossKind = Literal["missing", "behind", "owner"]


class DatabaseLostError(DatabaseError):
    """The database no longer holds what this writer wrote (its run marker does not
    match); the batch was not applied.

    Attributes:
        kind: which mismatch (`LossKind`).
    """

    def __init__(self, kind: LossKind, message: str) -> None:
        super().__init__(message)
        self.kind: LossKind = kind


@dataclass(frozen=True)
class RunMarker:
    """A writer's marker as stored: who wrote last and how many writes it counts."""

    writer: str
    instance_id: str
    writes: int


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
        # (writer, instance id) once `use_marker` was called.
        self._marker: tuple[str, str] | None = None
        # The writes the stored marker must count at least (None: not claimed yet,
        # the next write claims it as it finds it).
        self._marker_writes: int | None = None

    # -- the run marker ---------------------------------------------------------------------

    def use_marker(self, writer: str, instance_id: str) -> None:
        """Guard every later `write` with the run marker of `writer` (see the module doc).

        The first write claims the marker: it takes over the count it finds (a previous
        run's, or none) and stores `instance_id`; from then on a write is applied only
        when the stored marker is this instance's and counts every write made since.
        """
        if not writer or "\0" in writer:
            raise ValueError(f"run marker writer {writer!r}: expected a non-empty name "
                             f"without NUL characters")
        self._marker = (writer, instance_id)
        self._marker_writes = None

    @property
    def has_marker(self) -> bool:
        """Whether `use_marker` was called."""
        return self._marker is not None

    def check_marker(self) -> None:
        """Read the stored marker now (a round trip: also a reachability check) and
        raise when it no longer matches what this writer wrote. What a writer with
        nothing to write does now and then, so a database that lost the state is seen
        without waiting for the next write.

        Raises:
            DatabaseLostError: the marker does not match.
            DatabaseUnavailableError: the database could not be reached.
        """
        if self._marker is None:
            return
        problem = self._marker_problem(self.read_marker(self._marker[0]))
        if problem is not None:
            raise problem

    def reset_marker(self) -> None:
        """Claim the marker again with the next write (after the state was lost: the
        rewrite starts a new count from what the database holds)."""
        self._marker_writes = None

    @property
    def marker_writes(self) -> int | None:
        """The writes the stored marker counted after this writer's last batch (None:
        not claimed yet, or no marker in use)."""
        return self._marker_writes

    def _marker_problem(self, stored: RunMarker | None) -> DatabaseLostError | None:
        """Why the stored marker refuses the next batch (None: it may be applied)."""
        if self._marker is None or self._marker_writes is None:
            return None
        writer, instance_id = self._marker
        expected = self._marker_writes
        where = f"{self.describe()}: run marker {writer} of trader {self.trader_id}"
        if stored is None:
            return DatabaseLostError(
                "missing", f"{where} is gone: the database no longer holds this node's "
                           f"state ({expected} write(s) made by this writer)")
        if stored.instance_id != instance_id:
            return DatabaseLostError(
                "owner", f"{where} now belongs to node instance {stored.instance_id} "
                         f"(this is {instance_id}): another node writes this state")
        if stored.writes < expected:
            return DatabaseLostError(
                "behind", f"{where} counts {stored.writes} write(s), this writer made "
                          f"{expected}: the database lost the last {expected - stored.writes}")
        return None

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
        """Apply `ops` in order, atomically where the backend can; with a run marker
        in use, only when the stored marker matches (and advance it with them).

        Raises:
            DatabaseUnavailableError: nothing (or, for a lost reply, possibly
                everything) was written; the caller retries the same batch.
            DatabaseLostError: the run marker does not match; nothing was written.
        """

    @abc.abstractmethod
    def read_marker(self, writer: str) -> RunMarker | None:
        """The stored run marker of `writer` (None: there is none)."""

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
