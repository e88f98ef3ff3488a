"""The cache database on a Redis server.

Layout, every key under ``livenode:{trader_id}:`` (so `flush_trader` deletes
exactly this trader's keys with one SCAN):

- ``instruments``, ``accounts``, ``strategies``: hashes id -> payload;
- ``order_events``: a list, appended in write order;
- ``kv:{namespace}``: a hash per client namespace;
- ``markers``: a hash of run markers, ``{writer}:writes`` (a count) and
  ``{writer}:instance`` (the node instance that wrote last).

``livenode:schema_version`` holds the layout version for the whole database.
A batch is one transaction: MULTI/EXEC, or with a run marker in use one Lua script
that checks the marker, applies the batch and advances the marker (a script runs
atomically, so nothing lands in a database that lost the writer's state). When the
reply is lost the batch may have been applied and is written again on retry; the
loader drops an order event it has already seen (by event id), so that repeat
is harmless, and the marker then counts more writes than the writer knows of,
which is not a loss.

Timeouts surface: redis-py retries a failed command on its own by default (ten
times in redis-py 8, each bounded by the socket timeout, so a stopped server went
unnoticed for about a minute); here its retries are off, so every call fails
after `socket_timeout` (reads, writes) or `connect_timeout` (connecting) and the
writer reports the database down.
"""

from __future__ import annotations

import re
from typing import Any

import redis
import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

from livenode.cache.database.backend import (
    SCHEMA_VERSION,
    DatabaseBackend,
    DatabaseError,
    DatabaseUnavailableError,
    RunMarker,
    SchemaVersionError,
    StoredRecords,
    WriteOp,
    split_kv_key,
)

__all__ = ["RedisBackend"]

SCHEMA_KEY = "livenode:schema_version"
_HASH_AREAS = {"instrument": "instruments", "account": "accounts", "strategy": "strategies"}
_UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


# ARGV: markers key, writes field, instance field, instance id, the writes the marker
# must count ("" claims it as found), then 4 per op: R (rpush) / H (hset) / D (hdel),
# key, field, value. Returns {1, count} when applied, {0, stored count or "",
# stored instance or ""} when the marker refused the batch (nothing applied).
_GUARDED_WRITE = """
local mk = ARGV[1]
local stored = redis.call('HGET', mk, ARGV[2])
local owner = redis.call('HGET', mk, ARGV[3])
if ARGV[5] ~= '' then
  if (not stored) or owner ~= ARGV[4] or tonumber(stored) < tonumber(ARGV[5]) then
    return {0, stored or '', owner or ''}
  end
end
local n = 0
for i = 6, #ARGV, 4 do
  local op = ARGV[i]
  if op == 'R' then
    redis.call('RPUSH', ARGV[i + 1], ARGV[i + 3])
  elseif op == 'H' then
    redis.call('HSET', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
  else
    redis.call('HDEL', ARGV[i + 1], ARGV[i + 2])
  end
  n = n + 1
end
local count = redis.call('HINCRBY', mk, ARGV[2], n)
redis.call('HSET', mk, ARGV[3], ARGV[4])
return {1, count}
"""


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
            # No silent retries: a call fails after its timeout and says so (module doc).
            retry=Retry(NoBackoff(), 0),
        )
        self._guarded_write = self._client.register_script(_GUARDED_WRITE)

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

    def _ops_args(self, ops: list[WriteOp]) -> list[Any]:
        """The guarded script's op arguments (4 per op)."""
        prefix = self._prefix
        args: list[Any] = []
        for area, key, value in ops:
            if area == "order_event":
                args += ("R", prefix + "order_events", "", value)
            elif area == "kv":
                namespace, name = split_kv_key(key)
                if value is None:
                    args += ("D", f"{prefix}kv:{namespace}", name, "")
                else:
                    args += ("H", f"{prefix}kv:{namespace}", name, value)
            else:
                args += ("H", prefix + _HASH_AREAS[area], key, value)
        return args

    def _write_guarded(self, ops: list[WriteOp], writer: str, instance_id: str) -> None:
        expected = self._marker_writes
        args = [self._prefix + "markers", f"{writer}:writes", f"{writer}:instance", instance_id,
                "" if expected is None else str(expected), *self._ops_args(ops)]
        reply = self._call("write", self._guarded_write, [], args)
        if int(reply[0]) == 1:
            self._marker_writes = int(reply[1])
            return
        stored_writes, stored_owner = bytes(reply[1]), bytes(reply[2])
        stored = None if not stored_writes else RunMarker(
            writer, stored_owner.decode(), int(stored_writes))
        problem = self._marker_problem(stored)
        if problem is None:  # the script and this check disagree: never write blind
            raise DatabaseError(f"{self.describe()}: run marker {writer}: refused as "
                                f"{stored}, expected {expected}")
        raise problem

    def read_marker(self, writer: str) -> RunMarker | None:
        key = self._prefix + "markers"
        writes, owner = self._call("read marker", self._client.hmget, key,
                                   f"{writer}:writes", f"{writer}:instance")
        if writes is None:
            return None
        return RunMarker(writer, (owner or b"").decode(), int(writes))

    def write(self, ops: list[WriteOp]) -> None:
        if self._marker is not None:
            self._write_guarded(ops, *self._marker)
            return
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
        # Settings only: the run marker belongs to the writer that set it.
        return RedisBackend(self.trader_id, **self._settings)

    def flush_trader(self) -> int:
        client = self._client
        keys = self._call("scan", list, client.scan_iter(
            match=_glob_escape(self._prefix) + "*", count=500))
        if not keys:
            return 0
        return int(self._call("delete", client.delete, *keys))
