"""`Position`: a netting position built from fills.

One position per instrument and strategy: buys and sells net into one signed
quantity. Adding at a price moves the average open price (quantity-weighted);
reducing realizes PnL against it, `(px - avg_px_open) * closed_qty * multiplier`
(sign by side). Commissions in the quote currency are deducted from realized
PnL; commissions in other currencies are kept apart (`commissions_by_currency`).

A position lives in *cycles*: from flat to flat. A fill larger than the open
quantity flips the position: it is split into a close of the open quantity and
an open of the rest, its commission split pro rata (the close's share rounded
half to even, the open takes the remainder). The close ends the cycle (its
`PositionClosed` snapshot is kept in `closed_cycles`), the rest starts a new
cycle at the fill price. Each cycle has its own average prices, realized PnL,
commissions, peak quantity, opening/closing orders and timestamps;
`lifetime_realized_pnl` adds up every cycle.

Arithmetic is exact: average prices are kept as fractions and every PnL amount
is rounded once, half to even, to the quote currency's precision. Floats appear
only in the reporting properties (`avg_px_open`, `signed_qty`, ...).

A fill after the position closed opens a new cycle with the same id (netting
reuses it): PnL, commissions and timestamps restart from zero.
"""

from __future__ import annotations

import uuid
from collections import deque
from fractions import Fraction

import msgspec

from livenode.model.enums import OrderSide, PositionSide
from livenode.model.events import (
    OrderFilled,
    PositionChanged,
    PositionClosed,
    PositionEvent,
    PositionOpened,
)
from livenode.model.fixed_point import div_round_half_even
from livenode.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    PositionId,
    StrategyId,
    TradeId,
    TraderId,
)
from livenode.model.instruments import Instrument
from livenode.model.objects import Currency, Money, Price, Quantity

#: Fills a position keeps (its arithmetic needs none of them; they are for
#: inspection), and trade ids it remembers to refuse a duplicate fill.
MAX_FILLS_KEPT = 1_000
MAX_TRADE_IDS_KEPT = 10_000
#: Closed cycles a position keeps (`closed_cycles`); `cycle_count` counts all.
MAX_CYCLES_KEPT = 1_000


def netting_position_id(instrument_id: InstrumentId, strategy_id: StrategyId) -> PositionId:
    """The id of the netting position of a strategy in an instrument."""
    return PositionId(f"{instrument_id.value}-{strategy_id.value}")


