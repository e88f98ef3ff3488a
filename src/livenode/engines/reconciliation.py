"""Reconciliation: align the cached orders with what the venues report.

At start (and after a restart of an execution worker) the cache may be behind the
venue: orders placed by hand or by a previous run (external), fills that happened
while the node was down, orders the venue no longer has. The reconciler asks each
execution client for its order status and fill reports and makes the cache agree,
by applying ordinary order events through the execution engine (so they reach the
order state machine, the positions, the portfolio and the strategies like any
other event):

- an order the venue reports and the cache does not know is created and brought to
  the reported state: as its strategy's (tag `RECOVERED`) when one of this node's
  strategies made its id (a restart without a database), else as strategy
  `EXTERNAL` (tag `EXTERNAL`); without a database the positions are first rebuilt
  from the venue's fills (`venue_recovery`);
- an order the node rejected itself (a timeout, `Order.rejected_locally`) that the
  venue reports is reopened with the venue's state;
- a cached order is moved to the reported state: acceptance, missing fills (from
  the fill reports, else one inferred fill for the missing quantity), updates,
  cancel/expiry/rejection;
- a cached open or in-flight order the venue does not report as open is given its
  reported fills, then closed: rejected if the venue never accepted it, canceled
  otherwise, with the reason logged;
- a fill the venue reports live for an order the node does not know (placed by
  another session on the same account) is adopted as an EXTERNAL order of that
  one fill, so positions and balances stay in step with the venue (`adopt_fill`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from livenode.core.uuid import new_id
from livenode.engines.inferred_fills import InferredFills
from livenode.engines.venue_recovery import EXTERNAL_STRATEGY_ID, OwnOrders, rebuild_positions
from livenode.model.enums import LiquiditySide, OrderStatus, OrderType, TimeInForce
from livenode.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)
from livenode.model.identifiers import (
    ClientOrderId,
    TradeId,
    TraderId,
)
from livenode.model.objects import Money
from livenode.model.orders import Order
from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport

if TYPE_CHECKING:
    from livenode.cache.cache import Cache
    from livenode.core.clock import Clock
    from livenode.engines.clients import LiveExecutionClient
    from livenode.engines.execution_engine import ExecutionEngine
    from livenode.model.identifiers import AccountId, InstrumentId, Venue, VenueOrderId

__all__ = ["EXTERNAL_STRATEGY_ID", "NOT_AT_VENUE", "Reconciler"]

_log = logging.getLogger("livenode.engines.reconciliation")

NOT_AT_VENUE = "RECONCILIATION: the venue does not know the order"

_OPEN_AT_VENUE = (
    OrderStatus.ACCEPTED,
    OrderStatus.TRIGGERED,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.PENDING_UPDATE,
    OrderStatus.PENDING_CANCEL,
)


class Reconciler:
    """Applies venue reports to the cache through the execution engine.

    Args:
        engine: has `apply_event(order, event) -> bool`, `_msgbus`, `_config`.
        cache: the node's cache.
        clock: stamps the events made here.

    Counters: `external_orders`, `external_fills`, `inferred_fills`,
    `closed_missing`, `position_mismatches`, `reopened`.
    """

    def __init__(self, engine: ExecutionEngine, cache: Cache, clock: Clock) -> None:
        self._engine = engine
        self._cache = cache
        self._clock = clock
        self.external_orders = 0
        self.external_fills = 0
        self.inferred_fills = 0
        self.closed_missing = 0
        self.position_mismatches = 0
        # Orders the node had rejected itself that the venue reported it has.
        self.reopened = 0
        # Fills inferred here that the venue's own fills may still confirm.
        self.inferred = InferredFills()
        # Told every venue's fill reports as reconciliation gets them (the audit's
        # baseline at start: one request for both).
        self.on_fill_reports: Callable[[LiveExecutionClient, list[FillReport]], None] | None = None
        # This node's strategy ids: an order the venue reports under an id one of them
        # made (`OrderFactory`: "O-{run stamp}-{strategy id}-{n}") is that strategy's,
        # not EXTERNAL (a restart without a database recovers it from the venue).
        self._own = OwnOrders()
        self.recovered_orders = 0
        self.rebuilt_positions = 0
        # Instruments whose position the venue reports differently from the cache,
        # with the amounts: trading them is halted (fail-closed) until they agree.
        self.mismatched: dict[InstrumentId, str] = {}

    def use_strategies(self, strategy_ids: frozenset[str]) -> None:
        """The node's strategy ids (see `venue_recovery.OwnOrders`)."""
        self._own = OwnOrders(strategy_ids)

    # -- entry points -----------------------------------------------------------------------

    async def reconcile(self, clients: list[LiveExecutionClient], timeout: float) -> bool:
        """Reconcile every client's venue; False if a client failed or ran out of time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        ok = True
        for client in clients:
            remaining = max(0.0, deadline - loop.time())
            try:
                orders, fills, positions = await asyncio.wait_for(
                    asyncio.gather(
                        client.generate_order_status_reports(),
                        client.generate_fill_reports(),
                        client.generate_position_status_reports(),
                    ),
                    remaining,
                )
            except TimeoutError:
                ok = False
                _log.error("reconciliation: %s did not report within %.1fs", client.name, timeout)
                continue
            except Exception:
                ok = False
                _log.exception("reconciliation: %s failed to report", client.name)
                continue
            # Orders the node holds open or in flight that the venue does not report
            # open closed while the node was not looking (a fill, a cancel, a reject
            # whose event was lost with a killed process): ask for their final state.
            missing = self._unreported(client.venue, orders)
            if missing:
                try:
                    orders = orders + await asyncio.wait_for(
                        client.generate_order_status_reports_for(missing),
                        max(0.0, deadline - loop.time()),
                    )
                except TimeoutError:
                    ok = False
                    _log.error("reconciliation: %s did not report %d order(s) within %.1fs",
                               client.name, len(missing), timeout)
                    continue
                except Exception:
                    ok = False
                    _log.exception("reconciliation: %s failed to report %d order(s)",
                                   client.name, len(missing))
                    continue
            if self.on_fill_reports is not None:
                self.on_fill_reports(client, fills)
            if self._is_blind(client.venue):
                self._rebuild_positions(client, fills)
            self.reconcile_venue(client.venue, client.account_id, orders, fills, positions)
        return ok

    def _is_blind(self, venue: Venue) -> bool:
        """Nothing of `venue` in the cache and no database to load it from: a node (or
        exec worker) started without a cache database after trading on that venue."""
        return (self._engine._database is None and not self._cache.orders(venue=venue)
                and not self._cache.positions(venue=venue))

    def _rebuild_positions(self, client: LiveExecutionClient, fills: list[FillReport]) -> None:
        """Without a database: the positions from the venue's fills (`venue_recovery`)."""
        trader_id = self._engine._msgbus.trader_id
        if not isinstance(trader_id, TraderId):
            trader_id = TraderId(str(trader_id))
        rebuilt = rebuild_positions(self._cache, client, fills, self._own, trader_id,
                                    self._clock.timestamp_ns())
        if rebuilt:
            self.rebuilt_positions += len(rebuilt)
            _log.warning(
                "reconciliation: no cache database: %d position(s) at %s rebuilt from the "
                "venue's %d fill(s): %s", len(rebuilt), client.venue, len(fills),
                ", ".join(f"{p.strategy_id} {p.instrument_id} {p.signed_qty:+g}"
                          for p in self._cache.positions(venue=client.venue)),
            )

    def _unreported(self, venue: Venue, reports: list[OrderStatusReport]) -> list[ClientOrderId]:
        """Cached open or in-flight orders at ``venue`` that no report names."""
        named = {r.client_order_id for r in reports if r.client_order_id is not None}
        named_venue = {r.venue_order_id for r in reports}
        return [
            order.client_order_id
            for order in self._cache.orders_open(venue=venue)
            + self._cache.orders_inflight(venue=venue)
            if order.client_order_id not in named and order.venue_order_id not in named_venue
        ]

    def reconcile_venue(
        self,
        venue: Venue,
        account_id: AccountId,
        order_reports: list[OrderStatusReport],
        fill_reports: list[FillReport],
        position_reports: list[PositionStatusReport] | None = None,
    ) -> None:
        """Make the cache agree with one venue's full set of reports."""
        fills_by_order: dict[VenueOrderId, list[FillReport]] = {}
        # An order whose acceptance was lost has no venue order id here yet.
        fills_by_client_id: dict[ClientOrderId, list[FillReport]] = {}
        for fill in sorted(fill_reports, key=lambda f: f.ts_event):
            fills_by_order.setdefault(fill.venue_order_id, []).append(fill)
            if fill.client_order_id is not None:
                fills_by_client_id.setdefault(fill.client_order_id, []).append(fill)
        reported: set[ClientOrderId] = set()
        for report in order_reports:
            order = self._order_for(report.client_order_id, report.venue_order_id)
            if order is None:
                order = self._external_order(report)
            reported.add(order.client_order_id)
            self._align(order, report, fills_by_order.get(report.venue_order_id, []))
        # Cached orders the venue does not report as open.
        for order in self._cache.orders_open(venue=venue) + self._cache.orders_inflight(
            venue=venue
        ):
            if order.client_order_id in reported or order.is_closed:
                continue
            reported.add(order.client_order_id)
            vid = order.venue_order_id
            own = (fills_by_order.get(vid, []) if vid is not None
                   else fills_by_client_id.get(order.client_order_id, []))
            self._apply_fills(order, own)
            if not order.is_closed:
                self._close_missing(order, account_id)
        if position_reports and not self._engine._config.filter_position_reports:
            for position_report in position_reports:
                self._check_position(position_report)

    def handle_report(self, report: Any) -> None:
        """One unsolicited report (from `ExecEngine.process`): align just what it says."""
        if type(report) is OrderStatusReport:
            order = self._order_for(report.client_order_id, report.venue_order_id)
            if order is None:
                order = self._external_order(report)
            self._align(order, report, [])
        elif type(report) is FillReport:
            order = self._order_for(report.client_order_id, report.venue_order_id)
            if order is None:
                _log.warning("reconciliation: fill %s of unknown order ignored", report.trade_id)
                return
            self._apply_fills(order, [report])
        elif (
            type(report) is PositionStatusReport
            and not self._engine._config.filter_position_reports
        ):
            self._check_position(report)

    def adopt_fill(self, fill: OrderFilled) -> None:
        """A live fill of an order the node does not know: adopt it as an EXTERNAL
        order of exactly this fill (filled at once), so the position (strategy
        EXTERNAL) and the account follow what the venue did. Logged as a warning."""
        coid = ClientOrderId(f"EXT-{fill.venue_order_id}-{fill.trade_id}")
        if self._cache.order(coid) is not None:
            return  # this very fill was adopted already
        report = OrderStatusReport(
            account_id=fill.account_id,
            instrument_id=fill.instrument_id,
            client_order_id=coid,
            venue_order_id=fill.venue_order_id,
            order_side=fill.order_side,
            # Its real type and price are the other session's; the fill is what is known.
            order_type=OrderType.MARKET,
            time_in_force=TimeInForce.GTC,
            order_status=OrderStatus.FILLED,
            quantity=fill.last_qty,
            filled_qty=fill.last_qty,
            report_id=new_id(),
            ts_accepted=fill.ts_event,
            ts_last=fill.ts_event,
            ts_init=self._clock.timestamp_ns(),
        )
        fill_report = FillReport(
            account_id=fill.account_id,
            instrument_id=fill.instrument_id,
            venue_order_id=fill.venue_order_id,
            client_order_id=coid,
            trade_id=fill.trade_id,
            order_side=fill.order_side,
            last_qty=fill.last_qty,
            last_px=fill.last_px,
            commission=fill.commission,
            liquidity_side=fill.liquidity_side,
            report_id=new_id(),
            ts_event=fill.ts_event,
            ts_init=fill.ts_init,
        )
        self.external_fills += 1
        _log.warning(
            "reconciliation: fill %s (%s %s %s @ %s) of order %s unknown to the node "
            "adopted as EXTERNAL order %s", fill.trade_id, fill.order_side.value,
            fill.last_qty, fill.instrument_id, fill.last_px, fill.client_order_id, coid,
        )
        order = self._external_order(report)
        self._align(order, report, [fill_report])

    def confirms_inferred(self, order: Order, fill: OrderFilled) -> bool:
        """Whether `fill` confirms a fill inferred for `order` (`InferredFills`)."""
        return self.inferred.confirms(order, fill)

    # -- orders -----------------------------------------------------------------------------

    def _order_for(
        self, client_order_id: ClientOrderId | None, venue_order_id: VenueOrderId
    ) -> Order | None:
        if client_order_id is not None:
            order = self._cache.order(client_order_id)
            if order is not None:
                return order
        coid = self._cache.client_order_id(venue_order_id)
        return None if coid is None else self._cache.order(coid)

    def _external_order(self, report: OrderStatusReport) -> Order:
        trader_id = self._engine._msgbus.trader_id
        if not isinstance(trader_id, TraderId):
            trader_id = TraderId(str(trader_id))
        coid = report.client_order_id or ClientOrderId(f"EXT-{report.venue_order_id}")
        strategy_id = self._own.strategy_of(report.client_order_id)
        own = strategy_id != EXTERNAL_STRATEGY_ID
        init = OrderInitialized(
            trader_id=trader_id,
            strategy_id=strategy_id,
            instrument_id=report.instrument_id,
            client_order_id=coid,
            side=report.order_side,
            order_type=report.order_type,
            quantity=report.quantity,
            price=report.price,
            trigger_price=report.trigger_price,
            time_in_force=report.time_in_force,
            expire_time_ns=report.expire_time_ns,
            post_only=report.post_only,
            reduce_only=report.reduce_only,
            tags=("RECOVERED",) if own else ("EXTERNAL",),
            event_id=new_id(),
            ts_event=report.ts_accepted,
            ts_init=self._clock.timestamp_ns(),
        )
        order = Order(init)
        self._cache.add_order(order)
        self._engine.persist_new_order(order)
        if own:
            self.recovered_orders += 1
            _log.warning("reconciliation: order %s of %s (venue order %s) recovered from the "
                         "venue", coid, strategy_id, report.venue_order_id)
        else:
            self.external_orders += 1
            _log.warning(
                "reconciliation: external order %s (venue order %s) added as %s",
                coid, report.venue_order_id, order.status.value,
            )
        return order

    def align(self, order: Order, report: OrderStatusReport, fills: list[FillReport]) -> None:
        """Bring one order to the state the venue reports, with its fills (each once)."""
        self._align(order, report, fills)

    def _align(self, order: Order, report: OrderStatusReport, fills: list[FillReport]) -> None:
        account_id = report.account_id
        status = report.order_status
        if order.status is OrderStatus.INITIALIZED:
            self._apply(order, OrderSubmitted, account_id=account_id)
        if status is OrderStatus.REJECTED:
            if not order.is_closed:
                reason = report.cancel_reason or "rejected by the venue"
                self._apply(order, OrderRejected, account_id=account_id, reason=reason)
            return
        if order.status is OrderStatus.SUBMITTED or order.rejected_locally:
            # A lost acknowledgement, or an order the node rejected itself (a timeout)
            # that the venue has: the venue's word reopens it.
            if order.rejected_locally:
                self.reopened += 1
                _log.warning("reconciliation: %s, rejected by the node (%s), is %s at the "
                             "venue: reopened", order.client_order_id,
                             order.last_rejection, status.value)
            self._apply(
                order, OrderAccepted, venue_order_id=report.venue_order_id, account_id=account_id
            )
        if status is OrderStatus.TRIGGERED and order.status is OrderStatus.ACCEPTED:
            self._apply(order, OrderTriggered)
        if order.is_open and (
            report.quantity != order.quantity
            or report.price != order.price
            or report.trigger_price != order.trigger_price
        ) and report.quantity >= report.filled_qty:
            self._apply(
                order, OrderUpdated, quantity=report.quantity, price=report.price,
                trigger_price=report.trigger_price,
            )
        self._apply_fills(order, fills)
        if report.filled_qty > order.filled_qty:
            self._infer_fill(order, report)
        if order.is_closed:
            return
        if status is OrderStatus.CANCELED:
            self._apply(order, OrderCanceled)
        elif status is OrderStatus.EXPIRED:
            self._apply(order, OrderExpired)

    def _apply_fills(self, order: Order, fills: list[FillReport]) -> None:
        known = order.trade_ids
        for fill in fills:
            if fill.trade_id in known:
                continue
            self._apply(
                order,
                OrderFilled,
                venue_order_id=fill.venue_order_id,
                account_id=fill.account_id,
                trade_id=fill.trade_id,
                order_side=order.side,
                order_type=order.order_type,
                last_qty=fill.last_qty,
                last_px=fill.last_px,
                currency=fill.commission.currency,
                commission=fill.commission,
                liquidity_side=fill.liquidity_side,
                ts_event=fill.ts_event,
            )

    def _infer_fill(self, order: Order, report: OrderStatusReport) -> None:
        """One fill for the quantity the venue filled and no fill report explains."""
        instrument = self._cache.instrument(order.instrument_id)
        if instrument is None:
            _log.error(
                "reconciliation: %s filled %s at the venue, %s here; instrument %s unknown, "
                "fill not inferred", order.client_order_id, report.filled_qty,
                order.filled_qty, order.instrument_id,
            )
            return
        missing = report.filled_qty - order.filled_qty
        px = _missing_fill_price(order, report)
        if px is None:
            _log.error("reconciliation: no price to infer the fill of %s", order.client_order_id)
            return
        last_px = instrument.make_price(px)
        self.inferred_fills += 1
        currency = instrument.quote_currency
        applied = self._apply(
            order,
            OrderFilled,
            venue_order_id=report.venue_order_id,
            account_id=report.account_id,
            trade_id=TradeId(f"RECON-{report.venue_order_id}-{report.filled_qty}"),
            order_side=order.side,
            order_type=order.order_type,
            last_qty=missing,
            last_px=last_px,
            currency=currency,
            commission=Money.zero(currency),
            liquidity_side=LiquiditySide.TAKER,
            ts_event=report.ts_last,
        )
        if applied:
            # The venue's own fills for this quantity may still arrive: they confirm it.
            self.inferred.inferred(order, missing)

    def close_missing(self, order: Order, account_id: AccountId) -> None:
        """Close an order the venue does not know: rejected if never accepted, else
        canceled (logged with the reason)."""
        self._close_missing(order, account_id)

    def _close_missing(self, order: Order, account_id: AccountId) -> None:
        self.closed_missing += 1
        if order.status in (OrderStatus.SUBMITTED, OrderStatus.INITIALIZED):
            _log.warning("reconciliation: %s rejected: %s", order.client_order_id, NOT_AT_VENUE)
            self._apply(order, OrderRejected, account_id=account_id, reason=NOT_AT_VENUE)
        else:
            _log.warning(
                "reconciliation: %s (%s) canceled: not open at the venue",
                order.client_order_id, order.status.value,
            )
            self._apply(order, OrderCanceled)

    def _apply(self, order: Order, cls: type, ts_event: int | None = None, **fields: Any) -> bool:
        now = self._clock.timestamp_ns()
        event = cls(
            trader_id=order.init_event.trader_id,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            event_id=new_id(),
            ts_event=now if ts_event is None else ts_event,
            ts_init=now,
            **fields,
        )
        return self._engine.apply_event(order, event)

    # -- positions --------------------------------------------------------------------------

    def recheck_position(self, report: PositionStatusReport) -> None:
        """Compare one venue position report with the cache (see `mismatched`)."""
        self._check_position(report)

    def _check_position(self, report: PositionStatusReport) -> None:
        # Positions follow from fills, so a mismatch is reported, not patched:
        # the operator decides (the venue may net several strategies).
        cached = Decimal(0)
        for position in self._cache.positions_open(instrument_id=report.instrument_id):
            qty = position.quantity.as_decimal()
            cached += qty if position.signed_qty >= 0 else -qty
        venue_qty = report.quantity.as_decimal()
        if report.position_side.value == "SHORT":
            venue_qty = -venue_qty
        iid = report.instrument_id
        if venue_qty != cached:
            reason = f"position at the venue {venue_qty}, in the cache {cached}"
            if self.mismatched.get(iid) != reason:
                self.position_mismatches += 1
                _log.error("reconciliation: %s %s; new orders for it are denied until "
                           "they agree", iid, reason)
            self.mismatched[iid] = reason
        elif self.mismatched.pop(iid, None) is not None:
            _log.warning("reconciliation: %s position agrees with the venue again (%s); "
                         "orders for it resume", iid, venue_qty)


def _missing_fill_price(order: Order, report: OrderStatusReport) -> Decimal | None:
    """The average price of the part of the fill the cache has not seen."""
    if report.avg_px is None:
        return report.price.as_decimal() if report.price is not None else None
    total = report.filled_qty.as_decimal() * Decimal(repr(report.avg_px))
    seen = order.filled_qty.as_decimal()
    if seen and order.avg_px is not None:
        total -= seen * Decimal(repr(order.avg_px))
    missing = report.filled_qty.as_decimal() - seen
    return total / missing if missing else None

