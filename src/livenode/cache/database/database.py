"""`CacheDatabase`: the node's durable state, typed, over one backend and its writer.

The execution side calls the ``put_*`` methods as state changes (they only
queue; the writer thread writes). `load` reads everything back at start, as the
node's own message types, for `livenode.engines.recovery` to rebuild from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from livenode.cache.database.adapter_state import AdapterState, DirectKv
from livenode.cache.database.backend import FIRST_STATE_PREFIX, DatabaseBackend, StoredRecords
from livenode.cache.database.writer import DatabaseWriter, QueuedOp, WriterStatus
from livenode.model.codec import Codec, CodecError
from livenode.model.events import ORDER_EVENT_TYPES, AccountState
from livenode.model.instruments import Instrument

__all__ = ["CacheDatabase", "DatabaseState"]

_log = logging.getLogger("livenode.cache.database")

_strategy_state_encoder = msgspec.msgpack.Encoder()
_strategy_state_decoder = msgspec.msgpack.Decoder(dict[str, bytes])


@dataclass
class DatabaseState:
    """What `CacheDatabase.load` found, decoded."""

    instruments: list[Instrument] = field(default_factory=list)
    # Every stored order event, in the order it was written (duplicates removed).
    order_events: list[Any] = field(default_factory=list)
    # account id -> (first state, latest state)
    accounts: dict[str, tuple[AccountState, AccountState]] = field(default_factory=dict)
    kv: dict[tuple[str, str], bytes] = field(default_factory=dict)
    strategies: dict[str, dict[str, bytes]] = field(default_factory=dict)
    # Records that could not be decoded (logged; counted for the status).
    undecodable: int = 0


class CacheDatabase:
    """A backend, opened, plus the writer thread that writes to it.

    Args:
        backend: a `DatabaseBackend` (not yet opened).
        batch_size, retry_interval, write_timeout, check_interval: for the
            `DatabaseWriter`.
        on_health, on_lost: see `DatabaseWriter` (`on_lost` also gets this database).
    """

    def __init__(
        self,
        backend: DatabaseBackend,
        *,
        batch_size: int = 1000,
        retry_interval: float = 1.0,
        write_timeout: float | None = None,
        check_interval: float = 5.0,
        on_health: Callable[[bool, str], None] | None = None,
        on_lost: Callable[[CacheDatabase, str, str], None] | None = None,
    ) -> None:
        self.backend = backend
        self._codec = Codec()
        # A second codec for the writer thread: an Encoder is not shared across threads.
        self.writer = DatabaseWriter(
            backend, batch_size=batch_size, retry_interval=retry_interval,
            write_timeout=write_timeout, check_interval=check_interval, on_health=on_health,
            on_lost=None if on_lost is None else (lambda kind, why: on_lost(self, kind, why)),
            encode=Codec().encode,
        )
        self._opened = False
        # The adapters' key-value writes: a connection of their own, opened on first use.
        self._direct_kv = DirectKv(backend.clone())

    # -- lifecycle --------------------------------------------------------------------------

    def open(self, *, flush: bool = False, strategies_only: bool = False) -> DatabaseState:
        """Connect (creating the layout on first use), optionally delete this trader's
        state, and load what is stored (`strategies_only`: only the strategy states,
        for a process that hosts strategies and no execution engine). The writer
        thread starts afterwards.

        Raises:
            SchemaVersionError, DatabaseUnavailableError, DatabaseError.
        """
        self.backend.open()
        self._opened = True
        if flush:
            removed = self.backend.flush_trader()
            _log.warning("cache database: flush_on_start removed %d record(s) of trader %s "
                         "(%s)", removed, self.backend.trader_id, self.backend.describe())
        if strategies_only:
            state = self._decode(StoredRecords(strategies=self.backend.load_strategies()))
        else:
            state = self._decode(self.backend.load())
        self.writer.start()
        return state

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued (bounded by `timeout`), then close; False if writes
        were left unwritten."""
        self._direct_kv.close()
        if not self._opened:
            return True
        self._opened = False
        return self.writer.close(timeout)

    def wait_written(self, timeout: float) -> bool:
        """Block until every write queued so far is durable; False on timeout."""
        return self.writer.wait_written(timeout)

    def status(self) -> WriterStatus:
        """The writer's state."""
        return self.writer.status()

    # -- the run marker and a lost state ----------------------------------------------------

    def use_marker(self, writer: str, instance_id: str) -> None:
        """Guard every write with the run marker of `writer` (`DatabaseBackend.use_marker`):
        a database that lost this writer's state refuses the writes, and `on_lost` says
        so. Call it before `open`."""
        self.backend.use_marker(writer, instance_id)

    def rewrite(self, ops: list[QueuedOp], cut: int) -> None:
        """After a loss: write `ops` (from `state_ops`, taken when `writer.submitted`
        was `cut`) in place of the writes queued before it (`DatabaseWriter.rewrite`)."""
        self.writer.rewrite(ops, cut)

    def give_up(self, reason: str) -> None:
        """After a loss that cannot be repaired: write nothing more to this database."""
        self.writer.give_up(reason)

    @staticmethod
    def state_ops(
        *,
        instruments: list[Instrument],
        accounts: list[tuple[AccountState, AccountState]],
        strategies: dict[str, dict[str, bytes]],
        order_events: list[Any],
    ) -> list[QueuedOp]:
        """The writes that store this state from nothing, as the ``put_*`` methods
        make them: instruments and accounts first (the orders' positions need their
        instruments), then the strategies' states, then the order events in the given
        order (which must be one the events could have been applied in)."""
        ops: list[QueuedOp] = [("instrument", i.id.value, i) for i in instruments]
        for first, last in accounts:
            ops.append(("account", FIRST_STATE_PREFIX + first.account_id.value, first))
            ops.append(("account", last.account_id.value, last))
        ops.extend(("strategy", sid, _strategy_state_encoder.encode(state))
                   for sid, state in strategies.items())
        ops.extend(("order_event", e.client_order_id.value, e) for e in order_events)
        return ops

    # -- writes (queued) --------------------------------------------------------------------

    def put_instrument(self, instrument: Instrument) -> None:
        self.writer.submit(("instrument", instrument.id.value, instrument))

    def put_order_event(self, event: Any) -> None:
        self.writer.submit(("order_event", event.client_order_id.value, event))

    def put_account(self, state: AccountState, *, first: bool = False) -> None:
        """Store the latest state of an account (`first`: also as its starting state)."""
        if first:
            self.writer.submit(("account", FIRST_STATE_PREFIX + state.account_id.value, state))
        self.writer.submit(("account", state.account_id.value, state))

    def put_kv(self, namespace: str, key: str, value: bytes | None) -> None:
        """Queue a set (None: delete) of `key` in the key-value area `namespace` (durable
        later, like every queued write; an adapter that needs it durable now uses
        `adapter_state`, and one key is written by one of the two only)."""
        if "\0" in namespace:
            raise ValueError(f"kv namespace {namespace!r} contains a NUL character")
        self.writer.submit(("kv", f"{namespace}\0{key}", value))

    def adapter_state(self, namespace: str) -> AdapterState:
        """The key-value area `namespace` for an adapter, read and written at once
        (durable when `AdapterState.put` returns); see `livenode.cache.database.adapter_state`."""
        return AdapterState(self._direct_kv, namespace)

    def put_strategy_state(self, strategy_id: str, state: dict[str, bytes]) -> None:
        """Replace the saved state of `strategy_id`."""
        self.writer.submit(("strategy", strategy_id, _strategy_state_encoder.encode(state)))

    # -- reads ------------------------------------------------------------------------------

    def _decode(self, records: StoredRecords) -> DatabaseState:
        state = DatabaseState(kv=dict(records.kv))
        decode = self._codec.decode
        for payload in records.instruments:
            try:
                state.instruments.append(decode(payload))  # type: ignore[arg-type]
            except CodecError as exc:
                state.undecodable += 1
                _log.error("cache database: undecodable instrument skipped: %s", exc)
        for key, payload in records.accounts.items():
            if key.startswith(FIRST_STATE_PREFIX):
                continue
            first_payload = records.accounts.get(FIRST_STATE_PREFIX + key, payload)
            try:
                state.accounts[key] = (decode(first_payload), decode(payload))  # type: ignore[assignment]
            except CodecError as exc:
                state.undecodable += 1
                _log.error("cache database: undecodable state of account %s skipped: %s",
                           key, exc)
        seen: set[str] = set()
        for payload in records.order_events:
            try:
                event: Any = decode(payload)
            except CodecError as exc:
                state.undecodable += 1
                _log.error("cache database: undecodable order event skipped: %s", exc)
                continue
            if type(event) not in ORDER_EVENT_TYPES:
                state.undecodable += 1
                _log.error("cache database: %s in the order event log skipped",
                           type(event).__name__)
                continue
            if event.event_id in seen:
                continue  # a batch written twice (its first reply was lost)
            seen.add(event.event_id)
            state.order_events.append(event)
        for strategy_id, payload in records.strategies.items():
            try:
                state.strategies[strategy_id] = _strategy_state_decoder.decode(payload)
            except msgspec.DecodeError as exc:
                state.undecodable += 1
                _log.error("cache database: undecodable state of %s skipped: %s",
                           strategy_id, exc)
        return state
