"""A worker's part in the start and the end of finite data sources (a replay).

In one process the node tells its data clients once the strategies have
subscribed (`TradingNode.start_data_sources`), and a client whose source ended
stops the node (`ClientContext.request_stop`). Across workers both need a signal
that keeps the bus's order:

- **Start.** A trader worker, once its strategies started, publishes
  `StrategiesStarted` on each data worker's data command topic, after the
  strategies' subscribe commands on the same connection. A data worker starts its
  clients' sources once every trader that sends it commands said so (and its own
  node runs), so a replay at speed 0 reaches subscribed strategies. A trader sends
  it again to a data worker that restarted (its sources start again on it: a sim
  venue process answers that its replay ran already, it does not replay twice).
- **End.** A client's stop request goes to the supervisor as `ClientStopRequest`.
  A data worker also publishes `SourceEnded` to the traders after every tick it
  published; each trader worker confirms it to the supervisor once handled, and
  the supervisor stops the node in order when every trader has the whole source
  (`livenode.supervisor.client_stops`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from livenode.bus import topics
from livenode.bus.control import BusPeer, ClientStopRequest
from livenode.core.uuid import new_id
from livenode.model.events import SourceEnded, StrategiesStarted
from livenode.model.identifiers import Venue
from livenode.node.node import TradingNode

__all__ = ["SourceRelay"]

_log = logging.getLogger("livenode.worker")


class SourceRelay:
    """Relays "strategies started" and "source ended" for one worker (see module doc).

    Args:
        name: the worker's name (its publisher id on the bus).
        role: its role.
        peers: the publishers it subscribes to (from its spec).
        send: sends a control message to the supervisor.
    """

    def __init__(
        self, name: str, role: str, peers: list[BusPeer], send: Callable[[Any], None]
    ) -> None:
        self.name = name
        self.role = role
        self._send = send
        self._node: TradingNode | None = None
        # Data role: the traders whose StrategiesStarted we wait for.
        self.expected = {p.publisher_id for p in peers
                         if any(x.startswith("commands.data.") for x in p.prefixes)}
        self.started_by: set[str] = set()
        self._node_trading = False
        self.sources_started = False

    def install(self, node: TradingNode) -> None:
        """Hook into the node's bus and its clients' stop requests (after it is built)."""
        self._node = node
        msgbus = node.kernel.msgbus
        node.kernel.context.on_stop_request(self._client_stop_request)
        if self.role == "data":
            msgbus.subscribe(topics.ALL_DATA_COMMANDS, self._on_data_command)
        if self.role == "trader":
            msgbus.subscribe(topics.SOURCE_ENDED, self._on_source_ended)

    # -- start ------------------------------------------------------------------------

    def trading_started(self) -> None:
        """The node's strategies started (its `trading_started` hook)."""
        if self.role == "trader":
            node = self._node
            assert node is not None
            self.publish_started(list(node.config.data_clients))
        elif self.role == "data":
            self._node_trading = True
            self._maybe_start_sources()

    def publish_started(self, venues: list[str]) -> None:
        """Trader: tell the data workers of `venues` that our strategies subscribed."""
        node = self._node
        assert node is not None
        kernel = node.kernel
        strategies = [str(s.id) for s in kernel.trader.strategies()] if kernel.trader else []
        now = time.time_ns()
        for venue in venues:
            marker = StrategiesStarted(trader_id=kernel.trader_id, publisher=self.name,
                                       strategies=strategies, event_id=new_id(),
                                       ts_event=now, ts_init=now)
            kernel.msgbus.publish(topics.data_commands(Venue(venue)), marker)

    def _on_data_command(self, command: Any) -> None:
        if type(command) is not StrategiesStarted:
            return
        self.started_by.add(command.publisher)
        if self.sources_started:
            _log.info("%s: %s (re)started its strategies; sources run already", self.name,
                      command.publisher)
        self._maybe_start_sources()

    def _maybe_start_sources(self) -> None:
        node = self._node
        if (node is None or self.sources_started or not self._node_trading
                or not self.expected <= self.started_by):
            return
        self.sources_started = True
        _log.info("%s: the strategies of %s subscribed; starting the data sources", self.name,
                  ", ".join(sorted(self.started_by)) or "no trader")
        node.start_data_sources()

    # -- end --------------------------------------------------------------------------

    def _client_stop_request(self, reason: str, *, failure: str | None = None) -> None:
        """A client of this worker asks for the node's stop (its source ended)."""
        node = self._node
        if self.role == "data" and node is not None:
            kernel = node.kernel
            now = time.time_ns()
            # After every tick this worker published: a trader that has it, has them.
            kernel.msgbus.publish(
                topics.SOURCE_ENDED,
                SourceEnded(trader_id=kernel.trader_id, publisher=self.name, reason=reason,
                            failure=failure, event_id=new_id(), ts_event=now, ts_init=now),
            )
        _log.info("%s: a client asks for the node's stop: %s", self.name, failure or reason)
        self._send(ClientStopRequest(worker=self.name, source=self.name, reason=reason,
                                     failure=failure or ""))

    def _on_source_ended(self, marker: SourceEnded) -> None:
        """Trader: every tick of that data worker's source before it was handled."""
        self._send(ClientStopRequest(worker=self.name, source=marker.publisher,
                                     reason=marker.reason, failure=marker.failure or ""))
