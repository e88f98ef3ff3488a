"""The execution state of a process that has no execution engine.

In a multiprocess node the execution engine lives in the exec worker; the
trader and risk workers still need orders, positions and accounts in their own
cache (a strategy asks for its open orders, risk checks reduce-only against a
position). The mirror follows what the execution engine publishes and applies
it to the local cache with the same state machine and position arithmetic, so
the two cannot drift apart in their rules. It publishes nothing.

It subscribes with a high priority: the cache is up to date before any strategy
handler sees the event.

Replays (a restarted worker's peers send their state again, a restarted exec
worker sends back what a resend's sender missed) bring events the mirror already
has: the same event, the same fill, a step the order makes once made again, or a
step the order is already past (a submission or acknowledgement heard after the
acknowledgement or fill that followed it). Such a duplicate is counted
(`duplicates`) and logged at DEBUG, nothing more. An event the order has not seen
and cannot take is a real disagreement with the execution engine: logged as an
ERROR and counted (`refused`).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from livenode.bus import topics
from livenode.bus.message_bus import MessageBus
from livenode.cache.cache import Cache
from livenode.core.clock import Clock
from livenode.core.component import Component
from livenode.engines.positions import apply_fill_to_position
from livenode.model.accounts import CashAccount, MarginAccount
from livenode.model.commands import SubmitOrder
from livenode.model.enums import AccountType, OrderStatus
from livenode.model.events import (
    AccountState,
    OrderAccepted,
    OrderDenied,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
    PositionClosed,
)
from livenode.model.orders import InvalidStateTransition, Order
from livenode.model.position import Position, netting_position_id
from livenode.model.seen_events import ONCE_PER_ORDER

_log = logging.getLogger("livenode.engines.mirror")

MIRROR_PRIORITY = 1000

_S = OrderStatus
#: Statuses an order reaches only after its submission (or that say it happened):
#: an `OrderSubmitted` heard in one of them is stale. DENIED and REJECTED are not
#: among them: a submission after those is news (an order acted on at the venue).
_PAST_SUBMITTED = frozenset({
    _S.ACCEPTED, _S.TRIGGERED, _S.PENDING_UPDATE, _S.PENDING_CANCEL, _S.PARTIALLY_FILLED,
    _S.FILLED, _S.CANCELED, _S.EXPIRED,
})
#: Statuses an order reaches after its acknowledgement (or without needing it any
#: more): an `OrderAccepted` the state machine refuses in one of them is stale.
_PAST_ACCEPTED = frozenset({
    _S.TRIGGERED, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED,
})


class ExecutionMirror(Component):
    """Keeps this process's cache in step with the execution engine's events."""

    def __init__(
        self,
        msgbus: MessageBus,
        cache: Cache,
        clock: Clock,
        component_id: str = "ExecMirror",
    ) -> None:
        super().__init__(component_id, clock, publisher=msgbus)
        self._msgbus = msgbus
        self._cache = cache
        self.applied = 0
        self.skipped = 0
        self.duplicates = 0
        self.refused = 0
        self.recovered = 0
        # Positions rebuilt from snapshots (their fills were never seen here): kept
        # in step with the engine's snapshots rather than with fills.
        self._from_snapshots: set[Any] = set()
        # Snapshots that arrived before their instrument (a restarted worker gets
        # the exec worker's replay and the data worker's instruments in any order):
        # applied when the instrument arrives. position id -> latest snapshot.
        self._pending: dict[Any, Any] = {}
        msgbus.subscribe(topics.ALL_ORDER_EVENTS, self._on_order_event, MIRROR_PRIORITY)
        msgbus.subscribe(topics.ALL_POSITION_EVENTS, self._on_position_event, MIRROR_PRIORITY)
        msgbus.subscribe(topics.ALL_ACCOUNT_EVENTS, self._on_account_state, MIRROR_PRIORITY)
        # Orders approved by a risk engine in this process: cache them, so later
        # events and modify/cancel checks find them.
        msgbus.subscribe(topics.ALL_EXEC_COMMANDS, self._on_exec_command, MIRROR_PRIORITY)
        msgbus.subscribe(topics.ALL_INSTRUMENTS, self._on_instrument, MIRROR_PRIORITY - 1)

    @property
    def pending_positions(self) -> int:
        """Position snapshots waiting for their instrument."""
        return len(self._pending)

    def counters(self) -> dict[str, int]:
        """Events applied, skipped (an unknown order's, or duplicates: already applied),
        refused by the FSM (logged as errors)."""
        return {
            "applied": self.applied,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "refused": self.refused,
            "recovered": self.recovered,
            "pending_positions": len(self._pending),
        }

    def _on_exec_command(self, command: Any) -> None:
        if (
            type(command) is SubmitOrder
            and self._cache.order(command.order.client_order_id) is None
        ):
            self._cache.add_order(Order(command.order))

    def _on_order_event(self, event: Any) -> None:
        order = self._cache.order(event.client_order_id)
        if order is None:
            if type(event) is OrderInitialized:
                # A replayed order (a restarted worker recovering): follow it from now.
                self._cache.add_order(Order(event))
                self.recovered += 1
                return
            self.skipped += 1  # another process's order we never cached: nothing to follow
            return
        held = _already_held(order, event)
        if held is not None:
            self._duplicate(order, event, held)
            return
        if type(event) is OrderFilled and event.position_id is None:
            event = msgspec.structs.replace(
                event, position_id=netting_position_id(event.instrument_id, event.strategy_id)
            )
        try:
            order.apply(event)
        except InvalidStateTransition as exc:
            if _step_passed(order, event):
                self._duplicate(order, event, f"the order is already {order.status.value}")
                return
            self.refused += 1
            _log.error(
                "mirror: %s refused by %s: %s", type(event).__name__, order.client_order_id, exc
            )
            return
        self.applied += 1
        self._cache.update_order(order)
        if type(event) is OrderFilled:
            apply_fill_to_position(self._cache, event)

    def _duplicate(self, order: Order, event: Any, why: str) -> None:
        """An event the order already has (see the module docstring): counted, not news."""
        self.skipped += 1
        self.duplicates += 1
        _log.debug("mirror: %s %s of %s heard again (%s): skipped", type(event).__name__,
                   event.event_id, order.client_order_id, why)

    def _on_position_event(self, event: Any) -> None:
        position_id = event.position_id
        position = self._cache.position(position_id)
        if position_id not in self._from_snapshots and position is not None:
            # Built from the fills this process saw: those keep it exact. Its version
            # is the execution engine's (which restarts its count after a restart
            # without a database): every process then compares the same numbers.
            position.version = event.version
            return
        instrument = self._cache.instrument(event.instrument_id)
        if instrument is None:
            self._pending[position_id] = event  # the latest snapshot wins
            return
        self._recover(instrument, event)

    def _recover(self, instrument: Any, event: Any) -> None:
        position_id = event.position_id
        if position_id not in self._from_snapshots and type(event) is PositionClosed:
            return  # nothing to recover
        self._from_snapshots.add(position_id)
        self._cache.update_position(Position.from_snapshot(instrument, event))
        self.recovered += 1

    def _on_instrument(self, instrument: Any) -> None:
        if not self._pending:
            return
        for position_id, event in list(self._pending.items()):
            if event.instrument_id == instrument.id:
                del self._pending[position_id]
                self._recover(instrument, event)

    def _on_account_state(self, state: AccountState) -> None:
        account = self._cache.account(state.account_id)
        if account is None:
            cls = CashAccount if state.account_type is AccountType.CASH else MarginAccount
            self._cache.add_account(cls(state))
        else:
            account.apply(state)
            self._cache.update_account(account)

    def _on_dispose(self) -> None:
        self._msgbus.unsubscribe(topics.ALL_ORDER_EVENTS, self._on_order_event)
        self._msgbus.unsubscribe(topics.ALL_POSITION_EVENTS, self._on_position_event)
        self._msgbus.unsubscribe(topics.ALL_ACCOUNT_EVENTS, self._on_account_state)
        self._msgbus.unsubscribe(topics.ALL_EXEC_COMMANDS, self._on_exec_command)
        self._msgbus.unsubscribe(topics.ALL_INSTRUMENTS, self._on_instrument)


def _already_held(order: Order, event: Any) -> str | None:
    """Why `order` already has `event` (None: it has not): the same event, the same
    fill, a step it makes once, a denial heard again."""
    event_id = event.event_id
    if any(e.event_id == event_id for e in order.events):
        return "same event id"  # the same process as the engine, or a replay
    kind = type(event)
    if kind is OrderFilled and event.trade_id in order.trade_ids:
        return f"trade {event.trade_id} already applied"
    if kind in ONCE_PER_ORDER and any(type(e) is kind for e in order.events):
        # The same step made again by an exec worker that recovered the order from
        # the venue (no cache database): nothing new. Its OrderInitialized too,
        # replayed to every worker after the restart: not a transition.
        return "a step the order makes once"
    if kind is OrderDenied and order.status is OrderStatus.DENIED:
        return "already denied"  # a denial heard again (answer to a resend)
    return None


def _step_passed(order: Order, event: Any) -> bool:
    """Whether a refused `event` is a step `order` is already past: a submission or an
    acknowledgement heard after what followed it (a replay delivers the events of a
    restart's recovery after those the order had). Stale, not a disagreement."""
    kind = type(event)
    if kind is OrderSubmitted:
        return order.status in _PAST_SUBMITTED
    if kind is OrderAccepted:
        return order.status in _PAST_ACCEPTED
    return False
