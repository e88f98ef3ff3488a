"""The handlers a strategy overrides; every default does nothing.

Kept apart from `Strategy` so the user-facing surface reads in one place. The
strategy calls these only through its guard (see `Strategy`), which stamps the
triggering event's `ts_init` on the commands created inside and turns an
exception into a FAULTED strategy instead of a crashed node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livenode.model.data import Bar, QuoteTick, TradeTick
    from livenode.model.events import (
        OrderAccepted,
        OrderCanceled,
        OrderCancelRejected,
        OrderDenied,
        OrderExpired,
        OrderFilled,
        OrderInitialized,
        OrderModifyRejected,
        OrderPendingCancel,
        OrderPendingUpdate,
        OrderRejected,
        OrderSubmitted,
        OrderTriggered,
        OrderUpdated,
        PositionChanged,
        PositionClosed,
        PositionOpened,
    )


class StrategyHandlers:
    """No-op defaults of every handler a `Strategy` dispatches to."""

    # -- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        """Called once when the strategy starts: subscribe to data, set timers here."""

    def on_stop(self) -> None:
        """Called when the strategy stops, before managed cancel/flatten (if configured)."""

    def on_resume(self) -> None:
        """Called when a stopped strategy is started again; re-subscribe here."""

    def on_reset(self) -> None:
        """Called on reset: clear indicators and state kept between runs."""

    def on_dispose(self) -> None:
        """Called on dispose: release resources."""

    # -- market data ----------------------------------------------------------------------

    def on_quote_tick(self, tick: QuoteTick) -> None:
        """A quote of a subscribed instrument."""

    def on_trade_tick(self, tick: TradeTick) -> None:
        """A trade of a subscribed instrument."""

    def on_bar(self, bar: Bar) -> None:
        """A bar of a subscribed bar type."""

    # -- orders (on_order_event first, then the specific one) -----------------------------

    def on_order_event(self, event: Any) -> None:
        """Every order event of this strategy, before its specific handler."""

    def on_order_initialized(self, event: OrderInitialized) -> None:
        """An order was initialized."""

    def on_order_denied(self, event: OrderDenied) -> None:
        """The risk engine refused an order before it reached the venue."""

    def on_order_submitted(self, event: OrderSubmitted) -> None:
        """An order was sent to the venue."""

    def on_order_accepted(self, event: OrderAccepted) -> None:
        """The venue accepted an order."""

    def on_order_rejected(self, event: OrderRejected) -> None:
        """The venue rejected an order (e.g. a post-only order that would cross)."""

    def on_order_pending_update(self, event: OrderPendingUpdate) -> None:
        """A modify request is in flight."""

    def on_order_pending_cancel(self, event: OrderPendingCancel) -> None:
        """A cancel request is in flight."""

    def on_order_modify_rejected(self, event: OrderModifyRejected) -> None:
        """The venue refused a modify."""

    def on_order_cancel_rejected(self, event: OrderCancelRejected) -> None:
        """The venue refused a cancel (often: the order already filled)."""

    def on_order_updated(self, event: OrderUpdated) -> None:
        """An order's quantity or prices changed."""

    def on_order_triggered(self, event: OrderTriggered) -> None:
        """A stop order's trigger price was reached."""

    def on_order_filled(self, event: OrderFilled) -> None:
        """An order filled, fully or partly."""

    def on_order_canceled(self, event: OrderCanceled) -> None:
        """An order was canceled."""

    def on_order_expired(self, event: OrderExpired) -> None:
        """An order expired (time in force)."""

    # -- positions (on_position_event first, then the specific one) -----------------------

    def on_position_event(self, event: Any) -> None:
        """Every position event of this strategy, before its specific handler."""

    def on_position_opened(self, event: PositionOpened) -> None:
        """A position opened (from flat)."""

    def on_position_changed(self, event: PositionChanged) -> None:
        """A position's quantity or side changed."""

    def on_position_closed(self, event: PositionClosed) -> None:
        """A position went flat."""
