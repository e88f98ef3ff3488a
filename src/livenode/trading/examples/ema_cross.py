"""EMA-cross trend follower: long while the fast EMA is above the slow one, short below.

Netting: the strategy holds one net position per instrument and flips it with a
single market order (its size: the current position plus `trade_size`). It acts
only when none of its orders is in flight, so a burst of ticks around a
crossing never stacks orders; the next tick after a fill re-evaluates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livenode.model.data import BarType
from livenode.model.enums import OrderSide, PositionSide
from livenode.model.identifiers import ClientOrderId, InstrumentId
from livenode.model.objects import Quantity
from livenode.trading.config import StrategyConfig
from livenode.trading.indicators import ExponentialMovingAverage
from livenode.trading.strategy import Strategy

if TYPE_CHECKING:
    from livenode.model.data import Bar, QuoteTick


class EMACrossConfig(StrategyConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of `EMACross`.

    Attributes:
        instrument_id: e.g. "BTCUSDT.SIM".
        trade_size: position size as a decimal string, e.g. "0.01".
        fast_period: period of the fast EMA (< slow_period).
        slow_period: period of the slow EMA.
        bar_type: e.g. "BTCUSDT.SIM-1-SECOND-MID": trade on bars; when None the
            EMAs are fed from quote mids (reacts within a second on a live feed).
        allow_short: go short below the slow EMA; when False, go flat instead.
    """

    instrument_id: str
    trade_size: str
    fast_period: int = 10
    slow_period: int = 20
    bar_type: str | None = None
    allow_short: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fast_period < 1 or self.slow_period < 1:
            raise ValueError("fast_period and slow_period: expected >= 1")
        if self.fast_period >= self.slow_period:
            raise ValueError(
                f"fast_period: expected < slow_period ({self.slow_period}), got {self.fast_period}"
            )


class EMACross(Strategy):
    """Trend follower on the crossing of a fast and a slow EMA."""

    def __init__(self, config: EMACrossConfig) -> None:
        super().__init__(config)
        self.instrument_id = InstrumentId.from_str(config.instrument_id)
        self.bar_type = BarType.from_str(config.bar_type) if config.bar_type else None
        self.trade_size = Quantity.from_str(config.trade_size)
        self.allow_short = config.allow_short
        self.fast_ema = ExponentialMovingAverage(config.fast_period)
        self.slow_ema = ExponentialMovingAverage(config.slow_period)
        self.signals = 0  # times the target side changed (visible in tests and status)
        self._target = PositionSide.FLAT
        # A target whose order was denied or rejected is not retried on every tick
        # (that would flood the risk engine); the next signal change tries again.
        self._refused_target: PositionSide | None = None
        # The last order sent: no second one while it is not done.
        self._last_order: ClientOrderId | None = None

    def on_start(self) -> None:
        """Use the instrument's size precision when known; subscribe to the feed."""
        assert self.cache is not None
        instrument = self.cache.instrument(self.instrument_id)
        if instrument is not None:
            self.trade_size = instrument.make_qty(self.trade_size.as_decimal())
        if self.bar_type is not None:
            self.subscribe_bars(self.bar_type)
        else:
            self.subscribe_quote_ticks(self.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        """Feed both EMAs the mid, then act."""
        self.fast_ema.handle_quote_tick(tick)
        self.slow_ema.handle_quote_tick(tick)
        self._evaluate()

    def on_bar(self, bar: Bar) -> None:
        """Feed both EMAs the close, then act."""
        self.fast_ema.handle_bar(bar)
        self.slow_ema.handle_bar(bar)
        self._evaluate()

    def on_stop(self) -> None:
        """Nothing to do: manage_stop (on by default) cancels and flattens."""

    def on_reset(self) -> None:
        """Forget the indicators."""
        self.fast_ema.reset()
        self.slow_ema.reset()
        self._target = PositionSide.FLAT
        self._refused_target = None
        self._last_order = None

    # -- logic -------------------------------------------------------------------------------

    def _evaluate(self) -> None:
        if not self.slow_ema.initialized:
            return
        fast, slow = self.fast_ema.value, self.slow_ema.value
        if fast > slow:
            target = PositionSide.LONG
        elif fast < slow:
            target = PositionSide.SHORT if self.allow_short else PositionSide.FLAT
        else:
            return  # equal: no information, keep what we have
        if target is not self._target:
            self.signals += 1
            self._target = target
            self._refused_target = None
        if target is not self._refused_target:
            self._align(target)

    def on_order_denied(self, event: Any) -> None:
        """The risk engine refused the order: wait for the next signal before retrying."""
        self._refuse(event)

    def on_order_rejected(self, event: Any) -> None:
        """The venue refused the order: wait for the next signal before retrying."""
        self._refuse(event)

    def _refuse(self, event: Any) -> None:
        self._refused_target = self._target
        self.log.warning(
            "%s: order %s refused (%s); holding until the next crossing",
            self.id, event.client_order_id, event.reason,
        )

    def _align(self, target: PositionSide) -> None:
        """Send the one market order that moves the net position to `target`, if any."""
        assert self.cache is not None and self.order_factory is not None
        if self._last_order is not None:
            last = self.cache.order(self._last_order)
            if last is not None and not last.is_closed:
                # Not done yet, including not yet acknowledged (INITIALIZED or
                # SUBMITTED: in a multiprocess node that takes a few hops): decide
                # again once it is done, never stack a second order on it.
                return
        positions = self.cache.positions_open(instrument_id=self.instrument_id, strategy_id=self.id)
        position = positions[0] if positions else None
        side = position.side if position is not None else PositionSide.FLAT
        if side is target:
            return
        if target is PositionSide.FLAT:
            if position is not None:
                self.close_position(position)
            return
        quantity = self.trade_size
        if position is not None and side is not PositionSide.FLAT:
            quantity = quantity + position.quantity  # flip: close and open in one order
        order_side = OrderSide.BUY if target is PositionSide.LONG else OrderSide.SELL
        order = self.order_factory.market(self.instrument_id, order_side, quantity)
        if self.submit_order(order, position_id=position.id if position is not None else None):
            self._last_order = order.client_order_id
