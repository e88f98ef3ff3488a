"""Acceptance fixtures: start `livenode` subprocesses and always reap them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.acceptance.helpers import LivenodeProcess


@pytest.fixture
def livenode(tmp_path: Path) -> Iterator[Callable[..., LivenodeProcess]]:
    """Factory: `livenode("run", config, ...)` starts the CLI; killed at teardown if still up."""
    started: list[LivenodeProcess] = []

    def start(*args: object) -> LivenodeProcess:
        process = LivenodeProcess(*args, stderr_path=tmp_path / f"stderr-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
