"""ExecutionEngine: routing, order FSM application, positions, accounts, settling."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from livenode.bus import topics
from livenode.config import ExecEngineConfig
from livenode.core.uuid import new_id
from livenode.engines.clients import EXEC_ENGINE_PROCESS, LiveExecutionClient
from livenode.engines.execution_engine import ExecutionEngine
from livenode.model.commands import CancelAllOrders
from livenode.model.enums import OrderSide, OrderStatus, PositionSide
from livenode.model.events import (
    OrderAccepted,
    OrderCancelRejected,
    OrderDenied,
    OrderFilled,
    OrderModifyRejected,
    OrderSubmitted,
    PositionChanged,
    PositionClosed,
    PositionOpened,
)
from livenode.model.identifiers import AccountId, InstrumentId, PositionId, Venue
from livenode.model.objects import Money, Quantity
from livenode.model.orders import Order

from .helpers import (
    ACCOUNT,
    IID,
    STRAT,
    T0,
    TRADER,
    USDT,
    Env,
    RecordingExecClient,
    accepted,
    account_state,
    cancel,
    filled,
    make_env,
    make_instrument,
    modify,
    order_init,
    submit,
    submitted,
)

PID = PositionId("BTCUSDT.SIM-S-001")


class Harness:
    def __init__(self) -> None:
        self.env: Env = make_env()
        self.env.cache.add_instrument(make_instrument())
        self.client = RecordingExecClient()
        self.engine = ExecutionEngine(
            self.env.msgbus, self.env.cache, self.env.clock, ExecEngineConfig()
        )
        self.engine.register_client(self.client)
        self.engine.start()
        self.order_events = self.env.record(topics.order_events(STRAT))
        self.position_events = self.env.record(topics.position_events(STRAT))

    def send(self, command: Any) -> None:
        self.env.msgbus.publish(topics.exec_commands(command.instrument_id.venue), command)

    def event(self, event: Any) -> None:
        self.env.msgbus.send(EXEC_ENGINE_PROCESS, event)

    def open_order(self, **init: Any) -> Any:
        o = order_init(**init)
        self.send(submit(o))
        self.event(submitted(o))
        self.event(accepted(o, vid=f"V-{o.client_order_id}"))
        return o

    def fill(self, side: OrderSide, qty: str, px: str, trade_id: str,
             commission: str = "0") -> Any:
        o = self.open_order(side=side, qty=qty, price=px)
        self.event(filled(o, qty, px, trade_id, vid=f"V-{o.client_order_id}",
                          commission=commission))
        return o


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_recording_client_satisfies_protocol() -> None:
    # The seam is one class now; the engine's test double offers what the engine calls.
    client = RecordingExecClient()
    for attr in ("name", "venue", "account_id", "is_connected"):
        assert hasattr(client, attr)
    for method in ("submit_order", "modify_order", "cancel_order", "cancel_all_orders",
                   "generate_order_status_reports", "generate_order_status_reports_for",
                   "generate_fill_reports", "generate_position_status_reports"):
        assert callable(getattr(LiveExecutionClient, method)) and callable(getattr(client, method))


def test_duplicate_venue_registration_is_an_error(h: Harness) -> None:
    with pytest.raises(ValueError, match="SIM"):
        h.engine.register_client(RecordingExecClient(name="OTHER"))


def test_submit_caches_the_order_and_routes_to_the_venue_client(h: Harness) -> None:
    other = RecordingExecClient(venue=Venue("XCH"), account_id=AccountId("XCH-001"), name="XCH")
    h.engine.register_client(other)
    cmd = submit(order_init())
    h.send(cmd)
    assert h.client.commands == [cmd] and other.commands == []
    order = h.env.cache.order(cmd.order.client_order_id)
    assert order is not None and order.status is OrderStatus.INITIALIZED
    assert [o.client_order_id for o in h.engine.inflight_orders()] == [order.client_order_id]
    m, c = modify(order.client_order_id, price="101.00"), cancel(order.client_order_id)
    ca = CancelAllOrders(trader_id=TRADER, strategy_id=STRAT, command_id=new_id(), ts_init=T0,
                         ts_trigger=T0, instrument_id=IID)
    for command in (m, c, ca):
        h.send(command)
    assert h.client.commands == [cmd, m, c, ca]
    assert h.engine.command_count == 4


def test_strategy_cached_order_is_kept(h: Harness) -> None:
    from livenode.model.orders import Order

    init = order_init()
    order = Order(init)
    h.env.cache.add_order(order)
    h.send(submit(init))
    assert h.env.cache.order(init.client_order_id) is order


def test_submit_to_unknown_venue_is_denied(h: Harness) -> None:
    init = order_init(iid=InstrumentId("ETHUSD.XCH"))
    h.send(submit(init))
    (denied,) = h.order_events
    assert type(denied) is OrderDenied and denied.reason.startswith("NO_EXEC_CLIENT: ")
    assert h.env.cache.order(init.client_order_id).status is OrderStatus.DENIED
    assert h.engine.routing_errors == 1


def test_cancel_to_unknown_venue_is_cancel_rejected(h: Harness) -> None:
    from livenode.model.orders import Order

    init = order_init(iid=InstrumentId("ETHUSD.XCH"))
    order = Order(init)
    order.apply(submitted(init))
    order.apply(accepted(init))
    h.env.cache.add_order(order)
    h.send(cancel(init.client_order_id, iid=InstrumentId("ETHUSD.XCH")))
    assert type(h.order_events[-1]) is OrderCancelRejected
    assert h.order_events[-1].reason == "NO_EXEC_CLIENT: no execution client for venue XCH"
    assert order.status is OrderStatus.ACCEPTED


def test_client_failure_on_submit_denies_the_order(h: Harness) -> None:
    h.client.fail = True
    init = order_init()
    h.send(submit(init))
    assert h.order_events[-1].reason.startswith("CLIENT_ERROR: SIM-EXEC")
    assert h.engine.client_errors == 1


def test_events_go_through_the_fsm_and_are_published(h: Harness) -> None:
    o = h.open_order()
    order = h.env.cache.order(o.client_order_id)
    assert order.status is OrderStatus.ACCEPTED
    assert [type(e) for e in h.order_events] == [OrderSubmitted, OrderAccepted]
    assert h.env.cache.orders_open() == [order]
    assert h.engine.inflight_orders() == []


def test_denial_from_risk_engine_is_applied(h: Harness) -> None:
    from livenode.model.orders import Order

    init = order_init()
    h.env.cache.add_order(Order(init))
    h.event(OrderDenied(trader_id=TRADER, strategy_id=STRAT, instrument_id=IID,
                        client_order_id=init.client_order_id, reason="PRICE_PRECISION: x",
                        event_id=new_id(), ts_event=T0, ts_init=T0))
    assert h.env.cache.order(init.client_order_id).status is OrderStatus.DENIED
    assert type(h.order_events[-1]) is OrderDenied


def test_duplicate_id_denial_does_not_touch_the_original_order(h: Harness) -> None:
    o = h.open_order()
    h.event(OrderDenied(trader_id=TRADER, strategy_id=STRAT, instrument_id=IID,
                        client_order_id=o.client_order_id,
                        reason="DUPLICATE_CLIENT_ORDER_ID: used", event_id=new_id(),
                        ts_event=T0, ts_init=T0))
    assert h.env.cache.order(o.client_order_id).status is OrderStatus.ACCEPTED
    assert type(h.order_events[-1]) is OrderDenied
    assert h.engine.invalid_transition_count == 0


def test_invalid_transition_is_contained(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    o = h.open_order()
    before = len(h.order_events)
    h.event(submitted(o))  # ACCEPTED -> SUBMITTED cannot happen
    assert h.engine.invalid_transition_count == 1
    assert len(h.order_events) == before
    assert h.env.cache.order(o.client_order_id).status is OrderStatus.ACCEPTED
    assert env_errors(h) == 0
    assert "OrderSubmitted refused by order" in caplog.text
    h.event(filled(o, "1.000", "100.00", "T-9", vid=f"V-{o.client_order_id}"))
    assert h.env.cache.order(o.client_order_id).status is OrderStatus.FILLED


def env_errors(h: Harness) -> int:
    return h.env.msgbus.handler_errors


def test_duplicate_fill_is_ignored(h: Harness) -> None:
    o = h.open_order(qty="2.000")
    vid = f"V-{o.client_order_id}"
    h.event(filled(o, "1.000", "100.00", "T-1", vid=vid))
    h.event(filled(o, "1.000", "100.00", "T-1", vid=vid))
    order = h.env.cache.order(o.client_order_id)
    assert order.filled_qty.as_decimal() == 1 and order.status is OrderStatus.PARTIALLY_FILLED
    assert h.engine.fill_count == 1 and h.engine.duplicate_fill_count == 1
    assert sum(type(e) is OrderFilled for e in h.order_events) == 1
    assert len(h.position_events) == 1
    assert h.env.cache.position(PID).quantity.as_decimal() == 1


def test_fill_carries_the_netting_position_id(h: Harness) -> None:
    h.fill(OrderSide.BUY, "1.000", "100.00", "T-1")
    fill = next(e for e in h.order_events if type(e) is OrderFilled)
    assert fill.position_id == PID


def test_position_lifecycle_open_add_reduce_flip_close(h: Harness) -> None:
    h.fill(OrderSide.BUY, "1.000", "100.00", "T-1")     # open long 1 @ 100
    h.fill(OrderSide.BUY, "1.000", "110.00", "T-2")     # add: long 2 @ 105
    h.fill(OrderSide.SELL, "1.000", "120.00", "T-3")    # reduce: +15 realized
    h.fill(OrderSide.SELL, "3.000", "100.00", "T-4")    # flip: -5, cycle closed at +10;
    #                                                     a new cycle short 2 @ 100
    h.fill(OrderSide.BUY, "2.000", "90.00", "T-5")      # close: +20 realized
    kinds = [type(e) for e in h.position_events]
    assert kinds == [
        PositionOpened,
        PositionChanged,
        PositionChanged,
        PositionClosed,
        PositionOpened,
        PositionClosed,
    ]
    sides = [e.side for e in h.position_events]
    assert sides == [PositionSide.LONG, PositionSide.LONG, PositionSide.LONG, PositionSide.FLAT,
                     PositionSide.SHORT, PositionSide.FLAT]
    assert h.position_events[1].avg_px_open == 105.0
    assert h.position_events[3].realized_pnl == Money.new("10", USDT)
    assert h.position_events[3].avg_px_close == 110.0  # (120 + 100) / 2
    assert h.position_events[4].signed_qty == -2.0 and h.position_events[4].avg_px_open == 100.0
    assert h.position_events[-1].realized_pnl == Money.new("20", USDT)
    position = h.env.cache.position(PID)
    assert position.is_closed and h.env.cache.positions_open() == []
    assert position.lifetime_realized_pnl == Money.new("30", USDT)


def test_a_flip_publishes_position_closed_then_opened(h: Harness) -> None:
    """Issue 10: SELL 2@120 (fee 0.12), BUY 3@100 (fee 0.30)."""
    h.fill(OrderSide.SELL, "2.000", "120.00", "T-1", commission="0.12")
    flip = h.fill(OrderSide.BUY, "3.000", "100.00", "T-2", commission="0.30")
    opened, closed, reopened = h.position_events
    assert (type(opened), type(closed), type(reopened)) == (
        PositionOpened, PositionClosed, PositionOpened)
    assert closed.realized_pnl == Money.new("39.68", USDT)
    assert closed.commissions == Money.new("0.32", USDT)
    assert closed.closing_order_id == flip.client_order_id
    assert reopened.realized_pnl == Money.new("-0.10", USDT)
    assert reopened.commissions == Money.new("0.10", USDT)
    assert reopened.opening_order_id == flip.client_order_id
    assert reopened.side is PositionSide.LONG and reopened.quantity.as_decimal() == 1
    assert reopened.last_qty.as_decimal() == 1 and closed.last_qty.as_decimal() == 2
    # the order hears of the fill once, whole
    fills = [e for e in h.order_events if type(e) is OrderFilled]
    assert [f.last_qty.as_decimal() for f in fills] == [2, 3]


def test_closed_position_reopens_with_position_opened(h: Harness) -> None:
    h.fill(OrderSide.BUY, "1.000", "100.00", "T-1")
    h.fill(OrderSide.SELL, "1.000", "100.00", "T-2")
    h.fill(OrderSide.SELL, "1.000", "100.00", "T-3")
    assert [type(e) for e in h.position_events] == [PositionOpened, PositionClosed, PositionOpened]
    assert h.env.cache.position(PID).side is PositionSide.SHORT


def test_account_state_creates_then_updates_the_account(h: Harness) -> None:
    got = h.env.record(topics.account_events(ACCOUNT))
    first, second = account_state("1000"), account_state("900")
    h.event(first)
    account = h.env.cache.account(ACCOUNT)
    assert account is not None and account.balance(USDT).free == Money.new("1000", USDT)
    h.event(second)
    assert h.env.cache.account(ACCOUNT) is account
    assert account.balance(USDT).free == Money.new("900", USDT)
    # Published as received, stamped with the engine's count (read-your-writes).
    assert got == [msgspec.structs.replace(first, version=1),
                   msgspec.structs.replace(second, version=2)]
    assert account.version == 2


def test_events_for_unknown_orders_are_counted(h: Harness) -> None:
    h.event(submitted(order_init()))
    assert h.engine.unknown_order_events == 1 and h.order_events == []


async def test_wait_settled_returns_when_inflight_orders_are_answered(h: Harness) -> None:
    o = order_init()
    h.send(submit(o))
    assert len(h.engine.inflight_orders()) == 1
    waiter = asyncio.create_task(h.engine.wait_settled(5.0))
    await asyncio.sleep(0)
    assert not waiter.done()
    h.event(submitted(o))  # still in flight
    await asyncio.sleep(0)
    assert not waiter.done()
    h.event(accepted(o))
    assert await waiter is True


async def test_wait_settled_times_out(h: Harness) -> None:
    h.send(submit(order_init()))
    assert await h.engine.wait_settled(0.01) is False
    h2 = Harness()
    assert await h2.engine.wait_settled(0.01) is True


def test_dispose_detaches(h: Harness) -> None:
    h.engine.stop()
    h.engine.dispose()
    assert not h.env.msgbus.has_endpoint(EXEC_ENGINE_PROCESS)
    h.send(submit(order_init()))
    assert h.client.commands == []


def _denied(init: Any, reason: str) -> OrderDenied:
    return OrderDenied(
        trader_id=init.trader_id, strategy_id=init.strategy_id, instrument_id=init.instrument_id,
        client_order_id=init.client_order_id, reason=reason, event_id=new_id(),
        ts_event=T0, ts_init=T0,
    )


def test_risk_denial_on_the_command_topic_is_applied_and_published() -> None:
    h = Harness()
    o = order_init()
    h.env.cache.add_order(Order(o))  # the strategy's process cached it at submit
    h.send(_denied(o, "TRADING_HALTED: trading is HALTED"))
    assert h.env.cache.order(o.client_order_id).status is OrderStatus.DENIED
    assert [type(e) for e in h.order_events] == [OrderDenied]
    assert h.client.commands == []


def test_denial_of_an_order_this_process_never_saw_still_reaches_the_strategy() -> None:
    # Multiprocess: risk denied it, so the execution worker never cached it.
    h = Harness()
    o = order_init()
    h.send(_denied(o, "INSTRUMENT_UNKNOWN: X"))
    assert h.env.cache.order(o.client_order_id) is None
    assert [e.reason for e in h.order_events] == ["INSTRUMENT_UNKNOWN: X"]


def test_a_fill_handler_already_sees_the_position_it_made() -> None:
    h = Harness()
    seen: list[Any] = []
    h.env.msgbus.subscribe(
        topics.order_events(STRAT),
        lambda e: seen.append(h.env.cache.position(PID)) if type(e) is OrderFilled else None,
    )
    h.fill(OrderSide.BUY, "1.000", "100.00", "T-1")
    (position,) = seen
    assert position is not None and position.side is PositionSide.LONG


def test_a_fill_of_an_unknown_order_is_adopted_as_external(h: Harness) -> None:
    """Another session on the same account traded: the venue's fill moves the node's
    positions like the venue's, under strategy EXTERNAL, once per trade id."""
    from livenode.engines.reconciliation import EXTERNAL_STRATEGY_ID

    foreign = order_init(side=OrderSide.SELL, qty="0.250", price="101.00",
                         coid="OTHER-SESSION-1")
    fill = filled(foreign, "0.250", "101.00", "T-EXT-1", vid="V-OTHER-1")
    h.event(fill)
    h.event(fill)  # the venue repeats it (reconnect): applied once
    adopted = [o for o in h.env.cache.orders() if o.strategy_id == EXTERNAL_STRATEGY_ID]
    assert len(adopted) == 1
    order = adopted[0]
    assert order.status is OrderStatus.FILLED and str(order.filled_qty) == "0.250"
    assert order.tags == ("EXTERNAL",)
    (position,) = h.env.cache.positions_open()
    assert position.strategy_id == EXTERNAL_STRATEGY_ID
    assert position.side is PositionSide.SHORT and str(position.quantity) == "0.250"
    counters = h.engine.counters()
    assert counters["external_fills"] == 1 and counters["unknown_order_events"] == 0


