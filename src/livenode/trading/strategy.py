"""`Strategy`: the base class of user trading logic.

A strategy reaches the rest of the node only through the message bus and the
read-only cache and portfolio facades: data subscriptions are commands on
`commands.data.{venue}`, orders are commands on `commands.risk`, and its order
and position events arrive on `events.order.{id}` / `events.position.{id}`. So
it runs unchanged whether the engines live in its process or behind a socket.

Every call into user code goes through one guard (`_call`): it stamps the
triggering event's `ts_init` on the commands created inside (`ts_trigger`, for
tick-to-trade latency), and turns an exception into a logged, counted FAULTED
strategy (plus the configured fault policy) instead of a crashed node. A FAULTED
strategy receives no more events; other strategies are unaffected.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from livenode.bus import topics
from livenode.core.clock import TestClock
from livenode.core.component import Component
from livenode.model.enums import ComponentState, OmsType
from livenode.model.events import OrderFilled
from livenode.model.identifiers import StrategyId
from livenode.model.seen_events import SeenEvents
from livenode.trading.config import StrategyConfig
from livenode.trading.handlers import StrategyHandlers
from livenode.trading.order_factory import OrderFactory
from livenode.trading.state import StrategyState
from livenode.trading.strategy_commands import PositionLeftOpen, StrategyCommands
from livenode.trading.strategy_timers import StrategyTimers

if TYPE_CHECKING:
    from livenode.bus.message_bus import MessageBus
    from livenode.cache.facade import CacheFacade
    from livenode.core.clock import Clock
    from livenode.engines.portfolio import PortfolioFacade
    from livenode.model.identifiers import TraderId
    from livenode.model.orders import Order

__all__ = ["FaultCallback", "OrderRegistry", "PositionLeftOpen", "Strategy"]

_S = ComponentState
# States in which user handlers receive events (STOPPING: fills of the managed
# cancel/flatten still reach on_order_filled).
_DISPATCH_STATES = frozenset({_S.STARTING, _S.RUNNING, _S.DEGRADED, _S.STOPPING})

# Adds a strategy's new order to the node's cache before its SubmitOrder is sent.
OrderRegistry = Callable[["Order"], None]
FaultCallback = Callable[["Strategy", BaseException], None]

_MAX_FLATTEN_ATTEMPTS = 10
# A refused close is retried after this pause, doubled per attempt up to
# _REFLATTEN_MAX_DELAY: a refusal usually means another process's view of the
# position had not caught up with ours yet (a short wait), but a submit-rate denial
# lasts until the risk engine's window moves on (up to a second), and ten quick
# retries inside one window would give the flatten up.
_REFLATTEN_DELAY = 0.05
_REFLATTEN_MAX_DELAY = 1.0
# manage_stop: how long the strategy must look flat with nothing open before its
# stop is settled. A flip arrives as two position events (the old cycle closed, the
# new one opened); in a trader worker they are two bus messages, and the moment
# between them must not pass for flat.
_SETTLE_GRACE = 0.05
#: Order and position events remembered per strategy to drop one heard twice.
_SEEN_EVENTS_KEPT = 10_000
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _handler_name(event_type: type) -> str:
    """`OrderPendingCancel` -> `on_order_pending_cancel`."""
    return "on_" + _CAMEL.sub("_", event_type.__name__).lower()


class _HookFailed(Exception):
    """User code failed inside a Component transition hook (already logged and counted)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(repr(exc))
        self.exc = exc


