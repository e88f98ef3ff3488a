"""The cache database: the node's state made durable (SQLite or Redis).

See docs/persistence.md for what is stored, when it is durable, and how a
restarted node rebuilds from it.
"""

from livenode.cache.database.adapter_state import AdapterState
from livenode.cache.database.backend import (
    SCHEMA_VERSION,
    DatabaseBackend,
    DatabaseError,
    DatabaseUnavailableError,
    SchemaVersionError,
    StoredRecords,
    WriteOp,
)
from livenode.cache.database.database import CacheDatabase, DatabaseState
from livenode.cache.database.redis_backend import RedisBackend
from livenode.cache.database.sqlite_backend import SqliteBackend
from livenode.cache.database.writer import DatabaseWriter, WriterStatus

__all__ = [
    "SCHEMA_VERSION",
    "AdapterState",
    "CacheDatabase",
    "DatabaseBackend",
    "DatabaseError",
    "DatabaseState",
    "DatabaseUnavailableError",
    "DatabaseWriter",
    "RedisBackend",
    "SchemaVersionError",
    "SqliteBackend",
    "StoredRecords",
    "WriteOp",
    "WriterStatus",
]
