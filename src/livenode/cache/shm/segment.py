"""One POSIX shared-memory segment: a versioned header followed by fixed-size rows.

Segments are files under `/dev/shm` opened with `os.open` and mapped with
`mmap`. That is exactly what `shm_open(3)` does on Linux, minus the resource
tracker: Python 3.11's `multiprocessing.shared_memory` registers every segment
it *attaches* with the resource tracker, which then unlinks it (and prints a
"leaked shared_memory" warning) when the attaching process exits, pulling the
segment out from under the node that still uses it. Going through the OS
interface directly, nothing but the owner ever unlinks a segment.

Header (little-endian, `HEADER_SIZE` bytes, rows start right after it):

    magic 8s | version u32 | header_size u32 | row_size u32 | capacity u32 |
    layout_id u32 | count u32 | owner_pid u32 | pad u32 | owner_ctime f64 |
    created_ns u64 | kind 16s | trader_id 64s | instance_id 64s

`layout_id` is a CRC of the table kind and its row format, so a layout change
that forgot to bump `LAYOUT_VERSION` is still caught on attach. `count` is the
number of rows handed out to keys (keyed tables), updated under an exclusive
`flock` on the segment file. The owner pid plus its process start time
identify the creating process even after its pid is recycled.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, Self

import psutil

from livenode.cache.shm.errors import (
    LayoutMismatchError,
    SegmentExistsError,
    SegmentNotFoundError,
)

#: First bytes of every livenode segment.
MAGIC = b"LVNSHM\x00\x01"
#: Bump on any change of the header or of a row layout.
LAYOUT_VERSION = 1
#: Rows start at this offset: a multiple of the cache line and of 8.
HEADER_SIZE = 256
#: Every segment name starts with this, which is how cleanup finds them.
NAME_PREFIX = "livenode-"
#: Where Linux keeps POSIX shared memory.
SHM_DIR = "/dev/shm"

_HEADER = struct.Struct("<8sIIIIIII4xdQ16s64s64s")
_COUNT = struct.Struct("<I")
_COUNT_OFFSET = 28  # magic 8 + five u32
assert _HEADER.size <= HEADER_SIZE


def encode_fixed(text: str, width: int, what: str) -> bytes:
    """`text` as UTF-8 for a fixed-width field; ValueError naming it when too long."""
    data = text.encode()
    if len(data) > width:
        raise ValueError(f"{what} {text!r} is {len(data)} bytes in UTF-8; the field holds {width}")
    return data


def decode_fixed(data: bytes) -> str:
    """Inverse of `encode_fixed` (struct pads with NULs)."""
    return data.rstrip(b"\x00").decode()


def layout_id(kind: str, row_format: str) -> int:
    """A checksum of a table's kind and row format, stored in its header."""
    return zlib.crc32(f"{kind}:{row_format}".encode())


