"""Bars built by the data engine from quotes or trades.

A data client that cannot deliver venue-built bars (its `subscribe_bars` returns
False) gets them built here:

- `TimeBarAggregator`: SECOND and MINUTE bars closed by clock timers aligned to the
  interval (a 1-MINUTE bar closes on every whole minute of the clock, whatever the
  time the subscription arrived), so bars of different instruments line up.
- `TickBarAggregator`: one bar every `step` updates.
- `VolumeBarAggregator`: one bar as soon as the accumulated size reaches `step`.

Quotes feed BID/ASK/MID bars, trades feed LAST bars. Prices and sizes are kept as
scaled integers (no `Decimal`, one `Price`/`Quantity` built per bar, not per tick).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from livenode.model.data import Bar, BarType, QuoteTick, TradeTick
from livenode.model.enums import BarAggregation, PriceType
from livenode.model.objects import Price, Quantity

if TYPE_CHECKING:
    from livenode.core.clock import Clock, TimeEvent

__all__ = [
    "BarAggregator",
    "BarHandler",
    "TickBarAggregator",
    "TimeBarAggregator",
    "VolumeBarAggregator",
    "make_aggregator",
    "uses_quotes",
]

BarHandler = Callable[[Bar], None]

_NANOS_PER = {BarAggregation.SECOND: 1_000_000_000, BarAggregation.MINUTE: 60_000_000_000}


def uses_quotes(bar_type: BarType) -> bool:
    """True when the bar is built from quotes (BID/ASK/MID), False for trades (LAST)."""
    return bar_type.spec.price_type is not PriceType.LAST


class _Builder:
    """OHLCV of the bar being built, as scaled integers at a common precision."""

    __slots__ = ("close", "count", "high", "low", "open", "price_prec", "size_prec", "volume")

    def __init__(self) -> None:
        self.open = self.high = self.low = self.close = 0
        self.price_prec = -1  # -1: no price seen yet (ever)
        self.volume = 0
        self.size_prec = 0
        self.count = 0

    def update(self, p: int, pp: int, s: int, sp: int) -> None:
        # Rescale to the larger precision when an update has more digits than
        # seen so far (rare: one instrument has one precision in practice).
        if pp != self.price_prec:
            if self.price_prec < 0:
                self.price_prec = pp
            elif pp > self.price_prec:
                f = 10 ** (pp - self.price_prec)
                self.open *= f
                self.high *= f
                self.low *= f
                self.close *= f
                self.price_prec = pp
            else:
                p *= 10 ** (self.price_prec - pp)
        if sp != self.size_prec:
            if sp > self.size_prec:
                self.volume *= 10 ** (sp - self.size_prec)
                self.size_prec = sp
            else:
                s *= 10 ** (self.size_prec - sp)
        if self.count == 0:
            self.open = self.high = self.low = p
        else:
            if p > self.high:
                self.high = p
            if p < self.low:
                self.low = p
        self.close = p
        self.volume += s
        self.count += 1

    @property
    def has_close(self) -> bool:
        return self.price_prec >= 0

    def build(self, bar_type: BarType, ts_event: int, ts_init: int) -> Bar:
        """The bar of the updates since the last reset."""
        pp = self.price_prec
        return Bar(
            bar_type,
            Price(self.open, pp),
            Price(self.high, pp),
            Price(self.low, pp),
            Price(self.close, pp),
            Quantity(self.volume, self.size_prec),
            ts_event,
            ts_init,
        )

    def build_flat(self, bar_type: BarType, ts_event: int, ts_init: int) -> Bar:
        """A bar without updates: OHLC at the last close, zero volume."""
        close = Price(self.close, self.price_prec)
        return Bar(
            bar_type, close, close, close, close, Quantity(0, self.size_prec), ts_event, ts_init
        )

    def reset(self) -> None:
        """Start the next bar; the last close is kept for flat bars."""
        self.volume = 0
        self.count = 0


class BarAggregator:
    """Base: turns the ticks of one instrument into bars of one `BarType`.

    Args:
        bar_type: what to build.
        handler: called with every bar built.
        clock: stamps `ts_init` (and runs the timers of time bars).
    """

    def __init__(self, bar_type: BarType, handler: BarHandler, clock: Clock) -> None:
        self.bar_type = bar_type
        self._handler = handler
        self._clock = clock
        self._builder = _Builder()
        self._price_type = bar_type.spec.price_type
        self.bars_built = 0

    def start(self) -> None:
        """Begin building (time bars set their timer here)."""

    def stop(self) -> None:
        """Stop building; the partial bar is dropped."""

    def handle_quote(self, quote: QuoteTick) -> None:
        """Feed a quote (for BID/ASK/MID bars)."""
        pt = self._price_type
        bid, ask = quote.bid_price, quote.ask_price
        if pt is PriceType.BID:
            self._update(bid.raw, bid.precision, quote.bid_size.raw, quote.bid_size.precision,
                         quote.ts_event)
        elif pt is PriceType.ASK:
            self._update(ask.raw, ask.precision, quote.ask_size.raw, quote.ask_size.precision,
                         quote.ts_event)
        else:
            # MID at one more digit, so the half tick is exact; the size is the
            # mean of both sides, likewise exact at one more digit.
            p_raw, p_prec = _mean(bid.raw, bid.precision, ask.raw, ask.precision)
            bs, as_ = quote.bid_size, quote.ask_size
            s_raw, s_prec = _mean(bs.raw, bs.precision, as_.raw, as_.precision)
            self._update(p_raw, p_prec, s_raw, s_prec, quote.ts_event)

    def handle_trade(self, trade: TradeTick) -> None:
        """Feed a trade (for LAST bars)."""
        px, sz = trade.price, trade.size
        self._update(px.raw, px.precision, sz.raw, sz.precision, trade.ts_event)

    def _update(self, p: int, pp: int, s: int, sp: int, ts_event: int) -> None:
        self._builder.update(p, pp, s, sp)

    def _emit(self, bar: Bar) -> None:
        self.bars_built += 1
        self._handler(bar)


def _mean(a: int, ap: int, b: int, bp: int) -> tuple[int, int]:
    """(a + b) / 2 exactly, as (raw, precision) with one more digit."""
    p = max(ap, bp)
    total = a * 10 ** (p - ap) + b * 10 ** (p - bp)
    return total * 5, p + 1


class TimeBarAggregator(BarAggregator):
    """SECOND/MINUTE bars closed by a clock timer aligned to the interval.

    Args:
        build_with_no_updates: emit a flat bar (last close, zero volume) for an
            interval without updates, once a first price was seen.
        timestamp_on_close: `ts_event` is the close (True) or open of the interval.
    """

    def __init__(
        self,
        bar_type: BarType,
        handler: BarHandler,
        clock: Clock,
        build_with_no_updates: bool = True,
        timestamp_on_close: bool = True,
    ) -> None:
        super().__init__(bar_type, handler, clock)
        spec = bar_type.spec
        unit = _NANOS_PER.get(spec.aggregation)
        if unit is None or spec.step <= 0:
            raise ValueError(f"{bar_type}: not a time bar type (SECOND or MINUTE, step > 0)")
        self.interval_ns = unit * spec.step
        self._build_with_no_updates = build_with_no_updates
        self._timestamp_on_close = timestamp_on_close
        self.timer_name = f"bars:{bar_type}"
        self._running = False

    def start(self) -> None:
        """Set the timer: ticks on every multiple of the interval since the epoch."""
        if self._running:
            return
        now = self._clock.timestamp_ns()
        anchor = now - now % self.interval_ns
        self._clock.set_timer(self.timer_name, self.interval_ns, self._on_timer, anchor)
        self._running = True

    def stop(self) -> None:
        """Cancel the timer; the partial bar is dropped."""
        if self._running:
            self._clock.cancel_timer(self.timer_name)
            self._running = False
        self._builder.reset()

    def _on_timer(self, event: TimeEvent) -> None:
        close_ns = event.ts_event
        ts_event = close_ns if self._timestamp_on_close else close_ns - self.interval_ns
        builder = self._builder
        if builder.count:
            bar = builder.build(self.bar_type, ts_event, self._clock.timestamp_ns())
        elif self._build_with_no_updates and builder.has_close:
            bar = builder.build_flat(self.bar_type, ts_event, self._clock.timestamp_ns())
        else:
            return
        builder.reset()
        self._emit(bar)


class TickBarAggregator(BarAggregator):
    """One bar every `step` updates, stamped with the last update's `ts_event`."""

    def __init__(self, bar_type: BarType, handler: BarHandler, clock: Clock) -> None:
        super().__init__(bar_type, handler, clock)
        if bar_type.spec.aggregation is not BarAggregation.TICK or bar_type.spec.step <= 0:
            raise ValueError(f"{bar_type}: not a tick bar type (TICK, step > 0)")
        self._step = bar_type.spec.step

    def _update(self, p: int, pp: int, s: int, sp: int, ts_event: int) -> None:
        builder = self._builder
        builder.update(p, pp, s, sp)
        if builder.count >= self._step:
            bar = builder.build(self.bar_type, ts_event, self._clock.timestamp_ns())
            builder.reset()
            self._emit(bar)


