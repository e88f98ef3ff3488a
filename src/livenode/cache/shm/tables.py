"""Market-data tables: the instrument registry, latest quote, trade and bar.

Prices and sizes are stored as the model's scaled integers (`raw`); their
precisions live once per instrument in the registry, so a row holds only the
integers and a read rebuilds the model object exactly.

Each table offers a model-object API (`write(quote)`, `read(instrument_id)`)
and a raw fast path by row index (`write_raw(row, ...)`, `read_raw(row)`),
which is a bound method of the seqlocked rows: no extra Python frame.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from livenode.cache.shm.segment import Segment, encode_fixed
from livenode.cache.shm.seqlock import KeyIndex, RowStatus, SeqlockRows, row_geometry
from livenode.model.data import Bar, BarType, QuoteTick, TradeTick
from livenode.model.enums import AggressorSide
from livenode.model.identifiers import InstrumentId, TradeId
from livenode.model.objects import Price, Quantity

#: Width of an instrument id in the registry (UTF-8 bytes).
INSTRUMENT_ID_WIDTH = 64
#: Width of a trade id in the trade table.
TRADE_ID_WIDTH = 47
#: Width of a bar type ("{instrument_id}-{spec}").
BAR_TYPE_WIDTH = 96

_AGGRESSORS = tuple(AggressorSide)
_AGGRESSOR_CODE = {side: i for i, side in enumerate(_AGGRESSORS)}


class ShmTable:
    """What every table shares: its kind, formats, seqlocked rows and row status."""

    KIND: ClassVar[str]
    PAYLOAD_FORMAT: ClassVar[str]
    KEY_FORMAT: ClassVar[str] = ""
    #: Index of `ts_init` in the payload tuple (for `age_ns`), -1 if none.
    TS_INIT_FIELD: ClassVar[int] = -1

    def __init__(self, segment: Segment, *, stale_timeout_ns: int) -> None:
        self.segment = segment
        self.rows = SeqlockRows(
            segment, self.PAYLOAD_FORMAT, self.KEY_FORMAT, stale_timeout_ns=stale_timeout_ns
        )
        # Bound methods straight off the rows: the fast path costs no extra frame.
        self.read_raw = self.rows.read_raw
        self.write_raw = self.rows.write_raw

    @classmethod
    def geometry(cls) -> tuple[str, int]:
        """(row format, row size) of this table's segment."""
        fmt, size, _ = row_geometry(cls.PAYLOAD_FORMAT, cls.KEY_FORMAT)
        return fmt, size

    def status(self, row: int) -> RowStatus:
        """Seq, writer pid and writer liveness of a row."""
        return self.rows.status(row)

    def age_ns_of_row(self, row: int, now_ns: int | None = None) -> int | None:
        """Nanoseconds since the row's `ts_init` (wall clock), None if never written."""
        values = self.read_raw(row)
        if values is None:
            return None
        ts_init: int = values[self.TS_INIT_FIELD]
        return (time.time_ns() if now_ns is None else now_ns) - ts_init


class InstrumentRegistry(ShmTable):
    """Instrument id → row, with the instrument's price and size precisions.

    Quote and trade rows share the registry's row numbers. Rows are added
    under the segment lock and never removed or changed.
    """

    KIND = "instruments"
    PAYLOAD_FORMAT = ""
    KEY_FORMAT = f"{INSTRUMENT_ID_WIDTH}sBB"

    def __init__(self, segment: Segment, *, stale_timeout_ns: int) -> None:
        super().__init__(segment, stale_timeout_ns=stale_timeout_ns)
        self.index = KeyIndex(self.rows, self.KEY_FORMAT, "instrument id", INSTRUMENT_ID_WIDTH)
        self._ids: list[InstrumentId] = []

    def register(
        self,
        instrument: Any,
        price_precision: int | None = None,
        size_precision: int | None = None,
    ) -> int:
        """The row of an instrument, added if new.

        Give an `Instrument` (its precisions are used) or an `InstrumentId` and
        both precisions. Registering again with other precisions is a ValueError.
        """
        if isinstance(instrument, InstrumentId):
            if price_precision is None or size_precision is None:
                raise ValueError(f"registering {instrument} needs its price and size precisions")
            instrument_id = instrument
        else:
            instrument_id = instrument.id
            price_precision = instrument.price_precision
            size_precision = instrument.size_precision
        wanted = (price_precision, size_precision)

        def check(found: tuple[Any, ...]) -> None:
            if found != wanted:
                raise ValueError(
                    f"instrument {instrument_id} is registered with precisions (price, size) "
                    f"{found}, not {wanted}"
                )

        return self.index.register(instrument_id.value, *wanted, check=check)

    def row_of(self, instrument_id: InstrumentId) -> int | None:
        """The row of an instrument, None if not registered."""
        return self.index.lookup(instrument_id.value)

    def require_row(self, instrument_id: InstrumentId) -> int:
        """The row of an instrument; KeyError naming it if not registered."""
        row = self.index.lookup(instrument_id.value)
        if row is None:
            raise KeyError(f"instrument {instrument_id} is not in the shared-memory registry")
        return row

    def instrument_id(self, row: int) -> InstrumentId:
        """The instrument of a row."""
        ids = self._ids
        if row >= len(ids):
            self.index.refresh()
            ids.extend(InstrumentId(k) for k in self.index.keys[len(ids):])
        return ids[row]

    def precisions(self, row: int) -> tuple[int, int]:
        """(price precision, size precision) of a row."""
        if row >= len(self.index.extras):
            self.index.refresh()
        return self.index.extras[row]

    def instrument_ids(self) -> list[InstrumentId]:
        """Every registered instrument, in row order."""
        self.index.refresh()
        return [self.instrument_id(row) for row in range(len(self.index.keys))]

    def __len__(self) -> int:
        return len(self.index)


