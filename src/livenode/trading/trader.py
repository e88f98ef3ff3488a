"""`Trader`: owns the strategies of one process and applies the fault policy.

The trader is the only place that sees the mutable `Cache`: it hands each
strategy the read-only `CacheFacade` plus one narrow capability, the order
registry (`Cache.add_order`), so a strategy can put its new orders in the cache
but cannot write anything else there. Strategies never see each other, the
engines or the clients: everything else goes over the message bus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from livenode.cache.facade import CacheFacade
from livenode.core.component import Component
from livenode.engines.portfolio import Portfolio, PortfolioFacade
from livenode.model.enums import ComponentState
from livenode.trading.strategy import Strategy

if TYPE_CHECKING:
    from livenode.bus.message_bus import MessageBus
    from livenode.cache.cache import Cache
    from livenode.core.clock import Clock
    from livenode.model.identifiers import StrategyId, TraderId
    from livenode.model.orders import Order
    from livenode.trading.state import StrategyStateStore

__all__ = ["Trader"]

_log = logging.getLogger("livenode.trading.trader")
_S = ComponentState
# The trader's clock timer for periodic strategy state saves.
_SAVE_TIMER = "Trader.save_state"
# Extra seconds on top of the slowest strategy's manage_stop_timeout for the whole stop.
_STOP_GRACE = 2.0


class Trader(Component):
    """Registers, starts and stops the strategies of this process.

    Args:
        trader_id: the node's trader id.
        msgbus: the process's message bus.
        cache: the process's cache (strategies get a read-only facade of it).
        portfolio: what strategies read positions and PnL from (a read-only facade).
        clock: the node's clock.
        loop: the event loop (kept for callers that schedule on it; optional).
        on_stop_node: called with a reason when a strategy configured with
            ``on_fault = "stop_node"`` faults.
    """

    def __init__(
        self,
        trader_id: TraderId,
        msgbus: MessageBus,
        cache: Cache,
        portfolio: Portfolio | PortfolioFacade,
        clock: Clock,
        loop: asyncio.AbstractEventLoop | None = None,
        on_stop_node: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(f"Trader-{trader_id}", clock, msgbus, "Trader")
        self.trader_id = trader_id
        self._msgbus = msgbus
        self._cache = cache
        self._cache_facade = cache if isinstance(cache, CacheFacade) else CacheFacade(cache)
        # The kernel may hand the Portfolio itself; strategies only ever see the facade.
        self._portfolio = (
            PortfolioFacade(portfolio) if isinstance(portfolio, Portfolio) else portfolio
        )
        self._loop = loop
        self._on_stop_node = on_stop_node
        self._strategies: dict[StrategyId, Strategy] = {}
        self._state_store: StrategyStateStore | None = None
        self._save_interval = 0.0
        self.faults: list[tuple[StrategyId, str]] = []
        # Safety net behind each strategy's own guard: if a strategy's bus handler
        # still raises (a bug in dispatch itself), fault that strategy, not others.
        self._previous_error_hook = msgbus.on_handler_error
        msgbus.on_handler_error = self._on_bus_handler_error

    # -- strategies --------------------------------------------------------------------------

    def add_strategy(self, strategy: Strategy) -> None:
        """Register a strategy with this trader's bus, cache, portfolio and clock.

        Raises:
            ValueError: a strategy with the same id was already added.
            RuntimeError: the trader is already running (add strategies before start).
        """
        if strategy.id in self._strategies:
            raise ValueError(
                f"duplicate strategy id {strategy.id}: set a distinct strategy_id or order_id_tag"
            )
        if self.state not in (_S.READY, _S.STOPPED):
            raise RuntimeError(f"cannot add strategy {strategy.id}: trader is {self.state.name}")
        strategy.register(
            trader_id=self.trader_id,
            msgbus=self._msgbus,
            cache=self._cache_facade,
            portfolio=self._portfolio,
            clock=self._clock,
            on_fault=self._on_strategy_fault,
            order_registry=self._register_order,
        )
        strategy.use_state_store(self._state_store)
        self._strategies[strategy.id] = strategy

    def use_state_store(
        self, store: StrategyStateStore | None, save_interval: float = 0.0
    ) -> None:
        """Give every strategy (those added later too) `store` for `on_load` /
        `on_save`; None: strategies keep no state. With `save_interval` (seconds)
        > 0, running strategies also save every that often, not only at their
        stop. Set before the trader starts."""
        self._state_store = store
        self._save_interval = save_interval
        for strategy in self._strategies.values():
            strategy.use_state_store(store)

    def strategies(self) -> list[Strategy]:
        """The strategies, in the order they were added."""
        return list(self._strategies.values())

    def strategy(self, strategy_id: StrategyId) -> Strategy:
        """The strategy with this id (KeyError if unknown)."""
        return self._strategies[strategy_id]

    def counters(self) -> dict[str, dict[str, Any]]:
        """Per strategy: state, events handled, errors, orders submitted and refused."""
        return {
            str(s.id): {
                "state": s.state.name,
                "events_handled": s.events_handled,
                "error_count": s.error_count,
                "orders_submitted": s.orders_submitted,
                "orders_refused": s.orders_refused,
                "commands_sent": s.commands_sent,
            }
            for s in self._strategies.values()
        }

    # -- lifecycle ---------------------------------------------------------------------------

    def _on_start(self) -> None:
        # A strategy whose on_start raises ends FAULTED inside its own start();
        # anything else unexpected is contained here so the others still start.
        for strategy in self._strategies.values():
            if strategy.state is not _S.READY:
                continue
            try:
                strategy.start()
            except Exception:  # noqa: BLE001 - one strategy must not stop the others starting
                _log.exception("starting strategy %s failed", strategy.id)
                if not strategy.is_faulted:
                    strategy.fault()
        if self._state_store is not None and self._save_interval > 0:
            self._clock.set_timer(_SAVE_TIMER, int(self._save_interval * 1e9),
                                  self._save_running)

    def _save_running(self, _event: Any = None) -> None:
        """Timer: each running strategy saves its state (a no-op when unchanged)."""
        for strategy in self._strategies.values():
            if strategy.state is _S.RUNNING:
                strategy.save_state()

    def _on_stop(self) -> None:
        self._clock.cancel_timer(_SAVE_TIMER)
        # The synchronous stop (e.g. at dispose): managed cancels/closes are sent
        # but not awaited. The node's ordered shutdown uses `stop_async`.
        for strategy in self._strategies.values():
            if strategy.state in (_S.RUNNING, _S.DEGRADED):
                try:
                    strategy.stop()
                except Exception:  # noqa: BLE001
                    _log.exception("stopping strategy %s failed", strategy.id)

    def _on_dispose(self) -> None:
        for strategy in self._strategies.values():
            if strategy.state in (_S.READY, _S.STOPPED, _S.FAULTED):
                try:
                    strategy.dispose()
                except Exception:  # noqa: BLE001
                    _log.exception("disposing strategy %s failed", strategy.id)

    async def stop_async(self, timeout: float | None = None) -> bool:
        """Stop every strategy concurrently and wait for their managed stops.

        Bounded: by `timeout` seconds if given, else by the slowest strategy's
        `manage_stop_timeout` plus a grace period; strategies still stopping then
        are stopped at once (their cancels were already sent).

        Returns True when every strategy stopped within the bound and every managed
        stop cancelled and flattened what it had (a clean stop), else False.
        """
        self._clock.cancel_timer(_SAVE_TIMER)
        if self.state not in (_S.RUNNING, _S.DEGRADED):
            return True
        clean = True
        self._set_state(_S.STOPPING)
        strategies = list(self._strategies.values())
        if timeout is None:
            timeout = max((s.config.manage_stop_timeout for s in strategies), default=0.0)
            timeout += _STOP_GRACE
        tasks = [asyncio.ensure_future(s.stop_async()) for s in strategies]
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in done:
                if task.exception() is not None:
                    clean = False
                    _log.error("stopping a strategy failed", exc_info=task.exception())
            for task in pending:
                task.cancel()
            if pending:
                clean = False
                await asyncio.gather(*pending, return_exceptions=True)
                _log.warning(
                    "trader: %d strategies did not stop within %.1fs", len(pending), timeout
                )
        self._set_state(_S.STOPPED)
        timed_out = [str(s.id) for s in strategies if s.manage_stop_timed_out]
        if timed_out:
            _log.warning("trader: managed stop did not finish for %s", ", ".join(timed_out))
        return clean and not timed_out

    # -- capabilities handed to strategies ---------------------------------------------------

    def _register_order(self, order: Order) -> None:
        self._cache.add_order(order)

    def _on_bus_handler_error(self, where: str, handler: Any, exc: BaseException) -> None:
        owner = getattr(handler, "__self__", None)
        if isinstance(owner, Strategy) and self._strategies.get(owner.id) is owner:
            owner.handle_unguarded_error(f"bus handler for {where}", exc)
        previous = self._previous_error_hook
        if previous is not None:
            previous(where, handler, exc)

    def _on_strategy_fault(self, strategy: Strategy, exc: BaseException) -> None:
        reason = f"strategy {strategy.id} faulted: {type(exc).__name__}: {exc}"
        self.faults.append((strategy.id, reason))
        _log.error("trader: %s", reason)
        if strategy.config.on_fault == "stop_node":
            if self._on_stop_node is None:
                _log.error(
                    "trader: %s asks to stop the node, but no stop callback is set", strategy.id
                )
                return
            try:
                self._on_stop_node(reason)
            except Exception:  # noqa: BLE001 - reporting must not raise into the strategy
                _log.exception("trader: stop-node callback raised")

