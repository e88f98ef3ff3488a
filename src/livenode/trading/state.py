"""Durable strategy state: the `on_save` / `on_load` hooks and the store they use.

A mixin of `Strategy`. The strategy knows nothing of databases: the node (the
composition root) hands the trader a `StrategyStateStore`, which reads the state
stored under a strategy id and writes a new one; the trader passes it on to each
strategy. Without a store (no database configured, or both ``save_state`` and
``load_state`` off) neither hook is ever called.

Rules (docs/persistence.md, "Strategy state"):

- `on_load` runs when the strategy starts, before `on_start`, and only when the
  store holds a state for this strategy id. If it raises, the error is logged
  with the strategy id and the strategy is FAULTED without starting: it must not
  trade on half-loaded state.
- `on_save` runs when a running strategy stops (after `on_stop` and the managed
  cancel/flatten), and what it returns replaces the stored state. If it raises,
  or returns something that is not ``dict[str, bytes]``, the error is logged with
  the strategy id, nothing is written (the previous state stays) and the stop
  goes on. A FAULTED strategy is not saved: the state it holds may be what made
  it fail, or half-loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from livenode.model.identifiers import StrategyId

__all__ = ["StrategyState", "StrategyStateStore", "check_state"]


class StrategyStateStore(Protocol):
    """Where strategy states live (implemented by the node over its database)."""

    def load(self, strategy_id: str) -> dict[str, bytes] | None:
        """The stored state of `strategy_id`; None when nothing is stored (or
        loading is switched off)."""

    def save(self, strategy_id: str, state: dict[str, bytes]) -> None:
        """Replace the stored state of `strategy_id` (a no-op when saving is off)."""


def check_state(state: object) -> dict[str, bytes]:
    """`state` as a ``dict[str, bytes]`` (bytearray/memoryview values copied to bytes).

    Raises:
        TypeError: naming the first key or value of the wrong type.
    """
    if not isinstance(state, dict):
        raise TypeError(f"expected dict[str, bytes], got {type(state).__name__}")
    checked: dict[str, bytes] = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"expected str keys, got {type(key).__name__} key {key!r}")
        if isinstance(value, (bytearray, memoryview)):
            value = bytes(value)
        if not isinstance(value, bytes):
            raise TypeError(f"value of {key!r}: expected bytes, got {type(value).__name__}")
        checked[key] = value
    return checked


class StrategyState:
    """`on_save` / `on_load` of a `Strategy`, and when they run."""

    id: StrategyId
    log: logging.Logger
    error_count: int
    last_error: BaseException | None
    _state_store: StrategyStateStore | None = None

    if TYPE_CHECKING:
        # Provided by Strategy; declared only, so the mixin cannot shadow it.
        def _call(self, name: str, fn: Callable[..., object], *args: Any) -> bool: ...

    def on_save(self) -> dict[str, bytes]:
        """Return the state to keep across restarts (called when the strategy stops).

        Keys are names of your choosing, values bytes you encode yourself (a
        counter, a JSON or msgpack document, ...). The whole mapping replaces what
        was stored for this strategy id under this trader id. The default keeps
        nothing (an empty mapping).
        """
        return {}

    def on_load(self, state: dict[str, bytes]) -> None:
        """Restore what a previous `on_save` returned (called before `on_start`).

        Called only when a state is stored for this strategy id. An exception here
        leaves the strategy FAULTED and not started. The default ignores `state`.
        """

    def use_state_store(self, store: StrategyStateStore | None) -> None:
        """Load from and save to `store` from now on (None: keep no state)."""
        self._state_store = store

    def _load_state(self) -> None:
        """Hand the stored state to `on_load`; raises (via the guard) if it fails,
        so the start hook faults the strategy before `on_start` runs."""
        store = self._state_store
        if store is None:
            return
        state = store.load(str(self.id))
        if state is None:
            return
        self.log.info("strategy %s: loading saved state (%d key(s))", self.id, len(state))
        # Inside the start transition the guard raises on failure: the strategy
        # goes to FAULTED and on_start is not called.
        self._call("on_load", self.on_load, dict(state))

    def save_state(self) -> None:
        """Store what `on_save` returns now (the trader calls it on its save timer;
        the strategy's stop calls it too). Never raises."""
        self._save_state()

    def _save_state(self) -> None:
        """Store what `on_save` returns; a failure is logged and counted, never raised."""
        store = self._state_store
        if store is None:
            return
        try:
            state = check_state(self.on_save())
        except Exception as exc:  # noqa: BLE001 - a user bug must not break the stop
            self.error_count += 1
            self.last_error = exc
            self.log.error(
                "strategy %s: on_save failed, state not saved (the previous one stays): "
                "%s: %s", self.id, type(exc).__name__, exc, exc_info=exc,
            )
            return
        try:
            store.save(str(self.id), state)
        except Exception as exc:  # noqa: BLE001 - the stop goes on without the state
            self.log.error("strategy %s: saving state failed: %s: %s", self.id,
                           type(exc).__name__, exc, exc_info=exc)