class QuoteTable(ShmTable):
    """Latest quote per instrument (row = registry row).

    Payload: bid, ask, bid_size, ask_size (raw i64), ts_event, ts_init (u64).
    """

    KIND = "quotes"
    PAYLOAD_FORMAT = "qqqqQQ"
    TS_INIT_FIELD = 5

    def __init__(
        self, segment: Segment, registry: InstrumentRegistry, *, stale_timeout_ns: int
    ) -> None:
        super().__init__(segment, stale_timeout_ns=stale_timeout_ns)
        self.registry = registry

    def write(self, quote: QuoteTick) -> None:
        """Publish a quote (by the instrument's one writer)."""
        row = self.registry.require_row(quote.instrument_id)
        pp, sp = self.registry.precisions(row)
        bid, ask, bsz, asz = quote.bid_price, quote.ask_price, quote.bid_size, quote.ask_size
        if bid.precision != pp or ask.precision != pp or bsz.precision != sp or asz.precision != sp:
            raise ValueError(
                f"quote for {quote.instrument_id}: precisions do not match the registry "
                f"(price {pp}, size {sp})"
            )
        self.rows.write_raw(row, bid.raw, ask.raw, bsz.raw, asz.raw, quote.ts_event, quote.ts_init)

    def read(self, instrument_id: InstrumentId) -> QuoteTick | None:
        """The latest quote, None if none was written (or the instrument is unknown)."""
        row = self.registry.row_of(instrument_id)
        if row is None:
            return None
        v = self.rows.read_raw(row)
        if v is None:
            return None
        pp, sp = self.registry.precisions(row)
        return QuoteTick(
            instrument_id, Price(v[0], pp), Price(v[1], pp), Quantity(v[2], sp),
            Quantity(v[3], sp), v[4], v[5],
        )

    def age_ns(self, instrument_id: InstrumentId, now_ns: int | None = None) -> int | None:
        """Nanoseconds since the latest quote's `ts_init`, None if there is none."""
        row = self.registry.row_of(instrument_id)
        return None if row is None else self.age_ns_of_row(row, now_ns)


class TradeTable(ShmTable):
    """Latest trade per instrument (row = registry row).

    Payload: price, size (raw i64), ts_event, ts_init, aggressor side (u8), trade id.
    """

    KIND = "trades"
    PAYLOAD_FORMAT = f"qqQQB{TRADE_ID_WIDTH}s"
    TS_INIT_FIELD = 3

    def __init__(
        self, segment: Segment, registry: InstrumentRegistry, *, stale_timeout_ns: int
    ) -> None:
        super().__init__(segment, stale_timeout_ns=stale_timeout_ns)
        self.registry = registry

    def write(self, trade: TradeTick) -> None:
        """Publish a trade (by the instrument's one writer)."""
        row = self.registry.require_row(trade.instrument_id)
        pp, sp = self.registry.precisions(row)
        if trade.price.precision != pp or trade.size.precision != sp:
            raise ValueError(
                f"trade for {trade.instrument_id}: precisions do not match the registry "
                f"(price {pp}, size {sp})"
            )
        tid = encode_fixed(trade.trade_id.value, TRADE_ID_WIDTH, "trade id")
        self.rows.write_raw(
            row, trade.price.raw, trade.size.raw, trade.ts_event, trade.ts_init,
            _AGGRESSOR_CODE[trade.aggressor_side], tid,
        )

    def read(self, instrument_id: InstrumentId) -> TradeTick | None:
        """The latest trade, None if none was written (or the instrument is unknown)."""
        row = self.registry.row_of(instrument_id)
        if row is None:
            return None
        v = self.rows.read_raw(row)
        if v is None:
            return None
        pp, sp = self.registry.precisions(row)
        return TradeTick(
            instrument_id, Price(v[0], pp), Quantity(v[1], sp), _AGGRESSORS[v[4]],
            TradeId(v[5].rstrip(b"\x00").decode()), v[2], v[3],
        )

    def age_ns(self, instrument_id: InstrumentId, now_ns: int | None = None) -> int | None:
        """Nanoseconds since the latest trade's `ts_init`, None if there is none."""
        row = self.registry.row_of(instrument_id)
        return None if row is None else self.age_ns_of_row(row, now_ns)


