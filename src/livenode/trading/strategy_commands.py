"""What a strategy sends: data subscriptions and order commands.

A mixin of `Strategy`, kept in its own module so each stays readable. Every
command carries `ts_trigger`: the `ts_init` of the event whose handler created
it, or the command's own `ts_init` outside a handler.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from livenode.bus import topics
from livenode.core.uuid import new_id
from livenode.model.commands import (
    CancelAllOrders,
    CancelOrder,
    ModifyOrder,
    SubmitOrder,
    SubscribeBars,
    SubscribeQuoteTicks,
    SubscribeTradeTicks,
    UnsubscribeBars,
    UnsubscribeQuoteTicks,
    UnsubscribeTradeTicks,
)
from livenode.model.enums import (
    ComponentState,
    OmsType,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
)
from livenode.model.events import OrderCancelRejected
from livenode.model.identifiers import InstrumentId, PositionId
from livenode.model.position import netting_position_id
from livenode.trading.closing import close_cap, dust_reason, offset_warning

if TYPE_CHECKING:
    from logging import Logger

    from livenode.bus.message_bus import MessageBus
    from livenode.cache.facade import CacheFacade
    from livenode.core.clock import Clock
    from livenode.model.data import BarType
    from livenode.model.identifiers import (
        ClientId,
        ClientOrderId,
        StrategyId,
        TraderId,
    )
    from livenode.model.objects import Price, Quantity
    from livenode.model.orders import Order
    from livenode.model.position import Position
    from livenode.trading.config import StrategyConfig
    from livenode.trading.order_factory import OrderFactory

_S = ComponentState
# States in which user code may place new orders (STARTING: from on_start).
_ORDER_STATES = frozenset({_S.STARTING, _S.RUNNING, _S.DEGRADED})


class PositionLeftOpen(msgspec.Struct, frozen=True, kw_only=True):
    """A position a strategy's managed stop ended with (`Strategy.left_open`).

    `quantity` is signed (negative: short) at the instrument's size precision;
    `reason` says why it was not flattened: ``dust: ...`` (no venue accepts a close
    that small, with the limit it is below) or that the managed stop timed out or
    was cut short.
    """

    instrument_id: InstrumentId
    position_id: PositionId
    quantity: Decimal
    reason: str


class StrategyCommands:
    """Subscriptions and order commands of a `Strategy` (see there for the attributes)."""

    # Provided by Strategy; declared for the type checker.
    id: StrategyId
    config: StrategyConfig
    trader_id: TraderId | None
    msgbus: MessageBus | None
    cache: CacheFacade | None
    clock: Clock | None
    order_factory: OrderFactory | None
    log: Logger
    orders_submitted: int
    orders_refused: int
    commands_sent: int
    _ts_trigger: int | None
    _stopping: bool
    _managing: bool
    _flatten_attempts: int
    _dust_logged: set[Any]
    _offset_logged: dict[Any, tuple[Any, Any]]
    oms_type: OmsType
    _order_registry: Callable[[Order], None] | None
    _unacknowledged: dict[ClientOrderId, Order]
    _cancels_sent: dict[ClientOrderId, None]
    _data_subs: dict[str, tuple[Callable[[Any], None], Any]]
    _handle_quote_tick: Callable[[Any], None]
    _handle_trade_tick: Callable[[Any], None]
    _handle_bar: Callable[[Any], None]

    if TYPE_CHECKING:
        # Provided by Component and Strategy; only declared, never defined here, so
        # the mixin cannot shadow them in the MRO.
        @property
        def state(self) -> ComponentState: ...

        def _require_registered(self) -> None: ...

    # -- data subscriptions ------------------------------------------------------------------

    def subscribe_quote_ticks(
        self, instrument_id: InstrumentId, client_id: ClientId | None = None
    ) -> None:
        """Receive `on_quote_tick` for the instrument (asks its venue's data client)."""
        self._subscribe(
            topics.quotes(instrument_id), self._handle_quote_tick, instrument_id.venue,
            SubscribeQuoteTicks, UnsubscribeQuoteTicks, client_id, instrument_id=instrument_id,
        )

    def subscribe_trade_ticks(
        self, instrument_id: InstrumentId, client_id: ClientId | None = None
    ) -> None:
        """Receive `on_trade_tick` for the instrument."""
        self._subscribe(
            topics.trades(instrument_id), self._handle_trade_tick, instrument_id.venue,
            SubscribeTradeTicks, UnsubscribeTradeTicks, client_id, instrument_id=instrument_id,
        )

    def subscribe_bars(self, bar_type: BarType, client_id: ClientId | None = None) -> None:
        """Receive `on_bar` for the bar type (the data engine aggregates it if needed)."""
        self._subscribe(
            topics.bars(bar_type), self._handle_bar, bar_type.instrument_id.venue,
            SubscribeBars, UnsubscribeBars, client_id, bar_type=bar_type,
        )

    def unsubscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        """Stop receiving quotes of the instrument."""
        self._unsubscribe(topics.quotes(instrument_id))

    def unsubscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        """Stop receiving trades of the instrument."""
        self._unsubscribe(topics.trades(instrument_id))

    def unsubscribe_bars(self, bar_type: BarType) -> None:
        """Stop receiving bars of the bar type."""
        self._unsubscribe(topics.bars(bar_type))

    @property
    def subscribed_topics(self) -> list[str]:
        """Data topics this strategy is subscribed to."""
        return sorted(self._data_subs)

    def _subscribe(
        self,
        topic: str,
        handler: Callable[[Any], None],
        venue: Any,
        subscribe_type: type,
        unsubscribe_type: type,
        client_id: ClientId | None,
        **key: Any,
    ) -> None:
        self._require_registered()
        assert self.msgbus is not None and self.clock is not None
        if topic in self._data_subs:
            return  # the data engine counts subscribers: subscribe once per strategy
        # Handler first, then the command: the first tick may come back synchronously.
        self.msgbus.subscribe(topic, handler)
        unsubscribe = unsubscribe_type(
            client_id=client_id, venue=venue, command_id="", ts_init=0, **key
        )
        self._data_subs[topic] = (handler, unsubscribe)
        now = self.clock.timestamp_ns()
        command = subscribe_type(
            client_id=client_id, venue=venue, command_id=new_id(), ts_init=now, **key
        )
        self.msgbus.publish(topics.data_commands(venue), command)

    def _unsubscribe(self, topic: str) -> None:
        entry = self._data_subs.pop(topic, None)
        if entry is None or self.msgbus is None or self.clock is None:
            return
        handler, template = entry
        self.msgbus.unsubscribe(topic, handler)
        command = msgspec.structs.replace(
            template, command_id=new_id(), ts_init=self.clock.timestamp_ns()
        )
        self.msgbus.publish(topics.data_commands(template.venue), command)

    def _unsubscribe_data(self) -> None:
        for topic in list(self._data_subs):
            self._unsubscribe(topic)

    # -- orders ------------------------------------------------------------------------------

    def _ts(self) -> tuple[int, int]:
        """(ts_init, ts_trigger) for a command created now."""
        assert self.clock is not None
        now = self.clock.timestamp_ns()
        trigger = self._ts_trigger
        return now, (now if trigger is None else trigger)

    def _send_trading_command(self, command_type: type[Any], **fields: Any) -> None:
        """Build a trading command stamped now (trigger: the event being handled) and
        publish it to the risk engine."""
        assert self.msgbus is not None and self.trader_id is not None
        now, trigger = self._ts()
        command = command_type(
            trader_id=self.trader_id,
            strategy_id=self.id,
            command_id=new_id(),
            ts_init=now,
            ts_trigger=trigger,
            **fields,
        )
        self.commands_sent += 1
        self.msgbus.publish(topics.RISK_COMMANDS, command)

    def _may_send_new(self, what: str, order: Any) -> bool:
        """Whether user code may send a new order or modify now; count a refusal."""
        if self._managing or (not self._stopping and self.state in _ORDER_STATES):
            return True
        self.orders_refused += 1
        self.log.warning(
            "%s: %s %s refused: strategy is %s",
            self.id, what, getattr(order, "client_order_id", order),
            "stopping" if self._stopping else self.state.name,
        )
        return False

    def submit_order(
        self,
        order: Order,
        position_id: PositionId | None = None,
        client_id: ClientId | None = None,
    ) -> bool:
        """Send a new order (through the risk engine); return False if refused.

        The order is first added to the node's cache (through the registry the
        Trader gave), so the execution engine moves this very object. `client_id`
        names the execution client (None: the venue's default client); its modifies
        and cancels then go to the same client.
        """
        self._require_registered()
        if order.strategy_id != self.id:
            raise ValueError(
                f"{self.id}: order {order.client_order_id} belongs to {order.strategy_id}"
            )
        assert self.cache is not None
        if self.cache.order_exists(order.client_order_id):
            raise ValueError(f"{self.id}: order {order.client_order_id} was already submitted")
        if not self._may_send_new("submit", order):
            return False
        if self._order_registry is not None:
            self._order_registry(order)
        self._unacknowledged[order.client_order_id] = order
        self.orders_submitted += 1
        self._send_trading_command(
            SubmitOrder, order=order.init_event, position_id=position_id, client_id=client_id,
            position_version=self._position_version(order.instrument_id, position_id),
            account_version=self._account_version(order.instrument_id),
        )
        return True

    def _account_version(self, instrument_id: InstrumentId) -> int:
        """The version of the venue's account the submit is decided on (0: none)."""
        assert self.cache is not None
        account = self.cache.account_for_venue(instrument_id.venue)
        return 0 if account is None else account.version

    def _position_version(self, instrument_id: InstrumentId,
                          position_id: PositionId | None = None) -> int:
        """The version of this strategy's position the command is decided on (0: none):
        a risk engine in another process waits until its own is at least as new."""
        assert self.cache is not None
        position = self.cache.position(
            position_id or netting_position_id(instrument_id, self.id))
        return 0 if position is None else position.version

    def modify_order(
        self,
        order: Order,
        quantity: Quantity | None = None,
        price: Price | None = None,
        trigger_price: Price | None = None,
    ) -> bool:
        """Ask the venue to change an open order; return False if refused or pointless."""
        self._require_registered()
        if quantity is None and price is None and trigger_price is None:
            self.log.warning("%s: modify of %s changes nothing", self.id, order.client_order_id)
            return False
        if not order.is_open:
            self.log.warning(
                "%s: modify of %s ignored: order is %s",
                self.id, order.client_order_id, order.status.name,
            )
            return False
        if not self._may_send_new("modify", order):
            return False
        self._send_trading_command(
            ModifyOrder,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            quantity=quantity,
            price=price,
            trigger_price=trigger_price,
            position_version=self._position_version(order.instrument_id),
        )
        return True

    def cancel_order(self, order: Order) -> bool:
        """Ask the venue to cancel an order (always allowed, also while stopping).

        Returns False when the order is already closed.
        """
        self._require_registered()
        if order.is_closed:
            return False
        self._cancels_sent[order.client_order_id] = None
        self._send_trading_command(
            CancelOrder,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
        )
        return True

    def cancel_all_orders(
        self,
        instrument_id: InstrumentId,
        order_side: OrderSide | None = None,
        client_id: ClientId | None = None,
    ) -> None:
        """Ask the venue to cancel this strategy's open orders of the instrument (one side),
        through the execution client `client_id` (None: the venue's default client)."""
        self._require_registered()
        self._send_trading_command(
            CancelAllOrders, instrument_id=instrument_id, order_side=order_side,
            client_id=client_id,
        )

    def close_position(self, position: Position, tags: list[str] | None = None) -> bool:
        """Flatten a position with a reduce-only market order; False if flat, refused,
        or the account leaves nothing to close.

        On a netting account (the default) the close takes at most what the account's
        net in the instrument lets a reduce-only order close (`livenode.trading.closing`):
        other strategies' positions and fills adopted from outside (EXTERNAL) may offset
        this one at the venue. What they offset stays open in this strategy's books
        (a warning says so), matched at the venue by the offset.
        """
        self._require_registered()
        assert self.order_factory is not None
        if position.is_closed or position.side == PositionSide.FLAT:
            return False
        quantity = self._close_quantity(position)
        if not quantity.raw:
            return False
        side = OrderSide.SELL if position.side == PositionSide.LONG else OrderSide.BUY
        order = self.order_factory.market(
            position.instrument_id, side, quantity, reduce_only=True,
            tags=tags or ["CLOSE"],
        )
        return self.submit_order(order, position_id=position.id)

    def close_all_positions(self, instrument_id: InstrumentId | None = None) -> int:
        """Flatten every open position of this strategy (of one instrument); return orders sent.

        A position that already has a reduce-only close order working is skipped,
        so calling this twice does not double the flattening.
        """
        self._require_registered()
        sent = 0
        closing = {
            o.instrument_id for o in self._open_orders(instrument_id) if o.reduce_only
        }
        for position in self._closable_positions(instrument_id):
            if position.instrument_id in closing:
                continue
            if self.close_position(position):
                sent += 1
        return sent

    def _closable_positions(self, instrument_id: InstrumentId | None = None) -> list[Position]:
        """Open positions a venue would let us close: something left once the account's
        net is taken into account (`_close_quantity`), and not dust below the
        instrument's minimum quantity or notional (a close order for those is refused).
        A managed stop is done once none is left."""
        assert self.cache is not None
        out = []
        for position in self._open_positions(instrument_id):
            quantity = self._close_quantity(position)
            if not quantity.raw:
                continue  # offset at the venue: nothing a reduce-only order may close
            dust = dust_reason(self.cache, position.instrument_id, quantity)
            if dust is not None:
                if position.id not in self._dust_logged:
                    self._dust_logged.add(position.id)
                    self.log.warning(
                        "%s: position %s of %s: a close of %s is dust (%s): left open, no "
                        "venue accepts a close that small",
                        self.id, position.id, position.quantity, quantity, dust,
                    )
                continue
            out.append(position)
        return out

    def _close_quantity(self, position: Position) -> Quantity:
        """What a reduce-only close of `position` may take (`closing.close_cap`); warns,
        once per position and account net, when an offset leaves less than the whole."""
        assert self.cache is not None
        cap = close_cap(self.cache, position, self.oms_type)
        if cap.quantity < position.quantity:
            seen = (position.quantity, cap.account_net)
            if self._offset_logged.get(position.id) != seen:
                self._offset_logged[position.id] = seen
                self.log.warning("%s", offset_warning(self.id, position, cap))
        return cap.quantity

    def _positions_left_open(self, not_flattened: str) -> list[PositionLeftOpen]:
        """This strategy's open positions, each with why it is still open: dust, or
        `not_flattened` (what stopped the managed flatten)."""
        assert self.cache is not None
        out = []
        for position in self._open_positions():
            cap = close_cap(self.cache, position, self.oms_type)
            dust = dust_reason(self.cache, position.instrument_id, position.quantity)
            if dust is None and cap.quantity < position.quantity:
                if not cap.quantity.raw:
                    reason = (f"offset on the account (net {cap.account_net}): nothing a "
                              "reduce-only close may take")
                else:
                    dust = dust_reason(self.cache, position.instrument_id, cap.quantity)
                    reason = f"dust: {dust}" if dust is not None else not_flattened
            else:
                reason = f"dust: {dust}" if dust is not None else not_flattened
            quantity = position.quantity.as_decimal()
            out.append(PositionLeftOpen(
                instrument_id=position.instrument_id,
                position_id=position.id,
                quantity=-quantity if position.side is PositionSide.SHORT else quantity,
                reason=reason,
            ))
        return out

    # -- state queries ----------------------------------------------------------------------

    def is_flat_and_idle(self, instrument_id: InstrumentId) -> bool:
        """Whether this strategy holds no position in `instrument_id` and has no order
        for it that could still fill: none working at the venue, none in flight (sent,
        awaiting the venue's answer) and none submitted but not yet acknowledged.

        `portfolio.is_flat` answers only the first half: between a `submit_order` and
        its fill the position is still flat, so a strategy that asks it on every tick
        buys again and again while its first order is on its way. Ask this instead
        before opening a new position. Other strategies' orders and positions do not
        count; the cache this reads is updated before any order or position event
        reaches a handler, so `on_order_filled` already sees the position it made.
        """
        self._require_registered()
        cache = self.cache
        assert cache is not None
        if cache.orders_open_count(instrument_id=instrument_id, strategy_id=self.id):
            return False
        if cache.orders_inflight(instrument_id=instrument_id, strategy_id=self.id):
            return False
        self._forget_acknowledged()
        if any(o.instrument_id == instrument_id for o in self._unacknowledged.values()):
            return False
        return not cache.positions_open(instrument_id=instrument_id, strategy_id=self.id)

    def _acknowledged(self, client_order_id: ClientOrderId) -> None:
        """An event of this order arrived: forget it as unacknowledged once it left
        INITIALIZED (one lookup; scanning every unacknowledged order on each submit
        grew quadratic with the orders a lagging venue had not answered yet)."""
        order = self._unacknowledged.get(client_order_id)
        if order is None:
            return
        cached = self.cache.order(client_order_id) if self.cache is not None else None
        if (cached or order).status is not OrderStatus.INITIALIZED:
            del self._unacknowledged[client_order_id]

    def _cancel_answered(self, event: Any) -> None:
        """Forget a cancel once its order closed or the venue refused the cancel (a
        later manage_stop may then cancel it again)."""
        cid = event.client_order_id
        if cid not in self._cancels_sent:
            return
        order = self.cache.order(cid) if self.cache is not None else None
        if order is None or order.is_closed or type(event) is OrderCancelRejected:
            del self._cancels_sent[cid]

    def _forget_acknowledged(self) -> None:
        """Drop submitted orders that left INITIALIZED (they are in flight, working or
        closed now, which the cache's indexes answer)."""
        if not self._unacknowledged or self.cache is None:
            return
        cache = self.cache
        done = [
            cid for cid, order in self._unacknowledged.items()
            # The cache's copy when it has one: without an order registry the execution
            # engine caches an order object of its own.
            if (cache.order(cid) or order).status is not OrderStatus.INITIALIZED
        ]
        for cid in done:
            del self._unacknowledged[cid]

    # -- manage_stop helpers ---------------------------------------------------------------

    def _open_orders(self, instrument_id: InstrumentId | None = None) -> list[Order]:
        """This strategy's orders not yet closed: initialized, in flight or working."""
        if self.cache is None:
            return []
        # Not `orders_open` alone: an order still INITIALIZED or SUBMITTED is neither
        # open nor closed, and must be cancelled and waited for as well.
        return self.cache.orders_active(instrument_id=instrument_id, strategy_id=self.id)

    def _open_positions(self, instrument_id: InstrumentId | None = None) -> list[Position]:
        if self.cache is None:
            return []
        return list(self.cache.positions_open(instrument_id=instrument_id, strategy_id=self.id))

    def _has_open_orders(self) -> bool:
        """Whether `_open_orders` would list any (without listing them)."""
        return self.cache is not None and self.cache.has_active_orders(strategy_id=self.id)

    def _cancel_open_orders(self) -> None:
        # One CancelOrder per order rather than CancelAllOrders: precise even if a
        # venue's cancel-all ignores the strategy, and works for orders in flight.
        for order in self._open_orders():
            if order.client_order_id in self._cancels_sent:
                continue  # its cancel is on its way
            if not (order.reduce_only and order.order_type == OrderType.MARKET):
                self.cancel_order(order)

    def _flatten(self) -> None:
        self._flatten_attempts += 1
        self.close_all_positions()

