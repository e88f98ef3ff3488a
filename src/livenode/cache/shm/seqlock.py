"""Seqlocked rows: one writer per row, any number of readers, no torn reads.

Row layout (little-endian, offsets from the row start, row size a multiple of 64
so two rows never share a cache line):

    seq u64 | writer_pid u32 | pad u32 | payload ... | key ... (keyed tables)

Protocol. The writer stores `seq` odd, then the payload, then `seq` even (one
higher than the odd value). A reader loads `seq`, the payload, then `seq`
again, and accepts the payload only if both loads are equal and even. `seq` 0
means "never written".

Why this is sound here. On x86-64 (TSO) stores become visible to other cores in
program order and loads are not reordered with other loads, so a reader that
sees the same even `seq` before and after its payload load saw no store of a
write in between. CPython issues each store and `unpack_from` load as a separate C
call reached through the interpreter, so the C compiler cannot move the payload
copy across the `seq` stores either. `seq` sits 8-byte aligned and is stored
by slice assignment of 8 packed bytes (one `memcpy` of 8 aligned bytes: single
8-byte moves, atomic on x86-64), so it is never torn. Not with
`Struct.pack_into`: CPython zero-fills the target before packing into it, so a
reader can catch seq as a transient 0 (the torture test caught exactly that).
On weakly ordered CPUs (ARM, POWER) this would need a release fence
before the final `seq` store and acquire fences around the reader's payload
load, which pure Python cannot issue; this module is x86-64 only, as the
project's hosts are.

A writer that dies between the two `seq` stores leaves the row odd for good.
Readers spin a bounded number of times, then yield and check whether the
writer (its pid is in the row) still lives; a dead writer, or an odd row older
than `stale_timeout_ns`, raises `StaleRowError` instead of spinning forever.
The next writer of the row (say, the restarted worker) skips past the odd value
and the row becomes readable again.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from typing import Any

from livenode.cache.shm.errors import ShmCapacityError, StaleRowError
from livenode.cache.shm.segment import HEADER_SIZE, Segment, process_alive

#: Format of the fixed row prefix (seq, writer pid, pad).
ROW_PREFIX = "QI4x"
PREFIX_SIZE = 16
#: Reads tried back to back before the slow path (yield, liveness checks).
SPIN_READS = 200
#: Default time a row may stay odd before a reader calls it stale.
DEFAULT_STALE_TIMEOUT_NS = 500_000_000
# Liveness checks are syscalls; do them at most this often while spinning.
_LIVENESS_CHECK_NS = 1_000_000

_SEQ = struct.Struct("<Q")
_PID = struct.Struct("<I")
_SEQ_UNPACK = _SEQ.unpack_from
_SEQ_PACK = _SEQ.pack


def row_geometry(payload_format: str, key_format: str = "") -> tuple[str, int, int]:
    """(full row format, row size rounded up to 64, key offset) for a table."""
    if "<" in payload_format + key_format or "@" in payload_format + key_format:
        raise ValueError("give formats without a byte-order character")
    fmt = "<" + ROW_PREFIX + payload_format
    key_offset = struct.calcsize(fmt)
    size = key_offset + struct.calcsize("<" + key_format)
    return fmt + key_format, -(-size // 64) * 64, key_offset


class RowStatus:
    """What a row's prefix says (for status displays and diagnostics)."""

    __slots__ = ("row", "seq", "writer_alive", "writer_pid", "writing")

    def __init__(self, row: int, seq: int, writer_pid: int, writer_alive: bool) -> None:
        self.row = row
        self.seq = seq
        self.writer_pid = writer_pid
        self.writing = bool(seq & 1)
        self.writer_alive = writer_alive

    def __repr__(self) -> str:
        return (
            f"RowStatus(row={self.row}, seq={self.seq}, writer_pid={self.writer_pid}, "
            f"writing={self.writing}, writer_alive={self.writer_alive})"
        )


