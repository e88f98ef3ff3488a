"""`SimDataClient`: the node's market data link to the simulated venue.

On connect it subscribes to the venue's market (receiving every instrument at
once, delivered to `DataEngine.process`) and starts the venue's feed; quotes and
trades are forwarded only for subscribed instruments. A replay starts later, in
`on_trading_started` (once the strategies have subscribed: at speed 0 the whole
file would otherwise be gone before anyone listened; in a venue process the
venue's `start` asks it with ``start_feed``); its end then stops the node when
``stop_at_end`` says so. A feed that failed, a replay stopped by a bad line
(``on_bad_line = "stop"``) or any feed stopped by an error (``on_error =
"stop"``, or restarts that did not help), random walk included, stops the node
with a failure naming why, through `ClientContext.request_stop` (a worker relays
it to its supervisor): a node never stays running with a dead market. It holds
the venue as a `SimVenueAPI` (the in-process `SimVenue` or a `RemoteSimVenue` in
front of a venue process; it does not ask which): ``await connect()`` first,
``await disconnect()`` last; the venue's ``replay_feed`` says whether there is a
replay to start, its ``market_feed`` is the feed watched either way.

In-process the venue stamps ``ts_init`` of each tick with the shared clock at
the moment it hands the tick over, which is the moment this client receives it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec

from livenode.engines.clients import ClientContext, LiveDataClient
from livenode.model.data import QuoteTick, TradeTick
from livenode.model.identifiers import InstrumentId
from livenode.venues.sim.remote_protocol import QUOTE, TRADE

if TYPE_CHECKING:
    from livenode.venues.sim.api import SimVenueAPI


_replace = msgspec.structs.replace


class SimDataClient(LiveDataClient):
    """Market data from a sim venue, filtered to the subscribed instruments."""

    def __init__(self, name: str, sim_venue: SimVenueAPI, context: ClientContext) -> None:
        super().__init__(name, sim_venue.venue, context)
        self.sim_venue = sim_venue
        self._quote_subs: set[InstrumentId] = set()
        self._trade_subs: set[InstrumentId] = set()
        self.ticks_forwarded = 0
        self._replay_watch: asyncio.Task[None] | None = None
        self._trading_started = False  # a reconnect then starts a replay at once

    async def _connect(self) -> None:
        venue = self.sim_venue
        await venue.connect()  # a remote venue: learn its instruments first
        venue.subscribe_market(self._on_market)
        if venue.replay_feed is None:
            venue.start()
            self._watch_feed()  # a random walk: its failure must stop the node
        elif self._trading_started:  # a reconnect while the node runs
            self._start_replay()

    def on_trading_started(self) -> None:
        """The strategies run and have subscribed: start a replay now, and watch its end."""
        self._trading_started = True
        if self.is_connected and self.sim_venue.replay_feed is not None:
            self._start_replay()

    def _start_replay(self) -> None:
        self.sim_venue.start()
        self._watch_feed()

    def _watch_feed(self) -> None:
        if self._replay_watch is None:
            self._replay_watch = self._loop.create_task(self._watch())

    async def _watch(self) -> None:
        venue = self.sim_venue
        feed = venue.market_feed
        if feed is None:
            return
        await feed.done.wait()
        error = feed.error
        replay = venue.replay_feed is not None
        if error is not None:
            # Any error: a bad line skipped never sets it, so one that is set stopped
            # the feed (a bad line with "stop", a file that cannot be read, a failure).
            what = "replay" if replay else "market feed"
            self._log.error("%s: %s failed: %s", self.name, what, error)
            self._context.request_stop(f"{what} failed: {error}",
                                       failure=f"{what} failed: {error}")
        elif replay and feed.stop_at_end:
            skipped = f", {feed.bad_lines} bad line(s) skipped" if feed.bad_lines else ""
            self._context.request_stop(
                f"replay finished: {feed.replay_quotes} quotes, {feed.replay_trades} trades"
                f"{skipped}"
            )

    async def _disconnect(self) -> None:
        # In-process the venue lives and dies with the node; its feed stops with
        # the data link. A venue process keeps running (its stop() does nothing).
        if self._replay_watch is not None:
            self._replay_watch.cancel()
            self._replay_watch = None
        self.sim_venue.unsubscribe_market(self._on_market)
        self.sim_venue.stop()
        await self.sim_venue.disconnect()

    # -- subscriptions ----------------------------------------------------------------

    def _check(self, instrument_id: InstrumentId) -> None:
        # A remote venue lists its instruments only once connected.
        if self.sim_venue.is_connected and self.sim_venue.instrument(instrument_id) is None:
            self._log.warning(
                "%s: subscription to %s, which venue %s does not list",
                self.name,
                instrument_id,
                self.venue,
            )

    def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        self._check(instrument_id)
        if instrument_id not in self._quote_subs:
            self._quote_subs.add(instrument_id)
            self.sim_venue.set_market_interest(QUOTE, instrument_id, True)

    def unsubscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        if instrument_id in self._quote_subs:
            self._quote_subs.discard(instrument_id)
            self.sim_venue.set_market_interest(QUOTE, instrument_id, False)

    def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        self._check(instrument_id)
        if instrument_id not in self._trade_subs:
            self._trade_subs.add(instrument_id)
            self.sim_venue.set_market_interest(TRADE, instrument_id, True)

    def unsubscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        if instrument_id in self._trade_subs:
            self._trade_subs.discard(instrument_id)
            self.sim_venue.set_market_interest(TRADE, instrument_id, False)

    @property
    def subscribed_quote_ticks(self) -> set[InstrumentId]:
        return set(self._quote_subs)

    @property
    def subscribed_trade_ticks(self) -> set[InstrumentId]:
        return set(self._trade_subs)

    # -- from the venue ---------------------------------------------------------------

    def _on_market(self, msg: Any) -> None:
        # `ts_init` is when the tick entered the node, as with any venue: the
        # venue's own stamp (its `ts_event`) is kept, and tick-to-trade measured
        # at the exec client starts here.
        kind = type(msg)
        if kind is QuoteTick:
            if msg.instrument_id in self._quote_subs:
                self.ticks_forwarded += 1
                self._handle_data(_replace(msg, ts_init=self._clock.timestamp_ns()))
        elif kind is TradeTick:
            if msg.instrument_id in self._trade_subs:
                self.ticks_forwarded += 1
                self._handle_data(_replace(msg, ts_init=self._clock.timestamp_ns()))
        else:  # an instrument definition: always delivered
            self._handle_data(msg)
