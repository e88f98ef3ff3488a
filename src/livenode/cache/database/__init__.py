"""The cache database: the node's state made durable (SQLite or Redis).

See docs/persistence.md for what is stored, when it is durable, and how a
restarted node rebuilds from it.
"""

from livenode.cache.database.adapter_state import AdapterState
from livenode.cache.database.backend import (
    SCHEMA_VERSION,
    DatabaseBackend,
    DatabaseError,
    DatabaseLostError,
    DatabaseUnavailableError,
    RunMarker,
    SchemaVersionError,
    StoredRecords,
    WriteOp,
)
from livenode.cache.database.database import CacheDatabase, DatabaseState
from livenode.cache.database.redis_backend import RedisBackend
from livenode.cache.database.sqlite_backend import SqliteBackend
from livenode.cache.database.writer import DatabaseWriter, WriterState, WriterStatus

__all__ = [
    "SCHEMA_VERSION",
    "AdapterState",
    "CacheDatabase",
    "DatabaseBackend",
    "DatabaseError",
    "DatabaseLostError",
    "DatabaseState",
    "DatabaseUnavailableError",
    "DatabaseWriter",
    "RedisBackend",
    "RunMarker",
    "SchemaVersionError",
    "SqliteBackend",
    "StoredRecords",
    "WriteOp",
    "WriterState",
    "WriterStatus",
]
