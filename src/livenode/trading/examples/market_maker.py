"""A simple two-sided market maker: one post-only bid and one post-only ask around the mid.

Each side is a slot holding at most one order. A slot is re-quoted when the mid
moved `requote_threshold_ticks` or more since the last quote: by cancel and
replace (the replacement goes out once the cancel is confirmed, so a side never
has two orders working) or, with `requote_mode = "modify"`, by modifying the
working order in place. When the net position reaches `max_position`, the side
that would add to it is pulled; below that, both quotes are skewed against the
position (`skew_ticks_at_max` ticks at the limit). Fills, post-only rejections,
cancels and expiries free the slot; nothing is ever left working unnoticed.

A quote the risk engine denies (trading halted, a limit) or the venue rejects for
another reason than post-only is not sent again on the next tick: the strategy backs
off `backoff_seconds`, doubling while the refusals go on (up to `max_backoff_seconds`),
and says so once per streak; the next accepted quote ends the streak.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from livenode.model.enums import OrderSide
from livenode.model.identifiers import InstrumentId
from livenode.model.objects import Price, Quantity
from livenode.trading.config import StrategyConfig
from livenode.trading.strategy import Strategy

_MAX_QUOTE_PASSES = 3
# Order events that acknowledge a request without answering it.
_NOT_AN_ANSWER = frozenset(
    {"OrderInitialized", "OrderSubmitted", "OrderPendingCancel", "OrderPendingUpdate"}
)

if TYPE_CHECKING:
    from livenode.model.data import QuoteTick
    from livenode.model.orders import Order


class MarketMakerConfig(StrategyConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of `MarketMaker`.

    Attributes:
        instrument_id: e.g. "BTCUSDT.SIM".
        trade_size: size of each quote, a decimal string.
        spread_bps: distance of each quote from the mid, in basis points of the
            mid (ignored when `offset_ticks` is set).
        offset_ticks: distance of each quote from the mid, in price increments.
        max_position: |net position| at which the side adding to it is pulled
            (decimal string; 5 x trade_size when None).
        requote_threshold_ticks: mid move (in price increments) that triggers a requote.
        skew_ticks_at_max: how far both quotes lean against the position at the limit.
        requote_mode: "cancel_replace" or "modify".
        backoff_seconds: the pause after a denied quote (then doubling).
        max_backoff_seconds: the longest pause.
    """

    instrument_id: str
    trade_size: str
    spread_bps: float = 10.0
    offset_ticks: int | None = None
    max_position: str | None = None
    requote_threshold_ticks: int = 2
    skew_ticks_at_max: int = 0
    requote_mode: Literal["cancel_replace", "modify"] = "cancel_replace"
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.backoff_seconds <= self.max_backoff_seconds:
            raise ValueError(
                f"backoff_seconds: expected > 0 and <= max_backoff_seconds "
                f"({self.max_backoff_seconds}), got {self.backoff_seconds}"
            )
        if self.spread_bps <= 0:
            raise ValueError(f"spread_bps: expected > 0, got {self.spread_bps}")
        if self.offset_ticks is not None and self.offset_ticks < 1:
            raise ValueError(f"offset_ticks: expected >= 1, got {self.offset_ticks}")
        if self.requote_threshold_ticks < 1:
            raise ValueError(
                f"requote_threshold_ticks: expected >= 1, got {self.requote_threshold_ticks}"
            )


