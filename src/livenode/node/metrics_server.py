"""The Prometheus endpoint: an HTTP server on a thread of its own (docs/metrics.md).

A scrape asks the event loop that owns the node's state for one
`MetricsSnapshot` (``loop.call_soon_threadsafe``: the state is only ever read
on its own loop, so no lock and no torn read) and formats it on the server's
thread. A loop that does not answer within `SNAPSHOT_TIMEOUT_S` gets the
previous snapshot served again, marked stale: a scrape never blocks trading and
never hangs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
from prometheus_client import CollectorRegistry, start_http_server

from livenode.config import MetricsConfig
from livenode.core.errors import LivenodeError
from livenode.node.metrics import MetricsSnapshot, NodeCollector, ProcessMetrics
from livenode.node.run_report import RunReport

if TYPE_CHECKING:
    from livenode.node.node import TradingNode

__all__ = ["SNAPSHOT_TIMEOUT_S", "MetricsServer", "MetricsServerError", "single_node_metrics"]

_log = logging.getLogger("livenode.metrics")

#: How long a scrape waits for the event loop's snapshot before serving the last one.
SNAPSHOT_TIMEOUT_S = 2.0


class MetricsServerError(LivenodeError):
    """The metrics endpoint cannot listen where `[metrics]` says."""


class MetricsServer:
    """Serves ``/metrics`` for the state `snapshot` returns.

    Args:
        config: the `[metrics]` section (`start` does nothing unless enabled).
        loop: the event loop `snapshot` must run on.
        snapshot: builds the current state; called on `loop`.
    """

    def __init__(
        self,
        config: MetricsConfig,
        loop: asyncio.AbstractEventLoop,
        snapshot: Callable[[], MetricsSnapshot],
    ) -> None:
        self._config = config
        self._loop = loop
        self._snapshot = snapshot
        self._last = MetricsSnapshot(report=RunReport())
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) while serving, else None."""
        if self._server is None:
            return None
        return self._config.host, int(self._server.server_port)

    def start(self) -> None:
        """Listen (when enabled).

        Raises:
            MetricsServerError: the address cannot be bound (in use, not local).
        """
        if not self._config.enabled or self._server is not None:
            return
        registry = CollectorRegistry(auto_describe=False)
        registry.register(NodeCollector(self._scrape))
        host, port = self._config.host, self._config.port
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise MetricsServerError(
                f"metrics: cannot listen on {host}:{port} ([metrics] host/port): "
                f"{exc.strerror or exc}"
            ) from exc
        _log.info("serving http://%s:%d/metrics", host, port)

    async def stop(self) -> None:
        """Close the port and end the server's thread; idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        # shutdown() waits for the serving loop's next poll (up to 0.5 s): not on
        # this event loop, which a scrape in progress may be waiting for.
        await asyncio.get_running_loop().run_in_executor(None, server.shutdown)
        server.server_close()
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 5.0)
        _log.info("stopped serving metrics")

    def _scrape(self) -> MetricsSnapshot:
        """On the server's thread: the loop's snapshot, or the last one, stale."""
        future: concurrent.futures.Future[MetricsSnapshot] = concurrent.futures.Future()

        def build() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(self._snapshot())
                except BaseException as exc:  # handed to the scraping thread
                    future.set_exception(exc)

        try:
            self._loop.call_soon_threadsafe(build)
            snap = future.result(SNAPSHOT_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            future.cancel()
            _log.warning("metrics: the event loop did not answer in %gs; serving the "
                         "previous state", SNAPSHOT_TIMEOUT_S)
            return msgspec.structs.replace(self._last, stale=True)
        except RuntimeError:  # the loop is closed: the node is going away
            return msgspec.structs.replace(self._last, stale=True)
        except Exception:
            _log.exception("metrics: building the snapshot failed")
            return msgspec.structs.replace(self._last, stale=True)
        self._last = snap
        return snap


def single_node_metrics(node: TradingNode) -> MetricsServer | None:
    """The endpoint of a single-process node (None unless its `[metrics]` is enabled;
    a worker of a multiprocess node serves none: its supervisor does)."""
    config = node.config
    if config.mode != "single" or not config.metrics.enabled:
        return None
    pid = os.getpid()

    def snapshot() -> MetricsSnapshot:
        process = ProcessMetrics(
            name="node", role="single", pid=pid, state=node.state.value,
            handler_errors=node.kernel.msgbus.handler_errors,
        )
        report = node.stats.report(live=True).with_live_tick_to_trade(
            node.stats.live_tick_to_trade())
        return MetricsSnapshot(report=report, processes=[process])

    return MetricsServer(config.metrics, node.loop, snapshot)
