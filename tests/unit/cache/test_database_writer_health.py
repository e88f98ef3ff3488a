"""The database writer measures the database's health (no sockets: a scripted
backend): a write that hangs marks it down within its timeout, once, and up again
when the backlog is written; a database that lost the writer's state stops the
writes until the node answers, with a rewrite in place of what was queued (key-value
writes kept, later writes after it) or by giving up (nothing written any more)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from livenode.cache.database import (
    DatabaseBackend,
    DatabaseLostError,
    DatabaseUnavailableError,
    DatabaseWriter,
    RunMarker,
    StoredRecords,
    WriteOp,
)

WAIT = 30.0


class ScriptedBackend(DatabaseBackend):
    """Records every batch applied; `behaviour(ops)` may raise or block first."""

    kind = "scripted"

    def __init__(self) -> None:
        super().__init__("TESTER-001")
        self.applied: list[WriteOp] = []
        self.attempts = 0
        self.behaviour: Callable[[list[WriteOp]], None] | None = None
        self.marker_resets = 0
        self.reads = 0
        self.read_behaviour: Callable[[], None] | None = None
        self.stored_marker: RunMarker | None = None

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def schema_version(self) -> int | None:
        return 1

    def write(self, ops: list[WriteOp]) -> None:
        self.attempts += 1
        if self.behaviour is not None:
            self.behaviour(ops)
        self.applied.extend(ops)
        if self._marker is not None:  # what a real backend's marker would count
            self._marker_writes = (self._marker_writes or 0) + len(ops)
            self.stored_marker = RunMarker(self._marker[0], self._marker[1],
                                           self._marker_writes)

    def read_marker(self, writer: str) -> RunMarker | None:
        self.reads += 1
        if self.read_behaviour is not None:
            self.read_behaviour()
        return self.stored_marker

    def reset_marker(self) -> None:
        self.marker_resets += 1
        super().reset_marker()

    def load(self) -> StoredRecords:
        return StoredRecords()

    def load_strategies(self) -> dict[str, bytes]:
        return {}

    def read_kv(self, namespace: str, key: str) -> bytes | None:
        return None

    def clone(self) -> ScriptedBackend:
        return ScriptedBackend()

    def flush_trader(self) -> int:
        return 0

    def describe(self) -> str:
        return "scripted://test"


class Health:
    """Records the writer's callbacks; events to wait on."""

    def __init__(self) -> None:
        self.calls: list[tuple[bool, str]] = []
        self.lost: list[tuple[str, str]] = []
        self.down, self.up, self.lost_event = threading.Event(), threading.Event(), \
            threading.Event()

    def on_health(self, ok: bool, detail: str) -> None:
        self.calls.append((ok, detail))
        (self.up if ok else self.down).set()

    def on_lost(self, kind: str, detail: str) -> None:
        self.lost.append((kind, detail))
        self.lost_event.set()


def _until(check: Callable[[], bool], what: str) -> None:
    """Poll `check` (a thread's progress: no event to wait on) against a deadline."""
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _block(gate: threading.Event) -> None:
    """A write that hangs until `gate` is set (as on a stopped server)."""
    assert gate.wait(WAIT), "the test never released the write"


def _op(n: int, area: str = "order_event") -> tuple[str, str, bytes]:
    return (area, f"O-{n}", f"e{n}".encode())


def _writer(backend: ScriptedBackend, health: Health, **options: object) -> DatabaseWriter:
    writer = DatabaseWriter(backend, retry_interval=0.01, on_health=health.on_health,
                            on_lost=health.on_lost, **options)  # type: ignore[arg-type]
    writer.start()
    return writer