class MarketMaker(Strategy):
    """Quotes both sides of one instrument (see the module docstring)."""

    def __init__(self, config: MarketMakerConfig) -> None:
        super().__init__(config)
        self.mm_config = config
        self.instrument_id = InstrumentId.from_str(config.instrument_id)
        self.trade_size = Quantity.from_str(config.trade_size)
        max_pos = Quantity.from_str(config.max_position) if config.max_position else None
        self.max_position = max_pos.as_double() if max_pos else 5 * self.trade_size.as_double()
        self.slots: dict[OrderSide, Order | None] = {OrderSide.BUY: None, OrderSide.SELL: None}
        self.quoted_mid_raw: dict[OrderSide, int | None] = {
            OrderSide.BUY: None,
            OrderSide.SELL: None,
        }
        self.requotes = 0
        self.rejections = 0
        self._tick_raw = 0  # price increment as raw at the price precision
        self._precision = -1
        self._last_quote: QuoteTick | None = None
        # Orders with a submit, cancel or modify of ours not yet answered by the venue;
        # the order's own status lags (INITIALIZED/ACCEPTED) until the answer arrives.
        self._awaiting: set[Any] = set()
        self._quoting = False
        self._quote_again = False
        # Refused quotes in a row, and until when (ns) no new quote goes out.
        self.refusals_in_a_row = 0
        self._paused_until = 0
        self._paused = False

    def on_start(self) -> None:
        """Take tick size and precisions from the instrument (or the first quote)."""
        assert self.cache is not None
        instrument = self.cache.instrument(self.instrument_id)
        if instrument is not None:
            self._precision = instrument.price_precision
            self._tick_raw = instrument.price_increment.raw
            self.trade_size = instrument.make_qty(self.trade_size.as_decimal())
        self.subscribe_quote_ticks(self.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        """Requote each side whose quote is missing or stale."""
        self._last_quote = tick
        if self._precision < 0:
            # No instrument in the cache: the quote's precision gives the tick size.
            self._precision = tick.bid_price.precision
            self._tick_raw = 1
        self._quote()

    def on_order_event(self, event: Any) -> None:
        """Any answer from the venue ends the wait on that order."""
        if type(event).__name__ not in _NOT_AN_ANSWER:
            self._awaiting.discard(event.client_order_id)

    def on_order_filled(self, event: Any) -> None:
        """Free the slot of a fully filled quote; requoting waits for the position event."""
        self._release_if_closed(event.client_order_id)

    def on_position_event(self, event: Any) -> None:
        """The position moved (after a fill): re-check the limits and the skew at once.

        Not from on_order_filled: the fill is published before the position it
        changes, so the position read there would be stale.
        """
        self._quote()

    def on_order_canceled(self, event: Any) -> None:
        """The slot is free: the replacement goes out now."""
        self._release_if_closed(event.client_order_id)
        self._quote()

    def on_order_accepted(self, event: Any) -> None:
        """A quote works again: a streak of refusals is over."""
        self.refusals_in_a_row = 0

    def on_order_rejected(self, event: Any) -> None:
        """Typically a post-only quote that would have crossed: quote again next time.
        Another reason (the venue refuses the order itself): back off."""
        self.rejections += 1
        self._release_if_closed(event.client_order_id)
        if "post" not in event.reason.lower():
            self._back_off(event.reason)

    def on_order_denied(self, event: Any) -> None:
        """The risk engine refused the quote: free the slot and back off."""
        self.rejections += 1
        self._release_if_closed(event.client_order_id)
        self._back_off(event.reason)

    def _back_off(self, reason: str) -> None:
        assert self.clock is not None
        cfg = self.mm_config
        pause = min(cfg.backoff_seconds * 2 ** self.refusals_in_a_row, cfg.max_backoff_seconds)
        if self.refusals_in_a_row == 0:
            self.log.warning("%s: quote refused (%s); quoting pauses %gs, longer while "
                             "refusals go on", self.id, reason, pause)
        self.refusals_in_a_row += 1
        self._paused_until = self.clock.timestamp_ns() + int(pause * 1e9)

    def on_order_expired(self, event: Any) -> None:
        """Free the slot."""
        self._release_if_closed(event.client_order_id)

    def on_order_modify_rejected(self, event: Any) -> None:
        """Fall back to cancel and replace for this order."""
        for order in self.slots.values():
            if order is not None and order.client_order_id == event.client_order_id:
                self._cancel(order)

    # -- quoting -----------------------------------------------------------------------------

    def _net_position(self) -> float:
        assert self.cache is not None
        positions = self.cache.positions_open(instrument_id=self.instrument_id, strategy_id=self.id)
        return sum(p.signed_qty for p in positions)

    def _quote(self) -> None:
        # Venues may answer synchronously (a cancel confirmed inside cancel_order), so a
        # handler can re-enter here; run again once at the end instead of nesting.
        if self._quoting:
            self._quote_again = True
            return
        self._quoting = True
        try:
            for _ in range(_MAX_QUOTE_PASSES):
                self._quote_again = False
                self._quote_once()
                if not self._quote_again:
                    break
        finally:
            self._quoting = False

    def _quote_once(self) -> None:
        tick = self._last_quote
        if tick is None or not self.is_running:
            return
        # Backing off after a refusal (see the module doc): no new quote, no requote;
        # a side at the position limit is still pulled.
        self._paused = bool(self._paused_until) and tick.ts_init < self._paused_until
        bid_raw = tick.bid_price.raw
        ask_raw = tick.ask_price.raw
        if tick.ask_price.precision != self._precision or bid_raw <= 0 or ask_raw <= bid_raw:
            return  # unexpected precision or a crossed/empty book: stay as we are
        mid_raw = (bid_raw + ask_raw) // 2
        step = self._tick_raw
        if self.mm_config.offset_ticks is not None:
            offset = self.mm_config.offset_ticks * step
        else:
            offset = max(step, int(mid_raw * self.mm_config.spread_bps / 10_000))
        net = self._net_position()
        skew = round(-net / self.max_position * self.mm_config.skew_ticks_at_max) * step
        # Post-only: never at or through the opposite best price.
        buy_raw = min((mid_raw - offset + skew) // step * step, ask_raw - step)
        sell_raw = max(-((-(mid_raw + offset + skew)) // step) * step, bid_raw + step)
        self._quote_side(OrderSide.BUY, buy_raw, mid_raw, allowed=net < self.max_position)
        self._quote_side(OrderSide.SELL, sell_raw, mid_raw, allowed=net > -self.max_position)

    def _quote_side(self, side: OrderSide, price_raw: int, mid_raw: int, allowed: bool) -> None:
        assert self.order_factory is not None
        order = self.slots[side]
        if order is not None and order.is_closed:
            self._awaiting.discard(order.client_order_id)
            order = self.slots[side] = None
        busy = order is not None and (order.is_inflight or order.client_order_id in self._awaiting)
        if not allowed:
            if order is not None and not busy:
                self._cancel(order)  # position limit: pull this side
            return
        if price_raw <= 0 or self._paused:
            return
        if order is None:
            new = self.order_factory.limit(
                self.instrument_id, side, self.trade_size,
                Price.from_raw(price_raw, self._precision), post_only=True,
            )
            # Slot and wait are recorded before sending: the answer may come back
            # synchronously, inside submit_order.
            self.slots[side] = new
            self.quoted_mid_raw[side] = mid_raw
            self._awaiting.add(new.client_order_id)
            if not self.submit_order(new):
                self._awaiting.discard(new.client_order_id)
                self.slots[side] = None
            elif new.is_closed:
                self._release_if_closed(new.client_order_id)
            return
        if busy:
            return  # submit, cancel or modify pending: wait for the venue's answer
        quoted = self.quoted_mid_raw[side]
        threshold = self.mm_config.requote_threshold_ticks * self._tick_raw
        if quoted is not None and abs(mid_raw - quoted) < threshold:
            return
        self.requotes += 1
        if self.mm_config.requote_mode == "modify":
            coid = order.client_order_id
            self._awaiting.add(coid)
            if self.modify_order(order, price=Price.from_raw(price_raw, self._precision)):
                self.quoted_mid_raw[side] = mid_raw
            else:
                self._awaiting.discard(coid)
        else:
            self._cancel(order)  # the replacement goes out on_order_canceled

    def _cancel(self, order: Order) -> None:
        self._awaiting.add(order.client_order_id)
        if not self.cancel_order(order):
            self._awaiting.discard(order.client_order_id)

    def _release_if_closed(self, client_order_id: Any) -> None:
        for side, order in self.slots.items():
            if order is not None and order.client_order_id == client_order_id and order.is_closed:
                self.slots[side] = None
                self.quoted_mid_raw[side] = None
                self._awaiting.discard(client_order_id)
