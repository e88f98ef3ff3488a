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
        msgbus.set_forwarder(self._forward, export_prefixes)

    def _forward(self, topic: str, msg: Any) -> None:
        droppable = self._droppable_topics.get(topic)
        if droppable is None:
            droppable = self._droppable_topics[topic] = topic.startswith(self._droppable)
        self._publisher.publish(topic, msg, droppable=droppable)

    def deliver(self, topic: str, msg: Any) -> None:
        """Hand a message from another process to this process's handlers."""
        self.received += 1
        self._msgbus.publish_local(topic, msg)

    def close(self) -> None:
        """Stop forwarding (the sockets are closed by their owner)."""
        self._msgbus.set_forwarder(None)
