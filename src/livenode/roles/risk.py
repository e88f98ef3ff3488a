"""The risk role: the node's one risk engine (its own worker, or inside the trader's
or the exec worker's process)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

from livenode.bus.topics import exact
from livenode.roles.role import Role, RoleHost

_log = logging.getLogger("livenode.worker")


class RiskRole(Role):
    name: ClassVar[str] = "risk"
    order: ClassVar[int] = 3
    resync_from: ClassVar[frozenset[str]] = frozenset({"data", "exec", "trader"})
    hosts_risk: ClassVar[bool] = True
    merge_rank: ClassVar[int] = 2

    @classmethod
    def takes_from(
        cls, peer_role: str, members: Sequence[str], shared_market: bool
    ) -> tuple[str, ...]:
        if peer_role == "trader":
            return (exact("commands.risk"),)
        if peer_role == "data":
            # With shared memory, its reference prices come from there.
            if shared_market:
                return ("data.instrument.", exact("events.recovery"))
            return ("data.quotes.", "data.trades.", "data.instrument.",
                    exact("events.recovery"))
        if peer_role == "exec":
            return ("events.order.", "events.position.", "events.account.",
                    exact("events.recovery"))
        return ()

    def install(self, host: RoleHost) -> None:
        # Commands wait until the risk engine has instruments, positions and open
        # orders: checked without them they would be denied for missing state.
        host.hold_commands(self.name)
        host.follow_execution_state()

    async def after_go(self, host: RoleHost) -> None:
        await host.wait_execution_state()
        host.release_commands(self.name, "state complete")
