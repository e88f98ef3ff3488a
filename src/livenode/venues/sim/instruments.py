"""From configuration to the venue's instruments: model instruments, raw specs, balances.

Also the conversion of incoming model prices/quantities to the raw integers of
an instrument, refusing values with more decimals than the instrument allows.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from livenode.model.identifiers import InstrumentId, Venue
from livenode.model.instruments import CurrencyPair, Instrument, PerpetualContract
from livenode.model.objects import Money, Price, Quantity
from livenode.venues.sim.config import SimInstrumentConfig
from livenode.venues.sim.market import to_raw
from livenode.venues.sim.orders import InstrumentSpec
from livenode.venues.sim.venue_events import currency_of


class SimVenueError(ValueError):
    """A venue configuration that cannot work (bad balance string, unknown file, ...)."""


def _fraction(text: str | None) -> Fraction | None:
    return None if text is None else Fraction(text)


def build_instrument(cfg: SimInstrumentConfig, venue: Venue, ts: int) -> Instrument:
    """The model instrument for one configured instrument."""
    base, quote = currency_of(cfg.base), currency_of(cfg.quote)
    pp, sp = cfg.price_precision, cfg.size_precision
    cls = PerpetualContract if cfg.kind == "perpetual" else CurrencyPair
    return cls(
        id=InstrumentId.new(cfg.symbol, venue),
        base_currency=base,
        quote_currency=quote,
        settlement_currency=quote,
        price_precision=pp,
        size_precision=sp,
        price_increment=Price(to_raw(cfg.price_increment, pp), pp),
        size_increment=Quantity(to_raw(cfg.size_increment, sp), sp),
        min_quantity=None
        if cfg.min_quantity is None
        else Quantity(to_raw(cfg.min_quantity, sp), sp),
        max_quantity=None
        if cfg.max_quantity is None
        else Quantity(to_raw(cfg.max_quantity, sp), sp),
        min_notional=None if cfg.min_notional is None else Money.new(cfg.min_notional, quote),
        max_notional=None if cfg.max_notional is None else Money.new(cfg.max_notional, quote),
        maker_fee=cfg.maker_fee,
        taker_fee=cfg.taker_fee,
        ts_event=ts,
        ts_init=ts,
    )


def build_spec(cfg: SimInstrumentConfig) -> InstrumentSpec:
    pp, sp = cfg.price_precision, cfg.size_precision
    return InstrumentSpec(
        symbol=cfg.symbol,
        kind=cfg.kind,
        base=cfg.base,
        quote=cfg.quote,
        price_precision=pp,
        size_precision=sp,
        price_increment=to_raw(cfg.price_increment, pp),
        size_increment=to_raw(cfg.size_increment, sp),
        min_quantity=None if cfg.min_quantity is None else to_raw(cfg.min_quantity, sp),
        max_quantity=None if cfg.max_quantity is None else to_raw(cfg.max_quantity, sp),
        min_notional=_fraction(cfg.min_notional),
        max_notional=_fraction(cfg.max_notional),
        maker_fee=Fraction(cfg.maker_fee),
        taker_fee=Fraction(cfg.taker_fee),
        fee_precision=currency_of(cfg.quote).precision,
    )


def parse_balance(text: str) -> tuple[str, str]:
    """``"1000000 USDT"`` -> ``("1000000", "USDT")``, naming the problem otherwise."""
    parts = text.split()
    if len(parts) != 2:
        raise SimVenueError(f"starting balance {text!r}: expected '<amount> <CURRENCY>'")
    amount, code = parts
    try:
        Fraction(amount)
    except ValueError:
        raise SimVenueError(f"starting balance {text!r}: {amount!r} is not a number") from None
    return amount, code


def to_raw_checked(value: Any, precision: int) -> int | bool | None:
    """Raw at ``precision``; None for None; False if it has more decimals than allowed."""
    if value is None:
        return None
    p: int = value.precision
    raw: int = value.raw
    if p <= precision:
        scaled: int = raw * 10 ** (precision - p)
        return scaled
    step: int = 10 ** (p - precision)
    if raw % step:
        return False
    return raw // step


def precision_reason(what: str, value: Any, precision: int, symbol: str) -> str:
    return f"{what} {value} has more decimals than the precision {precision} of {symbol}"
