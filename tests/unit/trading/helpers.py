"""A real single-process wiring for strategy tests.

MessageBus + Cache + TestClock + RiskEngine (bypass) + ExecutionEngine +
Portfolio + Trader, with a tiny recording execution client standing in for a
venue. The client answers commands the way the test asks (`auto_*` switches) or
not at all, so tests can drive fills, cancels and silence explicitly.
"""

from __future__ import annotations

import itertools
from typing import Any

from livenode.bus import topics
from livenode.bus.message_bus import MessageBus
from livenode.cache.cache import Cache
from livenode.config import ExecEngineConfig, PortfolioConfig, RiskEngineConfig
from livenode.core.clock import TestClock
from livenode.core.uuid import new_id
from livenode.engines.clients import EXEC_ENGINE_PROCESS
from livenode.engines.execution_engine import ExecutionEngine
from livenode.engines.portfolio import Portfolio
from livenode.engines.risk_engine import RiskEngine
from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from livenode.model.data import QuoteTick
from livenode.model.enums import LiquiditySide, OrderType
from livenode.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderUpdated,
)
from livenode.model.identifiers import (
    AccountId,
    InstrumentId,
    TradeId,
    TraderId,
    Venue,
    VenueOrderId,
)
from livenode.model.instruments import CurrencyPair
from livenode.model.objects import Currency, Money, Price, Quantity
from livenode.model.orders import Order
from livenode.trading.trader import Trader

T0 = 1_764_168_000_000_000_000  # 2025-11-26 14:40:00 UTC
TRADER_ID = TraderId("TRADER-001")
SIM = Venue("SIM")
ACCOUNT = AccountId("SIM-001")
BTC = InstrumentId.from_str("BTCUSDT.SIM")
USDT = Currency.from_str("USDT")


def instrument(instrument_id: InstrumentId = BTC) -> CurrencyPair:
    return CurrencyPair(
        id=instrument_id,
        base_currency=Currency.from_str("BTC"),
        quote_currency=USDT,
        settlement_currency=USDT,
        price_precision=2,
        size_precision=3,
        price_increment=Price.from_str("0.01"),
        size_increment=Quantity.from_str("0.001"),
        ts_event=T0,
        ts_init=T0,
    )


