"""ZeroMQ transport of the bus between processes.

One frame per message, ``topic NUL envelope``: the topic bytes lead the frame so
ZeroMQ's prefix filtering on SUB sockets works on it, and a single frame costs a
quarter of a topic frame plus a payload frame (see docs/ARCHITECTURE.md). The envelope is a
msgpack array ``[publisher, seq, ts_sent, payload]``, ``seq`` counting per
publisher and topic (a subscriber sees every message of a topic it takes, so a
jump in ``seq`` is a real loss, whatever prefixes it chose); ``payload`` is the message
as the codec encoded it, kept raw so the envelope decodes without knowing the
message types.

Sockets are driven from the event loop through their ``zmq.FD`` (edge-triggered:
every handler drains until ZeroMQ says there is nothing left, and re-checks
``zmq.EVENTS`` after a send, which may consume the edge), not through
``zmq.asyncio`` whose Future per message costs 30-50 us per hop here.

Back-pressure: the publisher is an XPUB with ``XPUB_NODROP``, so a full peer
queue makes a send fail with EAGAIN instead of ZeroMQ silently dropping it.
Market data (``droppable=True``) is then dropped and counted: under overload a
strategy sees the newest quote rather than a backlog. Commands and events are
never dropped: they wait in an ordered local queue until the socket is writable
again. Nor are they lost while no peer takes their topic (its worker is down or
restarting): they are held, bounded, and sent in order the moment a matching
subscription arrives.

Security: with ``curve`` keys (`livenode.bus.curve`; the node passes them for TCP)
the publisher is a CURVE server whose process runs a ZAP handler admitting only
the authorised client keys, and the subscriber is a CURVE client. Without them
the sockets use ZeroMQ's NULL mechanism: fine for ipc sockets in the node's
private run directory, unauthenticated on TCP.

Slow joiners: a subscriber subscribes to ``_hello.<its id>`` after its real
prefixes. ZeroMQ delivers the subscriptions of one connection in order, so when
the publisher sees the hello subscription every earlier one is live; it answers
with a hello frame, and the subscriber counts a publisher as joined only then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec
import zmq
from zmq.auth.thread import ThreadAuthenticator

from livenode.bus.curve import CurveKeys, make_client, make_server, start_authenticator
from livenode.bus.stage_trace import StageTrace
from livenode.core.latency import LatencyHistogram
from livenode.core.log_limiter import LogLimiter

HELLO_PREFIX = "_hello."
_HELLO_PREFIX_BYTES = HELLO_PREFIX.encode()
SEPARATOR = b"\x00"
_SUBSCRIBE = 1
_DRAIN_BATCH = 1024
_DRAIN_BUDGET_NS = 2_000_000  # of handling per turn of the loop before yielding to it
_SPIN_SLICE_NS = 50_000  # busy-poll at most this long before the loop gets a turn

log = logging.getLogger("livenode.bus.zmq")


class Envelope(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """What travels after the topic: who sent it, its per-publisher sequence number."""

    publisher: str
    seq: int
    ts_sent: int
    payload: msgspec.Raw


class FrameError(ValueError):
    """A frame on the bus that is not ``topic NUL envelope``."""


_envelope_encoder = msgspec.msgpack.Encoder()
_envelope_decoder = msgspec.msgpack.Decoder(Envelope)


def pack_frame(topic: str, publisher: str, seq: int, payload: bytes) -> bytes:
    """Build one bus frame; ``payload`` is the codec's encoding of the message."""
    envelope = Envelope(publisher, seq, time.time_ns(), msgspec.Raw(payload))
    return topic.encode() + SEPARATOR + _envelope_encoder.encode(envelope)