class VolumeBarAggregator(BarAggregator):
    """One bar as soon as the accumulated size reaches `step` units.

    The update that crosses the threshold closes the bar whole (it is not split
    across two bars), so a bar's volume is at least `step`.
    """

    def __init__(self, bar_type: BarType, handler: BarHandler, clock: Clock) -> None:
        super().__init__(bar_type, handler, clock)
        if bar_type.spec.aggregation is not BarAggregation.VOLUME or bar_type.spec.step <= 0:
            raise ValueError(f"{bar_type}: not a volume bar type (VOLUME, step > 0)")
        self._step = bar_type.spec.step

    def _update(self, p: int, pp: int, s: int, sp: int, ts_event: int) -> None:
        builder = self._builder
        builder.update(p, pp, s, sp)
        if builder.volume >= self._step * 10**builder.size_prec:
            bar = builder.build(self.bar_type, ts_event, self._clock.timestamp_ns())
            builder.reset()
            self._emit(bar)


def make_aggregator(
    bar_type: BarType,
    handler: BarHandler,
    clock: Clock,
    build_with_no_updates: bool = True,
    timestamp_on_close: bool = True,
) -> BarAggregator:
    """The aggregator for the bar type's aggregation; ValueError when there is none."""
    agg = bar_type.spec.aggregation
    if agg in _NANOS_PER:
        return TimeBarAggregator(
            bar_type, handler, clock, build_with_no_updates, timestamp_on_close
        )
    if agg is BarAggregation.TICK:
        return TickBarAggregator(bar_type, handler, clock)
    if agg is BarAggregation.VOLUME:
        return VolumeBarAggregator(bar_type, handler, clock)
    raise ValueError(f"{bar_type}: no aggregator for {agg}")
