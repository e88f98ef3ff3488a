"""The database writer: a thread that takes writes off the event loop.

The node's thread only appends to a queue (`submit`, a deque append); the writer
thread drains it in batches of up to `batch_size`, in submission order, so the
writes of one key land in the order they were made. A batch the database refuses
stays at the head of the queue and is retried every `retry_interval` seconds;
nothing is dropped. `on_health(healthy, detail)` is called (from the writer
thread) when the database becomes unavailable and when the backlog has been
written again.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livenode.cache.database.backend import DatabaseBackend, DatabaseError, WriteOp

__all__ = ["DatabaseWriter", "WriterStatus"]

_log = logging.getLogger("livenode.cache.database")


@dataclass(frozen=True)
class WriterStatus:
    """The writer's state, for `livenode status` and the summary."""

    backend: str
    healthy: bool
    pending: int
    written: int
    batches: int
    failures: int
    lag_seconds: float
    last_error: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "healthy": self.healthy,
            "pending": self.pending,
            "written": self.written,
            "batches": self.batches,
            "failures": self.failures,
            "lag_seconds": round(self.lag_seconds, 3),
            "last_error": self.last_error,
        }


class DatabaseWriter:
    """Writes `WriteOp`s to `backend` from a thread of its own.

    Args:
        backend: opened already; from `start` on only the writer thread uses it.
        batch_size: writes per transaction at most.
        retry_interval: seconds between attempts while the database is unavailable.
        on_health: called with (False, reason) when a write fails and (True, "")
            when the backlog is written again; from the writer thread.
        encode: turns a queued value that is not bytes (a frozen message) into
            bytes, on the writer thread: the caller's thread only appends.
    """

    def __init__(
        self,
        backend: DatabaseBackend,
        *,
        batch_size: int = 1000,
        retry_interval: float = 1.0,
        on_health: Callable[[bool, str], None] | None = None,
        encode: Callable[[Any], bytes] | None = None,
    ) -> None:
        self._backend = backend
        self._encode = encode
        self._batch_size = batch_size
        self._retry_interval = retry_interval
        self._on_health = on_health
        # (monotonic time submitted, (area, key, value)); appended by the node, popped
        # by the writer. A value that is not bytes is encoded by the writer.
        self._queue: collections.deque[tuple[float, tuple[str, str, Any]]] = (
            collections.deque())
        self._wake = threading.Event()
        # Set by `close`: ends a retry pause at once (new writes must not).
        self._close_requested = threading.Event()
        self._done = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.submitted = 0
        self.written = 0
        self.batches = 0
        self.failures = 0
        self.healthy = True
        self.last_error: str | None = None

    # -- the node's side --------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"livenode-db-{self._backend.kind}", daemon=True
        )
        self._thread.start()

    def submit(self, op: tuple[str, str, Any]) -> None:
        """Queue one write (cheap: the hot path calls it). The value is bytes, None
        (a kv delete) or an immutable message for `encode`."""
        self._queue.append((time.monotonic(), op))
        self.submitted += 1
        if not self._wake.is_set():  # is_set takes no lock; set() does
            self._wake.set()

    def wait_written(self, timeout: float) -> bool:
        """Wait until every write submitted so far is in the database; False on timeout."""
        target = self.submitted
        deadline = time.monotonic() + timeout
        with self._done:
            while self.written < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return self.written >= target
                self._done.wait(min(remaining, 0.1))
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued (for at most `timeout` s), stop the thread, close the
        backend. False when writes were left unwritten (logged with their count)."""
        written = self.wait_written(timeout)
        self._closing = True
        self._close_requested.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=max(1.0, self._retry_interval * 2))
        if not written or self._queue:
            _log.error("cache database: %d write(s) not written at close (%s): %s",
                       len(self._queue), self._backend.describe(), self.last_error)
        self._backend.close()
        return written and not self._queue

    def status(self) -> WriterStatus:
        """A snapshot of the writer's state (any thread)."""
        queue = self._queue
        try:
            oldest = queue[0][0] if queue else None
        except IndexError:  # popped meanwhile
            oldest = None
        return WriterStatus(
            backend=self._backend.describe(),
            healthy=self.healthy,
            pending=len(queue),
            written=self.written,
            batches=self.batches,
            failures=self.failures,
            lag_seconds=0.0 if oldest is None else time.monotonic() - oldest,
            last_error=self.last_error,
        )

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        while True:
            self._wake.wait()
            self._wake.clear()
            while queue:
                count = min(len(queue), self._batch_size)
                try:
                    batch = self._batch(count)
                    self._backend.write(batch)
                except DatabaseError as exc:
                    self._failed(str(exc))
                    if self._closing:
                        return
                    # Keep the batch at the head; wait, then try the same writes again.
                    self._close_requested.wait(self._retry_interval)
                    continue
                except Exception as exc:  # noqa: BLE001 - the writer must not die
                    _log.exception("cache database: unexpected write failure")
                    self._failed(f"{type(exc).__name__}: {exc}")
                    if self._closing:
                        return
                    self._close_requested.wait(self._retry_interval)
                    continue
                for _ in range(count):
                    queue.popleft()
                self.batches += 1
                with self._done:
                    self.written += count
                    self._done.notify_all()
                if not self.healthy and not queue:
                    self.healthy = True
                    _log.warning("cache database available again: backlog written (%s)",
                                 self._backend.describe())
                    if self._on_health is not None:
                        self._on_health(True, "")
            if self._closing:
                return

    def _batch(self, count: int) -> list[WriteOp]:
        encode = self._encode
        batch: list[WriteOp] = []
        for i in range(count):
            area, key, value = self._queue[i][1]
            if value is not None and not isinstance(value, bytes):
                if encode is None:
                    raise TypeError(f"{area} {key}: {type(value).__name__} is not bytes")
                value = encode(value)
            batch.append((area, key, value))  # type: ignore[arg-type]
        return batch

    def _failed(self, reason: str) -> None:
        self.failures += 1
        self.last_error = reason
        if self.healthy:
            self.healthy = False
            _log.error("cache database unavailable, %d write(s) kept for retry: %s",
                       len(self._queue), reason)
            if self._on_health is not None:
                self._on_health(False, reason)
