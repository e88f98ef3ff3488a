"""The database writer: a thread that takes writes off the event loop.

The node's thread only appends to a queue (`submit`, a deque append); the writer
thread drains it in batches of up to `batch_size`, in submission order, so the
writes of one key land in the order they were made. A batch the database refuses
stays at the head of the queue and is retried every `retry_interval` seconds;
nothing is dropped.

Health is measured, not assumed. The writer is in one of five states:

- ``ok``: writes land;
- ``down``: a write failed or did not finish within `write_timeout` (a watchdog
  thread notices a write that hangs even where the backend's own timeout does not
  fire); the writes are kept and retried, and the state is ``ok`` again once the
  backlog is written;
- ``lost``: the database refused a batch because it no longer holds this writer's
  state (`DatabaseLostError`, the run marker); nothing more is written until the
  node decides: `rewrite` (its full state from memory, in place of what was queued)
  or `give_up`;
- ``rewriting``: the rewrite is being written; ``ok`` once it and the backlog are;
- ``halted``: given up; nothing is written to this database any more.

`on_health(healthy, detail)` is called (from a writer thread) when the state leaves
``ok`` and when it is ``ok`` again; `on_lost(kind, detail)` when it enters ``lost``.
Each change is logged once, with the reason.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from livenode.cache.database.backend import (
    DatabaseBackend,
    DatabaseError,
    DatabaseLostError,
    WriteOp,
)

__all__ = ["DatabaseWriter", "WriterState", "WriterStatus"]

_log = logging.getLogger("livenode.cache.database")

WriterState = Literal["ok", "down", "lost", "rewriting", "halted"]
# A queued write: (area, key, value); the value may still need encoding.
QueuedOp = tuple[str, str, Any]


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
    state: WriterState = "ok"
    # Times the database lost this writer's state, and the last reason.
    losses: int = 0
    last_loss: str | None = None
    # Rewrites of the full state queued after a loss, and the writes they queued.
    rewrites: int = 0
    rewritten: int = 0
    # Queued writes a rewrite made unnecessary (their content is in the rewrite).
    superseded: int = 0
    # Writes dropped after `give_up` (never written).
    discarded: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "healthy": self.healthy,
            "state": self.state,
            "pending": self.pending,
            "written": self.written,
            "batches": self.batches,
            "failures": self.failures,
            "lag_seconds": round(self.lag_seconds, 3),
            "last_error": self.last_error,
            "losses": self.losses,
            "last_loss": self.last_loss,
            "rewrites": self.rewrites,
            "rewritten": self.rewritten,
            "superseded": self.superseded,
            "discarded": self.discarded,
        }


class DatabaseWriter:
    """Writes `WriteOp`s to `backend` from a thread of its own.

    Args:
        backend: opened already; from `start` on only the writer thread uses it.
        batch_size: writes per transaction at most.
        retry_interval: seconds between attempts while the database is unavailable.
        write_timeout: a batch still not written after this many seconds marks the
            database down (None: only the backend's own errors do).
        check_interval: with a run marker in use, seconds without a write after which
            the writer reads the marker (`DatabaseBackend.check_marker`): a database
            that lost the state, or cannot be reached, is seen without a write.
        on_health: called with (False, reason) when the state leaves ``ok`` and
            (True, "") when it is ``ok`` again; from a writer thread.
        on_lost: called with (kind, reason) when the database lost this writer's
            state; the node answers with `rewrite` or `give_up`. Without it the
            writer gives up by itself.
        encode: turns a queued value that is not bytes (a frozen message) into
            bytes, on the writer thread: the caller's thread only appends.
    """

    def __init__(
        self,
        backend: DatabaseBackend,
        *,
        batch_size: int = 1000,
        retry_interval: float = 1.0,
        write_timeout: float | None = None,
        check_interval: float = 5.0,
        on_health: Callable[[bool, str], None] | None = None,
        on_lost: Callable[[str, str], None] | None = None,
        encode: Callable[[Any], bytes] | None = None,
    ) -> None:
        self._backend = backend
        self._check_interval = check_interval
        self._encode = encode
        self._batch_size = batch_size
        self._retry_interval = retry_interval
        self._write_timeout = write_timeout
        self._on_health = on_health
        self._on_lost = on_lost
        # (monotonic time submitted, (area, key, value)); appended by the node, popped
        # by the writer. A value that is not bytes is encoded by the writer.
        self._queue: collections.deque[tuple[float, QueuedOp]] = collections.deque()
        self._wake = threading.Event()
        # Set by `rewrite` / `give_up`: the node answered a loss.
        self._resume = threading.Event()
        # Set by `close`: ends a retry pause at once (new writes must not).
        self._close_requested = threading.Event()
        self._done = threading.Condition()
        # Guards the state and its counters (the writer and the watchdog both change it).
        self._lock = threading.Lock()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        # Monotonic time the batch being written was handed to the backend.
        self._in_flight_since: float | None = None
        self._in_flight_count = 0
        # One entry per rewrite: (written before it, cut, shift), for `wait_written`.
        self._rewrite_log: list[tuple[int, int, int]] = []
        self.state: WriterState = "ok"
        self.submitted = 0
        self.written = 0
        self.batches = 0
        self.failures = 0
        self.losses = 0
        self.last_loss: str | None = None
        self.rewrites = 0
        self.rewritten = 0
        self.superseded = 0
        self.discarded = 0
        self.last_error: str | None = None

    @property
    def healthy(self) -> bool:
        """Whether writes land (state ``ok``)."""
        return self.state == "ok"

    # -- the node's side --------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (and the watchdog, with a `write_timeout`)."""
        if self._thread is not None:
            return
        kind = self._backend.kind
        self._thread = threading.Thread(target=self._run, name=f"livenode-db-{kind}",
                                        daemon=True)
        self._thread.start()
        if self._write_timeout is not None:
            self._watchdog = threading.Thread(
                target=self._watch, name=f"livenode-db-{kind}-watchdog", daemon=True)
            self._watchdog.start()

    def submit(self, op: QueuedOp) -> None:
        """Queue one write (cheap: the hot path calls it). The value is bytes, None
        (a kv delete) or an immutable message for `encode`."""
        self._queue.append((time.monotonic(), op))
        self.submitted += 1
        if not self._wake.is_set():  # is_set takes no lock; set() does
            self._wake.set()

    def rewrite(self, ops: list[QueuedOp], cut: int) -> None:
        """Answer a loss: write `ops` (the full state, taken when `submitted` was
        `cut`) in place of every write queued before `cut`, then what was queued
        after it. Key-value writes are not part of a state snapshot and are kept.

        Call it from the thread that calls `submit`, while the state is ``lost``.
        """
        with self._lock:
            if self.state != "lost" or self._closing:
                _log.warning("cache database: rewrite ignored in state %s", self.state)
                return
            queue = self._queue
            done = self.written
            before = max(0, min(cut - done, len(queue)))
            items = list(queue)
            now = time.monotonic()
            kept = [item for item in items[:before] if item[1][0] == "kv"]
            dropped = before - len(kept)
            queue.clear()
            queue.extend((now, op) for op in ops)
            queue.extend(kept)
            queue.extend(items[before:])
            shift = len(ops) - dropped
            self._rewrite_log.append((done, done + before, shift))
            self.submitted += shift
            self.superseded += dropped
            self.rewrites += 1
            self.rewritten += len(ops)
            self.state = "rewriting"
            self._backend.reset_marker()  # the writer thread is paused: no concurrent use
        self._resume.set()
        self._wake.set()

    def give_up(self, reason: str) -> None:
        """Answer a loss with no rewrite: nothing more is written to this database
        (what is queued and what comes is dropped, counted as `discarded`)."""
        with self._lock:
            if self.state == "halted":
                return
            self.state = "halted"
            self.last_error = reason
        self._resume.set()
        self._wake.set()
        with self._done:
            self._done.notify_all()

    def wait_written(self, timeout: float) -> bool:
        """Wait until every write submitted so far is in the database (a rewrite's
        in their place, after a loss); False on timeout or once given up."""
        target = self.submitted
        since = len(self._rewrite_log)
        deadline = time.monotonic() + timeout
        with self._done:
            while self.written < self._target(target, since):
                remaining = deadline - time.monotonic()
                if (remaining <= 0 or self.state == "halted" or self._thread is None
                        or not self._thread.is_alive()):
                    return self.state != "halted" and self.written >= self._target(
                        target, since)
                self._done.wait(min(remaining, 0.1))
        return True

    def _target(self, target: int, since: int) -> int:
        """`target` (a `submitted` count) in today's numbering: a rewrite puts its
        writes first and replaces those before its cut (durable once it is)."""
        for done_before, cut, shift in self._rewrite_log[since:]:
            if target > done_before:
                target = max(target, cut) + shift
        return target

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued (for at most `timeout` s), stop the threads, close the
        backend. False when writes were left unwritten (logged with their count)."""
        # Lost and unanswered at close: nobody will rewrite it now, do not wait.
        written = self.wait_written(timeout) if self.state not in ("halted", "lost") else False
        self._closing = True
        self._close_requested.set()
        self._resume.set()
        self._wake.set()
        for thread in (self._thread, self._watchdog):
            if thread is not None:
                thread.join(timeout=max(1.0, self._retry_interval * 2))
        if self.state == "halted":
            _log.error("cache database: %d write(s) never written (%s): given up after "
                       "it lost this node's state: %s", self.discarded + len(self._queue),
                       self._backend.describe(), self.last_error)
        elif not written or self._queue:
            _log.error("cache database: %d write(s) not written at close (%s, %s): %s",
                       len(self._queue), self._backend.describe(), self.state,
                       self.last_error)
        self._backend.close()
        return written and not self._queue and self.state != "halted"

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
            state=self.state,
            losses=self.losses,
            last_loss=self.last_loss,
            rewrites=self.rewrites,
            rewritten=self.rewritten,
            superseded=self.superseded,
            discarded=self.discarded,
        )

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        checking = self._backend.has_marker
        while True:
            woke = self._wake.wait(self._check_interval if checking else None)
            self._wake.clear()
            if not woke and not queue and not self._closing and not self._check():
                return
            while queue:
                if self.state == "halted":
                    self._discard()
                    break
                count = min(len(queue), self._batch_size)
                try:
                    batch = self._batch(count)
                    self._in_flight_count = count
                    self._in_flight_since = time.monotonic()
                    try:
                        self._backend.write(batch)
                    finally:
                        self._in_flight_since = None
                except DatabaseLostError as exc:
                    if not self._lost(exc):
                        return
                    continue  # `rewrite` changed the queue, or `give_up` empties it
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
                if not queue:
                    self._caught_up()
            if self._closing:
                return

    def _check(self) -> bool:
        """Nothing written for a while: read the run marker. False when closing."""
        if self.state not in ("ok", "down"):
            return True
        try:
            self._in_flight_count = 0
            self._in_flight_since = time.monotonic()  # the watchdog covers a hung read
            try:
                self._backend.check_marker()
            finally:
                self._in_flight_since = None
        except DatabaseLostError as exc:
            return self._lost(exc)
        except DatabaseError as exc:
            self._failed(str(exc))
            return True
        if not self._queue:
            self._caught_up(checked=True)  # down, reachable again, nothing left to write
        return True

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

    def _discard(self) -> None:
        with self._lock:
            self.discarded += len(self._queue)
            self._queue.clear()

    def _failed(self, reason: str) -> None:
        """A write failed or hangs: ``ok`` becomes ``down`` (logged, reported once)."""
        with self._lock:
            self.failures += 1
            self.last_error = reason
            if self.state != "ok":
                return
            self.state = "down"
        _log.error("cache database unavailable, %d write(s) kept for retry: %s",
                   len(self._queue), reason)
        if self._on_health is not None:
            self._on_health(False, reason)

    def _caught_up(self, *, checked: bool = False) -> None:
        """Everything queued is written (or, `checked`, the database answered a check
        with nothing queued): ``down`` or ``rewriting`` is ``ok`` again."""
        with self._lock:
            previous = self.state
            if previous not in ("down", "rewriting"):
                return
            self.state = "ok"
        if previous == "rewriting":
            _log.warning("cache database %s: this node's state rewritten (%d write(s)) and "
                         "the backlog written: available again", self._backend.describe(),
                         self.rewritten)
        elif checked:
            _log.warning("cache database available again: it answers and holds this "
                         "node's state (%s)", self._backend.describe())
        else:
            _log.warning("cache database available again: backlog written (%s)",
                         self._backend.describe())
        if self._on_health is not None:
            self._on_health(True, "")

    def _lost(self, exc: DatabaseLostError) -> bool:
        """Enter ``lost`` and wait for the node's answer; False when closing."""
        reason = str(exc)
        with self._lock:
            was_ok = self.state == "ok"
            self.state = "lost"
            self.losses += 1
            self.last_loss = reason
            self.last_error = reason
            self._resume.clear()
        _log.error("cache database lost this node's state: %s; %d write(s) held", reason,
                   len(self._queue))
        if was_ok and self._on_health is not None:
            self._on_health(False, reason)
        if self._on_lost is None:
            self.give_up(f"{reason} (nobody to rewrite it)")
        else:
            self._on_lost(exc.kind, reason)
        while not self._resume.wait(0.5):
            if self._closing:
                return False
        return not self._closing

    def _watch(self) -> None:
        """The watchdog: a batch in flight past `write_timeout` (+ a second, so that
        the backend's own timeout, which says more, usually fires first) is a failure."""
        assert self._write_timeout is not None
        limit = self._write_timeout + 1.0
        interval = min(0.25, limit / 4)
        reported: float | None = None
        while not self._close_requested.wait(interval):
            since = self._in_flight_since
            if since is None or since == reported:
                continue
            waited = time.monotonic() - since
            if waited > limit:
                reported = since  # once per hanging write
                what = (f"a write of {self._in_flight_count} op(s)" if self._in_flight_count
                        else "a check of the run marker")
                self._failed(f"{self._backend.describe()}: {what} has not completed after "
                             f"{waited:.1f}s (write timeout {self._write_timeout:g}s)")
