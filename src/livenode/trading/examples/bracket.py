"""Bracket: enter at market, protect the fill with a reduce-only stop at once.

The pattern that needs read-your-writes across processes: the stop-loss is placed in
`on_order_filled`, the moment the strategy's own view has the entry's fill. In a
multiprocess node the risk worker may not have applied that fill yet; the command
carries the position version the strategy saw, and risk waits for it
(`[risk_engine] state_wait`) instead of judging the reduce-only stop against the
flat position before it.

The cycle, one at a time: flat and idle, enter `trade_size` at market (alternately
long and short); on the entry's fill, a reduce-only STOP_MARKET `stop_bps` away;
after `hold_ticks` quotes in the position (or when the stop fills), cancel the stop
and close at market (reduce-only); flat again, start over. `brackets` counts the
stops placed, `stops_denied` the stops the risk engine refused.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from livenode.model.enums import OrderSide, OrderType
from livenode.model.identifiers import ClientOrderId, InstrumentId
from livenode.model.objects import Quantity
from livenode.trading.config import StrategyConfig
from livenode.trading.strategy import Strategy

if TYPE_CHECKING:
    from livenode.model.data import QuoteTick
    from livenode.model.events import OrderDenied, OrderFilled, OrderRejected


class BracketConfig(StrategyConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of `Bracket`.

    Attributes:
        instrument_id: e.g. "ETHUSDT-PERP.SIM".
        trade_size: the entry's quantity, a decimal string.
        stop_bps: the stop's distance from the entry's fill price, in basis points.
        hold_ticks: quotes to hold the position before closing it.
    """

    instrument_id: str
    trade_size: str
    stop_bps: float = 20.0
    hold_ticks: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stop_bps <= 0 or self.hold_ticks < 1:
            raise ValueError("stop_bps: expected > 0 and hold_ticks: expected >= 1")


class Bracket(Strategy):
    """Market entry, reduce-only stop placed on the fill, timed exit."""

    def __init__(self, config: BracketConfig) -> None:
        super().__init__(config)
        self.instrument_id = InstrumentId.from_str(config.instrument_id)
        self.trade_size = Quantity.from_str(config.trade_size)
        self.stop_fraction = Decimal(repr(config.stop_bps)) / Decimal(10_000)
        self.hold_ticks = config.hold_ticks
        self.brackets = 0
        self.stops_denied = 0
        self._side = OrderSide.BUY
        self._entry: ClientOrderId | None = None
        self._stop: ClientOrderId | None = None
        self._exit: ClientOrderId | None = None
        self._held = 0

    def on_start(self) -> None:
        """Use the instrument's size precision; subscribe to its quotes."""
        assert self.cache is not None
        instrument = self.cache.instrument(self.instrument_id)
        if instrument is not None:
            self.trade_size = instrument.make_qty(self.trade_size.as_decimal())
        self.subscribe_quote_ticks(self.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        """Enter when flat and idle; close once the position was held long enough."""
        assert self.order_factory is not None and self.cache is not None
        if self._entry is None and self._exit is None:
            if self.cache.orders_open(strategy_id=self.id) or self._net() != 0:
                return  # something of a previous cycle still works
            order = self.order_factory.market(self.instrument_id, self._side, self.trade_size)
            self._side = OrderSide.SELL if self._side is OrderSide.BUY else OrderSide.BUY
            if self.submit_order(order):
                self._entry = order.client_order_id
            return
        if self._stop is not None and self._exit is None:
            self._held += 1
            if self._held >= self.hold_ticks:
                self._close()

    def on_order_filled(self, event: OrderFilled) -> None:
        """The entry filled: protect it at once. The stop or the exit filled: done."""
        assert self.order_factory is not None and self.cache is not None
        order = self.cache.order(event.client_order_id)
        if order is None or not order.is_closed:
            return  # wait for the whole quantity
        coid = event.client_order_id
        if coid == self._entry:
            side = OrderSide.SELL if order.side is OrderSide.BUY else OrderSide.BUY
            px = event.last_px.as_decimal()
            trigger = px * (1 - self.stop_fraction if side is OrderSide.SELL
                            else 1 + self.stop_fraction)
            instrument = self.cache.instrument(self.instrument_id)
            assert instrument is not None
            stop = self.order_factory.stop_market(
                self.instrument_id, side, order.quantity, instrument.make_price(trigger),
                reduce_only=True,
            )
            self._held = 0
            if self.submit_order(stop):
                self._stop = stop.client_order_id
                self.brackets += 1
        elif coid == self._stop:
            self._stop = None
            self._entry = None  # stopped out: the cycle is over
        elif coid == self._exit:
            self._exit = None
            self._entry = None

    def on_order_denied(self, event: OrderDenied) -> None:
        """Count a stop the risk engine refused; forget any refused order of the cycle."""
        self._refused(event.client_order_id, event.reason)

    def on_order_rejected(self, event: OrderRejected) -> None:
        """The venue refused an order of the cycle: forget it."""
        self._refused(event.client_order_id, event.reason)

    def _refused(self, coid: ClientOrderId, reason: str) -> None:
        if coid == self._stop:
            self.stops_denied += 1
            self.log.warning("%s: stop-loss %s refused: %s", self.id, coid, reason)
            self._stop = None
            self._close()  # unprotected: get out
        elif coid == self._entry:
            self._entry = None
        elif coid == self._exit:
            self._exit = None

    def _close(self) -> None:
        """Cancel the stop and close what is left at market (reduce-only)."""
        assert self.order_factory is not None and self.cache is not None
        for order in self.cache.orders_open(strategy_id=self.id):
            if order.order_type is OrderType.STOP_MARKET:
                self.cancel_order(order)
        net = self._net()
        if net == 0:
            self._entry = self._stop = None
            return
        side = OrderSide.SELL if net > 0 else OrderSide.BUY
        instrument = self.cache.instrument(self.instrument_id)
        assert instrument is not None
        close = self.order_factory.market(self.instrument_id, side,
                                          instrument.make_qty(abs(net)), reduce_only=True)
        if self.submit_order(close):
            self._exit = close.client_order_id
            self._stop = None

    def _net(self) -> Decimal:
        assert self.cache is not None
        net = Decimal(0)
        for position in self.cache.positions_open(instrument_id=self.instrument_id,
                                                  strategy_id=self.id):
            net += position.quantity.as_decimal() * (1 if position.signed_qty > 0 else -1)
        return net
