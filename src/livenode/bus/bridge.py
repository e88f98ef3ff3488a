"""The bridge between a process's `MessageBus` and the ZeroMQ bus.

Outbound: every message published locally on a topic that some peer takes
(the topology says which prefixes) is also sent on this process's publisher.
Inbound: what the subscriber receives is published to local handlers only
(`MessageBus.publish_local`), so nothing echoes back out. Components never see
the bridge: a strategy publishes `commands.risk` the same way whether the risk
engine is in its process or behind a socket.
"""

from __future__ import annotations

from typing import Any

from livenode.bus.message_bus import MessageBus
from livenode.bus.zmq_transport import ZmqPublisher

# Market data may be conflated under back-pressure; commands and events never.
DROPPABLE_PREFIXES: tuple[str, ...] = ("data.quotes.", "data.trades.", "data.bars.")


class BusBridge:
    """Connects one `MessageBus` to a `ZmqPublisher` (out) and a subscriber (in)."""

    def __init__(
        self,
        msgbus: MessageBus,
        publisher: ZmqPublisher,
        export_prefixes: tuple[str, ...],
        droppable_prefixes: tuple[str, ...] = DROPPABLE_PREFIXES,
    ) -> None:
        self._msgbus = msgbus
        self._publisher = publisher
        self._droppable = droppable_prefixes
        self._droppable_topics: dict[str, bool] = {}  # per topic, decided once
        self.export_prefixes = export_prefixes
        self.received = 0
        # Inbound topics held back (in arrival order) until `release` (see `hold`).
        self._held_prefixes: tuple[str, ...] = ()
        self._held: list[tuple[str, Any]] = []
        msgbus.set_forwarder(self._forward, export_prefixes)

    def hold(self, prefixes: tuple[str, ...]) -> None:
        """Keep inbound messages on these topic prefixes until `release`: a worker
        whose state is not complete yet (a restarted risk worker without its
        instruments and positions) must not act on commands."""
        self._held_prefixes = prefixes

    def release(self) -> int:
        """Deliver the held messages in the order they arrived, stop holding;
        returns how many there were."""
        self._held_prefixes = ()
        held, self._held = self._held, []
        for topic, msg in held:
            self._msgbus.publish_local(topic, msg)
        return len(held)

    def _forward(self, topic: str, msg: Any) -> None:
        droppable = self._droppable_topics.get(topic)
        if droppable is None:
            droppable = self._droppable_topics[topic] = topic.startswith(self._droppable)
        self._publisher.publish(topic, msg, droppable=droppable)

    def deliver(self, topic: str, msg: Any) -> None:
        """Hand a message from another process to this process's handlers."""
        self.received += 1
        if self._held_prefixes and topic.startswith(self._held_prefixes):
            self._held.append((topic, msg))
            return
        self._msgbus.publish_local(topic, msg)

    def close(self) -> None:
        """Stop forwarding (the sockets are closed by their owner)."""
        self._msgbus.set_forwarder(None)
