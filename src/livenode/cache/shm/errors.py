"""Errors of the shared-memory tables.

All derive from `CacheError` (hence `LivenodeError`), so a caller can catch
"anything the cache refused" in one clause.
"""

from __future__ import annotations

from livenode.core.errors import CacheError


class ShmError(CacheError):
    """Base class of shared-memory table errors."""


class SegmentExistsError(ShmError, FileExistsError):
    """A segment with this name already exists (a live node, or one left by a crash)."""


class SegmentNotFoundError(ShmError, FileNotFoundError):
    """No segment with this name: the owner has not created it yet, or already unlinked it."""


class LayoutMismatchError(ShmError):
    """A segment whose header does not match the layout this code expects.

    Raised on attach: another livenode version, another table, or a corrupt or
    truncated file. The message names the segment, the field, what was found
    and what was expected.
    """


class ShmCapacityError(ShmError):
    """A table is full: no row left for a new key."""


class StaleRowError(ShmError):
    """A row left half-written: its writer died (or stalled) in the middle of a write.

    The row's last value is lost until its writer (or the next one) writes it
    again; a reader reports this instead of spinning on the row forever.
    """

    def __init__(self, table: str, row: int, writer_pid: int, seq: int, reason: str) -> None:
        self.table = table
        self.row = row
        self.writer_pid = writer_pid
        self.seq = seq
        self.reason = reason
        super().__init__(
            f"shared-memory table {table!r} row {row} is stale (seq {seq}, "
            f"writer pid {writer_pid}): {reason}"
        )


__all__ = [
    "LayoutMismatchError",
    "SegmentExistsError",
    "SegmentNotFoundError",
    "ShmCapacityError",
    "ShmError",
    "StaleRowError",
]
