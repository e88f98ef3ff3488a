"""Every supervisor test runs under the multiprocess harness: its own run base, and
a teardown that fails the test if a process, a run directory or a shared-memory
segment is left behind (see tests/fixtures/multiprocess/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fixtures.database.redis_server import RedisServer
from tests.fixtures.multiprocess.harness import MultiprocessHarness, mp  # noqa: F401


@pytest.fixture(autouse=True)
def _nothing_left_behind(mp: MultiprocessHarness) -> None:  # noqa: F811
    """Autouse: request the harness, whose teardown does the checking."""


@pytest.fixture(params=["sqlite", "redis"])
def database_toml(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A `[cache.database]` table on each backend (a real redis-server for Redis,
    stopped after the test); never flushed between the runs of one test."""
    if request.param == "sqlite":
        yield f'[cache.database]\ntype = "sqlite"\npath = "{tmp_path / "node.sqlite"}"\n'
        return
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield f'[cache.database]\ntype = "redis"\nhost = "127.0.0.1"\nport = {server.port}\n'
    finally:
        server.stop()