class RecordingExecClient:
    """Records every command; answers as configured.

    Attributes:
        auto_accept: answer a submit with OrderSubmitted + OrderAccepted.
        auto_fill_market: fill market orders at `fill_px` right after accepting.
        auto_cancel: answer a cancel with OrderCanceled.
        auto_modify: answer a modify with OrderUpdated.
        reject_post_only: reject every post-only order (as if it would cross); they
            are also rejected when they cross `last_quote`.
        reject_market: reject every market order.
    """

    def __init__(self, msgbus: MessageBus, clock: TestClock) -> None:
        self.name = "RECORDER"
        self.venue = SIM
        self.account_id = ACCOUNT
        self.is_connected = True
        self._msgbus = msgbus
        self._clock = clock
        self.commands: list[Any] = []
        self.auto_accept = True
        self.auto_fill_market = True
        self.auto_cancel = True
        self.auto_modify = True
        self.fill_px = Price.from_str("100.00")
        self.last_quote: QuoteTick | None = None
        self.reject_post_only = False
        self.reject_market = False
        self._voids = itertools.count(1)
        self._trades = itertools.count(1)

    # -- commands --------------------------------------------------------------------------

    def submit_order(self, command: SubmitOrder) -> None:
        self.commands.append(command)
        if not self.auto_accept:
            return
        init = command.order
        self.emit(OrderSubmitted, init, account_id=self.account_id)
        if init.post_only and (self.reject_post_only or self._would_cross(init)):
            self.emit(OrderRejected, init, account_id=self.account_id,
                      reason="POST_ONLY_WOULD_CROSS")
            return
        if self.reject_market and init.order_type is OrderType.MARKET:
            self.emit(OrderRejected, init, account_id=self.account_id, reason="TEST_REJECT")
            return
        self.emit(OrderAccepted, init, account_id=self.account_id, venue_order_id=self._void(init))
        if self.auto_fill_market and init.order_type is OrderType.MARKET:
            self.fill(init, init.quantity, self.fill_px)

    def modify_order(self, command: ModifyOrder) -> None:
        self.commands.append(command)
        if self.auto_modify:
            self.emit(
                OrderUpdated, command, quantity=command.quantity or self._order(command).quantity,
                price=command.price, trigger_price=command.trigger_price,
            )

    def cancel_order(self, command: CancelOrder) -> None:
        self.commands.append(command)
        if self.auto_cancel:
            self.emit(OrderCanceled, command)

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        self.commands.append(command)

    # -- venue side ------------------------------------------------------------------------

    def emit(self, event_type: type, ref: Any, **fields: Any) -> None:
        now = self._clock.timestamp_ns()
        event = event_type(
            trader_id=TRADER_ID,
            strategy_id=ref.strategy_id,
            instrument_id=ref.instrument_id,
            client_order_id=ref.client_order_id,
            event_id=new_id(),
            ts_event=now,
            ts_init=now,
            **fields,
        )
        self._msgbus.send(EXEC_ENGINE_PROCESS, event)

    def fill(self, ref: Any, qty: Quantity, px: Price) -> None:
        order = self._order(ref)
        self.emit(
            OrderFilled, ref,
            venue_order_id=order.venue_order_id or self._void(ref),
            account_id=self.account_id,
            trade_id=TradeId(f"T-{next(self._trades)}"),
            order_side=order.side,
            order_type=order.order_type,
            last_qty=qty,
            last_px=px,
            currency=USDT,
            commission=Money.new(0, USDT),
            liquidity_side=LiquiditySide.TAKER,
        )

    def cancel(self, ref: Any) -> None:
        self.emit(OrderCanceled, ref)

    def of_type(self, command_type: type) -> list[Any]:
        return [c for c in self.commands if type(c) is command_type]

    def _void(self, ref: Any) -> VenueOrderId:
        return VenueOrderId(f"V-{ref.client_order_id}")

    def _order(self, ref: Any) -> Order:
        order = self._cache_lookup(ref.client_order_id)
        assert order is not None, ref.client_order_id
        return order

    def _would_cross(self, init: Any) -> bool:
        q = self.last_quote
        if q is None or init.price is None:
            return False
        return init.price >= q.ask_price if init.side.name == "BUY" else init.price <= q.bid_price


class Harness:
    """Everything one process of a node has, minus the data side."""

    def __init__(self, on_stop_node: Any = None) -> None:
        self.clock = TestClock(T0)
        self.msgbus = MessageBus(TRADER_ID, self.clock)
        self.cache = Cache()
        self.cache.add_instrument(instrument())
        self.risk = RiskEngine(self.msgbus, self.cache, self.clock, RiskEngineConfig(bypass=True))
        self.exec = ExecutionEngine(
            self.msgbus, self.cache, self.clock, ExecEngineConfig(reconciliation=False)
        )
        self.client = RecordingExecClient(self.msgbus, self.clock)
        self.client._cache_lookup = self.cache.order  # type: ignore[attr-defined]
        self.exec.register_client(self.client)
        self.portfolio = Portfolio(self.msgbus, self.cache, self.clock, PortfolioConfig())
        for engine in (self.risk, self.exec, self.portfolio):
            engine.start()
        self.trader = Trader(
            TRADER_ID, self.msgbus, self.cache, self.portfolio, self.clock,
            on_stop_node=on_stop_node,
        )

    def quote(
        self, bid: str, ask: str, instrument_id: InstrumentId = BTC, advance_ns: int = 10_000_000
    ) -> QuoteTick:
        """Publish a quote as the data engine would (cache first, then the topic)."""
        self.clock.advance_time(advance_ns)
        now = self.clock.timestamp_ns()
        tick = QuoteTick(
            instrument_id=instrument_id,
            bid_price=Price.from_str(bid),
            ask_price=Price.from_str(ask),
            bid_size=Quantity.from_str("1.000"),
            ask_size=Quantity.from_str("1.000"),
            ts_event=now - 1_000,
            ts_init=now,
        )
        self.client.last_quote = tick
        self.cache.add_quote_tick(tick)
        self.msgbus.publish(topics.quotes(instrument_id), tick)
        return tick
