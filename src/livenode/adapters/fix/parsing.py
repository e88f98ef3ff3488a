"""Pure translation of FIX 4.4 execution messages into the node's values (no I/O, no state).

The execution client (`livenode.adapters.fix.exec_client`) calls these to read what an
ExecutionReport (35=8) says: the enums both ways, TransactTime (60) as the event time, a
fill's quantity, price, commission and liquidity, and an order status report. Nothing
here touches the session, the cache or the clock: every input is an argument.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from livenode.model.enums import LiquiditySide, OrderSide, OrderStatus, OrderType, TimeInForce
from livenode.model.identifiers import ClientOrderId, InstrumentId, VenueOrderId
from livenode.model.objects import Money, Price, Quantity

if TYPE_CHECKING:
    from livenode.adapters.fix.codec import FixMessage
    from livenode.engines.exec_events import ExecEventBuilder
    from livenode.model.instruments import Instrument
    from livenode.model.reports import OrderStatusReport

__all__ = [
    "OPEN_STATUSES",
    "SIDE",
    "SIDE_IN",
    "TIF",
    "TYPE",
    "Fill",
    "base_cl_ord_id",
    "fill_of",
    "peek_fields",
    "status_report",
    "transact_time_ns",
    "utc",
]

SIDE = {OrderSide.BUY: "1", OrderSide.SELL: "2"}
SIDE_IN = {"1": OrderSide.BUY, "2": OrderSide.SELL}
TYPE = {OrderType.MARKET: "1", OrderType.LIMIT: "2", OrderType.STOP_MARKET: "3",
        OrderType.STOP_LIMIT: "4"}
TYPE_IN = {v: k for k, v in TYPE.items()}
TIF = {TimeInForce.DAY: "0", TimeInForce.GTC: "1", TimeInForce.IOC: "3",
       TimeInForce.FOK: "4", TimeInForce.GTD: "6"}
TIF_IN = {v: k for k, v in TIF.items()}
STATUS_IN = {
    "0": OrderStatus.ACCEPTED, "1": OrderStatus.PARTIALLY_FILLED, "2": OrderStatus.FILLED,
    "3": OrderStatus.ACCEPTED, "4": OrderStatus.CANCELED, "5": OrderStatus.ACCEPTED,
    "6": OrderStatus.PENDING_CANCEL, "7": OrderStatus.ACCEPTED, "8": OrderStatus.REJECTED,
    "9": OrderStatus.ACCEPTED, "A": OrderStatus.SUBMITTED, "B": OrderStatus.ACCEPTED,
    "C": OrderStatus.EXPIRED, "D": OrderStatus.ACCEPTED, "E": OrderStatus.PENDING_UPDATE,
}
OPEN_STATUSES = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED,
                           OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_UPDATE,
                           OrderStatus.TRIGGERED, OrderStatus.SUBMITTED})
_SUFFIX = re.compile(r"^(.*):[CR]\d+$")
# UTCTimestamp: YYYYMMDD-HH:MM:SS with 0, 3, 6 or 9 fractional digits (FIX 4.4 allows
# milliseconds; venues send micro- and nanoseconds too).
_UTC_TS = re.compile(r"^(\d{8})-(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}|\d{6}|\d{9}))?$")


def utc(ts_ns: int) -> str:
    """A UTCTimestamp (milliseconds) for `ts_ns` (ns since the epoch)."""
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def transact_time_ns(value: str | None) -> int | None:
    """TransactTime (60) as ns since the epoch; None when absent or malformed."""
    if not value:
        return None
    match = _UTC_TS.match(value)
    if match is None:
        return None
    day, hh, mm, ss, frac = match.groups()
    try:
        base = datetime.strptime(f"{day}{hh}{mm}{ss}", "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:  # a day or an hour that does not exist (20240231, 25:00)
        return None
    # Integer arithmetic: a float of ns since 1970 loses the last digits.
    nanos = int((frac or "").ljust(9, "0"))
    return (int(base.timestamp()) * 1_000_000_000) + nanos


def base_cl_ord_id(cl_ord_id: str) -> str:
    """The node's ClientOrderId a FIX ClOrdID belongs to (strips ``:C{n}`` / ``:R{n}``)."""
    match = _SUFFIX.match(cl_ord_id)
    return match.group(1) if match else cl_ord_id


def peek_fields(raw: bytes) -> dict[int, str]:
    """What can be read of a message that failed to decode (first value of each tag;
    fields that do not parse are skipped): enough to find the request it answers."""
    out: dict[int, str] = {}
    for part in raw.split(b"\x01"):
        tag, sep, value = part.partition(b"=")
        if sep and tag.isdigit():
            out.setdefault(int(tag), value.decode("latin-1"))
    return out


class Fill(NamedTuple):
    """What an ExecutionReport fill says about the trade."""

    last_qty: Quantity
    last_px: Price
    commission: Money
    liquidity_side: LiquiditySide


def fill_of(msg: FixMessage, instrument: Instrument) -> Fill:
    """LastQty (32), LastPx (31), Commission (12, 0 if absent) and LastLiquidityInd
    (851: 1 added -> maker, else taker) of a fill, in the instrument's precisions."""
    return Fill(
        last_qty=instrument.make_qty(msg[32]),
        last_px=instrument.make_price(msg[31]),
        commission=Money.new(msg.get(12) or "0", instrument.quote_currency),
        liquidity_side=LiquiditySide.MAKER if msg.get(851) == "1" else LiquiditySide.TAKER,
    )


def status_report(
    msg: FixMessage, instrument_id: InstrumentId, instrument: Instrument,
    events: ExecEventBuilder, now: int,
) -> OrderStatusReport:
    """The order status report an ExecutionReport (a status answer, ExecType I) makes."""
    clid = msg.get(11)
    coid = ClientOrderId(base_cl_ord_id(clid)) if clid else None
    cum = Decimal(msg.get(14) or "0")
    price, trigger = msg.get(44), msg.get(99)
    return events.order_status_report(
        now, instrument_id=instrument_id, client_order_id=coid,
        venue_order_id=VenueOrderId(msg[37]), order_side=SIDE_IN[msg[54]],
        order_type=TYPE_IN.get(msg.get(40) or "2", OrderType.LIMIT),
        time_in_force=TIF_IN.get(msg.get(59) or "1", TimeInForce.GTC),
        order_status=STATUS_IN.get(msg[39], OrderStatus.ACCEPTED),
        quantity=instrument.make_qty(msg[38]), filled_qty=instrument.make_qty(cum),
        price=instrument.make_price(price) if price is not None else None,
        trigger_price=instrument.make_price(trigger) if trigger is not None else None,
        avg_px=float(msg.get(6) or 0) if cum > 0 else None,
        post_only="6" in (msg.get(18) or "").split(),
        ts_accepted=now, ts_last=now,
    )
