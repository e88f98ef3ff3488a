"""The cache database on a Redis server.

Layout, every key under ``livenode:{trader_id}:`` (so `flush_trader` deletes
exactly this trader's keys with one SCAN):

- ``instruments``, ``accounts``, ``strategies``: hashes id -> payload;
- ``order_events``: a list, appended in write order;
- ``kv:{namespace}``: a hash per client namespace.

``livenode:schema_version`` holds the layout version for the whole database.
A batch is one MULTI/EXEC transaction: all of it or nothing. When the reply to
EXEC is lost the batch may have been applied and is written again on retry; the
loader drops an order event it has already seen (by event id), so that repeat
is harmless.
"""

from __future__ import annotations

import re
from typing import Any

import redis
import redis.exceptions

from livenode.cache.database.backend import (
    SCHEMA_VERSION,
    DatabaseBackend,
    DatabaseError,
    DatabaseUnavailableError,
    SchemaVersionError,
    StoredRecords,
    WriteOp,
    split_kv_key,
)

__all__ = ["RedisBackend"]

SCHEMA_KEY = "livenode:schema_version"
_HASH_AREAS = {"instrument": "instruments", "account": "accounts", "strategy": "strategies"}
_UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class RedisBackend(DatabaseBackend):
    """A Redis server (one connection, used by one thread at a time)."""

    kind = "redis"

    def __init__(
        self,
        trader_id: str,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        connect_timeout: float = 5.0,
        socket_timeout: float = 5.0,
    ) -> None:
        super().__init__(trader_id)
        self.host, self.port, self.db, self.tls = host, port, db, tls
        # For `clone` (a second connection with the same settings).
        self._settings: dict[str, Any] = dict(
            host=host, port=port, db=db, username=username, password=password, tls=tls,
            connect_timeout=connect_timeout, socket_timeout=socket_timeout)
        self._prefix = f"livenode:{trader_id}:"
        self._client: redis.Redis = redis.Redis(
            host=host,
            port=port,
            db=db,
            username=username,
            password=password,
            ssl=tls,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
        )

    def describe(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailableError(f"{self.describe()}: {what}: {exc}") from exc
        except redis.exceptions.RedisError as exc:
            raise DatabaseError(f"{self.describe()}: {what}: {exc}") from exc

    def open(self) -> None:
        self._call("ping", self._client.ping)
        version = self.schema_version()
        if version is None:
            self._call("set schema", self._client.setnx, SCHEMA_KEY, str(SCHEMA_VERSION))
        elif version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.describe()}: schema version {version} is newer than this livenode "
                f"understands ({SCHEMA_VERSION}); use a newer livenode or another database"
            )

    def close(self) -> None:
        self._client.close()

    def schema_version(self) -> int | None:
        value = self._call("get schema", self._client.get, SCHEMA_KEY)
        return None if value is None else int(value)

    def write(self, ops: list[WriteOp]) -> None:
        prefix = self._prefix
        pipe = self._client.pipeline(transaction=True)
        for area, key, value in ops:
            if area == "order_event":
                pipe.rpush(prefix + "order_events", value)  # type: ignore[arg-type]
            elif area == "kv":
                namespace, name = split_kv_key(key)
                if value is None:
                    pipe.hdel(f"{prefix}kv:{namespace}", name)
                else:
                    pipe.hset(f"{prefix}kv:{namespace}", name, value)
            else:
                pipe.hset(prefix + _HASH_AREAS[area], key, value)
        self._call("write", pipe.execute)

    def load(self) -> StoredRecords:
        prefix = self._prefix
        client = self._client
        records = StoredRecords()
        records.instruments = list(
            self._call("load", client.hgetall, prefix + "instruments").values())
        records.order_events = list(
            self._call("load", client.lrange, prefix + "order_events", 0, -1))
        records.accounts = {
            k.decode(): v
            for k, v in self._call("load", client.hgetall, prefix + "accounts").items()
        }
        records.strategies = self.load_strategies()
        for key in self._call("scan", list, client.scan_iter(
                match=_glob_escape(prefix) + "kv:*", count=500)):
            namespace = key.decode().removeprefix(prefix + "kv:")
            for name, value in self._call("load", client.hgetall, key).items():
                records.kv[(namespace, name.decode())] = value
        return records

    def load_strategies(self) -> dict[str, bytes]:
        return {
            k.decode(): v for k, v in self._call(
                "load", self._client.hgetall, self._prefix + "strategies").items()
        }

    def read_kv(self, namespace: str, key: str) -> bytes | None:
        value = self._call("read kv", self._client.hget, f"{self._prefix}kv:{namespace}", key)
        return None if value is None else bytes(value)

    def clone(self) -> RedisBackend:
        return RedisBackend(self.trader_id, **self._settings)

    def flush_trader(self) -> int:
        client = self._client
        keys = self._call("scan", list, client.scan_iter(
            match=_glob_escape(self._prefix) + "*", count=500))
        if not keys:
            return 0
        return int(self._call("delete", client.delete, *keys))
