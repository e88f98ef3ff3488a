"""A client's request for the node's stop, in a multiprocess node.

In one process a client whose source ended (a replay finished with
``stop_at_end``, or one stopped at a bad line) calls the node's stop directly
(`ClientContext.request_stop`). In a multiprocess node its worker sends
`ClientStopRequest` to the supervisor instead, which stops the whole node in
order, with the request's failure (exit 1) when it has one.

A data worker's source feeds the traders: its request is also a `SourceEnded`
marker on the bus, after every tick it published, and each trader worker answers
`ClientStopRequest` (naming the data worker as ``source``) once it has handled the
marker. The supervisor stops the node only when every running trader has, so no
tick of the source is still in flight when the traders stop; a trader that does
not answer within `TRADERS_TIMEOUT_S` (busy, dying) does not hold the stop
forever: it goes on with a warning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from livenode.bus.control import ClientStopRequest
from livenode.supervisor.handles import WorkerHandle, WorkerState

__all__ = ["TRADERS_TIMEOUT_S", "ClientStops"]

_log = logging.getLogger("livenode.supervisor")

#: How long a data worker's stop request waits for the traders to confirm.
TRADERS_TIMEOUT_S = 10.0


@dataclass
class _Request:
    reason: str = ""
    failure: str = ""
    asked: bool = False  # the source's own request arrived
    confirmed: set[str] = field(default_factory=set)  # traders that handled it
    timer: asyncio.TimerHandle | None = None


class ClientStops:
    """Turns `ClientStopRequest` messages into the node's stop.

    Args:
        handles: the supervisor's workers by name.
        stop: ``stop(reason, failure)``; ``failure`` is "" for a clean stop.
    """

    def __init__(
        self, handles: Mapping[str, WorkerHandle], stop: Callable[[str, str], None]
    ) -> None:
        self._handles = handles
        self._stop = stop
        self._requests: dict[str, _Request] = {}
        self.done = False

    def on_request(self, msg: ClientStopRequest) -> None:
        """A worker's `ClientStopRequest` (its own, or a trader's confirmation)."""
        if self.done:
            return
        request = self._requests.setdefault(msg.source, _Request())
        if msg.worker == msg.source:
            request.asked = True
            request.reason, request.failure = msg.reason, msg.failure
            _log.info("%s asks for the node's stop: %s", msg.source, msg.failure or msg.reason)
            source = self._handles.get(msg.source)
            if source is not None and source.market_source and request.timer is None:
                loop = asyncio.get_running_loop()
                request.timer = loop.call_later(TRADERS_TIMEOUT_S, self._timed_out, msg.source)
        else:
            request.confirmed.add(msg.worker)
            _log.info("%s has handled the source of %s to its end", msg.worker, msg.source)
        self._check(msg.source)

    def _waiting_for(self, source: str) -> list[str]:
        handle = self._handles.get(source)
        if handle is None or not handle.market_source:
            return []
        confirmed = self._requests[source].confirmed
        return [h.name for h in self._handles.values()
                if h.runs_strategies and h.state is WorkerState.RUNNING
                and h.name not in confirmed]

    def _check(self, source: str) -> None:
        request = self._requests[source]
        if request.asked and not self._waiting_for(source):
            self._finish(source)

    def _timed_out(self, source: str) -> None:
        request = self._requests[source]
        request.timer = None
        if self.done:
            return
        _log.warning("%s: trader(s) %s did not confirm the end of its source within %gs; "
                     "stopping anyway", source, ", ".join(self._waiting_for(source)),
                     TRADERS_TIMEOUT_S)
        self._finish(source)

    def _finish(self, source: str) -> None:
        request = self._requests[source]
        self.done = True
        self.close()
        self._stop(request.reason, request.failure)

    def close(self) -> None:
        """Cancel the timers (the supervisor stops)."""
        for request in self._requests.values():
            if request.timer is not None:
                request.timer.cancel()
                request.timer = None
