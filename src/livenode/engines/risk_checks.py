"""The order checks of the risk engine, and its denial reason codes.

Kept apart from `risk_engine` so the engine module stays about routing and state,
and each check can be read on its own. A check returns None when the order
passes, or the denial reason: a code from below, ": ", and the detail.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from livenode.model.enums import AccountType, OrderSide, OrderType
from livenode.model.fixed_point import POW10, parse_decimal
from livenode.model.instruments import PerpetualContract

if TYPE_CHECKING:
    from livenode.model.commands import ModifyOrder
    from livenode.model.events import OrderInitialized
    from livenode.model.identifiers import InstrumentId, PositionId, StrategyId
    from livenode.model.objects import Currency, Price, Quantity

__all__ = [
    "REASON_CODES",
    "OrderChecks",
    "net_position_from_cache",
    "reason_code",
    "would_increase",
]

# Reason codes: stable API (strategies and tests match on them).
TRADING_HALTED = "TRADING_HALTED"
REDUCING_WOULD_INCREASE = "REDUCING_WOULD_INCREASE"
DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
INSTRUMENT_UNKNOWN = "INSTRUMENT_UNKNOWN"
PRICE_MISSING = "PRICE_MISSING"
PRICE_NOT_POSITIVE = "PRICE_NOT_POSITIVE"
PRICE_PRECISION = "PRICE_PRECISION"
PRICE_INCREMENT = "PRICE_INCREMENT"
TRIGGER_PRICE_MISSING = "TRIGGER_PRICE_MISSING"
TRIGGER_PRICE_NOT_POSITIVE = "TRIGGER_PRICE_NOT_POSITIVE"
TRIGGER_PRICE_PRECISION = "TRIGGER_PRICE_PRECISION"
TRIGGER_PRICE_INCREMENT = "TRIGGER_PRICE_INCREMENT"
QUANTITY_NOT_POSITIVE = "QUANTITY_NOT_POSITIVE"
QUANTITY_PRECISION = "QUANTITY_PRECISION"
QUANTITY_INCREMENT = "QUANTITY_INCREMENT"
QUANTITY_BELOW_MIN = "QUANTITY_BELOW_MIN"
QUANTITY_ABOVE_MAX = "QUANTITY_ABOVE_MAX"
NO_MARKET_PRICE = "NO_MARKET_PRICE"
NOTIONAL_EXCEEDS_MAX_PER_ORDER = "NOTIONAL_EXCEEDS_MAX_PER_ORDER"
NOTIONAL_BELOW_MIN = "NOTIONAL_BELOW_MIN"
NOTIONAL_ABOVE_MAX = "NOTIONAL_ABOVE_MAX"
INSUFFICIENT_FREE_BALANCE = "INSUFFICIENT_FREE_BALANCE"
REDUCE_ONLY_WOULD_INCREASE = "REDUCE_ONLY_WOULD_INCREASE"
SUBMIT_RATE_EXCEEDED = "SUBMIT_RATE_EXCEEDED"
MODIFY_RATE_EXCEEDED = "MODIFY_RATE_EXCEEDED"
ORDER_UNKNOWN = "ORDER_UNKNOWN"
ORDER_CLOSED = "ORDER_CLOSED"
#: This process's state did not reach the state the command's sender decided on
#: within `[risk_engine] state_wait` (`livenode.engines.state_gate`).
STATE_BEHIND = "STATE_BEHIND"

REASON_CODES: frozenset[str] = frozenset(
    {
        TRADING_HALTED, REDUCING_WOULD_INCREASE, DUPLICATE_CLIENT_ORDER_ID, INSTRUMENT_UNKNOWN,
        PRICE_MISSING, PRICE_NOT_POSITIVE, PRICE_PRECISION, PRICE_INCREMENT,
        TRIGGER_PRICE_MISSING, TRIGGER_PRICE_NOT_POSITIVE, TRIGGER_PRICE_PRECISION,
        TRIGGER_PRICE_INCREMENT, QUANTITY_NOT_POSITIVE, QUANTITY_PRECISION, QUANTITY_INCREMENT,
        QUANTITY_BELOW_MIN, QUANTITY_ABOVE_MAX, NO_MARKET_PRICE, NOTIONAL_EXCEEDS_MAX_PER_ORDER,
        NOTIONAL_BELOW_MIN, NOTIONAL_ABOVE_MAX, INSUFFICIENT_FREE_BALANCE,
        REDUCE_ONLY_WOULD_INCREASE, SUBMIT_RATE_EXCEEDED, MODIFY_RATE_EXCEEDED, ORDER_UNKNOWN,
        ORDER_CLOSED, STATE_BEHIND,
    }
)

_PRICED = (OrderType.LIMIT, OrderType.STOP_LIMIT)
_TRIGGERED = (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
# Module constants: reading a member through its Enum class costs ~130 ns on
# Python 3.11, and these are read for every order.
_STOP_MARKET = OrderType.STOP_MARKET
_BUY = OrderSide.BUY
_CASH = AccountType.CASH


def reason_code(reason: str) -> str:
    """The code of a denial reason (the part before the first ':')."""
    return reason.split(":", 1)[0]


def would_increase(side: OrderSide, net: Decimal, qty: Decimal) -> bool:
    """True if trading `qty` on `side` against net position `net` adds exposure.

    Adding to the position's side, opening from flat, or reversing through flat
    (ending with a larger position on the other side) all count.
    """
    signed = qty if side is OrderSide.BUY else -qty
    after = net + signed
    return abs(after) > abs(net) or (after != 0 and (after > 0) != (net > 0))


def net_position_from_cache(
    cache: Any, instrument_id: InstrumentId, strategy_id: StrategyId | None = None
) -> Decimal:
    """Signed net quantity of the cache's open positions of an instrument."""
    total = Decimal(0)
    for position in cache.positions_open(instrument_id=instrument_id, strategy_id=strategy_id):
        total += _signed(position)
    return total


