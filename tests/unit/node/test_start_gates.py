"""Start gates: a gate that times out or fails stops the node and names the gate."""

from __future__ import annotations

import asyncio

import pytest

from livenode.node.node import NodeState, StartupGateError, TradingNode
from tests.fixtures.node.clients import (
    NeverConnectsDataClient,
    NeverConnectsDataClientFactory,
    StuckDisconnectDataClient,
)
from tests.unit.node.conftest import fixture_client_config


def _own_tasks() -> set[asyncio.Task]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}


async def test_connection_gate_times_out_and_names_the_client() -> None:
    config = fixture_client_config("NeverConnectsDataClientFactory", connection=0.5)
    tasks_before = _own_tasks()
    node = TradingNode(config)
    node.build()
    client = node.kernel.data_clients["SLOW"]
    assert isinstance(client, NeverConnectsDataClient)

    with pytest.raises(StartupGateError) as info:
        await asyncio.wait_for(node.run_async(), 30)

    error = info.value
    assert error.gate == "connection"
    assert error.timeout == 0.5
    assert str(error) == (
        "start gate 'connection' timed out after 0.5s: SLOW data client not connected"
    )
    # Nothing left running: the node stopped, the engines stopped, no task survives.
    assert node.state is NodeState.STOPPED
    assert not node.is_running
    assert not node.summary()["started"]
    assert node.exit_code == 1
    assert all(not engine.is_running for engine in node.kernel.engines)
    assert node.kernel.trader is not None and not node.kernel.trader.is_running
    assert _own_tasks() <= tasks_before
    node.dispose()


async def test_explicit_factory_overrides_the_config_path() -> None:
    # The config names a client that would connect; the registered factory wins.
    config = fixture_client_config("StuckDisconnectDataClientFactory", connection=0.5)
    node = TradingNode(config)
    node.add_data_client_factory("SLOW", NeverConnectsDataClientFactory)
    node.build()
    assert isinstance(node.kernel.data_clients["SLOW"], NeverConnectsDataClient)
    assert not isinstance(node.kernel.data_clients["SLOW"], StuckDisconnectDataClient)
    with pytest.raises(StartupGateError, match="'connection'"):
        await asyncio.wait_for(node.run_async(), 30)
    node.dispose()


async def test_connection_gate_fails_at_once_with_the_clients_reason() -> None:
    config = fixture_client_config("FailsToConnectDataClientFactory", connection=30.0)
    node = TradingNode(config)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(StartupGateError) as info:
        await asyncio.wait_for(node.run_async(), 30)
    assert loop.time() - started < 10  # did not wait for the 30 s timeout
    assert info.value.gate == "connection"
    assert info.value.timeout is None
    assert "SLOW data client failed to connect: venue refused the connection" in str(info.value)
    node.dispose()


async def test_stop_during_a_gate_aborts_the_start_cleanly() -> None:
    config = fixture_client_config("NeverConnectsDataClientFactory", connection=60.0)
    node = TradingNode(config)
    node.build()
    client = node.kernel.data_clients["SLOW"]
    run = asyncio.create_task(node.run_async())
    await asyncio.wait_for(client.connecting.wait(), 30)  # connect is in progress
    await asyncio.wait_for(node.stop_async("user stop"), 30)
    await asyncio.wait_for(run, 30)  # no StartupGateError: the user stopped it
    assert node.gate_error is None
    assert node.exit_code == 0
    assert not node.summary()["started"]
    node.dispose()


async def test_stuck_disconnect_makes_the_stop_unclean_but_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = fixture_client_config("StuckDisconnectDataClientFactory")
    node = TradingNode(config)
    run = asyncio.create_task(node.run_async())
    assert await asyncio.wait_for(node.wait_started(), 30)
    await asyncio.wait_for(node.stop_async(), 30)
    await run
    assert node.shutdown_clean is False
    assert node.exit_code == 1
    # Bounded by the disconnection timeout (the stop went on without the stuck
    # client), not by a wall-clock figure: the machine may be loaded.
    assert "clients did not disconnect within 2s: SLOW" in caplog.text
    assert node.shutdown_seconds is not None
    node.dispose()