def unpack_frame(frame: bytes) -> tuple[str, Envelope]:
    """Split a frame into its topic and envelope; `FrameError` names what is wrong."""
    topic, sep, rest = frame.partition(SEPARATOR)
    if not sep:
        raise FrameError(f"frame of {len(frame)} bytes has no topic separator")
    try:
        envelope = _envelope_decoder.decode(rest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FrameError(f"bad envelope on topic {topic[:80]!r}: {exc}") from exc
    try:
        return topic.decode(), envelope
    except UnicodeDecodeError as exc:
        raise FrameError(f"topic is not UTF-8: {topic[:80]!r}") from exc


class ZmqPublisher:
    """The PUB side of one process: binds an XPUB socket, one frame per message."""

    def __init__(
        self,
        context: zmq.Context[Any],
        endpoint: str,
        publisher_id: str,
        encode: Callable[[Any], bytes],
        loop: asyncio.AbstractEventLoop,
        *,
        sndhwm: int = 100_000,
        curve: CurveKeys | None = None,
        consumers: dict[str, list[str]] | None = None,
        stage_trace: StageTrace | None = None,
        yield_after_send: bool = False,
    ) -> None:
        self.publisher_id = publisher_id
        self._trace = stage_trace
        # On a core shared with the next worker of the chain: give the CPU up after
        # a send, so ZeroMQ's I/O threads and the receiver run before our own
        # bookkeeping (which otherwise delays the next hop by its whole length).
        self._yield_after_send = yield_after_send
        # The node's workers that take from us (subscriber id -> their prefixes), as the
        # supervisor planned them. When given, a command or event topic counts as
        # taken only by a consumer whose hello is live: an anonymous subscription (a
        # passive `SUB ""`, a forged frame) never releases what is held for a worker.
        self._consumers = consumers
        self._live_consumers: set[str] = set()
        self.foreign_frames = 0
        self._encode = encode
        self._loop = loop
        self._seqs: dict[str, int] = {}
        self._pending: deque[bytes] = deque()
        # Commands/events of topics no peer currently takes, per topic (the order
        # promise is per topic: one topic's backlog never blocks another's).
        self._held: dict[str, deque[bytes]] = {}
        self._held_count = 0
        self._max_held = sndhwm
        self._covered: dict[str, bool] = {}
        self.held_dropped = 0
        self._check_scheduled = False
        self.sent = 0
        self.dropped = 0
        self.queued = 0
        self.subscriptions: set[str] = set()
        self._socket = context.socket(zmq.XPUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SNDHWM, sndhwm)
        self._socket.setsockopt(zmq.XPUB_NODROP, 1)
        # Every (re)subscription reaches us, so a restarted peer's hello is answered.
        self._socket.setsockopt(zmq.XPUB_VERBOSE, 1)
        # The ZAP handler must run before the first peer's handshake, so before bind;
        # it belongs to this publisher (one per context) and stops with it.
        self._auth: ThreadAuthenticator | None = None
        try:
            if curve is not None:
                make_server(self._socket, curve)
                self._auth = start_authenticator(context, curve.authorized_dir)
            self._socket.bind(endpoint)
        except BaseException:
            if self._auth is not None:
                self._auth.stop()
            self._socket.close(linger=0)
            raise
        self.endpoint: str = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._fd = self._socket.getsockopt(zmq.FD)
        self._loop.add_reader(self._fd, self._on_events)
        self._closed = False

    @property
    def pending(self) -> int:
        """Frames waiting for a writable socket (commands/events under back-pressure)."""
        return len(self._pending)

    def publish(self, topic: str, msg: Any, *, droppable: bool = False) -> bool:
        """Send `msg` on `topic`; False when a droppable message was dropped."""
        trace = self._trace
        if trace is not None and trace.active:
            trace.sending()
            try:
                return self._publish(topic, msg, droppable)
            finally:
                trace.sent()
        return self._publish(topic, msg, droppable)

    def _publish(self, topic: str, msg: Any, droppable: bool) -> bool:
        if self._pending and droppable:
            # Keep order: nothing may overtake what is already waiting; market data
            # under back-pressure is conflated (dropped before it gets a number).
            self.dropped += 1
            return False
        seq = self._seqs.get(topic, 0) + 1
        frame = pack_frame(topic, self.publisher_id, seq, self._encode(msg))
        if not droppable:
            backlog = self._held.get(topic)
            if backlog is not None or not self._is_covered(topic):
                self._seqs[topic] = seq
                self._hold(topic, frame)
                return True
        if self._pending:
            self._pending.append(frame)
            self.queued += 1
        else:
            try:
                self._socket.send(frame, zmq.NOBLOCK)
                self.sent += 1
                if self._yield_after_send:
                    os.sched_yield()
            except zmq.Again:
                if droppable:
                    self.dropped += 1
                    return False
                self._pending.append(frame)
                self.queued += 1
        self._seqs[topic] = seq
        self._schedule_check()
        return True

    @property
    def held(self) -> int:
        """Commands/events waiting for a peer to subscribe to their topic."""
        return self._held_count

    def _is_covered(self, topic: str) -> bool:
        """Whether a peer takes `topic`, as ZeroMQ will decide: a subscription is a
        prefix of the frame, which is the topic followed by NUL (so a subscription
        ending in NUL is an exact topic: "commands.exec.SIM" never takes SIM2's)."""
        covered = self._covered.get(topic)
        if covered is None:
            framed = topic + "\x00"
            covered = self._taken(framed)
            if not covered:
                # Our view of subscriptions lags libzmq's: read what has arrived.
                self._read_subscriptions(release=False)
                covered = self._taken(framed)
            self._covered[topic] = covered
        return covered

    def _taken(self, framed: str) -> bool:
        subscriptions = self.subscriptions
        if self._consumers is None:
            return any(framed.startswith(p) for p in subscriptions
                       if not p.startswith(HELLO_PREFIX))
        return any(
            framed.startswith(p) and p in subscriptions
            for consumer in self._live_consumers
            for p in self._consumers.get(consumer, ())
        )

    def _hold(self, topic: str, frame: bytes) -> None:
        if self._held_count >= self._max_held:
            self.held_dropped += 1
            if self.held_dropped <= 10 or self.held_dropped % 1000 == 0:
                log.error("no subscriber for %s: %d held messages already, dropped one (#%d)",
                          topic, self._held_count, self.held_dropped)
            return
        self._held.setdefault(topic, deque()).append(frame)
        self._held_count += 1

    def _release_held(self) -> None:
        """Send, in order per topic, the held frames whose topic now has a subscriber."""
        if self._closed:
            return
        for topic in [t for t in self._held if self._is_covered(t)]:
            frames = self._held.pop(topic)
            self._held_count -= len(frames)
            for frame in frames:
                self._send_or_queue(frame)

    def _send_or_queue(self, frame: bytes) -> None:
        if self._pending:
            self._pending.append(frame)
            self.queued += 1
            return
        try:
            self._socket.send(frame, zmq.NOBLOCK)
            self.sent += 1
        except zmq.Again:
            self._pending.append(frame)
            self.queued += 1

    def _schedule_check(self) -> None:
        # A send may consume the FD's edge; look at EVENTS once per loop turn.
        if not self._check_scheduled:
            self._check_scheduled = True
            self._loop.call_soon(self._on_events)

    def _on_events(self) -> None:
        self._check_scheduled = False
        if self._closed:
            return
        while True:
            events = self._socket.getsockopt(zmq.EVENTS)
            progressed = False
            if events & zmq.POLLIN:
                self._read_subscriptions()
                progressed = True
            if events & zmq.POLLOUT and self._pending:
                progressed = self._flush() or progressed
            if not progressed:
                return

    def _flush(self) -> bool:
        sent_any = False
        while self._pending:
            try:
                self._socket.send(self._pending[0], zmq.NOBLOCK)
            except zmq.Again:
                return sent_any
            self._pending.popleft()
            self.sent += 1
            sent_any = True
        return sent_any

    def _read_subscriptions(self, release: bool = True) -> None:
        for _ in range(_DRAIN_BATCH):
            try:
                message = self._socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if not message:
                continue
            kind = message[0]
            if kind > _SUBSCRIBE:
                # Not a subscription: a peer wrote a plain frame to our XPUB. It
                # changes nothing (it was once taken for an unsubscription).
                self._foreign_frame(message)
                continue
            topic = message[1:].decode(errors="replace")
            if topic.startswith(HELLO_PREFIX):
                consumer = topic.removeprefix(HELLO_PREFIX)
                if kind == _SUBSCRIBE:
                    self._live_consumers.add(consumer)
                else:
                    self._live_consumers.discard(consumer)
                self._covered.clear()
            if kind == _SUBSCRIBE:
                self.subscriptions.add(topic)
                if topic.startswith(HELLO_PREFIX):
                    self._answer_hello(topic)
                    if self._consumers is not None:  # a consumer is live: its topics
                        if release:
                            self._release_held()
                        else:
                            self._loop.call_soon(self._release_held)
                else:
                    self._covered.clear()
                    if release:
                        self._release_held()
                    else:  # called from inside a coverage check: release after it
                        self._loop.call_soon(self._release_held)
            else:
                self.subscriptions.discard(topic)
                self._covered.clear()

    def _foreign_frame(self, message: bytes) -> None:
        self.foreign_frames += 1
        if self.foreign_frames <= 10 or self.foreign_frames % 10_000 == 0:
            log.warning("%s: ignored a frame that is not a subscription (#%d): %r",
                        self.publisher_id, self.foreign_frames, message[:40])

    def _answer_hello(self, topic: str) -> None:
        frame = topic.encode() + SEPARATOR + self.publisher_id.encode()
        try:
            self._socket.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            self._pending.append(frame)

    def close(self) -> None:
        """Stop watching the socket, close it (LINGER=0: never hangs), remove its ipc file."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        self._socket.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        # libzmq leaves the file of an ipc:// endpoint behind; it is ours to remove.
        if self.endpoint.startswith("ipc://") and not self.endpoint.startswith("ipc://@"):
            Path(self.endpoint.removeprefix("ipc://")).unlink(missing_ok=True)


class ZmqSubscriber:
    """The SUB side of one process: connects to peers' publishers, decodes, checks sequence."""

    def __init__(
        self,
        context: zmq.Context[Any],
        subscriber_id: str,
        decode: Callable[[bytes], Any],
        on_message: Callable[[str, Any], None],
        loop: asyncio.AbstractEventLoop,
        *,
        rcvhwm: int = 100_000,
        curve: CurveKeys | None = None,
        latency_every: int = 0,
        stage_trace: StageTrace | None = None,
        spin_us: float = 0.0,
    ) -> None:
        self.subscriber_id = subscriber_id
        # Busy-poll (``wait = "spin"``): after a message, keep polling the socket for
        # `spin_us` before the loop may sleep in epoll, so the next message is taken
        # without a wake-up. Only for a worker that owns its core (it burns it).
        self._spin_ns = int(spin_us * 1000)
        self._spin_until = 0
        self._spinning = False
        self.spin_hits = 0
        # Stage timings of 1 message in `stage_trace.every` (None: off).
        self._trace = stage_trace
        self._until_trace = stage_trace.every if stage_trace is not None else 0
        self._woke = 0
        self._received = 0
        # Hop latency (publisher's send stamp to our receive), 1 message in
        # `latency_every` (0: off), per publisher.
        self.hop_latency: dict[str, LatencyHistogram] = {}
        self._latency_every = latency_every
        self._until_sample = latency_every
        self._decode = decode
        self._on_message = on_message
        self._loop = loop
        self._last_seq: dict[tuple[str, str], int] = {}
        self.joined: set[str] = set()
        self._joined_changed = asyncio.Event()
        self.received = 0
        self.malformed = 0
        self._log_limit = LogLimiter(log)
        self.gaps = 0
        self.missing = 0
        self.late_topics = 0
        self._socket = context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.RCVHWM, rcvhwm)
        if curve is not None:
            # Set once on the socket: every later connect() uses these keys.
            make_client(self._socket, curve)
        self._fd = self._socket.getsockopt(zmq.FD)
        self._loop.add_reader(self._fd, self._on_readable)
        self._drain_scheduled = False
        self._closed = False

    def connect(self, endpoint: str, prefixes: Iterable[str]) -> None:
        """Connect to a publisher and subscribe to `prefixes`, then say hello."""
        for prefix in prefixes:
            self._socket.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        self._socket.connect(endpoint)
        self._socket.setsockopt(zmq.SUBSCRIBE, (HELLO_PREFIX + self.subscriber_id).encode())
        self._schedule_drain()

    def move(self, old_endpoint: str, endpoint: str) -> None:
        """A publisher restarted on another endpoint: leave the old one (which may
        now belong to another process), connect to the new one. The socket's
        subscriptions, hello included, go to the new connection by themselves."""
        with contextlib.suppress(zmq.ZMQError):  # not connected there (any more)
            self._socket.disconnect(old_endpoint)
        self._socket.connect(endpoint)
        self._schedule_drain()

    def subscribe(self, prefix: str) -> None:
        """Add a prefix on every connected publisher."""
        self._socket.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        self._schedule_drain()

    async def wait_joined(self, publishers: Iterable[str], timeout: float) -> None:
        """Return when every named publisher answered our hello; TimeoutError names the rest."""
        wanted = set(publishers)
        deadline = self._loop.time() + timeout
        while not wanted <= self.joined:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                missing = ", ".join(sorted(wanted - self.joined))
                raise TimeoutError(f"no hello within {timeout}s from publisher(s): {missing}")
            self._joined_changed.clear()
            try:
                await asyncio.wait_for(self._joined_changed.wait(), remaining)
            except TimeoutError:
                continue

    def _schedule_drain(self) -> None:
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self._loop.call_soon(self._on_readable)

    def _on_readable(self) -> None:
        # Every frame that arrived together is handled in one turn of the loop, up to
        # _DRAIN_BATCH frames or _DRAIN_BUDGET_NS of handling: a worker behind its
        # queue must still read its control socket and run its timers (a stop, a
        # heartbeat) between batches, not after the whole backlog.
        self._drain_scheduled = False
        if self._closed:
            return
        traced = self._trace is not None
        if traced:
            self._woke = time.time_ns()
        socket = self._socket
        deadline = time.monotonic_ns() + _DRAIN_BUDGET_NS
        for count in range(_DRAIN_BATCH):
            try:
                frame = socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                if count and self._spin_ns:
                    self._start_spin()
                return
            if traced:
                self._received = time.time_ns()
            self._handle_frame(frame)
            if time.monotonic_ns() >= deadline:
                break
        # Batch or budget used up: yield to the loop, then go on draining.
        self._schedule_drain()

    def _start_spin(self) -> None:
        self._spin_until = time.monotonic_ns() + self._spin_ns
        if not self._spinning:
            self._spinning = True
            self._loop.call_soon(self._spin)

    def _spin(self) -> None:
        # One slice of busy-polling, then back to the loop (its timers, its other
        # sockets, the callbacks our handlers scheduled), and again until the window
        # since the last message has passed.
        self._spinning = False
        if self._closed:
            return
        socket = self._socket
        slice_end = min(time.monotonic_ns() + _SPIN_SLICE_NS, self._spin_until)
        while True:
            try:
                frame = socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                if time.monotonic_ns() >= slice_end:
                    break
                continue
            self.spin_hits += 1
            if self._trace is not None:
                self._woke = self._received = time.time_ns()
            self._handle_frame(frame)
            self._spin_until = time.monotonic_ns() + self._spin_ns
            break
        if time.monotonic_ns() < self._spin_until:
            self._spinning = True
            self._loop.call_soon(self._spin)

    def _handle_frame(self, frame: bytes) -> None:
        if frame.startswith(_HELLO_PREFIX_BYTES):
            _, _, publisher = frame.partition(SEPARATOR)
            self.joined.add(publisher.decode(errors="replace"))
            self._joined_changed.set()
            return
        try:
            topic, envelope = unpack_frame(frame)
            msg = self._decode(envelope.payload)
        except ValueError as exc:  # FrameError and the codec's CodecError
            self.malformed += 1
            self._log_limit.log(logging.ERROR, "malformed", "dropped malformed frame #%d: %s",
                                self.malformed, exc)
            return
        self._check_sequence(envelope.publisher, envelope.seq, topic)
        self.received += 1
        if self._trace is not None:
            self._until_trace -= 1
            if self._until_trace <= 0:
                self._trace_stages(topic, envelope, msg, self._received)
                return
        if self._latency_every:
            self._until_sample -= 1
            if self._until_sample <= 0:
                self._sample_hop(envelope, time.time_ns(), topic, msg)
                return
        self._on_message(topic, msg)

    def _trace_stages(self, topic: str, envelope: Envelope, msg: Any, received: int) -> None:
        trace = self._trace
        assert trace is not None
        self._until_trace = trace.every
        trace.begin(topic, envelope.ts_sent, self._woke, received)
        try:
            self._on_message(topic, msg)
        finally:
            trace.end()

    def _sample_hop(self, envelope: Envelope, received_ns: int, topic: str, msg: Any) -> None:
        # The message is handled first: the recording must not delay what it forwards.
        self._until_sample = self._latency_every
        self._on_message(topic, msg)
        histogram = self.hop_latency.get(envelope.publisher)
        if histogram is None:
            histogram = self.hop_latency[envelope.publisher] = LatencyHistogram()
        histogram.record(received_ns - envelope.ts_sent)

    def _check_sequence(self, publisher: str, seq: int, topic: str) -> None:
        key = (publisher, topic)
        last = self._last_seq.get(key)
        self._last_seq[key] = seq
        if last is None:
            if seq != 1:
                # The topic's first messages were published before we received it:
                # a slow joiner's loss, unless we (re)joined a running publisher.
                self.late_topics += 1
            return
        if seq == last + 1:
            return
        if seq <= last:
            log.warning(
                "%s restarted its sequence on %s (%d after %d)", publisher, topic, seq, last
            )
            return
        self.gaps += 1
        self.missing += seq - last - 1
        if self.gaps <= 10 or self.gaps % 1000 == 0:
            log.error("gap on %s from %s: %d message(s) missing", topic, publisher, seq - last - 1)

    def close(self) -> None:
        """Stop watching the socket and close it (LINGER=0: never hangs)."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        self._socket.close(linger=0)