def _signed(position: Any) -> Decimal:
    qty: Decimal = position.quantity.as_decimal()
    return qty if position.signed_qty >= 0 else -qty


@lru_cache(maxsize=1024)
def _fee_rate(text: str) -> tuple[int, int]:
    """A fee rate string as (raw, precision), memoised (instruments carry few rates)."""
    return parse_decimal(text, "fee rate")


def _raw_lt(a: Any, b: Any) -> bool:
    """Exact `a < b` for two fixed-point values, on their scaled integers."""
    pa: int = a.precision
    pb: int = b.precision
    if pa == pb:
        return bool(a.raw < b.raw)
    if pa > pb:
        return bool(a.raw < b.raw * POW10[pa - pb])
    return bool(a.raw * POW10[pb - pa] < b.raw)


def _money_lt(a: Any, b: Any) -> bool:
    """`a < b` for two Money: on the scaled integers when the currencies match,
    else Money's own comparison (which refuses to mix currencies)."""
    if a.currency == b.currency:
        return _raw_lt(a, b)
    return bool(a < b)


def _multiple(value: Any, increment: Any) -> bool:
    """Exact: is `value` an integer multiple of `increment` (Price or Quantity)?"""
    p: int = max(value.precision, increment.precision)
    inc: int = increment.raw * 10 ** (p - increment.precision)
    if inc == 0:
        return True
    scaled: int = value.raw * 10 ** (p - value.precision)
    return scaled % inc == 0


