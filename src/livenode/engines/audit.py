"""The audit of the node's books against the venue: the venue is the truth.

At every stop (after the in-flight orders settled, before the clients disconnect),
after every reconciliation and on demand (``livenode audit``), the execution
engine asks each venue for what it can report and compares it with its own books:

- **orders**: every order the venue reports open is open in the node with the same
  quantity, filled quantity and price, and every order the node holds open or in
  flight at that venue is open there;
- **positions**: the net quantity per instrument (over every strategy, EXTERNAL
  included: a venue nets an account) equals the venue's;
- **balances**: total and locked per currency equal the venue's account;
- **fills**: every fill the venue reports that it did not report when the node
  started is known to the node by its trade id.

A venue that cannot report one of these says so (`LiveExecutionClient.audit_scope`)
and the audit names what it did not check. A difference is a `BookDifference` that
says what each side holds, with amounts; the stop is then not clean and the run
exits 1. The comparison (`compare_books`) is a pure function of two snapshots,
`NodeBooks` (read from the cache) and `VenueBooks` (the venue's reports), so each
rule is tested without sockets. `livenode.engines.auditor` reads both sides and asks
the venues.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from livenode.engines.reconciliation_rules import OPEN_AT_VENUE
from livenode.model.audit import (
    AUDIT_SCOPES,
    BookDifference,
    VenueAudit,
    books_match,
    decode_audits,
    encode_audits,
    verdict_text,
    verdicts_to_builtins,
)
from livenode.model.enums import PositionSide

if TYPE_CHECKING:
    from livenode.model.objects import AccountBalance
    from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport

__all__ = [
    "AUDIT_SCOPES",
    "BookDifference",
    "NodeBooks",
    "NodeOrder",
    "VenueAudit",
    "VenueBooks",
    "books_match",
    "compare_books",
    "decode_audits",
    "encode_audits",
    "verdict_text",
    "verdicts_to_builtins",
]

_OPEN_AT_VENUE = OPEN_AT_VENUE


class NodeOrder(msgspec.Struct, frozen=True, kw_only=True):
    """The node's view of one order, as the audit compares it."""

    client_order_id: str
    venue_order_id: str | None
    status: str
    side: str
    quantity: Decimal
    filled_qty: Decimal
    price: Decimal | None

    def describe(self) -> str:
        """``STATUS SIDE filled/quantity @ price``."""
        px = "" if self.price is None else f" @ {self.price}"
        return f"{self.status} {self.side} {self.filled_qty}/{self.quantity}{px}"


class VenueBooks(msgspec.Struct, frozen=True, kw_only=True):
    """What the venue reported; None for what it cannot report."""

    open_orders: list[OrderStatusReport] | None = None
    positions: list[PositionStatusReport] | None = None
    balances: list[AccountBalance] | None = None
    fills: list[FillReport] | None = None


class NodeBooks(msgspec.Struct, frozen=True, kw_only=True):
    """The node's books for one venue, read at one moment.

    ``open_orders``: the orders the node holds open or in flight at the venue.
    ``orders_named``: the node's view of every other order a venue report names
    (None: the node does not know it). ``positions``: net quantity per instrument.
    ``balances``: (total, locked) per currency. ``known_trade_ids``: the trade ids,
    among those the venue reported, the node has applied. ``baseline_trade_ids``:
    the venue's fills when the node started (not audited).
    """

    open_orders: list[NodeOrder] = []
    orders_named: dict[str, NodeOrder | None] = {}
    positions: dict[str, Decimal] = {}
    balances: dict[str, tuple[Decimal, Decimal]] | None = None
    known_trade_ids: frozenset[str] = frozenset()
    baseline_trade_ids: frozenset[str] = frozenset()


def compare_books(node: NodeBooks, venue: VenueBooks) -> list[BookDifference]:
    """Every difference between the node's books and the venue's reports (pure)."""
    out: list[BookDifference] = []
    if venue.open_orders is not None:
        out.extend(_compare_orders(node, venue.open_orders))
    if venue.positions is not None:
        out.extend(_compare_positions(node.positions, venue.positions))
    if venue.balances is not None:
        out.extend(_compare_balances(node.balances, venue.balances))
    if venue.fills is not None:
        out.extend(_compare_fills(node, venue.fills))
    return out


