"""The venue process's replay: started once, on a client's ``start_feed``, watched to its end.

In multiprocess mode the sim data client lives in a data worker, and the node's
strategies subscribe through it. A replay at speed 0 that started with the venue
process would be used up before any of them listened, so `SimVenueServer` leaves
a replay stopped until a client sends ``start_feed`` (the data client does once
every trader worker's strategies have started), and then waits until its
publisher has seen the market subscriptions the client named: they travel on the
market connection, ``start_feed`` on the command connection, and nothing orders
the two.

The replay runs once per venue process. A second ``start_feed`` (a restarted data
worker) gets the feed's status back, with a warning in the log, never the file
from the start again. The end goes to every client that asked: as the
``feed.end`` market frame after the last tick (so a client that reads it has
every tick before it) and as `FeedEnded` on the ordered command pipe (never
dropped, in case the market frame was lost at the high-water mark).

A random walk runs from the server's start (`watch`); a client's ``start_feed``
makes it a watcher, so the walk's end (``max_ticks``) or failure (an error in
the feed with ``on_error = "stop"``) reaches it the same way: a venue process
whose market died never leaves a node waiting for ticks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

import msgspec
import zmq

from livenode.venues.sim.remote_protocol import (
    FEED_END_PREFIX,
    FeedEnded,
    FeedStatus,
    ProtocolCodec,
)
from livenode.venues.sim.venue import SimVenue

__all__ = ["SUBSCRIPTIONS_TIMEOUT_S", "FeedControl"]

_log = logging.getLogger("livenode.venues.sim.server")

#: A replay starts once the publisher has seen the subscriptions ``start_feed`` named,
#: or after this long (with a warning: ticks before them never reach that client).
SUBSCRIPTIONS_TIMEOUT_S = 5.0
_SUBSCRIPTIONS_POLL_S = 0.002


class FeedControl:
    """Starts a venue's replay on request and tells the requesters its end.

    Args:
        venue: the hosted venue (its ``feed``).
        loop: the server's loop.
        publisher: returns the server's XPUB socket (None once closed).
        send: sends a command-socket frame to a peer, in order, never dropped.
    """

    def __init__(
        self,
        venue: SimVenue,
        loop: asyncio.AbstractEventLoop,
        publisher: Callable[[], zmq.Socket[Any] | None],
        send: Callable[[bytes, bytes], None],
    ) -> None:
        self._venue = venue
        self._loop = loop
        self._publisher = publisher
        self._send = send
        self._proto = ProtocolCodec()
        self._subscribed: set[bytes] = set()  # market prefixes the publisher has seen
        self._watchers: list[bytes] = []
        self.requested = False
        self._task: asyncio.Task[None] | None = None

    def status(self) -> FeedStatus:
        """The feed's state and (a replay) what it emitted so far."""
        feed = self._venue.feed
        cfg = feed.config
        if feed.error is not None:
            state = "failed"
        elif feed.done.is_set():
            state = "finished"
        elif cfg.mode != "replay":
            state = "random_walk"
        elif self.requested:
            state = "running"
        else:
            state = "waiting"
        facts = feed.replay_facts()
        return FeedStatus(
            state=state, quotes=feed.replay_quotes, trades=feed.replay_trades,
            first_ts=cast("str | None", facts["first_ts"]),
            last_ts=cast("str | None", facts["last_ts"]),
            bad_lines_skipped=feed.bad_lines,
            error=None if feed.error is None else str(feed.error),
            stop_at_end=cfg.stop_at_end, on_bad_line=cfg.on_bad_line,
            feed_errors=feed.errors, records_lost=feed.records_lost, mode=cfg.mode,
        )

    def start_feed(self, peer: bytes, payload: bytes) -> FeedStatus:
        """Handle ``start_feed`` from `peer`: start the replay (once); the status.

        Raises:
            msgspec.DecodeError: the payload is not a msgpack list of prefixes (the
                server answers with an error reply).
        """
        wanted = {p.encode() for p in msgspec.msgpack.decode(payload or b"\x90",
                                                             type=list[str])}
        if peer not in self._watchers:
            self._watchers.append(peer)
        if self._venue.replay_feed is None:
            # A random walk runs since the venue started (`watch`): the peer now hears
            # of its end; one that ended already is in the status.
            return self.status()
        if self.requested:
            status = self.status()
            _log.warning("sim venue %s: start_feed again: the replay is %s (%d quotes, %d "
                         "trades so far); it runs once per venue process, not again",
                         self._venue.venue, status.state, status.quotes, status.trades)
            return status
        self.requested = True
        self._task = self._loop.create_task(self._run(wanted))
        return self.status()

    def watch(self) -> None:
        """Watch a feed that runs from the server's start (a random walk) to its end."""
        if self._task is None:
            self._task = self._loop.create_task(self._announce_end())

    def close(self) -> None:
        """Stop watching (the server stops)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def drain_subscriptions(self) -> None:
        """Read the subscriptions the XPUB reports (the server calls it with every batch
        of requests too, so they never pile up in the socket)."""
        pub = self._publisher()
        while pub is not None:
            try:
                frame = pub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            # XPUB: 1 + prefix subscribes, 0 + prefix unsubscribes (the first and the
            # last of a prefix over all subscribers).
            if frame[:1] == b"\x01":
                self._subscribed.add(frame[1:])
            elif frame[:1] == b"\x00":
                self._subscribed.discard(frame[1:])

    async def _run(self, wanted: set[bytes]) -> None:
        venue = self._venue
        deadline = self._loop.time() + SUBSCRIPTIONS_TIMEOUT_S
        self.drain_subscriptions()
        while not wanted <= self._subscribed and self._loop.time() < deadline:
            # Short-lived (start only): the XPUB's fd offers no edge we could await
            # without also watching every market send.
            await asyncio.sleep(_SUBSCRIPTIONS_POLL_S)
            self.drain_subscriptions()
        missing = wanted - self._subscribed
        if missing:
            _log.warning("sim venue %s: replay starts without subscription(s) %s after %gs",
                         venue.venue, sorted(m.decode(errors="replace") for m in missing),
                         SUBSCRIPTIONS_TIMEOUT_S)
        _log.info("sim venue %s: replay started", venue.venue)
        venue.start()
        await self._announce_end()

    async def _announce_end(self) -> None:
        """Once the feed is done: its status to the market and to every watcher."""
        await self._venue.feed.done.wait()
        status = self.status()
        pub = self._publisher()
        if pub is not None:
            # After the last tick on every market connection (PUB keeps order per
            # connection): a client that reads it has every tick published to it.
            try:
                pub.send(FEED_END_PREFIX + msgspec.msgpack.encode(status), zmq.NOBLOCK)
            except zmq.Again:  # high-water mark: the watchers end on FeedEnded below
                _log.warning("sim venue %s: the feed's end frame was dropped at the "
                             "high-water mark", self._venue.venue)
        frame = self._proto.encode(FeedEnded(status))
        for peer in list(self._watchers):
            self._send(peer, frame)