class OrderChecks:
    """Instrument, price, quantity, notional, balance and reduce-only checks.

    Args:
        cache: instruments, quotes, positions, accounts.
        net_position: `(instrument_id, strategy_id) -> Decimal`, the signed net
            position (the portfolio's or the cache's).
    """

    def __init__(
        self, cache: Any, net_position: Callable[[InstrumentId, StrategyId | None], Decimal]
    ) -> None:
        self._cache = cache
        self._net_position = net_position

    def check_order(
        self,
        init: OrderInitialized,
        position_id: PositionId | None,
        max_notional: Decimal | None,
    ) -> str | None:
        """Every check of a new order that does not depend on the engine's state."""
        iid = init.instrument_id
        instrument = self._cache.instrument(iid)
        if instrument is None:
            return f"{INSTRUMENT_UNKNOWN}: {iid}"
        order_type = init.order_type
        if order_type in _PRICED:
            if init.price is None:
                return f"{PRICE_MISSING}: a {order_type.value} order needs a price"
            reason = check_price(init.price, instrument, "price", PRICE_NOT_POSITIVE,
                                 PRICE_PRECISION, PRICE_INCREMENT)
            if reason:
                return reason
        if order_type in _TRIGGERED:
            if init.trigger_price is None:
                return f"{TRIGGER_PRICE_MISSING}: a {order_type.value} order needs a trigger price"
            reason = check_price(init.trigger_price, instrument, "trigger price",
                                 TRIGGER_PRICE_NOT_POSITIVE, TRIGGER_PRICE_PRECISION,
                                 TRIGGER_PRICE_INCREMENT)
            if reason:
                return reason
        reason = check_quantity(init.quantity, instrument)
        if reason:
            return reason
        if init.reduce_only:
            reason = self._check_reduce_only(init, position_id)
            if reason:
                return reason
        # Notional at the price the order would trade at: its limit, its trigger
        # for stop-market, the touch (ask for buys, bid for sells) for market.
        if order_type in _PRICED:
            px = init.price
        elif order_type is _STOP_MARKET:
            px = init.trigger_price
        else:
            quote = self._cache.quote_tick(iid)
            if quote is None:
                return f"{NO_MARKET_PRICE}: no quote for {iid} to value a MARKET order"
            px = quote.ask_price if init.side is _BUY else quote.bid_price
        notional = instrument.notional_value(init.quantity, px)
        # The per-order cap guards against opening too much at once; a reduce-only
        # order (checked above not to increase the position) only takes exposure
        # off, and blocking it would keep a position open: it is exempt.
        reason = check_notional(notional, instrument, None if init.reduce_only else max_notional)
        if reason:
            return reason
        # A reduce-only order releases exposure rather than spending cash.
        if not init.reduce_only:
            return self._check_balance(init, instrument, notional)
        return None

    def check_modify(self, command: ModifyOrder) -> str | None:
        """Precision and increments of a modify's new price, trigger and quantity."""
        instrument = self._cache.instrument(command.instrument_id)
        if instrument is None:
            return f"{INSTRUMENT_UNKNOWN}: {command.instrument_id}"
        if command.price is not None:
            reason = check_price(command.price, instrument, "price", PRICE_NOT_POSITIVE,
                                 PRICE_PRECISION, PRICE_INCREMENT)
            if reason:
                return reason
        if command.trigger_price is not None:
            reason = check_price(command.trigger_price, instrument, "trigger price",
                                 TRIGGER_PRICE_NOT_POSITIVE, TRIGGER_PRICE_PRECISION,
                                 TRIGGER_PRICE_INCREMENT)
            if reason:
                return reason
        if command.quantity is not None:
            return check_quantity(command.quantity, instrument)
        return None

    def _check_reduce_only(
        self, init: OrderInitialized, position_id: PositionId | None
    ) -> str | None:
        # The strategy's own (netting) position: reduce-only orders reduce what
        # the submitting strategy holds.
        if position_id is not None:
            position = self._cache.position(position_id)
            net = Decimal(0) if position is None or not position.is_open else _signed(position)
        else:
            net = self._net_position(init.instrument_id, init.strategy_id)
        qty = init.quantity.as_decimal()
        if would_increase(init.side, net, qty):
            return (
                f"{REDUCE_ONLY_WOULD_INCREASE}: {init.side.value} {init.quantity} against "
                f"position {net} of {init.strategy_id}"
            )
        return None

    def _check_balance(self, init: OrderInitialized, instrument: Any, notional: Any) -> str | None:
        account = self._cache.account_for_venue(init.instrument_id.venue)
        # Margin accounts are checked by the venue (margin models differ); with
        # no account yet there is nothing to check against.
        if account is None or account.account_type is not _CASH:
            return None
        currency: Currency | None
        # What the order needs, exactly, as need_raw / 10**need_precision: the
        # notional plus the taker fee, or the quantity sold. Scaled integers: no
        # Decimal unless the check fails and the reason is formatted.
        if isinstance(instrument, PerpetualContract) or init.side is _BUY:
            # A derivative is margined in its settlement currency on either side
            # (no base currency changes hands); checked at leverage 1, conservatively.
            if isinstance(instrument, PerpetualContract):
                currency = instrument.settlement_currency
            else:
                currency = instrument.quote_currency
            fee_raw, fee_precision = _fee_rate(instrument.taker_fee)
            need_raw = notional.raw * (POW10[fee_precision] + fee_raw)
            need_precision = notional.precision + fee_precision
        else:
            currency = getattr(instrument, "base_currency", None)
            if currency is None:
                return None
            need_raw = init.quantity.raw
            need_precision = init.quantity.precision
        balance = account.balance(currency)
        if balance is not None:
            free = balance.free
            enough = need_raw * POW10[free.precision] <= free.raw * POW10[need_precision]
        else:
            enough = need_raw <= 0
        if enough:
            return None
        need = Decimal(need_raw).scaleb(-need_precision)
        free_dec = balance.free.as_decimal() if balance is not None else Decimal(0)
        need_str = f"{need.quantize(Decimal(1).scaleb(-currency.precision)):f}"
        return f"{INSUFFICIENT_FREE_BALANCE}: need {need_str} {currency.code}, free {free_dec:f}"


