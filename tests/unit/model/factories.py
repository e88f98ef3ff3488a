"""Builders of model objects for the model tests (plain functions, no fixtures state)."""

from __future__ import annotations

import itertools

from livenode.model import (
    AccountId,
    ClientOrderId,
    Currency,
    CurrencyPair,
    InstrumentId,
    LiquiditySide,
    Money,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderSide,
    OrderSubmitted,
    OrderTriggered,
    OrderType,
    OrderUpdated,
    PerpetualContract,
    Price,
    Quantity,
    StrategyId,
    TimeInForce,
    TradeId,
    TraderId,
    VenueOrderId,
)

USDT = Currency.from_str("USDT")
BTC = Currency.from_str("BTC")
USD = Currency.from_str("USD")
TRADER = TraderId("TRADER-001")
STRATEGY = StrategyId("EMACross-001")
BTCUSDT = InstrumentId("BTCUSDT.SIM")
ACCOUNT = AccountId("SIM-001")
COID = ClientOrderId("O-1")

_ids = itertools.count(1)


def new_id() -> str:
    """A fresh event id."""
    return f"{next(_ids):032x}"


def currency_pair(**overrides: object) -> CurrencyPair:
    """BTCUSDT.SIM: price precision 2, size precision 3, fees 0.001/0.002."""
    fields: dict[str, object] = dict(
        id=BTCUSDT,
        base_currency=BTC,
        quote_currency=USDT,
        settlement_currency=USDT,
        price_precision=2,
        size_precision=3,
        price_increment=Price(1, 2),
        size_increment=Quantity(1, 3),
        maker_fee="0.001",
        taker_fee="0.002",
        ts_event=1,
        ts_init=2,
    )
    fields.update(overrides)
    return CurrencyPair(**fields)  # type: ignore[arg-type]


def perpetual(**overrides: object) -> PerpetualContract:
    """BTC-PERP.SIM, linear, multiplier 1, price increment 0.5."""
    fields: dict[str, object] = dict(
        id=InstrumentId("BTC-PERP.SIM"),
        base_currency=BTC,
        quote_currency=USDT,
        settlement_currency=USDT,
        price_precision=1,
        size_precision=3,
        price_increment=Price(5, 1),
        size_increment=Quantity(1, 3),
        multiplier=Quantity(1, 0),
        maker_fee="-0.0001",
        taker_fee="0.0005",
        ts_event=1,
        ts_init=2,
    )
    fields.update(overrides)
    return PerpetualContract(**fields)  # type: ignore[arg-type]


def common(coid: ClientOrderId = COID, ts: int = 10) -> dict[str, object]:
    """Fields every order event has."""
    return dict(
        trader_id=TRADER,
        strategy_id=STRATEGY,
        instrument_id=BTCUSDT,
        client_order_id=coid,
        event_id=new_id(),
        ts_event=ts,
        ts_init=ts,
    )


def initialized(
    order_type: OrderType = OrderType.LIMIT,
    side: OrderSide = OrderSide.BUY,
    quantity: str = "1.000",
    coid: ClientOrderId = COID,
    **overrides: object,
) -> OrderInitialized:
    """An OrderInitialized with the fields its type needs."""
    fields: dict[str, object] = dict(
        common(coid, ts=1),
        side=side,
        order_type=order_type,
        quantity=Quantity.from_str(quantity),
        time_in_force=TimeInForce.GTC,
    )
    if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        fields["price"] = Price.from_str("100.00")
    if order_type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
        fields["trigger_price"] = Price.from_str("99.00")
    fields.update(overrides)
    return OrderInitialized(**fields)  # type: ignore[arg-type]


_trade_ids = itertools.count(1)


def filled(
    qty: str = "1.000",
    px: str = "100.00",
    side: OrderSide = OrderSide.BUY,
    coid: ClientOrderId = COID,
    commission: Money | None = None,
    order_type: OrderType = OrderType.LIMIT,
    trade_id: str | None = None,
    ts: int = 20,
    **overrides: object,
) -> OrderFilled:
    """An OrderFilled (fresh trade id unless given)."""
    fields: dict[str, object] = dict(
        common(coid, ts=ts),
        venue_order_id=VenueOrderId("V-1"),
        account_id=ACCOUNT,
        trade_id=TradeId(trade_id or f"T-{next(_trade_ids)}"),
        order_side=side,
        order_type=order_type,
        last_qty=Quantity.from_str(qty),
        last_px=Price.from_str(px),
        currency=USDT,
        commission=commission if commission is not None else Money.zero(USDT),
        liquidity_side=LiquiditySide.TAKER,
    )
    fields.update(overrides)
    return OrderFilled(**fields)  # type: ignore[arg-type]


def event(kind: type[OrderEvent], coid: ClientOrderId = COID, **overrides: object) -> OrderEvent:
    """An order event of `kind` with plausible fields (fills: see `filled`)."""
    if kind is OrderFilled:
        return filled(coid=coid, **overrides)  # type: ignore[arg-type]
    if kind is OrderInitialized:
        return initialized(coid=coid, **overrides)  # type: ignore[arg-type]
    extra: dict[type[OrderEvent], dict[str, object]] = {
        OrderDenied: dict(reason="denied"),
        OrderSubmitted: dict(account_id=ACCOUNT),
        OrderAccepted: dict(venue_order_id=VenueOrderId("V-1"), account_id=ACCOUNT),
        OrderRejected: dict(account_id=ACCOUNT, reason="rejected"),
        OrderPendingUpdate: {},
        OrderPendingCancel: {},
        OrderModifyRejected: dict(reason="no"),
        OrderCancelRejected: dict(reason="no"),
        OrderUpdated: dict(quantity=Quantity.from_str("1.000"), price=Price.from_str("101.00")),
        OrderTriggered: {},
        OrderCanceled: {},
        OrderExpired: {},
    }
    fields = dict(common(coid, ts=15), **extra[kind])
    fields.update(overrides)
    return kind(**fields)  # type: ignore[arg-type]
