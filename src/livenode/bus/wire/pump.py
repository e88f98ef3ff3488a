"""`Pump`: one ZeroMQ socket driven from the event loop (see `livenode.bus.wire`)."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal, cast

import zmq

from livenode.core.log_limiter import LogLimiter

__all__ = ["DRAIN_BATCH", "DRAIN_BUDGET_NS", "SPIN_SLICE_NS", "Policy", "Pump"]

Policy = Literal["block", "drop"]

_log = logging.getLogger("livenode.bus.wire")

DRAIN_BATCH = 1024
DRAIN_BUDGET_NS = 2_000_000  # of handling per turn of the loop before yielding to it
SPIN_SLICE_NS = 50_000  # busy-poll at most this long before the loop gets a turn
_RETRY_S = 0.001  # a ROUTER's blocked peer queues are re-tried this often


class Pump:
    """Drives one ZeroMQ socket from the event loop (see `livenode.bus.wire`).

    Args:
        socket: the socket, configured (options, bind/connect) by its owner.
        loop: the event loop that runs every hook.
        name: names the socket in log lines.
        on_frame: called with each message received, for sockets whose messages are
            one frame (SUB, XPUB, DEALER).
        on_frames: called with each message's frames (ROUTER). At most one hook; with
            none the pump only sends.
        policy: what happens to a frame the socket cannot take (see `livenode.bus.wire`).
        max_queued: frames kept waiting (per peer on a ROUTER).
        block_timeout: seconds a producer is held at the bound (``"block"``).
        on_unroutable: ROUTER (``ROUTER_MANDATORY``): a peer is gone; its waiting
            frames were dropped (counted in ``unroutable``).
        spin_us: after a message, keep polling the socket this long before the loop
            may sleep (only for a process that owns its core: it burns it).
        yield_after_send: give the CPU up after each send (a core shared with the
            receiver: it runs before our own bookkeeping delays it).
        traced: stamp ``woke_ns`` (the drain began) and ``received_ns`` (the frame
            is out of ZeroMQ) for a stage trace.
        logger: where this pump's lines go.

    Counters: ``sent``, ``queued`` (frames that waited), ``dropped`` (by the
    policy or `offer`), ``blocked`` (times a producer was held at the bound),
    ``unroutable``, ``malformed`` (`reject`), ``paused`` (times receiving paused),
    ``spin_hits``.
    """

    def __init__(
        self,
        socket: zmq.Socket[Any],
        loop: asyncio.AbstractEventLoop,
        *,
        name: str,
        on_frame: Callable[[bytes], None] | None = None,
        on_frames: Callable[[list[bytes]], None] | None = None,
        policy: Policy = "block",
        max_queued: int = 100_000,
        block_timeout: float = 1.0,
        on_unroutable: Callable[[bytes], None] | None = None,
        spin_us: float = 0.0,
        yield_after_send: bool = False,
        traced: bool = False,
        logger: logging.Logger = _log,
    ) -> None:
        if on_frame is not None and on_frames is not None:
            raise ValueError("a pump takes on_frame or on_frames, not both")
        if policy not in ("block", "drop"):
            raise ValueError(f"policy must be 'block' or 'drop', got {policy!r}")
        self.name = name
        self._socket = socket
        self._loop = loop
        self._on_frame = on_frame
        self._on_frames = on_frames
        self._policy = policy
        self._max_queued = max_queued
        self._block_timeout = block_timeout
        self._on_unroutable = on_unroutable
        self._yield = yield_after_send
        self._traced = traced
        self._log = logger
        self._limit = LogLimiter(logger)
        self._routed = socket.type == zmq.ROUTER
        self._out: deque[bytes | bytearray] = deque()
        self._out_to: dict[bytes, deque[bytes | bytearray]] = {}
        self._waiting = 0  # frames in the queues now
        self._shedding = False  # a held producer timed out: drop at the bound until room
        self._check_scheduled = False
        self._retry: asyncio.TimerHandle | None = None
        self._closed = False
        self._paused = False
        self._receives = on_frame is not None or on_frames is not None
        self._reading = self._receives
        self._drain = self._drain_frames if on_frame is not None else self._drain_parts
        self._spin_ns = int(spin_us * 1000)
        self._spin_until = 0
        self._spinning = False
        self.woke_ns = 0
        self.received_ns = 0
        self.sent = 0
        self.queued = 0
        self.dropped = 0
        self.blocked = 0
        self.unroutable = 0
        self.malformed = 0
        self.paused = 0
        self.spin_hits = 0
        self._fd = cast(int, socket.getsockopt(zmq.FD))
        loop.add_reader(self._fd, self._on_events)
        self.check()  # messages that arrived before we watched the FD

    # -- state ------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Frames waiting for the socket now."""
        return self._waiting

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def is_paused(self) -> bool:
        return self._paused

    def check(self) -> None:
        """Look at the socket once on the next turn of the loop: after anything that
        may have consumed the FD's edge (a send, a setsockopt, a connect)."""
        if not self._check_scheduled and not self._closed:
            self._check_scheduled = True
            self._loop.call_soon(self._on_events)

    def reject(self, msg: str, *args: Any, level: int = logging.ERROR) -> None:
        """A malformed frame was dropped: count it and log ``msg % args`` (with its
        number), within the limit."""
        self.malformed += 1
        self._limit.log(level, "malformed", f"{msg} (#%d)", *args, self.malformed)

    def pause(self) -> None:
        """Stop receiving (a full consumer); ZeroMQ's queue then holds the sender back."""
        if not self._paused:
            self._paused = True
            self._reading = False
            self.paused += 1

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            self._reading = self._receives and not self._closed
            self.check()

    # -- sending ----------------------------------------------------------------------

    def send(self, frame: bytes | bytearray, to: bytes | None = None) -> bool:
        """Send `frame` (to peer `to` on a ROUTER) in order behind what waits; what
        the socket cannot take follows the policy. False when it was dropped."""
        if to is not None:
            return self._send_to(to, frame, True)
        if not self._waiting:
            try:
                self._socket.send(frame, zmq.NOBLOCK)
            except zmq.Again:
                return self._keep(frame)
            except zmq.ZMQError as exc:
                return self._failed(exc)
            self.sent += 1
            if self._yield:
                os.sched_yield()
            if not self._check_scheduled:
                self._check_scheduled = True
                self._loop.call_soon(self._on_events)
            return True
        return self._keep(frame)

    def offer(self, frame: bytes | bytearray, to: bytes | None = None) -> bool:
        """Send `frame` now or drop it (counted): it never waits, nor overtakes what does."""
        if to is not None:
            return self._send_to(to, frame, False)
        if not self._waiting:
            try:
                self._socket.send(frame, zmq.NOBLOCK)
            except zmq.Again:
                self.dropped += 1
                return False
            except zmq.ZMQError as exc:
                return self._failed(exc)
            self.sent += 1
            if self._yield:
                os.sched_yield()
            if not self._check_scheduled:
                self._check_scheduled = True
                self._loop.call_soon(self._on_events)
            return True
        self.dropped += 1
        return False

    def _failed(self, exc: zmq.ZMQError) -> bool:
        # The socket is closed (or worse): what was sent is lost, counted and said.
        self.dropped += 1
        self._limit.log(logging.WARNING, "failed", "%s: a frame not sent: %s", self.name, exc)
        return False

    def _keep(self, frame: bytes | bytearray) -> bool:
        if self._closed:
            return self._failed(zmq.ZMQError(errno.ENOTSOCK))
        queue = self._out
        if len(queue) >= self._max_queued and not self._make_room(None, queue):
            return self._drop()
        queue.append(frame)
        self._waiting += 1
        self.queued += 1
        self.check()
        return True

    def _send_to(self, peer: bytes, frame: bytes | bytearray, keep: bool) -> bool:
        queue = self._out_to.get(peer)
        if not queue:  # nothing waits for this peer: straight to the socket
            try:
                self._socket.send_multipart([peer, frame], zmq.NOBLOCK)
            except zmq.Again:
                if not keep:
                    self.dropped += 1
                    return False
            except zmq.ZMQError as exc:
                if exc.errno != errno.EHOSTUNREACH:
                    return self._failed(exc)
                self._gone(peer, 1)
                return False
            else:
                self.sent += 1
                if self._yield:
                    os.sched_yield()
                self.check()
                return True
            if queue is None:
                queue = self._out_to[peer] = deque()
        elif not keep:
            self.dropped += 1
            return False
        elif len(queue) >= self._max_queued and not self._make_room(peer, queue):
            if self._out_to.get(peer) is not queue:  # the peer went away meanwhile
                self.unroutable += 1
                return False
            return self._drop()
        queue.append(frame)
        self._waiting += 1
        self.queued += 1
        if self._retry is None and not self._closed:
            # A ROUTER's POLLOUT says "some peer can take a frame", not which one.
            self._retry = self._loop.call_later(_RETRY_S, self._on_retry)
        return True

    def _drop(self) -> bool:
        self.dropped += 1
        if self._policy == "block":
            self._limit.log(logging.ERROR, "dropped", "%s: %d frames wait for a peer that "
                            "does not read; dropped one (#%d)", self.name, self._max_queued,
                            self.dropped)
        return False

    def _make_room(self, peer: bytes | None, queue: deque[bytes | bytearray]) -> bool:
        """The queue is full: hold the producer until the socket took some (``block``)."""
        if self._policy == "drop" or self._shedding or self._closed:
            return False
        self.blocked += 1
        deadline = time.monotonic() + self._block_timeout
        while len(queue) >= self._max_queued:
            if (self._flush_peer(peer, queue) if peer is not None else self._flush()):
                if peer is not None and self._out_to.get(peer) is not queue:
                    return False  # gone
                continue
            if time.monotonic() >= deadline:
                self._shedding = True
                self._limit.log(logging.ERROR, "blocked", "%s: the peer took nothing for "
                                "%gs with %d frames waiting: dropping new frames until it "
                                "reads", self.name, self._block_timeout, len(queue))
                return False
            if self._routed:
                time.sleep(_RETRY_S)
            else:
                self._socket.poll(1, zmq.POLLOUT)
        self.check()
        return True

    def _flush(self) -> bool:
        queue = self._out
        socket = self._socket
        sent = 0
        while queue:
            try:
                socket.send(queue[0], zmq.NOBLOCK)
            except zmq.Again:
                break
            queue.popleft()
            sent += 1
        if sent:
            self.sent += sent
            self._waiting -= sent
            if self._shedding and len(queue) < self._max_queued:
                self._shedding = False
        return sent > 0

    def _flush_peer(self, peer: bytes, queue: deque[bytes | bytearray]) -> bool:
        sent = 0
        try:
            while queue:
                self._socket.send_multipart([peer, queue[0]], zmq.NOBLOCK)
                queue.popleft()
                sent += 1
        except zmq.Again:
            pass
        except zmq.ZMQError as exc:
            if exc.errno != errno.EHOSTUNREACH:
                raise
            self.sent += sent
            self._waiting -= sent
            self._forget(peer)
            return True
        self.sent += sent
        self._waiting -= sent
        if sent and self._shedding and len(queue) < self._max_queued:
            self._shedding = False
        return sent > 0

    def _flush_all(self) -> bool:
        if not self._routed:
            return self._flush()
        progressed = False
        for peer, queue in list(self._out_to.items()):
            progressed = self._flush_peer(peer, queue) or progressed
            if not queue and self._out_to.get(peer) is queue:
                del self._out_to[peer]
        return progressed

    def _forget(self, peer: bytes) -> None:
        queue = self._out_to.pop(peer, None)
        lost = len(queue) if queue else 0
        self._waiting -= lost
        self._gone(peer, lost)

    def _gone(self, peer: bytes, lost: int) -> None:
        self.unroutable += lost
        self._limit.log(logging.WARNING, "unroutable", "%s: peer %r is gone; %d frame(s) "
                        "not sent", self.name, peer, lost)
        if self._on_unroutable is not None:
            self._on_unroutable(peer)

    def _on_retry(self) -> None:
        self._retry = None
        if self._closed:
            return
        self._flush_all()
        self.check()
        if self._waiting:
            self._retry = self._loop.call_later(_RETRY_S, self._on_retry)

    def flush(self, timeout: float = 0.0) -> bool:
        """Send what waits, waiting for the socket at most `timeout` seconds; True
        when nothing waits any more."""
        deadline = time.monotonic() + timeout
        while self._waiting and not self._closed:
            if self._flush_all():
                continue
            if time.monotonic() >= deadline:
                break
            if self._routed:
                time.sleep(_RETRY_S)
            else:
                self._socket.poll(1, zmq.POLLOUT)
        self.check()
        return self._waiting == 0

    # -- receiving --------------------------------------------------------------------

    def _on_events(self) -> None:
        # The FD's callback, and the check after a send: until nothing moves, read
        # (to EAGAIN) and send what waits.
        self._check_scheduled = False
        if self._closed:
            return
        if not self._waiting:
            if self._reading:
                self._drain()
            return
        socket = self._socket
        for _ in range(DRAIN_BATCH):
            events = cast(int, socket.getsockopt(zmq.EVENTS))
            progressed = False
            if events & zmq.POLLIN and self._reading:
                if not self._drain():
                    return  # batch or budget used up: rescheduled
                progressed = True
            if self._closed:
                return
            if events & zmq.POLLOUT and self._waiting:
                progressed = self._flush_all() or progressed
            if not progressed:
                return
        self.check()

    def drain(self) -> None:
        """Read what has arrived now (synchronously; the loop does it by itself)."""
        if self._reading and not self._closed:
            self._drain()

    def _drain_frames(self) -> bool:
        # Every frame that arrived together is handled in one turn of the loop, up to
        # DRAIN_BATCH frames or DRAIN_BUDGET_NS of handling: a process behind its
        # queue must still read its other sockets and run its timers between batches.
        socket = self._socket
        on_frame = self._on_frame
        assert on_frame is not None
        traced = self._traced
        if traced:
            self.woke_ns = time.time_ns()
        deadline = time.monotonic_ns() + DRAIN_BUDGET_NS
        for count in range(DRAIN_BATCH):
            try:
                frame = socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                if count and self._spin_ns:
                    self._start_spin()
                return True
            if traced:
                self.received_ns = time.time_ns()
            on_frame(frame)
            if not self._reading:  # closed or paused by the hook
                return True
            if time.monotonic_ns() >= deadline:
                break
        self.check()
        return False

    def _drain_parts(self) -> bool:
        socket = self._socket
        on_frames = self._on_frames
        assert on_frames is not None
        deadline = time.monotonic_ns() + DRAIN_BUDGET_NS
        for _ in range(DRAIN_BATCH):
            try:
                frames = socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return True
            on_frames(frames)
            if not self._reading:
                return True
            if time.monotonic_ns() >= deadline:
                break
        self.check()
        return False

    def _start_spin(self) -> None:
        self._spin_until = time.monotonic_ns() + self._spin_ns
        if not self._spinning:
            self._spinning = True
            self._loop.call_soon(self._spin)

    def _spin(self) -> None:
        # One slice of busy-polling, then back to the loop (its timers, its other
        # sockets, the callbacks our hooks scheduled), and again until the window
        # since the last message has passed.
        self._spinning = False
        if not self._reading:
            return
        socket = self._socket
        on_frame = self._on_frame
        assert on_frame is not None
        slice_end = min(time.monotonic_ns() + SPIN_SLICE_NS, self._spin_until)
        while True:
            try:
                frame = socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                if time.monotonic_ns() >= slice_end:
                    break
                continue
            self.spin_hits += 1
            if self._traced:
                self.woke_ns = self.received_ns = time.time_ns()
            on_frame(frame)
            if not self._reading:
                return
            self._spin_until = time.monotonic_ns() + self._spin_ns
            break
        if time.monotonic_ns() < self._spin_until:
            self._spinning = True
            self._loop.call_soon(self._spin)

    # -- end --------------------------------------------------------------------------

    def close(self, linger_ms: int = 0) -> None:
        """Stop watching the socket and close it; `linger_ms` > 0 first lets what
        waits here and in ZeroMQ leave (bounded by it). Idempotent."""
        if self._closed:
            return
        if linger_ms > 0 and self._waiting:
            self.flush(linger_ms / 1000)
        self._closed = True
        self._reading = False
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._loop.remove_reader(self._fd)
        self._socket.close(linger=linger_ms)
