"""`TradingNodeBuilder`: creates the configured clients through their factories.

A config names each client's factory by import path
(``"livenode.adapters.sim:SimDataClientFactory"``); code may instead register a
factory object under the client's name with `add_data_client_factory` /
`add_exec_client_factory` (an explicit registration wins). The builder validates
each client's config table against the factory's `config_type`, creates the
client with a `ClientContext` from the kernel and adds it to the kernel: data
clients first, then execution clients, in config order.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from livenode.cache.database import DatabaseError
from livenode.config import ClientConfig, ConfigError, resolve_client_config
from livenode.engines.clients import ClientFactory, LiveDataClient, LiveExecutionClient
from livenode.node.kernel import Kernel

__all__ = ["BuildError", "TradingNodeBuilder"]

_log = logging.getLogger("livenode.node.builder")


class BuildError(RuntimeError):
    """The node could not be built (a factory failed, or `build` ran twice)."""


class TradingNodeBuilder:
    """Creates a kernel's clients from the configuration, once.

    Args:
        kernel: the kernel that receives the clients and provides their context.
    """

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel
        self._data_factories: dict[str, type[ClientFactory]] = {}
        self._exec_factories: dict[str, type[ClientFactory]] = {}
        self._built = False

    @property
    def is_built(self) -> bool:
        """Whether `build` has run."""
        return self._built

    def add_data_client_factory(self, name: str, factory: type[ClientFactory]) -> None:
        """Use `factory` for the data client `name` instead of the config's import path."""
        self._check_not_built()
        self._data_factories[name] = factory

    def add_exec_client_factory(self, name: str, factory: type[ClientFactory]) -> None:
        """Use `factory` for the exec client `name` instead of the config's import path."""
        self._check_not_built()
        self._exec_factories[name] = factory

    def build(self) -> None:
        """Create every configured client and add it to the kernel.

        Raises:
            BuildError: `build` already ran, or a factory failed to create its client.
            ConfigError: a client's config does not fit its factory's `config_type`.
        """
        self._check_not_built()
        # Mark first: a half-built node must not be built again on top of itself.
        self._built = True
        kernel = self._kernel
        config = kernel.config
        if kernel.data_engine is not None:
            for name, client_config in config.data_clients.items():
                if kernel.members is not None and name not in kernel.members:
                    continue  # hosted by another data worker
                client = self._create(
                    "data", name, client_config, self._data_factories.get(name)
                )
                if not isinstance(client, LiveDataClient):
                    raise BuildError(
                        f"data_clients[{name!r}]: factory returned "
                        f"{type(client).__name__}, expected a LiveDataClient"
                    )
                kernel.add_data_client(client)
        if kernel.exec_engine is not None:
            for name, client_config in config.exec_clients.items():
                if kernel.members is not None and name not in kernel.members:
                    continue  # hosted by another exec worker
                client = self._create(
                    "exec", name, client_config, self._exec_factories.get(name)
                )
                if not isinstance(client, LiveExecutionClient):
                    raise BuildError(
                        f"exec_clients[{name!r}]: factory returned "
                        f"{type(client).__name__}, expected a LiveExecutionClient"
                    )
                kernel.add_exec_client(client)
        try:
            kernel.open_database()
        except (DatabaseError, LookupError) as exc:
            raise BuildError(f"cache database: {exc}") from exc

    # -- internals ---------------------------------------------------------------------------

    def _check_not_built(self) -> None:
        if self._built:
            raise BuildError("the node is already built (build() may run only once)")

    def _create(
        self,
        kind: str,
        name: str,
        client_config: ClientConfig,
        factory: type[ClientFactory] | None,
    ) -> Any:
        path = f"{kind}_clients.{name}"
        if factory is None:
            factory, factory_config = resolve_client_config(client_config, path)
        else:
            factory_config = _convert(factory, client_config, path)
        try:
            client = factory.create(name, factory_config, self._kernel.context)
        except Exception as exc:
            raise BuildError(f"{path}: creating the client failed: {exc}") from exc
        _log.debug("created %s client %s (%s)", kind, name, type(client).__name__)
        return client


def _convert(factory: type[ClientFactory], client_config: ClientConfig, path: str) -> Any:
    """Validate a client's config table against an explicitly registered factory."""
    config_type = getattr(factory, "config_type", None)
    if config_type is None:
        return client_config.config
    try:
        return msgspec.convert(client_config.config, config_type, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}.config", str(exc)) from None