async def _until(check: Any, what: str, turns: int = 1000) -> None:
    """Let the loop run until `check()` holds (the engine's venue lookup is a task)."""
    for _ in range(turns):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"not reached: {what}")


async def test_a_resent_submit_is_applied_once(h: Harness) -> None:
    # The trader sends a submit again after a restart (SubmitOrder.resend): an order
    # exec already has goes to the venue once; one it never got goes out now, once
    # the venue said it does not have it.
    import msgspec

    known = h.open_order(coid="R-1")
    inflight = order_init(coid="R-2")
    h.send(submit(inflight))  # sent to the venue, no answer yet
    before = list(h.client.commands)
    for init in (known, inflight):
        h.send(msgspec.structs.replace(submit(init), resend=True))
    assert h.client.commands == before
    assert h.engine.counters()["resends_ignored"] == 2
    lost = msgspec.structs.replace(submit(order_init(coid="R-3")), resend=True)
    h.send(lost)
    await _until(lambda: h.client.commands == [*before, lost], "the lost order submitted")
    assert h.client.asked_for == [lost.order.client_order_id]


async def test_a_resent_submit_the_venue_already_has_is_adopted_not_sent_twice(
    h: Harness,
) -> None:
    # This exec worker was killed after sending the order and before its database
    # write: it does not know the order, the venue filled it. The trader sends it
    # again; exec asks the venue, takes the order's state and fill from it, and
    # never sends it a second time.
    import msgspec

    from livenode.model.identifiers import ClientOrderId, TradeId, VenueOrderId

    from .test_reconciliation import fill_report, status_report

    init = order_init(coid="R-KILLED")
    h.client.closed_reports = [
        status_report("V-K", OrderStatus.FILLED, qty=str(init.quantity),
                      filled_qty=str(init.quantity), coid="R-KILLED")]
    h.client.fill_reports = [
        fill_report("V-K", "T-K", str(init.quantity), "100.00", coid="R-KILLED")]
    events = h.env.record(topics.order_events(init.strategy_id))
    h.send(msgspec.structs.replace(submit(init), resend=True))
    order = h.env.cache.order(ClientOrderId("R-KILLED"))
    await _until(lambda: order.status is OrderStatus.FILLED, "the order filled from the venue")
    assert h.client.commands == []  # nothing sent to the venue
    assert order.trade_ids == {TradeId("T-K")} and order.venue_order_id == VenueOrderId("V-K")
    assert h.engine.counters()["resends_adopted"] == 1
    assert [type(e).__name__ for e in events][-1] == "OrderFilled"


