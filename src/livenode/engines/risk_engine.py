"""The risk engine: pre-trade checks between strategies and execution.

Strategies publish order commands on `commands.risk`. The engine checks each and
either forwards it on `commands.exec.{venue}` or refuses it: a refused submit
becomes an `OrderDenied`, a refused modify an `OrderModifyRejected`, both published
on the venue's command topic for the `ExecEngine.process` endpoint, which applies
them to the order and publishes them to the strategy. Cancels always pass: taking
risk off is never blocked.

Every refusal carries a reason that starts with a stable code (the constants
below), then ": " and the detail, e.g. ``"PRICE_PRECISION: price 100.123 has
precision 3 > 2"``. Code the reaction to a denial against the code, never the
detail text.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from livenode.bus import topics
from livenode.config import parse_rate
from livenode.core.component import Component
from livenode.core.log_limiter import LogLimiter
from livenode.core.uuid import new_id
from livenode.engines import risk_checks

# Re-exported: the reason codes are part of this module's API.
from livenode.engines.risk_checks import (  # noqa: F401
    DUPLICATE_CLIENT_ORDER_ID,
    INSTRUMENT_UNKNOWN,
    INSUFFICIENT_FREE_BALANCE,
    MODIFY_RATE_EXCEEDED,
    NO_MARKET_PRICE,
    NOTIONAL_ABOVE_MAX,
    NOTIONAL_BELOW_MIN,
    NOTIONAL_EXCEEDS_MAX_PER_ORDER,
    ORDER_CLOSED,
    ORDER_UNKNOWN,
    PRICE_INCREMENT,
    PRICE_MISSING,
    PRICE_NOT_POSITIVE,
    PRICE_PRECISION,
    QUANTITY_ABOVE_MAX,
    QUANTITY_BELOW_MIN,
    QUANTITY_INCREMENT,
    QUANTITY_NOT_POSITIVE,
    QUANTITY_PRECISION,
    REASON_CODES,
    REDUCE_ONLY_WOULD_INCREASE,
    REDUCING_WOULD_INCREASE,
    SUBMIT_RATE_EXCEEDED,
    TRADING_HALTED,
    TRIGGER_PRICE_INCREMENT,
    TRIGGER_PRICE_MISSING,
    TRIGGER_PRICE_NOT_POSITIVE,
    TRIGGER_PRICE_PRECISION,
    reason_code,
)
from livenode.engines.state_gate import StateGate
from livenode.engines.throttler import Throttler
from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from livenode.model.enums import OrderStatus, TradingState
from livenode.model.events import (
    OrderDenied,
    OrderModifyRejected,
    TradingStateChanged,
    order_event,
)

if TYPE_CHECKING:
    from livenode.bus.message_bus import MessageBus
    from livenode.cache.cache import Cache
    from livenode.config import RiskEngineConfig
    from livenode.core.clock import Clock
    from livenode.model.identifiers import InstrumentId, StrategyId, Venue

__all__ = [
    "RiskEngine",
    "NetPositionSource",
    "reason_code",
    "REASON_CODES",
    *sorted(REASON_CODES),  # each code constant is named as its value
]

_log = logging.getLogger("livenode.engines.risk")

_MAX_SEEN_IDS = 100_000

# Higher is more restrictive; the effective state of a venue is the stricter of
# the global state and the venue's own.
_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
# Module constants: reading a member through its Enum class costs ~130 ns on
# Python 3.11, and these are read for every order.
_HALTED = TradingState.HALTED
_REDUCING = TradingState.REDUCING
_INITIALIZED = OrderStatus.INITIALIZED
_DENIED = OrderStatus.DENIED


class NetPositionSource(Protocol):
    """What the engine needs from the portfolio (optional collaborator)."""

    def net_position(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> Decimal:
        """Signed net quantity (positive long, negative short)."""
        ...


class RiskEngine(Component):
    """Checks order commands before they reach execution.

    Args:
        msgbus: subscribed to `commands.risk`; approved commands are published on
            `commands.exec.{venue}`, state changes on `events.risk`.
        cache: instruments, quotes, orders, positions and accounts to check against.
        clock: stamps events and drives the rate throttles.
        config: `RiskEngineConfig` (bypass, initial trading state, rates,
            max notional per order per instrument).
        portfolio: where net positions are read (REDUCING state, reduce-only);
            the cache's open positions when None.

    Counters: `approved_count`, `denied_count`, `denied_by_reason` (reason code ->
    count), `command_count`.
    """

    def __init__(
        self,
        msgbus: MessageBus,
        cache: Cache,
        clock: Clock,
        config: RiskEngineConfig,
        portfolio: NetPositionSource | None = None,
        component_id: str = "RiskEngine",
    ) -> None:
        super().__init__(component_id, clock, publisher=msgbus)
        self._msgbus = msgbus
        self._cache = cache
        self._config = config
        self._portfolio = portfolio
        self.bypass = bool(config.bypass)
        self._trading_state = TradingState(config.trading_state)
        self._venue_states: dict[Venue, TradingState] = {}
        self._max_notional: dict[str, Decimal] = {
            key: Decimal(value) for key, value in config.max_notional_per_order.items()
        }
        self._submit_throttle = Throttler("submit", _rate(config.max_order_submit_rate), clock)
        self._modify_throttle = Throttler("modify", _rate(config.max_order_modify_rate), clock)
        self._checks = risk_checks.OrderChecks(cache, self._net_position)
        # Ids approved lately (insertion-ordered, bounded: memory stays flat on a
        # long run; older duplicates are still caught through the cache).
        # Client order ids this worker decided on: True approved, else the denial's
        # reason (bounded, oldest first out).
        self._seen_ids: dict[Any, bool | str] = {}
        self.approved_count = 0
        self.resent_forwarded = 0
        self.resends_dropped = 0
        self.denied_count = 0
        self.denied_by_reason: dict[str, int] = {}
        self.command_count = 0
        # A strategy denied on every tick must not bury the log: per reason code, the
        # first lines, then one per minute with the count (`denied_by_reason` counts all).
        self._log_limit = LogLimiter(_log)
        # Read-your-writes: a command waits for the state its sender decided on.
        self._gate = StateGate(msgbus, cache, clock, config.state_wait, self._judge,
                               self._deny)
        msgbus.subscribe(topics.RISK_COMMANDS, self.execute)

    # -- trading state ----------------------------------------------------------------------

    @property
    def trading_state(self) -> TradingState:
        """The global trading state."""
        return self._trading_state

    def trading_state_for(self, venue: Venue) -> TradingState:
        """The effective state of `venue`: the stricter of the global and the venue's."""
        own = self._venue_states.get(venue)
        if own is None or _SEVERITY[own] <= _SEVERITY[self._trading_state]:
            return self._trading_state
        return own

    @property
    def venue_trading_states(self) -> dict[Venue, TradingState]:
        """The per-venue states set with `set_trading_state(..., venue=...)`."""
        return dict(self._venue_states)

    def set_trading_state(
        self, state: TradingState | str, reason: str, venue: Venue | None = None
    ) -> None:
        """Set the global state, or one venue's (e.g. HALTED while its exec worker is down).

        Setting a venue back to ACTIVE removes its own state, leaving the global
        one in force. Publishes `TradingStateChanged` on `events.risk`.
        """
        state = TradingState(state)
        if venue is None:
            self._trading_state = state
        elif state is TradingState.ACTIVE:
            self._venue_states.pop(venue, None)
        else:
            self._venue_states[venue] = state
        _log.warning(
            "RiskEngine: trading state %s%s (%s)",
            state.value,
            f" for venue {venue}" if venue is not None else "",
            reason,
        )
        now = self._clock.timestamp_ns()
        self._msgbus.publish(
            topics.RISK_EVENTS,
            TradingStateChanged(
                trader_id=self._msgbus.trader_id,
                state=state,
                reason=reason,
                venue=venue,
                event_id=new_id(),
                ts_event=now,
                ts_init=now,
            ),
        )

    # -- commands ---------------------------------------------------------------------------

    def execute(self, command: Any) -> None:
        """Check and forward one command (the `commands.risk` subscriber), once this
        process's state is as new as its sender's (`StateGate`)."""
        self.command_count += 1
        if self.bypass:
            self._judge(command)
        else:
            self._gate.admit(command)

    def _judge(self, command: Any) -> None:
        if type(command) is SubmitOrder:
            self._handle_submit(command)
        elif type(command) is ModifyOrder:
            self._handle_modify(command)
        elif type(command) is CancelOrder or type(command) is CancelAllOrders:
            # Never blocked, not even when HALTED: cancelling reduces risk.
            self._forward(command.instrument_id.venue, command)
        else:
            _log.error("RiskEngine: unsupported command %r", command)

    def _forward(self, venue: Venue, command: Any) -> None:
        self._msgbus.publish(topics.exec_commands(venue), command)

    def _handle_submit(self, command: SubmitOrder) -> None:
        init = command.order
        if command.resend:
            cached = self._cache.order(init.client_order_id)
            verdict = self._seen_ids.get(init.client_order_id)
            denied = verdict if isinstance(verdict, str) else None
            if denied is None and cached is not None and cached.status is _DENIED:
                denied = getattr(cached.events[-1], "reason", "") or "denied"
            if denied is not None:
                # Denied already; the sender did not hear it (the denial died with a
                # worker, or crossed the resend). Never approved on a second look:
                # the denial is sent again, so the order closes where it was made.
                self.resends_dropped += 1
                _log.info("RiskEngine: %s sent again, but it was denied (%s); denial sent "
                          "again", init.client_order_id, denied)
                self._send_denial(command, denied)
                return
            if verdict is True or (cached is not None and cached.status is not _INITIALIZED):
                # Approved before this worker or exec restarted: exec applies it
                # once, whether it got the first send or not.
                self.resent_forwarded += 1
                self._forward(init.instrument_id.venue, command)
                return
        if self.bypass:
            self.approved_count += 1
            self._forward(init.instrument_id.venue, command)
            return
        reason = self._check_submit(command)
        if reason is None and not self._submit_throttle.try_acquire():
            reason = (
                f"{SUBMIT_RATE_EXCEEDED}: more than {self._submit_throttle.limit} submits "
                f"per {self._config.max_order_submit_rate.split('/')[1]}"
            )
        if reason is not None:
            self._deny(command, reason)
            return
        self._remember(init.client_order_id, True)
        self.approved_count += 1
        self._forward(init.instrument_id.venue, command)

    def _check_submit(self, command: SubmitOrder) -> str | None:
        init = command.order
        coid = init.client_order_id
        cached = self._cache.order(coid)
        # The strategy caches its order before submitting, so a cached order is
        # a duplicate only if it is another order (another init event) or was
        # submitted already.
        if coid in self._seen_ids or (
            cached is not None
            and (
                cached.init_event.event_id != init.event_id
                or cached.status is not _INITIALIZED
            )
        ):
            return f"{DUPLICATE_CLIENT_ORDER_ID}: {coid} was already submitted"
        iid = init.instrument_id
        state = self.trading_state_for(iid.venue)
        if state is _HALTED:
            return f"{TRADING_HALTED}: trading is HALTED{self._state_scope(iid.venue)}"
        if state is _REDUCING:
            net = self._net_position(iid)
            if risk_checks.would_increase(init.side, net, init.quantity.as_decimal()):
                return (
                    f"{REDUCING_WOULD_INCREASE}: {init.side.value} {init.quantity} {iid} with "
                    f"net position {net} while REDUCING{self._state_scope(iid.venue)}"
                )
        max_notional = self._max_notional.get(iid.value) if self._max_notional else None
        return self._checks.check_order(init, command.position_id, max_notional)

    def _state_scope(self, venue: Venue) -> str:
        return f" for venue {venue}" if venue in self._venue_states else ""

    def _handle_modify(self, command: ModifyOrder) -> None:
        if self.bypass:
            self.approved_count += 1
            self._forward(command.instrument_id.venue, command)
            return
        reason = self._check_modify(command)
        if reason is None and not self._modify_throttle.try_acquire():
            reason = (
                f"{MODIFY_RATE_EXCEEDED}: more than {self._modify_throttle.limit} modifies "
                f"per {self._config.max_order_modify_rate.split('/')[1]}"
            )
        if reason is not None:
            self._deny(command, reason)
            return
        self.approved_count += 1
        self._forward(command.instrument_id.venue, command)

    def _check_modify(self, command: ModifyOrder) -> str | None:
        order = self._cache.order(command.client_order_id)
        if order is None:
            return f"{ORDER_UNKNOWN}: {command.client_order_id} is not in the cache"
        if order.is_closed:
            return f"{ORDER_CLOSED}: order is closed ({order.status.value})"
        venue = command.instrument_id.venue
        state = self.trading_state_for(venue)
        if state is TradingState.HALTED:
            return f"{TRADING_HALTED}: trading is HALTED{self._state_scope(venue)}"
        if (
            state is TradingState.REDUCING
            and command.quantity is not None
            and command.quantity > order.quantity
        ):
            return (
                f"{REDUCING_WOULD_INCREASE}: quantity {order.quantity} -> {command.quantity} "
                f"while REDUCING{self._state_scope(venue)}"
            )
        return self._checks.check_modify(command)

    # -- denials ----------------------------------------------------------------------------

    def _deny(self, command: SubmitOrder | ModifyOrder, reason: str) -> None:
        self.denied_count += 1
        code = reason_code(reason)
        self.denied_by_reason[code] = self.denied_by_reason.get(code, 0) + 1
        now = self._clock.timestamp_ns()
        if type(command) is SubmitOrder:
            init = command.order
            if init.client_order_id not in self._seen_ids:  # a duplicate keeps its verdict
                self._remember(init.client_order_id, reason)
            self._log_limit.log(logging.WARNING, code, "RiskEngine: denied %s: %s",
                                init.client_order_id, reason)
            self._send_denial(command, reason)
            return
        self._log_limit.log(logging.WARNING, f"modify {code}",
                            "RiskEngine: modify of %s denied: %s", command.client_order_id,
                            reason)
        event = order_event(OrderModifyRejected, command, new_id(), now, reason=reason)
        # On the venue's command topic, not the ExecEngine.process endpoint: the
        # execution engine may live in another process, and the verdict must reach
        # it in order with the commands risk approved before.
        self._msgbus.publish(topics.exec_commands(event.instrument_id.venue), event)

    def _send_denial(self, command: SubmitOrder, reason: str) -> None:
        init = command.order
        event = order_event(OrderDenied, init, new_id(), self._clock.timestamp_ns(), reason=reason)
        self._msgbus.publish(topics.exec_commands(init.instrument_id.venue), event)

    # -- helpers ----------------------------------------------------------------------------

    def _remember(self, client_order_id: Any, verdict: bool | str) -> None:
        """True: approved; a string: denied, with that reason."""
        seen = self._seen_ids
        seen[client_order_id] = verdict
        if len(seen) > _MAX_SEEN_IDS:
            del seen[next(iter(seen))]

    def _net_position(
        self, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
    ) -> Decimal:
        if self._portfolio is not None:
            return Decimal(self._portfolio.net_position(instrument_id, strategy_id))
        return risk_checks.net_position_from_cache(self._cache, instrument_id, strategy_id)

    def counters(self) -> dict[str, int]:
        """The counters, for status lines and the supervisor."""
        out = {
            "commands": self.command_count,
            "approved": self.approved_count,
            "resent_forwarded": self.resent_forwarded,
            "resends_dropped": self.resends_dropped,
            "denied": self.denied_count,
            "state_waits": self._gate.waited,
            "waiting_for_state": self._gate.waiting,
        }
        for code, count in self.denied_by_reason.items():
            out[f"denied.{code}"] = count
        return out

    def _on_reset(self) -> None:
        self._submit_throttle.reset()
        self._modify_throttle.reset()

    def _on_dispose(self) -> None:
        self._msgbus.unsubscribe(topics.RISK_COMMANDS, self.execute)
        self._gate.close()


def _rate(value: Any) -> Any:
    """Config rates are "count/secs" strings; a parsed `Rate` is accepted too."""
    return parse_rate(value) if isinstance(value, str) else value
