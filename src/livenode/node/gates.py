"""Start gates and the client steps of the start and stop sequences.

A *gate* is one awaited condition of the start sequence (clients connected,
execution reconciled, portfolio initialised), bounded by its timeout and
abandoned at once when a stop is requested meanwhile. A gate that times out or
fails raises `StartupGateError`, which names the gate and what was not ready.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from livenode.core.errors import LivenodeError
from livenode.engines.clients import LiveClient, LiveExecutionClient

__all__ = [
    "StartAborted",
    "StartupGateError",
    "client_kind",
    "connect_clients",
    "describe_unconnected",
    "disconnect_clients",
    "run_gate",
]

_log = logging.getLogger("livenode.node")

# Extra seconds a gate waits beyond the timeout it hands the engine, so the
# engine's own timeout (and its precise answer) normally comes first.
GATE_MARGIN = 0.5
# How long a cancelled connect/disconnect may take to unwind before it is left behind.
_UNWIND_SECONDS = 1.0


class StartupGateError(LivenodeError):
    """A start gate timed out or failed; the node stopped what it had started.

    Attributes:
        gate: ``"connection"``, ``"reconciliation"`` or ``"portfolio"``.
        detail: what was not ready, e.g. ``"SIM data client not connected"``.
        timeout: the gate's timeout in seconds when it timed out, else None.
    """

    def __init__(self, gate: str, detail: str, timeout: float | None = None) -> None:
        self.gate = gate
        self.detail = detail
        self.timeout = timeout
        if timeout is not None:
            message = f"start gate '{gate}' timed out after {_seconds(timeout)}s: {detail}"
        else:
            message = f"start gate '{gate}' failed: {detail}"
        super().__init__(message)


class StartAborted(Exception):
    """A stop was requested while a start gate was still waiting."""


def _seconds(value: float) -> str:
    """10 -> "10.0", 0.5 -> "0.5", 0.25 -> "0.25": one decimal at least, no float noise."""
    text = f"{value:g}"
    return text if "." in text or "e" in text else f"{value:.1f}"


async def run_gate(
    name: str,
    awaitable: Awaitable[Any],
    timeout: float,
    describe: Callable[[], str],
    stop_requested: asyncio.Event,
) -> None:
    """Await one start gate, racing it against its timeout and a stop request.

    The awaitable passes by returning anything but False; False or a timeout
    raise `StartupGateError` with `describe()`; an exception raises it with the
    exception's message; a stop request raises `StartAborted`.
    """
    task = asyncio.ensure_future(awaitable)
    stop_wait = asyncio.ensure_future(stop_requested.wait())
    try:
        done, _ = await asyncio.wait(
            {task, stop_wait},
            timeout=timeout + GATE_MARGIN,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        stop_wait.cancel()
    if task in done:
        try:
            result = task.result()
        except TimeoutError:
            raise StartupGateError(name, describe(), timeout) from None
        except Exception as exc:
            raise StartupGateError(name, str(exc)) from exc
        if result is False:
            raise StartupGateError(name, describe(), timeout)
        return
    detail = describe()  # before cancelling: what was still missing at the deadline
    task.cancel()
    await asyncio.wait({task}, timeout=_UNWIND_SECONDS)
    if stop_wait in done or stop_requested.is_set():
        raise StartAborted
    raise StartupGateError(name, detail, timeout)


def client_kind(client: LiveClient) -> str:
    """``"exec"`` or ``"data"``, as messages name clients."""
    return "exec" if isinstance(client, LiveExecutionClient) else "data"


def describe_unconnected(clients: Iterable[LiveClient]) -> str:
    """``"SIM data client not connected, ..."`` for the clients still down."""
    missing = [
        f"{client.name} {client_kind(client)} client not connected"
        for client in clients
        if not client.is_connected
    ]
    return ", ".join(missing) or "clients not connected"


async def connect_clients(groups: Iterable[Iterable[LiveClient]]) -> None:
    """Connect the clients group after group (data, then exec), each group concurrently.

    The node passes data clients first, so market data flows before orders can;
    no adapter may depend on that order (the sim exec client finds its venue whether
    or not the data client came first). A failure names the client and its reason.
    """
    for group in groups:
        await asyncio.gather(*(_connect(client) for client in group))


async def _connect(client: LiveClient) -> None:
    try:
        await client.connect()
    except Exception as exc:
        raise RuntimeError(
            f"{client.name} {client_kind(client)} client failed to connect: {exc}"
        ) from exc


async def disconnect_clients(groups: Iterable[Iterable[LiveClient]], timeout: float) -> bool:
    """Disconnect the connected clients group after group, each group concurrently.

    The node passes data clients first, exec clients last (DESIGN: execution
    stops last), so order acknowledgements still arrive while market data stops.
    `timeout` bounds all groups together. Returns False if a client failed or
    did not finish in time (it is then left behind, named in the log).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    ok = True
    for group in groups:
        connected = [c for c in group if c.is_connected]
        if not connected:
            continue
        tasks = [asyncio.ensure_future(_disconnect(c)) for c in connected]
        done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=_UNWIND_SECONDS)
            stuck = [c.name for c, t in zip(connected, tasks, strict=True) if t in pending]
            _log.error("clients did not disconnect within %gs: %s", timeout, ", ".join(stuck))
            ok = False
        for task in done:
            if task.exception() is not None:
                ok = False
    return ok


async def _disconnect(client: LiveClient) -> None:
    try:
        await client.disconnect()
    except Exception:
        _log.exception("%s %s client failed to disconnect", client.name, client_kind(client))
        raise