async def test_an_order_the_venue_never_answers_is_stalled_asked_about_and_resolved(
    h: Harness,
) -> None:
    # The acceptance was lost (a venue restart, a dropped message): after
    # inflight_timeout the engine counts the order stalled, asks the venue, and takes
    # the venue's state; one the venue does not know stays stalled and counted.
    from livenode.model.identifiers import ClientOrderId, VenueOrderId

    from .test_reconciliation import status_report

    lost_ack = order_init(coid="S-1")
    unknown = order_init(coid="S-2")
    for init in (lost_ack, unknown):
        h.send(submit(init))
        h.event(submitted(init))
    h.client.closed_reports = [
        status_report("V-S1", OrderStatus.ACCEPTED, qty=str(lost_ack.quantity), coid="S-1")]
    h.env.clock.advance_time(4_000_000_000)  # within inflight_timeout (5 s): not asked
    await _until(lambda: True, "a loop turn")
    assert h.client.asked_for == [] and h.engine.counters()["stalled"] == 0
    h.env.clock.advance_time(2_000_000_000)
    await _until(lambda: h.engine.counters()["stalls_resolved"] == 1, "the stall resolved")
    order = h.env.cache.order(ClientOrderId("S-1"))
    assert order.status is OrderStatus.ACCEPTED and order.venue_order_id == VenueOrderId("V-S1")
    assert set(h.client.asked_for) == {ClientOrderId("S-1"), ClientOrderId("S-2")}
    counters = h.engine.counters()
    assert counters["stalled"] == 1 and counters["stall_queries"] == 1
    assert h.env.cache.order(ClientOrderId("S-2")).status is OrderStatus.SUBMITTED
    # The venue keeps saying it does not have S-2: after 3 inflight_timeouts the
    # submit is taken as never arrived (rejected), and nothing is stalled any more.
    for _ in range(12):
        h.env.clock.advance_time(1_000_000_000)
        await _until(lambda: h.engine._stall_queries == set(), "the query answered")
    assert h.env.cache.order(ClientOrderId("S-2")).status is OrderStatus.REJECTED
    h.env.clock.advance_time(1_000_000_000)
    assert h.engine.counters()["stalled"] == 0