class SeqlockRows:
    """The seqlocked rows of one segment, with a fixed payload format.

    `write_raw` must only be called by the row's one writer (per row, across
    all processes); `read_raw` by anyone. Counters `retries` and `stale_reads`
    are per process.
    """

    def __init__(
        self,
        segment: Segment,
        payload_format: str,
        key_format: str = "",
        *,
        stale_timeout_ns: int = DEFAULT_STALE_TIMEOUT_NS,
    ) -> None:
        self.segment = segment
        self.name = segment.name
        self.capacity = segment.capacity
        self.row_format, self.row_size, self.key_offset = row_geometry(payload_format, key_format)
        self._row = struct.Struct("<" + ROW_PREFIX + payload_format)
        self._payload = struct.Struct("<" + payload_format)
        self.payload_size = self._payload.size
        self.stale_timeout_ns = stale_timeout_ns
        self._buf = segment.buf
        self._unpack = self._row.unpack_from
        self._offsets = tuple(HEADER_SIZE + i * self.row_size for i in range(self.capacity))
        # The writer's own copy of each row's seq (-1: not written by us yet),
        # so a write needs no load of seq; valid because one process writes a row.
        self._wseq = [-1] * self.capacity
        self.retries = 0
        self.stale_reads = 0

    # -- writer ---------------------------------------------------------------------

    def write_raw(self, row: int, *values: object) -> None:
        """Publish a row's payload (the row's writer only)."""
        buf = self._buf
        off = self._offsets[row]
        # Packed before the row goes odd: a value that does not fit raises here
        # and leaves the row as it was, never half-written.
        data = self._payload.pack(*values)
        s = self._wseq[row]
        if s < 0:
            s = self._claim(row)
        # Slice assignment, never `pack_into`: `pack_into` zero-fills its target
        # before storing, so a reader could load seq as a transient 0.
        buf[off : off + 8] = _SEQ_PACK(s + 1)
        buf[off + PREFIX_SIZE : off + PREFIX_SIZE + self.payload_size] = data
        buf[off : off + 8] = _SEQ_PACK(s + 2)
        self._wseq[row] = s + 2

    def _claim(self, row: int) -> int:
        """First write of `row` by this process: stamp our pid, pick up the seq."""
        buf = self.segment.buf
        off = self._offsets[row]
        buf[off + 8 : off + 12] = _PID.pack(os.getpid())
        s: int = _SEQ.unpack_from(buf, off)[0]
        # Odd: a previous writer died mid-write. Step over it to the next even
        # value so our odd/even pair differs from anything a reader saw.
        return s + 1 if s & 1 else s

    def _begin_write(self, row: int) -> int:
        """Make the row odd and leave it so (fault drills: a writer 'dying' mid-write)."""
        s = self._wseq[row]
        if s < 0:
            s = self._claim(row)
        off = self._offsets[row]
        self._buf[off : off + 8] = _SEQ_PACK(s + 1)
        return s + 1

    def _end_write(self, row: int) -> None:
        """Finish a write begun with `_begin_write` (payload unchanged)."""
        s = self._wseq[row] if self._wseq[row] >= 0 else self._claim(row)
        off = self._offsets[row]
        self._buf[off : off + 8] = _SEQ_PACK(s + 2)
        self._wseq[row] = s + 2

    # -- reader ---------------------------------------------------------------------

    def read_raw(self, row: int) -> tuple[Any, ...] | None:
        """A consistent copy of the row's payload, None if never written.

        Raises `StaleRowError` if the row stays half-written (see the module doc).
        """
        buf = self._buf
        off = self._offsets[row]
        v = self._unpack(buf, off)
        s = v[0]
        # One optimistic attempt inline: the common case costs two unpacks.
        if not s & 1 and _SEQ_UNPACK(buf, off)[0] == s:
            return v[2:] if s else None
        return self._read_retry(row, off)

    def _read_retry(self, row: int, off: int) -> tuple[Any, ...] | None:
        buf = self._buf
        unpack = self._unpack
        for _ in range(SPIN_READS):
            self.retries += 1
            v = unpack(buf, off)
            s = v[0]
            if not s & 1 and _SEQ_UNPACK(buf, off)[0] == s:
                return v[2:] if s else None
        return self._read_contended(row, off)

    def _read_contended(self, row: int, off: int) -> tuple[Any, ...] | None:
        buf = self._buf
        unpack = self._unpack
        start = time.monotonic_ns()
        next_check = start
        while True:
            # On a loaded host the writer may be preempted mid-write on our
            # core: give it the CPU instead of burning our time slice.
            os.sched_yield()
            for _ in range(SPIN_READS):
                self.retries += 1
                v = unpack(buf, off)
                s = v[0]
                if not s & 1 and _SEQ_UNPACK(buf, off)[0] == s:
                    return v[2:] if s else None
            now = time.monotonic_ns()
            if now >= next_check:
                next_check = now + _LIVENESS_CHECK_NS
                s = _SEQ.unpack_from(buf, off)[0]
                pid = _PID.unpack_from(buf, off + 8)[0]
                # Load seq once more: the writer may have finished and then died.
                if s & 1 and not process_alive(pid) and _SEQ.unpack_from(buf, off)[0] == s:
                    self.stale_reads += 1
                    raise StaleRowError(self.name, row, pid, s, f"writer pid {pid} is gone")
            if now - start >= self.stale_timeout_ns:
                s = _SEQ.unpack_from(buf, off)[0]
                pid = _PID.unpack_from(buf, off + 8)[0]
                self.stale_reads += 1
                why = "half-written" if s & 1 else "changing on every read"
                raise StaleRowError(
                    self.name, row, pid, s,
                    f"{why} for over {self.stale_timeout_ns / 1e6:.0f} ms (writer stalled?)",
                )

    def seq(self, row: int) -> int:
        """The row's current sequence number (0: never written, odd: being written)."""
        seq: int = _SEQ.unpack_from(self.segment.buf, self._offsets[row])[0]
        return seq

    def status(self, row: int) -> RowStatus:
        """Seq and writer of a row, and whether that writer is alive (a syscall)."""
        off = self._offsets[row]
        s = _SEQ.unpack_from(self.segment.buf, off)[0]
        pid = _PID.unpack_from(self.segment.buf, off + 8)[0]
        return RowStatus(row, s, pid, process_alive(pid))

    # -- keys (immutable once published) ---------------------------------------------

    def read_key(self, row: int, key: struct.Struct) -> tuple[Any, ...]:
        """The key fields of a row (written once, before the row count covers it)."""
        return key.unpack_from(self.segment.buf, self._offsets[row] + self.key_offset)

    def write_key(self, row: int, key: struct.Struct, *values: object) -> None:
        """Store a new row's key; only under the segment lock, before `set_count`."""
        key.pack_into(self.segment.buf, self._offsets[row] + self.key_offset, *values)


