"""The data engine: routes subscriptions to data clients, caches and publishes data.

Flow (ARCHITECTURE.md, "Flow" 1-2): a strategy publishes `Subscribe*` commands on
`commands.data.{venue}`; the engine routes each to the data client of that venue,
reference-counted so that N subscribers of one stream cost the venue one
subscription. Clients deliver instruments, quotes, trades and bars to the
`DataEngine.process` endpoint; the engine caches the latest and publishes them on
the data topics. Bars a client cannot deliver are aggregated here
(`bar_aggregation`), from quotes (BID/ASK/MID) or trades (LAST).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from livenode.bus import topics
from livenode.core.component import Component
from livenode.engines.bar_aggregation import BarAggregator, make_aggregator, uses_quotes
from livenode.engines.clients import DATA_ENGINE_PROCESS, LiveDataClient
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

# Most quote topics kept formatted (one per instrument seen; cleared when full).
_MAX_CACHED_TOPICS = 10_000


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
    `unknown_data`, `out_of_sequence` (dropped by `validate_data_sequence`).
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
        # bar type -> aggregator (engine-built bars only); per instrument the
        # aggregators fed by its quotes or trades, for one dict lookup per tick.
        self._aggregators: dict[BarType, BarAggregator] = {}
        self._quote_aggs: dict[InstrumentId, list[BarAggregator]] = {}
        self._trade_aggs: dict[InstrumentId, list[BarAggregator]] = {}
        self._last_ts: dict[tuple[type, InstrumentId], int] = {}
        # instrument id string -> its quote topic: formatting the topic (two
        # memoised parts, two str() calls) cost ~1 us per quote. Bounded.
        self._quote_topics: dict[str, str] = {}
        self._validate_sequence = bool(config.validate_data_sequence)
        self.quotes_processed = 0
        self.trades_processed = 0
        self.bars_published = 0
        self.instruments_processed = 0
        self.data_count = 0
        self.command_count = 0
        self.command_errors = 0
        self.unknown_data = 0
        self.out_of_sequence = 0
        self._handlers: dict[type, Callable[[Any], None]] = {
            QuoteTick: self._handle_quote,
            TradeTick: self._handle_trade,
            Bar: self._handle_bar,
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
        if uses_quotes(bar_type):
            ok = self._acquire(_QUOTES, iid, client, lambda: client.subscribe_quote_ticks(iid))
            feeds = self._quote_aggs
        else:
            ok = self._acquire(_TRADES, iid, client, lambda: client.subscribe_trade_ticks(iid))
            feeds = self._trade_aggs
        if not ok:
            return False
        feeds.setdefault(iid, []).append(agg)
        self._aggregators[bar_type] = agg
        agg.start()
        return True

    def _stop_aggregator(self, bar_type: BarType, client: LiveDataClient) -> None:
        agg = self._aggregators.pop(bar_type)
        agg.stop()
        iid = bar_type.instrument_id
        if uses_quotes(bar_type):
            feeds, kind = self._quote_aggs, _QUOTES
            call: Callable[[], Any] = lambda: client.unsubscribe_quote_ticks(iid)  # noqa: E731
        else:
            feeds, kind = self._trade_aggs, _TRADES
            call = lambda: client.unsubscribe_trade_ticks(iid)  # noqa: E731
        aggs = feeds.get(iid, [])
        if agg in aggs:
            aggs.remove(agg)
        if not aggs:
            feeds.pop(iid, None)
        self._release(kind, iid, client, call)

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

    def _in_sequence(self, data: Any) -> bool:
        key = (type(data), data.instrument_id)
        last = self._last_ts.get(key)
        if last is not None and data.ts_event < last:
            self.out_of_sequence += 1
            return False
        self._last_ts[key] = data.ts_event
        return True

    def _handle_quote(self, quote: QuoteTick) -> None:
        if self._validate_sequence and not self._in_sequence(quote):
            return
        self.data_count += 1
        self.quotes_processed += 1
        self._cache.add_quote_tick(quote)
        topic = self._quote_topics.get(quote.instrument_id.value)
        if topic is None:
            topic = self._quote_topic(quote.instrument_id)
        self._msgbus.publish(topic, quote)
        aggs = self._quote_aggs.get(quote.instrument_id)
        if aggs:
            for agg in aggs:
                agg.handle_quote(quote)

    def _quote_topic(self, instrument_id: InstrumentId) -> str:
        cached = self._quote_topics
        if len(cached) >= _MAX_CACHED_TOPICS:
            cached.clear()
        topic = cached[instrument_id.value] = topics.quotes(instrument_id)
        return topic

    def _handle_trade(self, trade: TradeTick) -> None:
        if self._validate_sequence and not self._in_sequence(trade):
            return
        self.data_count += 1
        self.trades_processed += 1
        self._cache.add_trade_tick(trade)
        self._msgbus.publish(topics.trades(trade.instrument_id), trade)
        aggs = self._trade_aggs.get(trade.instrument_id)
        if aggs:
            for agg in aggs:
                agg.handle_trade(trade)

    def _handle_bar(self, bar: Bar) -> None:
        # Venue-built bars and aggregated ones take the same path.
        self.data_count += 1
        self.bars_published += 1
        self._cache.add_bar(bar)
        self._msgbus.publish(topics.bars(bar.bar_type), bar)

    def _handle_instrument(self, instrument: Any) -> None:
        self.data_count += 1
        self.instruments_processed += 1
        self._cache.add_instrument(instrument)
        self._msgbus.publish(topics.instrument(instrument.id), instrument)

    # -- lifecycle --------------------------------------------------------------------------

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
            "out_of_sequence": self.out_of_sequence,
        }

    def _on_stop(self) -> None:
        # Time bars stop with the engine; their subscriptions stay counted so a
        # resume restarts them where they were.
        for agg in self._aggregators.values():
            agg.stop()

    def _on_resume(self) -> None:
        for agg in self._aggregators.values():
            agg.start()

    def _on_dispose(self) -> None:
        for agg in self._aggregators.values():
            agg.stop()
        self._msgbus.unsubscribe(topics.ALL_DATA_COMMANDS, self.execute)
        self._msgbus.deregister(DATA_ENGINE_PROCESS)


def _ignore(_command: Any) -> None:
    """A message on the data command topic that is not the engine's to handle."""
