"""The risk role: the node's one risk engine (its own worker, or inside the trader's
or the exec worker's process)."""

from __future__ import annotations

import logging
from typing import ClassVar

from livenode.roles.role import Role, RoleHost

_log = logging.getLogger("livenode.worker")


class RiskRole(Role):
    name: ClassVar[str] = "risk"
    order: ClassVar[int] = 3
    resync_from: ClassVar[frozenset[str]] = frozenset({"data", "exec", "trader"})
    hosts_risk: ClassVar[bool] = True

    def install(self, host: RoleHost) -> None:
        # Commands wait until the risk engine has instruments, positions and open
        # orders: checked without them they would be denied for missing state.
        host.hold_commands(self.name)
        host.follow_execution_state()

    async def after_go(self, host: RoleHost) -> None:
        await host.wait_execution_state()
        host.release_commands(self.name, "state complete")