class BarTable(ShmTable):
    """Latest bar per configured bar type (keyed by `str(bar_type)`).

    Payload: open, high, low, close, volume (raw i64), ts_event, ts_init.
    Key: bar type text, the instrument's registry row and the bar's own price
    and size precisions (a MID bar carries one digit more than the instrument in
    both: the half tick of the mid, the mean of bid and ask sizes).
    """

    KIND = "bars"
    PAYLOAD_FORMAT = "qqqqqQQ"
    KEY_FORMAT = f"{BAR_TYPE_WIDTH}sIBB"
    TS_INIT_FIELD = 6

    def __init__(
        self, segment: Segment, registry: InstrumentRegistry, *, stale_timeout_ns: int
    ) -> None:
        super().__init__(segment, stale_timeout_ns=stale_timeout_ns)
        self.registry = registry
        self.index = KeyIndex(self.rows, self.KEY_FORMAT, "bar type", BAR_TYPE_WIDTH)

    def register(
        self,
        bar_type: BarType,
        price_precision: int | None = None,
        size_precision: int | None = None,
    ) -> int:
        """The row of a bar type, added if new (its instrument must be registered).

        The precisions default to the instrument's.
        """
        instrument_row = self.registry.require_row(bar_type.instrument_id)
        pp, sp = self.registry.precisions(instrument_row)
        pp = pp if price_precision is None else price_precision
        sp = sp if size_precision is None else size_precision
        return self.index.register(str(bar_type), instrument_row, pp, sp)

    def row_of(self, bar_type: BarType) -> int | None:
        """The row of a bar type, None if not registered."""
        return self.index.lookup(str(bar_type))

    def bar_types(self) -> list[BarType]:
        """Every registered bar type, in row order."""
        self.index.refresh()
        return [BarType.from_str(k) for k in self.index.keys]

    def _precisions(self, row: int) -> tuple[int, int]:
        _, pp, sp = self.index.extras[row]
        return pp, sp

    def write(self, bar: Bar) -> None:
        """Publish a bar (registering its bar type, at the bar's precision, if new)."""
        row = self.index.lookup(str(bar.bar_type))
        if row is None:
            row = self.register(bar.bar_type, bar.open.precision, bar.volume.precision)
        pp, sp = self._precisions(row)
        if any(p.precision != pp for p in (bar.open, bar.high, bar.low, bar.close)) or (
            bar.volume.precision != sp
        ):
            got = [p.precision for p in (bar.open, bar.high, bar.low, bar.close)]
            raise ValueError(
                f"bar {bar.bar_type}: precisions (OHLC {got}, volume {bar.volume.precision}) "
                f"do not match the table (price {pp}, size {sp})"
            )
        self.rows.write_raw(
            row, bar.open.raw, bar.high.raw, bar.low.raw, bar.close.raw, bar.volume.raw,
            bar.ts_event, bar.ts_init,
        )

    def read(self, bar_type: BarType) -> Bar | None:
        """The latest bar of a bar type, None if none was written."""
        row = self.index.lookup(str(bar_type))
        if row is None:
            return None
        v = self.rows.read_raw(row)
        if v is None:
            return None
        pp, sp = self._precisions(row)
        return Bar(
            bar_type, Price(v[0], pp), Price(v[1], pp), Price(v[2], pp), Price(v[3], pp),
            Quantity(v[4], sp), v[5], v[6],
        )


__all__ = ["BarTable", "InstrumentRegistry", "QuoteTable", "ShmTable", "TradeTable"]
