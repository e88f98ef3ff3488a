"""Shared-memory cache: fixed-layout tables in POSIX shared memory.

The owner (supervisor, or the node in single mode) creates the segments with
`ShmTables.create` and unlinks them at shutdown; workers `ShmTables.attach`
by name prefix. One writer per row, any number of readers in any process;
reads are consistent through a per-row sequence lock (see `seqlock`). Stale
segments of dead nodes are found and removed with `remove_stale_segments`.
See docs/shared-memory.md.
"""

from livenode.cache.shm.cleanup import (
    SegmentInfo,
    find_stale_segments,
    list_segments,
    remove_stale_segments,
)
from livenode.cache.shm.errors import (
    LayoutMismatchError,
    SegmentExistsError,
    SegmentNotFoundError,
    ShmCapacityError,
    ShmError,
    StaleRowError,
)
from livenode.cache.shm.segment import LAYOUT_VERSION, Segment
from livenode.cache.shm.seqlock import RowStatus, SeqlockRows
from livenode.cache.shm.shm_tables import (
    TABLE_KINDS,
    ShmCapacity,
    ShmTables,
    segment_name,
    segment_prefix,
)
from livenode.cache.shm.snapshots import AccountTable, PositionSnapshot, PositionTable
from livenode.cache.shm.tables import BarTable, InstrumentRegistry, QuoteTable, TradeTable

__all__ = [
    "LAYOUT_VERSION",
    "TABLE_KINDS",
    "AccountTable",
    "BarTable",
    "InstrumentRegistry",
    "LayoutMismatchError",
    "PositionSnapshot",
    "PositionTable",
    "QuoteTable",
    "RowStatus",
    "Segment",
    "SegmentExistsError",
    "SegmentInfo",
    "SegmentNotFoundError",
    "SeqlockRows",
    "ShmCapacity",
    "ShmCapacityError",
    "ShmError",
    "ShmTables",
    "StaleRowError",
    "TradeTable",
    "find_stale_segments",
    "list_segments",
    "remove_stale_segments",
    "segment_name",
    "segment_prefix",
]
