"""`AdapterState`: an adapter's own keys in the cache database, written at once.

The key-value area of the cache database (``kv``, one namespace per adapter) holds what
a venue adapter must keep across restarts of the node, such as a FIX session's sequence
numbers. Unlike the execution engine's writes, which a writer thread batches off the
event loop (a kill may lose the last ones; the venue has them), an adapter's state must
often be durable *before* the adapter acts on it: a FIX message must not leave with a
sequence number that a killed node would use again. So `AdapterState.put` writes through
a connection of its own (not the writer's queue) and returns only once the value is
committed (SQLite: the WAL holds it; Redis: the server has applied it).

One key is written by one path only: an adapter's keys through `AdapterState`, never
through `CacheDatabase.put_kv`, else the two connections could reorder its writes.
"""

from __future__ import annotations

import threading
from typing import TypeVar

import msgspec

from livenode.cache.database.backend import DatabaseBackend, DatabaseError

__all__ = ["AdapterState", "DirectKv"]

_S = TypeVar("_S", bound=msgspec.Struct)
_encoder = msgspec.msgpack.Encoder()


class DirectKv:
    """The second connection every `AdapterState` of one database shares (opened on
    first use, closed with the database)."""

    def __init__(self, backend: DatabaseBackend) -> None:
        self._backend = backend
        self._opened = False
        self._closed = False
        # Adapters call from the event loop; the lock keeps a client's own thread (if
        # any) from interleaving on the one connection.
        self._lock = threading.Lock()

    def _open(self) -> DatabaseBackend:
        if self._closed:
            raise DatabaseError(f"{self._backend.describe()}: the cache database is closed")
        if not self._opened:
            self._backend.open()
            self._opened = True
        return self._backend

    def read(self, namespace: str, key: str) -> bytes | None:
        """The value stored now (None: not set)."""
        with self._lock:
            return self._open().read_kv(namespace, key)

    def write(self, namespace: str, key: str, value: bytes | None) -> None:
        """Commit one value (None: delete) before returning."""
        with self._lock:
            self._open().write([("kv", f"{namespace}\0{key}", value)])

    def close(self) -> None:
        """Close the connection (idempotent); later calls raise `DatabaseError`."""
        with self._lock:
            self._closed = True
            if self._opened:
                self._opened = False
                self._backend.close()


class AdapterState:
    """One adapter's namespace of the key-value area (see the module docstring).

    Every call goes to the database at once and may block for a round trip (SQLite:
    a commit into the WAL, tens of microseconds; Redis: one request). Failures raise
    `DatabaseError` (`DatabaseUnavailableError` when the database cannot be reached),
    so an adapter that must not act without its state stays put.

    Args:
        kv: the database's direct connection.
        namespace: the adapter's name in the key-value area (no NUL character).
    """

    def __init__(self, kv: DirectKv, namespace: str) -> None:
        if not namespace or "\0" in namespace:
            raise ValueError(f"adapter state namespace {namespace!r}: expected a non-empty "
                             f"name without NUL characters")
        self._kv = kv
        self.namespace = namespace

    def get(self, key: str) -> bytes | None:
        """The bytes stored under `key` (None: not set)."""
        return self._kv.read(self.namespace, key)

    def put(self, key: str, value: bytes) -> None:
        """Store `value` under `key`; durable when this returns."""
        self._kv.write(self.namespace, key, value)

    def delete(self, key: str) -> None:
        """Remove `key` (no error when it is not set)."""
        self._kv.write(self.namespace, key, None)

    def get_struct(self, key: str, kind: type[_S]) -> _S | None:
        """The msgspec struct stored under `key` by `put_struct` (None: not set).

        Raises:
            DatabaseError: the stored bytes are not a `kind` (names namespace and key).
        """
        raw = self.get(key)
        if raw is None:
            return None
        try:
            return msgspec.msgpack.decode(raw, type=kind)
        except msgspec.DecodeError as exc:
            raise DatabaseError(f"adapter state {self.namespace}/{key}: not a "
                                f"{kind.__name__}: {exc}") from exc

    def put_struct(self, key: str, value: msgspec.Struct) -> None:
        """Store a msgspec struct (msgpack) under `key`; durable when this returns."""
        self.put(key, _encoder.encode(value))
