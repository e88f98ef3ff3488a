"""Market data: quotes, trades and bars.

`QuoteTick`, `TradeTick` and `Bar` are bus messages with positional fields in the
order the contract gives. `BarSpecification` and `BarType` are untagged value
types: they only ever travel nested in a `Bar` or a bar subscription.
"""

from __future__ import annotations

from livenode.model.enums import AggressorSide, BarAggregation, PriceType
from livenode.model.identifiers import InstrumentId, TradeId
from livenode.model.messages import Message, ValueStruct
from livenode.model.objects import Price, Quantity


class QuoteTick(Message, frozen=True):
    """Top of book: best bid and ask with their sizes."""

    instrument_id: InstrumentId
    bid_price: Price
    ask_price: Price
    bid_size: Quantity
    ask_size: Quantity
    ts_event: int
    ts_init: int

    def mid_price(self) -> Price:
        """(bid + ask) / 2, exact: one more digit of precision than the inputs."""
        bid, ask = self.bid_price, self.ask_price
        p = max(bid.precision, ask.precision)
        total = bid.raw * 10 ** (p - bid.precision) + ask.raw * 10 ** (p - ask.precision)
        return Price(total * 5, p + 1)

    def extract_price(self, price_type: PriceType) -> Price:
        """The BID, ASK or MID price (LAST is not in a quote: ValueError)."""
        if price_type is PriceType.BID:
            return self.bid_price
        if price_type is PriceType.ASK:
            return self.ask_price
        if price_type is PriceType.MID:
            return self.mid_price()
        raise ValueError(f"a QuoteTick has no {price_type.value} price")

    def extract_size(self, price_type: PriceType) -> Quantity:
        """The BID or ASK size, or for MID their sum / 2 (exact)."""
        if price_type is PriceType.BID:
            return self.bid_size
        if price_type is PriceType.ASK:
            return self.ask_size
        if price_type is PriceType.MID:
            total = self.bid_size + self.ask_size
            return Quantity(total.raw * 5, total.precision + 1)
        raise ValueError(f"a QuoteTick has no {price_type.value} size")


class TradeTick(Message, frozen=True):
    """One trade printed by the venue."""

    instrument_id: InstrumentId
    price: Price
    size: Quantity
    aggressor_side: AggressorSide
    trade_id: TradeId
    ts_event: int
    ts_init: int


class BarSpecification(ValueStruct, frozen=True):
    """What a bar aggregates: `step` units of `aggregation`, from `price_type` prices.

    `str()` is "{step}-{aggregation}-{price_type}", e.g. "1-SECOND-MID".
    """

    step: int
    aggregation: BarAggregation
    price_type: PriceType

    def __post_init__(self) -> None:
        if type(self.step) is not int or self.step <= 0:
            raise ValueError(f"invalid BarSpecification step {self.step!r}: expected an int > 0")

    @property
    def is_time_aggregated(self) -> bool:
        """True for SECOND and MINUTE bars (closed by a timer)."""
        return self.aggregation in (BarAggregation.SECOND, BarAggregation.MINUTE)

    @property
    def timedelta_ns(self) -> int:
        """Bar duration in nanoseconds (time-aggregated bars only; else ValueError)."""
        if self.aggregation is BarAggregation.SECOND:
            return self.step * 1_000_000_000
        if self.aggregation is BarAggregation.MINUTE:
            return self.step * 60_000_000_000
        raise ValueError(f"{self} is not time-aggregated")

    @classmethod
    def from_str(cls, value: str) -> BarSpecification:
        """Parse "1-SECOND-MID"."""
        parts = value.split("-")
        if len(parts) != 3:
            raise ValueError(
                f"invalid BarSpecification {value!r}: expected 'STEP-AGGREGATION-PRICE_TYPE'"
            )
        try:
            return cls(int(parts[0]), BarAggregation(parts[1]), PriceType(parts[2]))
        except ValueError as e:
            raise ValueError(f"invalid BarSpecification {value!r}: {e}") from None

    def __str__(self) -> str:
        return f"{self.step}-{self.aggregation.value}-{self.price_type.value}"


class BarType(ValueStruct, frozen=True):
    """An instrument and a bar specification; `str()` like "BTCUSDT.SIM-1-SECOND-MID"."""

    instrument_id: InstrumentId
    spec: BarSpecification

    @classmethod
    def from_str(cls, value: str) -> BarType:
        """Parse "BTCUSDT.SIM-1-SECOND-MID" (the instrument id may itself contain dashes)."""
        parts = value.rsplit("-", 3)
        if len(parts) != 4:
            raise ValueError(
                f"invalid BarType {value!r}: expected 'SYMBOL.VENUE-STEP-AGGREGATION-PRICE_TYPE'"
            )
        try:
            return cls(InstrumentId(parts[0]), BarSpecification.from_str("-".join(parts[1:])))
        except ValueError as e:
            raise ValueError(f"invalid BarType {value!r}: {e}") from None

    def __str__(self) -> str:
        return f"{self.instrument_id.value}-{self.spec}"

    def __repr__(self) -> str:
        return f"BarType({str(self)!r})"


class Bar(Message, frozen=True):
    """An OHLCV bar. `high` is the maximum and `low` the minimum of the four prices."""

    bar_type: BarType
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Quantity
    ts_event: int
    ts_init: int

    def __post_init__(self) -> None:
        high, low = self.high, self.low
        if not (
            high >= self.open
            and high >= self.close
            and low <= self.open
            and low <= self.close
            and high >= low
        ):
            raise ValueError(
                f"invalid Bar {self.bar_type}: open={self.open} high={high} low={low} "
                f"close={self.close}"
            )


__all__ = ["Bar", "BarSpecification", "BarType", "QuoteTick", "TradeTick"]
