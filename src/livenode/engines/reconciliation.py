"""Reconciliation: align the cached orders with what the venues report.

At start (and after a restart of an execution worker) the cache may be behind the
venue: orders placed by hand or by a previous run (external), fills that happened
while the node was down, orders the venue no longer has. The reconciler asks each
execution client for its order status and fill reports and makes the cache agree,
by applying ordinary order events through the execution engine (so they reach the
order state machine, the positions, the portfolio and the strategies like any
other event). Which events, is decided by the pure rules of
`livenode.engines.reconciliation_rules` (each event they infer is tagged with the
rule and the report); this module gathers the reports, finds the orders, applies
the events and counts:

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

from livenode.engines import reconciliation_rules as rules
from livenode.engines.venue_recovery import EXTERNAL_STRATEGY_ID, OwnOrders, rebuild_positions
from livenode.model.events import (
    OrderFilled,
)
from livenode.model.identifiers import (
    ClientOrderId,
    TraderId,
)
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

#: The reason of the rejection of an order the venue does not know.
NOT_AT_VENUE = rules.NOT_AT_VENUE_REASON

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
        # Inferred fills the venue's own fills later confirmed.
        self.inferred_confirmed = 0
        self.closed_missing = 0
        self.position_mismatches = 0
        # Orders the node had rejected itself that the venue reported it has.
        self.reopened = 0
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

    async def reconcile(
        self, clients: list[LiveExecutionClient], timeout: float
    ) -> dict[str, str]:
        """Reconcile every client's venue within `timeout` in all; returns, by client
        name, why a client's venue could not be reconciled (empty: all were)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        failures: dict[str, str] = {}
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
                failures[client.name] = f"no reports within {timeout:g}s"
                _log.error("reconciliation: %s did not report within %gs", client.name, timeout)
                continue
            except Exception as exc:
                failures[client.name] = f"reports failed: {exc}"
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
                    failures[client.name] = (f"no report of {len(missing)} order(s) within "
                                             f"{timeout:g}s")
                    _log.error("reconciliation: %s did not report %d order(s) within %gs",
                               client.name, len(missing), timeout)
                    continue
                except Exception as exc:
                    failures[client.name] = f"reports of {len(missing)} order(s) failed: {exc}"
                    _log.exception("reconciliation: %s failed to report %d order(s)",
                                   client.name, len(missing))
                    continue
            if self.on_fill_reports is not None:
                self.on_fill_reports(client, fills)
            blind = self._is_blind(client.venue)
            if blind:
                self._rebuild_positions(client, fills)
            self.reconcile_venue(client.venue, client.account_id, orders, fills, positions,
                                 recover_closed=blind)
        return failures

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
        *,
        recover_closed: bool = False,
    ) -> None:
        """Make the cache agree with one venue's full set of reports.

        A closed order the venue reports and the node does not know is booked only
        with `recover_closed` (the node started blind: no database) and when it was
        filled and no fill report of it was given (so the positions rebuilt from the
        fills do not count it): its fills, inferred, are then the only record of that
        part of the position (FIX: a mass status, no fill history). Otherwise it is
        history the node has no use for."""
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
                if report.order_status not in rules.OPEN_AT_VENUE and not (
                    recover_closed and report.filled_qty.raw
                    and report.venue_order_id not in fills_by_order
                ):
                    continue
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
        report, fill_report = rules.adopted_fill_reports(fill, self._clock.timestamp_ns())
        if self._cache.order(report.client_order_id) is not None:  # type: ignore[arg-type]
            return  # this very fill was adopted already
        self.external_fills += 1
        _log.warning(
            "reconciliation: fill %s (%s %s %s @ %s) of order %s unknown to the node "
            "adopted as EXTERNAL order %s", fill.trade_id, fill.order_side.value,
            fill.last_qty, fill.instrument_id, fill.last_px, fill.client_order_id,
            report.client_order_id,
        )
        order = self._external_order(report)
        self._align(order, report, [fill_report])

    def confirms_inferred(self, order: Order, fill: OrderFilled) -> bool:
        """Whether `fill`, the venue's own, confirms a fill inferred for `order`
        (`Order.confirm_inferred`): then it is recorded on the order, not applied."""
        if not order.confirm_inferred(fill):
            return False
        self.inferred_confirmed += 1
        _log.warning(
            "reconciliation: venue fill %s (%s @ %s) of %s confirms the fill inferred for "
            "it (average price %s); recorded, not applied twice", fill.trade_id,
            fill.last_qty, fill.last_px, order.client_order_id, order.avg_px,
        )
        return True

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
        strategy_id = self._own.strategy_of(report.client_order_id)
        own = strategy_id != EXTERNAL_STRATEGY_ID
        order = Order(rules.external_order(report, trader_id, strategy_id, own,
                                           self._clock.timestamp_ns()))
        self._cache.add_order(order)
        self._engine.persist_new_order(order)
        if own:
            self.recovered_orders += 1
            _log.warning("reconciliation: order %s of %s (venue order %s) recovered from the "
                         "venue", order.client_order_id, strategy_id, report.venue_order_id)
        else:
            self.external_orders += 1
            _log.warning(
                "reconciliation: external order %s (venue order %s) added",
                order.client_order_id, report.venue_order_id,
            )
        return order

    def align(self, order: Order, report: OrderStatusReport, fills: list[FillReport]) -> None:
        """Bring one order to the state the venue reports, with its fills (each once)."""
        self._align(order, report, fills)

    def _align(self, order: Order, report: OrderStatusReport, fills: list[FillReport]) -> None:
        instrument = self._cache.instrument(order.instrument_id)
        last_rejection = order.last_rejection
        for event in rules.align(order, report, fills, self._clock.timestamp_ns(), instrument):
            if not self._engine.apply_event(order, event) or event.inferred is None:
                continue
            if event.inferred.rule == rules.REOPENED:
                self.reopened += 1
                _log.warning("reconciliation: %s, rejected by the node (%s), is %s at the "
                             "venue: reopened", order.client_order_id, last_rejection,
                             report.order_status.value)
            elif event.inferred.rule == rules.FILL_NOT_REPORTED:
                self.inferred_fills += 1
        if report.filled_qty > order.filled_qty:
            _log.error(
                "reconciliation: %s filled %s at the venue, %s here; no fill inferred (%s)",
                order.client_order_id, report.filled_qty, order.filled_qty,
                f"instrument {order.instrument_id} unknown" if instrument is None
                else "no price in the report",
            )

    def _apply_fills(self, order: Order, fills: list[FillReport]) -> None:
        for event in rules.venue_fills(order, fills, self._clock.timestamp_ns()):
            self._engine.apply_event(order, event)

    def close_missing(self, order: Order, account_id: AccountId) -> None:
        """Close an order the venue does not know: rejected if never accepted, else
        canceled (logged with the reason)."""
        self._close_missing(order, account_id)

    def _close_missing(self, order: Order, account_id: AccountId) -> None:
        self.closed_missing += 1
        _log.warning("reconciliation: %s (%s) is not open at the venue: closed",
                     order.client_order_id, order.status.value)
        for event in rules.close_missing(order, account_id, self._clock.timestamp_ns()):
            self._engine.apply_event(order, event)

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
        iid = report.instrument_id
        reason = rules.position_difference(cached, report)
        if reason is not None:
            if self.mismatched.get(iid) != reason:
                self.position_mismatches += 1
                _log.error("reconciliation: %s %s; new orders for it are denied until "
                           "they agree", iid, reason)
            self.mismatched[iid] = reason
        elif self.mismatched.pop(iid, None) is not None:
            _log.warning("reconciliation: %s position agrees with the venue again (%s); "
                         "orders for it resume", iid, cached)
