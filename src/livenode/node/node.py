"""`TradingNode`: owns (or shares) the event loop, starts behind gates, stops in order.

Event-loop rule (the seed's): use the loop given; else the running loop (the
node is embedded in an async application); else create a new uvloop loop that
the node owns. The node never installs a global event-loop policy and never
calls `asyncio.set_event_loop`.

Start gates, in order, each bounded by its `timeouts.*` value:

1. ``connection``: every client connected (data clients, then exec clients);
2. ``reconciliation``: the execution engine reconciled with the venues (when
   `exec_engine.reconciliation` is on);
3. ``portfolio``: the portfolio initialised for every exec venue;

THEN the strategies start. A gate that times out or fails raises
`StartupGateError` naming the gate, after everything started so far has been
stopped: the node never keeps running half-started.

Stop order: strategies stop (a stopped strategy submits nothing), in-flight
orders settle or `timeouts.post_stop` passes, clients disconnect
(`timeouts.disconnection`), engines stop; the whole sequence is bounded by
`timeouts.shutdown`.

Signals (only with ``handle_signals=True``, i.e. when the node owns the main
thread; an embedding application keeps its own handlers): the first SIGINT or
SIGTERM schedules the stop; a second one while stopping exits the process at
once with code ``128 + signal number`` (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec
import uvloop

from livenode.cache.shm import ShmTables, remove_stale_segments
from livenode.config import TradingNodeConfig
from livenode.core.clock import Clock
from livenode.core.gc_pauses import GcPauses, SurvivorFreezer
from livenode.engines.audit import books_match
from livenode.engines.clients import ClientFactory
from livenode.node.builder import TradingNodeBuilder
from livenode.node.database import database_written
from livenode.node.gates import (
    StartAborted,
    StartupGateError,
    connect_clients,
    describe_unconnected,
    disconnect_clients,
    run_gate,
)
from livenode.node.kernel import ALL_ROLES, Kernel
from livenode.node.metrics_server import MetricsServerError, single_node_metrics
from livenode.node.run_report import GcRow, RunReport
from livenode.node.stats import NodeStats, faults_fail_run
from livenode.node.strategy_state import wait_saved

__all__ = ["FORCED_EXIT_BASE", "NodeState", "StartupGateError", "TradingNode", "resolve_loop"]

_log = logging.getLogger("livenode.node")

# A forced exit uses the shell's convention for "killed by signal N".
FORCED_EXIT_BASE = 128
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class NodeState(enum.Enum):
    """Lifecycle of a `TradingNode`."""

    CREATED = "CREATED"
    BUILT = "BUILT"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    DISPOSED = "DISPOSED"


def resolve_loop(
    loop: asyncio.AbstractEventLoop | None,
) -> tuple[asyncio.AbstractEventLoop, bool]:
    """Apply the event-loop rule; return the loop and whether the caller now owns it."""
    if loop is not None:
        return loop, False
    try:
        return asyncio.get_running_loop(), False
    except RuntimeError:
        # A loop object, not a policy: nothing global changes for other code.
        return uvloop.new_event_loop(), True


class TradingNode:
    """A live trading node in one process.

    Args:
        config: the node's configuration.
        loop: the event loop to run on (see the module docstring for the rule).
        clock: the kernel's clock; a `LiveClock` on the loop when None.
        force_exit: called with an exit code on a second signal during the stop;
            `os._exit` by default (tests substitute a recorder).
        roles: the kernel roles to build (all four in single mode; one in a worker).
        members: the clients and strategy ids this process hosts (None: all).
        before_trading: awaited after the connection and reconciliation gates and
            before the portfolio gate and the strategies (a worker's READY/Go
            handshake with its supervisor).
        trading_started: called once the strategies have started, instead of
            telling this node's data clients (a worker relays it; see
            `start_data_sources`).
        run_dir: the supervisor's run directory (a worker passes it, so adapters
            find per-node endpoints: `ClientContext.run_dir`).
        shared: objects the clients share, each under its type
            (`ClientContext.provide`; e.g. one sim venue for two nodes of a test).
        restarted: this process replaces one of the same node that died (a worker
            restarted by its supervisor): ``cache.database.flush_on_start`` does not
            apply, the state is its predecessor's.
        shared_tables: the node's shared-memory tables, attached by a worker; when
            None and ``cache.shared_memory`` is on, a node with every role (single
            mode) creates its own, first removing those of a dead run of the same
            trader id, and unlinks them on `dispose`.
    """

    def __init__(
        self,
        config: TradingNodeConfig,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        clock: Clock | None = None,
        force_exit: Callable[[int], Any] | None = None,
        roles: Iterable[str] = ALL_ROLES,
        members: Iterable[str] | None = None,
        before_trading: Callable[[], Awaitable[None]] | None = None,
        trading_started: Callable[[], None] | None = None,
        run_dir: str | None = None,
        shared: Iterable[object] = (),
        shared_tables: ShmTables | None = None,
        restarted: bool = False,
    ) -> None:
        self.config = config
        self._loop, self._owns_loop = resolve_loop(loop)
        # A worker of a multiprocess node: the handshake with its supervisor runs
        # between the connection gates and the strategies' start.
        self._before_trading = before_trading
        # A worker: told once the strategies started, instead of this node's data
        # clients (it relays the news, and starts its clients' sources when every
        # trader's strategies have subscribed: `start_data_sources`).
        self._trading_started = trading_started
        try:
            self.kernel = Kernel(
                config,
                self._loop,
                clock=clock,
                on_stop_node=self._on_stop_node,
                roles=roles,
                members=members,
                run_dir=run_dir,
            )
            self.kernel.context.provide(*shared)
            self.kernel.context.on_stop_request(self._client_request_stop)
            self.kernel.restarted = restarted
            self.shared_tables, self._owns_shared = self._shared_tables(shared_tables)
            if self.shared_tables is not None:
                self.kernel.use_shared_tables(self.shared_tables)
        except BaseException:
            if self._owns_loop:
                self._loop.close()  # nobody else can reach the loop to close it
            raise
        self._builder = TradingNodeBuilder(self.kernel)
        self.stats = NodeStats(self.kernel)
        # Collector pauses on this process, timed from the end of the start (heap frozen).
        self.gc_pauses = GcPauses()
        self._freezer = SurvivorFreezer(self._loop, config.gc_freeze_interval)
        self._force_exit = force_exit if force_exit is not None else _exit_now
        self._state = NodeState.CREATED
        self._stop_requested = asyncio.Event()
        self._started = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stop_reason: str | None = None
        self._signals_installed: list[int] = []
        self._signal_mask: set[int | signal.Signals] | None = None
        # Outcome, read by the CLI after `run_async` returns.
        self.failure: str | None = None
        self.gate_error: StartupGateError | None = None
        self.shutdown_clean: bool | None = None
        self.shutdown_seconds: float | None = None

    def _shared_tables(self, given: ShmTables | None) -> tuple[ShmTables | None, bool]:
        if given is not None:
            return given, False
        kernel = self.kernel
        if not self.config.cache.shared_memory or kernel.roles != ALL_ROLES:
            return None, False
        removed = remove_stale_segments(self.config.trader_id)
        for segment in removed:
            _log.warning("removed shared memory %s left by a dead run (%s)", segment.name,
                         segment.reason)
        return ShmTables.create(self.config.trader_id, kernel.instance_id), True

    # -- properties --------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the node runs on."""
        return self._loop

    @property
    def owns_loop(self) -> bool:
        """Whether the node created its loop (and so closes it on `dispose`)."""
        return self._owns_loop

    @property
    def state(self) -> NodeState:
        """Where the node is in its lifecycle."""
        return self._state

    @property
    def is_running(self) -> bool:
        """Whether every gate passed and the strategies run."""
        return self._state is NodeState.RUNNING

    @property
    def stop_reason(self) -> str | None:
        """Why the stop was requested (a signal, `--duration`, a strategy), if it was."""
        return self._stop_reason

    @property
    def exit_code(self) -> int:
        """0 after a clean stop; 1 after a gate failure, a run-time failure, an unclean
        stop, or a strategy that FAULTED (unless its ``on_fault = "continue"``)."""
        if self.gate_error is not None or self.failure is not None:
            return 1
        if self.shutdown_clean is False:
            return 1
        if faults_fail_run(self.stats.faulted_strategies()):
            return 1
        return 0

    # -- build -------------------------------------------------------------------------------

    def add_data_client_factory(self, name: str, factory: type[ClientFactory]) -> None:
        """Use `factory` for data client `name` (overrides the config's import path)."""
        self._builder.add_data_client_factory(name, factory)

    def add_exec_client_factory(self, name: str, factory: type[ClientFactory]) -> None:
        """Use `factory` for exec client `name` (overrides the config's import path)."""
        self._builder.add_exec_client_factory(name, factory)

    def build(self) -> None:
        """Create the configured clients; a second call raises `BuildError`."""
        self._check_not_disposed()
        self._builder.build()
        self._state = NodeState.BUILT

    # -- run ---------------------------------------------------------------------------------

    def run(self, *, handle_signals: bool = True) -> None:
        """Run until stopped, blocking; for a node that is not embedded in a running loop.

        Raises:
            RuntimeError: the node's loop is already running (use `run_async`).
            StartupGateError: a start gate failed (the node is stopped by then).
        """
        if self._loop.is_running():
            raise RuntimeError("the node's event loop is already running; await run_async()")
        self._loop.run_until_complete(self.run_async(handle_signals=handle_signals))

    async def run_async(self, *, handle_signals: bool = False) -> None:
        """Start behind the gates, run until a stop is requested, then stop in order.

        Args:
            handle_signals: install SIGINT/SIGTERM handlers on the loop (only for
                a node that owns the process's main thread; ignored elsewhere).

        Raises:
            StartupGateError: a start gate failed (the node is stopped by then).
            MetricsServerError: `[metrics]` is enabled and its port cannot be bound
                (nothing was started).
        """
        self._check_not_disposed()
        if self._state is NodeState.CREATED:
            self.build()
        if self._state is not NodeState.BUILT:
            raise RuntimeError(f"the node cannot run from state {self._state.value}")
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("run_async() must be awaited on the node's own event loop")
        # Single process: the node serves [metrics] itself (a port it cannot bind
        # fails the run before anything starts).
        metrics = single_node_metrics(self)
        if metrics is not None:
            try:
                metrics.start()
            except MetricsServerError as exc:
                self.failure = str(exc)
                self._stopped.set()  # never started: nobody may wait for it
                raise
        self._state = NodeState.STARTING
        if handle_signals:
            self._install_signal_handlers()
        try:
            try:
                await self._start()
            except StartAborted:
                _log.info("start aborted: %s", self._stop_reason)
            except StartupGateError as exc:
                self.gate_error = exc
                _log.error("%s", exc)
            else:
                if not self._stop_requested.is_set():
                    self._state = NodeState.RUNNING
                    self._started.set()
                    _log.info("node %s RUNNING", self.kernel.trader_id)
                    await self._stop_requested.wait()
        finally:
            try:
                await self._stop_sequence()
            finally:
                self._remove_signal_handlers()
                self._state = NodeState.STOPPED
                if metrics is not None:
                    await metrics.stop()
                self._stopped.set()
        if self.gate_error is not None:
            raise self.gate_error

    async def wait_started(self) -> bool:
        """Wait until the node RUNS (True) or stopped without getting there (False)."""
        started = asyncio.ensure_future(self._started.wait())
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({started, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            started.cancel()
            stopped.cancel()
        return self._started.is_set()

    async def wait_stop_requested(self) -> None:
        """Wait until a stop is requested (a signal, `stop`, a failing strategy)."""
        await self._stop_requested.wait()

    async def wait_stopped(self) -> None:
        """Wait until the stop sequence has finished."""
        await self._stopped.wait()

    # -- stop --------------------------------------------------------------------------------

    def stop(self, reason: str = "stop requested") -> None:
        """Request the ordered stop; returns at once; safe from any thread."""
        if self._loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._request_stop(reason)
        else:
            self._loop.call_soon_threadsafe(self._request_stop, reason)

    async def stop_async(self, reason: str = "stop requested") -> None:
        """Request the ordered stop and wait until it has finished (if the node ran)."""
        self._request_stop(reason)
        if self._state in (NodeState.STARTING, NodeState.RUNNING, NodeState.STOPPING):
            await self._stopped.wait()

    def _request_stop(self, reason: str) -> None:
        if self._stop_requested.is_set():
            return
        self._stop_reason = reason
        _log.info("stop requested: %s", reason)
        self._stop_requested.set()

    def _client_request_stop(self, reason: str, *, failure: str | None = None) -> None:
        """A client asks for the stop (its source ended); with `failure` the run failed."""
        if failure is not None and self.failure is None:
            self.failure = failure
        self.stop(reason)

    def _on_stop_node(self, *args: Any) -> None:
        """The trader asks the node to stop because a strategy failed."""
        detail = " ".join(str(a) for a in args) or "a strategy asked the node to stop"
        if self.failure is None:
            self.failure = detail
        self.stop(f"failure: {detail}")

    # -- dispose -----------------------------------------------------------------------------

    def dispose(self) -> None:
        """Release everything; idempotent. Closes the loop only if the node created it."""
        if self._state is NodeState.DISPOSED:
            return
        if self._state in (NodeState.STARTING, NodeState.RUNNING, NodeState.STOPPING):
            raise RuntimeError("dispose() while the node runs; stop it first")
        self.gc_pauses.remove()
        self.stats.close()
        self.kernel.dispose()
        if self.shared_tables is not None:
            if self._owns_shared:
                self.shared_tables.unlink()
            self.shared_tables.close()
        self._state = NodeState.DISPOSED
        if self._owns_loop and not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()

    def _check_not_disposed(self) -> None:
        if self._state is NodeState.DISPOSED:
            raise RuntimeError("the node is disposed")

    # -- summary -----------------------------------------------------------------------------

    def gc_row(self) -> GcRow:
        """This process's collector pauses and what the survivor freezes kept."""
        return GcRow(**self.gc_pauses.summary(), refreezes=self._freezer.refreezes,
                     kept_by_freeze=self._freezer.kept_by_freeze)

    def report(self, process: str = "node") -> RunReport:
        """The final run report of this process, its collector pauses under `process`."""
        return msgspec.structs.replace(self.stats.report(), gc={process: self.gc_row()})

    def summary(self) -> dict[str, Any]:
        """Facts about this run for the CLI's table and `--summary-json` (JSON-ready)."""
        facts = self.report().to_dict()
        facts["shutdown"] = {
            "clean": bool(self.shutdown_clean) if self.shutdown_clean is not None else False,
            "seconds": round(self.shutdown_seconds or 0.0, 3),
            "reason": self._stop_reason,
            # True only in the summary a forced exit (a second signal) writes.
            "forced": False,
        }
        facts["started"] = self._started.is_set()
        facts["failure"] = self.failure
        facts["gate_error"] = (
            None
            if self.gate_error is None
            else {"gate": self.gate_error.gate, "detail": self.gate_error.detail}
        )
        facts["exit_code"] = self.exit_code
        return facts

    # -- start sequence ----------------------------------------------------------------------

    async def _start(self) -> None:
        kernel = self.kernel
        timeouts = self.config.timeouts
        kernel.start_engines()
        self.stats.start()

        await self._gate(
            "connection",
            connect_clients([kernel.data_clients.values(), kernel.exec_clients.values()]),
            timeouts.connection,
            lambda: describe_unconnected(kernel.clients),
        )
        exec_engine = kernel.exec_engine
        if exec_engine is not None and self.config.exec_engine.reconciliation:
            # A venue that cannot be reconciled does not block the start: it stays
            # halted (its new orders denied) until a later reconciliation succeeds.
            await self._gate(
                "reconciliation",
                exec_engine.reconcile_start(timeouts.reconciliation),
                timeouts.reconciliation,
                lambda: "execution state not reconciled with "
                + ", ".join(c.name for c in kernel.exec_clients.values()),
            )
        if exec_engine is not None:
            await exec_engine.take_audit_baseline(timeouts.audit)
        if self._before_trading is not None:
            await self._before_trading()
            if self._stop_requested.is_set():
                raise StartAborted
        portfolio = kernel.portfolio
        if portfolio is not None and kernel.venues:
            venues = kernel.venues
            await self._gate(
                "portfolio",
                portfolio.wait_initialized(venues, timeouts.portfolio),
                timeouts.portfolio,
                lambda: "portfolio not initialised for venue(s) "
                + ", ".join(str(v) for v in venues),
            )
        if self._stop_requested.is_set():
            raise StartAborted
        kernel.start_trader()
        # The strategies have subscribed: a client may start a finite source now.
        if self._trading_started is not None:
            self._trading_started()
        else:
            self.start_data_sources()
        kernel.freeze_heap()
        self.gc_pauses.install()
        self._freezer.start()

    def start_data_sources(self) -> None:
        """Tell the data clients the strategies have subscribed (a replay starts).

        Called by the node after its strategies' start, or, in a worker of a
        multiprocess node, by the worker once every trader's strategies started."""
        for client in self.kernel.data_clients.values():
            client.on_trading_started()

    async def _gate(
        self, name: str, awaitable: Any, timeout: float, describe: Callable[[], str]
    ) -> None:
        await run_gate(name, awaitable, timeout, describe, self._stop_requested)

    # -- stop sequence -----------------------------------------------------------------------

    async def _stop_sequence(self) -> None:
        self._state = NodeState.STOPPING
        kernel = self.kernel
        timeouts = self.config.timeouts
        started_at = time.monotonic()
        self.stats.stop()  # the run time ends where the stop begins
        clean = True
        try:
            async with asyncio.timeout(timeouts.shutdown):
                clean &= await self._stop_strategies()
                # Saved states durable before STOPPED (a worker's StopAck follows).
                await wait_saved(kernel.strategy_store, timeouts.post_stop)
                if kernel.exec_engine is not None and kernel.exec_engine.is_running:
                    settled = await kernel.exec_engine.wait_settled(timeouts.post_stop)
                    if settled is False:
                        _log.warning(
                            "in-flight orders did not settle within %gs", timeouts.post_stop
                        )
                        clean = False
                if (kernel.exec_engine is not None and kernel.exec_clients
                        and self._started.is_set()):
                    # The venue is the truth: a stop whose books differ is not clean.
                    # (A start aborted before trading traded nothing: no audit.)
                    verdicts = await kernel.exec_engine.audit(timeouts.audit)
                    clean &= books_match(verdicts) is not False
                clean &= await disconnect_clients(
                    [kernel.data_clients.values(), kernel.exec_clients.values()],
                    timeouts.disconnection,
                )
                # The run is durable before the stop is called clean (and before the
                # summary reads the books back from the database).
                clean &= await database_written(kernel.database, timeouts.post_stop)
        except TimeoutError:
            _log.error("stop sequence exceeded timeouts.shutdown (%gs)", timeouts.shutdown)
            clean = False
        finally:
            kernel.stop_engines()
            # Pauses are timed while trading; the freezer's final full collection (after
            # the trading, it may take a while) is not one of them.
            self.gc_pauses.remove()
            self._freezer.stop()
            self.shutdown_seconds = time.monotonic() - started_at
            self.shutdown_clean = clean
            _log.info(
                "node %s STOPPED (%s, %.3fs)",
                kernel.trader_id,
                "clean" if clean else "not clean",
                self.shutdown_seconds,
            )

    async def _stop_strategies(self) -> bool:
        """Stop the strategies; each cancels and flattens per its `manage_stop`.

        The trader bounds the wait by the strategies' `manage_stop_timeout`; the
        caller's `timeouts.shutdown` bounds it again.
        """
        trader = self.kernel.trader
        if trader is None or not (trader.is_running or trader.is_degraded):
            return True
        try:
            # False when a managed stop left orders or positions behind: not clean.
            return await trader.stop_async()
        except Exception:
            _log.exception("stopping the strategies failed")
            return False

    # -- signals -----------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            _log.warning("signal handlers not installed: the node is not on the main thread")
            return
        for sig in _SIGNALS:
            self._loop.add_signal_handler(sig, self._on_signal, sig)
            self._signals_installed.append(sig)
        # `livenode run` blocks the signals until this point (so one that arrives
        # while the node is being created is held, not lost to the default action);
        # a held signal is delivered to the handlers above right here.
        self._signal_mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)

    def _remove_signal_handlers(self) -> None:
        if not self._signals_installed:
            return
        # Held (not delivered to the default action) while the handlers go away;
        # then the mask the process had before `run_async` applies again.
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        for sig in self._signals_installed:
            # The loop may be closing: nothing left to restore.
            with contextlib.suppress(RuntimeError, ValueError):
                self._loop.remove_signal_handler(sig)
        self._signals_installed.clear()
        if self._signal_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._signal_mask)
            self._signal_mask = None

    def _on_signal(self, signum: int) -> None:
        # Runs as a loop callback (not inside the C signal handler), so it may log.
        name = signal.Signals(signum).name
        if self._stop_requested.is_set():
            code = FORCED_EXIT_BASE + signum
            _log.critical("%s during the stop: forced exit (code %d)", name, code)
            if self.shared_tables is not None and self._owns_shared:
                # Nothing else runs after a forced exit: leave no segment behind.
                self.shared_tables.unlink()
            self._force_exit(code)
            return
        self._request_stop(f"received {name}")


def _exit_now(code: int) -> None:
    """Leave the process at once: no finalizers, no waiting (a second Ctrl-C)."""
    try:
        os.write(2, f"livenode: forced exit ({code})\n".encode())
    finally:
        os._exit(code)
