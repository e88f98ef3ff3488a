"""When the simulated market moves: the feed scheduler on the event loop.

`SimFeed` drives either the random walks (one per instrument) or a replay
iterator, and hands each raw quote/trade to a sink (the venue). It runs in
batches: one loop wake-up every ``batch_interval_ms`` emits every update that
is due by then, so a rate of tens of thousands per second costs hundreds of
wake-ups per second, not one ``call_later`` handle per tick.

- Random walk: ``rate_per_second`` quote updates per instrument per second,
  timestamps spread evenly over the batch's interval. If the loop falls behind
  by more than 50 ms worth of updates the backlog is dropped (a source does not
  queue: lost time is lost) and counted in ``lag_dropped``. ``max_ticks`` stops
  the feed after that many updates per instrument.
- Replay at ``replay_speed`` > 0: records are emitted when the replay clock
  (first record's time + elapsed * speed) reaches them. At speed 0 (as fast as
  possible) up to ``replay_batch_size`` records per wake-up, yielding to the
  loop in between so commands and other tasks still run.

``done`` (an `asyncio.Event`) is set when a finite feed has emitted everything;
a replay error stops the feed and is kept in ``error`` (with ``on_bad_line =
"skip"`` a bad line is logged, counted in ``bad_lines`` and skipped instead). The
end of a replay is logged: "replay finished: N quotes, M trades, <first> ..
<last>" (recorded timestamps, UTC).

Any other exception in a wake-up (the venue's sink, a random walk, the venue's
timers) never leaves the feed silently dead, still "running": ``on_error =
"stop"`` (default) ends it like a bad line (``done`` set, ``error`` a `FeedError`
naming the exception; the data client then stops the node with a failure), and
``on_error = "restart"`` logs it, drops the record it happened on (counted in
``records_lost``) and resumes after a back-off (`RESTART_DELAYS_S`), giving up
like "stop" after that many failures in a row. A replay reader that raised
cannot resume (its generator is finished): that always stops the feed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from livenode.venues.sim.config import SimFeedConfig
from livenode.venues.sim.market import RandomWalk, RawQuote, RawTrade
from livenode.venues.sim.replay import OnBadLine, ReplayError, ReplayRecord

_log = logging.getLogger("livenode.venues.sim.feed")

#: ``on_error = "restart"``: the pause before each resume after a failure in a row;
#: one more failure in a row stops the feed as "stop" does.
RESTART_DELAYS_S = (0.1, 0.2, 0.5, 1.0, 2.0)


class FeedError(RuntimeError):
    """What stopped a feed other than a bad line: an exception in a wake-up."""


class _ReaderFailed(Exception):
    """The replay reader raised something other than a `ReplayError` (it is finished)."""

QuoteSink = Callable[[str, RawQuote, int], None]  # symbol, quote, ts_event
TradeSink = Callable[[str, RawTrade, int], None]


class SimFeed:
    """Schedules market updates on the loop from ``start()`` to ``stop()``."""

    def __init__(
        self,
        config: SimFeedConfig,
        loop: asyncio.AbstractEventLoop,
        now_ns: Callable[[], int],
        on_quote: QuoteSink,
        on_trade: TradeSink,
        walks: dict[str, RandomWalk] | None = None,
        replay: Callable[[OnBadLine | None], Iterator[ReplayRecord]] | None = None,
        on_wake: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config
        self._loop = loop
        self._now_ns = now_ns
        self._on_quote = on_quote
        self._on_trade = on_trade
        self._on_wake = on_wake
        self._walks = list((walks or {}).items())
        self._replay_factory = replay
        self._replay: Iterator[ReplayRecord] | None = None
        self._pending: ReplayRecord | None = None
        self._interval = max(config.batch_interval_ms, 0.1) / 1000.0
        self._handle: asyncio.Handle | None = None
        self.running = False
        self.done = asyncio.Event()
        self.error: Exception | None = None
        self.updates = 0  # quote updates per instrument (random walk) or records (replay)
        self.lag_dropped = 0
        self._t0 = 0.0
        self._last_ts = 0
        self._replay_t0_ns = 0
        # loop_replay with recorded times: added to each loop's times so they go on.
        self._loop_shift_ns = 0
        self._loop_first_ts = 0
        # Replay facts (for the "replay finished" line and the node's summary).
        self.replay_quotes = 0
        self.replay_trades = 0
        self.replay_first_ts: int | None = None
        self.replay_last_ts: int | None = None
        self.bad_lines = 0
        # Failures of a wake-up (on_error): all of them, and since the last good one.
        self.errors = 0
        self._errors_in_a_row = 0
        self.records_lost = 0  # replay records dropped by a restart after a failure

    @property
    def stop_at_end(self) -> bool:
        """``feed.stop_at_end``: the end of the replay stops the node."""
        return self.config.stop_at_end

    @property
    def on_bad_line(self) -> str:
        """``feed.on_bad_line``: ``"stop"`` or ``"skip"``."""
        return self.config.on_bad_line

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        if self.running:
            return
        self.running = True
        self.done.clear()
        self._t0 = self._loop.time()
        self._last_ts = self._now_ns()
        if self.config.mode == "replay":
            try:
                self._open_replay()
            except ReplayError as exc:  # a file that cannot be opened, a bad first line
                self.error = exc
                _log.error("sim feed stopped: %s", exc)
                self._finish()
                return
            except _ReaderFailed as exc:
                self._fail(exc.__cause__ or exc, "the replay reader failed")
                return
        self._handle = self._loop.call_soon(self._wake)

    def stop(self) -> None:
        self.running = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    # -- scheduling -------------------------------------------------------------------

    def _wake(self) -> None:
        self._handle = None
        if not self.running:
            return
        try:
            delay = self._replay_batch() if self.config.mode == "replay" else self._walk_batch()
            if self._on_wake is not None:
                self._on_wake(self._now_ns())
        except ReplayError as exc:
            self.error = exc
            _log.error("sim feed stopped: %s", exc)
            self._log_replay_end("stopped by a bad line")
            self._finish()
            return
        except _ReaderFailed as exc:
            self._fail(exc.__cause__ or exc, "the replay reader failed")
            return
        except Exception as exc:  # the sink, a walk, the venue's timers
            self._failed(exc)
            return
        self._errors_in_a_row = 0
        if self.running:
            if delay == 0.0:
                self._handle = self._loop.call_soon(self._wake)
            else:
                self._handle = self._loop.call_later(delay, self._wake)

    def _finish(self) -> None:
        self.running = False
        self.done.set()

    def _failed(self, exc: Exception) -> None:
        """A wake-up raised: resume after a pause (``on_error = "restart"``), or stop."""
        self.errors += 1
        self._errors_in_a_row += 1
        n = self._errors_in_a_row
        if self.config.on_error != "restart" or n > len(RESTART_DELAYS_S):
            gave_up = f" ({n - 1} restart(s) in a row did not help)" if n > 1 else ""
            self._fail(exc, f"sim feed failed{gave_up}")
            return
        delay = RESTART_DELAYS_S[n - 1]
        _log.error("sim feed failed (%d in a row); on_error = restart: resuming in %gs",
                   n, delay, exc_info=exc)
        if self.config.mode == "replay" and self._pending is not None:
            # The record the failure happened on: emitting it again would fail again.
            self.records_lost += 1
            try:
                self._pending = self._next_record()
            except ReplayError as bad:
                self.error = bad
                _log.error("sim feed stopped: %s", bad)
                self._log_replay_end("stopped by a bad line")
                self._finish()
                return
            except _ReaderFailed as dead:
                self._fail(dead.__cause__ or dead, "the replay reader failed")
                return
        self._handle = self._loop.call_later(delay, self._wake)

    def _fail(self, exc: BaseException, what: str) -> None:
        """Stop for good: ``error`` names the exception, ``done`` wakes the data client."""
        self.error = FeedError(f"{what}: {type(exc).__name__}: {exc}")
        _log.error("sim feed stopped: %s", self.error, exc_info=exc)
        if self.config.mode == "replay":
            self._log_replay_end("stopped by an error")
        self._finish()

    def _walk_batch(self) -> float:
        cfg = self.config
        rate = cfg.rate_per_second
        due = int((self._loop.time() - self._t0) * rate) + 1  # first update at once
        n = due - self.updates
        cap = max(1, int(rate * 0.05))
        if n > cap:
            self.lag_dropped += n - cap
            self._t0 += (n - cap) / rate  # forget the lost time instead of bursting
            n = cap
        if cfg.max_ticks is not None:
            n = min(n, cfg.max_ticks - self.updates)
        if n > 0:
            now = self._now_ns()
            last = self._last_ts
            step = (now - last) / n if now > last else 0.0
            on_quote, on_trade = self._on_quote, self._on_trade
            for i in range(1, n + 1):
                ts = last + int(step * i)
                for symbol, walk in self._walks:
                    quote, trade = walk.step(ts)
                    on_quote(symbol, quote, ts)
                    if trade is not None:
                        on_trade(symbol, trade, ts)
            self._last_ts = max(now, last)
            self.updates += n
        if cfg.max_ticks is not None and self.updates >= cfg.max_ticks:
            self._finish()
        return self._interval

    def _skip_bad_line(self, error: ReplayError) -> None:
        self.bad_lines += 1
        _log.warning("replay: skipped %s", error)

    def replay_facts(self) -> dict[str, int | str | None]:
        """What the replay emitted so far (JSON-ready)."""
        return {
            "quotes": self.replay_quotes,
            "trades": self.replay_trades,
            "first_ts": _iso(self.replay_first_ts),
            "last_ts": _iso(self.replay_last_ts),
            "bad_lines_skipped": self.bad_lines,
            "feed_errors": self.errors,
            "records_lost": self.records_lost,
            "error": None if self.error is None else str(self.error),
        }

    def _log_replay_end(self, how: str = "finished") -> None:
        skipped = f", {self.bad_lines} bad line(s) skipped" if self.bad_lines else ""
        if self.records_lost:
            skipped += f", {self.records_lost} record(s) lost to feed errors"
        _log.info(
            "replay %s: %d quotes, %d trades, %s .. %s%s",
            how,
            self.replay_quotes,
            self.replay_trades,
            _iso(self.replay_first_ts) or "-",
            _iso(self.replay_last_ts) or "-",
            skipped,
        )

    def _open_replay(self) -> None:
        if self._replay_factory is None:
            raise ReplayError("replay mode needs replay files (feed.replay_path)")
        skip = self._skip_bad_line if self.config.on_bad_line == "skip" else None
        self._replay = self._replay_factory(skip)
        self._pending = self._next_record()
        self._t0 = self._loop.time()
        self._replay_t0_ns = self._pending.ts if self._pending is not None else 0
        if self._pending is not None:
            self._loop_first_ts = self._pending.ts

    def _next_record(self) -> ReplayRecord | None:
        """The reader's next record (None at the end); `_ReaderFailed` when the reader
        raised anything but a `ReplayError`."""
        try:
            return next(self._replay, None)  # type: ignore[arg-type]
        except ReplayError:
            raise
        except Exception as exc:
            raise _ReaderFailed() from exc

    def _replay_batch(self) -> float:
        cfg = self.config
        speed = cfg.replay_speed
        if speed > 0:
            horizon = self._replay_t0_ns + int((self._loop.time() - self._t0) * 1e9 * speed)
            limit = None
        else:
            horizon = None
            limit = max(1, cfg.replay_batch_size)
        venue_ts = cfg.replay_timestamps == "venue"
        now = self._now_ns()
        emitted = 0
        while self._pending is not None:
            rec = self._pending
            if horizon is not None and rec.ts > horizon:
                break
            if limit is not None and emitted >= limit:
                break
            ts = now if venue_ts else rec.ts + self._loop_shift_ns
            # Counted once the sink took it: a record the sink failed on is not emitted.
            if isinstance(rec.data, RawQuote):
                self._on_quote(rec.symbol, rec.data, ts)
                self.replay_quotes += 1
            else:
                self._on_trade(rec.symbol, rec.data, ts)
                self.replay_trades += 1
            if self.replay_first_ts is None:
                self.replay_first_ts = rec.ts
            self.replay_last_ts = rec.ts
            emitted += 1
            # Inlined `_next_record` (once per record): a try costs nothing until it raises.
            try:
                self._pending = next(self._replay, None)  # type: ignore[arg-type]
            except ReplayError:
                raise
            except Exception as exc:
                raise _ReaderFailed() from exc
        self.updates += emitted
        if self._pending is None:
            if not cfg.loop_replay:
                self._log_replay_end()
            if cfg.loop_replay:
                # Recorded times go on from the end of the previous loop, never back: the
                # node drops ticks whose time goes backwards ([data_engine]).
                if self.replay_first_ts is not None and self.replay_last_ts is not None:
                    self._loop_shift_ns += self.replay_last_ts - self._loop_first_ts + 1
                self._open_replay()
                if self._pending is None:
                    self._finish()
            else:
                self._finish()
            return self._interval
        return 0.0 if speed <= 0 else self._interval


def _iso(ts_ns: int | None) -> str | None:
    """Nanoseconds since the epoch as ISO 8601 UTC with nanoseconds (None stays None)."""
    if ts_ns is None:
        return None
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"
