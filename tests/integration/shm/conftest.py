"""Fixtures of the shared-memory integration tests: a unique trader id per test,
helper processes that are always stopped, and a check that no segment of the
test is left in /dev/shm."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

WORKER = str(Path(__file__).with_name("shm_worker.py"))
SHM_DIR = "/dev/shm"


@pytest.fixture
def trader_id() -> str:
    """A trader id no other test (or xdist worker) uses: segments never collide."""
    return f"SHMT{uuid.uuid4().hex[:10].upper()}-001"


@pytest.fixture(autouse=True)
def no_leftover_segments(trader_id: str) -> Iterator[None]:
    """Fail the test if it leaves a segment of its trader id behind (and remove it)."""
    yield
    prefix = f"livenode-{trader_id}-"
    left = sorted(n for n in os.listdir(SHM_DIR) if n.startswith(prefix))
    for name in left:
        os.unlink(os.path.join(SHM_DIR, name))
    if left:
        pytest.fail(
            f"the test left shared-memory segments behind (now removed): {left}", pytrace=False
        )


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `shm_worker.py MODE ARGS...`; every process is stopped by pid at teardown."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, WORKER, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()
