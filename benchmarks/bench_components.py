"""Components of the tick-to-trade benchmark, named by import path in
``benchmarks/configs/*.toml`` (the benchmark puts this directory on ``PYTHONPATH``,
so the supervisor's worker processes import them too).

- `QuoteReactor`: on every ``every_n``-th quote (when it has no order working) it
  submits a post-only limit buy far below the market, from inside its quote
  handler, so the `SubmitOrder` carries the quote's ``ts_init`` as ``ts_trigger``;
  once the venue accepts the order it cancels it. The order never fills, the
  account never moves, so the run can last as long as wanted. Commands created
  outside ``on_quote_tick`` (the cancels) are not measured by the exec client.
- `EntryStampedSimDataClientFactory`: the sim data client, except that each quote
  is stamped (``ts_init``) when it enters the data client. In-process the venue
  stamps it at the same moment anyway; behind a venue process (multiprocess mode)
  the venue stamps it before its PUB socket, so without this the measurement would
  include the venue -> data worker hop, which is not part of the node.
"""

from __future__ import annotations

from typing import Any

import msgspec

from livenode.adapters.sim import SimDataClientFactory
from livenode.model.data import QuoteTick
from livenode.model.enums import OrderSide
from livenode.model.identifiers import InstrumentId
from livenode.model.objects import Price, Quantity
from livenode.trading.config import StrategyConfig
from livenode.trading.strategy import Strategy

__all__ = [
    "EntryStampedSimDataClientFactory",
    "QuoteReactor",
    "QuoteReactorConfig",
]


class QuoteReactorConfig(StrategyConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of `QuoteReactor`.

    Attributes:
        instrument_id: e.g. "BTCUSDT.SIM".
        trade_size: order quantity (decimal string).
        every_n: react to every n-th quote (1 = every quote).
        offset_bps: how far below the bid the buy is placed, in basis points
            (far enough never to fill).
    """

    instrument_id: str
    trade_size: str = "0.001"
    every_n: int = 1
    offset_bps: float = 1000.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.every_n < 1:
            raise ValueError(f"every_n: expected >= 1, got {self.every_n}")
        if not 0 < self.offset_bps < 10_000:
            raise ValueError(f"offset_bps: expected in (0, 10000), got {self.offset_bps}")


class QuoteReactor(Strategy):
    """Submits on quotes, cancels on accept (see the module docstring)."""

    def __init__(self, config: QuoteReactorConfig) -> None:
        super().__init__(config)
        self.bench_config = config
        self.instrument_id = InstrumentId.from_str(config.instrument_id)
        self.trade_size = Quantity.from_str(config.trade_size)
        self._working: Any = None  # the client order id of the order in flight
        self._count = 0
        self._step = 1  # price increment, raw
        self.submitted = 0
        self.skipped_busy = 0

    def on_start(self) -> None:
        assert self.cache is not None
        instrument = self.cache.instrument(self.instrument_id)
        if instrument is not None:
            self._step = instrument.price_increment.raw
            self.trade_size = instrument.make_qty(self.trade_size.as_decimal())
        self.subscribe_quote_ticks(self.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self._count += 1
        if self._count % self.bench_config.every_n:
            return
        if self._working is not None:
            self.skipped_busy += 1
            return
        assert self.order_factory is not None
        bid = tick.bid_price
        raw = int(bid.raw * (1.0 - self.bench_config.offset_bps / 10_000))
        raw = max(self._step, raw // self._step * self._step)
        order = self.order_factory.limit(
            self.instrument_id,
            OrderSide.BUY,
            self.trade_size,
            Price.from_raw(raw, bid.precision),
            post_only=True,
        )
        self._working = order.client_order_id
        if self.submit_order(order):
            self.submitted += 1
        else:
            self._working = None

    def on_order_accepted(self, event: Any) -> None:
        order = self.cache.order(event.client_order_id) if self.cache is not None else None
        if order is not None and order.is_open:
            self.cancel_order(order)

    def _release(self, event: Any) -> None:
        if event.client_order_id == self._working:
            self._working = None

    on_order_canceled = _release
    on_order_rejected = _release
    on_order_denied = _release
    on_order_expired = _release
    on_order_filled = _release


class EntryStampedSimDataClientFactory(SimDataClientFactory):
    """`SimDataClientFactory` whose client stamps ``ts_init`` when a quote enters it."""

    @staticmethod
    def create(name: str, config: Any, context: Any) -> Any:
        client = SimDataClientFactory.create(name, config, context)
        on_market = client._on_market
        now_ns = context.clock.timestamp_ns
        replace = msgspec.structs.replace

        def stamped(msg: Any) -> None:
            if type(msg) is QuoteTick:
                msg = replace(msg, ts_init=now_ns())
            on_market(msg)

        # The client hands this bound attribute to the venue on connect (and the
        # same object on disconnect), so shadowing it on the instance is enough.
        client._on_market = stamped
        return client
