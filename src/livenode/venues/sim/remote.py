"""`RemoteSimVenue`: the client side of a sim venue process (see `server`).

It implements `SimVenueAPI` (`api`) like the in-process `SimVenue`, so the sim
clients work with either. Where the remote needs a round trip it is asynchronous:

- ``await connect()`` (before anything else; the clients' ``_connect`` does it)
  pings the server and fetches the instruments and the account id, failing with
  `SimVenueUnavailable` naming the endpoint when nobody answers in ``timeout``;
  it is reference-counted, so the data and exec client of one process share it,
  and ``await disconnect()`` closes the sockets when the last one leaves;
- ``await attach(listener)`` attaches the account and returns once the venue's
  current `AccountState` has been delivered to the listener;
- the reports (``request_order_status_reports`` ...) are round trips.

The feed belongs to the venue process, which outlives the clients (that is the
point: a restarted node finds the venue's orders still there): ``stop()`` does
nothing. A replay (``replay_feed``, a `RemoteReplay`, known once connected) is
started by ``start()``: a ``start_feed`` request naming this client's market
subscriptions; its end comes back from the venue process (see `remote_feed`).
For a random walk (running already) ``start()`` sends ``start_feed`` too, only to
hear of the walk's end or failure (``market_feed``).

Sockets are driven through ``zmq.FD`` (edge-triggered: drain until EAGAIN, look
at ``zmq.EVENTS`` after a send), not ``zmq.asyncio`` (a Future per message costs
30-50 us per hop, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import msgspec
import zmq

from livenode.core.clock import Clock
from livenode.model.codec import Codec, CodecError
from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from livenode.model.events import AccountState
from livenode.model.identifiers import AccountId, InstrumentId, Venue
from livenode.model.instruments import Instrument
from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport
from livenode.venues.sim.remote_feed import RemoteReplay
from livenode.venues.sim.remote_protocol import (
    FEED_END_PREFIX,
    INSTRUMENT,
    NO_REPLY,
    QUOTE,
    TRADE,
    Event,
    FeedEnded,
    MarketFrameError,
    ProtocolCodec,
    ProtocolError,
    Reply,
    Request,
    market_prefix,
    unpack_market,
)

__all__ = ["RemoteSimVenue", "SimVenueUnavailable"]

_log = logging.getLogger("livenode.venues.sim.remote")
_DRAIN_BATCH = 1024
_CLOSE_TIMEOUT = 1.0

Listener = Callable[[Any], None]


class SimVenueUnavailable(ConnectionError):
    """The venue process did not answer (not started, gone, or wrong endpoint)."""


class RemoteSimVenue:
    """A proxy of a `SimVenue` served by `SimVenueServer` (see the module doc).

    Counters: ``malformed`` (dropped frames), ``event_gaps``, ``market_received``,
    ``events_received``, ``queued`` (commands that waited for the socket).
    ``timeout`` (seconds) bounds every round trip, `connect` included.
    """

    def __init__(
        self,
        venue: str,
        command_endpoint: str,
        market_endpoint: str,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        *,
        timeout: float = 5.0,
    ) -> None:
        self.venue = Venue(venue)
        self.command_endpoint = command_endpoint
        self.market_endpoint = market_endpoint
        self.timeout = timeout
        # Known for sure after connect(); the venue's default until then.
        self.account_id = AccountId(f"{venue}-001")
        self.session = ""
        self._loop = loop
        self._clock = clock
        self._codec = Codec()
        self._proto = ProtocolCodec()
        self._ctx: zmq.Context[Any] | None = None
        self._dealer: zmq.Socket[Any] | None = None
        self._sub: zmq.Socket[Any] | None = None
        self._fds: list[int] = []
        self._users = 0
        self._connecting: asyncio.Future[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Reply]] = {}
        self._pending: deque[bytes] = deque()
        self._check_scheduled = False
        self._drain_market_scheduled = False
        self._instruments: dict[InstrumentId, Instrument] = {}
        self._market_listeners: list[Listener] = []
        self._account_listener: Listener | None = None
        self._last_account_state: AccountState | None = None
        self._event_seq = 0
        # Market topics wanted (prefix -> interest count); applied to the SUB socket.
        self._interest: dict[bytes, int] = {}
        # The venue process's replay (its ping says whether it has one).
        self._replay: RemoteReplay | None = None
        self._is_replay = False
        self._feed_task: asyncio.Task[None] | None = None
        self.malformed = 0
        self.event_gaps = 0
        self.market_received = 0
        self.events_received = 0
        self.queued = 0

    # -- connection -------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self._users > 0

    async def connect(self, timeout: float | None = None) -> None:
        """Open the sockets (first user) and learn the venue; shared by its users.

        Raises:
            SimVenueUnavailable: no answer from ``command_endpoint`` within ``timeout``.
            ValueError: the server serves another venue.
        """
        if self._closing is not None:  # the last user is still closing: let it finish
            await asyncio.shield(self._closing)
        if self._connecting is not None:  # a peer client is connecting: share the result
            await asyncio.shield(self._connecting)
            self._users += 1
            return
        if self._users > 0:
            self._users += 1
            return
        fut: asyncio.Future[None] = self._loop.create_future()
        self._connecting = fut
        try:
            self._open()
            await self._handshake(self.timeout if timeout is None else timeout)
        except BaseException as exc:
            self._close()
            fut.set_exception(exc)
            fut.exception()  # retrieved: a failed connect is the caller's, not the loop's
            raise
        finally:
            self._connecting = None
        self._users += 1
        fut.set_result(None)

    async def _handshake(self, timeout: float) -> None:
        try:
            ping = await self._request("ping", timeout=timeout)
            listed = await self._request("instruments", timeout=timeout)
        except TimeoutError:
            raise SimVenueUnavailable(
                f"sim venue {self.venue}: no answer from {self.command_endpoint} within "
                f"{timeout}s (is the venue process running?)"
            ) from None
        if ping.venue != str(self.venue):
            raise ValueError(
                f"sim venue {self.venue}: {self.command_endpoint} serves venue {ping.venue!r}"
            )
        self.account_id = AccountId(ping.account_id)
        self.session = ping.session
        if self._replay is None:  # the feed, of either mode: its end or failure
            self._replay = RemoteReplay(str(self.venue), self._loop)
        self._is_replay = ping.feed == "replay"
        self._instruments = {}
        for raw in listed.items:
            # The venue lists only instruments (the codec's union cannot say which).
            inst = cast(Instrument, self._codec.decode(raw))
            self._instruments[inst.id] = inst

    async def disconnect(self) -> None:
        """Leave; the last user detaches (if attached) and closes the sockets."""
        if self._users == 0:
            return
        self._users -= 1
        if self._users > 0:
            return
        closing: asyncio.Future[None] = self._loop.create_future()
        self._closing = closing
        try:
            if self._account_listener is not None:
                self.detach_account(self._account_listener)
            # One round trip before closing (LINGER=0 would discard unsent frames):
            # every command and the detach sent before it has then reached the venue.
            try:
                await self._request("ping", timeout=_CLOSE_TIMEOUT)
            except (TimeoutError, ConnectionError, ValueError):
                _log.warning("sim venue %s: %s did not confirm before close", self.venue,
                             self.command_endpoint)
        finally:
            self._close()
            self._closing = None
            closing.set_result(None)

    def _open(self) -> None:
        ctx: zmq.Context[Any] = zmq.Context()
        self._ctx = ctx
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.SNDHWM, 100_000)
        dealer.setsockopt(zmq.RCVHWM, 100_000)
        dealer.connect(self.command_endpoint)
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RCVHWM, 100_000)
        sub.setsockopt(zmq.SUBSCRIBE, INSTRUMENT.encode() + b".")
        sub.setsockopt(zmq.SUBSCRIBE, FEED_END_PREFIX)
        for prefix in self._interest:
            sub.setsockopt(zmq.SUBSCRIBE, prefix)
        sub.connect(self.market_endpoint)
        self._dealer, self._sub = dealer, sub
        dealer_fd, sub_fd = dealer.getsockopt(zmq.FD), sub.getsockopt(zmq.FD)
        self._loop.add_reader(dealer_fd, self._on_dealer_events)
        self._loop.add_reader(sub_fd, self._on_market_readable)
        self._fds = [dealer_fd, sub_fd]
        self._event_seq = 0

    def _close(self) -> None:
        for fd in self._fds:
            self._loop.remove_reader(fd)
        self._fds = []
        for sock in (self._dealer, self._sub):
            if sock is not None:
                sock.close(linger=0)
        self._dealer = self._sub = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None
        self._pending.clear()
        if self._feed_task is not None:
            self._feed_task.cancel()
            self._feed_task = None
        if self._replay is not None:
            self._replay.close()
        waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(SimVenueUnavailable(f"sim venue {self.venue}: connection closed"))
                fut.exception()

    # -- lifecycle the clients expect -------------------------------------------------

    def start(self) -> None:
        """Ask the venue process to start a replay (once; its end comes back to
        ``replay_feed``); a random walk runs already, the request only makes this
        client hear of its end or failure (``market_feed``)."""
        replay = self._replay
        if replay is None or replay.requested or self._dealer is None:
            return
        replay.requested = True  # now: a second start() in this loop turn sends nothing
        # The venue process starts once its publisher has these subscriptions.
        wanted = [p.decode() for p in (*self._interest, FEED_END_PREFIX)]
        self._feed_task = self._loop.create_task(replay.request_start(
            lambda: self._request("start_feed", msgspec.msgpack.encode(wanted))))

    def stop(self) -> None:
        """Nothing to do: the venue process outlives its clients."""

    @property
    def replay_feed(self) -> RemoteReplay | None:
        """The venue process's replay (None for a random walk, or before `connect`)."""
        return self._replay if self._is_replay else None

    @property
    def market_feed(self) -> RemoteReplay | None:
        """The venue process's feed, either mode (None before `connect`)."""
        return self._replay

    # -- market -----------------------------------------------------------------------

    def instruments(self) -> list[Instrument]:
        return list(self._instruments.values())

    def instrument(self, instrument_id: InstrumentId) -> Instrument | None:
        return self._instruments.get(instrument_id)

    def subscribe_market(self, listener: Listener) -> None:
        """Like `SimVenue`: the listener gets every instrument at once, then the market."""
        if listener not in self._market_listeners:
            self._market_listeners.append(listener)
        for inst in self._instruments.values():
            listener(inst)

    def unsubscribe_market(self, listener: Listener) -> None:
        if listener in self._market_listeners:
            self._market_listeners.remove(listener)

    def set_market_interest(self, kind: str, instrument_id: InstrumentId, wanted: bool) -> None:
        """Take (or stop taking) ``kind`` ("quote"/"trade") of an instrument off the wire.

        The publisher filters by these prefixes, so unwanted ticks never cross the
        socket. Counted, so two subscribers of one stream do not undo each other.
        """
        if kind not in (QUOTE, TRADE):
            raise ValueError(f"market interest kind must be {QUOTE!r} or {TRADE!r}, got {kind!r}")
        prefix = market_prefix(kind, instrument_id)
        count = self._interest.get(prefix, 0)
        if wanted:
            self._interest[prefix] = count + 1
            if count == 0 and self._sub is not None:
                self._sub.setsockopt(zmq.SUBSCRIBE, prefix)
        elif count > 0:
            if count == 1:
                del self._interest[prefix]
                if self._sub is not None:
                    self._sub.setsockopt(zmq.UNSUBSCRIBE, prefix)
            else:
                self._interest[prefix] = count - 1
        self._schedule_market_drain()

    def _schedule_market_drain(self) -> None:
        # setsockopt may consume the FD's edge: drain once on the next loop turn.
        if not self._drain_market_scheduled and self._sub is not None:
            self._drain_market_scheduled = True
            self._loop.call_soon(self._on_market_readable)

    def _on_market_readable(self) -> None:
        self._drain_market_scheduled = False
        sub = self._sub
        if sub is None:
            return
        decode = self._codec.decode
        listeners = self._market_listeners
        for _ in range(_DRAIN_BATCH):
            try:
                frame = sub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if frame.startswith(FEED_END_PREFIX):
                if self._replay is not None:
                    self._replay.end_frame(frame[len(FEED_END_PREFIX):])
                continue
            try:
                topic, payload = unpack_market(frame)
                msg = decode(payload)
            except (MarketFrameError, CodecError) as exc:
                self._malformed(f"market frame: {exc}")
                continue
            self.market_received += 1
            if topic.startswith(INSTRUMENT):
                inst = cast(Instrument, msg)  # the instrument topic carries only instruments
                self._instruments[inst.id] = inst
            for listener in listeners:
                listener(msg)
        self._schedule_market_drain()  # batch full: yield, then go on draining

    # -- account ----------------------------------------------------------------------

    def attach_account(self, listener: Listener) -> AccountId:
        """Attach without waiting (the `SimVenue` signature); prefer ``await attach()``."""
        self._account_listener = listener
        self._event_seq = 0  # the server numbers a fresh attachment from 1
        self._send_request("attach_account", request_id=NO_REPLY)
        return self.account_id

    async def attach(self, listener: Listener, timeout: float | None = None) -> AccountId:
        """Attach and return once the venue's current `AccountState` reached `listener`.

        The server answers, then sends the state on the same ordered pipe, then
        answers our ping: after the ping reply the state has been delivered.
        """
        self._account_listener = listener
        self._event_seq = 0  # the server numbers a fresh attachment from 1
        reply = await self._request("attach_account", timeout=timeout)
        await self._request("ping", timeout=timeout)
        self.account_id = AccountId(reply.account_id)
        return self.account_id

    def detach_account(self, listener: Listener) -> None:
        """Stop delivering to `listener` and tell the venue (no reply needed)."""
        if self._account_listener == listener:  # bound methods are equal, not identical
            self._account_listener = None
            if self._dealer is not None:
                self._send_request("detach", request_id=NO_REPLY)

    def account_state(self) -> AccountState | None:
        """The last `AccountState` the venue sent (None before the first)."""
        return self._last_account_state

    # -- commands (answers come as events) --------------------------------------------

    def submit(self, command: SubmitOrder) -> None:
        self._send_request("submit", self._codec.encode(command))

    def modify(self, command: ModifyOrder) -> None:
        self._send_request("modify", self._codec.encode(command))

    def cancel(self, command: CancelOrder) -> None:
        self._send_request("cancel", self._codec.encode(command))

    def cancel_all(self, command: CancelAllOrders) -> None:
        self._send_request("cancel_all", self._codec.encode(command))

    # -- reports (round trips) ----------------------------------------------------------

    async def request_order_status_reports(
        self, open_only: bool = True
    ) -> list[OrderStatusReport]:
        """The venue's orders (open ones by default)."""
        return cast(list[OrderStatusReport],
                    await self._items("order_status_reports", open_only))

    async def request_order_status_reports_for(
        self, client_order_ids: list[str]
    ) -> list[OrderStatusReport]:
        """The venue's state of each order asked, open or closed (unknown ids left out)."""
        reply = await self._request("order_status_reports_for",
                                    msgspec.msgpack.encode(client_order_ids))
        return cast(list[OrderStatusReport], [self._codec.decode(raw) for raw in reply.items])

    async def request_fill_reports(self) -> list[FillReport]:
        """The venue's recent fills."""
        return cast(list[FillReport], await self._items("fill_reports"))

    async def request_position_reports(self) -> list[PositionStatusReport]:
        """The venue's positions."""
        return cast(list[PositionStatusReport], await self._items("position_reports"))

    async def request_account_state(self) -> AccountState:
        """The account's balances now, asked of the venue process."""
        items = await self._items("account_state")
        if len(items) != 1 or type(items[0]) is not AccountState:
            raise ProtocolError(f"account_state: expected one AccountState, got {items!r}")
        return items[0]

    async def _items(self, op: Any, open_only: bool = True) -> list[Any]:
        reply = await self._request(op, open_only=open_only)
        return [self._codec.decode(raw) for raw in reply.items]

    async def ping(self, timeout: float | None = None) -> float:
        """Round trip to the venue process, in seconds."""
        start = self._loop.time()
        await self._request("ping", timeout=timeout)
        return self._loop.time() - start

    # -- request plumbing -------------------------------------------------------------

    async def _request(
        self, op: Any, payload: bytes = b"", *, open_only: bool = True,
        timeout: float | None = None,
    ) -> Reply:
        if self._dealer is None:
            raise SimVenueUnavailable(f"sim venue {self.venue}: not connected (call connect())")
        rid = next(self._ids)
        fut: asyncio.Future[Reply] = self._loop.create_future()
        self._waiting[rid] = fut
        self._send_request(op, payload, request_id=rid, open_only=open_only)
        limit = self.timeout if timeout is None else timeout
        try:
            reply = await asyncio.wait_for(fut, limit)
        except TimeoutError:
            raise TimeoutError(
                f"sim venue {self.venue}: no reply to {op} from {self.command_endpoint} "
                f"within {limit}s"
            ) from None
        finally:
            self._waiting.pop(rid, None)
        if not reply.ok:
            raise ValueError(f"sim venue {self.venue}: {reply.error}")
        return reply

    def _send_request(
        self, op: Any, payload: bytes = b"", *, request_id: int = NO_REPLY, open_only: bool = True
    ) -> None:
        dealer = self._dealer
        if dealer is None:
            raise SimVenueUnavailable(
                f"sim venue {self.venue}: not connected, cannot send {op} (call connect())"
            )
        data = self._proto.encode(Request(request_id, op, payload, open_only))
        if self._pending:  # keep order: nothing overtakes what waits
            self._pending.append(data)
            self.queued += 1
        else:
            try:
                dealer.send(data, zmq.NOBLOCK)
            except zmq.Again:
                self._pending.append(data)
                self.queued += 1
        self._schedule_check()

    def _schedule_check(self) -> None:
        if not self._check_scheduled:
            self._check_scheduled = True
            self._loop.call_soon(self._on_dealer_events)

    def _on_dealer_events(self) -> None:
        self._check_scheduled = False
        dealer = self._dealer
        if dealer is None:
            return
        for _ in range(_DRAIN_BATCH):
            events = cast(int, dealer.getsockopt(zmq.EVENTS))
            progressed = False
            if events & zmq.POLLIN:
                self._drain_dealer(dealer)
                progressed = True
            if events & zmq.POLLOUT and self._pending:
                progressed = self._flush(dealer) or progressed
            if not progressed or self._dealer is None:
                return
        self._schedule_check()

    def _flush(self, dealer: zmq.Socket[Any]) -> bool:
        sent = False
        while self._pending:
            try:
                dealer.send(self._pending[0], zmq.NOBLOCK)
            except zmq.Again:
                return sent
            self._pending.popleft()
            sent = True
        return sent

    def _drain_dealer(self, dealer: zmq.Socket[Any]) -> None:
        for _ in range(_DRAIN_BATCH):
            try:
                data = dealer.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                frame = self._proto.decode(data)
            except ProtocolError as exc:
                self._malformed(str(exc))
                continue
            if isinstance(frame, Event):
                self._on_event(frame)
            elif isinstance(frame, FeedEnded):
                if self._replay is not None:
                    self._replay.ended_on_command(frame.status)
            elif isinstance(frame, Reply):
                fut = self._waiting.get(frame.request_id)
                if fut is not None and not fut.done():
                    fut.set_result(frame)
            else:
                self._malformed(f"{type(frame).__name__} from the venue")
            if self._dealer is None:  # a listener closed us
                return

    def _on_event(self, frame: Event) -> None:
        expected = self._event_seq + 1
        if frame.seq != expected:
            self.event_gaps += 1
            _log.error("sim venue %s: account event %d, expected %d", self.venue, frame.seq,
                       expected)
        self._event_seq = frame.seq
        try:
            event = self._codec.decode(frame.payload)
        except CodecError as exc:
            self._malformed(f"account event: {exc}")
            return
        self.events_received += 1
        if type(event) is AccountState:
            self._last_account_state = event
        listener = self._account_listener
        if listener is not None:
            listener(event)

    def _malformed(self, what: str) -> None:
        self.malformed += 1
        if self.malformed <= 10 or self.malformed % 1000 == 0:
            _log.error("sim venue %s: dropped frame #%d: %s", self.venue, self.malformed, what)
