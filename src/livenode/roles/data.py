"""The data role: market data clients and the data engine of some venues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from livenode.bus.topics import exact
from livenode.engines.peer_recovery import publish_instruments
from livenode.roles.role import Role, RoleHost


class DataRole(Role):
    name: ClassVar[str] = "data"
    order: ClassVar[int] = 0
    # A data worker that rejoined has no subscriptions: the traders send theirs again.
    resync_from: ClassVar[frozenset[str]] = frozenset({"trader"})
    market_source: ClassVar[bool] = True
    merge_rank: ClassVar[int] = 1
    counters_in_facts: ClassVar[dict[str, str]] = {"quotes": "quotes", "trades": "trades"}

    @classmethod
    def takes_from(
        cls, peer_role: str, members: Sequence[str], shared_market: bool
    ) -> tuple[str, ...]:
        if peer_role == "trader":  # the data commands for its venues
            return tuple(exact(f"commands.data.{venue}") for venue in members)
        return ()

    def publish_snapshots(self, host: RoleHost) -> None:
        kernel = host.node.kernel
        if kernel.data_engine is not None:
            publish_instruments(kernel.cache, kernel.msgbus, kernel.trader_id,
                                host.publisher_id)
