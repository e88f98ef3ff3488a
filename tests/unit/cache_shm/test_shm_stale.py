"""Stale rows (a writer that died or stalled mid-write) and stale segments."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livenode.cache.shm import (
    ShmTables,
    StaleRowError,
    find_stale_segments,
    list_segments,
    remove_stale_segments,
)
from livenode.cache.shm.segment import HEADER_SIZE, SHM_DIR

from .conftest import BTC


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def _set_row_pid(tables: ShmTables, row: int, pid: int) -> None:
    off = HEADER_SIZE + row * tables.quotes.rows.row_size + 8
    struct.pack_into("<I", tables.quotes.segment.buf, off, pid)


def test_row_held_odd_by_a_live_writer_is_stale_after_the_timeout(trader_id: str) -> None:
    with ShmTables.create(
        trader_id, "s", instruments=[(BTC, 2, 3)], stale_timeout_ns=50_000_000
    ) as t:
        t.quotes.write_raw(0, 1, 8, 1, 1, 1, 1)
        t.quotes.rows._begin_write(0)
        start = time.monotonic()
        with pytest.raises(StaleRowError) as info:
            t.quotes.read_raw(0)
        assert time.monotonic() - start < 5
        e = info.value
        assert (e.row, e.writer_pid, e.seq) == (0, os.getpid(), 3)
        assert "half-written for over 50 ms" in str(e) and t.quotes.segment.name in str(e)
        assert t.quotes.rows.stale_reads == 1 and t.quotes.rows.retries > 0
        t.quotes.rows._end_write(0)
        assert t.quotes.read_raw(0) == (1, 8, 1, 1, 1, 1)


def test_row_left_odd_by_a_dead_writer_is_stale_at_once(trader_id: str) -> None:
    # Long timeout: only the dead-writer check can end the read quickly.
    with ShmTables.create(
        trader_id, "s", instruments=[(BTC, 2, 3)], stale_timeout_ns=60_000_000_000
    ) as t:
        t.quotes.write_raw(0, 1, 8, 1, 1, 1, 1)
        t.quotes.rows._begin_write(0)
        dead = _dead_pid()
        _set_row_pid(t, 0, dead)
        start = time.monotonic()
        with pytest.raises(StaleRowError, match=f"writer pid {dead} is gone"):
            t.quotes.read(BTC)
        assert time.monotonic() - start < 30  # far below the 60 s timeout: the dead-writer check
        status = t.quotes.status(0)
        assert status.writing and not status.writer_alive and status.writer_pid == dead


def test_next_writer_recovers_a_row_left_odd(trader_id: str) -> None:
    with ShmTables.create(trader_id, "s", instruments=[(BTC, 2, 3)]) as t:
        t.quotes.write_raw(0, 1, 8, 1, 1, 1, 1)
        t.quotes.rows._begin_write(0)  # seq 3: "died" here
        with ShmTables.attach(t.prefix) as successor:
            successor.quotes.write_raw(0, 2, 9, 1, 1, 1, 1)
            assert successor.quotes.rows.seq(0) == 6  # stepped over the odd 3 and 4
            assert t.quotes.read_raw(0) == (2, 9, 1, 1, 1, 1)
            assert t.quotes.status(0).writer_pid == os.getpid()


def test_live_segments_are_never_stale(tables: ShmTables, trader_id: str) -> None:
    found = list_segments(trader_id)
    assert [s.name for s in found] == sorted(tables.segment_names)
    assert all(s.valid and s.owner_alive and not s.stale for s in found)
    assert find_stale_segments(trader_id) == []
    assert remove_stale_segments(trader_id) == []
    assert all(os.path.exists(os.path.join(SHM_DIR, n)) for n in tables.segment_names)


def test_segments_of_a_dead_owner_are_removed(trader_id: str) -> None:
    live = ShmTables.create(trader_id, "live")
    dead = ShmTables.create(trader_id, "dead")
    dead_pid = _dead_pid()
    for name in dead.segment_names:
        with open(os.path.join(SHM_DIR, name), "r+b") as f:
            f.seek(32)
            f.write(struct.pack("<I", dead_pid))
    dead.close()
    try:
        stale = find_stale_segments(trader_id)
        assert sorted(s.name for s in stale) == sorted(dead.segment_names)
        assert all(s.reason == f"owner pid {dead_pid} is gone" for s in stale)
        assert all(s.trader_id != trader_id for s in find_stale_segments("OTHER-001"))
        removed = remove_stale_segments(trader_id)
        assert sorted(s.name for s in removed) == sorted(dead.segment_names)
        assert not any(os.path.exists(os.path.join(SHM_DIR, n)) for n in dead.segment_names)
        assert all(os.path.exists(os.path.join(SHM_DIR, n)) for n in live.segment_names)
    finally:
        live.unlink()
        live.close()


def test_a_recycled_owner_pid_is_not_the_owner(trader_id: str) -> None:
    t = ShmTables.create(trader_id, "recycled")
    # Same (live) pid, another start time: the pid now belongs to someone else.
    for name in t.segment_names:
        with open(os.path.join(SHM_DIR, name), "r+b") as f:
            f.seek(40)
            f.write(struct.pack("<d", 12345.0))
    t.close()
    removed = remove_stale_segments(trader_id)
    assert sorted(s.name for s in removed) == sorted(t.segment_names)


def test_headerless_segment_is_stale_only_after_the_grace_period(trader_id: str) -> None:
    path = os.path.join(SHM_DIR, f"livenode-{trader_id}-half-quotes")
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    os.close(fd)  # a creator caught between O_CREAT and writing the header
    assert find_stale_segments(trader_id) == []
    [info] = list_segments(trader_id)
    assert not info.valid and info.reason == "no livenode header yet"
    [removed] = remove_stale_segments(trader_id, invalid_grace_s=-1.0)
    assert removed.name == os.path.basename(path) and not os.path.exists(path)


def test_segment_half_created_by_a_dead_process_is_cleaned_at_once(
    trader_id: str, own_run_base: Path
) -> None:
    """A process that dies while creating a segment (here: right after sizing the file,
    before its header is written) leaves nothing that `livenode clean` keeps for the
    60 s grace period: its owner is provably gone. (Like a node, it made its run
    directory first: `clean` removes only the shared memory its run base records.)"""
    script = (
        "import os, sys\n"
        "from livenode.cache.shm.segment import Segment\n"
        "from livenode.supervisor.rundir import create_run_dir\n"
        f"create_run_dir('{trader_id}', 'half')\n"
        "real = os.ftruncate\n"
        "def sized_then_killed(fd, size):\n"
        "    real(fd, size)\n"
        "    os._exit(9)  # as if SIGKILLed between creating the file and its header\n"
        "os.ftruncate = sized_then_killed\n"
        f"Segment.create('livenode-{trader_id}-half-quotes', kind='quotes', row_format='q',\n"
        f"               row_size=8, capacity=4, trader_id='{trader_id}', instance_id='half')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    left = list_segments(trader_id)
    assert left, "the killed creator left no file: the test did not interrupt a creation"
    assert not any(s.name == f"livenode-{trader_id}-half-quotes" for s in left if not s.valid), (
        "a half-made segment is never seen under its real name"
    )
    result = subprocess.run(
        [sys.executable, "-m", "livenode", "clean", "--trader", trader_id],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "removed shared memory" in result.stdout and "is gone" in result.stdout, result.stdout
    assert f"removed run directory {trader_id}-half" in result.stdout, result.stdout
    assert list_segments(trader_id) == []
