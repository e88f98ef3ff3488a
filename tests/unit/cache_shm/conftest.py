"""Fixtures of the shared-memory unit tests: a unique trader id per test and a
check that no segment of the test is left in /dev/shm."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from livenode.cache.shm import ShmTables
from livenode.model.identifiers import InstrumentId

SHM_DIR = "/dev/shm"
BTC = InstrumentId("BTCUSDT.SIM")
ETH = InstrumentId("ETHUSDT.SIM")


@pytest.fixture
def trader_id() -> str:
    """A trader id no other test (or xdist worker) uses: segments never collide."""
    return f"SHMT{uuid.uuid4().hex[:10].upper()}-001"


@pytest.fixture(autouse=True)
def no_leftover_segments(trader_id: str) -> Iterator[None]:
    """Fail the test if it leaves a segment of its trader id behind (and remove it)."""
    yield
    prefix = f"livenode-{trader_id}-"
    left = sorted(n for n in os.listdir(SHM_DIR) if n.startswith(prefix))
    for name in left:
        os.unlink(os.path.join(SHM_DIR, name))
    if left:
        pytest.fail(
            f"the test left shared-memory segments behind (now removed): {left}", pytrace=False
        )


@pytest.fixture
def tables(trader_id: str) -> Iterator[ShmTables]:
    """Owner-side tables with BTC (2, 3) and ETH (2, 4) registered."""
    with ShmTables.create(trader_id, "inst1", instruments=[(BTC, 2, 3), (ETH, 2, 4)]) as t:
        yield t


@pytest.fixture
def attached(tables: ShmTables) -> Iterator[ShmTables]:
    """The same tables attached as a worker would (in this process)."""
    with ShmTables.attach(tables.prefix) as t:
        yield t
