"""Execution-state tables: position and account balance snapshots.

Both are written by the exec worker only (one writer per row) and read by
risk, the portfolio and `livenode status` in any process.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from livenode.cache.shm.segment import Segment, encode_fixed
from livenode.cache.shm.seqlock import KeyIndex
from livenode.cache.shm.tables import INSTRUMENT_ID_WIDTH, InstrumentRegistry, ShmTable
from livenode.model.enums import PositionSide
from livenode.model.events import AccountState, PositionEvent
from livenode.model.identifiers import AccountId, InstrumentId, StrategyId
from livenode.model.objects import AccountBalance, Currency, Money, Quantity

#: Width of "{strategy_id} {instrument_id}" and "{account_id} {currency}" keys.
POSITION_KEY_WIDTH = 64 + 1 + INSTRUMENT_ID_WIDTH
ACCOUNT_KEY_WIDTH = 64 + 1 + 8
CURRENCY_WIDTH = 8

_SIDES = tuple(PositionSide)
_SIDE_CODE = {side: i for i, side in enumerate(_SIDES)}


def _currency(code: str, precision: int) -> Currency:
    try:
        known = Currency.from_str(code)
    except ValueError:
        return Currency(code, precision)
    return known if known.precision == precision else Currency(code, precision)


class PositionSnapshot(msgspec.Struct, frozen=True, gc=False):
    """A position as the shared-memory table holds it.

    `quantity` is absolute, `signed_qty_raw` is positive long and negative
    short (same precision as `quantity`); PnL is in `realized_pnl.currency`.
    """

    strategy_id: StrategyId
    instrument_id: InstrumentId
    side: PositionSide
    quantity: Quantity
    signed_qty_raw: int
    avg_px_open: float
    avg_px_close: float | None
    realized_pnl: Money
    unrealized_pnl: Money
    ts_event: int
    ts_init: int

    @classmethod
    def from_event(cls, event: PositionEvent) -> PositionSnapshot:
        """The snapshot of a position event (`PositionOpened/Changed/Closed`)."""
        qty = event.quantity
        sign = -1 if event.side is PositionSide.SHORT else 1
        return cls(
            event.strategy_id, event.instrument_id, event.side, qty, sign * qty.raw,
            event.avg_px_open, event.avg_px_close, event.realized_pnl, event.unrealized_pnl,
            event.ts_event, event.ts_init,
        )


class PositionTable(ShmTable):
    """Position snapshot per (strategy, instrument).

    Payload: side u8, PnL precision u8, PnL currency 8s, signed qty raw i64,
    avg_px_open f64, avg_px_close f64 (NaN: none), realized, unrealized PnL raw
    i64, ts_event, ts_init. Key: "{strategy_id} {instrument_id}" and the
    instrument's registry row (quantity precision = its size precision).
    """

    KIND = "positions"
    PAYLOAD_FORMAT = f"BB6x{CURRENCY_WIDTH}sqddqqQQ"
    KEY_FORMAT = f"{POSITION_KEY_WIDTH}sI"
    TS_INIT_FIELD = 9

    def __init__(
        self, segment: Segment, registry: InstrumentRegistry, *, stale_timeout_ns: int
    ) -> None:
        super().__init__(segment, stale_timeout_ns=stale_timeout_ns)
        self.registry = registry
        self.index = KeyIndex(self.rows, self.KEY_FORMAT, "position key", POSITION_KEY_WIDTH)

    def register(self, strategy_id: StrategyId, instrument_id: InstrumentId) -> int:
        """The row of (strategy, instrument), added if new (instrument must be registered)."""
        instrument_row = self.registry.require_row(instrument_id)
        return self.index.register(f"{strategy_id.value} {instrument_id.value}", instrument_row)

    def row_of(self, strategy_id: StrategyId, instrument_id: InstrumentId) -> int | None:
        """The row of (strategy, instrument), None if not registered."""
        return self.index.lookup(f"{strategy_id.value} {instrument_id.value}")

    def keys(self) -> list[tuple[StrategyId, InstrumentId]]:
        """Every registered (strategy, instrument), in row order."""
        self.index.refresh()
        out = []
        for key in self.index.keys:
            strategy, _, instrument = key.partition(" ")
            out.append((StrategyId(strategy), InstrumentId(instrument)))
        return out

    def write(self, snapshot: PositionSnapshot) -> None:
        """Publish a position snapshot (exec worker only)."""
        row = self.row_of(snapshot.strategy_id, snapshot.instrument_id)
        if row is None:
            row = self.register(snapshot.strategy_id, snapshot.instrument_id)
        _, sp = self.registry.precisions(self.index.extras[row][0])
        if snapshot.quantity.precision != sp:
            raise ValueError(
                f"position {snapshot.strategy_id} {snapshot.instrument_id}: quantity precision "
                f"{snapshot.quantity.precision}, the registry says {sp}"
            )
        rpnl, upnl = snapshot.realized_pnl, snapshot.unrealized_pnl
        if upnl.currency != rpnl.currency or upnl.precision != rpnl.precision:
            raise ValueError(
                f"position {snapshot.strategy_id} {snapshot.instrument_id}: realized and "
                "unrealized PnL differ in currency or precision"
            )
        close = math.nan if snapshot.avg_px_close is None else snapshot.avg_px_close
        self.rows.write_raw(
            row, _SIDE_CODE[snapshot.side], rpnl.precision,
            encode_fixed(rpnl.currency.code, CURRENCY_WIDTH, "currency"),
            snapshot.signed_qty_raw, snapshot.avg_px_open, close, rpnl.raw, upnl.raw,
            snapshot.ts_event, snapshot.ts_init,
        )

    def write_event(self, event: PositionEvent) -> None:
        """Publish the snapshot carried by a position event."""
        self.write(PositionSnapshot.from_event(event))

    def read(self, strategy_id: StrategyId, instrument_id: InstrumentId) -> PositionSnapshot | None:
        """The latest snapshot, None if none was written."""
        row = self.row_of(strategy_id, instrument_id)
        if row is None:
            return None
        v = self.rows.read_raw(row)
        if v is None:
            return None
        _, sp = self.registry.precisions(self.index.extras[row][0])
        side, pnl_prec, code, signed, avg_open, avg_close, rpnl, upnl, ts_event, ts_init = v
        currency = _currency(code.rstrip(b"\x00").decode(), pnl_prec)
        return PositionSnapshot(
            strategy_id, instrument_id, _SIDES[side], Quantity(abs(signed), sp), signed,
            avg_open, None if math.isnan(avg_close) else avg_close,
            Money(rpnl, pnl_prec, currency), Money(upnl, pnl_prec, currency), ts_event, ts_init,
        )


class AccountTable(ShmTable):
    """Balance snapshot per (account, currency).

    Payload: total, locked, free (raw i64), ts_event, ts_init. Key:
    "{account_id} {currency code}" and the money precision.
    """

    KIND = "accounts"
    PAYLOAD_FORMAT = "qqqQQ"
    KEY_FORMAT = f"{ACCOUNT_KEY_WIDTH}sB"
    TS_INIT_FIELD = 4

    def __init__(self, segment: Segment, *, stale_timeout_ns: int) -> None:
        super().__init__(segment, stale_timeout_ns=stale_timeout_ns)
        self.index = KeyIndex(self.rows, self.KEY_FORMAT, "account key", ACCOUNT_KEY_WIDTH)

    def register(
        self, account_id: AccountId, currency: Currency, precision: int | None = None
    ) -> int:
        """The row of (account, currency), added if new; precision defaults to the currency's."""
        if len(currency.code.encode()) > CURRENCY_WIDTH:
            raise ValueError(
                f"currency code {currency.code!r} is longer than {CURRENCY_WIDTH} bytes"
            )
        wanted = currency.precision if precision is None else precision

        def check(found: tuple[Any, ...]) -> None:
            if found[0] != wanted:
                raise ValueError(
                    f"account {account_id} {currency.code} is registered with precision "
                    f"{found[0]}, not {wanted}"
                )

        return self.index.register(f"{account_id.value} {currency.code}", wanted, check=check)

    def row_of(self, account_id: AccountId, currency: Currency | str) -> int | None:
        """The row of (account, currency), None if not registered."""
        code = currency if isinstance(currency, str) else currency.code
        return self.index.lookup(f"{account_id.value} {code}")

    def write_balance(
        self, account_id: AccountId, balance: AccountBalance, ts_event: int, ts_init: int
    ) -> None:
        """Publish one balance (exec worker only)."""
        total = balance.total
        row = self.register(account_id, total.currency, total.precision)
        self.rows.write_raw(row, total.raw, balance.locked.raw, balance.free.raw, ts_event, ts_init)

    def write_state(self, state: AccountState) -> None:
        """Publish every balance of an account state."""
        for balance in state.balances:
            self.write_balance(state.account_id, balance, state.ts_event, state.ts_init)

    def read(self, account_id: AccountId, currency: Currency | str) -> AccountBalance | None:
        """The latest balance, None if none was written."""
        row = self.row_of(account_id, currency)
        if row is None:
            return None
        v = self.rows.read_raw(row)
        if v is None:
            return None
        precision = self.index.extras[row][0]
        code = currency if isinstance(currency, str) else currency.code
        cur = _currency(code, precision) if isinstance(currency, str) else currency
        return AccountBalance(
            Money(v[0], precision, cur), Money(v[1], precision, cur), Money(v[2], precision, cur)
        )

    def balances(self, account_id: AccountId) -> list[AccountBalance]:
        """Every written balance of an account, in row order."""
        self.index.refresh()
        prefix = account_id.value + " "
        out = []
        for key in list(self.index.keys):
            if key.startswith(prefix):
                balance = self.read(account_id, key[len(prefix):])
                if balance is not None:
                    out.append(balance)
        return out


__all__ = ["AccountTable", "PositionSnapshot", "PositionTable"]
