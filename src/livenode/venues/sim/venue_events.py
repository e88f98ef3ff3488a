"""Model messages the simulated venue emits: order events, account states, reports.

Kept apart from `venue.py` so the venue reads as flow and this as translation
from the matching engine's raw integers to the model's value types.
"""

from __future__ import annotations

from typing import Any

from livenode.engines.exec_events import ExecEventBuilder
from livenode.model.enums import (
    AccountType,
    LiquiditySide,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
)
from livenode.model.events import (
    AccountState,
    OrderCancelRejected,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderUpdated,
)
from livenode.model.identifiers import ClientOrderId, TradeId, VenueOrderId
from livenode.model.instruments import Instrument
from livenode.model.objects import AccountBalance, Currency, Money, Price, Quantity
from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport
from livenode.venues.sim.account import NetPosition, SimCashAccount
from livenode.venues.sim.matching import (
    ACCEPTED,
    CANCEL_REJECTED,
    CANCELED,
    EXPIRED,
    MODIFY_REJECTED,
    REJECTED,
    TRIGGERED,
    UPDATED,
    Fill,
    SimOrder,
    Status,
)

_SIDE = {s.value: s for s in OrderSide}
_TYPE = {t.value: t for t in OrderType}
_TIF = {t.value: t for t in TimeInForce}
_STATUS = {s.value: s for s in OrderStatus}
_LIQ = {s.value: s for s in LiquiditySide}


def currency_of(code: str) -> Currency:
    """The model currency for a code; unknown codes get precision 8 (crypto-like)."""
    try:
        return Currency.from_str(code)
    except ValueError:
        return Currency(code, 8)


