"""TradingNode: the event-loop rule, build once, dispose idempotent, run/stop, signals."""

from __future__ import annotations

import asyncio
import signal

import pytest
import uvloop

from livenode.config import TradingNodeConfig, load_config
from livenode.node.builder import BuildError
from livenode.node.node import NodeState, TradingNode
from tests.unit.node.conftest import ROOT

# -- the event-loop rule -----------------------------------------------------------------------


def test_given_loop_is_used_and_not_owned(empty_config: TradingNodeConfig) -> None:
    loop = asyncio.new_event_loop()
    try:
        node = TradingNode(empty_config, loop=loop)
        assert node.loop is loop
        assert not node.owns_loop
        node.dispose()
        assert not loop.is_closed()  # the caller's loop is the caller's to close
    finally:
        loop.close()


async def test_running_loop_is_used_inside_async_code(empty_config: TradingNodeConfig) -> None:
    node = TradingNode(empty_config)
    assert node.loop is asyncio.get_running_loop()
    assert not node.owns_loop
    node.dispose()


def test_new_uvloop_loop_when_none_runs(empty_config: TradingNodeConfig) -> None:
    policy_before = asyncio.get_event_loop_policy()
    node = TradingNode(empty_config)
    try:
        assert isinstance(node.loop, uvloop.Loop)
        assert node.owns_loop
        # Nothing global changed: same policy object, no loop set for the thread.
        assert asyncio.get_event_loop_policy() is policy_before
        assert not isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
    finally:
        node.dispose()
    assert node.loop.is_closed()  # the node created it, so the node closed it


# -- build and dispose -------------------------------------------------------------------------


async def test_build_twice_raises(empty_config: TradingNodeConfig) -> None:
    node = TradingNode(empty_config)
    node.build()
    assert node.state is NodeState.BUILT
    with pytest.raises(BuildError, match="already built"):
        node.build()
    node.dispose()


async def test_factories_cannot_be_added_after_build(empty_config: TradingNodeConfig) -> None:
    node = TradingNode(empty_config)
    node.build()
    with pytest.raises(BuildError):
        node.add_data_client_factory("X", object())  # type: ignore[arg-type]
    node.dispose()


async def test_dispose_is_idempotent(empty_config: TradingNodeConfig) -> None:
    node = TradingNode(empty_config)
    node.build()
    node.dispose()
    node.dispose()
    assert node.state is NodeState.DISPOSED
    assert node.kernel.is_disposed
    with pytest.raises(RuntimeError, match="disposed"):
        await node.run_async()


# -- run / stop --------------------------------------------------------------------------------


async def test_run_async_then_stop_async_from_another_task(empty_config: TradingNodeConfig) -> None:
    node = TradingNode(empty_config)
    node.build()
    run = asyncio.create_task(node.run_async())
    assert await asyncio.wait_for(node.wait_started(), 10)
    assert node.is_running
    await asyncio.wait_for(node.stop_async("test done"), 10)
    await asyncio.wait_for(run, 10)
    assert node.state is NodeState.STOPPED
    assert node.shutdown_clean is True
    assert node.exit_code == 0
    assert node.summary()["shutdown"]["reason"] == "test done"
    node.dispose()


def test_run_blocks_on_an_owned_loop_until_stopped(empty_config: TradingNodeConfig) -> None:
    node = TradingNode(empty_config)
    node.build()

    async def stop_once_running() -> None:
        await node.wait_started()
        node.stop("stopper")

    node.loop.call_soon(lambda: node.loop.create_task(stop_once_running()))
    node.run(handle_signals=False)
    assert node.state is NodeState.STOPPED
    assert node.exit_code == 0
    node.dispose()
    assert node.loop.is_closed()


async def test_run_refuses_a_running_loop(empty_config: TradingNodeConfig) -> None:
    node = TradingNode(empty_config)
    with pytest.raises(RuntimeError, match="run_async"):
        node.run()
    node.dispose()


async def test_stop_before_running_makes_run_return_at_once(
    empty_config: TradingNodeConfig,
) -> None:
    node = TradingNode(empty_config)
    node.stop("early")
    await asyncio.wait_for(node.run_async(), 10)
    assert node.state is NodeState.STOPPED
    assert not node.summary()["started"]
    node.dispose()


async def test_strategy_asking_to_stop_the_node_gives_exit_code_1() -> None:
    config = load_config(ROOT / "tests/fixtures/node/configs/failing_strategy.toml")
    node = TradingNode(config)
    await asyncio.wait_for(node.run_async(), 30)
    assert node.state is NodeState.STOPPED
    assert node.failure == "strategy FailingStrategy-001 faulted: RuntimeError: deliberate failure"
    assert node.stop_reason == f"failure: {node.failure}"
    assert node.exit_code == 1
    assert node.summary()["failure"] == node.failure
    node.dispose()


# -- signals -----------------------------------------------------------------------------------


async def test_first_signal_stops_second_forces_exit(empty_config: TradingNodeConfig) -> None:
    exits: list[int] = []
    node = TradingNode(empty_config, force_exit=exits.append)
    run = asyncio.create_task(node.run_async())
    assert await node.wait_started()
    node._on_signal(signal.SIGINT)  # what the loop's handler calls
    assert node.stop_reason == "received SIGINT"
    assert exits == []
    node._on_signal(signal.SIGTERM)  # a second one while stopping
    assert exits == [128 + signal.SIGTERM]
    await asyncio.wait_for(run, 10)
    node.dispose()


async def test_signal_handlers_installed_only_on_request(empty_config: TradingNodeConfig) -> None:
    loop = asyncio.get_running_loop()
    node = TradingNode(empty_config)
    run = asyncio.create_task(node.run_async(handle_signals=True))
    assert await node.wait_started()
    assert sorted(node._signals_installed) == sorted([signal.SIGINT, signal.SIGTERM])
    await node.stop_async()
    await run
    assert node._signals_installed == []
    # Removed again: the embedding application's handlers are back in charge.
    assert not loop.remove_signal_handler(signal.SIGINT)
    node.dispose()

    embedded = TradingNode(empty_config)
    run = asyncio.create_task(embedded.run_async())
    assert await embedded.wait_started()
    assert embedded._signals_installed == []
    await embedded.stop_async()
    await run
    embedded.dispose()
