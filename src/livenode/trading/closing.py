"""How much of a strategy's position a reduce-only close can take.

On a netting account, the account's net bounds it; everywhere, the instrument's
minimum order size leaves a smaller remainder open as dust.

A venue that nets an account (the simulated venue; a FIX venue reporting net positions
per symbol) holds one position per instrument, whatever strategy, session or person
traded it. The node keeps one position per strategy and instrument, plus the positions
of fills adopted from outside (strategy ``EXTERNAL``). When other positions offset a
strategy's (the strategy is short 0.05358, another session bought 0.05 on the account),
the account's net is smaller than the strategy's position: a reduce-only close of the
strategy's whole quantity would flip the account, and the venue refuses it, again on
every retry. So a close takes at most what the account's net lets a reduce-only order
close in that direction, and nothing when the account is flat or net the other way.

A position the venue identifies itself (its fills name their own position id: a
hedging venue, one position per order or per side) or one of a strategy whose
``oms_type`` is HEDGING is closed whole, as before: a reduce-only order there reduces
that position, not the account's net.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from livenode.model.enums import OmsType, PositionSide, PriceType
from livenode.model.objects import Quantity
from livenode.model.position import netting_position_id

if TYPE_CHECKING:
    from livenode.cache.facade import CacheFacade
    from livenode.model.identifiers import InstrumentId, StrategyId
    from livenode.model.objects import Money
    from livenode.model.position import Position

__all__ = [
    "CloseCap",
    "close_cap",
    "dust_reason",
    "offset_warning",
    "reduce_only_capacity",
    "signed_quantity",
]

_ZERO = Decimal(0)


def reduce_only_capacity(position: Decimal, account_net: Decimal) -> Decimal:
    """The quantity (>= 0) a reduce-only order closing `position` (signed: + long,
    - short) may take on an account whose signed net in the instrument is `account_net`.

    The order closes in the direction that reduces the position; the venue accepts it
    only if it does not increase or flip the account's net. So: the position's size,
    at most the account's net when that lies on the position's side; 0 when the
    position or the account is flat, or the account is net the other way.
    """
    if position == 0 or account_net == 0 or (position > 0) != (account_net > 0):
        return _ZERO
    return min(abs(position), abs(account_net))


def signed_quantity(position: Position) -> Decimal:
    """The position's open quantity, exact: positive long, negative short."""
    qty: Decimal = position.quantity.as_decimal()
    return qty if position.signed_qty >= 0 else -qty


@dataclass(frozen=True, slots=True)
class CloseCap:
    """What a reduce-only close of one position may take, and why.

    Attributes:
        quantity: the close's quantity: the position's whole quantity, less, or zero.
        netted: whether the account nets (else the position is closed whole).
        account_net: the account's signed net in the instrument (netted only).
        offsets: the other positions of the account in the instrument, by strategy
            id, signed (netted only): what makes the account's net differ.
    """

    quantity: Quantity
    netted: bool
    account_net: Decimal = _ZERO
    offsets: dict[str, Decimal] = field(default_factory=dict)

    def describe_offsets(self) -> str:
        """E.g. ``EXTERNAL +0.05000``, one entry per other strategy, largest first."""
        items = sorted(self.offsets.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
        return ", ".join(f"{sid} {qty:+}" for sid, qty in items) or "nothing"


def close_cap(cache: CacheFacade, position: Position, oms_type: OmsType) -> CloseCap:
    """The `CloseCap` of `position`, from the positions `cache` holds.

    The account's net is the sum of every open position of the instrument in the
    cache on the position's account: every strategy's, EXTERNAL included (in a trader
    worker the execution mirror follows all of them for this).
    """
    whole = position.quantity
    if oms_type is not OmsType.NETTING or position.id != netting_position_id(
        position.instrument_id, position.strategy_id
    ):
        return CloseCap(quantity=whole, netted=False)
    own = signed_quantity(position)
    net = own
    offsets: dict[str, Decimal] = {}
    for other in cache.positions_open(instrument_id=position.instrument_id):
        if other.id == position.id or other.account_id != position.account_id:
            continue
        signed = signed_quantity(other)
        net += signed
        key = str(other.strategy_id)
        offsets[key] = offsets.get(key, _ZERO) + signed
    capacity = reduce_only_capacity(own, net)
    # Round down to the position's precision: a close never larger than the net.
    step = Decimal(1).scaleb(-whole.precision)
    quantity = Quantity.new(capacity.quantize(step, rounding=ROUND_DOWN), whole.precision)
    return CloseCap(quantity=quantity, netted=True, account_net=net,
                    offsets={k: v for k, v in offsets.items() if v != 0})


def offset_warning(strategy_id: StrategyId, position: Position, cap: CloseCap) -> str:
    """The warning a strategy logs when an offset leaves less than `position` to close:
    the offsetting positions, the account's net and what the close takes."""
    net = cap.account_net
    if net == 0:
        account = "flat"
    elif (net > 0) == (position.side is PositionSide.LONG):
        account = f"net {net:+}"
    else:
        account = f"net {net:+} (the other way)"
    if cap.quantity.raw:
        kept = position.quantity.as_decimal() - cap.quantity.as_decimal()
        what = (f"the reduce-only close takes {cap.quantity} only; {kept} stays open in "
                "the books, matched at the venue by the offset")
    else:
        what = ("no close is sent (a reduce-only order would flip the account); the "
                "position stays open in the books, matched at the venue by the offset")
    return (
        f"{strategy_id}: position {position.id} {position.side.value} {position.quantity} "
        f"is offset on account {position.account_id} by {cap.describe_offsets()}: the "
        f"account is {account} in {position.instrument_id}, so {what}"
    )


def dust_reason(cache: CacheFacade, instrument_id: InstrumentId, quantity: Quantity) -> str | None:
    """Why an order of `quantity` is below the instrument's minimum quantity or notional
    (at the mid), so no venue accepts it and a close that small is not sent; None when
    an order is possible."""
    instrument = cache.instrument(instrument_id)
    if instrument is None:
        return None
    if instrument.min_quantity is not None and quantity < instrument.min_quantity:
        return f"quantity {quantity} below the minimum quantity {instrument.min_quantity}"
    if instrument.min_notional is None:
        return None
    price = cache.price(instrument_id, PriceType.MID)
    if price is None:
        return None
    notional = instrument.notional_value(quantity, price)
    minimum = instrument.min_notional
    if notional.as_decimal() >= minimum.as_decimal():
        return None
    return f"notional {_amount(notional)} below the minimum notional {_amount(minimum)}"


def _amount(money: Money) -> str:
    """``1.9995496 USDT``: the amount without trailing zeros, and its currency."""
    return f"{money.as_decimal().normalize():f} {money.currency.code}"
