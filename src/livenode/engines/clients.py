"""The adapter seam: the one definition of data and execution clients.

Adapters subclass `LiveDataClient` / `LiveExecutionClient`, and name a
`ClientFactory` in the config. It sits in the engines layer (below `trading`,
`node`, `supervisor` and `adapters`), so the engines type against the classes
themselves. A client reaches the engines only through the message bus: data goes
to the `DataEngine.process` endpoint, order events, account states and reports to
`ExecEngine.process`. So a client never holds a reference to an engine and can
live in whichever process the topology puts its engine in.

Execution commands (submit/modify/cancel/cancel-all) enter through the public
methods of `LiveExecutionClient`, which take the tick-to-trade stamp, emit
`OrderSubmitted`, and call the adapter's hook (`_submit_order`, ...). A hook may be
synchronous (returns None: no task, the simulator's fast path) or a coroutine (run
as a task, bounded by ``command_timeout``); a failure or timeout becomes the
matching rejection event with the reason. See "Writing an adapter" in
docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from livenode.engines.exec_events import ExecEventBuilder, OrderRef
from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from livenode.model.enums import OrderStatus

if TYPE_CHECKING:
    from livenode.bus.message_bus import MessageBus
    from livenode.cache.cache import Cache
    from livenode.cache.database import AdapterState, CacheDatabase
    from livenode.core.clock import Clock
    from livenode.model.data import BarType
    from livenode.model.enums import AccountType, LiquiditySide, OrderSide, OrderType
    from livenode.model.identifiers import (
        AccountId,
        ClientOrderId,
        InstrumentId,
        PositionId,
        TradeId,
        Venue,
        VenueOrderId,
    )
    from livenode.model.instruments import Instrument
    from livenode.model.objects import AccountBalance, Currency, Money, Price, Quantity
    from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport

__all__ = [
    "CLIENT_ERROR",
    "COMMAND_TIMEOUT",
    "DATA_ENGINE_PROCESS",
    "EXEC_ENGINE_PROCESS",
    "ClientContext",
    "ClientFactory",
    "ExecCommand",
    "LiveClient",
    "LiveDataClient",
    "LiveExecutionClient",
    "ServiceSpec",
    "VenueSession",
]

DATA_ENGINE_PROCESS = "DataEngine.process"
EXEC_ENGINE_PROCESS = "ExecEngine.process"

#: Reason prefix of a rejection the client made because its adapter failed.
CLIENT_ERROR = "CLIENT_ERROR"
#: Reason prefix of a rejection the client made because the venue did not answer in time.
COMMAND_TIMEOUT = "COMMAND_TIMEOUT"

ExecCommand = SubmitOrder | ModifyOrder | CancelOrder | CancelAllOrders


@dataclass(frozen=True)
class VenueSession:
    """From an execution client to its engine (same process): its session with the
    venue went down (``up`` False: trading to the venue halts) or came back (the
    engine reconciles the client, then resumes)."""

    client: str
    venue: Venue
    up: bool
    reason: str = ""

_T = TypeVar("_T")


# -- factories and their context --------------------------------------------------------


@dataclass(frozen=True)
class ServiceSpec:
    """One helper process an adapter needs next to the workers (e.g. a venue process).

    Attributes:
        name: unique per node (e.g. ``"sim-SIM"``); two specs of one name are one service.
        argv: the full command line (``argv[0]`` is usually ``sys.executable``).
        ready_line: the line the process prints on stdout once it serves.
        venue: the venue it serves; trading to it is halted while the service is down.
        on_exit: "stop" (its death stops the node) or "restart" (the supervisor starts
            it again with the workers' restart back-off and crash-loop bound, then the
            exec workers reconnect their clients of ``venue`` and reconcile).
    """

    name: str
    argv: list[str] = field(default_factory=list)
    ready_line: str = "ready"
    venue: str = ""  # the venue it serves: halted while it is down
    on_exit: str = "stop"  # "restart": restarted like a worker, then its clients reconnect


@dataclass(frozen=True)
class ClientContext:
    """What the node hands a client factory: its collaborators, never globals.

    Attributes:
        loop, msgbus, cache, clock: the node's (the process's) own.
        run_dir: the supervisor's run directory when this node is a worker of a
            multiprocess node (services bind their sockets there); None in a
            single-process node.

    Objects the clients of one adapter share in this node (e.g. the simulated venue
    both sim clients talk to) are found by their type with `shared`, never by a
    string key. What an adapter must keep across restarts goes to `adapter_state`.
    """

    loop: asyncio.AbstractEventLoop
    msgbus: MessageBus
    cache: Cache
    clock: Clock
    run_dir: str | None = None
    _shared: dict[type, Any] = field(default_factory=dict, repr=False, compare=False)
    # The node's stop, for a client whose source ended (see `request_stop`).
    _stop: list[Callable[..., None]] = field(default_factory=list, repr=False, compare=False)
    # The node's cache database, once opened (`use_database`); none without one.
    _database: list[CacheDatabase] = field(default_factory=list, repr=False, compare=False)

    def use_database(self, database: CacheDatabase | None) -> None:
        """The node: its cache database is open (before any client connects)."""
        self._database[:] = [] if database is None else [database]

    def adapter_state(self, namespace: str) -> AdapterState | None:
        """The adapter's durable key-value area `namespace` in the node's cache database
        (written at once: durable when ``put`` returns), or None when the node has no
        cache database (the adapter keeps its state its own way, e.g. a file).

        Known from `LiveClient.connect` on (the node opens its database after building
        the clients, before connecting them); ask there, not in the constructor.
        """
        if not self._database:
            return None
        return self._database[0].adapter_state(namespace)

    def on_stop_request(self, stop: Callable[..., None]) -> None:
        """The node: call ``stop(reason, failure=...)`` when a client asks for the stop."""
        self._stop[:] = [stop]

    def request_stop(self, reason: str, *, failure: str | None = None) -> bool:
        """A client whose source ended (a finished replay with ``stop_at_end``) asks the
        node to stop; with `failure` the run ends as failed (exit 1). False when no
        node listens (a client used on its own)."""
        for stop in self._stop:
            stop(reason, failure=failure)
        return bool(self._stop)

    @property
    def is_worker(self) -> bool:
        """True in a supervisor's worker (``run_dir`` is set)."""
        return self.run_dir is not None

    def shared(self, kind: type[_T]) -> _T:
        """This node's one instance of `kind`, built with ``kind()`` on first use."""
        obj = self._shared.get(kind)
        if obj is None:
            obj = self._shared[kind] = kind()
        return obj

    def provide(self, *objs: object) -> None:
        """Make each object this node's instance of its type (e.g. a venue two nodes share
        in a test); an instance already there is replaced."""
        for obj in objs:
            self._shared[type(obj)] = obj