def test_a_resend_of_an_order_exec_closed_sends_the_sender_what_it_missed(h: Harness) -> None:
    # The trader missed the cancel (it was restarting); it still holds the order
    # ACCEPTED and sends it again after an exec restart, naming the 3 events it has.
    import msgspec

    from livenode.model.events import OrderCanceled

    init = h.open_order(coid="R-MISSED")
    order = h.env.cache.order(init.client_order_id)
    held = tuple(e.event_id for e in order.events)
    cancel = OrderCanceled(
        trader_id=init.trader_id, strategy_id=init.strategy_id,
        instrument_id=init.instrument_id, client_order_id=init.client_order_id,
        event_id=new_id(), ts_event=h.env.clock.timestamp_ns(),
        ts_init=h.env.clock.timestamp_ns())
    h.event(cancel)
    assert order.is_closed and len(order.events) == 4
    h.order_events.clear()
    before = list(h.client.commands)
    h.send(msgspec.structs.replace(submit(init), resend=True, known_event_ids=held))
    assert h.client.commands == before  # nothing to the venue
    assert [e.event_id for e in h.order_events] == [cancel.event_id]
    counters = h.engine.counters()
    assert counters["resends_ignored"] == 1 and counters["events_resent"] == 1
    # A sender that has every event gets nothing.
    h.order_events.clear()
    h.send(msgspec.structs.replace(submit(init), resend=True,
                                   known_event_ids=(*held, cancel.event_id)))
    assert h.order_events == []


