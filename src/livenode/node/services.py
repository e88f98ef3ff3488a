"""Services: helper processes an adapter needs next to the node's workers.

A client factory (`livenode.engines.clients.ClientFactory`) declares
``services(name, config, run_dir) -> list[ServiceSpec]`` (none by default). The
supervisor calls it for every configured client before it spawns the workers,
starts each service once (deduplicated by ``name``: the data and exec client of
one venue may both ask), waits for the service to print ``ready_line`` on its
stdout, and stops it (SIGTERM, then SIGKILL after the shutdown timeout) after the
workers have stopped. The sim adapter uses it to run its venue as a process of
its own in multiprocess mode. `ServiceSpec` is defined with the client seam.
"""

from __future__ import annotations

from livenode.engines.clients import ServiceSpec

__all__ = ["ServiceSpec"]
