"""Build the cache database a node's config asks for (`[cache.database]`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from livenode.cache.database import CacheDatabase, DatabaseBackend, RedisBackend, SqliteBackend
from livenode.config import DatabaseConfig, TradingNodeConfig

__all__ = ["build_cache_database", "sqlite_path"]


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
    config: TradingNodeConfig, on_health: Callable[[bool, str], None] | None = None
) -> CacheDatabase:
    """The (unopened) `CacheDatabase` of ``config.cache.database``.

    Raises:
        ValueError: the config has no ``[cache.database]``.
        LookupError: the password's environment variable is not set.
    """
    database = config.cache.database
    if database is None:
        raise ValueError("the config has no [cache.database]")
    return CacheDatabase(
        _backend(config, database),
        batch_size=database.batch_size,
        retry_interval=database.retry_interval,
        on_health=on_health,
    )
