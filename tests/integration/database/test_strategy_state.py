"""Strategy state is durable: saved at stop, loaded by the next node of the trader id.

Single-process nodes on the embedded sim venue, both backends. The strategy
(`QuoteCounter`) counts quotes; its total and its number of runs survive a
restart through `on_save` / `on_load` and the cache database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tomllib
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.database.redis_server import RedisServer
from tests.fixtures.database.strategies import QuoteCounter

from livenode.config import TradingNodeConfig, load_config_str
from livenode.model.enums import ComponentState
from livenode.node.database import build_cache_database
from livenode.node.node import TradingNode

ROOT = Path(__file__).resolve().parents[3]
WAIT = 60.0
COUNTER = "tests.fixtures.database.strategies:QuoteCounter"


def _config(database: dict[str, Any], *strategies: dict[str, Any], **top: Any
            ) -> TradingNodeConfig:
    doc = tomllib.loads((ROOT / "configs" / "sandbox.toml").read_text())
    doc["trader_id"] = "STATE-001"
    doc["cache"] = {"shared_memory": False, "database": database}
    doc["strategies"] = [
        {"path": COUNTER, "config_path": COUNTER + "Config",
         "config": {"manage_stop": False, **config}}
        for config in (strategies or ({},))
    ]
    doc.update(top)
    return load_config_str(json.dumps(doc), "json")


@pytest.fixture
def database(backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest
             ) -> dict[str, Any]:
    if backend_kind == "sqlite":
        return {"type": "sqlite", "path": str(tmp_path / "node.sqlite")}
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"type": "redis", "port": server.port}


def _stored(config: TradingNodeConfig) -> dict[str, dict[str, bytes]]:
    """What the database holds for the strategies of `config`'s trader id, read
    through a connection of its own (the node's may still be open)."""
    database = build_cache_database(config)
    try:
        return database.open().strategies
    finally:
        database.close()


def _counters(node: TradingNode) -> dict[str, QuoteCounter]:
    return {str(s.id): s for s in node.kernel.strategies if isinstance(s, QuoteCounter)}


async def _run(config: TradingNodeConfig) -> TradingNode:
    """Run a node until each started counter has seen its target, then stop it (not
    disposed: the caller looks at its strategies first)."""
    node = TradingNode(config, asyncio.get_running_loop())
    node.build()
    run = asyncio.create_task(node.run_async())
    try:
        assert await asyncio.wait_for(node.wait_started(), WAIT)
        started = [c for c in _counters(node).values() if c.started]
        await asyncio.wait_for(asyncio.gather(*(c.reached.wait() for c in started)), WAIT)
    finally:
        await asyncio.wait_for(node.stop_async("test"), WAIT)
        await asyncio.wait_for(run, WAIT)
    return node


async def test_a_restarted_node_resumes_its_strategies_state(database: dict[str, Any]) -> None:
    config = _config({**database, "flush_on_start": True})
    node1 = await _run(config)
    try:
        first = _counters(node1)["QuoteCounter-001"]
        assert first.loaded is None  # nothing stored yet
        total = first.total
        assert total >= 5
        # Written by the time the node is STOPPED (before dispose closes the database).
        assert _stored(config) == {"QuoteCounter-001": {"total": str(total).encode(),
                                                         "runs": b"1"}}
    finally:
        node1.dispose()

    config2 = _config(database)  # no flush: the same trader id goes on
    node2 = await _run(config2)
    try:
        second = _counters(node2)["QuoteCounter-001"]
        assert second.loaded == {"total": str(total).encode(), "runs": b"1"}
        assert second.runs == 2
        assert second.total == total + second.seen
        assert node2.shutdown_clean
    finally:
        node2.dispose()
    assert _stored(config2)["QuoteCounter-001"] == {
        "total": str(second.total).encode(), "runs": b"2"}


async def test_load_state_off_ignores_the_stored_state(database: dict[str, Any]) -> None:
    config = _config({**database, "flush_on_start": True})
    _stored_before = await _run(config)
    _stored_before.dispose()
    assert "QuoteCounter-001" in _stored(config)

    node = await _run(_config(database, load_state=False))
    try:
        counter = _counters(node)["QuoteCounter-001"]
        assert counter.loaded is None
        assert counter.runs == 1 and counter.total == counter.seen
    finally:
        node.dispose()
    # save_state is still on: this run's state replaced the ignored one.
    assert _stored(config)["QuoteCounter-001"]["runs"] == b"1"


async def test_save_state_off_writes_nothing(database: dict[str, Any]) -> None:
    config = _config({**database, "flush_on_start": True}, save_state=False)
    node = await _run(config)
    try:
        assert node.kernel.strategy_store is not None
        assert node.kernel.strategy_store.saved == 0
    finally:
        node.dispose()
    assert _stored(config) == {}


async def test_a_failing_on_save_is_logged_and_the_stop_goes_on(
    database: dict[str, Any], caplog: pytest.LogCaptureFixture,
) -> None:
    config = _config({**database, "flush_on_start": True},
                     {"order_id_tag": "001", "fail_save": True}, {"order_id_tag": "002"})
    with caplog.at_level(logging.ERROR):
        node = await _run(config)
    try:
        broken = _counters(node)["QuoteCounter-001"]
        assert broken.state is ComponentState.STOPPED
        assert node.shutdown_clean and node.exit_code == 0
        assert "strategy QuoteCounter-001: on_save failed" in caplog.text
    finally:
        node.dispose()
    # The other strategy's stop (and its save) went on.
    assert set(_stored(config)) == {"QuoteCounter-002"}


async def test_a_failing_on_load_faults_the_strategy_and_keeps_the_stored_state(
    database: dict[str, Any], caplog: pytest.LogCaptureFixture,
) -> None:
    config = _config({**database, "flush_on_start": True},
                     {"order_id_tag": "001"}, {"order_id_tag": "002"})
    first = await _run(config)
    first.dispose()
    before = _stored(config)
    assert set(before) == {"QuoteCounter-001", "QuoteCounter-002"}

    config2 = _config(database, {"order_id_tag": "001", "fail_load": True},
                      {"order_id_tag": "002"})
    with caplog.at_level(logging.ERROR):
        node = await _run(config2)
    try:
        counters = _counters(node)
        broken, healthy = counters["QuoteCounter-001"], counters["QuoteCounter-002"]
        assert broken.state is ComponentState.FAULTED
        assert not broken.started  # on_start never ran on half-loaded state
        assert "QuoteCounter-001" in caplog.text and "on_load" in caplog.text
        assert healthy.runs == 2
    finally:
        node.dispose()
    after = _stored(config2)
    assert after["QuoteCounter-001"] == before["QuoteCounter-001"]  # not overwritten
    assert after["QuoteCounter-002"]["runs"] == b"2"


async def test_the_stop_waits_for_saved_states_to_be_written(
    database: dict[str, Any],
) -> None:
    """The node's stop waits on the writer for the saved states (before STOPPED), so a
    process killed right after its stop keeps them."""
    config = _config({**database, "flush_on_start": True})
    node = TradingNode(config, asyncio.get_running_loop())
    node.build()
    store = node.kernel.strategy_store
    assert store is not None
    database_ = store.database
    waits: list[tuple[int, str]] = []
    wait_written = database_.wait_written

    def recording_wait(timeout: float) -> bool:
        waits.append((store.saved, node.state.value))
        return wait_written(timeout)

    database_.wait_written = recording_wait  # type: ignore[method-assign]
    run = asyncio.create_task(node.run_async())
    try:
        assert await asyncio.wait_for(node.wait_started(), WAIT)
        counter = _counters(node)["QuoteCounter-001"]
        await asyncio.wait_for(counter.reached.wait(), WAIT)
    finally:
        await asyncio.wait_for(node.stop_async("test"), WAIT)
        await asyncio.wait_for(run, WAIT)
    try:
        assert waits and waits[0] == (1, "STOPPING")  # after the save, before STOPPED
        assert database_.status().pending == 0
    finally:
        node.dispose()


async def test_save_state_interval_saves_running_strategies_without_a_stop(
    database: dict[str, Any],
) -> None:
    """With save_state_interval, the stored state follows a running strategy, so a
    node killed without a stop resumes from at most that far back."""
    config = _config({**database, "flush_on_start": True}, save_state_interval=0.2)
    node = TradingNode(config, asyncio.get_running_loop())
    node.build()
    run = asyncio.create_task(node.run_async())
    try:
        assert await asyncio.wait_for(node.wait_started(), WAIT)
        counter = _counters(node)["QuoteCounter-001"]
        await asyncio.wait_for(counter.reached.wait(), WAIT)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while True:  # the store is written by the trader's timer, not by a stop
            node.kernel.database.wait_written(WAIT)
            stored = _stored(config).get("QuoteCounter-001")
            if stored is not None and int(stored["total"]) >= 5:
                break
            assert loop.time() < deadline, f"no periodic save within {WAIT}s: {stored}"
            await asyncio.sleep(0.05)
        assert node.is_running and counter.state is ComponentState.RUNNING
        assert stored["runs"] == b"1"
    finally:
        await asyncio.wait_for(node.stop_async("test"), WAIT)
        await asyncio.wait_for(run, WAIT)
        node.dispose()


def test_a_negative_save_state_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="save_state_interval"):
        _config({"type": "sqlite", "path": "x.sqlite"}, save_state_interval=-1)