class Strategy(StrategyCommands, StrategyTimers, StrategyState, StrategyHandlers, Component):
    """Base class of a trading strategy; override the `on_*` handlers.

    Args:
        config: the strategy's settings; `StrategyConfig()` when None.

    After `register` (done by the `Trader`) the strategy has `id`, `trader_id`,
    `clock`, `cache` (read-only facade), `portfolio` (read-only facade),
    `order_factory`, `msgbus` and `log`.

    After a managed stop, `left_open` lists the positions it ended with, each with
    why (`PositionLeftOpen`): dust no venue order can close, or a flatten that timed
    out; empty when it flattened everything.

    Counters: `events_handled` (messages dispatched into user code),
    `duplicate_events` (order or position events heard again, not dispatched),
    `error_count` (handler exceptions), `orders_submitted`, `orders_refused`
    (refused because the strategy was not running or was stopping),
    `commands_sent`.
    """

    #: NETTING: the venue nets the account, so the stop's reduce-only closes take at
    #: most what the account's net lets them (`livenode.trading.closing`); HEDGING: a
    #: close reduces its own position at the venue and takes it whole.
    oms_type = OmsType.NETTING

    def __init__(self, config: StrategyConfig | None = None) -> None:
        self.config = config if config is not None else StrategyConfig()
        strategy_id = self.config.strategy_id or f"{type(self).__name__}-{self.config.order_id_tag}"
        self.id = StrategyId(strategy_id)
        # The Component needs a clock now; the node's clock arrives with `register`.
        # Until then a placeholder stands in: nothing is published before `register`.
        Component.__init__(self, str(self.id), TestClock(), None, type(self).__name__)
        self.log = logging.getLogger(f"livenode.trading.{self.id}")
        self.trader_id: TraderId | None = None
        self.msgbus: MessageBus | None = None
        self.cache: CacheFacade | None = None
        self.portfolio: PortfolioFacade | None = None
        self.clock: Clock | None = None
        self.order_factory: OrderFactory | None = None
        self._order_registry: OrderRegistry | None = None
        # Submitted orders still INITIALIZED (see `is_flat_and_idle`).
        self._unacknowledged: dict[Any, Order] = {}
        # Orders this strategy asked to cancel and still open: manage_stop does not
        # cancel them again (a trader behind its event queue at stop would otherwise
        # re-cancel every order the venue already closed).
        self._cancels_sent: dict[Any, None] = {}
        # The order and position events already dispatched: one heard again after a
        # worker restart is skipped by the books, and so by the handlers.
        self._seen_events = SeenEvents(_SEEN_EVENTS_KEPT)
        self._fault_callback: FaultCallback | None = None
        self.events_handled = 0
        self.error_count = 0
        self.orders_submitted = 0
        self.orders_refused = 0
        self.commands_sent = 0
        self.last_error: BaseException | None = None
        self.manage_stop_timed_out = False
        # The positions the last managed stop ended with (see the class docstring).
        self.left_open: list[PositionLeftOpen] = []
        # ts_init of the event being handled; None outside a handler.
        self._ts_trigger: int | None = None
        self._in_hook = False
        self._deferred_fault: BaseException | None = None
        self._stopping = False
        self._managing = False  # manage_stop's own cancel/flatten may pass the refusal
        self._settled: asyncio.Event | None = None
        self._stop_done: asyncio.Event | None = None
        self._flatten_attempts = 0
        self._dust_logged: set[Any] = set()
        # Position id -> (its quantity, the account's net) last warned about as offset.
        self._offset_logged: dict[Any, tuple[Any, Any]] = {}
        self._reflatten: asyncio.TimerHandle | None = None
        self._settle_confirm: asyncio.TimerHandle | None = None
        self._data_subs: dict[str, tuple[Callable[[Any], None], Any]] = {}
        self._events_subscribed = False
        self._timers: set[str] = set()
        self._handler_cache: dict[type, str] = {}

    # -- registration ----------------------------------------------------------------------

    def register(
        self,
        trader_id: TraderId,
        msgbus: MessageBus,
        cache: CacheFacade,
        portfolio: PortfolioFacade,
        clock: Clock,
        on_fault: FaultCallback | None = None,
        order_registry: OrderRegistry | None = None,
    ) -> None:
        """Wire the strategy into a node; called by the `Trader`, once, before start.

        Args:
            order_registry: adds a submitted order to the node's cache (so the
                execution engine updates this very `Order` object); when None,
                the execution engine adds the order when the command reaches it.
        """
        if self.msgbus is not None:
            raise RuntimeError(f"strategy {self.id} is already registered")
        self.trader_id = trader_id
        self.msgbus = msgbus
        self.cache = cache
        self.portfolio = portfolio
        self.clock = clock
        self._clock = clock  # the Component's own clock (stamps state changes)
        self.order_factory = OrderFactory(trader_id, self.id, clock)
        self._fault_callback = on_fault
        self._order_registry = order_registry
        self.set_publisher(msgbus)

    @property
    def is_registered(self) -> bool:
        """Whether `register` was called."""
        return self.msgbus is not None

    def _require_registered(self) -> None:
        if self.msgbus is None:
            raise RuntimeError(f"strategy {self.id} must be registered with a Trader first")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """READY -> RUNNING: `on_load` (with a stored state), subscribe to own
        order/position events, then `on_start`.

        An exception in `on_load` or `on_start` leaves the strategy FAULTED (it is logged and
        counted, the fault policy applies); it is not raised to the caller.
        """
        self._require_registered()
        self._transition("start")

    def resume(self) -> None:
        """STOPPED -> RUNNING, calling `on_resume` (re-subscribe data there)."""
        self._require_registered()
        self._transition("resume")

    def stop(self) -> None:
        """Stop at once: `on_stop`, managed cancel/flatten commands sent but not awaited.

        Prefer `await stop_async()`, which waits for the venue to confirm them.
        """
        self._transition("stop")

    def reset(self) -> None:
        """READY or STOPPED -> READY, calling `on_reset`."""
        self._transition("reset")

    def dispose(self) -> None:
        """READY, STOPPED or FAULTED -> DISPOSED, calling `on_dispose`."""
        self._transition("dispose")

    def _transition(self, trigger: str) -> None:
        self._in_hook = True
        try:
            getattr(Component, trigger)(self)
        except _HookFailed as failed:
            # The FSM already moved to FAULTED; apply the fault policy now.
            self._deferred_fault = None
            self._after_fault(failed.exc)
        finally:
            self._in_hook = False
        deferred, self._deferred_fault = self._deferred_fault, None
        if deferred is not None and self.state is not _S.FAULTED and self.state is not _S.DISPOSED:
            self.fault()
            self._after_fault(deferred)

    def _on_start(self) -> None:
        self._stopping = False
        if self.order_factory is not None and self.cache is not None:
            # Never reuse the id of an order restored from the cache database.
            self.order_factory.continue_after(
                o.client_order_id for o in self.cache.orders(strategy_id=self.id))
        # Stored state first: a failing on_load faults the strategy before on_start.
        self._load_state()
        self._subscribe_events()
        self._call("on_start", self.on_start)

    def _on_resume(self) -> None:
        self._stopping = False
        self._subscribe_events()
        self._call("on_resume", self.on_resume)

    def _on_stop(self) -> None:
        self._stopping = True
        self._call("on_stop", self.on_stop)
        self._cancel_own_timers()
        if self.config.manage_stop:
            self._managing = True
            try:
                self._cancel_open_orders()
                self._flatten()
            finally:
                self._managing = False
        self._save_state()
        self._unsubscribe_all()

    def _on_reset(self) -> None:
        self._call("on_reset", self.on_reset)
        self.manage_stop_timed_out = False
        self.left_open = []
        self._flatten_attempts = 0

    def _on_dispose(self) -> None:
        self._cancel_own_timers()
        self._unsubscribe_all()
        self._call("on_dispose", self.on_dispose)

    def _on_fault(self) -> None:
        # No user code runs any more: drop data and timers. The order and position
        # subscriptions stay so a later stop can still cancel and flatten.
        self._cancel_own_timers()
        self._unsubscribe_data()
        if self._settled is not None:
            self._check_settled()

    async def stop_async(self) -> None:
        """Stop in order: `on_stop`, then (if `manage_stop`) cancel open orders and
        flatten positions and wait, event-driven, until the venue confirmed both or
        `manage_stop_timeout` passed; unsubscribe everything; `on_save` (with a
        state store); STOPPED.

        A FAULTED strategy is still cancelled and flattened (without calling user
        code) and stays FAULTED. Calling it again while it runs waits for the first.
        """
        if self._stop_done is not None:
            await self._stop_done.wait()
            return
        state = self.state
        if state not in (_S.RUNNING, _S.DEGRADED, _S.FAULTED):
            return
        self._stop_done = asyncio.Event()
        try:
            if state is not _S.FAULTED:
                self._set_state(_S.STOPPING)
                self._stopping = True
                self._call("on_stop", self.on_stop)
            self._stopping = True
            # No more market data or timers while the orders settle: user code could
            # only try to trade on them, and that is refused now.
            self._cancel_own_timers()
            self._unsubscribe_data()
            if self.config.manage_stop:
                await self._manage_stop()
        finally:
            # Also when cancelled mid-wait (the trader's overall bound): the cancels and
            # closes are already sent; finish the bookkeeping so the state is final.
            self._unsubscribe_all()
            if self.state is _S.STOPPING:
                # Not FAULTED (checked above): its state is worth keeping.
                self._save_state()
                self._set_state(_S.STOPPED)
            self._stop_done.set()
            self._stop_done = None

    async def _manage_stop(self) -> None:
        self._settled = asyncio.Event()
        self._flatten_attempts = 0
        self.left_open = []
        # Why a position that is not dust would still be open at the end.
        not_flattened = "not flattened: the stop was cut short"  # cancelled mid-wait
        try:
            self._managing = True
            try:
                # Cancels first; the flatten goes out once no order is open (from
                # `_check_settled`), so a resting order filling before its cancel
                # lands cannot make the close the wrong size.
                self._cancel_open_orders()
            finally:
                self._managing = False
            timed_out = False
            if not self._check_settled():
                try:
                    await asyncio.wait_for(
                        self._settled.wait(), timeout=self.config.manage_stop_timeout
                    )
                except TimeoutError:
                    timed_out = True
                    self.manage_stop_timed_out = True
                    self.log.warning(
                        "%s: manage_stop timed out after %.1fs: %d open orders, "
                        "%d open positions left",
                        self.id,
                        self.config.manage_stop_timeout,
                        len(self._open_orders()),
                        len(self._closable_positions()),
                    )
            not_flattened = (
                f"not flattened: manage_stop timed out after {self.config.manage_stop_timeout:g}s"
                if timed_out else "not flattened")  # settled: only dust is left open
        finally:
            # Never silent: what the stop leaves at the venue is named in the summary.
            self.left_open = self._positions_left_open(not_flattened)
            if self.left_open:
                self.log.warning("%s: stopped with %d position(s) left open: %s", self.id,
                                 len(self.left_open), "; ".join(
                                     f"{p.instrument_id} {p.quantity:+f} ({p.reason})"
                                     for p in self.left_open))
            self._settled = None
            if self._reflatten is not None:
                self._reflatten.cancel()
                self._reflatten = None
            if self._settle_confirm is not None:
                self._settle_confirm.cancel()
                self._settle_confirm = None

    def _check_settled(self) -> bool:
        """During manage_stop: set `_settled` once no order is open and the strategy is flat."""
        settled = self._settled
        if settled is None or settled.is_set():
            return settled is not None
        if self._has_open_orders():
            return False
        if self._closable_positions():
            # No order is open and a position is: flatten it. A later attempt means
            # the previous close was refused (or did not fill it all): retry after a
            # pause, a bounded number of times.
            if self._flatten_attempts == 0:
                self._managed_flatten()
            elif self._flatten_attempts < _MAX_FLATTEN_ATTEMPTS and self._reflatten is None:
                delay = min(_REFLATTEN_DELAY * 2 ** (self._flatten_attempts - 1),
                            _REFLATTEN_MAX_DELAY)
                self._reflatten = asyncio.get_running_loop().call_later(
                    delay, self._retry_flatten
                )
            return False
        if self._settle_confirm is None:
            # Flat with nothing open: true once it still holds a moment later.
            self._settle_confirm = asyncio.get_running_loop().call_later(
                _SETTLE_GRACE, self._confirm_settled)
        return False

    def _confirm_settled(self) -> None:
        self._settle_confirm = None
        settled = self._settled
        if settled is None or settled.is_set():
            return
        if not self._has_open_orders() and not self._closable_positions():
            settled.set()
        else:
            self._check_settled()  # something arrived meanwhile: flatten or wait

    def _managed_flatten(self) -> None:
        managing, self._managing = self._managing, True
        try:
            self._flatten()
        finally:
            self._managing = managing

    def _retry_flatten(self) -> None:
        self._reflatten = None
        if self._settled is None or self._settled.is_set() or self._has_open_orders():
            return
        if self._closable_positions():
            self._managed_flatten()

    # -- dispatch ----------------------------------------------------------------------------

    def _call(self, name: str, fn: Callable[..., object], *args: Any) -> bool:
        """Run user code `fn(*args)` under the guard; return False if it raised."""
        # User code never inherits manage_stop's permission to trade while stopping,
        # even when a venue answers synchronously inside the managed cancel/flatten.
        managing, self._managing = self._managing, False
        try:
            fn(*args)
            return True
        except Exception as exc:  # noqa: BLE001 - a strategy bug must not crash the node
            self._user_error(name, exc)
            return False
        finally:
            self._managing = managing

    def _user_error(self, name: str, exc: BaseException) -> None:
        self.error_count += 1
        self.last_error = exc
        self.log.error(
            "strategy %s: handler %s raised %s: %s", self.id, name, type(exc).__name__, exc,
            exc_info=exc,
        )
        if self._in_hook and self.state in (_S.STARTING, _S.STOPPING):
            # Inside a Component transition: let the FSM itself go to FAULTED.
            raise _HookFailed(exc) from exc
        if self.state is not _S.FAULTED:
            self.fault()
            self._after_fault(exc)

    def handle_unguarded_error(self, where: str, exc: BaseException) -> None:
        """Count, log and fault for an exception that escaped the guard (see Trader)."""
        if self._in_hook:
            # Reported from inside a lifecycle hook by the bus: raising here would go
            # back into the publisher; fault once the transition is over instead.
            self.error_count += 1
            self.last_error = exc
            self.log.error("strategy %s: %s raised %r", self.id, where, exc, exc_info=exc)
            self._deferred_fault = exc
            return
        self._user_error(where, exc)

    def _after_fault(self, exc: BaseException) -> None:
        callback = self._fault_callback
        if callback is None:
            return
        try:
            callback(self, exc)
        except Exception:  # noqa: BLE001 - the fault policy must not take the strategy's caller down
            self.log.exception("strategy %s: fault callback raised", self.id)

    def _dispatch(self, name: str, fn: Callable[[Any], object], event: Any) -> None:
        if self._state not in _DISPATCH_STATES:
            return
        self.events_handled += 1
        previous = self._ts_trigger
        self._ts_trigger = event.ts_init
        try:
            self._call(name, fn, event)
        finally:
            self._ts_trigger = previous

    def _handle_quote_tick(self, tick: Any) -> None:
        self._dispatch("on_quote_tick", self.on_quote_tick, tick)

    def _handle_trade_tick(self, tick: Any) -> None:
        self._dispatch("on_trade_tick", self.on_trade_tick, tick)

    def _handle_bar(self, bar: Any) -> None:
        self._dispatch("on_bar", self.on_bar, bar)

    @property
    def duplicate_events(self) -> int:
        """Order and position events heard again and not dispatched."""
        return self._seen_events.duplicates

    def _first_time(self, event: Any) -> bool:
        """Whether `event` was not dispatched before (a fill is known by its trade id)."""
        if self._seen_events.first_time(event):
            return True
        self.log.info("%s: %s %s heard again: not dispatched", self.id,
                      type(event).__name__, getattr(event, "client_order_id", ""))
        return False

    def _handle_order_event(self, event: Any) -> None:
        if not self._first_time(event):
            return
        if self._unacknowledged:
            self._acknowledged(event.client_order_id)
        if self._cancels_sent:
            self._cancel_answered(event)
        self._dispatch_pair("on_order_event", self.on_order_event, event)
        # Not on a fill: the execution engine publishes the fill before it updates the
        # position, so the cached position is stale until the position event that
        # follows (which checks then).
        if self._settled is not None and type(event) is not OrderFilled:
            self._check_settled()

    def _handle_position_event(self, event: Any) -> None:
        if not self._first_time(event):
            return
        self._dispatch_pair("on_position_event", self.on_position_event, event)
        if self._settled is not None:
            self._check_settled()

    def _dispatch_pair(self, general: str, fn: Callable[[Any], object], event: Any) -> None:
        """Call the general handler, then the one named after the event type."""
        if self._state not in _DISPATCH_STATES:
            return
        name = self._handler_cache.get(type(event))
        if name is None:
            name = self._handler_cache.setdefault(type(event), _handler_name(type(event)))
        self.events_handled += 1
        previous = self._ts_trigger
        self._ts_trigger = event.ts_init
        try:
            if self._call(general, fn, event) and self._state in _DISPATCH_STATES:
                specific = getattr(self, name, None)
                if specific is not None:
                    self._call(name, specific, event)
        finally:
            self._ts_trigger = previous

    def _subscribe_events(self) -> None:
        assert self.msgbus is not None
        if not self._events_subscribed:
            self.msgbus.subscribe(topics.order_events(self.id), self._handle_order_event)
            self.msgbus.subscribe(topics.position_events(self.id), self._handle_position_event)
            self._events_subscribed = True

    def _unsubscribe_all(self) -> None:
        self._unsubscribe_data()
        if self._events_subscribed and self.msgbus is not None:
            self.msgbus.unsubscribe(topics.order_events(self.id), self._handle_order_event)
            self.msgbus.unsubscribe(topics.position_events(self.id), self._handle_position_event)
            self._events_subscribed = False