def test_a_resend_gets_the_fill_it_missed_though_it_heard_a_later_event(h: Harness) -> None:
    # The flake of test_restarted_exec_resumes_from_the_cache_database: exec applied
    # the fill of a resting quote and wrote it to the database, and was killed before
    # the trader heard the fill. The trader's cancel of that quote, held while exec
    # was down, reached the new exec worker, which refused it (ORDER_CLOSED, the
    # order is FILLED) and the trader heard that rejection. So the trader holds 4
    # events (Initialized, Submitted, Accepted, CancelRejected) of the 5 exec has:
    # the one it lacks is the fill, before the last. Counting (send what follows
    # the sender's 4th) sent it the rejection again and never the fill: it kept the
    # quote open, cancelled it again and again, and its position was one fill off.
    import msgspec

    init = h.open_order(coid="R-FILL", side=OrderSide.BUY, qty="0.010", price="100.00")
    order = h.env.cache.order(init.client_order_id)
    trader_holds = [e.event_id for e in order.events]
    fill = filled(init, "0.010", "100.00", "T-LOST", vid="V-R-FILL")
    h.event(fill)
    h.send(cancel(init.client_order_id))  # the held cancel: refused, the order is FILLED
    rejection = order.events[-1]
    assert type(rejection) is OrderCancelRejected and order.status is OrderStatus.FILLED
    trader_holds.append(rejection.event_id)
    h.order_events.clear()
    h.position_events.clear()
    before = list(h.client.commands)
    h.send(msgspec.structs.replace(submit(init), resend=True,
                                   known_event_ids=tuple(trader_holds)))
    (sent,) = h.order_events
    assert type(sent) is OrderFilled and sent.trade_id == fill.trade_id
    (position,) = h.position_events
    assert type(position) is PositionChanged or type(position) is PositionOpened
    assert position.signed_qty == 0.01
    assert h.engine.counters()["events_resent"] == 1
    assert h.client.commands == before  # nothing to the venue