class ClientFactory:
    """A factory named in the config as ``"package.module:ClassName"``.

    Subclasses set `config_type` (a frozen msgspec Struct the client's ``config``
    table is validated against) and implement `create`; a factory whose adapter
    needs a helper process in multiprocess mode overrides `services`.
    """

    config_type: ClassVar[type]

    @staticmethod
    def create(name: str, config: Any, context: ClientContext) -> LiveClient:
        """Build the client named `name` (not yet connected)."""
        raise NotImplementedError("a client factory must implement create")

    @staticmethod
    def services(name: str, config: Any, run_dir: str) -> list[ServiceSpec]:
        """The helper processes the supervisor starts before the workers (none by default).

        Called in the supervisor's process, once per configured client; specs of one
        name are started once.
        """
        return []

    @staticmethod
    def configured_instruments(config: Any) -> tuple[str, list[str]] | None:
        """The venue and the instrument ids its client will list, when its config names
        them up front (`config validate` checks the strategies' ids against them);
        None (the default): known only once connected."""
        return None


# -- clients ------------------------------------------------------------------------------


class LiveClient:
    """Common part of data and execution clients: identity, context, connection state."""

    def __init__(self, name: str, venue: Venue, context: ClientContext) -> None:
        self.name = name
        self.venue = venue
        self._context = context
        self._msgbus = context.msgbus
        self._cache = context.cache
        self._clock = context.clock
        self._loop = context.loop
        self.is_connected = False
        self._log = logging.getLogger(f"livenode.adapters.{name}")

    async def connect(self) -> None:
        """Connect to the venue; return when usable (the node times this out)."""
        await self._connect()
        self.is_connected = True

    async def disconnect(self) -> None:
        """Disconnect from the venue; idempotent."""
        if self.is_connected:
            await self._disconnect()
        self.is_connected = False

    async def reconnect(self) -> None:
        """Drop the connection and make a new one (the venue restarted).

        Adapters whose venue session survives a reconnect may override it; the
        default is a plain disconnect and connect.
        """
        await self.disconnect()
        await self.connect()

    def on_trading_started(self) -> None:
        """Called once the strategies have started (and subscribed): a replay starts
        its feed here. Nothing by default."""

    async def _connect(self) -> None:
        raise NotImplementedError("a client must implement _connect")

    async def _disconnect(self) -> None:
        raise NotImplementedError("a client must implement _disconnect")


