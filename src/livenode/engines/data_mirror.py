"""The market state of a process that has no data engine.

In a multiprocess node the data engine lives in the data worker; the trader,
risk and exec workers receive its instruments, quotes, trades and bars over the
bus and keep the latest in their own cache, so a strategy's `cache.quote_tick`,
the risk engine's market-order notional and the execution side's instruments
work wherever they run. Subscribed with a high priority: the cache holds a tick
before any strategy handler sees it.
"""

from __future__ import annotations

from livenode.bus import topics
from livenode.bus.message_bus import MessageBus
from livenode.cache.cache import Cache
from livenode.core.clock import Clock
from livenode.core.component import Component

MIRROR_PRIORITY = 1000


class DataMirror(Component):
    """Keeps this process's cache in step with the data engine's publications."""

    def __init__(
        self, msgbus: MessageBus, cache: Cache, clock: Clock, component_id: str = "DataMirror"
    ) -> None:
        super().__init__(component_id, clock, publisher=msgbus)
        self._msgbus = msgbus
        self._subscriptions = (
            (topics.ALL_INSTRUMENTS, cache.add_instrument),
            (topics.ALL_QUOTES, cache.add_quote_tick),
            (topics.ALL_TRADES, cache.add_trade_tick),
            (topics.ALL_BARS, cache.add_bar),
        )
        for pattern, handler in self._subscriptions:
            msgbus.subscribe(pattern, handler, MIRROR_PRIORITY)

    def counters(self) -> dict[str, int]:
        """Nothing to count beyond what the cache holds; present for the node's summary."""
        return {}

    def _on_dispose(self) -> None:
        for pattern, handler in self._subscriptions:
            self._msgbus.unsubscribe(pattern, handler)