async def test_a_resend_exec_does_not_know_is_asked_about_even_while_halted(
    h: Harness,
) -> None:
    # The other half of that flake: the killed exec worker had sent a quote and the
    # venue filled it, but its database writes for it died in the write queue. The
    # new worker reconciles: the venue's position is one fill more than its books,
    # so the instrument is halted (POSITION_MISMATCH). The trader sends the quote
    # again; it must be asked about at the venue (which has it, filled) and adopted,
    # not denied as if it were a new order: denied, the order is closed in exec's
    # books while it is filled at the venue, and the mismatch never goes away.
    import msgspec

    from livenode.model.identifiers import ClientOrderId, TradeId
    from livenode.model.reports import PositionStatusReport

    from .test_reconciliation import fill_report, status_report

    h.client.position_reports = [PositionStatusReport(
        account_id=ACCOUNT, instrument_id=IID, position_side=PositionSide.LONG,
        quantity=Quantity.from_str("1.000"), report_id=new_id(), ts_last=T0, ts_init=T0,
    )]
    assert await h.engine.reconcile(1.0)
    assert h.engine.halted_instruments() == {
        str(IID): "position at the venue 1.000, in the cache 0"}
    init = order_init(coid="R-LOST")
    h.client.closed_reports = [
        status_report("V-L", OrderStatus.FILLED, qty=str(init.quantity),
                      filled_qty=str(init.quantity), coid="R-LOST")]
    h.client.fill_reports = [
        fill_report("V-L", "T-L", str(init.quantity), "100.00", coid="R-LOST")]
    h.send(msgspec.structs.replace(submit(init), resend=True,
                                   known_event_ids=(init.event_id, new_id(), new_id())))
    order = h.env.cache.order(ClientOrderId("R-LOST"))
    await _until(lambda: order.status is not OrderStatus.INITIALIZED, "the venue answered")
    assert order.status is OrderStatus.FILLED, order.events
    assert order.trade_ids == {TradeId("T-L")}
    assert not any(type(e) is OrderDenied for e in h.order_events)
    assert h.client.commands == []  # never sent a second time
    counters = h.engine.counters()
    assert counters["resends_adopted"] == 1 and counters["mismatch_denials"] == 0
    position = h.env.cache.position(PID)
    assert position is not None and position.signed_qty == 1.0
    # The books agree with the venue again: the engine's check timer lifts the halt.
    h.env.clock.advance_time(1_000_000_000)
    await _until(lambda: not h.engine.halted_instruments(), "the halt lifted")


