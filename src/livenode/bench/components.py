"""Components of the benchmark scenarios, named by import path in their configs
(``livenode.bench.components:...``), so the worker processes import them too.

- `QuoteReactor` (tick to trade): on every ``every_n``-th quote, when it has no
  order working, it submits a post-only limit buy far below the market from inside
  its quote handler, so the `SubmitOrder` carries the quote's ``ts_init`` as
  ``ts_trigger``; once the venue accepts the order it cancels it. The order never
  fills, the account never moves, so the run can last as long as wanted. With
  ``max_orders`` it stops submitting after that many orders and reports ``done``.
- `RateProbe` (throughput): counts the quotes it receives and samples their latency
  from the data client's entry stamp; with ``orders = true`` it also submits an order
  on every quote (without waiting for the previous one) and samples the time from
  the quote to the venue's acceptance reaching it, then cancels the order.
- `EntryStampedSimDataClientFactory`: the sim data client, except that each quote is
  stamped (``ts_init``) when it enters the data client. In-process the venue stamps
  it at the same moment anyway; behind a venue process (multiprocess mode) the venue
  stamps it before its PUB socket, so without this the measurement would include the
  venue -> data worker hop, which is not part of the node.

The strategies report to the benchmark on the ``livenode.bench`` logger, at INFO, as
``BENCH {json}`` lines (`report_line`); the scenario config enables that logger.
Reports are logged off the measured path (after an order's cycle ends, or at stop).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import msgspec

from livenode.adapters.sim import SimDataClientFactory
from livenode.core.latency import LatencyHistogram
from livenode.model.data import QuoteTick
from livenode.model.enums import OrderSide
from livenode.model.identifiers import InstrumentId
from livenode.model.objects import Price, Quantity
from livenode.trading.config import StrategyConfig
from livenode.trading.strategy import Strategy

__all__ = [
    "REPORT_MARKER",
    "EntryStampedSimDataClientFactory",
    "QuoteReactor",
    "QuoteReactorConfig",
    "RateProbe",
    "RateProbeConfig",
    "parse_report",
    "report_line",
]

#: The prefix of a strategy's report line on the ``livenode.bench`` logger.
REPORT_MARKER = "BENCH "
_report_log = logging.getLogger("livenode.bench")


def report_line(**fields: Any) -> str:
    """One report as the text after the log prefix: ``BENCH {json}``."""
    return REPORT_MARKER + json.dumps(fields, separators=(",", ":"), sort_keys=True)


def parse_report(line: str) -> dict[str, Any] | None:
    """The report in a log line (anything may precede the marker), or None."""
    at = line.find(REPORT_MARKER + "{")
    if at < 0:
        return None
    try:
        value = json.loads(line[at + len(REPORT_MARKER):])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _report(**fields: Any) -> None:
    _report_log.info("%s", report_line(**fields))


def _far_below(bid: Price, offset_bps: float, step: int) -> Price:
    raw = int(bid.raw * (1.0 - offset_bps / 10_000))
    return Price.from_raw(max(step, raw // step * step), bid.precision)


class QuoteReactorConfig(StrategyConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of `QuoteReactor`.

    Attributes:
        instrument_id: e.g. "BTCUSDT.SIM".
        trade_size: order quantity (decimal string).
        every_n: react to every n-th quote (1 = every quote).
        offset_bps: how far below the bid the buy is placed, in basis points
            (far enough never to fill).
        max_orders: stop submitting after this many orders (None: never) and report
            ``done`` once the last one's cycle ended.
        progress_every: report progress every this many orders (0: never).
    """

    instrument_id: str
    trade_size: str = "0.001"
    every_n: int = 1
    offset_bps: float = 1000.0
    max_orders: int | None = None
    progress_every: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.every_n < 1:
            raise ValueError(f"every_n: expected >= 1, got {self.every_n}")
        if not 0 < self.offset_bps < 10_000:
            raise ValueError(f"offset_bps: expected in (0, 10000), got {self.offset_bps}")
        if self.max_orders is not None and self.max_orders < 1:
            raise ValueError(f"max_orders: expected >= 1 or no value, got {self.max_orders}")
        if self.progress_every < 0:
            raise ValueError(f"progress_every: expected >= 0, got {self.progress_every}")


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
        self._done_reported = False
        self.submitted = 0
        self.released = 0
        self.skipped_busy = 0

    def on_start(self) -> None:
        assert self.cache is not None
        instrument = self.cache.instrument(self.instrument_id)
        if instrument is not None:
            self._step = instrument.price_increment.raw
            self.trade_size = instrument.make_qty(self.trade_size.as_decimal())
        self.subscribe_quote_ticks(self.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        cfg = self.bench_config
        self._count += 1
        if self._count % cfg.every_n:
            return
        if self._working is not None:
            self.skipped_busy += 1
            return
        if cfg.max_orders is not None and self.submitted >= cfg.max_orders:
            return
        assert self.order_factory is not None
        order = self.order_factory.limit(
            self.instrument_id,
            OrderSide.BUY,
            self.trade_size,
            _far_below(tick.bid_price, cfg.offset_bps, self._step),
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
        if event.client_order_id != self._working:
            return
        self._working = None
        self.released += 1
        # Reported here, after the order's cycle, never between a quote and its order.
        cfg = self.bench_config
        if cfg.progress_every and self.released % cfg.progress_every == 0:
            _report(event="progress", orders=self.released, of=cfg.max_orders)
        if (cfg.max_orders is not None and self.released >= cfg.max_orders
                and not self._done_reported):
            self._done_reported = True
            _report(event="done", orders=self.released, skipped_busy=self.skipped_busy)

    on_order_canceled = _release
    on_order_rejected = _release
    on_order_denied = _release
    on_order_expired = _release
    on_order_filled = _release


class RateProbeConfig(StrategyConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of `RateProbe`.

    Attributes:
        instrument_id: e.g. "BTCUSDT.SIM".
        orders: also submit an order on every quote (and cancel it once accepted).
        warmup_quotes: quotes ignored at the start (the node settling).
        sample_every: record the latency of 1 in this many quotes or orders
            (recording costs 1-2 us).
        trade_size, offset_bps: as in `QuoteReactorConfig`.
    """

    instrument_id: str
    orders: bool = False
    warmup_quotes: int = 100
    sample_every: int = 4
    trade_size: str = "0.001"
    offset_bps: float = 1000.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.warmup_quotes < 0:
            raise ValueError(f"warmup_quotes: expected >= 0, got {self.warmup_quotes}")
        if self.sample_every < 1:
            raise ValueError(f"sample_every: expected >= 1, got {self.sample_every}")
        if not 0 < self.offset_bps < 10_000:
            raise ValueError(f"offset_bps: expected in (0, 10000), got {self.offset_bps}")


class RateProbe(Strategy):
    """Counts quotes (and order round trips) per second; reports at stop."""

    def __init__(self, config: RateProbeConfig) -> None:
        super().__init__(config)
        self.probe_config = config
        self.instrument_id = InstrumentId.from_str(config.instrument_id)
        self.trade_size = Quantity.from_str(config.trade_size)
        self._step = 1
        self._seen = 0
        self.quotes = 0  # after the warm-up
        self.accepted = 0
        self._first_ns = self._last_ns = 0
        self._first_ack_ns = self._last_ack_ns = 0
        self._quote_latency = LatencyHistogram()
        self._order_latency = LatencyHistogram()
        self._sent: dict[Any, int] = {}  # client order id -> the quote's ts_init

    def on_start(self) -> None:
        assert self.cache is not None
        instrument = self.cache.instrument(self.instrument_id)
        if instrument is not None:
            self._step = instrument.price_increment.raw
            self.trade_size = instrument.make_qty(self.trade_size.as_decimal())
        self.subscribe_quote_ticks(self.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self._seen += 1
        cfg = self.probe_config
        if self._seen <= cfg.warmup_quotes:
            return
        assert self.clock is not None
        now = self.clock.timestamp_ns()
        if not self.quotes:
            self._first_ns = now
        self._last_ns = now
        self.quotes += 1
        if self.quotes % cfg.sample_every == 0:
            self._quote_latency.record(now - tick.ts_init)
        if not cfg.orders:
            return
        assert self.order_factory is not None
        order = self.order_factory.limit(
            self.instrument_id, OrderSide.BUY, self.trade_size,
            _far_below(tick.bid_price, cfg.offset_bps, self._step), post_only=True,
        )
        if self.submit_order(order) and self.quotes % cfg.sample_every == 0:
            self._sent[order.client_order_id] = tick.ts_init

    def on_order_accepted(self, event: Any) -> None:
        assert self.clock is not None
        now = self.clock.timestamp_ns()
        if not self.accepted:
            self._first_ack_ns = now
        self._last_ack_ns = now
        self.accepted += 1
        ts = self._sent.pop(event.client_order_id, None)
        if ts is not None:
            self._order_latency.record(now - ts)
        order = self.cache.order(event.client_order_id) if self.cache is not None else None
        if order is not None and order.is_open:
            self.cancel_order(order)

    def on_stop(self) -> None:
        _report(
            event="result",
            quotes=self.quotes,
            quote_span_ns=self._last_ns - self._first_ns,
            quote_latency_ns=self._quote_latency.summary(),
            accepted=self.accepted,
            accepted_span_ns=self._last_ack_ns - self._first_ack_ns,
            order_latency_ns=self._order_latency.summary(),
        )


class EntryStampedSimDataClientFactory(SimDataClientFactory):
    """`SimDataClientFactory` whose client stamps ``ts_init`` when a quote enters it."""

    @staticmethod
    def create(name: str, config: Any, context: Any) -> Any:
        """The sim data client, its market-data callback wrapped to stamp quotes."""
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
        client._on_market = stamped  # type: ignore[method-assign]
        return client
