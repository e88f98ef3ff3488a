"""Status requests of the FIX execution client: OrderMassStatusRequest (AF) and
OrderStatusRequest (H), each waiting for its answers (ExecType I reports).

A request completes with its answers, or fails with `FixRequestError` naming why: no
complete answer within its timeout, a session-level Reject of the request, or an answer
the session could not decode (and rejected). It never waits for a timeout once the
venue has said no, and its timeout is never a `TimeoutError` a caller could take for
its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from livenode.adapters.fix.codec import FixDecodeError, FixMessage
from livenode.adapters.fix.parsing import base_cl_ord_id

__all__ = ["FixRequestError", "StatusRequests"]

Send = Callable[[str, list[tuple[int, str]], str], None]


class FixRequestError(RuntimeError):
    """A status, mass status or positions request failed (the reason says how).

    Not a `TimeoutError`: a caller timing its own wait must not read a request's
    timeout as its own.
    """


class StatusRequests:
    """The client's status requests in flight and their answers.

    Args:
        name: the client's name (in error texts).
        send: sends an application message and remembers it (MsgType, fields, the
            reference a Reject of it is linked back with).
        loop: the node's event loop.
        timeout: seconds a request may take (``request_timeout``).
    """

    def __init__(self, name: str, send: Send, loop: asyncio.AbstractEventLoop,
                 timeout: float) -> None:
        self._name = name
        self._send = send
        self._loop = loop
        self.timeout = timeout
        self._mass: dict[str, tuple[list[FixMessage], asyncio.Future[None]]] = {}
        # By the node's order id: the venue answers with the order's current ClOrdID,
        # which need not be the one asked with (a cancel's, a replace's).
        self._status: dict[str, list[asyncio.Future[FixMessage]]] = {}
        self.failed = 0

    async def mass_status(self, req_id: str) -> list[FixMessage]:
        """Every order the venue reports (all orders, MassStatusReqType 7).

        Raises:
            FixRequestError: see the module docstring.
        """
        fut: asyncio.Future[None] = self._loop.create_future()
        reports: list[FixMessage] = []
        self._mass[req_id] = (reports, fut)
        try:
            self._send("AF", [(584, req_id), (585, "7")], req_id)
            await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            raise FixRequestError(
                f"{self._name}: OrderMassStatusRequest {req_id}: no complete answer within "
                f"{self.timeout:g}s (request_timeout)") from None
        finally:
            self._mass.pop(req_id, None)
        return reports

    async def order_status(self, coid: str, fields: list[tuple[int, str]]) -> FixMessage:
        """The venue's status report of one order (`fields`: the request's body).

        Raises:
            FixRequestError: see the module docstring.
        """
        fut: asyncio.Future[FixMessage] = self._loop.create_future()
        waits = self._status.setdefault(coid, [])
        waits.append(fut)
        try:
            self._send("H", fields, coid)
            return await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            raise FixRequestError(
                f"{self._name}: OrderStatusRequest for {coid}: no answer within "
                f"{self.timeout:g}s (request_timeout)") from None
        finally:
            waits.remove(fut)
            if not waits:
                self._status.pop(coid, None)

    def on_report(self, msg: FixMessage) -> bool:
        """Take an ExecutionReport that answers a status request; False if it does not."""
        req_id = msg.get(584)
        if req_id is not None:
            entry = self._mass.get(req_id)
            if entry is not None:
                reports, fut = entry
                if msg.get(911) != "0":
                    reports.append(msg)
                if msg.get(912) == "Y" and not fut.done():
                    fut.set_result(None)
            return True
        if msg.get(150) != "I":
            return False
        for waiting in self._status.get(base_cl_ord_id(msg.get(11) or ""), []):
            if not waiting.done():
                waiting.set_result(msg)
        return True

    def on_invalid(self, exc: FixDecodeError, fields: dict[int, str]) -> None:
        """An ExecutionReport the session rejected (`fields`: what could be read of it):
        the request it answers fails now rather than at its timeout."""
        if fields.get(35) != "8":
            return
        reason = f"the venue's answer is not valid FIX ({exc}); rejected (35=3)"
        if 584 in fields:
            self.fail_mass(fields[584], f"OrderMassStatusRequest {fields[584]}: {reason}")
        elif fields.get(150) == "I" and 11 in fields:
            self.fail_status(base_cl_ord_id(fields[11]), reason)

    def fail_mass(self, req_id: str, reason: str) -> None:
        """Fail the mass status request `req_id` (if still waiting)."""
        entry = self._mass.get(req_id)
        if entry is not None and not entry[1].done():
            self.failed += 1
            entry[1].set_exception(FixRequestError(f"{self._name}: {reason}"))

    def fail_status(self, coid: str, reason: str) -> None:
        """Fail the status requests of order `coid` (if still waiting)."""
        for waiting in self._status.get(coid, []):
            if not waiting.done():
                self.failed += 1
                waiting.set_exception(
                    FixRequestError(f"{self._name}: status of {coid}: {reason}"))

    def cancel_all(self) -> None:
        """Cancel every wait (the client disconnects)."""
        for _, fut in self._mass.values():
            fut.cancel()
        for waits in self._status.values():
            for waiting in waits:
                waiting.cancel()
