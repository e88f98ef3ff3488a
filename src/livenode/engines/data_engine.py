"""The data engine: routes subscriptions to data clients, caches and publishes data.

Flow (ARCHITECTURE.md, "Flow" 1-2): a strategy publishes `Subscribe*` commands on
`commands.data.{venue}`; the engine routes each to the data client of that venue,
reference-counted so that N subscribers of one stream cost the venue one
subscription. Clients deliver instruments, quotes, trades and bars to the
`DataEngine.process` endpoint; the engine caches the latest and publishes them on
the data topics. Bars a client cannot deliver are aggregated here
(`bar_aggregation`), from quotes (BID/ASK/MID) or trades (LAST).

It is also the edge where bad market data stops, for every adapter
(`data_quality`): with ``validate_data`` a quote with a non-positive price or
bid > ask, and a trade with a non-positive price, is dropped (a negative size
cannot reach it: `Quantity` refuses one wherever it is built or decoded); with
``validate_data_sequence`` a quote (trade) whose ``ts_event`` is older than the
instrument's last accepted quote (trade). Drops are counted per reason
(``dropped_<reason>`` in `counters`) and logged, rate-limited. With
``stale_after`` a venue whose subscribed feed sent nothing for that long is STALE
(`stale_venues`), and fresh again once ticks come back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from livenode.bus import topics
from livenode.core.component import Component
from livenode.engines.bar_aggregation import BarAggregator, make_aggregator, uses_quotes
from livenode.engines.clients import DATA_ENGINE_PROCESS, LiveDataClient
from livenode.engines.data_quality import (
    NON_POSITIVE_PRICE,
    TS_BACKWARDS,
    DataQuality,
    InstrumentSeen,
)
from livenode.model.commands import (
    SubscribeBars,
    SubscribeQuoteTicks,
    SubscribeTradeTicks,
    UnsubscribeBars,
    UnsubscribeQuoteTicks,
    UnsubscribeTradeTicks,
)
from livenode.model.data import Bar, BarType, QuoteTick, TradeTick
from livenode.model.events import StrategiesStarted
from livenode.model.instruments import CurrencyPair, PerpetualContract

if TYPE_CHECKING:
    from livenode.bus.message_bus import MessageBus
    from livenode.cache.cache import Cache
    from livenode.config import DataEngineConfig
    from livenode.core.clock import Clock
    from livenode.model.identifiers import InstrumentId, Venue

__all__ = ["DataEngine"]

_log = logging.getLogger("livenode.engines.data")

# Subscription keys: (kind, instrument id or bar type).
_QUOTES = "quotes"
_TRADES = "trades"
_BARS = "bars"


class DataEngine(Component):
    """Routes data subscriptions and publishes the data clients deliver.

    Args:
        msgbus: the node's message bus (subscribed to `commands.data.*`; the
            `DataEngine.process` endpoint is registered on it).
        cache: keeps the latest instrument, quote, trade and bar.
        clock: stamps bars and runs the time-bar timers.
        config: `DataEngineConfig`.

    Counters: `quotes_processed`, `trades_processed`, `bars_published`,
    `instruments_processed`, `data_count` (everything `process` accepted),
    `command_count`, `command_errors` (unknown venue, client failures),
    `unknown_data`, and `dropped` per reason (`data_quality.REASONS`:
    ``non_positive_price``, ``crossed_quote``, ``ts_backwards``).
    """

    def __init__(
        self,
        msgbus: MessageBus,
        cache: Cache,
        clock: Clock,
        config: DataEngineConfig,
        component_id: str = "DataEngine",
    ) -> None:
        super().__init__(component_id, clock, publisher=msgbus)
        self._msgbus = msgbus
        self._cache = cache
        self._config = config
        self._clients: dict[Venue, LiveDataClient] = {}
        self._refs: dict[tuple[str, Any], int] = {}
        # bar type -> aggregator (engine-built bars only); the aggregators fed by an
        # instrument's quotes or trades are in its `InstrumentSeen` (`self._seen`), so a
        # tick costs one dict lookup for everything the engine keeps per instrument.
        self._aggregators: dict[BarType, BarAggregator] = {}
        self._validate = bool(config.validate_data)
        self._validate_sequence = bool(config.validate_data_sequence)
        self.quality = DataQuality(clock, config.stale_after, self._watched_venues)
        self._seen = self.quality.seen  # instrument id string -> InstrumentSeen
        self.quotes_processed = 0
        self.trades_processed = 0
        self.bars_published = 0
        self.instruments_processed = 0
        self.command_count = 0
        self.command_errors = 0
        self.unknown_data = 0
        self._handlers: dict[type, Callable[[Any], None]] = {
            QuoteTick: self._handle_quote,
            TradeTick: self._handle_trade,
            Bar: self._process_bar,
            CurrencyPair: self._handle_instrument,
            PerpetualContract: self._handle_instrument,
        }
        self._commands: dict[type, Callable[[Any], None]] = {
            SubscribeQuoteTicks: self._subscribe_quotes,
            UnsubscribeQuoteTicks: self._unsubscribe_quotes,
            SubscribeTradeTicks: self._subscribe_trades,
            UnsubscribeTradeTicks: self._unsubscribe_trades,
            SubscribeBars: self._subscribe_bars,
            UnsubscribeBars: self._unsubscribe_bars,
            # A trader worker's marker after its subscriptions (multiprocess): the data
            # worker starts its finite sources on it; nothing to route here.
            StrategiesStarted: _ignore,
        }
        msgbus.register(DATA_ENGINE_PROCESS, self.process)
        msgbus.subscribe(topics.ALL_DATA_COMMANDS, self.execute)

    # -- clients ----------------------------------------------------------------------------

    def register_client(self, client: LiveDataClient) -> None:
        """Route the subscriptions of `client.venue` to `client`.

        Raises:
            ValueError: a client is already registered for that venue.
        """
        venue = client.venue
        if venue in self._clients:
            raise ValueError(
                f"DataEngine: a data client for venue {venue} is already registered "
                f"({self._clients[venue].name})"
            )
        self._clients[venue] = client

    def deregister_client(self, client: LiveDataClient) -> None:
        """Forget the client of `client.venue` (no-op when it is not the registered one)."""
        if self._clients.get(client.venue) is client:
            del self._clients[client.venue]

    @property
    def registered_venues(self) -> list[Venue]:
        """Venues with a data client, in registration order."""
        return list(self._clients)

    def client(self, venue: Venue) -> LiveDataClient | None:
        """The data client of `venue`, if any."""
        return self._clients.get(venue)

    # -- subscriptions ----------------------------------------------------------------------

    def subscription_count(self, kind: str, key: Any) -> int:
        """How many subscribers a stream has (`kind` is "quotes", "trades" or "bars")."""
        return self._refs.get((kind, key), 0)

    @property
    def subscribed_quote_ticks(self) -> list[InstrumentId]:
        """Instruments whose quotes are subscribed at their client."""
        return [k for (kind, k) in self._refs if kind == _QUOTES]

    @property
    def subscribed_trade_ticks(self) -> list[InstrumentId]:
        """Instruments whose trades are subscribed at their client."""
        return [k for (kind, k) in self._refs if kind == _TRADES]

    @property
    def subscribed_bars(self) -> list[BarType]:
        """Bar types subscribed (venue-built or aggregated here)."""
        return [k for (kind, k) in self._refs if kind == _BARS]

    def execute(self, command: Any) -> None:
        """Handle a data command (the `commands.data.*` subscriber)."""
        self.command_count += 1
        handler = self._commands.get(type(command))
        if handler is None:
            self.command_errors += 1
            _log.error("DataEngine: unsupported data command %r", command)
            return
        handler(command)

    def _client_for(self, command: Any) -> LiveDataClient | None:
        client = self._clients.get(command.venue)
        if client is None:
            self.command_errors += 1
            _log.error(
                "DataEngine: no data client for venue %s; %s dropped (registered: %s)",
                command.venue,
                type(command).__name__,
                ", ".join(str(v) for v in self._clients) or "none",
            )
        return client

    def _acquire(
        self, kind: str, key: Any, client: LiveDataClient, call: Callable[[], Any]
    ) -> bool:
        """Count one subscriber; call the client for the first. False if the client failed."""
        ref = (kind, key)
        count = self._refs.get(ref, 0)
        if count == 0:
            try:
                call()
            except Exception:
                # Not counted: a later subscribe tries the client again.
                self.command_errors += 1
                _log.exception("DataEngine: %s failed to subscribe %s %s", client.name, kind, key)
                return False
        self._refs[ref] = count + 1
        return True

    def _release(
        self, kind: str, key: Any, client: LiveDataClient, call: Callable[[], Any]
    ) -> bool:
        """Drop one subscriber; call the client for the last. False if there was none."""
        ref = (kind, key)
        count = self._refs.get(ref, 0)
        if count == 0:
            _log.warning("DataEngine: unsubscribe of %s %s without a subscription", kind, key)
            return False
        if count > 1:
            self._refs[ref] = count - 1
            return True
        del self._refs[ref]
        try:
            call()
        except Exception:
            self.command_errors += 1
            _log.exception("DataEngine: %s failed to unsubscribe %s %s", client.name, kind, key)
        return True

    def _subscribe_quotes(self, command: SubscribeQuoteTicks) -> None:
        client = self._client_for(command)
        if client is not None:
            iid = command.instrument_id
            self._acquire(_QUOTES, iid, client, lambda: client.subscribe_quote_ticks(iid))

    def _unsubscribe_quotes(self, command: UnsubscribeQuoteTicks) -> None:
        client = self._client_for(command)
        if client is not None:
            iid = command.instrument_id
            self._release(_QUOTES, iid, client, lambda: client.unsubscribe_quote_ticks(iid))

    def _subscribe_trades(self, command: SubscribeTradeTicks) -> None:
        client = self._client_for(command)
        if client is not None:
            iid = command.instrument_id
            self._acquire(_TRADES, iid, client, lambda: client.subscribe_trade_ticks(iid))

    def _unsubscribe_trades(self, command: UnsubscribeTradeTicks) -> None:
        client = self._client_for(command)
        if client is not None:
            iid = command.instrument_id
            self._release(_TRADES, iid, client, lambda: client.unsubscribe_trade_ticks(iid))

    def _subscribe_bars(self, command: SubscribeBars) -> None:
        client = self._client_for(command)
        if client is None:
            return
        bar_type = command.bar_type
        if self._refs.get((_BARS, bar_type), 0) > 0:
            self._refs[(_BARS, bar_type)] += 1
            return
        try:
            venue_built = bool(client.subscribe_bars(bar_type))
        except Exception:
            self.command_errors += 1
            _log.exception("DataEngine: %s failed to subscribe bars %s", client.name, bar_type)
            return
        if not venue_built and not self._start_aggregator(bar_type, client):
            return
        self._refs[(_BARS, bar_type)] = 1

    def _unsubscribe_bars(self, command: UnsubscribeBars) -> None:
        client = self._client_for(command)
        if client is None:
            return
        bar_type = command.bar_type

        def last() -> None:
            if bar_type in self._aggregators:
                self._stop_aggregator(bar_type, client)
            else:
                client.unsubscribe_bars(bar_type)

        self._release(_BARS, bar_type, client, last)

    # -- aggregation ------------------------------------------------------------------------

    def _start_aggregator(self, bar_type: BarType, client: LiveDataClient) -> bool:
        try:
            agg = make_aggregator(
                bar_type,
                self._handle_bar,
                self._clock,
                self._config.time_bars_build_with_no_updates,
                self._config.time_bars_timestamp_on_close,
            )
        except ValueError:
            self.command_errors += 1
            _log.exception("DataEngine: cannot aggregate %s", bar_type)
            return False
        iid = bar_type.instrument_id
        # The aggregator is one more subscriber of the ticks it is built from.
        seen = self._seen_of(iid)
        if uses_quotes(bar_type):
            ok = self._acquire(_QUOTES, iid, client, lambda: client.subscribe_quote_ticks(iid))
            feeds = seen.quote_aggs
        else:
            ok = self._acquire(_TRADES, iid, client, lambda: client.subscribe_trade_ticks(iid))
            feeds = seen.trade_aggs
        if not ok:
            return False
        feeds.append(agg)
        self._aggregators[bar_type] = agg
        agg.start()
        return True

    def _stop_aggregator(self, bar_type: BarType, client: LiveDataClient) -> None:
        agg = self._aggregators.pop(bar_type)
        agg.stop()
        iid = bar_type.instrument_id
        seen = self._seen_of(iid)
        if uses_quotes(bar_type):
            aggs, kind = seen.quote_aggs, _QUOTES
            call: Callable[[], Any] = lambda: client.unsubscribe_quote_ticks(iid)  # noqa: E731
        else:
            aggs, kind = seen.trade_aggs, _TRADES
            call = lambda: client.unsubscribe_trade_ticks(iid)  # noqa: E731
        if agg in aggs:
            aggs.remove(agg)
        self._release(kind, iid, client, call)

    def _seen_of(self, instrument_id: InstrumentId) -> InstrumentSeen:
        seen = self._seen.get(instrument_id.value)
        return seen if seen is not None else self.quality.instrument(instrument_id)

    @property
    def aggregated_bar_types(self) -> list[BarType]:
        """Bar types built by this engine (not by their venue)."""
        return list(self._aggregators)

    # -- data -------------------------------------------------------------------------------

    def process(self, data: Any) -> None:
        """Cache and publish what a data client delivers (the `DataEngine.process` endpoint)."""
        handler = self._handlers.get(type(data))
        if handler is None:
            self.unknown_data += 1
            _log.warning("DataEngine: cannot process %s", type(data).__name__)
            return
        handler(data)

    # Hot path: per tick one dict lookup (the instrument's state, which also holds its
    # topics) and a few int comparisons, inlined: a call per tick would cost more than
    # they do. Only a tick that fails goes on to `DataQuality` (why, count, log).
    # Sizes are not compared: a `Quantity` cannot be negative (construction, replace
    # and decode all refuse it), so no adapter can hand one over.

    def _handle_quote(self, quote: QuoteTick) -> None:
        seen = self._seen.get(quote.instrument_id.value)
        if seen is None:
            seen = self.quality.instrument(quote.instrument_id)
        bid, ask = quote.bid_price, quote.ask_price
        # The common case in one chain; prices of two precisions take the slow test.
        if not (0 < bid.raw <= ask.raw and bid.precision == ask.precision) and (
            self._validate and not (bid.raw > 0 and ask.raw > 0 and bid <= ask)
        ):
            self.quality.dropped(self.quality.quote_reason(quote), quote)
            return
        ts = quote.ts_event
        if ts < seen.quote_ts and self._validate_sequence:
            self.quality.dropped(TS_BACKWARDS, quote, seen.quote_ts)
            return
        seen.quote_ts = ts
        self.quotes_processed += 1
        self._cache.add_quote_tick(quote)
        self._msgbus.publish(seen.quote_topic, quote)
        aggs = seen.quote_aggs
        if aggs:
            for agg in aggs:
                agg.handle_quote(quote)

    def _handle_trade(self, trade: TradeTick) -> None:
        seen = self._seen.get(trade.instrument_id.value)
        if seen is None:
            seen = self.quality.instrument(trade.instrument_id)
        if trade.price.raw <= 0 and self._validate:
            self.quality.dropped(NON_POSITIVE_PRICE, trade)
            return
        ts = trade.ts_event
        if ts < seen.trade_ts and self._validate_sequence:
            self.quality.dropped(TS_BACKWARDS, trade, seen.trade_ts)
            return
        seen.trade_ts = ts
        self.trades_processed += 1
        self._cache.add_trade_tick(trade)
        self._msgbus.publish(seen.trade_topic, trade)
        aggs = seen.trade_aggs
        if aggs:
            for agg in aggs:
                agg.handle_trade(trade)

    def _process_bar(self, bar: Bar) -> None:
        # A bar from a client (not one aggregated here): the venue's feed is alive.
        iid = bar.bar_type.instrument_id
        seen = self._seen.get(iid.value)
        if seen is None:
            seen = self.quality.instrument(iid)
        seen.bars += 1
        self._handle_bar(bar)

    def _handle_bar(self, bar: Bar) -> None:
        # Venue-built bars and aggregated ones take the same path.
        self.bars_published += 1
        self._cache.add_bar(bar)
        self._msgbus.publish(topics.bars(bar.bar_type), bar)

    def _handle_instrument(self, instrument: Any) -> None:
        self.instruments_processed += 1
        self._cache.add_instrument(instrument)
        self._msgbus.publish(topics.instrument(instrument.id), instrument)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def data_count(self) -> int:
        """Everything `process` accepted (a sum: one counter less per tick)."""
        return (self.quotes_processed + self.trades_processed + self.bars_published
                + self.instruments_processed)

    def counters(self) -> dict[str, int]:
        """The counters, for status lines and the supervisor."""
        return {
            "data_count": self.data_count,
            "quotes_processed": self.quotes_processed,
            "trades_processed": self.trades_processed,
            "bars_published": self.bars_published,
            "instruments_processed": self.instruments_processed,
            "commands": self.command_count,
            "command_errors": self.command_errors,
            "unknown_data": self.unknown_data,
            **{f"dropped_{reason}": n for reason, n in self.quality.dropped_counts.items()},
            "stale_feeds": len(self.quality.stale_venues()),
        }

    @property
    def dropped(self) -> dict[str, int]:
        """Ticks dropped by the checks, per reason."""
        return dict(self.quality.dropped_counts)

    def stale_venues(self) -> dict[str, float]:
        """STALE venues: seconds without a tick (`DataQuality.stale_venues`)."""
        return self.quality.stale_venues()

    def feeds(self) -> dict[str, tuple[bool, float]]:
        """Each watched venue: (stale, seconds without a tick) (`DataQuality.feeds`)."""
        return self.quality.feeds()

    def _watched_venues(self) -> set[str]:
        """Venues with quote or trade subscriptions: the feeds judged stale or fresh."""
        return {str(key.venue) for (kind, key) in self._refs if kind in (_QUOTES, _TRADES)}

    def _on_start(self) -> None:
        self.quality.start()

    def _on_stop(self) -> None:
        # Time bars stop with the engine; their subscriptions stay counted so a
        # resume restarts them where they were.
        for agg in self._aggregators.values():
            agg.stop()
        self.quality.stop()

    def _on_resume(self) -> None:
        for agg in self._aggregators.values():
            agg.start()
        self.quality.start()

    def _on_dispose(self) -> None:
        for agg in self._aggregators.values():
            agg.stop()
        self.quality.stop()
        self._msgbus.unsubscribe(topics.ALL_DATA_COMMANDS, self.execute)
        self._msgbus.deregister(DATA_ENGINE_PROCESS)


def _ignore(_command: Any) -> None:
    """A message on the data command topic that is not the engine's to handle."""
