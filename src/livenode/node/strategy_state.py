"""The strategies' state store over the cache database (`save_state` / `load_state`).

`livenode.trading.state` defines what a strategy needs (`StrategyStateStore`);
this is the node's implementation of it, over the `CacheDatabase` of the
process that hosts the strategies: the node's own in single mode, a second
connection opened by the trader worker in multiprocess mode (only strategy
state is written through it; orders stay the exec worker's).
"""

from __future__ import annotations

import asyncio
import logging

from livenode.cache.database import CacheDatabase

__all__ = ["DatabaseStrategyStore", "wait_saved"]

_log = logging.getLogger("livenode.node.strategy_state")


class DatabaseStrategyStore:
    """Strategy states read from and written to a `CacheDatabase`.

    Args:
        database: opened; its writer queues the saves.
        stored: the states the database held when it was opened (strategy id ->
            state); kept up to date by `save`, so a strategy started again in the
            same process loads what it saved last.
        load: hand stored states to the strategies (``load_state``).
        save: write what the strategies save (``save_state``).
    """

    def __init__(
        self,
        database: CacheDatabase,
        stored: dict[str, dict[str, bytes]],
        *,
        load: bool,
        save: bool,
    ) -> None:
        self.database = database
        self._stored = dict(stored)
        self.load_enabled = load
        self.save_enabled = save
        self.saved = 0

    def load(self, strategy_id: str) -> dict[str, bytes] | None:
        """The stored state of `strategy_id` (None: nothing stored, or loading off)."""
        if not self.load_enabled:
            return None
        return self._stored.get(strategy_id)

    def states(self) -> dict[str, dict[str, bytes]]:
        """The stored state of each strategy as this process knows it (what it loaded,
        updated by every save): what a database that lost them is rewritten with."""
        return {sid: dict(state) for sid, state in self._stored.items()}

    def save(self, strategy_id: str, state: dict[str, bytes]) -> None:
        """Queue `state` as the stored state of `strategy_id` (a no-op with saving off)."""
        if not self.save_enabled:
            return
        if self._stored.get(strategy_id) == state:
            return  # unchanged since the last save (a periodic save of an idle strategy)
        self._stored[strategy_id] = dict(state)
        self.database.put_strategy_state(strategy_id, state)
        self.saved += 1
        _log.info("strategy %s: state saved (%d key(s)) to %s", strategy_id, len(state),
                  self.database.backend.describe())


async def wait_saved(store: DatabaseStrategyStore | None, timeout: float) -> bool:
    """Wait (up to `timeout` s) until the states saved so far are written, so a
    process killed after its stop keeps them; False (logged) on timeout. What is
    left is still written when the database closes, if it comes back by then."""
    if store is None or not store.saved:
        return True
    # In a thread: the wait blocks, and the loop still has the rest of the stop to run.
    if await asyncio.to_thread(store.database.wait_written, timeout):
        return True
    _log.error("strategy state not written within %gs (%s)", timeout,
               store.database.backend.describe())
    return False
