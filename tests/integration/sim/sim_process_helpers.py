"""Helpers of the venue-process tests: a short run directory, the server process, a node side."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from livenode.adapters.sim import SimDataClientConfig, SimDataClientFactory
from livenode.bus.message_bus import MessageBus
from livenode.cache.cache import Cache
from livenode.config import DataEngineConfig, ExecEngineConfig
from livenode.core.clock import LiveClock
from livenode.engines.clients import ClientContext
from livenode.engines.data_engine import DataEngine
from livenode.engines.execution_engine import ExecutionEngine
from livenode.model.identifiers import TraderId

REPO = Path(__file__).resolve().parents[3]
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def make_run_dir() -> Path:
    """A short private directory: ipc paths are limited to ~107 bytes (pytest's are long)."""
    return Path(tempfile.mkdtemp(prefix="lnsim-", dir="/tmp"))


def remove_run_dir(path: Path) -> list[str]:
    """Remove `path`; return the ipc files that were still in it (there should be none)."""
    left = sorted(p.name for p in path.glob("*.ipc"))
    shutil.rmtree(path, ignore_errors=True)
    return left


async def start_server(config: SimDataClientConfig, run_dir: Path) -> asyncio.subprocess.Process:
    """Start the venue process the way the supervisor would and wait for its ready line."""
    (spec,) = SimDataClientFactory.services("SIM", config, str(run_dir))
    proc = await asyncio.create_subprocess_exec(
        *spec.argv, stdout=asyncio.subprocess.PIPE, cwd=str(REPO)
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    if line.decode().strip() != spec.ready_line:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"venue process said {line!r} instead of {spec.ready_line!r}")
    return proc


async def stop_server(proc: asyncio.subprocess.Process) -> int:
    """SIGTERM, then the exit code (killed and failed if it does not stop in time)."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("venue process did not stop on SIGTERM") from None


@dataclass
class NodeSide:
    """What a worker process would hold: bus, cache, the real engines, the context."""

    context: ClientContext
    data_engine: DataEngine
    exec_engine: ExecutionEngine

    @property
    def msgbus(self) -> MessageBus:
        return self.context.msgbus

    @property
    def cache(self) -> Cache:
        return self.context.cache


def node_side(run_dir: Path | None) -> NodeSide:
    """Engines over one bus and cache; ``run_dir`` set like a worker does."""
    loop = asyncio.get_running_loop()
    clock = LiveClock(loop)
    msgbus = MessageBus(TraderId("TESTER-001"), clock)
    cache = Cache()

    context = ClientContext(loop=loop, msgbus=msgbus, cache=cache, clock=clock,
                            run_dir=None if run_dir is None else str(run_dir))
    data_engine = DataEngine(msgbus, cache, clock, DataEngineConfig())
    exec_engine = ExecutionEngine(msgbus, cache, clock, ExecEngineConfig())
    return NodeSide(context, data_engine, exec_engine)


async def run_child(*args: str) -> asyncio.subprocess.Process:
    """A Python child running `args` from the repo root (so ``tests`` imports)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, cwd=str(REPO), env=env
    )
