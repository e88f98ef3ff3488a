"""What the supervisor knows about each worker process, and how one is started.

States follow supervisord's: STARTING until the worker proved itself with READY,
RUNNING after Go, BACKOFF while a restart waits out its delay, FATAL when the
crash-loop limit is reached; STOPPING/STOPPED/EXITED at the end.
"""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import psutil

from livenode.bus.control import WorkerCounters
from livenode.config.workers import WorkerConfig
from livenode.node.run_report import RunReport
from livenode.roles import Role, hosted_role_types

# A worker exits with this code when it could not start (bad import, client that
# cannot connect): the supervisor stops the node instead of restarting it.
EXIT_BOOT_FAILED = 3
# A worker that stopped by itself because the supervisor stopped answering exits
# with this code: if the supervisor is in fact alive, the exit is unexpected and its
# on_exit policy applies (the worker's StopAck does not make it a requested stop).
EXIT_LIFELINE_LOST = 4


class WorkerState(enum.Enum):
    STARTING = "STARTING"
    READY = "READY"
    RUNNING = "RUNNING"
    BACKOFF = "BACKOFF"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    EXITED = "EXITED"
    FATAL = "FATAL"


@dataclass
class WorkerHandle:
    """One worker: its config and planned cores, its current process, its health."""

    config: WorkerConfig
    cores: tuple[int, ...]
    publisher_id: str = ""
    process: subprocess.Popen[bytes] | None = None
    state: WorkerState = WorkerState.STARTING
    started_at: float = 0.0
    last_heartbeat: float = 0.0
    # `last_heartbeat` when its silence was first noticed (see the heartbeat check).
    silence_seen_at: float | None = None
    actual_cores: tuple[int, ...] = ()
    counters: WorkerCounters = field(default_factory=WorkerCounters)
    restarts: int = 0
    crash_times: deque[float] = field(default_factory=deque)
    exit_status: str | None = None
    # Wall-clock time (UNIX seconds) the supervisor reaped the process: the order of
    # the stop phases is visible in the summary.
    exited_at: float | None = None
    killed: bool = False
    stop_acked: bool = False
    stop_clean: bool | None = None
    # The worker's run report from its stop acknowledgement, and the last light
    # one from its heartbeats (None until one arrived).
    report: RunReport | None = None
    live_report: RunReport | None = None
    # The status facts of this incarnation's last heartbeat (`NodeStats.status`).
    last_facts: dict[str, Any] | None = None
    # What each earlier incarnation of this worker (before a restart) had counted,
    # from its last light report (`RunReport.flows_only`): the summary keeps it.
    earlier_reports: list[RunReport] = field(default_factory=list)
    failure: str | None = None
    ps: psutil.Process | None = None
    # The roles it hosts (its own, and risk where the configuration places it);
    # by default its own role alone.
    roles: tuple[type[Role], ...] = ()
    # This incarnation's hello was read (it got its spec): only then can it be stopped.
    joined: bool = False
    # Ended by a stop before it joined (see `discard`).
    discarded: bool = False

    def __post_init__(self) -> None:
        if not self.roles:
            self.roles = tuple(hosted_role_types(self.config.role))

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def role(self) -> str:
        return self.config.role

    @property
    def carries_venues(self) -> bool:
        """While it is down, trading to its venues (its members) halts."""
        return any(role.carries_venues for role in self.roles)

    @property
    def market_source(self) -> bool:
        """A finite market data source of its members can end the run."""
        return any(role.market_source for role in self.roles)

    @property
    def runs_strategies(self) -> bool:
        """It runs strategies (they confirm the end of a market source)."""
        return any(role.runs_strategies for role in self.roles)

    @property
    def hosts_risk(self) -> bool:
        """It runs the node's risk engine: trading-state commands go to it."""
        return any(role.hosts_risk for role in self.roles)

    def resyncs(self, rejoined: WorkerHandle) -> bool:
        """Whether this worker sends state again when `rejoined` rejoins the node."""
        wanted = {name for role in rejoined.roles for name in role.resync_from}
        return any(role.name in wanted for role in self.roles)

    @property
    def identity(self) -> bytes:
        return self.config.name.encode()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def reap(self) -> bool:
        """Collect the exit status if the process ended (waitpid, no blocking)."""
        if self.process is None or self.process.returncode is not None:
            return False
        returncode = self.process.poll()
        if returncode is None:
            return False
        self.exit_status = describe_exit(returncode)
        self.exited_at = time.time()
        return True

    def discard(self) -> None:
        """SIGKILL a process that never joined: nothing was built in it, so this ends
        it without making the stop unclean (unlike `kill`)."""
        if self.alive and self.process is not None:
            self.discarded = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the process (it is reaped by the SIGCHLD path)."""
        if self.alive and self.process is not None:
            self.killed = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)


def describe_exit(returncode: int) -> str:
    """"exit 0", "exit 3 (boot failed)" or "killed by SIGKILL"."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    if returncode == EXIT_BOOT_FAILED:
        return f"exit {returncode} (boot failed)"
    return f"exit {returncode}"


def spawn_worker(
    name: str, control_endpoint: str, log_level: str, log_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a worker with exec semantics (a fresh interpreter: no inherited ZeroMQ
    context or event loop) in its own process group, so a terminal's Ctrl-C reaches
    only the supervisor, which then stops the workers in order. `log_env`
    (`livenode.core.logging.child_logging_env`) has it log to its file from its first
    line, before its config arrives."""
    command = [
        sys.executable,
        "-m",
        "livenode.supervisor.worker",
        "--name",
        name,
        "--control",
        control_endpoint,
        "--parent",
        str(os.getpid()),
        "--log-level",
        log_level,
    ]
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        close_fds=True,
        process_group=0,
        env={**os.environ, **log_env} if log_env else None,
    )


def now() -> float:
    return time.monotonic()
