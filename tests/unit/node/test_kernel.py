"""Kernel: the composition root builds only its roles' components and wires them."""

from __future__ import annotations

import asyncio

import pytest

from livenode.config import TradingNodeConfig
from livenode.core.clock import LiveClock, TestClock
from livenode.node.kernel import ALL_ROLES, Kernel
from tests.fixtures.node.clients import FixtureClientConfig, StuckDisconnectDataClient


async def test_full_kernel_builds_every_component(sandbox_config: TradingNodeConfig) -> None:
    loop = asyncio.get_running_loop()
    kernel = Kernel(sandbox_config, loop)
    assert kernel.roles == ALL_ROLES
    assert isinstance(kernel.clock, LiveClock)
    assert str(kernel.trader_id) == "SANDBOX-001"
    assert kernel.instance_id  # generated when the config has none
    for name in ("data_engine", "risk_engine", "exec_engine", "portfolio", "trader"):
        assert getattr(kernel, name) is not None, name
    assert [str(s.id) for s in kernel.strategies] == ["MarketMaker-001", "EMACross-001"]
    assert kernel.trader is not None
    assert kernel.trader.strategies() == kernel.strategies
    # The client context hands out the kernel's own collaborators.
    assert kernel.context.msgbus is kernel.msgbus
    assert kernel.context.cache is kernel.cache
    assert kernel.context.clock is kernel.clock
    assert kernel.context.run_dir is None
    assert kernel.context.loop is loop
    kernel.dispose()
    kernel.dispose()


async def test_two_kernels_share_nothing(sandbox_config: TradingNodeConfig) -> None:
    loop = asyncio.get_running_loop()
    a, b = Kernel(sandbox_config, loop), Kernel(sandbox_config, loop)
    assert a.msgbus is not b.msgbus and a.cache is not b.cache
    assert a.context.shared(dict) is not b.context.shared(dict)
    assert a.instance_id != b.instance_id
    a.dispose()
    b.dispose()


@pytest.mark.parametrize(
    ("roles", "present"),
    [
        ({"data"}, {"data_engine"}),
        ({"risk"}, {"risk_engine"}),
        ({"exec"}, {"exec_engine"}),
        ({"trader"}, {"portfolio", "trader"}),
    ],
)
async def test_one_role_builds_only_its_components(
    sandbox_config: TradingNodeConfig, roles: set[str], present: set[str]
) -> None:
    kernel = Kernel(sandbox_config, asyncio.get_running_loop(), roles=roles)
    for name in ("data_engine", "risk_engine", "exec_engine", "portfolio", "trader"):
        assert (getattr(kernel, name) is not None) == (name in present), name
    assert (len(kernel.strategies) == 2) == ("trader" in roles)
    kernel.start_engines()
    kernel.stop_engines()
    kernel.dispose()


async def test_clients_need_their_engines_role(empty_config: TradingNodeConfig) -> None:
    kernel = Kernel(empty_config, asyncio.get_running_loop(), roles={"risk"})
    client = StuckDisconnectDataClient("X", FixtureClientConfig(venue="X"), kernel.context)
    with pytest.raises(RuntimeError, match="no data engine"):
        kernel.add_data_client(client)
    kernel.dispose()


async def test_data_client_added_once(empty_config: TradingNodeConfig) -> None:
    kernel = Kernel(empty_config, asyncio.get_running_loop())
    client = StuckDisconnectDataClient("X", FixtureClientConfig(venue="X"), kernel.context)
    kernel.add_data_client(client)
    assert kernel.clients == [client]
    with pytest.raises(ValueError, match="twice"):
        kernel.add_data_client(client)
    kernel.dispose()


async def test_bad_roles_are_refused(empty_config: TradingNodeConfig) -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(ValueError, match="unknown kernel roles"):
        Kernel(empty_config, loop, roles={"data", "gateway"})
    with pytest.raises(ValueError, match="at least one role"):
        Kernel(empty_config, loop, roles=set())


async def test_given_clock_is_used(empty_config: TradingNodeConfig) -> None:
    clock = TestClock()
    kernel = Kernel(empty_config, asyncio.get_running_loop(), clock=clock)
    assert kernel.clock is clock
    kernel.dispose()