class LiveDataClient(LiveClient):
    """A market data client: delivers instruments, quotes, trades and bars.

    Subclasses implement the `subscribe_*` / `unsubscribe_*` methods and call
    `_handle_data` for every object they receive from the venue.
    """

    def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        """Start delivering quotes of the instrument to `DataEngine.process`."""
        raise NotImplementedError(f"{self.name} does not offer quote ticks")

    def unsubscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        """Stop delivering quotes of the instrument."""
        raise NotImplementedError(f"{self.name} does not offer quote ticks")

    def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        """Start delivering trades of the instrument."""
        raise NotImplementedError(f"{self.name} does not offer trade ticks")

    def unsubscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        """Stop delivering trades of the instrument."""
        raise NotImplementedError(f"{self.name} does not offer trade ticks")

    def subscribe_bars(self, bar_type: BarType) -> bool:
        """Subscribe to venue-built bars; return False to let the engine aggregate them."""
        return False

    def unsubscribe_bars(self, bar_type: BarType) -> None:
        """Stop delivering venue-built bars."""
        return None

    def _handle_data(self, data: Any) -> None:
        self._msgbus.send(DATA_ENGINE_PROCESS, data)


class LiveExecutionClient(LiveClient):
    """An execution client: sends commands to its venue, delivers what the venue says.

    The engine calls `submit_order` / `modify_order` / `cancel_order` /
    `cancel_all_orders`. `submit_order` records the tick-to-trade latency
    (``now - command.ts_trigger``, kept in ``latencies_ns``; an adapter with
    ``stamps_on_send`` records it when its hook has written the order) and emits
    `OrderSubmitted` right after the adapter's hook has handed the order over (events
    the hook emits meanwhile follow it), the same for every adapter. Each command
    goes to the adapter's hook (`_submit_order`, `_modify_order`, `_cancel_order`,
    `_cancel_all_orders`):

    - a synchronous hook returns None: nothing more happens here (no task);
    - a hook that is a coroutine (``async def``) runs as a task, bounded by
      ``command_timeout`` seconds;
    - a hook that raises (at once or in its task) or times out makes the client
      emit the rejection of that command with the reason (``CLIENT_ERROR: ...`` or
      ``COMMAND_TIMEOUT: ...``): `OrderRejected` for a submit, `OrderModifyRejected`
      for a modify, `OrderCancelRejected` for a cancel, and for a cancel-all one
      `OrderCancelRejected` per open order it covered. A submit whose order the
      venue already answered (no longer SUBMITTED in the cache) is not rejected:
      the failure is logged and reconciliation settles it.

    Everything the venue says goes to `ExecEngine.process` through the
    ``generate_*`` builders (or `_handle_event` for a message built otherwise).
    """

    #: Seconds an asynchronous command may take before it counts as failed.
    command_timeout: float = 10.0
    #: True for an adapter whose hook writes the order later than `submit_order` runs
    #: (an asynchronous hook): it records tick-to-trade itself with `_stamp_sent` when
    #: the order is written to the venue, so the sample includes its encoding and send.
    stamps_on_send: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        venue: Venue,
        account_id: AccountId,
        context: ClientContext,
        *,
        max_latency_samples: int = 100_000,
        command_timeout: float | None = None,
    ) -> None:
        super().__init__(name, venue, context)
        self._events = ExecEventBuilder(account_id)
        self.latencies_ns: deque[int] = deque(maxlen=max(1, max_latency_samples))
        self.latency_count = 0  # samples ever appended to latencies_ns (it keeps the last)
        # Events emitted while `submit_order` hands an order over (None: not in one).
        self._held: list[Any] | None = None
        if command_timeout is not None:
            self.command_timeout = command_timeout
        self._command_tasks: set[asyncio.Task[None]] = set()
        self.command_failures = 0

    @property
    def account_id(self) -> AccountId:
        """The venue account (an adapter may set it once the venue tells it)."""
        return self._events.account_id

    @account_id.setter
    def account_id(self, value: AccountId) -> None:
        self._events.account_id = value

    @property
    def events(self) -> ExecEventBuilder:
        """The builder of this account's messages (for an adapter's own translation)."""
        return self._events

    # -- commands (called by the execution engine) --------------------------------------

    def submit_order(self, command: SubmitOrder) -> None:
        """Stamp tick-to-trade, hand the order to the adapter, then emit `OrderSubmitted`.

        The order goes out first: recording `OrderSubmitted` (the engine's bookkeeping
        and its publish to the other workers) must not delay it on its way to the
        venue. Events the adapter emits while it hands the order over are held until
        `OrderSubmitted` is out, so an order's events stay in order.
        """
        now = self._clock.timestamp_ns()
        if not self.stamps_on_send:
            self.latencies_ns.append(now - command.ts_trigger)
            self.latency_count += 1
        submitted = self._events.order_submitted(command.order, now)
        held: list[Any] = []
        self._held = held
        try:
            pending = self._submit_order(command)
        except Exception as exc:
            self._release_held(submitted, held)
            self._failed(command, f"{CLIENT_ERROR}: {self.name}: {exc!r}", exc)
            return
        self._release_held(submitted, held)
        if pending is not None:
            self._run(pending, command)

    def _release_held(self, first: Any, held: list[Any]) -> None:
        self._held = None
        self._handle_event(first)
        if held:
            self._handle_events(held)

    def modify_order(self, command: ModifyOrder) -> None:
        """Hand a modify to the adapter."""
        try:
            pending = self._modify_order(command)
        except Exception as exc:
            self._failed(command, f"{CLIENT_ERROR}: {self.name}: {exc!r}", exc)
            return
        if pending is not None:
            self._run(pending, command)

    def cancel_order(self, command: CancelOrder) -> None:
        """Hand a cancel to the adapter."""
        try:
            pending = self._cancel_order(command)
        except Exception as exc:
            self._failed(command, f"{CLIENT_ERROR}: {self.name}: {exc!r}", exc)
            return
        if pending is not None:
            self._run(pending, command)

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        """Hand a cancel of every open order of an instrument (and side) to the adapter."""
        try:
            pending = self._cancel_all_orders(command)
        except Exception as exc:
            self._failed(command, f"{CLIENT_ERROR}: {self.name}: {exc!r}", exc)
            return
        if pending is not None:
            self._run(pending, command)

    def _stamp_sent(self, command: SubmitOrder) -> None:
        """Record tick-to-trade now: the adapter (``stamps_on_send``) wrote the order."""
        self.latencies_ns.append(self._clock.timestamp_ns() - command.ts_trigger)
        self.latency_count += 1

    # -- adapter hooks ------------------------------------------------------------------

    def _submit_order(self, command: SubmitOrder) -> Awaitable[None] | None:
        raise NotImplementedError(f"{self.name} must implement _submit_order")

    def _modify_order(self, command: ModifyOrder) -> Awaitable[None] | None:
        raise NotImplementedError(f"{self.name} must implement _modify_order")

    def _cancel_order(self, command: CancelOrder) -> Awaitable[None] | None:
        raise NotImplementedError(f"{self.name} must implement _cancel_order")

    def _cancel_all_orders(self, command: CancelAllOrders) -> Awaitable[None] | None:
        raise NotImplementedError(f"{self.name} must implement _cancel_all_orders")

    # -- command tasks ------------------------------------------------------------------

    @property
    def commands_in_flight(self) -> int:
        """Asynchronous commands still running."""
        return len(self._command_tasks)

    def _run(self, pending: Awaitable[None], command: ExecCommand) -> None:
        task = self._loop.create_task(self._await(pending, command))
        self._command_tasks.add(task)
        task.add_done_callback(self._command_tasks.discard)
        if isinstance(pending, Coroutine):
            # A task cancelled before its first step never starts the hook's coroutine.
            task.add_done_callback(lambda _: pending.close())

    async def _await(self, pending: Awaitable[None], command: ExecCommand) -> None:
        try:
            await asyncio.wait_for(pending, self.command_timeout)
        except TimeoutError as exc:
            self._timed_out(command, exc)
        except Exception as exc:
            self._failed(command, f"{CLIENT_ERROR}: {self.name}: {exc!r}", exc)

    def _timed_out(self, command: ExecCommand, exc: BaseException) -> None:
        """`command` got no answer within `command_timeout`: by default it failed
        (rejected with ``COMMAND_TIMEOUT``). An adapter that can ask its venue what
        became of it overrides this: an unanswered cancel may well have been done."""
        self._failed(
            command,
            f"{COMMAND_TIMEOUT}: {self.name}: no answer within {self.command_timeout:g}s",
            exc,
        )

    def _failed(self, command: ExecCommand, reason: str, exc: BaseException) -> None:
        """Tell the engine that `command` failed on the way to the venue."""
        self.command_failures += 1
        self._log.error("%s: %s %s failed: %s", self.name, type(command).__name__,
                        _describe(command), reason, exc_info=exc)
        now = self._clock.timestamp_ns()
        if isinstance(command, SubmitOrder):
            init = command.order
            order = self._cache.order(init.client_order_id)
            if order is not None and order.status not in (
                OrderStatus.INITIALIZED, OrderStatus.SUBMITTED
            ):
                self._log.warning("%s: %s was answered by the venue (%s); not rejected",
                                  self.name, init.client_order_id, order.status.value)
                return
            self._handle_event(self._events.order_rejected(init, reason, now))
        elif isinstance(command, ModifyOrder):
            self._handle_event(self._events.order_modify_rejected(command, reason, now))
        elif isinstance(command, CancelOrder):
            self._handle_event(self._events.order_cancel_rejected(command, reason, now))
        else:
            for order in self._cache.orders_open(
                instrument_id=command.instrument_id,
                strategy_id=command.strategy_id,
                side=command.order_side,
            ):
                self._handle_event(
                    self._events.order_cancel_rejected(order.init_event, reason, now))

    async def _cancel_command_tasks(self) -> None:
        """Cancel the asynchronous commands still running (no event: reconciliation
        after the next connect settles them)."""
        tasks = list(self._command_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def disconnect(self) -> None:
        """Cancel the commands in flight, then disconnect from the venue; idempotent."""
        await self._cancel_command_tasks()
        await super().disconnect()

    # -- reconciliation (override what the venue can answer) ----------------------------

    async def generate_order_status_reports(self) -> list[OrderStatusReport]:
        """Open orders as the venue knows them, for reconciliation at start (a venue may
        add the closed orders it still reports: reconciliation books an unknown closed
        one only when the node started without a database and has no fill of it)."""
        return []

    async def generate_order_status_reports_for(
        self, client_order_ids: list[ClientOrderId]
    ) -> list[OrderStatusReport]:
        """The venue's state of these orders, open or closed. A venue that cannot be
        asked per order answers nothing: reconciliation then closes the orders it
        does not report open (rejected if never accepted, else canceled)."""
        return []

    async def generate_fill_reports(self) -> list[FillReport]:
        """Fills the venue knows (reconciliation)."""
        return []

    async def generate_position_status_reports(self) -> list[PositionStatusReport]:
        """Positions the venue knows (reconciliation)."""
        return []

    async def generate_balance_reports(self) -> list[AccountBalance] | None:
        """The account's balances as the venue reports them now (the audit); None
        for a venue that cannot be asked."""
        return None

    def venue_instruments(self) -> list[Instrument]:
        """The instruments the venue lists, where this client knows them once connected
        (a node started without a cache database rebuilds positions from the venue's
        fills before any data client published an instrument). The base class: none."""
        return []

    def audit_scope(self) -> frozenset[str]:
        """What the venue can report for the audit of the books
        (`livenode.engines.audit`): a subset of "orders", "positions", "balances",
        "fills". An adapter names what its ``generate_*`` methods really answer; what
        is left out is reported as not checked. The base class answers nothing."""
        return frozenset()

    # -- tick-to-trade -----------------------------------------------------------------

    def latency_percentiles(self, *quantiles: float) -> dict[float, int]:
        """Nearest-rank percentiles (0-100) of ``latencies_ns``; empty if no samples."""
        data = sorted(self.latencies_ns)
        if not data:
            return {}
        qs = quantiles or (50.0, 90.0, 99.0)
        return {
            q: data[min(len(data) - 1, max(0, round(q / 100 * len(data)) - 1))] for q in qs
        }

    # -- events to the engine: build with this client's clock and send -----------------

    def session_lost(self, reason: str) -> None:
        """The adapter lost its session with the venue (a disconnect, a logout): the
        engine halts trading to the venue (new orders denied, fail-closed) until
        `session_restored` and a reconciliation that succeeded."""
        self._msgbus.send(EXEC_ENGINE_PROCESS,
                          VenueSession(self.name, self.venue, up=False, reason=reason))

    def session_restored(self) -> None:
        """The session is back (logged on, in sequence): the engine reconciles this
        client with the venue, and trading resumes only once that succeeded."""
        self._msgbus.send(EXEC_ENGINE_PROCESS, VenueSession(self.name, self.venue, up=True))

    def _handle_event(self, event: Any) -> None:
        held = self._held
        if held is not None:  # within `submit_order`'s hand-over: after OrderSubmitted
            held.append(event)
            return
        self._msgbus.send(EXEC_ENGINE_PROCESS, event)

    def _handle_events(self, events: Iterable[Any]) -> None:
        held = self._held
        if held is not None:
            held.extend(events)
            return
        send = self._msgbus.send
        for event in events:
            send(EXEC_ENGINE_PROCESS, event)

    def _ts(self, ts_event: int | None) -> tuple[int, int]:
        now = self._clock.timestamp_ns()
        return (now if ts_event is None else ts_event), now

    def generate_order_submitted(self, about: OrderRef, ts_event: int | None = None) -> None:
        """Send `OrderSubmitted` (the base class does it for every `submit_order`)."""
        self._handle_event(self._events.order_submitted(about, *self._ts(ts_event)))

    def generate_order_accepted(
        self, about: OrderRef, venue_order_id: VenueOrderId, ts_event: int | None = None
    ) -> None:
        """Send `OrderAccepted`; `ts_event` is the venue's time (default: now)."""
        self._handle_event(
            self._events.order_accepted(about, venue_order_id, *self._ts(ts_event)))

    def generate_order_rejected(
        self, about: OrderRef, reason: str, ts_event: int | None = None
    ) -> None:
        """Send `OrderRejected` with the venue's reason."""
        self._handle_event(self._events.order_rejected(about, reason, *self._ts(ts_event)))

    def generate_order_modify_rejected(
        self, about: OrderRef, reason: str, ts_event: int | None = None
    ) -> None:
        """Send `OrderModifyRejected` with the venue's reason."""
        self._handle_event(
            self._events.order_modify_rejected(about, reason, *self._ts(ts_event)))

    def generate_order_cancel_rejected(
        self, about: OrderRef, reason: str, ts_event: int | None = None
    ) -> None:
        """Send `OrderCancelRejected` with the venue's reason."""
        self._handle_event(
            self._events.order_cancel_rejected(about, reason, *self._ts(ts_event)))

    def generate_order_updated(
        self, about: OrderRef, quantity: Quantity, price: Price | None,
        trigger_price: Price | None, ts_event: int | None = None,
    ) -> None:
        """Send `OrderUpdated` (the order as the venue now has it)."""
        self._handle_event(self._events.order_updated(
            about, quantity, price, trigger_price, *self._ts(ts_event)))

    def generate_order_canceled(self, about: OrderRef, ts_event: int | None = None) -> None:
        """Send `OrderCanceled`."""
        self._handle_event(self._events.order_canceled(about, *self._ts(ts_event)))

    def generate_order_expired(self, about: OrderRef, ts_event: int | None = None) -> None:
        """Send `OrderExpired`."""
        self._handle_event(self._events.order_expired(about, *self._ts(ts_event)))

    def generate_order_triggered(self, about: OrderRef, ts_event: int | None = None) -> None:
        """Send `OrderTriggered`."""
        self._handle_event(self._events.order_triggered(about, *self._ts(ts_event)))

    def generate_order_filled(
        self,
        about: OrderRef,
        *,
        venue_order_id: VenueOrderId,
        trade_id: TradeId,
        order_side: OrderSide,
        order_type: OrderType,
        last_qty: Quantity,
        last_px: Price,
        commission: Money,
        liquidity_side: LiquiditySide,
        ts_event: int | None = None,
        currency: Currency | None = None,
        position_id: PositionId | None = None,
    ) -> None:
        """Send `OrderFilled` (see `ExecEventBuilder.order_filled`)."""
        ts_event, ts_init = self._ts(ts_event)
        self._handle_event(self._events.order_filled(
            about, venue_order_id=venue_order_id, trade_id=trade_id, order_side=order_side,
            order_type=order_type, last_qty=last_qty, last_px=last_px, commission=commission,
            liquidity_side=liquidity_side, ts_event=ts_event, ts_init=ts_init,
            currency=currency, position_id=position_id,
        ))

    def generate_account_state(
        self,
        account_type: AccountType,
        balances: list[AccountBalance],
        ts_event: int | None = None,
        *,
        reported: bool = True,
        base_currency: Currency | None = None,
    ) -> None:
        """Send the account's `AccountState`."""
        ts_event, ts_init = self._ts(ts_event)
        self._handle_event(self._events.account_state(
            account_type, balances, ts_event, ts_init,
            reported=reported, base_currency=base_currency))


def _describe(command: ExecCommand) -> str:
    if isinstance(command, SubmitOrder):
        return str(command.order.client_order_id)
    if isinstance(command, CancelAllOrders):
        return str(command.instrument_id)
    return str(command.client_order_id)
