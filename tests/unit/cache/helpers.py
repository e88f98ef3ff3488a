"""Builders of model objects for the cache tests."""

from __future__ import annotations

from itertools import count

from livenode.core.uuid import new_id
from livenode.model.data import Bar, BarSpecification, BarType, QuoteTick, TradeTick
from livenode.model.enums import (
    AggressorSide,
    BarAggregation,
    LiquiditySide,
    OrderSide,
    OrderType,
    PriceType,
)
from livenode.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderInitialized,
    OrderPendingCancel,
    OrderRejected,
    OrderSubmitted,
)
from livenode.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    StrategyId,
    TradeId,
    TraderId,
    VenueOrderId,
)
from livenode.model.instruments import CurrencyPair, PerpetualContract
from livenode.model.objects import Currency, Money, Price, Quantity

BTCUSDT_SIM = InstrumentId.from_str("BTCUSDT.SIM")
ETHUSDT_SIM = InstrumentId.from_str("ETHUSDT.SIM")
BTCPERP_OTHER = InstrumentId.from_str("BTCUSDT-PERP.OTHER")


def pair(instrument_id: InstrumentId = BTCUSDT_SIM, ts: int = 0) -> CurrencyPair:
    base = Currency.from_str("ETH" if instrument_id.symbol.value.startswith("ETH") else "BTC")
    return CurrencyPair(
        id=instrument_id,
        base_currency=base,
        quote_currency=Currency.from_str("USDT"),
        settlement_currency=Currency.from_str("USDT"),
        price_precision=2,
        size_precision=3,
        price_increment=Price.from_str("0.01"),
        size_increment=Quantity.from_str("0.001"),
        ts_event=ts,
        ts_init=ts,
    )


def perp(instrument_id: InstrumentId = BTCPERP_OTHER) -> PerpetualContract:
    usdt = Currency.from_str("USDT")
    return PerpetualContract(
        id=instrument_id,
        base_currency=Currency.from_str("BTC"),
        quote_currency=usdt,
        settlement_currency=usdt,
        price_precision=1,
        size_precision=3,
        price_increment=Price.from_str("0.1"),
        size_increment=Quantity.from_str("0.001"),
        ts_event=0,
        ts_init=0,
    )


def quote(
    bid: str, ask: str, instrument_id: InstrumentId = BTCUSDT_SIM, ts: int = 0
) -> QuoteTick:
    return QuoteTick(
        instrument_id=instrument_id,
        bid_price=Price.from_str(bid),
        ask_price=Price.from_str(ask),
        bid_size=Quantity.from_str("1.000"),
        ask_size=Quantity.from_str("2.000"),
        ts_event=ts,
        ts_init=ts,
    )


def trade(px: str, instrument_id: InstrumentId = BTCUSDT_SIM, ts: int = 0) -> TradeTick:
    return TradeTick(
        instrument_id=instrument_id,
        price=Price.from_str(px),
        size=Quantity.from_str("0.500"),
        aggressor_side=AggressorSide.BUYER,
        trade_id=TradeId(f"T-{ts}"),
        ts_event=ts,
        ts_init=ts,
    )


def bar_type(instrument_id: InstrumentId = BTCUSDT_SIM, step: int = 1) -> BarType:
    return BarType(
        instrument_id=instrument_id,
        spec=BarSpecification(
            step=step, aggregation=BarAggregation.SECOND, price_type=PriceType.MID
        ),
    )


def bar(close: str, bt: BarType | None = None, ts: int = 0) -> Bar:
    c = Price.from_str(close)
    return Bar(
        bar_type=bt or bar_type(),
        open=c,
        high=c,
        low=c,
        close=c,
        volume=Quantity.from_str("1.000"),
        ts_event=ts,
        ts_init=ts,
    )


# -- orders -----------------------------------------------------------------------------------

TRADER = TraderId("TRADER-001")
EMA = StrategyId("EMACross-001")
MM = StrategyId("MarketMaker-001")
_ids = count(1)
_trades = count(1)


def account_for(instrument_id: InstrumentId) -> AccountId:
    return AccountId(f"{instrument_id.venue}-001")


def _common(init: OrderInitialized) -> dict[str, object]:
    return dict(
        trader_id=init.trader_id,
        strategy_id=init.strategy_id,
        instrument_id=init.instrument_id,
        client_order_id=init.client_order_id,
        event_id=new_id(),
        ts_event=0,
        ts_init=0,
    )


def order_init(
    instrument_id: InstrumentId = BTCUSDT_SIM,
    strategy_id: StrategyId = EMA,
    side: OrderSide = OrderSide.BUY,
    qty: str = "1.000",
    price: str = "100.00",
    cid: str | None = None,
) -> OrderInitialized:
    return OrderInitialized(
        trader_id=TRADER,
        strategy_id=strategy_id,
        instrument_id=instrument_id,
        client_order_id=ClientOrderId(cid or f"O-{next(_ids)}"),
        event_id=new_id(),
        ts_event=0,
        ts_init=0,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=Quantity.from_str(qty),
        price=Price.from_str(price),
    )


def submitted(init: OrderInitialized) -> OrderSubmitted:
    return OrderSubmitted(account_id=account_for(init.instrument_id), **_common(init))


def accepted(init: OrderInitialized) -> OrderAccepted:
    return OrderAccepted(
        venue_order_id=VenueOrderId(f"V-{init.client_order_id}"),
        account_id=account_for(init.instrument_id),
        **_common(init),
    )


def rejected(init: OrderInitialized) -> OrderRejected:
    return OrderRejected(account_id=account_for(init.instrument_id), reason="no", **_common(init))


def denied(init: OrderInitialized) -> OrderDenied:
    return OrderDenied(reason="risk says no", **_common(init))


def pending_cancel(init: OrderInitialized) -> OrderPendingCancel:
    return OrderPendingCancel(**_common(init))


def canceled(init: OrderInitialized) -> OrderCanceled:
    return OrderCanceled(**_common(init))


def filled(init: OrderInitialized, qty: str | None = None) -> OrderFilled:
    usdt = Currency.from_str("USDT")
    return OrderFilled(
        venue_order_id=VenueOrderId(f"V-{init.client_order_id}"),
        account_id=account_for(init.instrument_id),
        trade_id=TradeId(f"F-{next(_trades)}"),
        order_side=init.side,
        order_type=init.order_type,
        last_qty=Quantity.from_str(qty) if qty else init.quantity,
        last_px=init.price or Price.from_str("100.00"),
        currency=usdt,
        commission=Money.new("0.01", usdt),
        liquidity_side=LiquiditySide.MAKER,
        **_common(init),
    )


def apply(order: object, *events: OrderEvent) -> None:
    for event in events:
        order.apply(event)  # type: ignore[attr-defined]
