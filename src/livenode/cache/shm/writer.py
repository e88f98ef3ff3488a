"""Writes what a process owns into the node's shared-memory tables.

One writer per row: the process with the data engine writes the instruments and
the latest quote, trade and bar of what it publishes; the process with the
execution engine writes position snapshots and account balances. The writer
follows the local bus like any other subscriber (components never call it), so
single mode and every worker placement need no change in the engines.

Subscribed at `SHARED_STATE_PRIORITY`, so a row is current before strategies in the
same process react to the message that changed it, and before the message is
forwarded to the other processes (which may read the row the moment they get it).
"""

from __future__ import annotations

import logging
from typing import Any

from livenode.bus import topics
from livenode.bus.message_bus import SHARED_STATE_PRIORITY, MessageBus
from livenode.cache.shm.shm_tables import ShmTables

_log = logging.getLogger("livenode.cache.shm.writer")

WRITER_PRIORITY = SHARED_STATE_PRIORITY


class ShmWriter:
    """Mirrors the market data and/or execution state of this process into shared memory."""

    def __init__(
        self, msgbus: MessageBus, tables: ShmTables, *, market: bool, execution: bool
    ) -> None:
        self._msgbus = msgbus
        self._tables = tables
        self.writes = 0
        self.errors = 0
        self._subscriptions: list[tuple[str, Any]] = []
        if market:
            self._subscriptions += [
                (topics.ALL_INSTRUMENTS, self._on_instrument),
                (topics.ALL_QUOTES, self._on_quote),
                (topics.ALL_TRADES, self._on_trade),
                (topics.ALL_BARS, self._on_bar),
            ]
        if execution:
            self._subscriptions += [
                (topics.ALL_POSITION_EVENTS, self._on_position),
                (topics.ALL_ACCOUNT_EVENTS, self._on_account),
            ]
        for pattern, handler in self._subscriptions:
            msgbus.subscribe(pattern, handler, WRITER_PRIORITY)

    def _on_instrument(self, instrument: Any) -> None:
        self._guard(self._tables.instruments.register, instrument)

    def _on_quote(self, quote: Any) -> None:
        self._guard(self._tables.quotes.write, quote)

    def _on_trade(self, trade: Any) -> None:
        self._guard(self._tables.trades.write, trade)

    def _on_bar(self, bar: Any) -> None:
        # `write` registers a new bar type at the bar's own precision.
        self._guard(self._tables.bars.write, bar)

    def _on_position(self, event: Any) -> None:
        self._guard(self._tables.positions.write_event, event)

    def _on_account(self, state: Any) -> None:
        self._guard(self._tables.accounts.write_state, state)

    def _guard(self, write: Any, msg: Any) -> None:
        # Shared memory is an optimisation for readers: a row that cannot be
        # written (table full, unknown instrument) is logged, never fatal.
        try:
            write(msg)
            self.writes += 1
        except Exception as exc:
            self.errors += 1
            if self.errors <= 10 or self.errors % 1000 == 0:
                _log.error("shared memory: %s of %s failed (#%d): %s", write.__qualname__,
                           type(msg).__name__, self.errors, exc)

    def close(self) -> None:
        """Stop writing (the tables stay open; their owner closes them)."""
        for pattern, handler in self._subscriptions:
            self._msgbus.unsubscribe(pattern, handler)
        self._subscriptions.clear()
