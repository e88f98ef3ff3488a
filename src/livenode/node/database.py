"""Build the cache database a node's config asks for (`[cache.database]`)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from livenode.cache.database import CacheDatabase, DatabaseBackend, RedisBackend, SqliteBackend
from livenode.config import DatabaseConfig, TradingNodeConfig

__all__ = ["build_cache_database", "database_written", "sqlite_path"]

_log = logging.getLogger("livenode.node.database")


def sqlite_path(config: TradingNodeConfig, database: DatabaseConfig) -> Path:
    """The SQLite file: `path`, else ``{data_dir}/{trader_id}.sqlite``."""
    if database.path is not None:
        return Path(database.path).expanduser()
    return Path(config.data_dir).expanduser() / f"{config.trader_id}.sqlite"


def _backend(config: TradingNodeConfig, database: DatabaseConfig) -> DatabaseBackend:
    if database.type == "sqlite":
        return SqliteBackend(
            config.trader_id, sqlite_path(config, database), timeout=database.socket_timeout
        )
    password = None
    if database.password_env is not None:
        password = os.environ.get(database.password_env)
        if password is None:
            raise LookupError(
                f"cache.database.password_env: environment variable "
                f"{database.password_env} is not set"
            )
    return RedisBackend(
        config.trader_id,
        host=database.host,
        port=database.port,
        db=database.db,
        username=database.username,
        password=password,
        tls=database.tls,
        connect_timeout=database.connect_timeout,
        socket_timeout=database.socket_timeout,
    )


def build_cache_database(
    config: TradingNodeConfig,
    on_health: Callable[[bool, str], None] | None = None,
    *,
    on_lost: Callable[[CacheDatabase, str, str], None] | None = None,
    marker: tuple[str, str] | None = None,
) -> CacheDatabase:
    """The (unopened) `CacheDatabase` of ``config.cache.database``.

    A write not done within ``socket_timeout`` (+1 s) marks it down even when the
    backend's own timeout does not fire (`DatabaseWriter`'s watchdog). `marker`
    (writer name, node instance id) guards its writes with a run marker
    (`CacheDatabase.use_marker`); `on_lost` hears when the database lost them.

    Raises:
        ValueError: the config has no ``[cache.database]``.
        LookupError: the password's environment variable is not set.
    """
    database = config.cache.database
    if database is None:
        raise ValueError("the config has no [cache.database]")
    cache_database = CacheDatabase(
        _backend(config, database),
        batch_size=database.batch_size,
        retry_interval=database.retry_interval,
        write_timeout=database.socket_timeout,
        check_interval=database.check_interval,
        on_health=on_health,
        on_lost=on_lost,
    )
    if marker is not None:
        cache_database.use_marker(*marker)
    return cache_database


async def database_written(database: CacheDatabase | None, timeout: float) -> bool:
    """At the stop: wait (up to `timeout` s, off the loop) until every write queued so
    far is in the database. False, logged with the reason, when it is not: the stop is
    then not clean, since the database does not hold the run."""
    if database is None:
        return True
    if await asyncio.to_thread(database.wait_written, timeout):
        return True
    status = database.status()
    _log.error("cache database %s: %d write(s) not written within %gs of the stop (%s): %s",
               status.backend, status.pending, timeout, status.state, status.last_error)
    return False
