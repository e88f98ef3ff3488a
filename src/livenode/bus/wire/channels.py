"""The channels of the wire layer: framing on a `Pump` (see `livenode.bus.wire`).

A topic stream is one frame per message with the topic leading it (`TopicPublisher`
on an XPUB, `TopicSubscriber` on a SUB); a request channel carries one payload frame
per message, with the peer's identity on a ROUTER (`RequestChannel`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import zmq

from livenode.bus.wire.pump import Policy, Pump

__all__ = ["RequestChannel", "TopicPublisher", "TopicSubscriber"]

_log = logging.getLogger("livenode.bus.wire")
_SUBSCRIBE = 1


class TopicSubscriber:
    """The receiving end of a topic stream: a SUB socket, one frame per message,
    handed raw to `on_frame` (the owner splits the topic off and decodes)."""

    def __init__(
        self,
        socket: zmq.Socket[Any],
        loop: asyncio.AbstractEventLoop,
        on_frame: Callable[[bytes], None],
        *,
        name: str,
        spin_us: float = 0.0,
        traced: bool = False,
        logger: logging.Logger = _log,
    ) -> None:
        self._socket = socket
        self.pump = Pump(socket, loop, name=name, on_frame=on_frame, spin_us=spin_us,
                         traced=traced, logger=logger)

    def connect(self, endpoint: str) -> None:
        self._socket.connect(endpoint)
        self.pump.check()

    def disconnect(self, endpoint: str) -> None:
        self._socket.disconnect(endpoint)
        self.pump.check()

    def subscribe(self, prefix: bytes) -> None:
        self._socket.setsockopt(zmq.SUBSCRIBE, prefix)
        self.pump.check()

    def unsubscribe(self, prefix: bytes) -> None:
        self._socket.setsockopt(zmq.UNSUBSCRIBE, prefix)
        self.pump.check()

    def close(self) -> None:
        self.pump.close()


class TopicPublisher:
    """The sending end of a topic stream: an XPUB socket (one frame per message,
    the topic leading it) that reports its subscriptions.

    `on_subscription(subscribed, prefix)` gets every subscription (True) and
    unsubscription (False) ZeroMQ reports; a frame a peer wrote that is neither is
    dropped and counted (``malformed``). `send` keeps what the socket cannot take
    (the pump's policy), `offer` drops it.
    """

    def __init__(
        self,
        socket: zmq.Socket[Any],
        loop: asyncio.AbstractEventLoop,
        on_subscription: Callable[[bool, bytes], None],
        *,
        name: str,
        policy: Policy = "block",
        max_queued: int = 100_000,
        yield_after_send: bool = False,
        logger: logging.Logger = _log,
    ) -> None:
        self._on_subscription = on_subscription
        self.pump = Pump(socket, loop, name=name, on_frame=self._on_notice, policy=policy,
                         max_queued=max_queued, yield_after_send=yield_after_send,
                         logger=logger)
        self.send = self.pump.send
        self.offer = self.pump.offer

    def _on_notice(self, frame: bytes) -> None:
        if not frame:
            return
        kind = frame[0]
        if kind > _SUBSCRIBE:
            # A peer wrote a plain frame to our XPUB: it changes nothing.
            self.pump.reject("%s: ignored a frame that is not a subscription: %r",
                             self.pump.name, frame[:40], level=logging.WARNING)
            return
        self._on_subscription(kind == _SUBSCRIBE, frame[1:])

    def read_subscriptions(self) -> None:
        """Read the subscriptions that have arrived, now."""
        self.pump.drain()

    def close(self) -> None:
        self.pump.close()


class RequestChannel:
    """A DEALER or ROUTER socket carrying one payload frame per message.

    `on_message(peer, payload)` gets each message, ``peer`` being the sender's
    identity on a ROUTER and ``b""`` on a DEALER; a ROUTER message of other than
    two frames is dropped and counted (``pump.malformed``). `send(payload, to)`
    needs ``to`` on a ROUTER; the pump's policy applies (per peer on a ROUTER).
    """

    def __init__(
        self,
        socket: zmq.Socket[Any],
        loop: asyncio.AbstractEventLoop,
        on_message: Callable[[bytes, bytes], None],
        *,
        name: str,
        policy: Policy = "block",
        max_queued: int = 100_000,
        block_timeout: float = 1.0,
        on_unroutable: Callable[[bytes], None] | None = None,
        logger: logging.Logger = _log,
    ) -> None:
        self._on_message = on_message
        self.routed = socket.type == zmq.ROUTER
        self.pump = Pump(
            socket, loop, name=name, policy=policy, max_queued=max_queued,
            block_timeout=block_timeout, on_unroutable=on_unroutable, logger=logger,
            on_frame=None if self.routed else self._on_frame,
            on_frames=self._on_parts if self.routed else None,
        )

    def _on_frame(self, frame: bytes) -> None:
        self._on_message(b"", frame)

    def _on_parts(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self.pump.reject("%s: dropped a message of %d frames from %r (expected 2)",
                             self.pump.name, len(frames), frames[0] if frames else b"")
            return
        self._on_message(frames[0], frames[1])

    def send(self, payload: bytes, to: bytes | None = None) -> bool:
        """Send `payload` (to peer `to`: required on a ROUTER, refused on a DEALER)."""
        if self.routed != (to is not None):
            raise ValueError(f"{self.pump.name}: a ROUTER sends to a peer's identity, "
                             "a DEALER to no one in particular")
        return self.pump.send(payload, to)

    def close(self, linger_ms: int = 0) -> None:
        self.pump.close(linger_ms)