async def test_a_resend_not_at_the_venue_is_still_checked_like_a_new_order(
    h: Harness,
) -> None:
    # Asked first, the venue does not have it: it is a new order after all, and a
    # halted instrument denies it (the venue gets nothing).
    import msgspec

    from livenode.model.reports import PositionStatusReport

    h.client.position_reports = [PositionStatusReport(
        account_id=ACCOUNT, instrument_id=IID, position_side=PositionSide.LONG,
        quantity=Quantity.from_str("1.000"), report_id=new_id(), ts_last=T0, ts_init=T0,
    )]
    assert await h.engine.reconcile(1.0)
    init = order_init(coid="R-NEW")
    h.send(msgspec.structs.replace(submit(init), resend=True))
    order = h.env.cache.order(init.client_order_id)
    await _until(lambda: order.status is not OrderStatus.INITIALIZED, "the order decided")
    assert order.status is OrderStatus.DENIED
    assert order.events[-1].reason.startswith("POSITION_MISMATCH")
    assert h.client.asked_for == [init.client_order_id] and h.client.commands == []


# -- modify/cancel of a closed order -------------------------------------------------------


def _denied_order(h: Harness) -> Any:
    o = order_init()
    h.env.cache.add_order(Order(o))
    h.send(_denied(o, "TRADING_HALTED: trading is HALTED"))
    assert h.env.cache.order(o.client_order_id).status is OrderStatus.DENIED
    return o