def process_create_time(pid: int) -> float | None:
    """Start time of `pid` (seconds since the epoch), None if it is gone or a zombie."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None  # dead: only its exit status is left for its parent
        return proc.create_time()
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        return -1.0  # exists, owned by someone else: alive, start time unknown


def process_alive(pid: int, create_time: float | None = None) -> bool:
    """True if `pid` runs (and, given `create_time`, is the same process as then)."""
    if pid <= 0:
        return False
    now = process_create_time(pid)
    if now is None:
        return False
    if create_time is None or now < 0:
        return True
    # Create times come from the same /proc clock-tick computation, so a
    # difference means another process got the recycled pid.
    return abs(now - create_time) < 0.01


#: A segment being created is named ``<name>~creating-<pid>`` until it is complete.
STAGING_MARK = "~creating-"


def staging_name(name: str, pid: int) -> str:
    """The name segment `name` has while process `pid` creates it."""
    return f"{name}{STAGING_MARK}{pid}"


def staging_creator(name: str) -> int | None:
    """The creating pid named by a staging name, None for any other name."""
    _, mark, pid = name.rpartition(STAGING_MARK)
    return int(pid) if mark and pid.isdigit() else None


def validate_name_part(value: str, what: str) -> str:
    """Reject text that cannot be part of a segment file name."""
    if not value or "/" in value or "\x00" in value or not value.isprintable() or " " in value:
        raise ValueError(f"invalid {what} {value!r} for a shared-memory segment name")
    return value


class SegmentHeader:
    """The decoded header of a segment (a plain record)."""

    __slots__ = (
        "capacity",
        "count",
        "created_ns",
        "header_size",
        "instance_id",
        "kind",
        "layout_id",
        "magic",
        "owner_ctime",
        "owner_pid",
        "row_size",
        "trader_id",
        "version",
    )

    def __init__(self, fields: tuple[Any, ...]) -> None:
        (self.magic, self.version, self.header_size, self.row_size, self.capacity,
         self.layout_id, self.count, self.owner_pid, self.owner_ctime, self.created_ns,
         kind, trader_id, instance_id) = fields
        self.kind = kind.rstrip(b"\x00").decode(errors="replace")
        self.trader_id = trader_id.rstrip(b"\x00").decode(errors="replace")
        self.instance_id = instance_id.rstrip(b"\x00").decode(errors="replace")

    @classmethod
    def read(cls, data: bytes | mmap.mmap) -> SegmentHeader:
        """Decode from the first bytes of a segment."""
        return cls(_HEADER.unpack_from(data, 0))


class Segment:
    """A mapped segment. Build it with `create` (owner) or `attach` (anyone else).

    `buf` is the mapping; rows are at `HEADER_SIZE + row * row_size`.
    """

    def __init__(self, name: str, buf: mmap.mmap, header: SegmentHeader, owner: bool) -> None:
        self.name = name
        self.buf = buf
        self.header = header
        self.owner = owner
        self.row_size: int = header.row_size
        self.capacity: int = header.capacity
        self.kind = header.kind

    @property
    def path(self) -> str:
        """The segment's file."""
        return os.path.join(SHM_DIR, self.name)

    @classmethod
    def create(
        cls,
        name: str,
        *,
        kind: str,
        row_format: str,
        row_size: int,
        capacity: int,
        trader_id: str,
        instance_id: str,
    ) -> Self:
        """Create the segment (fails if the name exists), zeroed, owned by this process."""
        if capacity <= 0 or row_size <= 0 or row_size % 8:
            raise ValueError(f"invalid segment geometry: row_size {row_size}, capacity {capacity}")
        path = os.path.join(SHM_DIR, validate_name_part(name, "segment name"))
        exists = SegmentExistsError(
            f"shared-memory segment {name!r} already exists: another node with the same "
            "trader and instance id runs, or a crashed one left it (`livenode clean`)"
        )
        try:
            taken_by = os.lstat(path).st_uid
        except FileNotFoundError:
            taken_by = None
        if taken_by is not None and taken_by != os.getuid():
            raise SegmentExistsError(
                f"shared-memory segment {name!r} already exists and belongs to another user "
                f"(uid {taken_by}): `livenode clean` cannot remove it; start this node with "
                f"another instance_id, or have that user (or root) remove {path}"
            )
        if taken_by is not None:
            raise exists
        # Built under a name that says who builds it, and linked into place only with
        # its header written: a segment under its real name is never half-made, and
        # one left by a creator that died mid-way names a pid that cleanup can judge
        # at once (no grace period for a creator that is provably gone).
        pid = os.getpid()
        staging = os.path.join(SHM_DIR, staging_name(name, pid))
        fd = os.open(staging, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o600)
        try:
            try:
                size = HEADER_SIZE + row_size * capacity
                os.ftruncate(fd, size)  # a new file reads as zeros: every row starts at seq 0
                buf = mmap.mmap(fd, size)
            finally:
                os.close(fd)  # the mapping keeps the memory; the fd is not needed
            try:
                fields = (
                    b"\x00" * 8, LAYOUT_VERSION, HEADER_SIZE, row_size, capacity,
                    layout_id(kind, row_format), 0, pid, psutil.Process(pid).create_time(),
                    time.time_ns(), encode_fixed(kind, 16, "table kind"),
                    encode_fixed(trader_id, 64, "trader id"),
                    encode_fixed(instance_id, 64, "instance id"),
                )
                _HEADER.pack_into(buf, 0, *fields)
                # Magic last: a segment caught half-created does not pass as valid.
                buf[0:8] = MAGIC
                try:
                    os.link(staging, path)  # atomic, and fails if the name is taken
                except FileExistsError:
                    raise exists from None
            except BaseException:
                buf.close()
                raise
        finally:
            with suppress(FileNotFoundError):
                os.unlink(staging)
        return cls(name, buf, SegmentHeader.read(buf), owner=True)

    @classmethod
    def attach(cls, name: str, *, kind: str, row_format: str, row_size: int) -> Self:
        """Map an existing segment, checking that its layout is the one expected."""
        path = os.path.join(SHM_DIR, validate_name_part(name, "segment name"))
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            raise SegmentNotFoundError(
                f"shared-memory segment {name!r} does not exist (is the node running?)"
            ) from None
        try:
            size = os.fstat(fd).st_size
            if size < HEADER_SIZE:
                raise LayoutMismatchError(
                    f"shared-memory segment {name!r}: {size} bytes, smaller than the "
                    f"{HEADER_SIZE}-byte header (not a livenode segment, or corrupt)"
                )
            buf = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        try:
            header = SegmentHeader.read(buf)
            _check_header(name, header, size, kind, row_format, row_size)
        except BaseException:
            buf.close()
            raise
        return cls(name, buf, header, owner=False)

    # -- keyed rows -------------------------------------------------------------

    @property
    def count(self) -> int:
        """Rows handed out so far (keyed tables)."""
        count: int = _COUNT.unpack_from(self.buf, _COUNT_OFFSET)[0]
        return count

    def set_count(self, count: int) -> None:
        """Publish a new row count; call under `locked()`, after the row's key is written."""
        # Slice assignment: `pack_into` zero-fills first, showing a transient 0.
        self.buf[_COUNT_OFFSET : _COUNT_OFFSET + 4] = _COUNT.pack(count)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive cross-process lock on the segment (row allocation only).

        `flock` on a fresh descriptor: the kernel drops it when the holder dies,
        so a crash while allocating cannot wedge the table (an `fcntl` record
        lock would also be dropped by any unrelated close of the same file).
        """
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        """Unmap (idempotent). Raises BufferError if a memoryview of `buf` is still alive."""
        if not self.buf.closed:
            self.buf.close()

    def unlink(self) -> None:
        """Remove the name (owner only); mappings elsewhere stay valid until closed."""
        with suppress(FileNotFoundError):
            os.unlink(self.path)


def _check_header(
    name: str, h: SegmentHeader, size: int, kind: str, row_format: str, row_size: int
) -> None:
    def fail(field: str, found: object, expected: object, hint: str) -> LayoutMismatchError:
        return LayoutMismatchError(
            f"shared-memory segment {name!r}: {field} is {found!r}, expected {expected!r} ({hint})"
        )

    if h.magic != MAGIC:
        raise fail("magic", h.magic, MAGIC, "not a livenode segment, or still being created")
    newer = "created by a different livenode version; stop that node or run `livenode clean`"
    if h.version != LAYOUT_VERSION:
        raise fail("layout version", h.version, LAYOUT_VERSION, newer)
    if h.header_size != HEADER_SIZE:
        raise fail("header size", h.header_size, HEADER_SIZE, newer)
    if h.kind != kind:
        raise fail("table kind", h.kind, kind, "the name points at another table")
    if h.row_size != row_size:
        raise fail("row size", h.row_size, row_size, newer)
    if h.layout_id != layout_id(kind, row_format):
        raise fail("layout id", h.layout_id, layout_id(kind, row_format), newer)
    expected_size = HEADER_SIZE + h.row_size * h.capacity
    if size != expected_size:
        raise fail("file size", size, expected_size, f"capacity {h.capacity}: truncated or corrupt")


__all__ = [
    "HEADER_SIZE",
    "LAYOUT_VERSION",
    "MAGIC",
    "NAME_PREFIX",
    "SHM_DIR",
    "Segment",
    "SegmentHeader",
    "decode_fixed",
    "encode_fixed",
    "layout_id",
    "process_alive",
    "process_create_time",
    "staging_creator",
    "staging_name",
    "validate_name_part",
]
