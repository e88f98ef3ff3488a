"""The trader role: strategies, and the mirrors of the data and the books they read."""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

import msgspec

from livenode.bus import topics
from livenode.core.uuid import new_id
from livenode.engines.peer_recovery import resend_unanswered
from livenode.roles.role import Rejoined, Role, RoleHost

_log = logging.getLogger("livenode.worker")


class TraderRole(Role):
    name: ClassVar[str] = "trader"
    order: ClassVar[int] = 2
    resync_from: ClassVar[frozenset[str]] = frozenset({"data", "exec"})

    def __init__(self) -> None:
        # The data subscriptions the strategies hold, one entry per subscribe command
        # (the data engine counts subscribers), to send again to a data worker that
        # restarted with none.
        self._data_subscriptions: dict[tuple[str, str, str], list[Any]] = {}

    def install(self, host: RoleHost) -> None:
        host.node.kernel.msgbus.subscribe("commands.data.*", self._track_data_command)
        host.follow_execution_state()

    async def after_go(self, host: RoleHost) -> None:
        # A strategy never sees itself flat when the venue says otherwise.
        await host.wait_execution_state()

    def peer_rejoined(self, host: RoleHost, peer: Rejoined) -> None:
        if peer.role == "data" and peer.members:
            self._resubscribe(host, list(peer.members))
            host.sources_started(list(peer.members))  # after the subscriptions, as at start
        elif peer.role in ("risk", "exec"):
            kernel = host.node.kernel
            count = resend_unanswered(kernel.cache, kernel.msgbus, kernel.trader_id,
                                      exec_restarted=peer.role == "exec")
            if count:
                _log.warning("%s: sent %d unanswered submit(s) again after %s restarted",
                             host.name, count, peer.worker)

    def _track_data_command(self, command: Any) -> None:
        name = type(command).__name__
        if name.startswith("Subscribe"):
            self._data_subscriptions.setdefault(_data_key(command), []).append(command)
        elif name.startswith("Unsubscribe"):
            held = self._data_subscriptions.get(_data_key(command))
            if held:
                held.pop()
                if not held:
                    del self._data_subscriptions[_data_key(command)]

    def _resubscribe(self, host: RoleHost, venues: list[str]) -> None:
        """Send again the data subscriptions of `venues` (a restarted data worker's):
        only those, so the other data engines' subscriber counts stay right."""
        msgbus = host.node.kernel.msgbus
        commands = [c for held in self._data_subscriptions.values() for c in held
                    if str(c.venue) in venues]
        for command in commands:
            fresh = msgspec.structs.replace(command, command_id=new_id(), ts_init=time.time_ns())
            msgbus.publish(topics.data_commands(command.venue), fresh)
        _log.info("%s: sent %d data subscription(s) again", host.name, len(commands))


def _data_key(command: Any) -> tuple[str, str, str]:
    """(what, venue, which) of a data (un)subscribe command, e.g.
    ("QuoteTicks", "SIM", "BTCUSDT.SIM")."""
    what = type(command).__name__.removeprefix("Un").removeprefix("un").removeprefix("Subscribe")
    which = getattr(command, "instrument_id", None) or getattr(command, "bar_type", None)
    return what, str(command.venue), str(which)
