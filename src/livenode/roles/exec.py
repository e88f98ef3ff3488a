"""The exec role: execution clients of some venues, their execution engine and
the node's books for them (orders, positions, balances)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from livenode.bus import topics
from livenode.engines.peer_recovery import publish_account_states
from livenode.roles.role import Rejoined, Role, RoleHost

_log = logging.getLogger("livenode.worker")


class ExecRole(Role):
    name: ClassVar[str] = "exec"
    order: ClassVar[int] = 1
    resync_from: ClassVar[frozenset[str]] = frozenset({"data", "trader"})
    carries_venues: ClassVar[bool] = True

    def __init__(self) -> None:
        # Events published before the peers listened (reconciliation at start), sent
        # again once they do; None once sent.
        self._unheard: list[Any] | None = []

    def install(self, host: RoleHost) -> None:
        # Commands held for us while we were down wait until our clients are
        # connected, our state is reconciled and our peers listen again.
        host.hold_commands(self.name)
        msgbus = host.node.kernel.msgbus
        for pattern in (topics.ALL_ORDER_EVENTS, topics.ALL_POSITION_EVENTS):
            msgbus.subscribe(pattern, self._keep_unheard_event, -1000)

    def _keep_unheard_event(self, event: Any) -> None:
        if self._unheard is not None:
            self._unheard.append(event)

    async def before_ready(self, host: RoleHost) -> None:
        unheard, self._unheard = self._unheard or [], None
        msgbus = host.node.kernel.msgbus
        for event in unheard:
            topic = (topics.order_events(event.strategy_id) if hasattr(event, "client_order_id")
                     else topics.position_events(event.strategy_id))
            msgbus.publish(topic, event)
        if unheard:
            _log.info("%s: sent again %d event(s) made before the peers listened",
                      host.name, len(unheard))
        host.release_commands(self.name, "clients connected, state reconciled")

    def publish_snapshots(self, host: RoleHost) -> None:
        kernel = host.node.kernel
        if kernel.exec_engine is not None:
            publish_account_states(kernel.cache, kernel.msgbus)

    async def after_go(self, host: RoleHost) -> None:
        # What this exec worker holds (loaded from the cache database, or reconciled
        # from the venue) reaches the traders and risk before they trade.
        host.replay_execution_state(None)

    def peer_rejoined(self, host: RoleHost, peer: Rejoined) -> None:
        if peer.role == "trader":
            host.replay_execution_state(set(peer.members))
        elif peer.role == "risk":
            host.replay_execution_state(None)
