"""Fixtures of the cache database tests: each backend, real and fresh per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.fixtures.database.redis_server import RedisServer

from livenode.cache.database import DatabaseBackend, RedisBackend, SqliteBackend

BackendFactory = Callable[..., DatabaseBackend]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_backend(backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest
                 ) -> BackendFactory:
    """`make_backend(trader_id="T-1", **options)`: a new, unopened backend over the
    same store each call (the same SQLite file, the same Redis server)."""
    if backend_kind == "sqlite":
        path = tmp_path / "data" / "cache.sqlite"

        def sqlite(trader_id: str = "TESTER-001", **options: object) -> DatabaseBackend:
            return SqliteBackend(trader_id, path, **options)  # type: ignore[arg-type]

        return sqlite
    server: RedisServer = request.getfixturevalue("redis_server")

    def redis_backend(trader_id: str = "TESTER-001", **options: object) -> DatabaseBackend:
        return RedisBackend(trader_id, host="127.0.0.1", port=server.port,
                            **options)  # type: ignore[arg-type]

    return redis_backend
