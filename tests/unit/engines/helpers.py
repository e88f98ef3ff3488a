"""Builders and small recording clients for the engine tests.

The recording clients offer what the engines call of `livenode.engines.clients`
(duck-typed, not subclasses of the seam's classes): they
are the engines' own edge (the sim venue is tested with the adapters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from livenode.bus.message_bus import MessageBus
from livenode.cache.cache import Cache
from livenode.core.clock import TestClock
from livenode.core.uuid import new_id
from livenode.model.commands import (
    CancelOrder,
    ModifyOrder,
    SubmitOrder,
)
from livenode.model.data import BarType, QuoteTick, TradeTick
from livenode.model.enums import (
    AccountType,
    AggressorSide,
    LiquiditySide,
    OrderSide,
    OrderType,
)
from livenode.model.events import (
    AccountState,
    OrderAccepted,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
)
from livenode.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    StrategyId,
    TradeId,
    TraderId,
    Venue,
    VenueOrderId,
)
from livenode.model.instruments import CurrencyPair
from livenode.model.objects import AccountBalance, Currency, Money, Price, Quantity

SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC
SIM = Venue("SIM")
IID = InstrumentId("BTCUSDT.SIM")
TRADER = TraderId("TRADER-001")
STRAT = StrategyId("S-001")
ACCOUNT = AccountId("SIM-001")
USDT = Currency.from_str("USDT")
BTC = Currency.from_str("BTC")


def make_instrument(**overrides: Any) -> CurrencyPair:
    """BTCUSDT.SIM: tick 0.01, lot 0.001, qty 0.001..100, notional 10..1,000,000 USDT."""
    fields: dict[str, Any] = dict(
        id=IID,
        base_currency=BTC,
        quote_currency=USDT,
        settlement_currency=USDT,
        price_precision=2,
        size_precision=3,
        price_increment=Price.from_str("0.01"),
        size_increment=Quantity.from_str("0.001"),
        min_quantity=Quantity.from_str("0.001"),
        max_quantity=Quantity.from_str("100.000"),
        min_notional=Money.new("10", USDT),
        max_notional=Money.new("1000000", USDT),
        maker_fee="0.0005",
        taker_fee="0.001",
        ts_event=0,
        ts_init=0,
    )
    fields.update(overrides)
    return CurrencyPair(**fields)


def quote(bid: str, ask: str, ts: int = T0, iid: InstrumentId = IID) -> QuoteTick:
    return QuoteTick(
        iid, Price.from_str(bid), Price.from_str(ask), Quantity.from_str("1.000"),
        Quantity.from_str("2.000"), ts, ts,
    )


def trade(px: str, size: str = "1.000", ts: int = T0, n: int = 1) -> TradeTick:
    return TradeTick(
        IID, Price.from_str(px), Quantity.from_str(size), AggressorSide.BUYER,
        TradeId(f"T-{n}"), ts, ts,
    )


def order_init(
    side: OrderSide = OrderSide.BUY,
    qty: str = "1.000",
    price: str | None = "100.00",
    order_type: OrderType | None = None,
    trigger: str | None = None,
    coid: str | None = None,
    strategy_id: StrategyId = STRAT,
    reduce_only: bool = False,
    iid: InstrumentId = IID,
) -> OrderInitialized:
    if order_type is None:
        order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
    return OrderInitialized(
        trader_id=TRADER,
        strategy_id=strategy_id,
        instrument_id=iid,
        client_order_id=ClientOrderId(coid or f"O-{new_id()[:12]}"),
        side=side,
        order_type=order_type,
        quantity=Quantity.from_str(qty),
        price=Price.from_str(price) if price is not None else None,
        trigger_price=Price.from_str(trigger) if trigger is not None else None,
        reduce_only=reduce_only,
        event_id=new_id(),
        ts_event=T0,
        ts_init=T0,
    )


def submit(init: OrderInitialized, position_id: Any = None) -> SubmitOrder:
    return SubmitOrder(
        trader_id=init.trader_id, strategy_id=init.strategy_id, command_id=new_id(),
        ts_init=T0, ts_trigger=T0, order=init, position_id=position_id,
    )


def modify(coid: ClientOrderId, qty: str | None = None, price: str | None = None,
           trigger: str | None = None) -> ModifyOrder:
    return ModifyOrder(
        trader_id=TRADER, strategy_id=STRAT, command_id=new_id(), ts_init=T0, ts_trigger=T0,
        instrument_id=IID, client_order_id=coid,
        quantity=Quantity.from_str(qty) if qty else None,
        price=Price.from_str(price) if price else None,
        trigger_price=Price.from_str(trigger) if trigger else None,
    )


def cancel(coid: ClientOrderId, iid: InstrumentId = IID) -> CancelOrder:
    return CancelOrder(
        trader_id=TRADER, strategy_id=STRAT, command_id=new_id(), ts_init=T0, ts_trigger=T0,
        instrument_id=iid, client_order_id=coid,
    )


def _event_fields(init: OrderInitialized, ts: int = T0) -> dict[str, Any]:
    return dict(
        trader_id=init.trader_id, strategy_id=init.strategy_id, instrument_id=init.instrument_id,
        client_order_id=init.client_order_id, event_id=new_id(), ts_event=ts, ts_init=ts,
    )


def submitted(init: OrderInitialized) -> OrderSubmitted:
    return OrderSubmitted(account_id=ACCOUNT, **_event_fields(init))


def accepted(init: OrderInitialized, vid: str = "V-1") -> OrderAccepted:
    return OrderAccepted(
        venue_order_id=VenueOrderId(vid), account_id=ACCOUNT, **_event_fields(init)
    )


def filled(
    init: OrderInitialized, qty: str, px: str, trade_id: str, commission: str = "0",
    vid: str = "V-1",
) -> OrderFilled:
    return OrderFilled(
        venue_order_id=VenueOrderId(vid), account_id=ACCOUNT, trade_id=TradeId(trade_id),
        order_side=init.side, order_type=init.order_type, last_qty=Quantity.from_str(qty),
        last_px=Price.from_str(px), currency=USDT, commission=Money.new(commission, USDT),
        liquidity_side=LiquiditySide.TAKER, **_event_fields(init),
    )


def account_state(
    usdt_free: str = "100000", btc_free: str = "10", account_type: AccountType = AccountType.CASH,
    account_id: AccountId = ACCOUNT, ts: int = T0,
) -> AccountState:
    balances = []
    for currency, free in ((USDT, usdt_free), (BTC, btc_free)):
        money = Money.new(free, currency)
        balances.append(AccountBalance(money, Money.zero(currency), money))
    return AccountState(
        account_id=account_id, account_type=account_type, balances=balances,
        event_id=new_id(), ts_event=ts, ts_init=ts,
    )


@dataclass
class Env:
    """The collaborators every engine takes."""

    clock: TestClock
    msgbus: MessageBus
    cache: Cache

    def record(self, pattern: str) -> list[Any]:
        """Subscribe a recorder to `pattern`; return its list."""
        got: list[Any] = []
        self.msgbus.subscribe(pattern, got.append)
        return got


def make_env() -> Env:
    clock = TestClock(T0)
    return Env(clock, MessageBus(TRADER, clock), Cache())


class RecordingDataClient:
    """A data client that records the calls the engine makes."""

    def __init__(
        self, venue: Venue = SIM, venue_bars: bool = False, name: str = "SIM-DATA"
    ) -> None:
        self.name = name
        self.venue = venue
        self.is_connected = True
        self.venue_bars = venue_bars
        self.calls: list[tuple[str, Any]] = []
        self.fail_on: set[str] = set()

    def _call(self, method: str, arg: Any) -> None:
        if method in self.fail_on:
            raise RuntimeError(f"{method} failed")
        self.calls.append((method, arg))

    def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        self._call("subscribe_quote_ticks", instrument_id)

    def unsubscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        self._call("unsubscribe_quote_ticks", instrument_id)

    def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        self._call("subscribe_trade_ticks", instrument_id)

    def unsubscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        self._call("unsubscribe_trade_ticks", instrument_id)

    def subscribe_bars(self, bar_type: BarType) -> bool:
        self._call("subscribe_bars", bar_type)
        return self.venue_bars

    def unsubscribe_bars(self, bar_type: BarType) -> None:
        self._call("unsubscribe_bars", bar_type)


@dataclass
class RecordingExecClient:
    """An execution client that records commands and serves canned reports."""

    venue: Venue = SIM
    account_id: AccountId = ACCOUNT
    name: str = "SIM-EXEC"
    is_connected: bool = True
    commands: list[Any] = field(default_factory=list)
    order_reports: list[Any] = field(default_factory=list)
    fill_reports: list[Any] = field(default_factory=list)
    position_reports: list[Any] = field(default_factory=list)
    # Orders the venue no longer holds open, served only when asked for by id.
    closed_reports: list[Any] = field(default_factory=list)
    asked_for: list[Any] = field(default_factory=list)
    fail: bool = False
    report_delay: Any = None  # an asyncio.Event to wait on before reporting
    # The account's balances at the venue (None: the venue cannot report them).
    balance_reports: list[Any] | None = None
    # The instruments the client knows at the venue (LiveExecutionClient.venue_instruments).
    instruments: list[Any] = field(default_factory=list)
    # What the audit may ask (LiveExecutionClient.audit_scope).
    scope: frozenset[str] = frozenset({"orders", "positions", "balances", "fills"})

    def _record(self, command: Any) -> None:
        if self.fail:
            raise RuntimeError("venue down")
        self.commands.append(command)

    def submit_order(self, command: Any) -> None:
        self._record(command)

    def modify_order(self, command: Any) -> None:
        self._record(command)

    def cancel_order(self, command: Any) -> None:
        self._record(command)

    def cancel_all_orders(self, command: Any) -> None:
        self._record(command)

    async def generate_order_status_reports(self) -> list[Any]:
        if self.report_delay is not None:
            await self.report_delay.wait()
        return list(self.order_reports)

    async def generate_order_status_reports_for(self, client_order_ids: list[Any]) -> list[Any]:
        self.asked_for.extend(client_order_ids)
        return [r for r in self.closed_reports if r.client_order_id in client_order_ids]

    async def generate_fill_reports(self) -> list[Any]:
        return list(self.fill_reports)

    async def generate_position_status_reports(self) -> list[Any]:
        return list(self.position_reports)

    async def generate_balance_reports(self) -> list[Any] | None:
        return None if self.balance_reports is None else list(self.balance_reports)

    def audit_scope(self) -> frozenset[str]:
        return self.scope

    def venue_instruments(self) -> list[Any]:
        return list(self.instruments)