class Position:
    """A netting position; see the module doc. Not thread-safe, never on the bus."""

    def __init__(self, instrument: Instrument, fill: OrderFilled) -> None:
        if fill.instrument_id != instrument.id:
            raise ValueError(
                f"fill {fill.trade_id} is for {fill.instrument_id}, not {instrument.id}"
            )
        self.instrument_id: InstrumentId = instrument.id
        self.id: PositionId = fill.position_id or netting_position_id(
            fill.instrument_id, fill.strategy_id
        )
        self.trader_id: TraderId = fill.trader_id
        self.strategy_id: StrategyId = fill.strategy_id
        self.account_id: AccountId = fill.account_id
        self.quote_currency: Currency = instrument.quote_currency
        self.multiplier: Quantity = instrument.multiplier
        # Signed quantity as a raw int at `_qp` (the instrument's size precision,
        # raised if a fill ever carries more digits).
        self._qp = instrument.size_precision
        self._trade_ids: dict[TradeId, None] = {}  # insertion-ordered: oldest purged first
        self._closed_cycles: deque[PositionClosed] = deque(maxlen=MAX_CYCLES_KEPT)
        self._closed_cycle_count = 0
        # Realized PnL of the cycles before the current one (quote currency).
        self._realized_before = Money.zero(self.quote_currency)
        # The snapshot a position rebuilt without its fills came from (`from_snapshot`).
        self._snapshot: PositionEvent | None = None
        # The fills applied in its life: what a command's `position_version` is
        # compared with (a snapshot carries the execution engine's count).
        self.version = 0
        self._reset(fill)
        self.apply(fill)

    @classmethod
    def from_snapshot(cls, instrument: Instrument, event: PositionEvent) -> Position:
        """The position a snapshot event describes, for a process that did not see
        its fills (a restarted worker recovering its state).

        It has no fill history (`events` is empty until the next fill), and its
        average prices come from the snapshot's floats, so PnL it computes later may
        differ from the execution engine's in the last digits; the execution
        engine's snapshots stay the reference.
        """
        self = cls.__new__(cls)
        self.instrument_id = instrument.id
        self.id = event.position_id
        self.trader_id = event.trader_id
        self.strategy_id = event.strategy_id
        self.account_id = event.account_id
        self.quote_currency = instrument.quote_currency
        self.multiplier = instrument.multiplier
        self._qp = max(instrument.size_precision, event.quantity.precision)
        self._trade_ids = {}
        magnitude = event.quantity.raw * 10 ** (self._qp - event.quantity.precision)
        sign = {PositionSide.LONG: 1, PositionSide.SHORT: -1}.get(event.side, 0)
        self._signed = sign * magnitude
        peak = event.peak_qty
        self._peak = (
            magnitude if peak is None
            else max(magnitude, peak.raw * 10 ** (self._qp - peak.precision))
        )
        # repr: the float's shortest decimal form, not its binary expansion.
        self._avg_open = Fraction(repr(event.avg_px_open))
        close = event.avg_px_close
        self._avg_close = None if close is None else Fraction(repr(close))
        self._closed_raw = 0
        self._realized = event.realized_pnl
        self._commissions = {event.commissions.currency: event.commissions}
        self._fills = deque(maxlen=MAX_FILLS_KEPT)
        self._fill_count = 0
        self._fresh = False
        self._closed_cycles = deque(maxlen=MAX_CYCLES_KEPT)
        self._closed_cycle_count = 0
        self._realized_before = Money.zero(self.quote_currency)
        self.opening_order_id = event.opening_order_id
        self.closing_order_id = event.closing_order_id
        self.entry = event.entry or (OrderSide.SELL if sign < 0 else OrderSide.BUY)
        self.ts_opened = event.ts_opened
        self.ts_closed = event.ts_closed
        self._snapshot = event
        self.version = event.version
        return self

    def _reset(self, fill: OrderFilled) -> None:
        """Start a cycle at `fill` (construction, reopening a closed position, a flip)."""
        self._fresh = True  # no fill applied in this cycle yet
        self._signed = 0
        self._peak = 0
        self._avg_open = Fraction(0)
        self._avg_close: Fraction | None = None
        self._closed_raw = 0  # total quantity closed in this lifecycle, at _qp
        self._realized = Money.zero(self.quote_currency)
        self._commissions: dict[Currency, Money] = {}
        # Bounded (memory stays flat on a position that never goes flat): the last
        # fills are kept; `event_count` counts all of them.
        self._fills: deque[OrderFilled] = deque(maxlen=MAX_FILLS_KEPT)
        self._fill_count = 0
        self.opening_order_id: ClientOrderId = fill.client_order_id
        self.closing_order_id: ClientOrderId | None = None
        self.entry: OrderSide = fill.order_side
        self.ts_opened: int = fill.ts_event
        self.ts_closed: int | None = None

    # -- updates -------------------------------------------------------------------

    def has_trade_id(self, trade_id: TradeId) -> bool:
        """Whether a fill with this trade id was applied (among the last ones kept)."""
        return trade_id in self._trade_ids

    def apply(self, fill: OrderFilled) -> PositionClosed | None:
        """Apply a fill (ValueError for another instrument or a duplicate trade id).

        Returns the `PositionClosed` snapshot of the cycle the fill ended (it made
        the position flat, or flipped it: then the position is open again, in a
        new cycle started by the rest of the fill), else None.
        """
        if fill.instrument_id != self.instrument_id:
            raise ValueError(
                f"position {self.id}: fill {fill.trade_id} is for {fill.instrument_id}"
            )
        if fill.trade_id in self._trade_ids:
            raise ValueError(f"position {self.id}: duplicate trade id {fill.trade_id}")
        if self._signed == 0 and not self._fresh:
            self._next_cycle(fill)  # a closed netting position reopens as a new cycle
        self.version += 1
        self._trade_ids[fill.trade_id] = None
        if len(self._trade_ids) > MAX_TRADE_IDS_KEPT:
            del self._trade_ids[next(iter(self._trade_ids))]
        self.account_id = fill.account_id

        qty = fill.last_qty
        if qty.precision > self._qp:
            scale = 10 ** (qty.precision - self._qp)
            self._signed *= scale
            self._peak *= scale
            self._closed_raw *= scale
            self._qp = qty.precision
        q = qty.raw * 10 ** (self._qp - qty.precision)
        signed = self._signed
        buying = fill.order_side is OrderSide.BUY
        if signed == 0 or (signed > 0) == buying or q <= abs(signed):
            self._apply_part(fill, q)
            return self._close_cycle() if self._signed == 0 else None
        # Flip: close the open quantity, open the rest, commission pro rata.
        held = abs(signed)
        commission = fill.commission
        close_fee = div_round_half_even(commission.raw * held, q)
        close_part = msgspec.structs.replace(
            fill,
            last_qty=Quantity(held, self._qp),
            commission=Money(close_fee, commission.precision, commission.currency),
        )
        open_part = msgspec.structs.replace(
            fill,
            last_qty=Quantity(q - held, self._qp),
            commission=Money(commission.raw - close_fee, commission.precision,
                             commission.currency),
        )
        self._apply_part(close_part, held)
        closed = self._close_cycle()
        self._next_cycle(open_part)
        self._apply_part(open_part, q - held)
        return closed

    def _next_cycle(self, fill: OrderFilled) -> None:
        """End the (flat) cycle and start the next one at `fill`."""
        self._realized_before = self._realized_before + self._realized
        self._reset(fill)

    def _apply_part(self, fill: OrderFilled, q: int) -> None:
        """Apply `q` (raw at `_qp`) of `fill`, which does not flip the position."""
        self._fresh = False
        self._fills.append(fill)
        self._fill_count += 1
        px = Fraction(fill.last_px.raw, 10**fill.last_px.precision)
        signed = self._signed
        direction = 1 if fill.order_side is OrderSide.BUY else -1

        commission = fill.commission
        if commission.raw:
            currency = commission.currency
            prior = self._commissions.get(currency)
            self._commissions[currency] = commission if prior is None else prior + commission
            if currency == self.quote_currency:
                self._realized = self._realized - commission

        if signed == 0 or (signed > 0) == (direction > 0):
            # Opening or adding: quantity-weighted average open price.
            held = abs(signed)
            self._avg_open = (self._avg_open * held + px * q) / (held + q)
        else:
            side_sign = 1 if signed > 0 else -1
            pnl = (px - self._avg_open) * q * side_sign
            self._realized = self._realized + self._money(
                pnl * self.multiplier.raw, self._qp + self.multiplier.precision
            )
            closed_before = self._closed_raw
            prev_close = self._avg_close if self._avg_close is not None else Fraction(0)
            self._avg_close = (prev_close * closed_before + px * q) / (closed_before + q)
            self._closed_raw = closed_before + q
            if q == abs(signed):
                self.closing_order_id = fill.client_order_id
                self.ts_closed = fill.ts_event
        self._signed = signed + direction * q
        self._peak = max(self._peak, abs(self._signed))

    def _close_cycle(self) -> PositionClosed:
        """Record the cycle that just went flat; its `PositionClosed` snapshot."""
        closed = self.snapshot_event(PositionClosed)
        assert isinstance(closed, PositionClosed)
        self._closed_cycles.append(closed)
        self._closed_cycle_count += 1
        return closed

    def _money(self, amount: Fraction, scale: int) -> Money:
        """`amount / 10**scale` in the quote currency, rounded half to even."""
        cp = self.quote_currency.precision
        num = amount.numerator * 10**cp
        den = amount.denominator * 10**scale
        return Money(div_round_half_even(num, den), cp, self.quote_currency)

    # -- valuation -------------------------------------------------------------------------

    def unrealized_pnl(self, last: Price) -> Money:
        """PnL of the open quantity marked at `last` (zero when flat), quote currency."""
        signed = self._signed
        cp = self.quote_currency.precision
        if signed == 0:
            return Money(0, cp, self.quote_currency)
        # (last - n/d) * signed * m, all ints: one division, one rounding.
        n, d = self._avg_open.numerator, self._avg_open.denominator
        m = self.multiplier
        num = (last.raw * d - n * 10**last.precision) * signed * m.raw * 10**cp
        den = d * 10 ** (last.precision + self._qp + m.precision)
        return Money(div_round_half_even(num, den), cp, self.quote_currency)

    def total_pnl(self, last: Price) -> Money:
        """Realized plus unrealized PnL at `last`."""
        return self._realized + self.unrealized_pnl(last)

    def notional_value(self, last: Price) -> Money:
        """|quantity| * last * multiplier in the quote currency."""
        m = self.multiplier
        cp = self.quote_currency.precision
        num = abs(self._signed) * last.raw * m.raw * 10**cp
        den = 10 ** (self._qp + last.precision + m.precision)
        return Money(div_round_half_even(num, den), cp, self.quote_currency)

    # -- state ----------------------------------------------------------------------------------

    @property
    def side(self) -> PositionSide:
        """LONG, SHORT or FLAT."""
        if self._signed > 0:
            return PositionSide.LONG
        if self._signed < 0:
            return PositionSide.SHORT
        return PositionSide.FLAT

    @property
    def quantity(self) -> Quantity:
        """Absolute open quantity."""
        return Quantity(abs(self._signed), self._qp)

    @property
    def signed_qty(self) -> float:
        """Open quantity, positive long, negative short."""
        scale: int = 10**self._qp
        return self._signed / scale

    @property
    def peak_qty(self) -> Quantity:
        """Largest absolute quantity held in this cycle."""
        return Quantity(self._peak, self._qp)

    @property
    def avg_px_open(self) -> float:
        """Quantity-weighted average price of the open quantity (0.0 before any)."""
        return float(self._avg_open)

    @property
    def avg_px_close(self) -> float | None:
        """Quantity-weighted average price of the reductions, None before any."""
        return None if self._avg_close is None else float(self._avg_close)

    @property
    def realized_pnl(self) -> Money:
        """Realized PnL of this cycle, net of quote-currency commissions."""
        return self._realized

    @property
    def lifetime_realized_pnl(self) -> Money:
        """Realized PnL of every cycle this object saw (a position rebuilt from a
        snapshot starts from that snapshot's cycle), net of commissions."""
        return self._realized_before + self._realized

    @property
    def closed_cycles(self) -> list[PositionClosed]:
        """The `PositionClosed` snapshots of the cycles closed so far, oldest first
        (the last `MAX_CYCLES_KEPT`; a flat position's current cycle is the last)."""
        return list(self._closed_cycles)

    @property
    def cycle_count(self) -> int:
        """Number of cycles closed so far."""
        return self._closed_cycle_count

    @property
    def commissions(self) -> Money:
        """Commissions of this cycle in the quote currency (a flip's share only)."""
        return self._commissions.get(self.quote_currency, Money.zero(self.quote_currency))

    def commissions_by_currency(self) -> dict[Currency, Money]:
        """Commissions of this cycle per currency (a copy)."""
        return dict(self._commissions)

    @property
    def is_open(self) -> bool:
        """True while not flat."""
        return self._signed != 0

    @property
    def is_closed(self) -> bool:
        """True when flat."""
        return self._signed == 0

    @property
    def is_long(self) -> bool:
        """True when long."""
        return self._signed > 0

    @property
    def is_short(self) -> bool:
        """True when short."""
        return self._signed < 0

    @property
    def events(self) -> list[OrderFilled]:
        """The last fills of this cycle (at most `MAX_FILLS_KEPT`), in order (a copy).

        A flip appears as its two parts: the close in the old cycle, the open in
        the new one (same trade id, quantities and commission split)."""
        return list(self._fills)

    @property
    def last_event(self) -> OrderFilled:
        """The last fill."""
        return self._fills[-1]

    @property
    def event_count(self) -> int:
        """Number of fills in this cycle."""
        return self._fill_count

    def fill_sequence(self) -> list[TradeId] | None:
        """The trade ids of every fill applied in this position's life (all cycles), in
        the order applied; None when they are not all remembered (more than
        `MAX_TRADE_IDS_KEPT` fills, or a position rebuilt from a snapshot)."""
        if self._snapshot is not None or len(self._trade_ids) != self.version:
            return None
        return list(self._trade_ids)

    @property
    def trade_ids(self) -> frozenset[TradeId]:
        """Trade ids of the fills applied (the last `MAX_TRADE_IDS_KEPT`, all cycles)."""
        return frozenset(self._trade_ids)

    @property
    def last_px(self) -> Price:
        """Price of the last fill."""
        return self._fills[-1].last_px

    @property
    def last_qty(self) -> Quantity:
        """Quantity of the last fill."""
        return self._fills[-1].last_qty

    @property
    def ts_last(self) -> int:
        """`ts_event` of the last fill."""
        return self._fills[-1].ts_event

    @property
    def duration_ns(self) -> int:
        """Open to close time (0 while open)."""
        return 0 if self.ts_closed is None else self.ts_closed - self.ts_opened

    # -- events ---------------------------------------------------------------------------------

    def snapshot_event(
        self,
        kind: type[PositionEvent] | None = None,
        *,
        last: Price | None = None,
        event_id: str | None = None,
        ts_init: int | None = None,
    ) -> PositionEvent:
        """A PositionOpened/Changed/Closed snapshot of the current state.

        `kind` defaults to Closed when flat, Opened after the first fill of a
        cycle, Changed otherwise. Unrealized PnL is marked at `last`
        (default: the last fill price). `event_id` defaults to a new uuid4 hex,
        `ts_init` to the last fill's; `ts_event` is the last fill's.
        """
        if kind is None:
            if self._signed == 0:
                kind = PositionClosed
            elif self._fill_count == 1:
                kind = PositionOpened
            else:
                kind = PositionChanged
        if self._fills:
            fill = self._fills[-1]
            last_qty, last_px = fill.last_qty, fill.last_px
            ts_event, ts_fill = fill.ts_event, fill.ts_init
        else:  # rebuilt from a snapshot, no fill since: the snapshot's last fill
            snap = self._snapshot
            if snap is None:
                raise ValueError(f"position {self.id} has neither a fill nor a snapshot")
            last_qty, last_px = snap.last_qty, snap.last_px
            ts_event, ts_fill = snap.ts_event, snap.ts_init
        return kind(
            trader_id=self.trader_id,
            strategy_id=self.strategy_id,
            instrument_id=self.instrument_id,
            position_id=self.id,
            account_id=self.account_id,
            opening_order_id=self.opening_order_id,
            closing_order_id=self.closing_order_id,
            side=self.side,
            quantity=self.quantity,
            signed_qty=self.signed_qty,
            peak_qty=self.peak_qty,
            entry=self.entry,
            last_qty=last_qty,
            last_px=last_px,
            avg_px_open=self.avg_px_open,
            avg_px_close=self.avg_px_close,
            realized_pnl=self._realized,
            unrealized_pnl=self.unrealized_pnl(last if last is not None else last_px),
            commissions=self.commissions,
            ts_opened=self.ts_opened,
            ts_closed=self.ts_closed,
            version=self.version,
            event_id=event_id if event_id is not None else uuid.uuid4().hex,
            ts_event=ts_event,
            ts_init=ts_init if ts_init is not None else ts_fill,
        )

    def __repr__(self) -> str:
        return f"Position({self.id}, {self.side.value} {self.quantity} {self.instrument_id})"


__all__ = ["MAX_CYCLES_KEPT", "Position", "netting_position_id"]
