"""Finding and removing segments left behind by a node that died.

A segment is stale when the process that created it (pid and start time in
its header) no longer runs: a recycled pid does not count as the owner. A
segment whose header cannot be read as a livenode header is stale only once
it is older than a grace period, because a node creating it right now writes
the header a moment after the file appears. A segment whose owner is alive is
never touched.

`livenode run` calls `remove_stale_segments(trader_id)` before it creates its
own segments; `livenode clean` calls it with a `select` that takes only the
segments of the nodes its run base records (`livenode.supervisor.rundir.node_records`),
with or without a trader id.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import msgspec

from livenode.cache.shm.segment import (
    HEADER_SIZE,
    MAGIC,
    NAME_PREFIX,
    SHM_DIR,
    SegmentHeader,
    process_alive,
    process_create_time,
    staging_creator,
)

#: Age after which a segment with an unreadable header counts as abandoned.
DEFAULT_INVALID_GRACE_S = 60.0


class SegmentInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One livenode segment found under the shared-memory directory."""

    name: str
    path: str
    size: int
    valid: bool
    trader_id: str = ""
    instance_id: str = ""
    kind: str = ""
    owner_pid: int = 0
    owner_ctime: float = 0.0
    created_ns: int = 0
    owner_alive: bool = False
    stale: bool = False
    reason: str = ""
    inode: int = 0


def _inspect(path: str, name: str, invalid_grace_s: float) -> SegmentInfo | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, PermissionError):
        return None  # gone meanwhile, or another user's: not ours to judge
    try:
        st = os.fstat(fd)
        data = os.read(fd, HEADER_SIZE)
    finally:
        os.close(fd)
    base: dict[str, Any] = {"name": name, "path": path, "size": st.st_size, "inode": st.st_ino}
    if len(data) < HEADER_SIZE or data[:8] != MAGIC:
        creator = staging_creator(name)
        if creator is not None and not _created_by_live(creator, st):
            # Half-made by a process that is gone: nobody will ever finish it.
            return SegmentInfo(valid=False, stale=True, owner_pid=creator,
                               reason=f"half-created by pid {creator}, which is gone", **base)
        age = time.time() - st.st_mtime
        stale = age > invalid_grace_s
        reason = f"no livenode header, {age:.0f} s old" if stale else "no livenode header yet"
        return SegmentInfo(valid=False, stale=stale, owner_pid=creator or 0, reason=reason,
                           **base)
    h = SegmentHeader.read(data)
    alive = process_alive(h.owner_pid, h.owner_ctime)
    reason = "" if alive else f"owner pid {h.owner_pid} is gone"
    return SegmentInfo(
        valid=True, trader_id=h.trader_id, instance_id=h.instance_id, kind=h.kind,
        owner_pid=h.owner_pid, owner_ctime=h.owner_ctime, created_ns=h.created_ns,
        owner_alive=alive, stale=not alive, reason=reason, **base,
    )


def _created_by_live(pid: int, st: os.stat_result) -> bool:
    """Whether `pid` runs and is the process that made the file (started before it:
    a recycled pid belongs to a process started after the file appeared)."""
    started = process_create_time(pid)
    if started is None:
        return False
    return started < 0 or started <= min(st.st_mtime, st.st_ctime) + 1.0


def list_segments(
    trader_id: str | None = None,
    *,
    shm_dir: str = SHM_DIR,
    invalid_grace_s: float = DEFAULT_INVALID_GRACE_S,
) -> list[SegmentInfo]:
    """Every livenode segment (of `trader_id`, if given), live or stale, sorted by name."""
    try:
        names = sorted(n for n in os.listdir(shm_dir) if n.startswith(NAME_PREFIX))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        info = _inspect(os.path.join(shm_dir, name), name, invalid_grace_s)
        if info is None:
            continue
        if trader_id is not None:
            if info.valid and info.trader_id != str(trader_id):
                continue
            if not info.valid and not name.startswith(f"{NAME_PREFIX}{trader_id}-"):
                continue
        found.append(info)
    return found


def find_stale_segments(
    trader_id: str | None = None,
    *,
    shm_dir: str = SHM_DIR,
    invalid_grace_s: float = DEFAULT_INVALID_GRACE_S,
    select: Callable[[SegmentInfo], bool] | None = None,
) -> list[SegmentInfo]:
    """Segments (of `trader_id`, if given; only those `select` accepts, if given)
    whose owner process is gone."""
    return [
        s for s in list_segments(trader_id, shm_dir=shm_dir, invalid_grace_s=invalid_grace_s)
        if s.stale and (select is None or select(s))
    ]


def remove_stale_segments(
    trader_id: str | None = None,
    *,
    shm_dir: str = SHM_DIR,
    invalid_grace_s: float = DEFAULT_INVALID_GRACE_S,
    select: Callable[[SegmentInfo], bool] | None = None,
) -> list[SegmentInfo]:
    """Unlink the stale segments (of `trader_id`, if given; only those `select`
    accepts, if given); returns those removed.

    Each is checked again right before removal, and skipped if its file was
    replaced meanwhile (same name, new inode: a new node took the name).
    """
    removed = []
    for info in find_stale_segments(trader_id, shm_dir=shm_dir,
                                    invalid_grace_s=invalid_grace_s, select=select):
        again = _inspect(info.path, info.name, invalid_grace_s)
        if again is None or not again.stale or again.inode != info.inode:
            continue
        if select is not None and not select(again):
            continue
        try:
            os.unlink(info.path)
        except FileNotFoundError:
            continue  # someone else cleaned it first
        removed.append(info)
    return removed


__all__ = [
    "DEFAULT_INVALID_GRACE_S",
    "SegmentInfo",
    "find_stale_segments",
    "list_segments",
    "remove_stale_segments",
]
