"""Builds a strategy's orders: fresh client order ids, `OrderInitialized`, `Order`.

Client order ids look like ``O-20261126-144337-EMACross-001-17``: the UTC time
the factory was created (the node run), the strategy id and a per-strategy
counter. The strategy id makes them collision-free across the strategies of a
node (the Trader refuses duplicate strategy ids) and the run time across runs
of the same strategy; `set_count` lets a restart continue after recovered ids.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from livenode.core.uuid import new_id
from livenode.model.enums import OrderSide, OrderType, TimeInForce
from livenode.model.events import OrderInitialized
from livenode.model.identifiers import ClientOrderId
from livenode.model.orders import Order

if TYPE_CHECKING:
    from livenode.core.clock import Clock
    from livenode.model.identifiers import InstrumentId, StrategyId, TraderId
    from livenode.model.objects import Price, Quantity


class OrderFactory:
    """Creates orders for one strategy.

    Args:
        trader_id: the node's trader id, stamped on every order.
        strategy_id: the owning strategy, stamped on every order and in the ids.
        clock: time source for `ts_init` and for the run stamp of the ids.
    """

    def __init__(self, trader_id: TraderId, strategy_id: StrategyId, clock: Clock) -> None:
        self.trader_id = trader_id
        self.strategy_id = strategy_id
        self._clock = clock
        run_stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(clock.timestamp_ns() // 10**9))
        self._prefix = f"O-{run_stamp}-{strategy_id}-"
        self._count = 0

    @property
    def count(self) -> int:
        """Number of client order ids generated so far."""
        return self._count

    def set_count(self, count: int) -> None:
        """Continue numbering after `count` (e.g. after orders recovered at restart)."""
        if count < 0:
            raise ValueError(f"count: expected >= 0, got {count}")
        self._count = count

    def continue_after(self, ids: Iterable[ClientOrderId]) -> None:
        """Continue numbering after the highest of `ids` made with this factory's prefix
        (a node restarted within the same second as its predecessor has the same run
        stamp, and the orders restored from the cache database carry it)."""
        prefix = self._prefix
        for coid in ids:
            value = coid.value
            if value.startswith(prefix):
                suffix = value[len(prefix):]
                if suffix.isdigit() and int(suffix) > self._count:
                    self._count = int(suffix)

    def next_client_order_id(self) -> ClientOrderId:
        """Return a fresh client order id."""
        self._count += 1
        return ClientOrderId(f"{self._prefix}{self._count}")

    # -- order kinds ---------------------------------------------------------------------------

    def market(
        self,
        instrument_id: InstrumentId,
        side: OrderSide,
        quantity: Quantity,
        time_in_force: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        tags: list[str] | tuple[str, ...] | None = None,
    ) -> Order:
        """A market order."""
        return self._build(
            instrument_id, side, OrderType.MARKET, quantity, None, None,
            time_in_force, None, False, reduce_only, tags,
        )

    def limit(
        self,
        instrument_id: InstrumentId,
        side: OrderSide,
        quantity: Quantity,
        price: Price,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        tags: list[str] | tuple[str, ...] | None = None,
    ) -> Order:
        """A limit order; `post_only` orders are rejected by the venue if they would take."""
        return self._build(
            instrument_id, side, OrderType.LIMIT, quantity, price, None,
            time_in_force, expire_time_ns, post_only, reduce_only, tags,
        )

    def stop_market(
        self,
        instrument_id: InstrumentId,
        side: OrderSide,
        quantity: Quantity,
        trigger_price: Price,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int | None = None,
        reduce_only: bool = False,
        tags: list[str] | tuple[str, ...] | None = None,
    ) -> Order:
        """A stop order that becomes a market order once `trigger_price` trades."""
        return self._build(
            instrument_id, side, OrderType.STOP_MARKET, quantity, None, trigger_price,
            time_in_force, expire_time_ns, False, reduce_only, tags,
        )

    def stop_limit(
        self,
        instrument_id: InstrumentId,
        side: OrderSide,
        quantity: Quantity,
        price: Price,
        trigger_price: Price,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        tags: list[str] | tuple[str, ...] | None = None,
    ) -> Order:
        """A stop order that becomes a limit order at `price` once `trigger_price` trades."""
        return self._build(
            instrument_id, side, OrderType.STOP_LIMIT, quantity, price, trigger_price,
            time_in_force, expire_time_ns, post_only, reduce_only, tags,
        )

    # -- internals -----------------------------------------------------------------------------

    def _build(
        self,
        instrument_id: InstrumentId,
        side: OrderSide,
        order_type: OrderType,
        quantity: Quantity,
        price: Price | None,
        trigger_price: Price | None,
        time_in_force: TimeInForce,
        expire_time_ns: int | None,
        post_only: bool,
        reduce_only: bool,
        tags: list[str] | tuple[str, ...] | None,
    ) -> Order:
        # Fail at the call site, with the strategy's own arguments in the message,
        # rather than as a denial far away in the risk engine.
        if quantity.raw <= 0:
            raise ValueError(f"quantity: expected > 0, got {quantity}")
        if time_in_force == TimeInForce.GTD and expire_time_ns is None:
            raise ValueError("time_in_force GTD needs an expire_time_ns")
        if expire_time_ns is not None and time_in_force != TimeInForce.GTD:
            raise ValueError(
                f"expire_time_ns is only valid with time_in_force GTD, got {time_in_force.value}"
            )
        if order_type == OrderType.MARKET and time_in_force == TimeInForce.GTD:
            raise ValueError("a market order cannot be GTD")
        now = self._clock.timestamp_ns()
        init = OrderInitialized(
            trader_id=self.trader_id,
            strategy_id=self.strategy_id,
            instrument_id=instrument_id,
            client_order_id=self.next_client_order_id(),
            event_id=new_id(),
            ts_event=now,
            ts_init=now,
            side=side,
            order_type=order_type,
            quantity=quantity,
            price=price,
            trigger_price=trigger_price,
            time_in_force=time_in_force,
            expire_time_ns=expire_time_ns,
            post_only=post_only,
            reduce_only=reduce_only,
            tags=tuple(tags) if tags else (),
        )
        return Order(init)
