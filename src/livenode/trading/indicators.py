"""Moving-average indicators fed from quotes, trades, bars or raw floats.

Indicators work in floats: they are signals, not money, and floats keep the
per-tick update at a few hundred nanoseconds on the hot path.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from livenode.model.enums import PriceType

if TYPE_CHECKING:
    from livenode.model.data import Bar, QuoteTick, TradeTick


class MovingAverage:
    """Common part of the moving averages: inputs, counting, price selection.

    Args:
        period: number of inputs the average spans; also the count after which
            the indicator reports `initialized`.
        price_type: which side of a quote to use (BID, ASK, MID; LAST is taken
            as MID for quotes). Trades and bars always use their price/close.
    """

    def __init__(self, period: int, price_type: PriceType = PriceType.MID) -> None:
        if not isinstance(period, int) or isinstance(period, bool) or period < 1:
            raise ValueError(f"period: expected an int >= 1, got {period!r}")
        self.period = period
        self.price_type = price_type
        self.value: float = 0.0
        self.count: int = 0

    @property
    def initialized(self) -> bool:
        """True once `period` inputs have been seen."""
        return self.count >= self.period

    @property
    def has_inputs(self) -> bool:
        """True once at least one input has been seen."""
        return self.count > 0

    def handle_quote_tick(self, tick: QuoteTick) -> None:
        """Update from a quote, using the side chosen by `price_type`."""
        if self.price_type == PriceType.BID:
            self.update_raw(tick.bid_price.as_double())
        elif self.price_type == PriceType.ASK:
            self.update_raw(tick.ask_price.as_double())
        else:
            self.update_raw((tick.bid_price.as_double() + tick.ask_price.as_double()) / 2.0)

    def handle_trade_tick(self, tick: TradeTick) -> None:
        """Update from a trade's price."""
        self.update_raw(tick.price.as_double())

    def handle_bar(self, bar: Bar) -> None:
        """Update from a bar's close."""
        self.update_raw(bar.close.as_double())

    def update_raw(self, value: float) -> None:
        """Update from one raw value."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget every input."""
        self.value = 0.0
        self.count = 0


class ExponentialMovingAverage(MovingAverage):
    """EMA with smoothing ``alpha = 2 / (period + 1)``, seeded with the first input."""

    def __init__(self, period: int, price_type: PriceType = PriceType.MID) -> None:
        super().__init__(period, price_type)
        self.alpha = 2.0 / (period + 1.0)

    def update_raw(self, value: float) -> None:
        """Fold one value into the average."""
        if self.count == 0:
            # Seeding with the first value avoids the long warm-up bias of starting at 0.
            self.value = float(value)
        else:
            self.value = self.alpha * value + (1.0 - self.alpha) * self.value
        self.count += 1

    def __repr__(self) -> str:
        return f"ExponentialMovingAverage({self.period})"


class SimpleMovingAverage(MovingAverage):
    """Arithmetic mean of the last `period` inputs (the mean of all while warming up)."""

    def __init__(self, period: int, price_type: PriceType = PriceType.MID) -> None:
        super().__init__(period, price_type)
        self._window: deque[float] = deque(maxlen=period)
        self._sum = 0.0

    def update_raw(self, value: float) -> None:
        """Push one value into the window."""
        value = float(value)
        if len(self._window) == self.period:
            self._sum -= self._window[0]
        self._window.append(value)
        self._sum += value
        self.count += 1
        # Recompute exactly when the window wraps, so float drift of the running sum
        # never accumulates over a long-running session.
        if self.count % (self.period * 64) == 0:
            self._sum = sum(self._window)
        self.value = self._sum / len(self._window)

    def reset(self) -> None:
        """Forget every input."""
        super().reset()
        self._window.clear()
        self._sum = 0.0

    def __repr__(self) -> str:
        return f"SimpleMovingAverage({self.period})"
