"""Trading to each venue, as the supervisor decides it.

Trading to a venue is HALTED while its execution worker is down, while its venue
process (a service, such as the sim venue) is down, and after that process came
back until every exec worker of the venue reconnected and reconciled with it. The
supervisor tells the risk workers (`SetTradingState`) and the exec workers
(`VenueRestarted`); a venue that is down is never hidden behind RUNNING
(`down` is in `livenode status`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from livenode.bus.control import SetTradingState, VenueReconciled, VenueRestarted
from livenode.supervisor.handles import WorkerHandle

__all__ = ["VenueStates"]

_log = logging.getLogger("livenode.supervisor")


class VenueStates:
    """Args:
        handles: the supervisor's workers (risk and exec ones are told).
        send: sends a control message to the worker with a control identity.
    """

    def __init__(
        self, handles: dict[str, WorkerHandle], send: Callable[[Any, bytes], None]
    ) -> None:
        self._handles = handles
        self._send = send
        # Venues whose process is down or not reconciled since: venue -> reason.
        self.down: dict[str, str] = {}

    def exec_worker_changed(self, exec_handle: WorkerHandle, state: str, reason: str) -> None:
        """An exec worker died (HALTED) or is back (ACTIVE) for each of its venues; a
        venue whose process is not back (or not reconciled) stays HALTED."""
        for venue in exec_handle.config.members:
            if state == "ACTIVE" and venue in self.down:
                continue
            self._send_trading_state(venue, state, reason)

    def halt(self, venue: str, reason: str) -> None:
        """Halt trading to `venue` until it reconnected and reconciled."""
        self.down[venue] = reason
        self._send_trading_state(venue, "HALTED", reason)

    def venue_restarted(self, venue: str, service: str) -> None:
        """Its process is back: exec workers reconnect and reconcile; still HALTED."""
        self.down[venue] = f"service {service} restarted; reconnecting and reconciling"
        for handle in self._handles.values():
            if handle.carries_venues and handle.alive:
                self._send(VenueRestarted(venue=venue), handle.identity)

    def reconciled(self, msg: VenueReconciled) -> None:
        """An exec worker reconnected and reconciled (or could not): resume, or say why not."""
        if not msg.ok:
            reason = f"{msg.worker} could not reconnect and reconcile {msg.venue}: {msg.detail}"
            _log.error("%s; trading to %s stays HALTED", reason, msg.venue)
            self.halt(msg.venue, reason)
            return
        if self.down.pop(msg.venue, None) is not None:
            _log.warning("venue %s reconnected and reconciled by %s: trading resumes",
                         msg.venue, msg.worker)
            self._send_trading_state(msg.venue, "ACTIVE", f"venue {msg.venue} is back")

    def _send_trading_state(self, venue: str, state: str, reason: str) -> None:
        # The risk engine's host: a risk worker, or the trader or exec worker that runs
        # it (`supervisor.risk_placement`).
        for risk in (h for h in self._handles.values() if h.hosts_risk and h.alive):
            self._send(SetTradingState(state=state, venue=venue, reason=reason), risk.identity)
