"""Helper processes that adapters ask for (see `livenode.node.services`).

The supervisor starts them before the workers, each in its own process group,
waits for its ready line, keeps reading its output into the log (a full pipe
would block it), and stops it after every worker has stopped: TERM, then KILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field

from livenode.node.services import ServiceSpec
from livenode.supervisor.handles import describe_exit
from livenode.supervisor.start_progress import StartProgress

_log = logging.getLogger("livenode.supervisor.services")


class ServiceError(RuntimeError):
    """A service did not start (exited, or no ready line within the timeout)."""


@dataclass
class Service:
    spec: ServiceSpec
    process: subprocess.Popen[bytes]
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    exit_status: str | None = None
    killed: bool = False
    restarts: int = 0
    crash_times: deque[float] = field(default_factory=deque)
    _buffer: bytes = b""

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def reap(self) -> bool:
        if self.process.returncode is not None:
            return False
        returncode = self.process.poll()
        if returncode is None:
            return False
        self.exit_status = describe_exit(returncode)
        return True


def start_service(spec: ServiceSpec, loop: asyncio.AbstractEventLoop,
                  log_env: dict[str, str] | None = None) -> Service:
    """Spawn `spec` and follow its stdout from the loop. `log_env` is added to its
    environment (`livenode.core.logging.child_logging_env`: the node's log file and
    screen level, for a service that sets up its logging with `logging_from_env`)."""
    process = subprocess.Popen(
        spec.argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        close_fds=True,
        process_group=0,
        env={**os.environ, **log_env} if log_env else None,
    )
    service = Service(spec, process)
    assert process.stdout is not None
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)

    def on_output() -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not chunk:  # EOF: the service closed stdout or exited
            loop.remove_reader(fd)
            return
        service._buffer += chunk
        *lines, service._buffer = service._buffer.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace").rstrip()
            if line == spec.ready_line:
                service.ready.set()
            elif line:
                _log.info("%s: %s", spec.name, line)

    loop.add_reader(fd, on_output)
    _log.info("started service %s pid %d", spec.name, process.pid)
    return service


async def wait_ready(service: Service, timeout: float) -> None:
    """Wait for the ready line; `ServiceError` if the service exits, or stops moving
    (no CPU burnt) for `timeout` before it is ready (see `start_progress`)."""
    progress = StartProgress()
    while not service.ready.is_set():
        if service.reap():
            raise ServiceError(f"service {service.spec.name} exited before it was ready: "
                               f"{service.exit_status}")
        progress.sample([service.process.pid])
        if progress.still_for() > timeout:
            raise ServiceError(f"service {service.spec.name} not ready: no progress "
                               f"for {timeout:g}s")
        try:
            await asyncio.wait_for(service.ready.wait(), 0.25)
        except TimeoutError:
            continue


async def stop_service(service: Service, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    """TERM, wait up to `timeout`, then KILL; always closes our end of its pipe."""
    try:
        if service.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(service.process.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while not service.reap() and service.alive:
                if time.monotonic() > deadline:
                    _log.error("service %s did not stop within %gs: SIGKILL",
                               service.spec.name, timeout)
                    service.killed = True
                    service.process.kill()
                    service.process.wait()
                    service.exit_status = describe_exit(service.process.returncode)
                    break
                await asyncio.sleep(0.05)
    finally:
        stdout = service.process.stdout
        if stdout is not None:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(stdout.fileno())
            stdout.close()
    _log.info("service %s stopped: %s", service.spec.name, service.exit_status)
