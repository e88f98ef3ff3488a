"""The supervisor: composition root of a multiprocess node.

It validates the topology, plans cores, creates the run directory, spawns the
workers (exec semantics, own process group), hands each its spec over the
control channel, waits until every worker is READY (clients connected, every bus
peer joined), then says Go. While the node runs it reaps children the moment
SIGCHLD arrives, watches heartbeats, applies each role's exit policy, and answers
`livenode status` / `livenode stop`. On SIGINT/SIGTERM (or a stop request) it
stops the roles in order: traders, data, risk, execution, each phase bounded by
its timeout and then SIGKILL.

Signal handlers only enqueue; every decision is taken in the supervisor's loop.
A child's exit is seen through its pidfd (readable when it exits), so it is
reaped at once without polling and without SIGCHLD, which uvloop keeps for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import psutil
import zmq

from livenode.bus.commands import CommandTable
from livenode.bus.control import (
    Ack,
    AuditReply,
    AuditRequest,
    ClientStopRequest,
    ControlSocket,
    Failed,
    Go,
    Heartbeat,
    Hello,
    Ready,
    StateChanged,
    StatusReply,
    StatusRequest,
    Stop,
    StopAck,
    StopRequest,
    VenueReconciled,
)
from livenode.cache.shm import ShmTables, remove_stale_segments
from livenode.config import TradingNodeConfig
from livenode.config.workers import SHUTDOWN_ORDER
from livenode.core.logging import child_logging_env
from livenode.core.uuid import new_id
from livenode.node.metrics import MetricsSnapshot
from livenode.node.metrics_server import MetricsServer
from livenode.node.run_report import RunReport, decode_report
from livenode.node.services import collect_service_specs
from livenode.roles import hosted_role_types
from livenode.roles.topology import (
    derive_workers,
    node_members,
    subscriptions,
    validate_topology,
)
from livenode.supervisor.audits import AuditRelay
from livenode.supervisor.bus_security import absolute_keys_dir, bus_keys, warn_if_insecure
from livenode.supervisor.client_stops import ClientStops
from livenode.supervisor.cores import WorkerCores, allowed_cores, pin, plan_cores
from livenode.supervisor.handles import (
    EXIT_LIFELINE_LOST,
    WorkerHandle,
    WorkerState,
    now,
    spawn_worker,
)
from livenode.supervisor.restarts import Restarts
from livenode.supervisor.rundir import RunDir, create_run_dir
from livenode.supervisor.services import (
    Service,
    ServiceError,
    start_service,
    stop_service,
    wait_ready,
)
from livenode.supervisor.specs import WorkerSpecs
from livenode.supervisor.start_progress import StartProgress
from livenode.supervisor.status_report import (
    health_fields,
    merged_report,
    process_metrics,
    worker_status,
    workers_summary,
)
from livenode.supervisor.venue_states import VenueStates

_log = logging.getLogger("livenode.supervisor")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)

EXIT_CLEAN = 0
EXIT_FAILURE = 1


class Supervisor:
    """Runs a multiprocess node until it is stopped; `run()` returns the exit code."""

    def __init__(
        self,
        config: TradingNodeConfig,
        *,
        out: Callable[[str], None] = print,
        run_base: Path | None = None,
        exclusive: bool = True,
    ) -> None:
        self.instance_id = config.instance_id or new_id()[:12]
        # Keys are read here (not only in the workers) so a bad key directory is a
        # config error before anything starts; workers get its absolute path.
        bus_keys(config.message_bus)
        bus = msgspec.structs.replace(
            config.message_bus, curve_keys_dir=absolute_keys_dir(config.message_bus)
        )
        self.config = msgspec.structs.replace(
            config, instance_id=self.instance_id, message_bus=bus
        )
        self._out = out
        self._run_base = run_base
        # Refuse to run beside another node of the trader id (`rundir.lock_trader`).
        self._exclusive = exclusive
        members = node_members(config)
        placement = config.supervisor.risk_placement
        workers = list(config.workers) or derive_workers(members, placement)
        validate_topology(workers, members, placement)
        self.topology_derived = not config.workers
        self.plan = plan_cores(
            [WorkerCores(w.name, tuple(w.cores) if w.cores is not None else None) for w in workers],
            allowed_cores(),
        )
        self.handles: dict[str, WorkerHandle] = {
            w.name: WorkerHandle(w, self.plan.workers[w.name], publisher_id=w.name,
                                 roles=tuple(hosted_role_types(w.role, placement)))
            for w in workers
        }
        self._specs = WorkerSpecs(
            self.config, self.handles,
            subscriptions(workers, shared_market=config.cache.shared_memory,
                          risk_placement=placement),
            msgspec.json.encode(self.config),
        )
        self._events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._stop_requested = asyncio.Event()
        self._stop_now = False
        self._all_ready = asyncio.Event()
        self._running_event = asyncio.Event()
        self._exited = asyncio.Event()
        self._running = False
        self._stopping = False
        self._start_progress = StartProgress()
        self._commands = self._register_commands()
        self.state = "STARTING"
        self.stop_reason: str | None = None
        self.stop_requested_at: float | None = None  # UNIX seconds
        self.failure: str | None = None
        self.started_at = time.time()
        self.venues = VenueStates(self.handles, self._send_control)
        self.client_stops = ClientStops(self.handles, self._client_stop)
        self.audits = AuditRelay(self.handles, self._send_control)
        self.shutdown_seconds: float | None = None
        self.run_dir: RunDir | None = None
        # The signal that forced the stop (a second SIGINT/SIGTERM), if one did.
        self.forced_signal: int | None = None
        self._signal_mask: set[int | signal.Signals] | None = None
        self._control: ControlSocket | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.services: list[Service] = []
        self.restarts = Restarts(
            self.config, self.handles, self.services, self._specs, self.venues,
            spawn=self._spawn, fail=self._fail, send=self._send_control,
            watch_exit=self._watch_exit, log_env=self._log_env,
            stopping=self._stop_requested.is_set,
        )
        self.shared_tables: ShmTables | None = None
        self.stats: dict[str, dict[str, Any]] = {}
        self.metrics: MetricsServer | None = None

    # -- public -----------------------------------------------------------------------------

    def topology_lines(self) -> list[str]:
        """The topology and core plan, printed at start."""
        how = "derived" if self.topology_derived else "configured"
        lines = [f"  topology    {how}; supervisor on core(s) {list(self.plan.supervisor)}"]
        for handle in self.handles.values():
            members = ", ".join(handle.config.members) or "-"
            lines.append(
                f"    {handle.name:<14} {handle.role:<7} cores {list(handle.cores)}  "
                f"members {members}  on exit: {handle.config.on_exit}"
            )
        lines.extend(f"  warning     {w}" for w in self.plan.warnings)
        return lines

    def request_stop(self, reason: str, now: bool = False) -> None:
        """Start the ordered stop (or, with `now`, kill every worker at once)."""
        if now:
            self._stop_now = True
        if not self._stop_requested.is_set():
            self.stop_reason = reason
            self.stop_requested_at = time.time()
            _log.info("stop requested: %s", reason)
            self._stop_requested.set()
        elif now:
            _log.warning("stop now: %s", reason)
            self._kill_all()

    async def wait_stop_requested(self) -> None:
        """Return once a stop has been requested (signal, CLI, failure, duration)."""
        await self._stop_requested.wait()

    async def run(self) -> int:
        """Start, run until stopped, stop in order; return the process exit code."""
        loop = asyncio.get_running_loop()
        context: zmq.Context[Any] | None = None
        try:
            # [metrics] first: a port that cannot be bound fails the run
            # (MetricsServerError) before any process or file exists.
            self.metrics = MetricsServer(self.config.metrics, loop, self.metrics_snapshot)
            self.metrics.start()
            pin(os.getpid(), self.plan.supervisor)
            warn_if_insecure(self.config.message_bus, _log)
            self.run_dir = create_run_dir(self.config.trader_id, self.instance_id,
                                          self._run_base, exclusive=self._exclusive)
            self._create_shared_tables()
            context = zmq.Context()
            router = context.socket(zmq.ROUTER)
            router.setsockopt(zmq.LINGER, 0)
            router.setsockopt(zmq.ROUTER_MANDATORY, 1)
            self._control = ControlSocket(router, loop)
            router.bind(self.run_dir.control_endpoint)
            self._install_signal_handlers(loop)
            self._tasks = [
                asyncio.ensure_future(self._control_loop()),
                asyncio.ensure_future(self._event_loop()),
                asyncio.ensure_future(self._watchdog()),
            ]
            # A stop requested this early (a signal held while the run directory was
            # being made) spawns no worker: there is nothing to start, only to undo.
            if await self._start_services(loop) and not self._stop_requested.is_set():
                for handle in self.handles.values():
                    self._spawn(handle)
                await self._start_phase()
            if not self._stop_requested.is_set():
                self._running = True
                self.state = "RUNNING"
                self._running_event.set()
                for handle in self.handles.values():
                    self._go(handle)
                self._out(f"node {self.config.trader_id} RUNNING ({len(self.handles)} workers)")
                await self._stop_requested.wait()
        finally:
            started = time.monotonic()
            self._stopping = True
            self.state = "STOPPING"
            try:
                await self._stop_workers()
                await self.restarts.close()  # a restart still waiting or in progress
                for service in reversed(self.services):
                    await stop_service(service, loop, self.config.timeouts.disconnection)
            finally:
                self.shutdown_seconds = time.monotonic() - started
                self.state = "STOPPED"
                try:
                    await self._release(loop, context)
                finally:
                    if self.metrics is not None:
                        await self.metrics.stop()
        return EXIT_CLEAN if self.clean else EXIT_FAILURE

    async def wait_running(self) -> None:
        """Return once every worker is running (never, if the start fails)."""
        await self._running_event.wait()

    async def _release(
        self, loop: asyncio.AbstractEventLoop, context: zmq.Context[Any] | None
    ) -> None:
        """Free what `run` created, whatever point it reached."""
        self._remove_signal_handlers(loop)
        self.client_stops.close()
        if self._control is not None:
            self.audits.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.restarts.close()  # again: the stop above may not have got there
        if self._control is not None:
            self._control.close()
        if context is not None:
            context.term()
        try:
            if self.shared_tables is not None:
                self.shared_tables.unlink()
                self.shared_tables.close()
        finally:
            # The run directory last: its pid file is the record by which `livenode
            # clean` knows the segments as this run base's, should the process be
            # killed between the two.
            if self.run_dir is not None:
                self.run_dir.remove()

    @property
    def clean(self) -> bool:
        """No failure, no worker killed, every worker acknowledged a clean stop."""
        return (
            self.failure is None
            and not any(h.killed for h in self.handles.values())
            # A worker never spawned, or ended before it joined (the stop came first),
            # had nothing to stop.
            and all(h.stop_clean is True or h.process is None or h.discarded
                    for h in self.handles.values())
        )

    # -- start ------------------------------------------------------------------------------

    def _create_shared_tables(self) -> None:
        """The supervisor owns the node's shared memory: created before any worker
        attaches, unlinked after the last one stopped (see livenode.cache.shm)."""
        if not self.config.cache.shared_memory:
            return
        for segment in remove_stale_segments(self.config.trader_id):
            _log.warning("removed shared memory %s left by a dead run (%s)", segment.name,
                         segment.reason)
        self.shared_tables = ShmTables.create(self.config.trader_id, self.instance_id)

    async def _start_services(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Start what the adapters need beside the workers (the sim venue process)."""
        assert self.run_dir is not None
        try:
            for spec in collect_service_specs(self.config, str(self.run_dir.path)):
                service = start_service(spec, loop, self._log_env())
                self.services.append(service)
                self._watch_exit(service.process.pid)
                await wait_ready(service, self.config.supervisor.start_timeout)
                self._out(f"  service     {spec.name} ready (pid {service.process.pid})")
        except (ServiceError, OSError, ValueError) as exc:
            self._fail(str(exc))
            return False
        return True

    def _log_env(self) -> dict[str, str]:
        """A child process logs to its own file beside the supervisor's, and shows the
        screen what the supervisor's does (nothing added without a log file)."""
        logging_config = self.config.logging
        return child_logging_env(logging_config.file, logging_config.console_level)

    def _spawn(self, handle: WorkerHandle) -> None:
        assert self.run_dir is not None
        handle.process = spawn_worker(
            handle.name, self.run_dir.control_endpoint, self.config.logging.level,
            self._log_env(),
        )
        self._watch_exit(handle.process.pid)
        handle.state = WorkerState.STARTING
        handle.started_at = now()
        handle.last_heartbeat = now()
        handle.exit_status = None
        handle.exited_at = None
        handle.killed = False
        handle.stop_acked = False
        handle.stop_clean = None
        handle.joined = False
        handle.discarded = False
        self._start_progress.moved()
        try:
            handle.actual_cores = pin(handle.process.pid, handle.cores)
        except psutil.Error as exc:  # it died already: the reaper will say why
            _log.warning("could not pin %s: %s", handle.name, exc)
        _log.info("spawned %s (%s) pid %d on cores %s", handle.name, handle.role,
                  handle.process.pid, list(handle.actual_cores))

    async def _start_phase(self) -> None:
        """Wait until every worker is READY, a stop is asked, or the start stops moving
        for the start timeout (see `start_progress`: a slow start is not a failed one)."""
        timeout = self.config.supervisor.start_timeout
        ready = asyncio.ensure_future(self._all_ready.wait())
        stop = asyncio.ensure_future(self._stop_requested.wait())
        try:
            while True:
                done, _ = await asyncio.wait({ready, stop}, timeout=1.0,
                                             return_when=asyncio.FIRST_COMPLETED)
                if done:
                    return
                self._start_progress.sample(self._starting_pids())
                still = self._start_progress.still_for()
                if still > timeout:
                    waiting = [f"{h.name} ({'building' if h.joined else 'no hello yet'})"
                               for h in self.handles.values()
                               if h.state is not WorkerState.READY]
                    self._fail(f"start made no progress for {still:.0f}s (> {timeout:g}s): "
                               f"worker(s) not READY: {', '.join(waiting)}")
                    return
        finally:
            ready.cancel()
            stop.cancel()

    def _starting_pids(self) -> list[int]:
        return [h.process.pid for h in self.handles.values()
                if h.state is WorkerState.STARTING and h.process is not None and h.alive]

    def _send_control(self, msg: Any, identity: bytes) -> None:
        assert self._control is not None
        self._control.send(msg, to=identity)

    def _go(self, handle: WorkerHandle) -> None:
        if handle.state is WorkerState.READY and self._control is not None:
            self._control.send(Go(), to=handle.identity)
            handle.state = WorkerState.RUNNING

    # -- control channel --------------------------------------------------------------------

    async def _control_loop(self) -> None:
        assert self._control is not None
        while True:
            peer, msg = await self._control.recv()
            try:
                self._commands.dispatch(peer, msg)
            except Exception:
                _log.exception("control message %r from %r failed", msg, peer)

    def _register_commands(self) -> CommandTable[bytes]:
        """The control channel's commands: from clients (`livenode status`, `stop`,
        `audit`, and this process's own signals) and from workers (by identity)."""
        table: CommandTable[bytes] = CommandTable("supervisor")
        table.register(StatusRequest, self._on_status_request)
        table.register(StopRequest, self._on_stop_request)
        table.register(AuditRequest, lambda peer, msg: self.audits.ask(peer))
        from_workers: dict[type, Callable[[WorkerHandle, Any], None]] = {
            Hello: self._on_hello,
            Ready: self._on_ready,
            Heartbeat: self._on_heartbeat,
            StateChanged: self._on_state_changed,
            StopAck: self._on_stop_ack,
            VenueReconciled: lambda handle, msg: self.venues.reconciled(msg),
            ClientStopRequest: lambda handle, msg: self.client_stops.on_request(msg),
            AuditReply: lambda handle, msg: self.audits.on_reply(handle.name, msg),
            Failed: self._on_failed,
        }
        for kind, handler in from_workers.items():
            table.register(kind, self._from_worker(handler))
        return table

    def _from_worker(
        self, handler: Callable[[WorkerHandle, Any], None]
    ) -> Callable[[bytes, Any], None]:
        """`handler` for a message only a worker sends: resolved to its handle."""

        def resolved(peer: bytes, msg: Any) -> None:
            handle = self.handles.get(peer.decode(errors="replace"))
            if handle is None:
                _log.warning("control message %s from unknown peer %r", type(msg).__name__,
                             peer)
                return
            handler(handle, msg)

        return resolved

    # Commands from clients (a peer that is not a worker; b"": this process's signals).

    def _on_status_request(self, peer: bytes, msg: StatusRequest) -> None:
        self._send_control(self.status(), peer)

    def _on_stop_request(self, peer: bytes, msg: StopRequest) -> None:
        if peer:
            self._send_control(Ack(detail="stopping"), peer)
        self.request_stop(msg.reason or "livenode stop", now=msg.now)

    # Commands from workers.

    def _on_hello(self, handle: WorkerHandle, msg: Hello) -> None:
        assert self.run_dir is not None
        if not handle.alive or handle.discarded:
            return  # a worker the stop ended before it joined: nothing to send
        handle.joined = True
        self._start_progress.moved()
        self._send_control(self._specs.spec(handle, self.run_dir), handle.identity)
        if self._stopping:
            # The stop began before this worker connected: the Stop sent to it
            # then could not be routed. It builds, reads this, aborts its start.
            self._send_control(Stop(reason=self.stop_reason or ""), handle.identity)

    def _on_ready(self, handle: WorkerHandle, msg: Ready) -> None:
        self._start_progress.moved()
        handle.actual_cores = tuple(msg.cores)
        handle.last_heartbeat = now()
        _log.info("%s READY (pid %d, cores %s)", handle.name, msg.pid, msg.cores)
        if self._stopping:  # never Go while stopping; say Stop again (it may be lost)
            self._send_control(Stop(reason=self.stop_reason or ""), handle.identity)
            return
        handle.state = WorkerState.READY
        if self._running:
            # A restarted worker joins the running node. Its peers published their
            # instruments and account states long ago: a second Go to a running
            # worker asks it to publish them again (the newcomer's subscriptions
            # are live, it said Ready only after every peer's hello).
            for other in self.handles.values():
                # Only the roles that hold what it missed (`Role.resync_from`).
                if (other is not handle and other.state is WorkerState.RUNNING
                        and other.resyncs(handle)):
                    resync = Go(resync_worker=handle.name, resync_role=handle.role,
                                resync_venues=list(handle.config.members))
                    self._send_control(resync, other.identity)
            self._go(handle)
            if handle.carries_venues:
                self.venues.exec_worker_changed(handle, "ACTIVE", f"{handle.name} is back")
        elif all(h.state is WorkerState.READY for h in self.handles.values()):
            self._all_ready.set()

    def _on_heartbeat(self, handle: WorkerHandle, msg: Heartbeat) -> None:
        handle.last_heartbeat = now()
        handle.counters = msg.counters
        if msg.stats_json:
            self.stats[handle.name] = handle.last_facts = json.loads(msg.stats_json)
        if msg.report:
            handle.live_report = self._decode_report(handle, msg.report) or handle.live_report
        self._send_control(Ack(), handle.identity)

    def _on_state_changed(self, handle: WorkerHandle, msg: StateChanged) -> None:
        if handle.state is WorkerState.STARTING:
            self._start_progress.moved()
        _log.info("%s: %s %s", handle.name, msg.state, msg.detail)

    def _on_stop_ack(self, handle: WorkerHandle, msg: StopAck) -> None:
        handle.stop_acked = True
        handle.stop_clean = msg.clean
        if msg.report:
            handle.report = self._decode_report(handle, msg.report)
        if not msg.clean:
            _log.warning("%s stopped uncleanly: %s", handle.name, msg.detail)

    def _on_failed(self, handle: WorkerHandle, msg: Failed) -> None:
        handle.failure = msg.error
        self._fail(f"worker {handle.name} ({handle.role}) failed to start: {msg.error}")

    # -- children, signals, health ----------------------------------------------------------

    def _install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, self._events.put_nowait, ("signal", sig))
        # `livenode run` holds the signals until here (blocked from its first line):
        # one that arrived while the run directory and the shared memory were being
        # created is delivered now, to the handlers above. Workers are spawned after
        # this, so they do not inherit a blocked mask.
        self._signal_mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)

    def _watch_exit(self, pid: int) -> None:
        """Learn of a child's exit the moment it happens: its pidfd turns readable.

        (uvloop keeps SIGCHLD for itself; a pidfd per child needs no signal at all.)
        """
        loop = asyncio.get_running_loop()
        fd = os.pidfd_open(pid)

        def exited() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            self._events.put_nowait(("child", pid))

        loop.add_reader(fd, exited)

    def _remove_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._signal_mask is None:
            return
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)  # held while the handlers go
        for sig in _SIGNALS:
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        signal.pthread_sigmask(signal.SIG_SETMASK, self._signal_mask)
        self._signal_mask = None

    async def _event_loop(self) -> None:
        while True:
            kind, value = await self._events.get()
            if kind == "child":
                self._reap()
                continue
            # A signal is the command a client would send: SIGINT/SIGTERM a stop, a
            # second one a stop now.
            name = signal.Signals(value).name
            if self._stop_requested.is_set():
                if self.forced_signal is None:
                    self.forced_signal = int(value)
                self._commands.dispatch(b"", StopRequest(reason=f"second {name}", now=True))
            else:
                self._commands.dispatch(b"", StopRequest(reason=f"received {name}"))

    def _reap(self) -> None:
        for service in list(self.services):
            if service.reap() and not self._stopping:
                self.restarts.service_died(service, self._running)
        for handle in self.handles.values():
            if not handle.reap():
                continue
            self._exited.set()
            # A worker that stopped by itself (not asked: no stop in progress) for a
            # lost lifeline exits EXIT_LIFELINE_LOST: unexpected, its policy applies.
            self_stopped = handle.process is not None and (
                handle.process.returncode == EXIT_LIFELINE_LOST)
            expected = self._stopping or (handle.stop_acked and not self_stopped)
            level = logging.INFO if expected and not handle.killed else logging.WARNING
            _log.log(level, "worker %s (%s) pid %d: %s", handle.name, handle.role,
                     handle.pid, handle.exit_status)
            if expected:
                handle.state = WorkerState.STOPPED if handle.stop_acked else WorkerState.EXITED
                continue
            self.restarts.worker_died(handle, self._running)

    async def _watchdog(self) -> None:
        cfg = self.config.supervisor
        while True:
            await asyncio.sleep(cfg.heartbeat_interval)
            t = now()
            for handle in self.handles.values():
                if not handle.alive:
                    continue
                if handle.state is WorkerState.STARTING and self._running:
                    # A restarted worker must keep moving like the first start (see
                    # start_progress), or be killed (its exit policy then applies).
                    self._start_progress.sample(self._starting_pids())
                    still = self._start_progress.still_for()
                    if still > cfg.start_timeout:
                        _log.error("restarted worker %s not READY after %.1fs, no progress "
                                   "for %.1fs (> %gs): killing it", handle.name,
                                   t - handle.started_at, still, cfg.start_timeout)
                        handle.kill()
                    continue
                if handle.state not in (WorkerState.READY, WorkerState.RUNNING):
                    continue
                silent = t - handle.last_heartbeat
                if silent <= cfg.heartbeat_timeout:
                    handle.silence_seen_at = None
                elif handle.silence_seen_at != handle.last_heartbeat:
                    # Seen once: our own loop may have been starved with the worker's
                    # heartbeats unread in the socket; look again next tick.
                    handle.silence_seen_at = handle.last_heartbeat
                else:
                    _log.error("worker %s silent for %.1fs (> %gs): killing it", handle.name,
                               silent, cfg.heartbeat_timeout)
                    handle.kill()

    def _client_stop(self, reason: str, failure: str) -> None:
        """A client's source ended (see `client_stops`): stop, failed if it says so."""
        if failure:
            self._fail(failure)
        else:
            self.request_stop(reason)

    def _fail(self, reason: str) -> None:
        _log.error("%s", reason)
        if self.failure is None:
            self.failure = reason
        self.request_stop(f"failure: {reason}")

    # -- stop -------------------------------------------------------------------------------

    async def _stop_workers(self) -> None:
        if self._stop_now:
            self._kill_all()
        for handle in self.handles.values():
            if handle.alive and not handle.joined:
                # Spawned, but its hello was not read: it has no spec, so it has built
                # nothing, connected nowhere and holds nothing to stop. A Stop cannot
                # reach it (not on the control channel yet) and it may need many
                # seconds to get there on a loaded host: end it now.
                _log.info("%s had not joined yet: ended without a stop", handle.name)
                handle.discard()
        timeouts = self.config.supervisor.stop_timeouts
        for role in SHUTDOWN_ORDER:
            phase = [h for h in self.handles.values() if h.role == role and h.alive]
            if not phase:
                continue
            for handle in phase:
                handle.state = WorkerState.STOPPING
                assert self._control is not None
                self._control.send(Stop(reason=self.stop_reason or ""), to=handle.identity)
            limit = getattr(timeouts, role)
            if not await self._wait_exited(phase, limit):
                for handle in phase:
                    if handle.alive:
                        _log.error("worker %s did not stop within %gs: SIGKILL", handle.name, limit)
                        handle.kill()
                await self._wait_exited(phase, 10.0)
        leftovers = [h for h in self.handles.values() if h.alive]
        for handle in leftovers:  # spawned during the stop (a restart racing it)
            handle.kill()
        await self._wait_exited(leftovers, 10.0)

    async def _wait_exited(self, handles: list[WorkerHandle], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            self._reap()  # an exit may be queued behind us; do not wait on it
            if not any(h.alive for h in handles):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._exited.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exited.wait(), min(remaining, 0.5))

    def _kill_all(self) -> None:
        for handle in self.handles.values():
            handle.kill()

    # -- reporting --------------------------------------------------------------------------

    def status(self) -> StatusReply:
        """What `livenode status` shows, straight from the handles and the OS."""
        t = now()
        return StatusReply(
            trader_id=self.config.trader_id,
            instance_id=self.instance_id,
            supervisor_pid=os.getpid(),
            state=self.state,
            workers=[worker_status(handle, t) for handle in self.handles.values()],
            **health_fields(self.stats, self.venues.down),
        )

    def workers_summary(self) -> list[dict[str, Any]]:
        """Per worker, for `--summary-json` (see `status_report.workers_summary`)."""
        return workers_summary(self.handles.values())

    def run_report(self, *, live: bool = False) -> RunReport:
        """The workers' run reports merged into the node's (see
        `status_report.merged_report`): with `live`, the light ones of their last
        heartbeats (what the node did so far), else the final ones of their stop
        acknowledgements. With this node's identity and every bus hop's histogram."""
        report = merged_report(self.handles.values(), self.stats, live=live)
        return msgspec.structs.replace(
            report,
            trader_id=self.config.trader_id,
            instance_id=self.instance_id,
            mode="multiprocess",
            environment=self.config.environment,
        )

    def metrics_snapshot(self) -> MetricsSnapshot:
        """The node's state for one scrape of the metrics endpoint (on this loop)."""
        return MetricsSnapshot(report=self.run_report(live=True),
                               processes=process_metrics(self.handles.values(), now()))

    @staticmethod
    def _decode_report(handle: WorkerHandle, data: bytes) -> RunReport | None:
        try:
            return decode_report(data)
        except ValueError as exc:  # a bad report must not take the supervisor down
            _log.warning("%s sent a run report that does not decode: %s", handle.name, exc)
            return None