def report_key(report: OrderStatusReport) -> str:
    return str(report.client_order_id or f"venue order {report.venue_order_id}")


def _describe_report(report: OrderStatusReport) -> str:
    px = "" if report.price is None else f" @ {report.price.as_decimal()}"
    return (f"{report.order_status.value} {report.order_side.value} "
            f"{report.filled_qty.as_decimal()}/{report.quantity.as_decimal()}{px}")


def _compare_orders(node: NodeBooks, reports: list[OrderStatusReport]) -> list[BookDifference]:
    out: list[BookDifference] = []
    by_coid = {o.client_order_id: o for o in node.open_orders}
    by_vid = {o.venue_order_id: o for o in node.open_orders if o.venue_order_id is not None}
    matched: set[str] = set()
    for report in reports:
        if report.order_status not in _OPEN_AT_VENUE:
            continue
        key = report_key(report)
        mine = (by_coid.get(str(report.client_order_id)) if report.client_order_id else None) \
            or by_vid.get(str(report.venue_order_id))
        if mine is None:
            other = node.orders_named.get(key)
            held = "none (unknown order)" if other is None else other.describe()
            out.append(BookDifference(kind="order", key=key, node=held,
                                      venue=_describe_report(report)))
            continue
        matched.add(mine.client_order_id)
        price = None if report.price is None else report.price.as_decimal()
        if (mine.quantity != report.quantity.as_decimal()
                or mine.filled_qty != report.filled_qty.as_decimal()
                or (price is not None and mine.price is not None and mine.price != price)):
            out.append(BookDifference(kind="order", key=key, node=mine.describe(),
                                      venue=_describe_report(report)))
    for mine in node.open_orders:
        if mine.client_order_id not in matched:
            out.append(BookDifference(kind="order", key=mine.client_order_id,
                                      node=mine.describe(), venue="not open"))
    return out


def _venue_net(report: PositionStatusReport) -> Decimal:
    qty = report.quantity.as_decimal()
    return -qty if report.position_side is PositionSide.SHORT else qty


def _compare_positions(
    node: dict[str, Decimal], reports: list[PositionStatusReport]
) -> list[BookDifference]:
    venue: dict[str, Decimal] = {}
    for report in reports:
        key = str(report.instrument_id)
        venue[key] = venue.get(key, Decimal(0)) + _venue_net(report)
    out: list[BookDifference] = []
    for key in sorted({*node, *venue}):
        mine, theirs = node.get(key, Decimal(0)), venue.get(key, Decimal(0))
        if mine != theirs:
            out.append(BookDifference(kind="position", key=key, node=_signed(mine),
                                      venue=_signed(theirs)))
    return out


def _compare_balances(
    node: dict[str, tuple[Decimal, Decimal]] | None, balances: list[AccountBalance]
) -> list[BookDifference]:
    if node is None:
        if not balances:
            return []
        return [BookDifference(kind="balance", key="account", node="none (no account state)",
                               venue=", ".join(f"{b.total.as_decimal()} "
                                               f"{b.total.currency.code}" for b in balances))]
    venue = {b.total.currency.code: (b.total.as_decimal(), b.locked.as_decimal())
             for b in balances}
    out: list[BookDifference] = []
    for code in sorted({*node, *venue}):
        mine = node.get(code, (Decimal(0), Decimal(0)))
        theirs = venue.get(code, (Decimal(0), Decimal(0)))
        if mine != theirs:
            out.append(BookDifference(
                kind="balance", key=code,
                node=f"total {mine[0]} locked {mine[1]}",
                venue=f"total {theirs[0]} locked {theirs[1]}",
            ))
    return out


def _compare_fills(node: NodeBooks, fills: list[FillReport]) -> list[BookDifference]:
    out: list[BookDifference] = []
    for fill in fills:
        tid = str(fill.trade_id)
        if tid in node.baseline_trade_ids or tid in node.known_trade_ids:
            continue
        order = fill.client_order_id or f"venue order {fill.venue_order_id}"
        out.append(BookDifference(
            kind="fill", key=tid, node="none (not applied)",
            venue=(f"{fill.order_side.value} {fill.last_qty.as_decimal()} "
                   f"{fill.instrument_id} @ {fill.last_px.as_decimal()} (order {order})"),
        ))
    return out


def _signed(value: Decimal) -> str:
    return f"{value:+f}" if value else "0 (flat)"
