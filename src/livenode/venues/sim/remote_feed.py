"""`RemoteReplay`: a venue process's feed, as the client that started it sees it.

It offers what the sim data client watches on an in-process `SimFeed`
(`livenode.venues.sim.api.ReplayFeed`): ``done``, ``error``, the counts,
``stop_at_end`` and ``on_bad_line``, from the `FeedStatus` the venue process sends.
A replay, or a random walk (whose end, ``max_ticks``, or failure it reports).

The end arrives twice: as the ``feed.end`` market frame, after the replay's last
tick on the market connection (the one that counts: every tick before it has
been handed to the listeners), and as `FeedEnded` on the command connection,
which cannot be lost. When `FeedEnded` comes first, the market frame gets
`MARKET_END_GRACE_S` to follow (it may have been dropped at the high-water mark,
with ticks); then the replay ends on `FeedEnded` alone, with a warning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import msgspec

from livenode.venues.sim.remote_protocol import FeedStatus, Reply

__all__ = ["MARKET_END_GRACE_S", "RemoteReplay"]

_log = logging.getLogger("livenode.venues.sim.remote")

#: How long the end on the command connection waits for the market frame's.
MARKET_END_GRACE_S = 5.0

_ENDED = ("finished", "failed")


class RemoteReplay:
    """The replay of a venue process (see the module doc)."""

    def __init__(self, venue: str, loop: asyncio.AbstractEventLoop) -> None:
        self._venue = venue
        self._loop = loop
        self.done = asyncio.Event()
        #: The last status the venue process sent (None before `start_feed` answered).
        self.status: FeedStatus | None = None
        #: True once this client asked the venue process to start it.
        self.requested = False
        self._grace: asyncio.TimerHandle | None = None

    @property
    def error(self) -> str | None:
        return self.status.error if self.status is not None else None

    @property
    def replay_quotes(self) -> int:
        return self.status.quotes if self.status is not None else 0

    @property
    def replay_trades(self) -> int:
        return self.status.trades if self.status is not None else 0

    @property
    def bad_lines(self) -> int:
        return self.status.bad_lines_skipped if self.status is not None else 0

    @property
    def stop_at_end(self) -> bool:
        return self.status.stop_at_end if self.status is not None else False

    @property
    def on_bad_line(self) -> str:
        return self.status.on_bad_line if self.status is not None else "stop"

    async def request_start(self, start_feed: Callable[[], Awaitable[Reply]]) -> None:
        """Send ``start_feed`` (the proxy's round trip) and take the venue's answer."""
        self.requested = True
        try:
            reply = await start_feed()
            status = msgspec.msgpack.decode(reply.items[0], type=FeedStatus)
        except (TimeoutError, ConnectionError, ValueError, IndexError) as exc:
            _log.error("sim venue %s: start_feed failed: %s", self._venue, exc)
            return
        if status.mode == "replay":
            _log.info("sim venue %s: replay %s on request", self._venue,
                      "starting" if status.state == "running" else status.state)
        self.answered(status)

    def end_frame(self, payload: bytes) -> None:
        """The ``feed.end`` market frame's payload."""
        try:
            status = msgspec.msgpack.decode(payload, type=FeedStatus)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            _log.error("sim venue %s: dropped a malformed feed end frame: %s", self._venue, exc)
            return
        self.ended(status)

    def answered(self, status: FeedStatus) -> None:
        """The venue process answered ``start_feed``: running, or ended already (a
        restarted data worker asking again: the replay ran once, it is not repeated)."""
        if self.done.is_set():
            return
        self.status = status
        if status.state in _ENDED:
            if status.mode == "replay":
                _log.warning("sim venue %s: the replay had %s before this client asked "
                             "(%d quotes, %d trades); it is not replayed again",
                             self._venue, status.state, status.quotes, status.trades)
            else:
                _log.warning("sim venue %s: the market feed had %s before this client "
                             "asked%s", self._venue, status.state,
                             f": {status.error}" if status.error else "")
            self.ended(status)

    def ended(self, status: FeedStatus) -> None:
        """The ``feed.end`` market frame: every tick before it was delivered."""
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        if self.done.is_set():
            return
        self.status = status
        self.done.set()

    def ended_on_command(self, status: FeedStatus) -> None:
        """`FeedEnded` on the command connection: wait briefly for the market frame."""
        if self.done.is_set() or self._grace is not None:
            return
        self._grace = self._loop.call_later(MARKET_END_GRACE_S, self._market_end_lost, status)

    def _market_end_lost(self, status: FeedStatus) -> None:
        self._grace = None
        if not self.done.is_set():
            _log.warning("sim venue %s: the replay ended, but its last market frame did not "
                         "arrive within %gs (dropped at the high-water mark?)", self._venue,
                         MARKET_END_GRACE_S)
            self.ended(status)

    def close(self) -> None:
        """The client disconnected: no timer left behind."""
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
