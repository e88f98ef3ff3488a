"""Strategy state hooks: on_load before on_start, on_save at stop, user errors contained."""

from __future__ import annotations

import logging

import pytest

from livenode.model.enums import ComponentState
from livenode.trading.config import StrategyConfig
from livenode.trading.state import check_state
from livenode.trading.strategy import Strategy

from .helpers import Harness


class MemoryStore:
    """A `StrategyStateStore` in a dict (the node's is over the cache database)."""

    def __init__(self, stored: dict[str, dict[str, bytes]] | None = None) -> None:
        self.stored = dict(stored or {})
        self.saves: list[tuple[str, dict[str, bytes]]] = []

    def load(self, strategy_id: str) -> dict[str, bytes] | None:
        return self.stored.get(strategy_id)

    def save(self, strategy_id: str, state: dict[str, bytes]) -> None:
        self.saves.append((strategy_id, state))
        self.stored[strategy_id] = state


class Counter(Strategy):
    """Counts its starts; the count survives through on_save/on_load."""

    def __init__(self, config: StrategyConfig | None = None) -> None:
        super().__init__(config)
        self.count = 0
        self.calls: list[str] = []
        self.fail_load = False
        self.fail_save = False
        self.save_returns: object = None

    def on_load(self, state: dict[str, bytes]) -> None:
        self.calls.append("on_load")
        if self.fail_load:
            raise ValueError("corrupt state")
        self.count = int(state["count"])

    def on_start(self) -> None:
        self.calls.append("on_start")
        self.count += 1

    def on_stop(self) -> None:
        self.calls.append("on_stop")

    def on_save(self) -> dict[str, bytes]:
        self.calls.append("on_save")
        if self.fail_save:
            raise RuntimeError("cannot save")
        if self.save_returns is not None:
            return self.save_returns  # type: ignore[return-value]
        return {"count": str(self.count).encode()}


def _counter(harness: Harness, store: MemoryStore | None, tag: str = "001") -> Counter:
    strategy = Counter(StrategyConfig(order_id_tag=tag, manage_stop=False))
    harness.trader.add_strategy(strategy)
    harness.trader.use_state_store(store)
    return strategy


async def test_stored_state_is_loaded_before_on_start_and_saved_at_stop() -> None:
    harness = Harness()
    store = MemoryStore({"Counter-001": {"count": b"41"}})
    strategy = _counter(harness, store)
    harness.trader.start()
    assert strategy.calls == ["on_load", "on_start"]
    assert strategy.count == 42
    await harness.trader.stop_async()
    assert strategy.calls[-2:] == ["on_stop", "on_save"]
    assert store.saves == [("Counter-001", {"count": b"42"})]
    assert strategy.state is ComponentState.STOPPED


async def test_on_load_is_not_called_without_stored_state() -> None:
    harness = Harness()
    store = MemoryStore()
    strategy = _counter(harness, store)
    harness.trader.start()
    assert strategy.calls == ["on_start"]
    await harness.trader.stop_async()
    assert store.saves == [("Counter-001", {"count": b"1"})]


async def test_without_a_store_no_hook_runs() -> None:
    harness = Harness()
    strategy = _counter(harness, None)
    harness.trader.start()
    await harness.trader.stop_async()
    assert "on_load" not in strategy.calls
    assert "on_save" not in strategy.calls


async def test_a_failing_on_load_faults_the_strategy_before_on_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness()
    store = MemoryStore({"Counter-001": {"count": b"7"}, "Counter-002": {"count": b"1"}})
    broken = _counter(harness, store, "001")
    broken.fail_load = True
    healthy = _counter(harness, store, "002")
    with caplog.at_level(logging.ERROR):
        harness.trader.start()
    assert broken.calls == ["on_load"]  # never started on half-loaded state
    assert broken.state is ComponentState.FAULTED
    assert "Counter-001" in caplog.text and "on_load" in caplog.text
    assert healthy.state is ComponentState.RUNNING and healthy.count == 2
    await harness.trader.stop_async()
    # The faulted strategy keeps its stored state: nothing half-loaded overwrites it.
    assert store.stored["Counter-001"] == {"count": b"7"}
    assert store.saves == [("Counter-002", {"count": b"2"})]


async def test_a_failing_on_save_is_logged_and_the_stop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness()
    store = MemoryStore({"Counter-001": {"count": b"5"}})
    broken = _counter(harness, store, "001")
    broken.fail_save = True
    healthy = _counter(harness, store, "002")
    harness.trader.start()
    with caplog.at_level(logging.ERROR):
        clean = await harness.trader.stop_async()
    assert clean
    assert broken.state is ComponentState.STOPPED
    assert broken.error_count == 1
    assert "strategy Counter-001: on_save failed" in caplog.text
    assert store.stored["Counter-001"] == {"count": b"5"}  # the previous state stays
    assert store.saves == [("Counter-002", {"count": b"1"})]
    assert healthy.state is ComponentState.STOPPED


async def test_on_save_returning_the_wrong_type_writes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness()
    store = MemoryStore()
    strategy = _counter(harness, store)
    strategy.save_returns = {"count": 3}
    harness.trader.start()
    with caplog.at_level(logging.ERROR):
        await harness.trader.stop_async()
    assert store.saves == []
    assert "value of 'count': expected bytes, got int" in caplog.text


def test_the_synchronous_stop_saves_too() -> None:
    harness = Harness()
    store = MemoryStore()
    strategy = _counter(harness, store)
    harness.trader.start()
    strategy.stop()
    assert strategy.state is ComponentState.STOPPED
    assert store.saves == [("Counter-001", {"count": b"1"})]


async def test_a_faulted_strategy_is_not_saved() -> None:
    harness = Harness()
    store = MemoryStore()
    strategy = _counter(harness, store)
    harness.trader.start()
    strategy.fault()
    await harness.trader.stop_async()
    assert strategy.state is ComponentState.FAULTED
    assert store.saves == []


def test_check_state() -> None:
    assert check_state({"a": bytearray(b"x"), "b": memoryview(b"y")}) == {"a": b"x", "b": b"y"}
    with pytest.raises(TypeError, match="expected dict"):
        check_state([("a", b"x")])
    with pytest.raises(TypeError, match="expected str keys"):
        check_state({1: b"x"})
