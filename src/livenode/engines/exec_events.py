"""Builders of the messages an execution adapter sends to the execution engine.

`ExecEventBuilder` builds every order event, `AccountState` and the reconciliation
reports for one account, with fresh event/report ids. It only builds; sending is
the client's job (`LiveExecutionClient.generate_*` build with the client's clock
and send at once). A venue that builds its events elsewhere than in a client (the
sim venue, possibly in a process of its own) uses the builder directly, so no
adapter ever constructs an event by hand.

Every order event needs the order's identity: `about` is anything carrying
``trader_id``, ``strategy_id``, ``instrument_id`` and ``client_order_id`` (the
order's `OrderInitialized`, a command about the order, or `Order.init_event`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from livenode.core.uuid import new_id
from livenode.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)
from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport

if TYPE_CHECKING:
    from livenode.model.enums import AccountType, LiquiditySide, OrderSide, OrderType
    from livenode.model.identifiers import (
        AccountId,
        ClientOrderId,
        InstrumentId,
        PositionId,
        StrategyId,
        TradeId,
        TraderId,
        VenueOrderId,
    )
    from livenode.model.objects import AccountBalance, Currency, Money, Price, Quantity

__all__ = ["ExecEventBuilder", "OrderRef"]


class OrderRef(Protocol):
    """What names an order: its init event, a command about it, or `Order.init_event`."""

    @property
    def trader_id(self) -> TraderId: ...

    @property
    def strategy_id(self) -> StrategyId: ...

    @property
    def instrument_id(self) -> InstrumentId: ...

    @property
    def client_order_id(self) -> ClientOrderId: ...


def _ids(about: OrderRef, ts_event: int, ts_init: int) -> dict[str, Any]:
    return {
        "trader_id": about.trader_id,
        "strategy_id": about.strategy_id,
        "instrument_id": about.instrument_id,
        "client_order_id": about.client_order_id,
        "event_id": new_id(),
        "ts_event": ts_event,
        "ts_init": ts_init,
    }


class ExecEventBuilder:
    """Order events, account states and reports of one account.

    ``account_id`` may change (a venue tells its account only once attached); each
    message takes the value current when it is built. ``ts_init`` defaults to
    ``ts_event`` (the venue's time is the node's time in the simulator).
    """

    __slots__ = ("account_id",)

    def __init__(self, account_id: AccountId) -> None:
        self.account_id = account_id

    # -- order events -------------------------------------------------------------------

    def order_submitted(
        self, about: OrderRef, ts_event: int, ts_init: int | None = None
    ) -> OrderSubmitted:
        """The order left for the venue."""
        # Spelled out (no field dict): every submit builds one, on the hot path.
        return OrderSubmitted(
            trader_id=about.trader_id,
            strategy_id=about.strategy_id,
            instrument_id=about.instrument_id,
            client_order_id=about.client_order_id,
            account_id=self.account_id,
            event_id=new_id(),
            ts_event=ts_event,
            ts_init=ts_event if ts_init is None else ts_init,
        )

    def order_accepted(
        self, about: OrderRef, venue_order_id: VenueOrderId, ts_event: int,
        ts_init: int | None = None,
    ) -> OrderAccepted:
        """The venue accepted the order under `venue_order_id`."""
        return OrderAccepted(
            trader_id=about.trader_id,
            strategy_id=about.strategy_id,
            instrument_id=about.instrument_id,
            client_order_id=about.client_order_id,
            venue_order_id=venue_order_id,
            account_id=self.account_id,
            event_id=new_id(),
            ts_event=ts_event,
            ts_init=ts_event if ts_init is None else ts_init,
        )

    def order_rejected(
        self, about: OrderRef, reason: str, ts_event: int, ts_init: int | None = None
    ) -> OrderRejected:
        """The venue (or the client on the way to it) refused the order."""
        return OrderRejected(
            account_id=self.account_id, reason=reason,
            **_ids(about, ts_event, _or(ts_init, ts_event)),
        )

    def order_modify_rejected(
        self, about: OrderRef, reason: str, ts_event: int, ts_init: int | None = None
    ) -> OrderModifyRejected:
        """A modify of the order was refused."""
        return OrderModifyRejected(reason=reason, **_ids(about, ts_event, _or(ts_init, ts_event)))

    def order_cancel_rejected(
        self, about: OrderRef, reason: str, ts_event: int, ts_init: int | None = None
    ) -> OrderCancelRejected:
        """A cancel of the order was refused."""
        return OrderCancelRejected(reason=reason, **_ids(about, ts_event, _or(ts_init, ts_event)))

    def order_updated(
        self, about: OrderRef, quantity: Quantity, price: Price | None,
        trigger_price: Price | None, ts_event: int, ts_init: int | None = None,
    ) -> OrderUpdated:
        """The venue modified the order (quantity, price, trigger price now)."""
        return OrderUpdated(
            quantity=quantity, price=price, trigger_price=trigger_price,
            **_ids(about, ts_event, _or(ts_init, ts_event)),
        )

    def order_canceled(
        self, about: OrderRef, ts_event: int, ts_init: int | None = None
    ) -> OrderCanceled:
        """The venue canceled the order."""
        return OrderCanceled(**_ids(about, ts_event, _or(ts_init, ts_event)))

    def order_expired(
        self, about: OrderRef, ts_event: int, ts_init: int | None = None
    ) -> OrderExpired:
        """The order expired at the venue (GTD, DAY)."""
        return OrderExpired(**_ids(about, ts_event, _or(ts_init, ts_event)))

    def order_triggered(
        self, about: OrderRef, ts_event: int, ts_init: int | None = None
    ) -> OrderTriggered:
        """A stop-limit order's trigger price was reached."""
        return OrderTriggered(**_ids(about, ts_event, _or(ts_init, ts_event)))

    def order_filled(
        self,
        about: OrderRef,
        *,
        venue_order_id: VenueOrderId,
        trade_id: TradeId,
        order_side: OrderSide,
        order_type: OrderType,
        last_qty: Quantity,
        last_px: Price,
        commission: Money,
        liquidity_side: LiquiditySide,
        ts_event: int,
        ts_init: int | None = None,
        currency: Currency | None = None,
        position_id: PositionId | None = None,
    ) -> OrderFilled:
        """A fill of the order; `currency` (of the price) defaults to the commission's."""
        return OrderFilled(
            venue_order_id=venue_order_id,
            account_id=self.account_id,
            trade_id=trade_id,
            position_id=position_id,
            order_side=order_side,
            order_type=order_type,
            last_qty=last_qty,
            last_px=last_px,
            currency=commission.currency if currency is None else currency,
            commission=commission,
            liquidity_side=liquidity_side,
            trader_id=about.trader_id,
            strategy_id=about.strategy_id,
            instrument_id=about.instrument_id,
            client_order_id=about.client_order_id,
            event_id=new_id(),
            ts_event=ts_event,
            ts_init=ts_event if ts_init is None else ts_init,
        )

    # -- account -----------------------------------------------------------------------

    def account_state(
        self,
        account_type: AccountType,
        balances: list[AccountBalance],
        ts_event: int,
        ts_init: int | None = None,
        *,
        reported: bool = True,
        base_currency: Currency | None = None,
    ) -> AccountState:
        """The account's balances as the venue reports them."""
        return AccountState(
            account_id=self.account_id,
            account_type=account_type,
            balances=balances,
            base_currency=base_currency,
            reported=reported,
            event_id=new_id(),
            ts_event=ts_event,
            ts_init=_or(ts_init, ts_event),
        )

    # -- reconciliation reports ---------------------------------------------------------

    def order_status_report(self, ts_init: int, **fields: Any) -> OrderStatusReport:
        """An `OrderStatusReport` of this account (fields as in `model.reports`)."""
        return OrderStatusReport(
            account_id=self.account_id, report_id=new_id(), ts_init=ts_init, **fields
        )

    def fill_report(self, ts_init: int, **fields: Any) -> FillReport:
        """A `FillReport` of this account (fields as in `model.reports`)."""
        return FillReport(
            account_id=self.account_id, report_id=new_id(), ts_init=ts_init, **fields
        )

    def position_status_report(self, ts_init: int, **fields: Any) -> PositionStatusReport:
        """A `PositionStatusReport` of this account (fields as in `model.reports`)."""
        return PositionStatusReport(
            account_id=self.account_id, report_id=new_id(), ts_init=ts_init, **fields
        )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value
