"""`livenode audit` in a multiprocess node: the supervisor relays the request.

The supervisor holds no books: it asks every running worker (`AuditRequest` with a
request id of its own), each worker whose process executes orders audits its venues
and answers `AuditReply` (the others answer with no verdicts), and once every worker
asked has answered, or `ANSWER_TIMEOUT_S` passed, the supervisor sends the asker one
`AuditReply` with every verdict and, in ``error``, the workers that did not answer.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from livenode.bus.control import AuditReply, AuditRequest, ControlMessage
from livenode.model.audit import VenueAudit, decode_audits, encode_audits
from livenode.supervisor.handles import WorkerHandle, WorkerState

__all__ = ["ANSWER_TIMEOUT_S", "AuditRelay"]

_log = logging.getLogger("livenode.supervisor")

#: How long the supervisor waits for the workers' verdicts (each worker's audit is
#: bounded by ``timeouts.audit`` itself; this bounds a worker that does not answer).
ANSWER_TIMEOUT_S = 30.0


@dataclass
class _Pending:
    asker: bytes
    waiting: set[str]
    verdicts: dict[str, VenueAudit] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class AuditRelay:
    """Fans an `AuditRequest` out to the workers and their answers back in.

    Args:
        handles: the supervisor's workers by name.
        send: ``send(message, peer identity)`` on the control socket.
        timeout: seconds to wait for the workers' answers.
    """

    def __init__(
        self,
        handles: Mapping[str, WorkerHandle],
        send: Callable[[ControlMessage, bytes], None],
        timeout: float = ANSWER_TIMEOUT_S,
    ) -> None:
        self._handles = handles
        self._send = send
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}

    def ask(self, asker: bytes) -> None:
        """`asker` (a `livenode audit`) wants the verdicts: ask every running worker."""
        running = [h for h in self._handles.values() if h.state is WorkerState.RUNNING]
        if not running:
            self._send(AuditReply(error="no worker is running"), asker)
            return
        request_id = next(self._ids)
        pending = _Pending(asker=asker, waiting={h.name for h in running})
        self._pending[request_id] = pending
        for handle in running:
            self._send(AuditRequest(request_id=request_id), handle.identity)
        pending.timer = asyncio.get_running_loop().call_later(
            self._timeout, self._finish, request_id)

    def on_reply(self, worker: str, reply: AuditReply) -> None:
        """One worker's verdicts (or its error)."""
        pending = self._pending.get(reply.request_id)
        if pending is None or worker not in pending.waiting:
            return  # late, after the timeout answered for it
        pending.waiting.discard(worker)
        if reply.error:
            pending.errors.append(f"{worker}: {reply.error}")
        if reply.audit:
            try:
                pending.verdicts.update(decode_audits(reply.audit))
            except ValueError as exc:
                pending.errors.append(f"{worker}: {exc}")
        if not pending.waiting:
            self._finish(reply.request_id)

    def _finish(self, request_id: int) -> None:
        pending = self._pending.pop(request_id, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        errors = list(pending.errors)
        if pending.waiting:
            errors.append(f"no answer within {self._timeout:g}s from "
                          f"{', '.join(sorted(pending.waiting))}")
            _log.warning("audit: %s", errors[-1])
        self._send(AuditReply(request_id=request_id, audit=encode_audits(pending.verdicts),
                              error="; ".join(errors)), pending.asker)

    def close(self) -> None:
        """Answer every audit still waiting (the node stops)."""
        for request_id in list(self._pending):
            self._finish(request_id)
