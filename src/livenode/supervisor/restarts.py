"""What the supervisor does when a child dies while the node runs.

A worker: its venues halt if it carried them (`Role.carries_venues`); then its
`on_exit` policy: stop the node, or restart it after a back-off that doubles per
crash, up to a crash-loop limit (`restart_policy`). A restarted worker keeps what
its predecessor did in the summary, and on tcp comes back on a fresh port (its old
one may have been taken meanwhile: reported) that its subscribers follow.

A service (the sim venue process): stop the node, or halt its venue, start it
again after the back-off and tell the exec workers to reconnect and reconcile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from livenode.bus.control import PeerMoved
from livenode.config import TradingNodeConfig
from livenode.supervisor.handles import EXIT_BOOT_FAILED, WorkerHandle, WorkerState, now
from livenode.supervisor.restart_policy import restart_delay
from livenode.supervisor.services import Service, ServiceError, start_service, wait_ready
from livenode.supervisor.specs import WorkerSpecs, tcp_port_taken
from livenode.supervisor.status_report import dead_worker_flows
from livenode.supervisor.venue_states import VenueStates

__all__ = ["Restarts"]

_log = logging.getLogger("livenode.supervisor")


class Restarts:
    """The supervisor's answer to a child's unexpected death.

    Args:
        config: the node's configuration (restart back-off, crash-loop window).
        handles: the workers; services: the running services (replaced in place).
        specs: the workers' specs (their bus endpoints).
        venues: trading to each venue (halted while what carries it is down).
        spawn: starts a worker's process again; fail: stops the node with a reason;
        send: sends a control message to a worker; watch_exit: watches a new pid;
        log_env: the environment a service process logs by.
        stopping: whether the node's stop was requested (no restart then).
    """

    def __init__(
        self,
        config: TradingNodeConfig,
        handles: dict[str, WorkerHandle],
        services: list[Service],
        specs: WorkerSpecs,
        venues: VenueStates,
        *,
        spawn: Callable[[WorkerHandle], None],
        fail: Callable[[str], None],
        send: Callable[[Any, bytes], None],
        watch_exit: Callable[[int], None],
        log_env: Callable[[], dict[str, str]],
        stopping: Callable[[], bool],
    ) -> None:
        self._config = config
        self._handles = handles
        self._services = services
        self._specs = specs
        self._venues = venues
        self._spawn = spawn
        self._fail = fail
        self._send = send
        self._watch_exit = watch_exit
        self._log_env = log_env
        self._stopping = stopping
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._service_tasks: set[asyncio.Task[None]] = set()
        # Bus ports another process took while their worker was down (tcp).
        self.squatted_ports: list[str] = []

    async def close(self) -> None:
        """Cancel the restarts still waiting and the service restarts in progress."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._service_tasks):
            task.cancel()
        await asyncio.gather(*self._service_tasks, return_exceptions=True)

    # -- workers ---------------------------------------------------------------------------

    def worker_died(self, handle: WorkerHandle, running: bool) -> None:
        """`handle`'s process exited unasked (`running`: after the node's start)."""
        handle.state = WorkerState.EXITED
        assert handle.process is not None
        if handle.failure is not None or handle.process.returncode == EXIT_BOOT_FAILED:
            self._fail(f"worker {handle.name} ({handle.role}) failed to start: "
                       f"{handle.failure or handle.exit_status}")
            return
        if not running:
            self._fail(f"worker {handle.name} ({handle.role}) died during start: "
                       f"{handle.exit_status}")
            return
        if handle.carries_venues:
            self._venues.exec_worker_changed(handle, "HALTED",
                                             f"{handle.name} is down ({handle.exit_status})")
        if handle.config.on_exit == "stop":
            self._fail(f"worker {handle.name} ({handle.role}) died: {handle.exit_status}; "
                       "its policy is to stop the node")
            return
        cfg = self._config.supervisor
        delay = restart_delay(handle.crash_times, cfg, now())
        if delay is None:
            handle.state = WorkerState.FATAL
            self._fail(f"worker {handle.name} ({handle.role}) crashed {len(handle.crash_times)} "
                       f"times within {cfg.restart_window:g}s: crash loop, stopping the node")
            return
        handle.state = WorkerState.BACKOFF
        _log.warning("restarting %s in %.2fs (restart %d)", handle.name, delay, handle.restarts + 1)
        loop = asyncio.get_running_loop()
        self._timers[handle.name] = loop.call_later(delay, self._restart, handle)

    def _restart(self, handle: WorkerHandle) -> None:
        self._timers.pop(handle.name, None)
        if self._stopping():
            return
        handle.restarts += 1
        # The dead worker's work stays in the run's summary; its state is the new one's.
        kept = dead_worker_flows(handle.live_report, handle.last_facts, handle.role)
        if kept is not None:
            handle.earlier_reports.append(kept)
        handle.live_report = handle.last_facts = None
        self._move_endpoint(handle)
        self._spawn(handle)

    def _move_endpoint(self, handle: WorkerHandle) -> None:
        """tcp: the restarted worker publishes on a fresh port (its old one may have
        been taken while it was down: reported), and its subscribers follow."""
        moved = self._specs.move_endpoint(handle.name)
        if moved is None:
            return
        old, new = moved
        if tcp_port_taken(old):
            self.squatted_ports.append(old)
            _log.warning("%s's bus port %s was taken by another process while %s was "
                         "down; it comes back on %s", handle.name, old, handle.name, new)
        else:
            _log.info("%s comes back on %s (was %s)", handle.name, new, old)
        for name in self._specs.subscribers_of(handle.name):
            other = self._handles[name]
            if other.alive and other.joined:
                self._send(PeerMoved(worker=handle.name, old_endpoint=old, endpoint=new),
                           other.identity)

    # -- services --------------------------------------------------------------------------

    def service_died(self, service: Service, running: bool) -> None:
        """A service died: stop the node, or halt its venue and start it again."""
        spec = service.spec
        if spec.on_exit != "restart" or not running:
            self._fail(f"service {spec.name} died: {service.exit_status}")
            return
        cfg = self._config.supervisor
        delay = restart_delay(service.crash_times, cfg, now())
        if delay is None:
            self._fail(f"service {spec.name} crashed {len(service.crash_times)} times within "
                       f"{cfg.restart_window:g}s: crash loop, stopping the node")
            return
        reason = f"service {spec.name} is down ({service.exit_status})"
        if spec.venue:
            self._venues.halt(spec.venue, reason)
        _log.warning("%s; restarting it in %.2fs (restart %d)", reason, delay,
                     service.restarts + 1)
        task = asyncio.ensure_future(self._restart_service(service, delay))
        self._service_tasks.add(task)
        task.add_done_callback(self._service_tasks.discard)

    async def _restart_service(self, old: Service, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._stopping():
            return
        loop = asyncio.get_running_loop()
        service = start_service(old.spec, loop, self._log_env())
        service.restarts = old.restarts + 1
        service.crash_times = old.crash_times
        self._services[self._services.index(old)] = service
        self._watch_exit(service.process.pid)
        try:
            await wait_ready(service, self._config.supervisor.start_timeout)
        except ServiceError as exc:
            self._fail(str(exc))
            return
        _log.warning("service %s is back (pid %d)", old.spec.name, service.process.pid)
        if old.spec.venue:
            self._venues.venue_restarted(old.spec.venue, old.spec.name)
