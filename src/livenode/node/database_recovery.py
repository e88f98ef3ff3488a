"""What a process does when its cache database lost its state.

The writer refuses to write into a database whose run marker says it no longer holds
this process's state, and tells the kernel (`DatabaseWriter` ``lost``). Here, on the
event loop, the process answers:

- it rewrites its full state from memory (`livenode.node.database_rewrite`), checked
  first by replaying it off the loop; the writer writes it in place of what was
  queued, then the backlog, and trading resumes (the execution engine keeps its
  ``on_failure`` restriction until then, as for any backlog);
- or, when that is not sound (the process no longer holds the whole history, the
  replay differs, another node instance now writes this state), it halts: trading
  HALTED whatever ``on_failure`` says, nothing more written to that database, the
  reason logged and in the status; the run then ends with exit 1.

Either way the log says so, with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from livenode.cache.database import CacheDatabase
from livenode.node.database_rewrite import (
    RewritePlan,
    RewriteRefused,
    plan_rewrite,
    verify_rewrite,
)

if TYPE_CHECKING:
    from livenode.engines.execution_engine import ExecutionEngine
    from livenode.node.kernel import Kernel

__all__ = ["DatabaseRecovery"]

_log = logging.getLogger("livenode.node.database")


class DatabaseRecovery:
    """The kernel's answer to a database that lost its state (see the module doc).

    Args:
        kernel: the process's kernel (its cache, execution engine, strategy store).
    """

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel
        self._tasks: set[asyncio.Task[None]] = set()

    def lost(self, database: CacheDatabase, kind: str, reason: str) -> None:
        """On the loop: `database` refused a write because it lost this process's
        state (`kind`: missing, behind, owner). Plans the rewrite (or refuses it)."""
        kernel = self._kernel
        engine = kernel.exec_engine if database is kernel.database else None
        store = kernel.strategy_store
        strategies = store.states() if store is not None and store.database is database else {}
        try:
            if kind == "owner":
                raise RewriteRefused("another node instance writes this state now; "
                                     "it is not overwritten")
            plan = plan_rewrite(database, cache=kernel.cache if engine is not None else None,
                                strategies=strategies)
        except RewriteRefused as exc:
            self._refuse(database, engine, reason, str(exc))
            return
        if engine is None:
            self._rewrite(database, plan, reason)  # strategy states only: nothing to replay
            return
        task = kernel.loop.create_task(self._verify_then_rewrite(database, engine, plan, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self) -> None:
        """Drop a recovery still being checked (the process is ending)."""
        for task in list(self._tasks):
            task.cancel()

    async def _verify_then_rewrite(
        self, database: CacheDatabase, engine: ExecutionEngine, plan: RewritePlan, reason: str
    ) -> None:
        # Off the loop: replaying the whole history may take a while; the plan holds
        # only immutable events and facts taken on the loop.
        problem = await asyncio.to_thread(verify_rewrite, plan)
        if problem is not None:
            self._refuse(database, engine, reason,
                         f"replaying the rewrite would not rebuild this process's state: "
                         f"{problem}")
            return
        self._rewrite(database, plan, reason)

    @staticmethod
    def _rewrite(database: CacheDatabase, plan: RewritePlan, reason: str) -> None:
        _log.warning("cache database %s lost this process's state (%s): rewriting it from "
                     "memory: %s", database.backend.describe(), reason, plan.describe())
        database.rewrite(plan.ops, plan.cut)

    @staticmethod
    def _refuse(
        database: CacheDatabase, engine: ExecutionEngine | None, reason: str, why: str
    ) -> None:
        message = (f"the cache database {database.backend.describe()} lost this process's "
                   f"state ({reason}) and it is not rewritten: {why}")
        _log.error("%s; nothing more is written to it%s", message,
                   "; trading HALTED" if engine is not None else "")
        database.give_up(message)
        if engine is not None:
            engine.set_database_fault(message, halt=True)
