"""The control socket of a single-process node: it answers `livenode audit`.

A multiprocess node's supervisor owns the run directory's control socket; a
single-process node has no supervisor, so it binds a socket of its own in its run
directory (`RunDir.node_endpoint`) and answers `AuditRequest` with its execution
engine's verdicts (`livenode.engines.audit`). Anything else is answered with an
`Ack` that says it is not served here (stop a single node with a signal).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import zmq

from livenode.bus.control import Ack, AuditReply, AuditRequest, ControlSocket
from livenode.engines.audit import encode_audits

if TYPE_CHECKING:
    from livenode.node.node import TradingNode

__all__ = ["NodeControl", "audit_now"]

_log = logging.getLogger("livenode.node")


async def audit_now(node: TradingNode, request_id: int) -> AuditReply:
    """This process's answer to an `AuditRequest`: its execution engine's verdicts, none
    when it executes no orders (a multiprocess node's other workers), or the error."""
    engine = node.kernel.exec_engine
    if engine is None or not node.kernel.exec_clients:
        return AuditReply(request_id=request_id)
    try:
        verdicts = await engine.audit(node.config.timeouts.audit)
    except Exception as exc:  # the asker gets the reason, never silence
        _log.exception("audit failed")
        return AuditReply(request_id=request_id, error=f"{type(exc).__name__}: {exc}")
    return AuditReply(request_id=request_id, audit=encode_audits(verdicts))


class NodeControl:
    """Serves `livenode audit` for `node` on `endpoint` (an ``ipc://`` address)."""

    def __init__(self, node: TradingNode, endpoint: str) -> None:
        self._node = node
        self._endpoint = endpoint
        self._context: zmq.Context[Any] | None = None
        self._control: ControlSocket | None = None
        self._task: asyncio.Task[None] | None = None
        self._audits: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Bind and serve on the running loop."""
        self._context = zmq.Context()
        router = self._context.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.bind(self._endpoint)
        self._control = ControlSocket(router, asyncio.get_running_loop())
        self._task = asyncio.ensure_future(self._serve(self._control))

    async def _serve(self, control: ControlSocket) -> None:
        while True:
            peer, msg = await control.recv()
            if type(msg) is AuditRequest:
                task = asyncio.ensure_future(self._answer(control, peer, msg.request_id))
                self._audits.add(task)
                task.add_done_callback(self._audits.discard)
            else:
                control.send(Ack(detail=f"{type(msg).__name__} is not served by a "
                                        "single-process node"), to=peer)

    async def _answer(self, control: ControlSocket, peer: bytes, request_id: int) -> None:
        if not self._node.is_running:
            control.send(AuditReply(request_id=request_id,
                                    error=f"the node is {self._node.state.value}"), to=peer)
            return
        control.send(await audit_now(self._node, request_id), to=peer)

    async def close(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        tasks = [t for t in (self._task, *self._audits) if t is not None]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._context is not None:
            self._context.term()
            self._context = None