def check_price(
    price: Price,
    instrument: Any,
    what: str,
    not_positive: str,
    precision_code: str,
    increment_code: str,
) -> str | None:
    """Positive, no more digits than the instrument's, a multiple of its tick."""
    if price.raw <= 0:
        return f"{not_positive}: {what} {price} must be positive"
    if price.precision > instrument.price_precision:
        return (
            f"{precision_code}: {what} {price} has precision {price.precision} "
            f"> {instrument.price_precision}"
        )
    if not _multiple(price, instrument.price_increment):
        return (
            f"{increment_code}: {what} {price} is not a multiple of "
            f"{instrument.price_increment}"
        )
    return None


def check_quantity(qty: Quantity, instrument: Any) -> str | None:
    """Positive, precision, increment, min and max of the instrument."""
    if qty.raw <= 0:
        return f"{QUANTITY_NOT_POSITIVE}: quantity {qty} must be positive"
    if qty.precision > instrument.size_precision:
        return (
            f"{QUANTITY_PRECISION}: quantity {qty} has precision {qty.precision} "
            f"> {instrument.size_precision}"
        )
    if not _multiple(qty, instrument.size_increment):
        return (
            f"{QUANTITY_INCREMENT}: quantity {qty} is not a multiple of {instrument.size_increment}"
        )
    # Both are Quantity: compared exactly on their scaled integers.
    if instrument.min_quantity is not None and _raw_lt(qty, instrument.min_quantity):
        return f"{QUANTITY_BELOW_MIN}: quantity {qty} < min {instrument.min_quantity}"
    if instrument.max_quantity is not None and _raw_lt(instrument.max_quantity, qty):
        return f"{QUANTITY_ABOVE_MAX}: quantity {qty} > max {instrument.max_quantity}"
    return None


def check_notional(notional: Any, instrument: Any, max_per_order: Decimal | None) -> str | None:
    """The node's per-order cap, then the instrument's own min and max notional."""
    if max_per_order is not None and notional.as_decimal() > max_per_order:
        return (
            f"{NOTIONAL_EXCEEDS_MAX_PER_ORDER}: notional {notional} > max per order "
            f"{max_per_order:f} {notional.currency.code}"
        )
    min_notional = instrument.min_notional
    if min_notional is not None and _money_lt(notional, min_notional):
        return f"{NOTIONAL_BELOW_MIN}: notional {notional} < min {min_notional}"
    max_notional = instrument.max_notional
    if max_notional is not None and _money_lt(max_notional, notional):
        return f"{NOTIONAL_ABOVE_MAX}: notional {notional} > max {instrument.max_notional}"
    return None
