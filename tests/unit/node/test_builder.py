"""TradingNodeBuilder: factories by config path or by registration, validated configs."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import msgspec
import pytest

from livenode.config import ConfigError
from livenode.engines.clients import ClientContext
from livenode.node.builder import BuildError, TradingNodeBuilder
from livenode.node.kernel import Kernel
from tests.fixtures.node.clients import (
    FixtureClientConfig,
    StuckDisconnectDataClient,
    StuckDisconnectDataClientFactory,
)
from tests.unit.node.conftest import fixture_client_config


class _RecordingFactory:
    config_type: ClassVar[type] = FixtureClientConfig
    calls: ClassVar[list[tuple[str, Any, ClientContext]]] = []

    @classmethod
    def create(cls, name: str, config: Any, context: ClientContext) -> StuckDisconnectDataClient:
        cls.calls.append((name, config, context))
        return StuckDisconnectDataClient(name, config, context)


class _WrongTypeFactory:
    config_type: ClassVar[type] = FixtureClientConfig

    @staticmethod
    def create(name: str, config: Any, context: ClientContext) -> object:
        return object()


class _BrokenFactory:
    config_type: ClassVar[type] = FixtureClientConfig

    @staticmethod
    def create(name: str, config: Any, context: ClientContext) -> object:
        raise OSError("no route to venue")


async def test_config_path_factory_creates_the_client_with_the_kernels_context() -> None:
    kernel = Kernel(fixture_client_config("StuckDisconnectDataClientFactory"),
                    asyncio.get_running_loop())
    TradingNodeBuilder(kernel).build()
    client = kernel.data_clients["SLOW"]
    assert isinstance(client, StuckDisconnectDataClient)
    assert str(client.venue) == "SLOW"
    assert client._context is kernel.context
    kernel.dispose()


async def test_registered_factory_gets_a_validated_config() -> None:
    _RecordingFactory.calls.clear()
    kernel = Kernel(fixture_client_config("NeverConnectsDataClientFactory"),
                    asyncio.get_running_loop())
    builder = TradingNodeBuilder(kernel)
    builder.add_data_client_factory("SLOW", _RecordingFactory)
    builder.build()
    [(name, config, context)] = _RecordingFactory.calls
    assert name == "SLOW"
    assert config == FixtureClientConfig(venue="SLOW")
    assert context is kernel.context
    with pytest.raises(BuildError, match="only once"):
        builder.build()
    kernel.dispose()


async def test_registered_factory_rejects_a_bad_config() -> None:
    class Strict:
        config_type = msgspec.defstruct("StrictConfig", [("port", int)], forbid_unknown_fields=True)
        create = _RecordingFactory.create

    kernel = Kernel(fixture_client_config("NeverConnectsDataClientFactory"),
                    asyncio.get_running_loop())
    builder = TradingNodeBuilder(kernel)
    builder.add_data_client_factory("SLOW", Strict)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        builder.build()
    assert info.value.path == "data_clients.SLOW.config"
    kernel.dispose()


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (_WrongTypeFactory, "factory returned object, expected a LiveDataClient"),
        (_BrokenFactory, "creating the client failed: no route to venue"),
    ],
)
async def test_factory_failures_name_the_client(factory: Any, message: str) -> None:
    kernel = Kernel(fixture_client_config("NeverConnectsDataClientFactory"),
                    asyncio.get_running_loop())
    builder = TradingNodeBuilder(kernel)
    builder.add_data_client_factory("SLOW", factory)
    with pytest.raises(BuildError, match="SLOW") as info:
        builder.build()
    assert message in str(info.value)
    kernel.dispose()


async def test_exec_factory_registration_is_kept_apart() -> None:
    kernel = Kernel(fixture_client_config("StuckDisconnectDataClientFactory"),
                    asyncio.get_running_loop())
    builder = TradingNodeBuilder(kernel)
    # An exec factory under the data client's name does not replace the data client.
    builder.add_exec_client_factory("SLOW", _WrongTypeFactory)
    builder.build()
    assert isinstance(kernel.data_clients["SLOW"], StuckDisconnectDataClient)
    assert kernel.exec_clients == {}
    assert StuckDisconnectDataClientFactory.config_type is FixtureClientConfig
    kernel.dispose()
