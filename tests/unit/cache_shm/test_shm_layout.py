"""Segment header, versioning and layout checks, naming, lifecycle errors."""

from __future__ import annotations

import os
import struct

import pytest

from livenode.cache.shm import (
    LAYOUT_VERSION,
    TABLE_KINDS,
    LayoutMismatchError,
    SegmentExistsError,
    SegmentNotFoundError,
    ShmCapacity,
    ShmCapacityError,
    ShmTables,
    segment_prefix,
)
from livenode.cache.shm.segment import HEADER_SIZE, MAGIC, SegmentHeader
from livenode.model.identifiers import InstrumentId

from .conftest import BTC, SHM_DIR


def _patch(path: str, offset: int, fmt: str, value: object) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, struct.pack(fmt, value), offset)
    finally:
        os.close(fd)


def test_create_names_every_table_after_trader_and_instance(
    tables: ShmTables, trader_id: str
) -> None:
    assert tables.prefix == f"livenode-{trader_id}-inst1"
    assert tables.segment_names == [f"livenode-{trader_id}-inst1-{k}" for k in TABLE_KINDS]
    for name in tables.segment_names:
        st = os.stat(os.path.join(SHM_DIR, name))
        assert st.st_mode & 0o777 == 0o600


def test_header_records_owner_version_and_geometry(tables: ShmTables, trader_id: str) -> None:
    with open(os.path.join(SHM_DIR, tables.segment_names[1]), "rb") as f:
        h = SegmentHeader.read(f.read(HEADER_SIZE))
    assert h.magic == MAGIC
    assert h.version == LAYOUT_VERSION
    assert h.header_size == HEADER_SIZE
    assert h.kind == "quotes" and h.row_size == 64 and h.capacity == ShmCapacity().instruments
    assert h.owner_pid == os.getpid() and h.owner_ctime > 0 and h.created_ns > 0
    assert h.trader_id == trader_id and h.instance_id == "inst1"


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "text"),
    [
        (
            8,
            "<I",
            LAYOUT_VERSION + 1,
            f"layout version is {LAYOUT_VERSION + 1}, expected {LAYOUT_VERSION}",
        ),
        (16, "<I", 128, "row size is 128, expected 64"),
        (24, "<I", 12345, "layout id is 12345"),
        (0, "<8s", b"NOTOURS!", "magic"),
        (20, "<I", 7, "file size"),
    ],
)
def test_attach_to_another_layout_fails_clearly(
    tables: ShmTables, offset: int, fmt: str, value: object, text: str
) -> None:
    path = os.path.join(SHM_DIR, tables.segment_names[1])
    _patch(path, offset, fmt, value)
    with pytest.raises(LayoutMismatchError) as info:
        ShmTables.attach(tables.prefix)
    message = str(info.value)
    assert text in message and tables.segment_names[1] in message


def test_attach_to_another_table_kind_fails(tables: ShmTables) -> None:
    path = os.path.join(SHM_DIR, tables.segment_names[2])  # trades
    _patch(path, 56, "<16s", b"quotes")
    with pytest.raises(LayoutMismatchError, match="table kind is 'quotes', expected 'trades'"):
        ShmTables.attach(tables.prefix)


def test_attach_to_truncated_segment_fails(tables: ShmTables) -> None:
    os.truncate(os.path.join(SHM_DIR, tables.segment_names[0]), 100)
    with pytest.raises(LayoutMismatchError, match="smaller than the 256-byte header"):
        ShmTables.attach(tables.prefix)


def test_attach_to_missing_segments_fails(trader_id: str) -> None:
    with pytest.raises(SegmentNotFoundError, match="does not exist"):
        ShmTables.attach(segment_prefix(trader_id, "nope"))


def test_create_twice_fails_and_leaves_the_first(tables: ShmTables, trader_id: str) -> None:
    with pytest.raises(SegmentExistsError, match="livenode clean"):
        ShmTables.create(trader_id, "inst1")
    assert all(os.path.exists(os.path.join(SHM_DIR, n)) for n in tables.segment_names)


def test_failed_create_removes_what_it_created(trader_id: str) -> None:
    # The last table fails (zero capacity): the ones before it must not stay.
    with pytest.raises(ValueError, match="invalid segment geometry"):
        ShmTables.create(trader_id, "x", capacity=ShmCapacity(accounts=0))
    # A bad instrument in the pre-registration also unwinds everything.
    with pytest.raises(ValueError, match="bytes in UTF-8"):
        ShmTables.create(trader_id, "y", instruments=[(InstrumentId("X" * 70 + ".SIM"), 2, 2)])
    # (the autouse fixture fails the test if a segment is left)


@pytest.mark.parametrize(
    ("trader", "instance"), [("TRADER-001", "a/b"), ("TRADER-001", ""), ("NODASH", "x")]
)
def test_invalid_name_parts_are_refused(trader: str, instance: str) -> None:
    with pytest.raises(ValueError):
        segment_prefix(trader, instance)


def test_full_registry_raises_capacity_error(trader_id: str) -> None:
    with ShmTables.create(trader_id, "cap", capacity=ShmCapacity(instruments=2)) as t:
        t.instruments.register(InstrumentId("A.SIM"), 2, 2)
        t.instruments.register(InstrumentId("B.SIM"), 2, 2)
        with pytest.raises(ShmCapacityError, match=r"is full .2 rows.*C.SIM"):
            t.instruments.register(InstrumentId("C.SIM"), 2, 2)


def test_attacher_closes_but_never_unlinks(tables: ShmTables) -> None:
    attached = ShmTables.attach(tables.prefix)
    with pytest.raises(PermissionError, match="only the owner"):
        attached.unlink()
    with attached:
        pass
    attached.close()  # idempotent
    assert all(os.path.exists(os.path.join(SHM_DIR, n)) for n in tables.segment_names)


def test_owner_context_exit_unlinks(trader_id: str) -> None:
    with ShmTables.create(trader_id, "ctx") as t:
        names = t.segment_names
        assert all(os.path.exists(os.path.join(SHM_DIR, n)) for n in names)
    assert not any(os.path.exists(os.path.join(SHM_DIR, n)) for n in names)


def test_attached_mapping_outlives_unlink(trader_id: str) -> None:
    # A worker still reading while the owner unlinks keeps a valid mapping.
    owner = ShmTables.create(trader_id, "late", instruments=[(BTC, 2, 3)])
    worker = ShmTables.attach(owner.prefix)
    owner.quotes.write_raw(0, 1, 8, 1, 1, 1, 1)
    owner.unlink()
    owner.close()
    assert worker.quotes.read_raw(0) == (1, 8, 1, 1, 1, 1)
    worker.close()