class KeyIndex:
    """Key → row of a keyed table, shared by all processes through the segment.

    Keys are text plus fixed extra fields (e.g. an instrument's precisions).
    A row's key is written once under the segment lock and published by
    raising the segment's row count; readers map new rows in when a lookup misses.
    """

    def __init__(self, rows: SeqlockRows, key_format: str, what: str, width: int) -> None:
        self.rows = rows
        self._key = struct.Struct("<" + key_format)
        self._what = what
        self._width = width
        self._rows: dict[str, int] = {}
        self.keys: list[str] = []
        self.extras: list[tuple[Any, ...]] = []

    def refresh(self) -> None:
        """Map in rows other processes registered since the last look."""
        count = self.rows.segment.count
        for row in range(len(self.keys), count):
            text, *extra = self.rows.read_key(row, self._key)
            key = text.rstrip(b"\x00").decode()
            self._rows[key] = row
            self.keys.append(key)
            self.extras.append(tuple(extra))

    def lookup(self, key: str) -> int | None:
        """The row of `key`, None if nobody registered it."""
        row = self._rows.get(key)
        if row is None:
            self.refresh()
            row = self._rows.get(key)
        return row

    def register(
        self, key: str, *extra: object, check: Callable[[tuple[object, ...]], None] | None = None
    ) -> int:
        """The row of `key`, allocated (with `extra`) if new. `check(old_extra)` may object."""
        row = self.lookup(key)
        if row is None:
            data = key.encode()
            if len(data) > self._width:
                raise ValueError(
                    f"{self._what} {key!r} is {len(data)} bytes in UTF-8; "
                    f"the field holds {self._width}"
                )
            segment = self.rows.segment
            with segment.locked():
                self.refresh()
                row = self._rows.get(key)
                if row is None:
                    row = segment.count
                    if row >= segment.capacity:
                        raise ShmCapacityError(
                            f"shared-memory table {segment.name!r} is full ({segment.capacity} "
                            f"rows); cannot add {self._what} {key!r}: raise its capacity"
                        )
                    self.rows.write_key(row, self._key, data, *extra)
                    segment.set_count(row + 1)  # publishes the key: stored after it
                    self.refresh()
                    return row
        if check is not None:
            check(self.extras[row])
        return row

    def __len__(self) -> int:
        self.refresh()
        return len(self.keys)


__all__ = ["KeyIndex", "RowStatus", "SeqlockRows", "row_geometry"]
