"""Compatibility names: the client seam is defined in `livenode.engines.clients`.

Import from there; this module only re-exports it so that code written against the
old location keeps working.
"""

from __future__ import annotations

from livenode.engines.clients import (
    DATA_ENGINE_PROCESS,
    EXEC_ENGINE_PROCESS,
    ClientContext,
    ClientFactory,
    LiveClient,
    LiveDataClient,
    LiveExecutionClient,
)

__all__ = [
    "DATA_ENGINE_PROCESS",
    "EXEC_ENGINE_PROCESS",
    "ClientContext",
    "ClientFactory",
    "LiveClient",
    "LiveDataClient",
    "LiveExecutionClient",
]
