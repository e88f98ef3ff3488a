"""Acceptance fixtures: start `livenode` subprocesses and always reap them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pytest

from livenode.cache.shm import list_segments
from tests.acceptance.helpers import LivenodeProcess


@pytest.fixture
def livenode(tmp_path: Path) -> Iterator[Callable[..., LivenodeProcess]]:
    """Factory: `livenode("run", config, ...)` starts the CLI; killed at teardown if still up."""
    started: list[LivenodeProcess] = []

    def start(*args: object, cwd: Path | None = None,
              log_file: Path | Literal["auto"] | None = "auto") -> LivenodeProcess:
        stderr_path = tmp_path / f"stderr-{len(started)}.log"
        process = (LivenodeProcess(*args, stderr_path=stderr_path, log_file=log_file)
                   if cwd is None else
                   LivenodeProcess(*args, stderr_path=stderr_path, cwd=cwd, log_file=log_file))
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
    # A node removes its shared memory when it stops (a forced exit included);
    # one it left behind is a leak of the run this test made.
    pids = {process.proc.pid for process in started}
    leaked = [s for s in list_segments(invalid_grace_s=0.0) if s.valid and s.owner_pid in pids]
    for segment in leaked:
        Path(segment.path).unlink(missing_ok=True)
    assert not leaked, f"the node left shared memory behind: {[s.name for s in leaked]}"