def test_a_write_that_hangs_marks_the_database_down_within_its_timeout_once() -> None:
    backend, health = ScriptedBackend(), Health()
    release = threading.Event()
    backend.behaviour = lambda ops: _block(release)
    writer = _writer(backend, health, write_timeout=0.2)
    started = time.monotonic()
    writer.submit(_op(1))
    assert health.down.wait(WAIT), "a hanging write was never reported"
    detected = time.monotonic() - started
    # write_timeout + the watchdog's 1 s grace, + its poll interval and some slack.
    assert detected < 0.2 + 1.0 + 1.0, detected
    assert writer.state == "down" and not writer.status().healthy
    assert "has not completed after" in health.calls[0][1]
    writer.submit(_op(2))
    release.set()
    assert writer.wait_written(WAIT)
    assert health.up.wait(WAIT)
    assert health.calls[0][0] is False and health.calls[1:] == [(True, "")]  # once each
    assert [op[1] for op in backend.applied] == ["O-1", "O-2"]
    assert writer.close()


def test_failures_keep_the_writes_and_report_once_until_caught_up() -> None:
    backend, health = ScriptedBackend(), Health()
    failing = threading.Event()
    failing.set()

    def behaviour(ops: list[WriteOp]) -> None:
        if failing.is_set():
            raise DatabaseUnavailableError("scripted://test: Timeout reading")

    backend.behaviour = behaviour
    writer = _writer(backend, health)
    writer.submit(_op(1))
    assert health.down.wait(WAIT)
    _until(lambda: backend.attempts >= 3, "three attempts")  # it retries; reported once
    assert health.calls == [(False, "scripted://test: Timeout reading")]
    status = writer.status()
    assert status.state == "down" and status.pending == 1 and status.failures >= 3
    failing.clear()
    assert writer.wait_written(WAIT) and health.up.wait(WAIT)
    assert health.calls[-1] == (True, "")
    assert writer.close()


def _lose_once(backend: ScriptedBackend) -> None:
    lost = threading.Event()

    def behaviour(ops: list[WriteOp]) -> None:
        if not lost.is_set():
            lost.set()
            raise DatabaseLostError("missing", "scripted://test: run marker X is gone")

    backend.behaviour = behaviour


def test_a_lost_state_holds_the_writes_until_the_rewrite_replaces_those_before_its_cut(
) -> None:
    backend, health = ScriptedBackend(), Health()
    writer = _writer(backend, health)
    writer.submit(_op(1))
    assert writer.wait_written(WAIT)
    _lose_once(backend)
    writer.submit(_op(2))
    writer.submit(_op(3, "kv"))
    assert health.lost_event.wait(WAIT)
    assert health.lost == [("missing", "scripted://test: run marker X is gone")]
    assert health.calls == [(False, "scripted://test: run marker X is gone")]
    assert writer.state == "lost"
    waiter_result: list[bool] = []
    waiter = threading.Thread(target=lambda: waiter_result.append(writer.wait_written(WAIT)))
    waiter.start()  # waits for writes 2 and 3 in today's numbering
    cut = writer.submitted  # the node takes its state now...
    writer.submit(_op(4))  # ...and goes on queuing while it checks the rewrite
    attempts = backend.attempts
    assert writer.status().pending == 3 and backend.attempts == attempts  # held, not retried
    snapshot = [_op(10), _op(11), _op(12)]
    writer.rewrite(snapshot, cut)
    assert backend.marker_resets == 1
    assert writer.wait_written(WAIT)
    waiter.join(WAIT)
    assert waiter_result == [True]
    assert health.up.wait(WAIT) and health.calls[-1] == (True, "")
    keys = [op[1] for op in backend.applied]
    # The rewrite first, then the kv write it does not cover, then what came after it;
    # write 2 is in the rewrite (superseded).
    assert keys == ["O-1", "O-10", "O-11", "O-12", "O-3", "O-4"]
    status = writer.status()
    assert (status.state, status.losses, status.rewrites, status.rewritten,
            status.superseded, status.pending) == ("ok", 1, 1, 3, 1, 0)
    assert writer.close()


