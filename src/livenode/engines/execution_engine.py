"""The execution engine: routes order commands to venues, applies what venues say.

Flow (ARCHITECTURE.md, "Flow" 5): approved commands arrive on
`commands.exec.{venue}`; a submitted order is cached (if the strategy did not
already) and every command goes to the execution client of its venue. Clients
(and the risk engine, for denials) deliver order events, account states and
reports to the `ExecEngine.process` endpoint. Each order event goes through the
cached order's state machine, then out on `events.order.{strategy_id}`; fills
build the netting position `{instrument_id}-{strategy_id}` and publish its
events on `events.position.{strategy_id}`; account states update the cache and go
out on `events.account.{account_id}`.

A venue may repeat a fill (reconnect, replay): a fill whose trade id the order
already has is ignored and counted. An event the order's state machine refuses is
logged and counted, never raised: one bad event must not stop the engine.

With a cache database (`use_database`), every order the engine sends, every event
it applies, every account state and every instrument is queued for the database
before anyone hears of it (see docs/persistence.md). While the database cannot be
written, new orders are denied (`DATABASE_UNAVAILABLE`), all of them when
`on_failure` is HALTED, those that would increase a position when REDUCING.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from livenode.bus import topics
from livenode.core.component import Component
from livenode.core.uuid import new_id
from livenode.engines.audit import VenueAudit
from livenode.engines.auditor import BooksAuditor
from livenode.engines.clients import (
    CLIENT_ERROR,
    EXEC_ENGINE_PROCESS,
    LiveExecutionClient,
    VenueSession,
)
from livenode.engines.positions import apply_fill_to_position
from livenode.engines.reconciliation import Reconciler
from livenode.engines.risk_checks import ORDER_CLOSED
from livenode.model.accounts import CashAccount, MarginAccount
from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from livenode.model.enums import AccountType, OrderStatus
from livenode.model.events import (
    ORDER_EVENT_TYPES,
    AccountState,
    OrderCancelRejected,
    OrderDenied,
    OrderFilled,
    OrderInitialized,
    OrderModifyRejected,
    PositionChanged,
    order_event,
)
from livenode.model.identifiers import ClientId, PositionId
from livenode.model.orders import InvalidStateTransition, Order
from livenode.model.position import netting_position_id
from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport

if TYPE_CHECKING:
    from livenode.bus.message_bus import MessageBus
    from livenode.cache.cache import Cache
    from livenode.cache.database import CacheDatabase
    from livenode.config import ExecEngineConfig
    from livenode.core.clock import Clock
    from livenode.model.identifiers import ClientOrderId, InstrumentId, StrategyId, Venue

__all__ = ["DATABASE_UNAVAILABLE", "NO_EXEC_CLIENT", "ExecutionEngine", "position_id_for"]

_log = logging.getLogger("livenode.engines.exec")

NO_EXEC_CLIENT = "NO_EXEC_CLIENT"
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
POSITION_MISMATCH = "POSITION_MISMATCH"
VENUE_DISCONNECTED = "VENUE_DISCONNECTED"
# A stalled order the venue does not know is closed after this many inflight_timeouts.
_STALL_GIVE_UP = 3

# Every order event a client (or the risk engine) reports; an order's
# OrderInitialized never comes from outside, it is the order.
_ORDER_EVENTS = tuple(t for t in ORDER_EVENT_TYPES if t is not OrderInitialized)


def position_id_for(instrument_id: InstrumentId, strategy_id: StrategyId) -> PositionId:
    """The netting position id of a strategy in an instrument: `{instrument_id}-{strategy_id}`."""
    return netting_position_id(instrument_id, strategy_id)


class ExecutionEngine(Component):
    """Routes order commands to execution clients and applies their events.

    Args:
        msgbus: subscribed to `commands.exec.*`; `ExecEngine.process` registered.
        cache: orders, positions, accounts and instruments.
        clock: stamps the events the engine makes itself.
        config: `ExecEngineConfig`.

    Counters: `command_count`, `event_count`, `fill_count`,
    `duplicate_fill_count`, `invalid_transition_count`, `unknown_order_events`,
    `client_errors`, `routing_errors` (see `counters()`).
    """

    #: Seconds to wait for the venue's answer about an order sent again (then submit).
    RESEND_LOOKUP_TIMEOUT = 10.0

    def __init__(
        self,
        msgbus: MessageBus,
        cache: Cache,
        clock: Clock,
        config: ExecEngineConfig,
        component_id: str = "ExecEngine",
    ) -> None:
        super().__init__(component_id, clock, publisher=msgbus)
        self._msgbus = msgbus
        self._cache = cache
        self._config = config
        # The default client of each venue, and every client by its id (its name).
        self._clients: dict[Venue, LiveExecutionClient] = {}
        self._by_id: dict[ClientId, LiveExecutionClient] = {}
        # Submitted to a client but no event back yet: in flight for the stop sequence.
        self._awaiting_first_event: set[ClientOrderId] = set()
        self._settled: asyncio.Event | None = None
        self.command_count = 0
        self.event_count = 0
        self.fill_count = 0
        self.duplicate_fill_count = 0
        self.invalid_transition_count = 0
        self.unknown_order_events = 0
        # Orders the node had rejected itself (timeout, failed send) that the venue's
        # word reopened (see `Order.rejected_locally`).
        self.orders_reopened = 0
        self.resends_ignored = 0
        self.resends_adopted = 0
        self.events_resent = 0
        # Lookups at the venue of orders sent again that this worker does not know.
        self._resend_lookups: set[asyncio.Task[None]] = set()
        # Stalled orders (in flight longer than `inflight_timeout`) being asked about.
        self._stall_queries: set[ClientOrderId] = set()
        # Venues whose positions are being asked about (see `_recheck_positions`).
        self._position_checks: set[Venue] = set()
        self.stalled = 0
        self.mismatch_denials = 0
        self.disconnect_denials = 0
        # Venues whose client lost its session, or came back and is not reconciled
        # yet: venue -> why trading to it is halted.
        self._sessions_down: dict[Venue, str] = {}
        self._session_checks: set[Venue] = set()
        self.stall_queries = 0
        self.stalls_resolved = 0
        self.client_errors = 0
        self.routing_errors = 0
        self.database_denials = 0
        # The cache database, when configured (see `use_database`).
        self._database: CacheDatabase | None = None
        self._database_on_failure = "HALTED"
        # Why the database cannot be written now (None: it can).
        self.database_fault: str | None = None
        # Set when it lost the node's state and is not rewritten: halted for good.
        self._database_halted: str | None = None
        self._reconciler = Reconciler(self, cache, clock)
        self._auditor = BooksAuditor(cache)
        self._reconciler.on_fill_reports = self._auditor.note_baseline
        # Set whenever an event changed the books (an audit that differs waits on it).
        self._books_changed = asyncio.Event()
        self._handlers: dict[type, Any] = {t: self._handle_order_event for t in _ORDER_EVENTS}
        self._handlers[AccountState] = self._handle_account_state
        self._handlers[OrderStatusReport] = self._reconciler.handle_report
        self._handlers[FillReport] = self._reconciler.handle_report
        self._handlers[PositionStatusReport] = self._reconciler.handle_report
        self._handlers[VenueSession] = self._on_venue_session
        self._commands: dict[type, Callable[[Any], None]] = {
            SubmitOrder: self._submit,
            ModifyOrder: self._modify,
            CancelOrder: self._cancel,
            CancelAllOrders: self._cancel_all,
        }
        msgbus.register(EXEC_ENGINE_PROCESS, self.process)
        msgbus.subscribe(topics.ALL_EXEC_COMMANDS, self.execute)

    # -- persistence ------------------------------------------------------------------------

    def use_database(self, database: CacheDatabase, on_failure: str = "HALTED") -> None:
        """Queue every change of the execution state for `database` from now on.

        `on_failure` ("HALTED" or "REDUCING") is what new orders may do while the
        database cannot be written (`set_database_fault`).
        """
        self._database = database
        self._database_on_failure = on_failure
        self._msgbus.subscribe(topics.ALL_INSTRUMENTS, database.put_instrument)
        for instrument in self._cache.instruments():
            database.put_instrument(instrument)

    def set_database_fault(self, reason: str | None, *, halt: bool = False) -> None:
        """The database became unavailable (`reason`) or caught up again (None).

        With `halt` the database lost the node's state for good (it is not rewritten):
        new orders are denied whatever `on_failure` says, and nothing clears it.
        """
        if self._database_halted is not None:
            return  # for good: a later "caught up" of that database means nothing
        if halt:
            self._database_halted = reason
            _log.error("ExecutionEngine: trading HALTED: %s", reason)
        elif reason is not None and self.database_fault is None:
            _log.error("ExecutionEngine: trading %s: cache database unavailable: %s",
                       self._database_on_failure, reason)
        elif reason is None and self.database_fault is not None:
            _log.warning("ExecutionEngine: cache database caught up; trading resumes")
        self.database_fault = reason

    @property
    def database_trading(self) -> str:
        """What new orders may do because of the database: ACTIVE, or ``on_failure``
        (REDUCING, HALTED) while it cannot be written, or HALTED after it lost the
        node's state for good."""
        if self._database_halted is not None:
            return "HALTED"
        return "ACTIVE" if self.database_fault is None else self._database_on_failure

    def persist_new_order(self, order: Order) -> None:
        """Queue the OrderInitialized of an order the engine takes charge of."""
        if self._database is not None:
            self._database.put_order_event(order.init_event)

    def _database_denial(self, init: Any) -> str | None:
        """The reason to deny a new order while the database is down, else None."""
        fault = self.database_fault
        if fault is None:
            return None
        if self._database_halted is not None:
            return f"{DATABASE_UNAVAILABLE}: trading HALTED: {fault}"
        if self._database_on_failure == "REDUCING" and self._reduces_position(init):
            return None
        return (f"{DATABASE_UNAVAILABLE}: trading {self._database_on_failure} until the "
                f"cache database is written again ({fault})")

    def _reduces_position(self, init: Any) -> bool:
        net = 0.0
        for position in self._cache.positions_open(instrument_id=init.instrument_id):
            net += position.signed_qty
        qty = init.quantity.as_double()
        if init.side.value == "BUY":
            return net < 0 and qty <= -net
        return net > 0 and qty <= net

    # -- clients ----------------------------------------------------------------------------

    def register_client(self, client: LiveExecutionClient, *, default: bool = True) -> None:
        """Add `client`: commands naming its id (``client_id``, its name) go to it.

        With `default` (the usual case) it is also its venue's default client, which
        takes the commands of the venue that name no client; with ``default=False``
        it is an additional client of a venue that already has its default.

        Raises:
            ValueError: a default client is already registered for that venue, or a
                client of that name is.
        """
        venue = client.venue
        client_id = ClientId(client.name)
        if client_id in self._by_id:
            raise ValueError(f"ExecutionEngine: an execution client named {client.name} is "
                             "already registered")
        if default and venue in self._clients:
            raise ValueError(
                f"ExecutionEngine: an execution client for venue {venue} is already "
                f"registered ({self._clients[venue].name}); register another one with "
                "default=False"
            )
        self._by_id[client_id] = client
        if default or venue not in self._clients:
            self._clients[venue] = client

    def deregister_client(self, client: LiveExecutionClient) -> None:
        """Forget `client` (no-op when it is not registered); when it was its venue's
        default, the next client of that venue (if any) becomes the default."""
        if self._by_id.get(ClientId(client.name)) is not client:
            return
        del self._by_id[ClientId(client.name)]
        if self._clients.get(client.venue) is client:
            del self._clients[client.venue]
            for other in self._by_id.values():
                if other.venue == client.venue:
                    self._clients[client.venue] = other
                    break

    @property
    def registered_venues(self) -> list[Venue]:
        """Venues with an execution client, in registration order."""
        return list(self._clients)

    def client(self, venue: Venue) -> LiveExecutionClient | None:
        """The default execution client of `venue`, if any."""
        return self._clients.get(venue)

    @property
    def clients(self) -> list[LiveExecutionClient]:
        """Every registered execution client (defaults and additional ones)."""
        return list(self._by_id.values())

    def _client_for(
        self, venue: Venue, client_id: ClientId | None, order: Order | None
    ) -> tuple[LiveExecutionClient | None, str]:
        """The client a command goes to, or None and the reason.

        Named (`client_id`): that client, which must serve `venue`. Else the client
        the order was submitted through (the one of its account), else the venue's
        default client.
        """
        if client_id is not None:
            named = self._by_id.get(client_id)
            if named is None:
                return None, f"{NO_EXEC_CLIENT}: no execution client {client_id}"
            if named.venue != venue:
                return None, (f"{NO_EXEC_CLIENT}: execution client {client_id} serves venue "
                              f"{named.venue}, not {venue}")
            return named, ""
        default = self._clients.get(venue)
        if default is None:
            return None, f"{NO_EXEC_CLIENT}: no execution client for venue {venue}"
        account = None if order is None else order.account_id
        if account is not None and account != default.account_id:
            for other in self._by_id.values():
                if other.venue == venue and other.account_id == account:
                    return other, ""
        return default, ""

    # -- commands ---------------------------------------------------------------------------

    def execute(self, command: Any) -> None:
        """Route one command to its venue's client (the `commands.exec.*` subscriber)."""
        handler = self._commands.get(type(command))
        if handler is None and type(command) in (OrderDenied, OrderModifyRejected):
            # The risk engine's verdicts travel with the commands (see RiskEngine._deny).
            self.process(command)
            return
        self.command_count += 1
        if handler is None:
            self.routing_errors += 1
            _log.error("ExecutionEngine: unsupported command %r", command)
            return
        handler(command)

    def _submit(self, command: SubmitOrder) -> None:
        init = command.order
        coid = init.client_order_id
        order = self._cache.order(coid)
        if command.resend and order is not None and (
            order.status is not OrderStatus.INITIALIZED or coid in self._awaiting_first_event
        ):
            # The first send arrived (see SubmitOrder.resend): nothing to do twice.
            self.resends_ignored += 1
            _log.info("ExecutionEngine: %s sent again after a restart; already here", coid)
            self._send_missed_events(order, command.known_event_ids)
            return
        if order is None:
            order = Order(init)
            self._cache.add_order(order)
        if self._database is not None:
            # Durable intent before the order can reach a venue: a restart finds it
            # and reconciliation asks the venue about it.
            self._database.put_order_event(init)
        if command.resend:
            # Sent again after a restart, and this worker has no record of sending it
            # (not in what it loaded, or loaded INITIALIZED only): the first send may
            # have reached the venue before the kill lost its record. Ask the venue
            # first, before any check meant for a new order: the order may be live
            # or filled there, and denying it here would leave the books without
            # it (a fill the position check then reports as a mismatch, for good).
            client, reason = self._client_for(init.instrument_id.venue, command.client_id, None)
            if client is None:
                self.routing_errors += 1
                self._deny(init, reason)
                return
            self._awaiting_first_event.add(coid)
            task = asyncio.get_running_loop().create_task(
                self._adopt_or_submit(command, order, client))
            self._resend_lookups.add(task)
            task.add_done_callback(self._resend_lookups.discard)
            return
        client = self._checked_client(command)
        if client is None:
            return
        self._awaiting_first_event.add(coid)
        self._hand_to_client(command, order, client)

    def _checked_client(self, command: SubmitOrder) -> LiveExecutionClient | None:
        """The client a new order goes to, or None when it is denied here (the
        database cannot be written, the venue's session is down, its instrument is
        halted for a position mismatch, no client serves it): the denial is applied."""
        init = command.order
        if self.database_fault is not None:
            reason = self._database_denial(init)
            if reason is not None:
                self.database_denials += 1
                self._deny(init, reason)
                return None
        down = self._sessions_down.get(init.instrument_id.venue)
        if down is not None:
            self.disconnect_denials += 1
            self._deny(init, f"{VENUE_DISCONNECTED}: trading to {init.instrument_id.venue} is "
                             f"halted: {down}")
            return None
        mismatch = self._reconciler.mismatched.get(init.instrument_id)
        if mismatch is not None:
            self.mismatch_denials += 1
            self._deny(init, f"{POSITION_MISMATCH}: trading {init.instrument_id} is halted: "
                             f"{mismatch}")
            return None
        client, reason = self._client_for(init.instrument_id.venue, command.client_id, None)
        if client is None:
            self.routing_errors += 1
            self._deny(init, reason)
            return None
        return client

    async def _adopt_or_submit(self, command: SubmitOrder, order: Order,
                               client: LiveExecutionClient) -> None:
        coid = order.client_order_id
        try:
            reports = await asyncio.wait_for(
                client.generate_order_status_reports_for([coid]), self.RESEND_LOOKUP_TIMEOUT)
            fills = await asyncio.wait_for(
                client.generate_fill_reports(), self.RESEND_LOOKUP_TIMEOUT) if reports else []
        except Exception as exc:
            # Cannot tell: submit. A venue that has it refuses the duplicate id, so
            # the worst case is a rejection to reconcile, never a second order.
            _log.error("ExecutionEngine: %s sent again; could not ask %s whether it has "
                       "it (%r); submitting", coid, client.name, exc)
            reports, fills = [], []
        if order.is_closed:
            return
        if not reports:
            # Not at the venue: a new order after all, checked like one.
            checked = self._checked_client(command)
            if checked is not None:
                self._hand_to_client(command, order, checked)
            return
        report = reports[0]
        self.resends_adopted += 1
        _log.warning("ExecutionEngine: %s sent again after a restart: %s already has it "
                     "(%s); adopted, not sent twice", coid, client.name,
                     report.order_status.value)
        own = [f for f in fills
               if f.client_order_id == coid or f.venue_order_id == report.venue_order_id]
        self._reconciler.align(order, report, own)

    def _hand_to_client(self, command: SubmitOrder, order: Order,
                        client: LiveExecutionClient) -> None:
        init = command.order
        coid = init.client_order_id
        try:
            client.submit_order(command)
        except Exception as exc:
            self.client_errors += 1
            _log.exception("ExecutionEngine: %s failed to submit %s", client.name, coid)
            if order.status is OrderStatus.INITIALIZED:
                # The order never left: deny it so the strategy is told.
                self._deny(init, f"{CLIENT_ERROR}: {client.name}: {exc!r}")

    def _send_missed_events(self, order: Order, known_ids: tuple[str, ...]) -> None:
        """The sender of a resend holds the events `known_ids`: publish every other
        event of the order, in the order's order (with the position they moved), so
        its view catches up. Compared by id, not by count: the sender may hold a
        later event without an earlier one (a fill published the moment the old
        worker was killed, then a cancel rejection from this one)."""
        if not known_ids:
            return  # the sender said nothing about what it holds
        known = set(known_ids)
        # The sender made the order: its OrderInitialized is never news to it.
        missed = [e for e in order.events
                  if e.event_id not in known and type(e) is not OrderInitialized]
        if not missed:
            return
        self.events_resent += len(missed)
        _log.info("ExecutionEngine: %s: sending %d event(s) its sender missed (%s)",
                  order.client_order_id, len(missed),
                  ", ".join(type(e).__name__ for e in missed))
        topic = topics.order_events(order.strategy_id)
        for event in missed:
            self._msgbus.publish(topic, event)
        position = self._cache.position(netting_position_id(order.instrument_id,
                                                            order.strategy_id))
        if position is not None and any(type(e) is OrderFilled for e in missed):
            self._msgbus.publish(topics.position_events(order.strategy_id),
                                 position.snapshot_event(PositionChanged))

    def _deny(self, init: Any, reason: str) -> None:
        _log.warning("ExecutionEngine: denied %s: %s", init.client_order_id, reason)
        now = self._clock.timestamp_ns()
        self.process(order_event(OrderDenied, init, new_id(), now, reason=reason))

    def _route(self, command: Any, method: str, rejection: type | None) -> None:
        order = None if rejection is None else self._cache.order(command.client_order_id)
        client, why = self._client_for(command.instrument_id.venue, command.client_id, order)
        reason = None
        if client is None:
            self.routing_errors += 1
            reason = why
            _log.error("ExecutionEngine: %s (%s)", reason, type(command).__name__)
        else:
            try:
                getattr(client, method)(command)
            except Exception as exc:
                self.client_errors += 1
                reason = f"{CLIENT_ERROR}: {client.name}: {exc!r}"
                _log.exception("ExecutionEngine: %s failed on %s", client.name, method)
        if reason is None or rejection is None:
            return
        if self._cache.order(command.client_order_id) is None:
            return
        now = self._clock.timestamp_ns()
        self.process(order_event(rejection, command, new_id(), now, reason=reason))

    def _modify(self, command: ModifyOrder) -> None:
        if not self._refused_as_closed(command, OrderModifyRejected):
            self._route(command, "modify_order", OrderModifyRejected)

    def _cancel(self, command: CancelOrder) -> None:
        if not self._refused_as_closed(command, OrderCancelRejected):
            self._route(command, "cancel_order", OrderCancelRejected)

    def _refused_as_closed(self, command: Any, rejection: type) -> bool:
        """Answer a modify/cancel of a closed order here (a denied order never
        reached a venue; a filled or canceled one has nothing left to change): the
        strategy gets the rejection, the venue nothing. True when refused."""
        order = self._cache.order(command.client_order_id)
        if order is None or not order.is_closed:
            return False
        reason = f"{ORDER_CLOSED}: order is closed ({order.status.value})"
        # INFO: a cancel crossing a fill is a normal race, not a fault.
        _log.info("ExecutionEngine: %s of %s refused: %s", type(command).__name__,
                  command.client_order_id, reason)
        now = self._clock.timestamp_ns()
        self.process(order_event(rejection, command, new_id(), now, reason=reason))
        return True

    def _cancel_all(self, command: CancelAllOrders) -> None:
        self._route(command, "cancel_all_orders", None)

    # -- events -----------------------------------------------------------------------------

    def process(self, msg: Any) -> None:
        """Apply an order event, account state or report (the `ExecEngine.process` endpoint)."""
        handler = self._handlers.get(type(msg))
        if handler is None:
            _log.warning("ExecutionEngine: cannot process %s", type(msg).__name__)
            return
        self.event_count += 1
        handler(msg)

    def _handle_order_event(self, event: Any) -> None:
        coid = event.client_order_id
        order = self._cache.order(coid)
        if order is None and type(event) is OrderDenied:
            # Denied before it reached this process (risk runs elsewhere): the
            # strategy must still hear about it.
            self._publish_order_event(event)
            return
        if order is not None and order.status is OrderStatus.DENIED and (
            type(event) is OrderDenied
        ):
            # Denied again (risk answering a resend): the sender missed the first
            # denial; it hears that one again (its mirror skips what it has).
            self._publish_order_event(order.events[-1])
            return
        if order is None and type(event) is OrderFilled:
            # Money moved at the venue: the node must follow it, not ignore it.
            self._reconciler.adopt_fill(event)
            return
        if order is None:
            self.unknown_order_events += 1
            _log.warning(
                "ExecutionEngine: %s for unknown order %s ignored", type(event).__name__, coid
            )
            return
        self.apply_event(order, event)

    def apply_event(self, order: Order, event: Any) -> bool:
        """Apply `event` to `order`, cache and publish it; update the position on a fill.

        Returns False when the event was a duplicate fill or refused by the state
        machine (logged and counted, nothing published).
        """
        is_fill = type(event) is OrderFilled
        if is_fill:
            if self._reconciler.confirms_inferred(order, event):
                self._notify_settle()
                return False
            if self._is_duplicate_fill(order, event):
                self.duplicate_fill_count += 1
                _log.warning(
                    "ExecutionEngine: duplicate fill %s of %s ignored",
                    event.trade_id,
                    order.client_order_id,
                )
                return False
            if event.position_id is None:
                # Netting: one position per strategy and instrument.
                event = msgspec.structs.replace(
                    event, position_id=position_id_for(event.instrument_id, event.strategy_id)
                )
        elif type(event) is OrderDenied and event.reason.startswith("DUPLICATE_CLIENT_ORDER_ID"):
            # The denial is about a second submit of an id in use: the cached
            # order is the first one and must not be denied. Tell the strategy only.
            self._publish_order_event(event)
            return True
        reopening = order.rejected_locally
        try:
            order.apply(event)
        except InvalidStateTransition as exc:
            self.invalid_transition_count += 1
            _log.error(
                "ExecutionEngine: %s refused by order %s (%s, strategy %s): %s",
                type(event).__name__,
                order.client_order_id,
                order.status.value,
                order.strategy_id,
                exc,
            )
            return False
        if reopening and order.status is not OrderStatus.REJECTED:
            self.orders_reopened += 1
            _log.warning("ExecutionEngine: %s, rejected by the node (%s), reopened by the "
                         "venue's %s: now %s", order.client_order_id,
                         order.last_rejection, type(event).__name__, order.status.value)
        self._awaiting_first_event.discard(order.client_order_id)
        self._cache.update_order(order)
        if self._database is not None:
            self._database.put_order_event(event)
        # The position takes the fill before anyone hears of it: a strategy's
        # on_order_filled already sees the position that fill made.
        position_events = apply_fill_to_position(self._cache, event) if is_fill else ()
        self._publish_order_event(event)
        if is_fill:
            self.fill_count += 1
            self._auditor.record_fill(event.trade_id)
            topic = topics.position_events(event.strategy_id)
            for position_event in position_events:
                self._msgbus.publish(topic, position_event)
        self._notify_settle()
        return True

    def _publish_order_event(self, event: Any) -> None:
        self._msgbus.publish(topics.order_events(event.strategy_id), event)

    @staticmethod
    def _is_duplicate_fill(order: Order, fill: OrderFilled) -> bool:
        return fill.trade_id in order.trade_ids

    def _handle_account_state(self, state: AccountState) -> None:
        account = self._cache.account(state.account_id)
        is_new = account is None
        # Stamped with this engine's count before it is applied, stored or published:
        # every process (and a replay of the account's last state) has the same numbers.
        version = 1 if account is None else account.version + 1
        if state.version != version:
            state = msgspec.structs.replace(state, version=version)
        if account is None:
            cls = CashAccount if state.account_type is AccountType.CASH else MarginAccount
            account = cls(state)
            self._cache.add_account(account)
        else:
            account.apply(state)
            self._cache.update_account(account)
        if self._database is not None:
            self._database.put_account(state, first=is_new)
        self._msgbus.publish(topics.account_events(state.account_id), state)
        self._books_changed.set()

    # -- stop sequence ----------------------------------------------------------------------

    def inflight_orders(self) -> list[Order]:
        """Orders awaiting the venue: sent without answer, or pending submit/update/cancel."""
        out: list[Order] = []
        seen: set[ClientOrderId] = set()
        for order in self._cache.orders_inflight():
            out.append(order)
            seen.add(order.client_order_id)
        for coid in list(self._awaiting_first_event):
            awaiting = self._cache.order(coid)
            if awaiting is None or awaiting.status is not OrderStatus.INITIALIZED:
                self._awaiting_first_event.discard(coid)
            elif coid not in seen:
                out.append(awaiting)
        return out

    async def wait_settled(self, timeout: float) -> bool:
        """Wait until no order is in flight; False when `timeout` (seconds) ran out first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.inflight_orders():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._settled = settled = asyncio.Event()
            try:
                await asyncio.wait_for(settled.wait(), remaining)
            except TimeoutError:
                return not self.inflight_orders()
            finally:
                self._settled = None
        return True

    def _notify_settle(self) -> None:
        self._books_changed.set()
        if self._settled is not None:
            self._settled.set()

    # -- the audit of the books against the venues ------------------------------------------

    def use_strategies(self, strategy_ids: frozenset[str]) -> None:
        """This node's strategy ids: an order or fill the venue reports under an id one
        of them made is recovered as that strategy's, not adopted as EXTERNAL."""
        self._reconciler.use_strategies(strategy_ids)

    async def take_audit_baseline(self, timeout: float) -> None:
        """Note each venue's fills at start: the audit checks only the ones after."""
        await self._auditor.take_baseline(list(self._by_id.values()), timeout)

    async def audit(self, timeout: float) -> dict[str, VenueAudit]:
        """Compare the books with each venue (see `livenode.engines.audit`); by client."""
        return await self._auditor.audit_all(list(self._by_id.values()), timeout,
                                             self._books_changed)

    @property
    def last_audit(self) -> dict[str, VenueAudit]:
        """The latest verdict per client (empty before the first audit)."""
        return dict(self._auditor.last)

    # -- reconciliation ---------------------------------------------------------------------

    async def reconcile(self, timeout: float) -> bool:
        """Align the cache with what each venue reports; False if a venue could not be
        reconciled (a failed or invalid answer, or none within `timeout`).

        See `livenode.engines.reconciliation.Reconciler`.
        """
        return not await self._reconciler.reconcile(list(self._by_id.values()), timeout)

    async def reconcile_start(self, timeout: float) -> dict[str, str]:
        """The start's reconciliation: a venue that could not be reconciled does not
        block the start. Its new orders are denied (`halted_venues`, with the reason)
        and it is reconciled again on the check timer until it succeeds, when trading
        to it resumes. Returns the reasons by client name (empty: all reconciled)."""
        clients = list(self._by_id.values())
        failures = await self._reconciler.reconcile(clients, timeout)
        for client in clients:
            reason = failures.get(client.name)
            if reason is not None:
                self._sessions_down[client.venue] = (
                    f"{client.name} not reconciled at start ({reason}); reconciling")
                _log.error("ExecutionEngine: %s: new orders to it are denied until it is "
                           "reconciled: %s", client.venue, self._sessions_down[client.venue])
        return failures

    # -- status -----------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """The counters, for status lines and the supervisor."""
        return {
            "commands": self.command_count,
            "events": self.event_count,
            "fills": self.fill_count,
            "duplicate_fills": self.duplicate_fill_count,
            "invalid_transitions": self.invalid_transition_count,
            "unknown_order_events": self.unknown_order_events,
            "client_errors": self.client_errors,
            "routing_errors": self.routing_errors,
            "database_denials": self.database_denials,
            "external_orders": self._reconciler.external_orders,
            "external_fills": self._reconciler.external_fills,
            "orders_reopened": self.orders_reopened,
            "orders_recovered": self._reconciler.recovered_orders,
            "positions_rebuilt": self._reconciler.rebuilt_positions,
            "inferred_fills_confirmed": self._reconciler.inferred_confirmed,
            "resends_ignored": self.resends_ignored,
            "resends_adopted": self.resends_adopted,
            "events_resent": self.events_resent,
            "inflight": len(self.inflight_orders()),
            "stalled": self.stalled,
            "halted_instruments": len(self._reconciler.mismatched),
            "mismatch_denials": self.mismatch_denials,
            "disconnect_denials": self.disconnect_denials,
            "halted_venues": len(self._sessions_down),
            "stall_queries": self.stall_queries,
            "stalls_resolved": self.stalls_resolved,
        }

    # -- stalled orders -----------------------------------------------------------------------

    _STALL_TIMER = "ExecEngine.inflight_check"

    def _on_start(self) -> None:
        config = self._config
        if config.inflight_timeout > 0 and config.inflight_check_interval > 0:
            self._clock.set_timer(self._STALL_TIMER,
                                  int(config.inflight_check_interval * 1e9), self._check_stalled)

    def _on_stop(self) -> None:
        self._clock.cancel_timer(self._STALL_TIMER)

    def stalled_orders(self) -> list[Order]:
        """Orders in flight (sent, or pending update/cancel) for longer than
        `inflight_timeout` without an answer from their venue."""
        limit = int(self._config.inflight_timeout * 1e9)
        now = self._clock.timestamp_ns()
        return [o for o in self.inflight_orders() if now - o.ts_last > limit]

    def _check_stalled(self, _event: Any = None) -> None:
        """Timer: ask each venue about its stalled orders (one query at a time per order)."""
        stalled = self.stalled_orders()
        self.stalled = len(stalled)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a clock driven by hand, outside a loop: count only
            return
        for venue, reason in list(self._sessions_down.items()):
            if reason.endswith("reconciling"):
                self._start_session_check(venue)  # a failed reconciliation, again
        halted_venues = {iid.venue for iid in self._reconciler.mismatched}
        for venue in halted_venues - self._position_checks:
            client = self._clients.get(venue)
            if client is not None:
                self._position_checks.add(venue)
                check = loop.create_task(self._recheck_positions(client))
                self._resend_lookups.add(check)
                check.add_done_callback(self._resend_lookups.discard)
        by_client: dict[str, tuple[LiveExecutionClient, list[Order]]] = {}
        for order in stalled:
            if order.client_order_id not in self._stall_queries:
                client, _ = self._client_for(order.instrument_id.venue, None, order)
                if client is not None:
                    by_client.setdefault(client.name, (client, []))[1].append(order)
        for client, orders in by_client.values():
            self._stall_queries.update(o.client_order_id for o in orders)
            task = loop.create_task(self._resolve_stalled(client, orders))
            self._resend_lookups.add(task)
            task.add_done_callback(self._resend_lookups.discard)

    async def _recheck_positions(self, client: LiveExecutionClient) -> None:
        """Ask the venue again about instruments halted for a position mismatch: a
        late fill may have closed the gap; then their orders resume."""
        try:
            reports = await asyncio.wait_for(client.generate_position_status_reports(),
                                             self.RESEND_LOOKUP_TIMEOUT)
        except Exception as exc:
            _log.error("ExecutionEngine: asking %s for its positions failed: %r",
                       client.name, exc)
            return
        finally:
            self._position_checks.discard(client.venue)
        for report in reports:
            if report.instrument_id in self._reconciler.mismatched:
                self._reconciler.recheck_position(report)

    # -- venue sessions ---------------------------------------------------------------------

    def _on_venue_session(self, msg: VenueSession) -> None:
        venue = msg.venue
        if not msg.up:
            if venue not in self._sessions_down:
                _log.error("ExecutionEngine: %s lost its session with %s (%s): trading to "
                           "%s HALTED until it is back and reconciled", msg.client, venue,
                           msg.reason, venue)
            self._sessions_down[venue] = f"{msg.client} session down: {msg.reason}"
            return
        if venue not in self._sessions_down:
            return  # the first logon of a connect: the start gate reconciles
        self._sessions_down[venue] = f"{msg.client} reconnected; reconciling"
        self._start_session_check(venue)

    def _start_session_check(self, venue: Venue) -> None:
        client = self._clients.get(venue)
        if client is None or venue in self._session_checks:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._session_checks.add(venue)
        task = loop.create_task(self._reconcile_after_reconnect(client))
        self._resend_lookups.add(task)
        task.add_done_callback(self._resend_lookups.discard)

    async def _reconcile_after_reconnect(self, client: LiveExecutionClient) -> None:
        venue = client.venue
        try:
            failures = await self._reconciler.reconcile([client],
                                                        self._config.reconnect_timeout)
        finally:
            self._session_checks.discard(venue)
        if not self._sessions_down.get(venue, "").endswith("reconciling"):
            return  # lost again meanwhile
        reason = failures.get(client.name)
        if reason is None:
            del self._sessions_down[venue]
            _log.warning("ExecutionEngine: %s reconciled: trading to %s resumes",
                         client.name, venue)
        else:
            # Kept halted; tried again on the engine's check timer.
            self._sessions_down[venue] = (f"{client.name} not reconciled ({reason}); "
                                          "reconciling")
            _log.error("ExecutionEngine: %s: %s", venue, self._sessions_down[venue])

    def halted_venues(self) -> dict[str, str]:
        """Venues whose new orders are denied because the client's session is down or
        not reconciled (since the start, or since it came back), with the reason."""
        return {str(venue): reason for venue, reason in self._sessions_down.items()}

    def halted_instruments(self) -> dict[str, str]:
        """Instruments whose orders are denied for a position mismatch, with the reason."""
        return {str(iid): reason for iid, reason in self._reconciler.mismatched.items()}

    async def _resolve_stalled(self, client: LiveExecutionClient, orders: list[Order]) -> None:
        ids = [o.client_order_id for o in orders]
        self.stall_queries += 1
        _log.warning("ExecutionEngine: %d order(s) without an answer from %s for over %gs "
                     "(%s); asking the venue", len(ids), client.name,
                     self._config.inflight_timeout, ", ".join(str(i) for i in ids[:5]))
        try:
            reports = await asyncio.wait_for(client.generate_order_status_reports_for(ids),
                                             self.RESEND_LOOKUP_TIMEOUT)
            fills = await asyncio.wait_for(client.generate_fill_reports(),
                                           self.RESEND_LOOKUP_TIMEOUT) if reports else []
        except NotImplementedError:
            _log.error("ExecutionEngine: %s cannot report single orders; %d order(s) stay "
                       "stalled", client.name, len(ids))
            return
        except Exception as exc:
            _log.error("ExecutionEngine: asking %s about stalled orders failed: %r",
                       client.name, exc)
            return
        finally:
            self._stall_queries.difference_update(ids)
        by_id = {r.client_order_id: r for r in reports}
        give_up = int(self._config.inflight_timeout * _STALL_GIVE_UP * 1e9)
        now = self._clock.timestamp_ns()
        for order in orders:
            report = by_id.get(order.client_order_id)
            if report is None:
                if now - order.ts_last > give_up and not order.is_closed:
                    # The venue has said for long enough that it does not have it: a
                    # submit never arrived (rejected), a cancel's order is gone.
                    self.stalls_resolved += 1
                    self._reconciler.close_missing(order, client.account_id)
                continue  # not at the venue (yet): asked again next time, still shown
            own = [f for f in fills if f.client_order_id == order.client_order_id
                   or f.venue_order_id == report.venue_order_id]
            before = order.status
            self._reconciler.align(order, report, own)
            if order.status is not before:
                self.stalls_resolved += 1
                _log.warning("ExecutionEngine: stalled %s is %s at %s: now %s",
                             order.client_order_id, report.order_status.value,
                             client.name, order.status.value)
        self.stalled = len(self.stalled_orders())

    def _on_dispose(self) -> None:
        if self._database is not None:
            self._msgbus.unsubscribe(topics.ALL_INSTRUMENTS, self._database.put_instrument)
        self._msgbus.unsubscribe(topics.ALL_EXEC_COMMANDS, self.execute)
        self._msgbus.deregister(EXEC_ENGINE_PROCESS)