class EventFactory:
    """Builds the venue's outgoing messages for one account, with the seam's
    `ExecEventBuilder` (this class only translates the matching engine's integers)."""

    def __init__(
        self, account_id: Any, instruments: dict[str, Instrument], account: SimCashAccount
    ) -> None:
        self._build = ExecEventBuilder(account_id)
        self._instruments = instruments
        self._account = account
        self._currencies: dict[str, Currency] = {}

    @property
    def account_id(self) -> Any:
        """The account the messages are for."""
        return self._build.account_id

    @account_id.setter
    def account_id(self, value: Any) -> None:
        self._build.account_id = value

    def _ccy(self, code: str) -> Currency:
        ccy = self._currencies.get(code)
        if ccy is None:
            ccy = self._currencies[code] = currency_of(code)
        return ccy

    # -- order events -----------------------------------------------------------------

    def rejected(self, init: Any, reason: str, ts: int) -> OrderRejected:
        return self._build.order_rejected(init, reason, ts)

    def command_rejected(
        self, command: Any, what: str, reason: str, ts: int
    ) -> OrderModifyRejected | OrderCancelRejected:
        if what == "modify":
            return self._build.order_modify_rejected(command, reason, ts)
        return self._build.order_cancel_rejected(command, reason, ts)

    def status(self, action: Status, command: Any) -> Any:
        order = action.order
        kind = action.kind
        ts = action.ts
        if order.tag is None:  # an order the venue never saw: answer from the command
            return self.command_rejected(
                command, "modify" if kind == MODIFY_REJECTED else "cancel", action.reason, ts
            )
        init = order.tag[0]
        build = self._build
        if kind == ACCEPTED:
            return build.order_accepted(init, VenueOrderId(order.venue_order_id), ts)
        if kind == REJECTED:
            return build.order_rejected(init, action.reason, ts)
        if kind == CANCELED:
            return build.order_canceled(init, ts)
        if kind == EXPIRED:
            return build.order_expired(init, ts)
        if kind == TRIGGERED:
            return build.order_triggered(init, ts)
        if kind == UPDATED:
            return self._updated(order, init, ts)
        if kind == MODIFY_REJECTED:
            return build.order_modify_rejected(init, action.reason, ts)
        if kind == CANCEL_REJECTED:
            return build.order_cancel_rejected(init, action.reason, ts)
        raise ValueError(f"unknown matching action {kind!r}")

    def _updated(self, order: SimOrder, init: Any, ts: int) -> OrderUpdated:
        inst = self._instrument_of(init)
        pp, sp = inst.price_precision, inst.size_precision
        return self._build.order_updated(
            init,
            Quantity(order.quantity, sp),
            None if order.price is None else Price(order.price, pp),
            None if order.trigger_price is None else Price(order.trigger_price, pp),
            ts,
        )

    def _instrument_of(self, init: Any) -> Instrument:
        return self._instruments[init.instrument_id.symbol.value]

    def filled(self, fill: Fill) -> OrderFilled:
        order = fill.order
        init, position_id = order.tag
        inst = self._instrument_of(init)
        ccy = inst.quote_currency
        return self._build.order_filled(
            init,
            venue_order_id=VenueOrderId(order.venue_order_id),
            trade_id=TradeId(fill.trade_id),
            position_id=position_id,
            order_side=init.side,
            order_type=init.order_type,
            last_qty=Quantity(fill.qty, inst.size_precision),
            last_px=Price(fill.price, inst.price_precision),
            currency=ccy,
            commission=Money(fill.commission, ccy.precision, ccy),
            liquidity_side=_LIQ[fill.liquidity],
            ts_event=fill.ts,
        )

    # -- account ----------------------------------------------------------------------

    def account_state(self, ts_event: int, ts_init: int) -> AccountState:
        acct = self._account
        balances = []
        for code in acct.currencies():
            ccy = self._ccy(code)
            p = ccy.precision
            total = acct.totals[code]
            locked = acct.locked(code)
            balances.append(
                AccountBalance(
                    total=Money(total, p, ccy),
                    locked=Money(locked, p, ccy),
                    free=Money(total - locked, p, ccy),
                )
            )
        return self._build.account_state(AccountType.CASH, balances, ts_event, ts_init)

    # -- reports ----------------------------------------------------------------------

    def order_status_report(self, order: SimOrder, ts: int) -> OrderStatusReport:
        init = order.tag[0]
        inst = self._instrument_of(init)
        pp, sp = inst.price_precision, inst.size_precision
        return self._build.order_status_report(
            ts,
            instrument_id=init.instrument_id,
            client_order_id=init.client_order_id,
            venue_order_id=VenueOrderId(order.venue_order_id),
            order_side=_SIDE[order.side],
            order_type=_TYPE[order.order_type],
            time_in_force=_TIF[order.time_in_force],
            order_status=_STATUS[order.status],
            quantity=Quantity(order.quantity, sp),
            filled_qty=Quantity(order.filled, sp),
            price=None if order.price is None else Price(order.price, pp),
            trigger_price=None if order.trigger_price is None else Price(order.trigger_price, pp),
            avg_px=order.avg_px,
            expire_time_ns=order.expire_time_ns,
            post_only=order.post_only,
            reduce_only=order.reduce_only,
            ts_accepted=order.ts_accepted,
            ts_last=order.ts_last,
        )

    def fill_report(self, fill: Fill, ts: int) -> FillReport:
        init = fill.order.tag[0]
        inst = self._instrument_of(init)
        ccy = inst.quote_currency
        return self._build.fill_report(
            ts,
            instrument_id=init.instrument_id,
            venue_order_id=VenueOrderId(fill.order.venue_order_id),
            client_order_id=ClientOrderId(fill.order.client_order_id),
            trade_id=TradeId(fill.trade_id),
            order_side=_SIDE[fill.order.side],
            last_qty=Quantity(fill.qty, inst.size_precision),
            last_px=Price(fill.price, inst.price_precision),
            commission=Money(fill.commission, ccy.precision, ccy),
            liquidity_side=_LIQ[fill.liquidity],
            ts_event=fill.ts,
        )

    def position_report(self, symbol: str, pos: NetPosition, ts: int) -> PositionStatusReport:
        inst = self._instruments[symbol]
        side = PositionSide.FLAT if pos.qty == 0 else (
            PositionSide.LONG if pos.qty > 0 else PositionSide.SHORT
        )
        avg = None
        if pos.qty:
            avg = float(pos.cost / pos.qty / 10**inst.price_precision)
        return self._build.position_status_report(
            ts,
            instrument_id=inst.id,
            position_side=side,
            quantity=Quantity(abs(pos.qty), inst.size_precision),
            avg_px_open=avg,
            ts_last=pos.ts_last,
        )
