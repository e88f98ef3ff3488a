"""Root fixtures of the whole suite.

`no_leftover_child_processes` runs around every test: a test that starts a
process (a node in a subprocess, a worker, a server) must also see it gone
before it ends. One left running is killed (so it cannot disturb later tests)
and the test fails at teardown, naming the process.

`own_run_base` gives every test a run base of its own (``LIVENODE_RUN_BASE``): a
trader id runs once per run base (its lock), and tests running in parallel start
nodes of the same trader ids.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

# Helper processes the standard library starts once per test process and keeps
# for its lifetime, on purpose: not leaks of the test that happened to start them.
_LONG_LIVED_HELPERS = (
    "multiprocessing.resource_tracker",
    "multiprocessing.forkserver",
    "multiprocessing.semaphore_tracker",
)
# How long a child that is already on its way out may take to finish exiting.
_EXIT_GRACE_SECONDS = 5.0


def _live_children() -> list[psutil.Process]:
    """Children (recursive) of this process that are running and not stdlib helpers."""
    found = []
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return found
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue  # exited; only its exit status is left for its owner to read
            cmdline = " ".join(child.cmdline())
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        except psutil.AccessDenied:
            cmdline = "?"
        if any(helper in cmdline for helper in _LONG_LIVED_HELPERS):
            continue
        found.append(child)
    return found


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(process: psutil.Process) -> str:
    try:
        return f"pid {process.pid}: {' '.join(process.cmdline())[:200]}"
    except psutil.Error:
        return f"pid {process.pid}"


@pytest.fixture(autouse=True)
def own_run_base(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A run base for this test alone (short: ipc paths are limited), removed after."""
    from livenode.supervisor.rundir import RUN_BASE_ENV

    base = Path(tempfile.mkdtemp(prefix="lnb-", dir="/tmp"))
    monkeypatch.setenv(RUN_BASE_ENV, str(base))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_leftover_child_processes() -> Iterator[None]:
    """Fail the test if a child process it started is still running after it."""
    before = {p.pid for p in _live_children()}
    yield
    leftover = [p for p in _live_children() if p.pid not in before]
    if not leftover:
        return
    _, alive = psutil.wait_procs(leftover, timeout=_EXIT_GRACE_SECONDS)
    alive = [p for p in alive if _running(p)]
    if not alive:
        return
    names = "; ".join(_describe(p) for p in alive)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=_EXIT_GRACE_SECONDS)
    pytest.fail(f"the test left child processes running (now killed): {names}", pytrace=False)


def _own_segments() -> set[str]:
    """Shared-memory segments whose owner is this (test) process."""
    from livenode.cache.shm import list_segments

    me = os.getpid()
    return {s.name for s in list_segments(invalid_grace_s=0.0) if s.valid and s.owner_pid == me}


@pytest.fixture(autouse=True)
def no_leaked_shared_memory() -> Iterator[None]:
    """Fail the test if it left a segment that this test process created.

    Only segments owned by this process are attributed to the test: other tests
    (xdist workers, other sessions) may create and leave segments at the same time.
    Nodes a test runs as subprocesses are checked by the fixture that started them
    (tests/acceptance/conftest.py, tests/fixtures/multiprocess).
    """
    before = _own_segments()
    yield
    leaked = sorted(_own_segments() - before)
    if leaked:
        for name in leaked:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"/dev/shm/{name}")
        pytest.fail(f"the test left shared memory behind (now removed): {', '.join(leaked)}",
                    pytrace=False)
