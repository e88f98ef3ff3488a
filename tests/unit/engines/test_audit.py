"""The audit of the books against the venue: each rule of `compare_books` on its own
(no sockets), then `ExecutionEngine.audit` over a venue's canned reports."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from livenode.config import ExecEngineConfig
from livenode.core.uuid import new_id
from livenode.engines.audit import (
    BookDifference,
    NodeBooks,
    NodeOrder,
    VenueBooks,
    compare_books,
)
from livenode.engines.auditor import TradeLedger
from livenode.engines.execution_engine import ExecutionEngine
from livenode.model.enums import (
    LiquiditySide,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
)
from livenode.model.identifiers import ClientOrderId, TradeId, VenueOrderId
from livenode.model.objects import AccountBalance, Money, Price, Quantity
from livenode.model.orders import Order
from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport

from .helpers import (
    ACCOUNT,
    BTC,
    IID,
    T0,
    USDT,
    RecordingExecClient,
    accepted,
    account_state,
    filled,
    make_env,
    make_instrument,
    order_init,
    submitted,
)


def open_report(coid: str | None, vid: str, qty: str = "2.000", filled_qty: str = "0.000",
                price: str = "100.00",
                status: OrderStatus = OrderStatus.ACCEPTED) -> OrderStatusReport:
    return OrderStatusReport(
        account_id=ACCOUNT, instrument_id=IID,
        client_order_id=ClientOrderId(coid) if coid else None,
        venue_order_id=VenueOrderId(vid), order_side=OrderSide.BUY, order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC, order_status=status, quantity=Quantity.from_str(qty),
        filled_qty=Quantity.from_str(filled_qty), price=Price.from_str(price),
        report_id=new_id(), ts_accepted=T0, ts_last=T0, ts_init=T0,
    )


def node_order(coid: str, vid: str | None = "V-1", qty: str = "2.000", filled_qty: str = "0",
               status: str = "ACCEPTED", price: str | None = "100.00") -> NodeOrder:
    return NodeOrder(client_order_id=coid, venue_order_id=vid, status=status, side="BUY",
                     quantity=Decimal(qty), filled_qty=Decimal(filled_qty),
                     price=None if price is None else Decimal(price))


def position(qty: str, side: PositionSide = PositionSide.LONG) -> PositionStatusReport:
    return PositionStatusReport(account_id=ACCOUNT, instrument_id=IID, position_side=side,
                                quantity=Quantity.from_str(qty), report_id=new_id(),
                                ts_last=T0, ts_init=T0)


def balance(total: str, locked: str = "0", currency=USDT) -> AccountBalance:  # type: ignore[no-untyped-def]
    t, lk = Money.new(total, currency), Money.new(locked, currency)
    return AccountBalance(t, lk, t - lk)


def fill(trade_id: str, coid: str = "O-1", qty: str = "1.000") -> FillReport:
    return FillReport(
        account_id=ACCOUNT, instrument_id=IID, venue_order_id=VenueOrderId("V-1"),
        client_order_id=ClientOrderId(coid), trade_id=TradeId(trade_id),
        order_side=OrderSide.BUY, last_qty=Quantity.from_str(qty),
        last_px=Price.from_str("100.00"), commission=Money.new("0", USDT),
        liquidity_side=LiquiditySide.TAKER, report_id=new_id(), ts_event=T0, ts_init=T0,
    )


# -- orders ----------------------------------------------------------------------------


def test_the_same_open_order_on_both_sides_matches() -> None:
    node = NodeBooks(open_orders=[node_order("O-1")])
    assert compare_books(node, VenueBooks(open_orders=[open_report("O-1", "V-1")])) == []


def test_an_order_open_at_the_venue_and_unknown_to_the_node_is_a_difference() -> None:
    (diff,) = compare_books(NodeBooks(), VenueBooks(open_orders=[open_report("O-9", "V-9")]))
    assert diff.kind == "order" and diff.key == "O-9"
    assert diff.node == "none (unknown order)"
    assert diff.venue == "ACCEPTED BUY 0.000/2.000 @ 100.00"


def test_an_order_the_node_closed_that_the_venue_holds_open_names_both_states() -> None:
    node = NodeBooks(orders_named={"O-1": node_order("O-1", status="REJECTED")})
    (diff,) = compare_books(node, VenueBooks(open_orders=[open_report("O-1", "V-1")]))
    assert diff.node.startswith("REJECTED") and diff.venue.startswith("ACCEPTED")


def test_an_order_open_in_the_node_that_the_venue_does_not_hold_is_a_difference() -> None:
    (diff,) = compare_books(NodeBooks(open_orders=[node_order("O-1")]),
                            VenueBooks(open_orders=[]))
    assert (diff.kind, diff.key, diff.venue) == ("order", "O-1", "not open")


def test_an_open_order_matched_by_its_venue_id_when_the_report_has_no_client_id() -> None:
    node = NodeBooks(open_orders=[node_order("O-1", vid="V-7")])
    assert compare_books(node, VenueBooks(open_orders=[open_report(None, "V-7")])) == []


def test_a_different_filled_quantity_on_an_open_order_is_a_difference() -> None:
    node = NodeBooks(open_orders=[node_order("O-1", filled_qty="0.500")])
    report = open_report("O-1", "V-1", filled_qty="1.000",
                         status=OrderStatus.PARTIALLY_FILLED)
    (diff,) = compare_books(node, VenueBooks(open_orders=[report]))
    assert "0.500/2.000" in diff.node and "1.000/2.000" in diff.venue


def test_closed_orders_in_the_venue_report_are_not_compared_as_open() -> None:
    report = open_report("O-1", "V-1", status=OrderStatus.FILLED, filled_qty="2.000")
    assert compare_books(NodeBooks(), VenueBooks(open_orders=[report])) == []


# -- positions, balances, fills ---------------------------------------------------------


def test_positions_compare_net_quantities_with_the_side_as_sign() -> None:
    short = VenueBooks(positions=[position("0.500", PositionSide.SHORT)])
    assert compare_books(NodeBooks(positions={str(IID): Decimal("-0.5")}), short) == []
    (diff,) = compare_books(NodeBooks(positions={str(IID): Decimal("0.5")}), short)
    assert diff == BookDifference(kind="position", key=str(IID), node="+0.5", venue="-0.500")


def test_a_position_only_the_venue_holds_is_a_difference_and_flat_matches_nothing() -> None:
    (diff,) = compare_books(NodeBooks(), VenueBooks(positions=[position("0.100")]))
    assert diff.node == "0 (flat)" and diff.venue == "+0.100"
    assert compare_books(NodeBooks(), VenueBooks(positions=[position("0.000",
                                                                      PositionSide.FLAT)])) == []


def test_balances_compare_total_and_locked_per_currency() -> None:
    node = NodeBooks(balances={"USDT": (Decimal("1000"), Decimal("60")),
                               "BTC": (Decimal("1"), Decimal("0"))})
    venue = VenueBooks(balances=[balance("1000", "0"), balance("1", currency=BTC)])
    (diff,) = compare_books(node, venue)
    assert diff.kind == "balance" and diff.key == "USDT"
    assert "locked 60" in diff.node and "locked 0" in diff.venue


def test_a_venue_fill_the_node_never_applied_is_a_difference_unless_from_before_start() -> None:
    venue = VenueBooks(fills=[fill("T-1"), fill("T-2"), fill("T-3")])
    node = NodeBooks(known_trade_ids=frozenset({"T-2"}),
                     baseline_trade_ids=frozenset({"T-1"}))
    (diff,) = compare_books(node, venue)
    assert (diff.kind, diff.key) == ("fill", "T-3")
    assert "BUY 1.000 BTCUSDT.SIM @ 100.00" in diff.venue


def test_what_the_venue_does_not_report_is_not_compared() -> None:
    node = NodeBooks(open_orders=[node_order("O-1")], positions={str(IID): Decimal(1)})
    assert compare_books(node, VenueBooks()) == []


def test_the_trade_ledger_keeps_the_newest_ids_only() -> None:
    ledger = TradeLedger(capacity=2)
    for tid in ("A", "B", "C"):
        ledger.record(TradeId(tid))
    assert TradeId("A") not in ledger and TradeId("C") in ledger and len(ledger) == 2


# -- through the engine -----------------------------------------------------------------


def _engine() -> tuple[ExecutionEngine, RecordingExecClient, Order]:
    env = make_env()
    env.cache.add_instrument(make_instrument())
    engine = ExecutionEngine(env.msgbus, env.cache, env.clock, ExecEngineConfig())
    client = RecordingExecClient()
    engine.register_client(client)  # type: ignore[arg-type]
    engine.start()
    init = order_init(qty="2.000")
    order = Order(init)
    env.cache.add_order(order)
    engine.process(account_state())
    for event in (submitted(init), accepted(init), filled(init, "1.000", "100.00", "T-1")):
        engine.process(event)
    return engine, client, order


def test_the_engine_finds_its_books_equal_to_a_venue_that_agrees() -> None:
    engine, client, order = _engine()
    client.order_reports = [open_report(str(order.client_order_id), "V-1", filled_qty="1.000",
                                        status=OrderStatus.PARTIALLY_FILLED)]
    client.position_reports = [position("1.000")]
    client.fill_reports = [fill("T-1", coid=str(order.client_order_id))]
    client.balance_reports = list(engine._cache.account(ACCOUNT).balances().values())  # type: ignore[union-attr]
    (verdict,) = asyncio.run(engine.audit(1.0)).values()
    assert verdict.matches, verdict.lines()
    assert verdict.checked == ["orders", "positions", "balances", "fills"]


def test_the_engine_names_every_difference_after_asking_again_until_the_timeout() -> None:
    engine, client, order = _engine()
    client.order_reports = []  # the venue closed the order the node holds open
    client.position_reports = [position("2.000")]
    client.fill_reports = [fill("T-1", coid=str(order.client_order_id)),
                           fill("T-2", coid=str(order.client_order_id))]
    client.scope = frozenset({"orders", "positions", "fills"})
    (verdict,) = asyncio.run(engine.audit(0.3)).values()
    assert not verdict.matches and verdict.attempts >= 2
    assert {(d.kind, d.key) for d in verdict.differences} == {
        ("order", str(order.client_order_id)), ("position", str(IID)), ("fill", "T-2")}
    assert verdict.not_reported == ["balances"]


def test_a_venue_that_cannot_be_asked_is_not_audited_and_does_not_match() -> None:
    engine, client, _order = _engine()
    client.report_delay = asyncio.Event()  # never set: the venue does not answer
    (verdict,) = asyncio.run(engine.audit(0.2)).values()
    assert not verdict.matches and verdict.error is not None
    assert "did not report within" in verdict.error
