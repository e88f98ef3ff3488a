"""Fixtures of the bus tests: an ipc endpoint in the test's directory and a ZeroMQ
context torn down before it (so a socket left open shows as a hang)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "bus.ipc"
    yield f"ipc://{path}"
    # ZeroMQ removes the ipc file when the binding socket is closed and the context
    # terminated (the `context` fixture, torn down first, terminates it).
    assert not path.exists(), "ipc socket file left behind"


@pytest.fixture
def context(endpoint: str) -> Iterator[zmq.Context[Any]]:
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.term()  # hangs if a test left a socket open: LINGER=0 and close() prove it does not