def test_the_risk_engines_modify_rejection_of_a_denied_order_reaches_the_strategy() -> None:
    h = Harness()
    o = _denied_order(h)
    verdict = OrderModifyRejected(
        trader_id=TRADER, strategy_id=STRAT, instrument_id=IID,
        client_order_id=o.client_order_id, reason="ORDER_CLOSED: order is closed (DENIED)",
        event_id=new_id(), ts_event=T0, ts_init=T0,
    )
    h.send(verdict)
    assert [type(e) for e in h.order_events] == [OrderDenied, OrderModifyRejected]
    assert h.order_events[-1].reason == "ORDER_CLOSED: order is closed (DENIED)"
    assert h.env.cache.order(o.client_order_id).status is OrderStatus.DENIED
    assert h.engine.invalid_transition_count == 0


def test_cancel_of_a_denied_order_is_rejected_here_as_closed() -> None:
    h = Harness()
    o = _denied_order(h)
    h.send(cancel(o.client_order_id))
    assert [type(e) for e in h.order_events] == [OrderDenied, OrderCancelRejected]
    assert h.order_events[-1].reason == "ORDER_CLOSED: order is closed (DENIED)"
    assert h.client.commands == []  # the venue never knew the order
    assert h.env.cache.order(o.client_order_id).status is OrderStatus.DENIED
    assert h.engine.invalid_transition_count == 0


def test_modify_of_a_denied_order_is_rejected_here_as_closed() -> None:
    h = Harness()
    o = _denied_order(h)
    h.send(modify(o.client_order_id, qty="2.000"))
    assert [type(e) for e in h.order_events] == [OrderDenied, OrderModifyRejected]
    assert h.order_events[-1].reason == "ORDER_CLOSED: order is closed (DENIED)"
    assert h.client.commands == []


def test_cancel_of_a_filled_order_is_rejected_without_asking_the_venue(h: Harness) -> None:
    o = h.fill(OrderSide.BUY, "1.000", "100.00", "T-1")
    sent = len(h.client.commands)
    h.send(cancel(o.client_order_id))
    assert type(h.order_events[-1]) is OrderCancelRejected
    assert h.order_events[-1].reason == "ORDER_CLOSED: order is closed (FILLED)"
    assert len(h.client.commands) == sent
    assert h.env.cache.order(o.client_order_id).status is OrderStatus.FILLED


async def test_a_lost_venue_session_halts_the_venue_until_reconnected_and_reconciled(
    h: Harness,
) -> None:
    # Fail-closed: while the client's session with the venue is down new orders are
    # denied (VENUE_DISCONNECTED, with the reason); when it is back the engine
    # reconciles the client, and only then do orders go out again.
    from livenode.engines.clients import VenueSession
    from livenode.model.commands import SubmitOrder
    from livenode.model.identifiers import ClientOrderId

    # What LiveExecutionClient.session_lost / session_restored send.
    h.event(VenueSession("SIM-EXEC", Venue("SIM"), up=False, reason="connection reset by peer"))
    assert h.engine.halted_venues() == {"SIM": "SIM-EXEC session down: connection reset by peer"}
    h.send(submit(order_init(coid="D-1")))
    assert not any(type(c) is SubmitOrder for c in h.client.commands)
    denied = h.order_events[-1]
    assert denied.reason.startswith("VENUE_DISCONNECTED: trading to SIM is halted: ")
    h.client.report_delay = asyncio.Event()  # the reconciliation waits for the venue
    h.event(VenueSession("SIM-EXEC", Venue("SIM"), up=True))
    await _until(lambda: "reconciling" in h.engine.halted_venues().get("SIM", ""),
                 "reconciling after the reconnect")
    h.send(submit(order_init(coid="D-2")))  # still halted while reconciling
    assert not any(type(c) is SubmitOrder for c in h.client.commands)
    h.client.report_delay.set()
    await _until(lambda: h.engine.halted_venues() == {}, "trading resumed")
    h.send(submit(order_init(coid="D-3")))
    assert [c.order.client_order_id for c in h.client.commands
            if type(c) is SubmitOrder] == [ClientOrderId("D-3")]
    assert h.engine.counters()["disconnect_denials"] == 2
