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

from livenode.config import TradingNodeConfig, resolve_client_config
from livenode.engines.clients import ClientFactory, ServiceSpec

__all__ = ["ServiceSpec", "collect_service_specs"]


def collect_service_specs(config: TradingNodeConfig, run_dir: str) -> list[ServiceSpec]:
    """Every service the configured clients' factories ask for, once per name."""
    specs: dict[str, ServiceSpec] = {}
    for section in ("data_clients", "exec_clients"):
        for name, client_config in getattr(config, section).items():
            factory, factory_config = resolve_client_config(client_config, f"{section}.{name}")
            if not (isinstance(factory, type) and issubclass(factory, ClientFactory)):
                raise ValueError(
                    f"{section}.{name}.factory: {factory!r} does not subclass "
                    "livenode.engines.clients.ClientFactory"
                )
            for spec in factory.services(name, factory_config, run_dir):
                specs.setdefault(spec.name, spec)
    return list(specs.values())

