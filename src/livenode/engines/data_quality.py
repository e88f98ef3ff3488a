"""Bad and missing market data at the node's edge: what the `DataEngine` drops, and
which feeds went quiet.

The data engine takes quotes and trades from every adapter, so it is where bad
data is stopped for all of them, whatever an adapter checks itself. Its hot path
does the comparisons inline (a few per tick, `DataEngine._handle_quote`) and keeps
one `InstrumentSeen` per instrument; this module holds what happens off that
path:

- `DataQuality.dropped`: a tick that failed a check is counted by reason
  (`REASONS`) and logged, rate-limited: the first of a reason at once, then at
  most one line per reason every `LOG_EVERY_S` seconds saying how many more were
  dropped, so a venue sending garbage cannot flood the log.
- `DataQuality.check_stale`: called by the engine's timer, it judges each venue
  that has quote or trade subscriptions: no tick for ``stale_after`` seconds (from
  the later of its last tick and the moment it was first watched) makes it STALE,
  logged once; ticks make it fresh again at the next check, logged once. The hot
  path reads no clock for it: the check sees that an instrument's last accepted
  ``ts_event`` (or its count of venue-built bars) changed since the previous check,
  and dates that tick to the check (so the staleness is exact to one check
  interval, and never depends on how an adapter stamps its ticks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from livenode.bus import topics
from livenode.model.data import QuoteTick

if TYPE_CHECKING:
    from livenode.core.clock import Clock
    from livenode.model.identifiers import InstrumentId

__all__ = [
    "CROSSED_QUOTE",
    "LOG_EVERY_S",
    "NON_POSITIVE_PRICE",
    "REASONS",
    "TIMER_NAME",
    "TS_BACKWARDS",
    "DataQuality",
    "FeedState",
    "InstrumentSeen",
]

_log = logging.getLogger("livenode.engines.data")

NON_POSITIVE_PRICE = "non_positive_price"
CROSSED_QUOTE = "crossed_quote"
TS_BACKWARDS = "ts_backwards"
#: Why a tick is dropped; the engine's counters are ``dropped_<reason>``. (No
#: negative size: a `Quantity` cannot hold one, see `livenode.model.objects`.)
REASONS = (NON_POSITIVE_PRICE, CROSSED_QUOTE, TS_BACKWARDS)

#: At most one log line per drop reason this often (seconds).
LOG_EVERY_S = 10.0
_LOG_EVERY_NS = int(LOG_EVERY_S * 1e9)

#: The check's timer. It runs every second (a quarter of ``stale_after`` when that
#: is shorter); without ``stale_after`` every `_QUIET_CHECK_S`, only to log the drops
#: a quiet spell would otherwise leave unsaid.
TIMER_NAME = "DataEngine.check_stale"
_QUIET_CHECK_S = 5.0


class InstrumentSeen:
    """What the engine keeps per instrument (one dict lookup per tick): the last times
    it accepted, its topics (formatting one costs ~1 us) and its bar aggregators."""

    __slots__ = ("bars", "checked", "quote_aggs", "quote_topic", "quote_ts", "trade_aggs",
                 "trade_topic", "trade_ts", "venue")

    def __init__(self, instrument_id: InstrumentId) -> None:
        self.venue = str(instrument_id.venue)
        self.quote_topic = topics.quotes(instrument_id)
        self.trade_topic = topics.trades(instrument_id)
        self.quote_ts = 0  # ts_event of the last quote / trade accepted
        self.trade_ts = 0
        self.bars = 0  # venue-built bars received
        # The engine's aggregators fed by this instrument's quotes / trades.
        self.quote_aggs: list[Any] = []
        self.trade_aggs: list[Any] = []
        # (quote_ts, trade_ts, bars) at the last staleness check: None before it.
        self.checked: tuple[int, int, int] | None = None


class FeedState:
    """One venue's feed as the staleness check sees it."""

    __slots__ = ("stale", "watched_since")

    def __init__(self) -> None:
        self.watched_since: int | None = None  # first check that saw it subscribed
        self.stale = False


