"""The kernel: the composition root of one process.

The kernel is the single place where a process's components are constructed and
wired together. It builds the clock, the message bus and the cache, then only
the components of the roles it was given (``data``, ``risk``, ``exec``,
``trader``), handing each its collaborators. No component constructs its own
collaborators, and no component may assume that another role's component lives
in the same process: they meet only on the bus. That is what lets issue 3 build
one kernel per worker process with one role each.

The kernel does no waiting and owns no event loop; `TradingNode` drives it
(start gates, stop order, signals).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Iterable
from typing import Any

from livenode.bus.message_bus import MessageBus
from livenode.cache.cache import Cache
from livenode.cache.database import CacheDatabase
from livenode.cache.shm import ShmTables
from livenode.cache.shm.writer import ShmWriter
from livenode.config import TradingNodeConfig, resolve_strategy, strategy_id_of, strategy_ids
from livenode.core.clock import Clock, LiveClock
from livenode.core.uuid import new_id
from livenode.engines.clients import (
    ClientContext,
    LiveClient,
    LiveDataClient,
    LiveExecutionClient,
)
from livenode.engines.data_engine import DataEngine
from livenode.engines.data_mirror import DataMirror
from livenode.engines.execution_engine import ExecutionEngine
from livenode.engines.execution_mirror import ExecutionMirror
from livenode.engines.portfolio import Portfolio
from livenode.engines.recovery import restore_execution_state
from livenode.engines.risk_engine import RiskEngine
from livenode.model.identifiers import TraderId, Venue
from livenode.node.database import build_cache_database
from livenode.node.database_recovery import DatabaseRecovery
from livenode.node.strategy_state import DatabaseStrategyStore
from livenode.trading.strategy import Strategy
from livenode.trading.trader import Trader

__all__ = ["ALL_ROLES", "ROLES", "Kernel"]

ROLES = ("data", "risk", "exec", "trader")
ALL_ROLES: frozenset[str] = frozenset(ROLES)

_log = logging.getLogger("livenode.node.kernel")


class Kernel:
    """Builds and holds the components of one process.

    Args:
        config: the whole node's configuration (a worker gets the same document
            and builds only its roles from it).
        loop: the event loop the clock's timers and the clients run on.
        clock: the clock to use; a `LiveClock` on `loop` when None (tests pass a
            `TestClock`).
        roles: which components to build: ``data`` builds the `DataEngine` (and
            accepts data clients), ``risk`` the `RiskEngine`, ``exec`` the
            `ExecutionEngine` (and accepts exec clients), ``trader`` the
            `Portfolio`, the `Trader` and the configured strategies.
        run_dir: the supervisor's run directory in a worker (`ClientContext.run_dir`).
        on_stop_node: called by the trader when a strategy configured with
            ``on_fault = "stop_node"`` fails; the node turns it into a stop.

    Attributes that belong to a role not built are None.
    """

    def __init__(
        self,
        config: TradingNodeConfig,
        loop: asyncio.AbstractEventLoop,
        clock: Clock | None = None,
        roles: Iterable[str] = ALL_ROLES,
        on_stop_node: Callable[..., Any] | None = None,
        members: Iterable[str] | None = None,
        run_dir: str | None = None,
    ) -> None:
        roles = frozenset(roles)
        unknown = roles - ALL_ROLES
        if unknown:
            raise ValueError(f"unknown kernel roles {sorted(unknown)}; expected some of {ROLES}")
        if not roles:
            raise ValueError(f"a kernel needs at least one role of {ROLES}")
        self.config = config
        self.loop = loop
        self.roles = roles
        # The clients (by name) and strategies (by id) this process hosts; None: all.
        self.members: frozenset[str] | None = None if members is None else frozenset(members)
        self.trader_id = TraderId(config.trader_id)
        # Generated when the config leaves it out, so two runs of one config differ.
        self.instance_id = config.instance_id or new_id()
        self.clock: Clock = clock if clock is not None else LiveClock(loop)
        self.msgbus = MessageBus(self.trader_id, self.clock)
        self.cache = Cache(config.cache)
        # What client factories get; the objects the clients of one adapter share
        # (the sim venue) live in it, owned by this kernel, never a module global.
        self.context = ClientContext(
            loop=loop,
            msgbus=self.msgbus,
            cache=self.cache,
            clock=self.clock,
            run_dir=run_dir,
        )
        self.data_clients: dict[str, LiveDataClient] = {}
        self.exec_clients: dict[str, LiveExecutionClient] = {}
        self._on_stop_node = on_stop_node
        self._disposed = False

        self.data_engine: DataEngine | None = None
        self.risk_engine: RiskEngine | None = None
        self.exec_engine: ExecutionEngine | None = None
        self.portfolio: Portfolio | None = None
        self.trader: Trader | None = None
        self.strategies: list[Strategy] = []

        # Order matters only for readability: each engine subscribes to its own
        # topics and endpoints, none holds a reference to another.
        if "data" in roles:
            self.data_engine = DataEngine(
                msgbus=self.msgbus, cache=self.cache, clock=self.clock, config=config.data_engine
            )
        if "risk" in roles:
            self.risk_engine = RiskEngine(
                msgbus=self.msgbus, cache=self.cache, clock=self.clock, config=config.risk_engine
            )
        if "exec" in roles:
            self.exec_engine = ExecutionEngine(
                msgbus=self.msgbus, cache=self.cache, clock=self.clock, config=config.exec_engine
            )
            self.exec_engine.use_strategies(frozenset(strategy_ids(config)))
        # A process without the data or execution engine follows what they
        # publish from their own process, so its cache answers the same queries.
        self.shm_writer: ShmWriter | None = None
        # The cache database of the execution role (`open_database`).
        self.database: CacheDatabase | None = None
        # A trader worker's own connection, for strategy state only (`open_database`).
        self.state_database: CacheDatabase | None = None
        self.strategy_store: DatabaseStrategyStore | None = None
        # A worker restarted within a running node: never flush its predecessor's state.
        self.restarted = False
        # What the process does when a database lost its state (rewrite, or halt).
        self._recovery = DatabaseRecovery(self)
        self.data_mirror: DataMirror | None = None
        self.exec_mirror: ExecutionMirror | None = None
        if "data" not in roles:
            self.data_mirror = DataMirror(self.msgbus, self.cache, self.clock)
        if "exec" not in roles:
            self.exec_mirror = ExecutionMirror(self.msgbus, self.cache, self.clock)
        if "trader" in roles:
            self.portfolio = Portfolio(
                msgbus=self.msgbus, cache=self.cache, clock=self.clock, config=config.portfolio
            )
            self.trader = Trader(
                trader_id=self.trader_id,
                msgbus=self.msgbus,
                cache=self.cache,
                portfolio=self.portfolio.facade,
                clock=self.clock,
                loop=loop,
                on_stop_node=self._stop_node_requested,
            )
            self._add_strategies()

    # -- construction ----------------------------------------------------------------------

    def use_shared_tables(self, tables: ShmTables) -> None:
        """Read the latest market state from `tables`, and write into them what this
        process owns (market data with the data role, positions and balances with
        the exec role): one writer per row across the node."""
        self.cache.attach_shared(tables)
        self.shm_writer = ShmWriter(
            self.msgbus, tables, market="data" in self.roles, execution="exec" in self.roles
        )

    def open_database(self) -> None:
        """Open the cache database (`[cache.database]`) of this process's execution
        engine, load the state of its venues into the cache and persist from now on;
        and give the strategies of this process their stored state (`load_state`)
        and a place to save it (`save_state`).

        Called once the execution clients exist (their venues scope what is
        loaded: another exec worker owns the other venues). Without an execution
        engine (a trader worker) only strategy state is read and written, over a
        connection of its own. A no-op without a configured database.

        Raises:
            DatabaseError: the database is unreachable or from a newer schema.
        """
        db_config = self.config.cache.database
        engine = self.exec_engine
        if db_config is None or self.database is not None or self.state_database is not None:
            return
        if engine is None:
            self._open_strategy_database()
            return
        # The run marker's name: this process's share of the state (its venues), the
        # same for a worker restarted in its place, which takes the marker over.
        writer = "exec:" + ",".join(sorted(self.exec_clients))
        database = build_cache_database(
            self.config, on_health=self._on_database_health, on_lost=self._on_database_lost,
            marker=(writer, self.instance_id))
        flush = db_config.flush_on_start and not self.restarted
        state = database.open(flush=flush)
        self.database = database
        self.context.use_database(database)
        self._use_strategy_state(database, state.strategies)
        venues = {str(client.venue) for client in self.exec_clients.values()}
        state.order_events = [
            e for e in state.order_events if e.instrument_id.venue.value in venues
        ]
        state.accounts = {
            key: pair for key, pair in state.accounts.items()
            if pair[1].account_id.venue.value in venues
        }
        counts = restore_execution_state(self.cache, state)
        _log.info("cache database %s: loaded %s", database.backend.describe(), counts)
        engine.use_database(database, db_config.on_failure)

    def _open_strategy_database(self) -> None:
        """A trader worker: a second connection to the node's database, for the
        strategies' state only (SQLite in WAL mode and Redis both allow it)."""
        db_config = self.config.cache.database
        if db_config is None or self.trader is None or not self.strategies:
            return
        if not (self.config.save_state or self.config.load_state):
            return
        writer = "strategies:" + ",".join(sorted(str(s.id) for s in self.strategies))
        database = build_cache_database(self.config, on_lost=self._on_database_lost,
                                        marker=(writer, self.instance_id))
        # Never flush from here: the exec worker owns the flush of the node's state.
        state = database.open(flush=False, strategies_only=True)
        self.state_database = database
        stored = state.strategies
        if db_config.flush_on_start and not self.restarted:
            # The exec worker flushes this trader's state at the node's start, maybe
            # after we read it: a fresh start loads nothing, whichever came first.
            stored = {}
        self._use_strategy_state(database, stored)

    def _use_strategy_state(
        self, database: CacheDatabase, stored: dict[str, dict[str, bytes]]
    ) -> None:
        """Hand the trader a store over `database` (when it hosts strategies)."""
        config = self.config
        if self.trader is None or not (config.save_state or config.load_state):
            return
        hosted = {str(strategy.id) for strategy in self.strategies}
        ours = {sid: state for sid, state in stored.items() if sid in hosted}
        self.strategy_store = DatabaseStrategyStore(
            database, ours, load=config.load_state, save=config.save_state
        )
        self.trader.use_state_store(
            self.strategy_store, config.save_state_interval if config.save_state else 0.0)
        if config.load_state:
            _log.info("cache database %s: stored state for %d of %d strateg(y/ies)",
                      database.backend.describe(), len(ours), len(self.strategies))

    def _on_database_health(self, healthy: bool, detail: str) -> None:
        """From the writer thread: hand the news to the execution engine on the loop."""
        engine = self.exec_engine
        if engine is None or self.loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self.loop.call_soon_threadsafe(
                engine.set_database_fault, None if healthy else detail or "write failed"
            )

    def _on_database_lost(self, database: CacheDatabase, kind: str, reason: str) -> None:
        """From the writer thread: the database lost this process's state; the answer
        (rewrite it, or give up) is decided on the loop (`DatabaseRecovery`)."""
        if self.loop.is_closed():
            database.give_up(f"{reason} (the process is ending)")
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self.loop.call_soon_threadsafe(self._recovery.lost, database, kind, reason)

    def _add_strategies(self) -> None:
        assert self.trader is not None
        for index, strategy_config in enumerate(self.config.strategies):
            strategy_cls, strategy_struct = resolve_strategy(
                strategy_config, f"strategies[{index}]"
            )
            if self.members is not None and (
                strategy_id_of(strategy_cls, strategy_struct) not in self.members
            ):
                continue  # placed on another trader worker
            strategy = strategy_cls(strategy_struct)
            self.trader.add_strategy(strategy)
            self.strategies.append(strategy)

    def _stop_node_requested(self, *args: Any) -> None:
        if self._on_stop_node is not None:
            self._on_stop_node(*args)

    def add_data_client(self, client: LiveDataClient) -> None:
        """Register a data client with the data engine of this process."""
        if self.data_engine is None:
            raise RuntimeError(f"kernel roles {sorted(self.roles)} have no data engine")
        if client.name in self.data_clients:
            raise ValueError(f"data client {client.name!r} added twice")
        self.data_clients[client.name] = client
        self.data_engine.register_client(client)

    def add_exec_client(self, client: LiveExecutionClient) -> None:
        """Register an execution client with the execution engine of this process."""
        if self.exec_engine is None:
            raise RuntimeError(f"kernel roles {sorted(self.roles)} have no execution engine")
        if client.name in self.exec_clients:
            raise ValueError(f"exec client {client.name!r} added twice")
        if self.context.is_worker and client.name != str(client.venue):
            # A worker receives the commands of `commands.exec.{member}` for the exec
            # clients it hosts, and the risk engine sends on `commands.exec.{venue}`:
            # a client named otherwise would never see a command (silently).
            raise ValueError(
                f"exec_clients.{client.name}: serves venue {client.venue}; in multiprocess "
                f"mode an exec client must be named after its venue ([exec_clients."
                f"{client.venue}]), one client per venue (commands are routed to exec "
                f"workers by venue, not by client id)")
        self.exec_clients[client.name] = client
        self.exec_engine.register_client(client)

    # -- queries ---------------------------------------------------------------------------

    @property
    def clients(self) -> list[LiveClient]:
        """Data clients first, then execution clients (the connection order)."""
        return [*self.data_clients.values(), *self.exec_clients.values()]

    @property
    def engines(self) -> list[Any]:
        """The engines built for this process, in start order."""
        return [
            e
            for e in (
                self.data_mirror,
                self.exec_mirror,
                self.data_engine,
                self.risk_engine,
                self.exec_engine,
                self.portfolio,
            )
            if e is not None
        ]

    @property
    def venues(self) -> list[Any]:
        """Venues the portfolio must have an account for before strategies start.

        Those of this process's execution clients; in a process without an
        execution engine (a trader worker), every configured execution client's
        venue, whose account states arrive over the bus.
        """
        if self.exec_engine is None:
            return [Venue(name) for name in self.config.exec_clients]
        return [client.venue for client in self.exec_clients.values()]

    # -- lifecycle steps (driven by TradingNode) ---------------------------------------------

    def start_engines(self) -> None:
        """Start the engines (they subscribe and register before any client connects)."""
        for engine in self.engines:
            if engine.is_ready:
                engine.start()

    def start_trader(self) -> None:
        """Start the strategies: the last step of the start sequence."""
        if self.trader is not None:
            self.trader.start()

    def stop_engines(self) -> None:
        """Stop the engines in reverse start order; a failing one does not block the rest."""
        for engine in reversed(self.engines):
            if engine.is_running or engine.is_degraded:
                try:
                    engine.stop()
                except Exception:
                    _log.exception("stopping %s failed", type(engine).__name__)

    @staticmethod
    def freeze_heap() -> None:
        """Move everything allocated at start-up out of the cyclic GC's reach.

        A full collection over a large heap stops the world for tens of ms; what
        exists after start-up lives until the end anyway (DESIGN, performance habits).
        """
        gc.collect()
        gc.freeze()

    def dispose(self) -> None:
        """Dispose every component; idempotent, safe after a failed start."""
        if self._disposed:
            return
        self._disposed = True
        components: list[Any] = [*self.strategies, *reversed(self.engines)]
        if self.trader is not None:
            components.insert(0, self.trader)
        for component in components:
            try:
                if component.is_running or component.is_degraded:
                    component.stop()
                if not component.is_disposed:
                    component.dispose()
            except Exception:
                _log.exception("disposing %r failed", component)
        if self.shm_writer is not None:
            self.shm_writer.close()
        self._recovery.cancel()
        if self.database is not None:
            self.context.use_database(None)
            self.database.close()
        if self.state_database is not None:
            self.state_database.close()
        self.cache.attach_shared(None)
        if gc.get_freeze_count():
            gc.unfreeze()

    @property
    def is_disposed(self) -> bool:
        """Whether `dispose` ran."""
        return self._disposed
