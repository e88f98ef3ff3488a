"""The data role: market data clients and the data engine of some venues."""

from __future__ import annotations

from typing import ClassVar

from livenode.engines.peer_recovery import publish_instruments
from livenode.roles.role import Role, RoleHost


class DataRole(Role):
    name: ClassVar[str] = "data"
    order: ClassVar[int] = 0
    # A data worker that rejoined has no subscriptions: the traders send theirs again.
    resync_from: ClassVar[frozenset[str]] = frozenset({"trader"})

    def publish_snapshots(self, host: RoleHost) -> None:
        kernel = host.node.kernel
        if kernel.data_engine is not None:
            publish_instruments(kernel.cache, kernel.msgbus, kernel.trader_id,
                                host.publisher_id)
