"""`ShmTables`: the set of shared-memory tables of one node instance.

The owner (the supervisor; in single mode the node) creates every segment at
start-up and unlinks them at shutdown; workers attach by name prefix. Segment
names are `livenode-{trader_id}-{instance_id}-{table}`.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

import msgspec

from livenode.cache.shm.segment import NAME_PREFIX, Segment, validate_name_part
from livenode.cache.shm.seqlock import DEFAULT_STALE_TIMEOUT_NS
from livenode.cache.shm.snapshots import AccountTable, PositionTable
from livenode.cache.shm.tables import BarTable, InstrumentRegistry, QuoteTable, ShmTable, TradeTable
from livenode.model.data import BarType
from livenode.model.identifiers import AccountId, StrategyId, TraderId
from livenode.model.objects import Currency

#: Table kinds in creation order (the registry first: others refer to its rows).
TABLE_KINDS: tuple[str, ...] = ("instruments", "quotes", "trades", "bars", "positions", "accounts")
_TABLE_TYPES: dict[str, type[ShmTable]] = {
    t.KIND: t
    for t in (InstrumentRegistry, QuoteTable, TradeTable, BarTable, PositionTable, AccountTable)
}


class ShmCapacity(msgspec.Struct, frozen=True, kw_only=True):
    """Rows per table. Quotes and trades have one row per registered instrument."""

    instruments: int = 256
    bar_types: int = 256
    positions: int = 1024
    accounts: int = 64

    def rows(self, kind: str) -> int:
        """Capacity of one table kind."""
        if kind in ("instruments", "quotes", "trades"):
            return self.instruments
        if kind == "bars":
            return self.bar_types
        return self.positions if kind == "positions" else self.accounts


def segment_prefix(trader_id: TraderId | str, instance_id: str) -> str:
    """`livenode-{trader_id}-{instance_id}`: the common start of a node instance's segments."""
    trader = str(TraderId(str(trader_id)))  # validates "NAME-TAG"
    validate_name_part(instance_id, "instance id")
    return f"{NAME_PREFIX}{trader}-{instance_id}"


def segment_name(prefix: str, kind: str) -> str:
    """Name of one table's segment."""
    return f"{prefix}-{kind}"


class ShmTables:
    """The tables of one node instance: `instruments`, `quotes`, `trades`, `bars`,
    `positions`, `accounts`.

    Use as a context manager: on exit the owner unlinks (and closes), an
    attacher only closes. Never unlinked by an attacher, whatever happens.
    """

    def __init__(
        self, prefix: str, segments: dict[str, Segment], owner: bool, stale_timeout_ns: int
    ) -> None:
        self.prefix = prefix
        self.owner = owner
        self._segments = segments
        kw: dict[str, Any] = {"stale_timeout_ns": stale_timeout_ns}
        self.instruments = InstrumentRegistry(segments["instruments"], **kw)
        self.quotes = QuoteTable(segments["quotes"], self.instruments, **kw)
        self.trades = TradeTable(segments["trades"], self.instruments, **kw)
        self.bars = BarTable(segments["bars"], self.instruments, **kw)
        self.positions = PositionTable(segments["positions"], self.instruments, **kw)
        self.accounts = AccountTable(segments["accounts"], **kw)
        self._closed = False

    @classmethod
    def create(
        cls,
        trader_id: TraderId | str,
        instance_id: str,
        *,
        instruments: Iterable[Any] = (),
        bar_types: Iterable[BarType] = (),
        strategies: Iterable[StrategyId] = (),
        accounts: Iterable[tuple[AccountId, Currency]] = (),
        capacity: ShmCapacity | None = None,
        stale_timeout_ns: int = DEFAULT_STALE_TIMEOUT_NS,
    ) -> Self:
        """Create all segments (owner side) and pre-register the configured keys.

        `instruments` are `Instrument`s or `(InstrumentId, price_precision,
        size_precision)` tuples; a position row is added for every strategy ×
        instrument. More keys can be registered later by their writers.
        Raises `SegmentExistsError` if a segment of this instance exists.
        """
        cap = capacity or ShmCapacity()
        prefix = segment_prefix(trader_id, instance_id)
        segments: dict[str, Segment] = {}
        try:
            for kind in TABLE_KINDS:
                fmt, size = _TABLE_TYPES[kind].geometry()
                segments[kind] = Segment.create(
                    segment_name(prefix, kind), kind=kind, row_format=fmt, row_size=size,
                    capacity=cap.rows(kind), trader_id=str(trader_id), instance_id=instance_id,
                )
            tables = cls(prefix, segments, True, stale_timeout_ns)
            ids = []
            for inst in instruments:
                if isinstance(inst, tuple):
                    tables.instruments.register(*inst)
                    ids.append(inst[0])
                else:
                    tables.instruments.register(inst)
                    ids.append(inst.id)
            for bar_type in bar_types:
                tables.bars.register(bar_type)
            for strategy_id in strategies:
                for instrument_id in ids:
                    tables.positions.register(strategy_id, instrument_id)
            for account_id, currency in accounts:
                tables.accounts.register(account_id, currency)
        except BaseException:
            for segment in segments.values():
                segment.close()
                segment.unlink()
            raise
        return tables

    @classmethod
    def attach(cls, prefix: str, *, stale_timeout_ns: int = DEFAULT_STALE_TIMEOUT_NS) -> Self:
        """Attach to the tables whose segments start with `prefix` (see `segment_prefix`).

        Raises `SegmentNotFoundError` or `LayoutMismatchError` (with the reason).
        Nothing is registered with any resource tracker: a worker's exit never
        removes a segment.
        """
        segments: dict[str, Segment] = {}
        try:
            for kind in TABLE_KINDS:
                fmt, size = _TABLE_TYPES[kind].geometry()
                segments[kind] = Segment.attach(
                    segment_name(prefix, kind), kind=kind, row_format=fmt, row_size=size
                )
        except BaseException:
            for segment in segments.values():
                segment.close()
            raise
        return cls(prefix, segments, False, stale_timeout_ns)

    @property
    def segment_names(self) -> list[str]:
        """Names of this instance's segments (files under /dev/shm)."""
        return [s.name for s in self._segments.values()]

    def close(self) -> None:
        """Unmap every segment (idempotent). Tables are unusable afterwards."""
        if self._closed:
            return
        self._closed = True
        for segment in self._segments.values():
            segment.close()

    def unlink(self) -> None:
        """Remove every segment name (owner only); other mappings stay valid until closed."""
        if not self.owner:
            raise PermissionError(
                f"only the owner unlinks the shared-memory tables {self.prefix!r}"
            )
        for segment in self._segments.values():
            segment.unlink()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.owner:
                self.unlink()
        finally:
            self.close()

    def __repr__(self) -> str:
        role = "owner" if self.owner else "attached"
        return f"ShmTables({self.prefix!r}, {role})"


__all__ = ["TABLE_KINDS", "ShmCapacity", "ShmTables", "segment_name", "segment_prefix"]