def test_wait_written_after_a_rewrite_waits_for_the_rewrite_itself() -> None:
    backend, health = ScriptedBackend(), Health()
    writer = _writer(backend, health)
    _lose_once(backend)
    writer.submit(_op(1))
    assert health.lost_event.wait(WAIT)
    gate = threading.Event()
    backend.behaviour = lambda ops: _block(gate)
    writer.rewrite([_op(10), _op(11)], writer.submitted)
    # Write 1 was superseded, not written: the wait is for the rewrite to land.
    assert not writer.wait_written(0.2)
    gate.set()
    assert writer.wait_written(WAIT)
    assert [op[1] for op in backend.applied] == ["O-10", "O-11"]
    assert writer.close()


def test_giving_up_writes_nothing_more_and_says_so() -> None:
    backend, health = ScriptedBackend(), Health()
    writer = _writer(backend, health)
    _lose_once(backend)
    writer.submit(_op(1))
    assert health.lost_event.wait(WAIT)
    writer.give_up("not rewritten: the history is not all here")
    writer.submit(_op(2))
    assert not writer.wait_written(0.5)
    _until(lambda: not writer.status().pending, "the writes dropped")
    status = writer.status()
    assert (status.state, status.pending, status.discarded) == ("halted", 0, 2)
    assert status.last_error == "not rewritten: the history is not all here"
    assert backend.applied == []
    assert writer.close() is False


def test_without_anyone_to_answer_a_loss_the_writer_gives_up_by_itself() -> None:
    backend = ScriptedBackend()
    writer = DatabaseWriter(backend, retry_interval=0.01)
    writer.start()
    _lose_once(backend)
    writer.submit(_op(1))
    assert not writer.wait_written(WAIT)
    assert writer.state == "halted"
    assert writer.close() is False


@pytest.mark.parametrize("kind", ["missing", "behind", "owner"])
def test_the_marker_check_names_each_loss(kind: str) -> None:
    backend = ScriptedBackend()
    backend.use_marker("exec:SIM", "instance-a")
    assert backend._marker_problem(None) is None  # not claimed yet: the first write claims
    backend._marker_writes = 10
    stored = {
        "missing": None,
        "behind": RunMarker("exec:SIM", "instance-a", 4),
        "owner": RunMarker("exec:SIM", "instance-b", 10),
    }[kind]
    problem = backend._marker_problem(stored)
    assert problem is not None and problem.kind == kind
    assert "exec:SIM" in str(problem)
    # More than expected is a batch applied twice (its reply was lost), not a loss.
    assert backend._marker_problem(RunMarker("exec:SIM", "instance-a", 12)) is None
    backend.reset_marker()
    assert backend._marker_problem(None) is None


def test_an_idle_writer_checks_the_marker_and_sees_a_loss_without_writing() -> None:
    backend, health = ScriptedBackend(), Health()
    backend.use_marker("strategies:S-1", "instance-a")
    writer = _writer(backend, health, check_interval=0.05)
    writer.submit(_op(1))
    assert writer.wait_written(WAIT)
    _until(lambda: backend.reads >= 2, "idle checks")
    assert not health.lost_event.is_set()  # the marker matches: nothing to say
    backend.stored_marker = None  # the database came back empty; nothing is written
    assert health.lost_event.wait(WAIT)
    assert health.lost[0][0] == "missing" and writer.state == "lost"
    writer.rewrite([_op(10)], writer.submitted)
    assert writer.wait_written(WAIT) and health.up.wait(WAIT)
    assert [op[1] for op in backend.applied] == ["O-1", "O-10"]
    assert writer.close()


def test_an_idle_writer_sees_the_database_unreachable_and_back() -> None:
    backend, health = ScriptedBackend(), Health()
    backend.use_marker("strategies:S-1", "instance-a")
    reachable = threading.Event()

    def read() -> None:
        if not reachable.is_set():
            raise DatabaseUnavailableError("scripted://test: Connection refused")

    backend.read_behaviour = read
    writer = _writer(backend, health, check_interval=0.05)
    assert health.down.wait(WAIT)
    assert health.calls == [(False, "scripted://test: Connection refused")]
    reachable.set()
    assert health.up.wait(WAIT) and writer.state == "ok"
    assert writer.close()