class DataQuality:
    """Counts and logs dropped ticks; judges the venues' feeds stale or fresh.

    Args:
        clock: the engine's clock (read on a drop and by the staleness check only).
        stale_after: seconds without a tick that make a subscribed venue STALE (0: never).
        watched: the venues to judge now (those with quote or trade subscriptions).
    """

    def __init__(
        self, clock: Clock, stale_after: float, watched: Callable[[], set[str]]
    ) -> None:
        self._clock = clock
        self._watched = watched
        self.stale_after_ns = int(stale_after * 1e9)
        #: instrument id string -> its state (the engine reads it on every tick).
        self.seen: dict[str, InstrumentSeen] = {}
        self.dropped_counts: dict[str, int] = dict.fromkeys(REASONS, 0)
        self._logged_at: dict[str, int] = {}
        self._suppressed: dict[str, int] = dict.fromkeys(REASONS, 0)
        self._feeds: dict[str, FeedState] = {}
        self._idle_ns: dict[str, int] = {}  # venue -> ns without a tick, at the last check
        self._last_heard: dict[str, int] = {}  # venue -> the check that saw its last tick

    # -- per instrument ----------------------------------------------------------------------

    def instrument(self, instrument_id: InstrumentId) -> InstrumentSeen:
        """The state of an instrument seen for the first time."""
        # One per instrument the venues deliver: bounded by what they list.
        seen = self.seen[instrument_id.value] = InstrumentSeen(instrument_id)
        return seen

    # -- drops -------------------------------------------------------------------------------

    def dropped(self, reason: str, data: Any, last_ts: int = 0) -> None:
        """Count a dropped tick and log it (rate-limited per reason)."""
        self.dropped_counts[reason] += 1
        now = self._clock.timestamp_ns()
        last = self._logged_at.get(reason)
        if last is not None and now - last < _LOG_EVERY_NS:
            self._suppressed[reason] += 1
            return
        more = self._suppressed[reason]
        self._suppressed[reason] = 0
        self._logged_at[reason] = now
        _log.warning("DataEngine: dropped a %s of %s: %s%s", _kind(data), data.instrument_id,
                     _detail(reason, data, last_ts),
                     f" ({more} more dropped for {reason} since the last line)" if more else "")

    @staticmethod
    def quote_reason(quote: QuoteTick) -> str:
        """Which check a quote failed (the engine only knows that one did)."""
        if quote.bid_price.raw <= 0 or quote.ask_price.raw <= 0:
            return NON_POSITIVE_PRICE
        return CROSSED_QUOTE

    def _flush_suppressed(self, now: int) -> None:
        """The drops a quiet spell would otherwise leave unsaid."""
        for reason, more in self._suppressed.items():
            if more and now - self._logged_at.get(reason, 0) >= _LOG_EVERY_NS:
                self._suppressed[reason] = 0
                self._logged_at[reason] = now
                _log.warning("DataEngine: %d more tick(s) dropped for %s since the last line",
                             more, reason)

    # -- staleness ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run the check on the clock's timer (the engine starts or resumes)."""
        stale_after = self.stale_after_ns / 1e9
        interval = min(1.0, stale_after / 4) if stale_after > 0 else _QUIET_CHECK_S
        self._clock.set_timer(TIMER_NAME, int(interval * 1e9), self.check_stale)

    def stop(self) -> None:
        """Stop the timer (the engine stops or is disposed)."""
        self._clock.cancel_timer(TIMER_NAME)

    def check_stale(self, _event: Any = None) -> None:
        """Judge every watched venue now; a venue no longer watched is forgotten."""
        now = self._clock.timestamp_ns()
        self._flush_suppressed(now)
        if self.stale_after_ns <= 0:
            return
        watched = self._watched()
        for venue in list(self._feeds):
            if venue not in watched:
                del self._feeds[venue]
                self._idle_ns.pop(venue, None)
        heard: set[str] = set()  # venues with a tick since the previous check
        for seen in self.seen.values():
            mark = (seen.quote_ts, seen.trade_ts, seen.bars)
            if mark != seen.checked:
                seen.checked = mark
                heard.add(seen.venue)
        for venue in heard:
            self._last_heard[venue] = now
        for venue in watched:
            feed = self._feeds.get(venue)
            if feed is None:
                feed = self._feeds[venue] = FeedState()
            if feed.watched_since is None:
                feed.watched_since = now
            idle = now - max(feed.watched_since, self._last_heard.get(venue, 0))
            self._idle_ns[venue] = idle
            if not feed.stale and idle >= self.stale_after_ns:
                feed.stale = True
                _log.warning("DataEngine: no data from %s for %.1fs: STALE (stale_after = %gs)",
                             venue, idle / 1e9, self.stale_after_ns / 1e9)
            elif feed.stale and idle < self.stale_after_ns:
                feed.stale = False
                _log.info("DataEngine: data from %s again: fresh", venue)

    def stale_venues(self) -> dict[str, float]:
        """Venues STALE at the last check: seconds without a tick."""
        return {venue: round(self._idle_ns.get(venue, 0) / 1e9, 3)
                for venue, feed in sorted(self._feeds.items()) if feed.stale}

    def feeds(self) -> dict[str, tuple[bool, float]]:
        """Every watched venue at the last check: (stale, seconds without a tick)."""
        return {venue: (feed.stale, round(self._idle_ns.get(venue, 0) / 1e9, 3))
                for venue, feed in sorted(self._feeds.items())}


def _kind(data: Any) -> str:
    return "quote" if type(data) is QuoteTick else "trade"


def _detail(reason: str, data: Any, last_ts: int) -> str:
    if reason == TS_BACKWARDS:
        return f"{reason}: ts_event {data.ts_event} < {last_ts}, the last one accepted"
    if type(data) is QuoteTick:
        return (f"{reason}: bid {data.bid_size}@{data.bid_price}, "
                f"ask {data.ask_size}@{data.ask_price}")
    return f"{reason}: {data.size}@{data.price}"
