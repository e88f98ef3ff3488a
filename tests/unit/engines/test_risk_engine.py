"""RiskEngine: every denial reason, approvals, trading states, throttles, bypass."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from livenode.bus import topics
from livenode.config import RiskEngineConfig
from livenode.engines.risk_engine import REASON_CODES, RiskEngine
from livenode.model.accounts import CashAccount
from livenode.model.enums import OrderSide, OrderType, TradingState
from livenode.model.events import OrderDenied, OrderModifyRejected, TradingStateChanged
from livenode.model.identifiers import InstrumentId, Venue
from livenode.model.objects import Price, Quantity
from livenode.model.orders import Order
from livenode.model.position import Position

from .helpers import (
    IID,
    SEC,
    SIM,
    STRAT,
    Env,
    accepted,
    account_state,
    cancel,
    filled,
    make_env,
    make_instrument,
    modify,
    order_init,
    quote,
    submit,
    submitted,
)


class Harness:
    """A risk engine with recorders on both of its outputs."""

    def __init__(self, portfolio: Any = None, **config: Any) -> None:
        self.env: Env = make_env()
        self.env.cache.add_instrument(make_instrument())
        self.env.cache.add_quote_tick(quote("100.00", "100.10"))
        self.env.cache.add_account(CashAccount(account_state()))
        # Both outputs travel on the venue's command topic: commands go on to the
        # client, verdicts (OrderDenied, OrderModifyRejected) to the order.
        self.approved: list[Any] = []
        self.denials: list[Any] = []
        self.env.msgbus.subscribe(topics.exec_commands(SIM), self._on_exec_topic)
        self.engine = RiskEngine(
            self.env.msgbus, self.env.cache, self.env.clock, RiskEngineConfig(**config), portfolio
        )
        self.engine.start()

    def _on_exec_topic(self, msg: Any) -> None:
        verdict = type(msg) in (OrderDenied, OrderModifyRejected)
        (self.denials if verdict else self.approved).append(msg)

    def send(self, command: Any) -> None:
        self.env.msgbus.publish(topics.RISK_COMMANDS, command)

    def replace_instrument(self, **overrides: Any) -> None:
        self.env.cache.add_instrument(make_instrument(**overrides))

    def cache_accepted(self, **init: Any) -> Any:
        o = order_init(**init)
        order = Order(o)
        order.apply(submitted(o))
        order.apply(accepted(o))
        self.env.cache.add_order(order)
        return o


class FakePortfolio:
    def __init__(self, net: str) -> None:
        self.net = Decimal(net)

    def net_position(self, instrument_id: InstrumentId, strategy_id: Any = None) -> Decimal:
        return self.net


def _submit(**init: Any) -> Callable[[Harness], Any]:
    return lambda h: h.send(submit(order_init(**init)))


def _then(
    setup: Callable[[Harness], Any], action: Callable[[Harness], Any]
) -> Callable[[Harness], Any]:
    def run(h: Harness) -> None:
        setup(h)
        action(h)
    return run


def _duplicate(h: Harness) -> None:
    cmd = submit(order_init(coid="DUP-1"))
    h.send(cmd)
    assert len(h.approved) == 1
    h.send(cmd)


def _duplicate_other_order(h: Harness) -> None:
    # The strategy cached order A; another order reuses A's id.
    a = order_init(coid="DUP-2")
    h.env.cache.add_order(Order(a))
    h.send(submit(order_init(coid="DUP-2", price="101.00")))


def _rate(h: Harness) -> None:
    for _ in range(3):
        h.send(submit(order_init()))
    assert len(h.approved) == 2


def _modify_rate(h: Harness) -> None:
    o = h.cache_accepted()
    h.send(modify(o.client_order_id, price="100.50"))
    assert len(h.approved) == 1
    h.send(modify(o.client_order_id, price="100.60"))


def _modify_precision(h: Harness) -> None:
    o = h.cache_accepted()
    h.send(modify(o.client_order_id, price="100.555"))


def _modify_qty_increment(h: Harness) -> None:
    h.replace_instrument(size_increment=Quantity.from_str("0.010"))
    o = h.cache_accepted()
    h.send(modify(o.client_order_id, qty="1.005"))


# (id, config, setup+action, expected OrderDenied/OrderModifyRejected reason prefix)
CASES: list[tuple[str, dict[str, Any], Callable[[Harness], Any], str]] = [
    (
        "halted",
        {},
        _then(lambda h: h.engine.set_trading_state(TradingState.HALTED, "test"), _submit()),
        "TRADING_HALTED: trading is HALTED",
    ),
    ("halted-from-config", {"trading_state": "HALTED"}, _submit(), "TRADING_HALTED"),
    (
        "venue-halted",
        {},
        _then(lambda h: h.engine.set_trading_state("HALTED", "worker down", SIM), _submit()),
        "TRADING_HALTED: trading is HALTED for venue SIM",
    ),
    (
        "reducing",
        {"trading_state": "REDUCING"},
        _submit(),
        "REDUCING_WOULD_INCREASE: BUY 1.000 BTCUSDT.SIM with net position 0",
    ),
    ("duplicate", {}, _duplicate, "DUPLICATE_CLIENT_ORDER_ID: DUP-1"),
    ("duplicate-other", {}, _duplicate_other_order, "DUPLICATE_CLIENT_ORDER_ID: DUP-2"),
    (
        "duplicate-after-restart",
        {},
        lambda h: h.send(submit(h.cache_accepted(coid="DUP-3"))),  # cached, already accepted
        "DUPLICATE_CLIENT_ORDER_ID: DUP-3",
    ),
    (
        "unknown-instrument",
        {},
        _submit(iid=InstrumentId("ETHUSDT.SIM")),
        "INSTRUMENT_UNKNOWN: ETHUSDT.SIM",
    ),
    ("price-not-positive", {}, _submit(price="0.00"), "PRICE_NOT_POSITIVE"),
    (
        "price-precision",
        {},
        _submit(price="100.123"),
        "PRICE_PRECISION: price 100.123 has precision 3 > 2",
    ),
    (
        "price-increment",
        {},
        _then(
            lambda h: h.replace_instrument(price_increment=Price.from_str("0.05")),
            _submit(price="100.01"),
        ),
        "PRICE_INCREMENT: price 100.01 is not a multiple of 0.05",
    ),
    (
        "trigger-precision",
        {},
        _submit(price=None, order_type=OrderType.STOP_MARKET, trigger="100.001"),
        "TRIGGER_PRICE_PRECISION: trigger price 100.001 has precision 3 > 2",
    ),
    (
        "trigger-increment",
        {},
        _then(
            lambda h: h.replace_instrument(price_increment=Price.from_str("0.05")),
            _submit(order_type=OrderType.STOP_LIMIT, price="100.05", trigger="100.03"),
        ),
        "TRIGGER_PRICE_INCREMENT: trigger price 100.03 is not a multiple of 0.05",
    ),
    (
        "quantity-precision",
        {},
        _submit(qty="1.0001"),
        "QUANTITY_PRECISION: quantity 1.0001 has precision 4 > 3",
    ),
    (
        "quantity-increment",
        {},
        _then(
            lambda h: h.replace_instrument(size_increment=Quantity.from_str("0.010")),
            _submit(qty="1.005"),
        ),
        "QUANTITY_INCREMENT: quantity 1.005 is not a multiple of 0.010",
    ),
    (
        "quantity-below-min",
        {},
        _then(
            lambda h: h.replace_instrument(min_quantity=Quantity.from_str("0.010")),
            _submit(qty="0.005"),
        ),
        "QUANTITY_BELOW_MIN: quantity 0.005 < min 0.010",
    ),
    (
        "quantity-above-max",
        {},
        _submit(qty="101.000"),
        "QUANTITY_ABOVE_MAX: quantity 101.000 > max 100.000",
    ),
    (
        "notional-per-order",
        {"max_notional_per_order": {"BTCUSDT.SIM": "50000"}},
        _submit(qty="1.000", price="60000.00"),
        "NOTIONAL_EXCEEDS_MAX_PER_ORDER: notional 60000.00000000 USDT > max per order 50000 USDT",
    ),
    (
        "notional-below-min",
        {},
        _submit(qty="0.001", price="100.00"),
        "NOTIONAL_BELOW_MIN: notional 0.10000000 USDT < min 10.00000000 USDT",
    ),
    (
        "notional-above-max",
        {},
        _submit(qty="99.000", price="20000.00"),
        "NOTIONAL_ABOVE_MAX: notional 1980000.00000000 USDT > max 1000000.00000000 USDT",
    ),
    (
        "no-market-price",
        {},
        _then(
            lambda h: h.env.cache.add_instrument(make_instrument(id=InstrumentId("ADAUSDT.SIM"))),
            _submit(price=None, iid=InstrumentId("ADAUSDT.SIM")),
        ),
        "NO_MARKET_PRICE: no quote for ADAUSDT.SIM to value a MARKET order",
    ),
    (
        "balance-buy",
        {},
        _submit(qty="2.000", price="60000.00"),
        "INSUFFICIENT_FREE_BALANCE: need 120120.00000000 USDT, free 100000.00000000",
    ),
    (
        "balance-sell",
        {},
        _submit(side=OrderSide.SELL, qty="20.000", price="100.00"),
        "INSUFFICIENT_FREE_BALANCE: need 20.00000000 BTC, free 10.00000000",
    ),
    (
        "reduce-only",
        {},
        _submit(reduce_only=True),
        "REDUCE_ONLY_WOULD_INCREASE: BUY 1.000 against position 0 of S-001",
    ),
    (
        "submit-rate",
        {"max_order_submit_rate": "2/1s"},
        _rate,
        "SUBMIT_RATE_EXCEEDED: more than 2 submits per 1s",
    ),
    (
        "modify-rate",
        {"max_order_modify_rate": "1/1s"},
        _modify_rate,
        "MODIFY_RATE_EXCEEDED: more than 1 modifies per 1s",
    ),
    (
        "modify-precision",
        {},
        _modify_precision,
        "PRICE_PRECISION: price 100.555 has precision 3 > 2",
    ),
    ("modify-increment", {}, _modify_qty_increment, "QUANTITY_INCREMENT: quantity 1.005"),
    (
        "modify-unknown",
        {},
        lambda h: h.send(modify(order_init().client_order_id, price="1.00")),
        "ORDER_UNKNOWN",
    ),
]


@pytest.mark.parametrize(
    "config,scenario,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_denial_reason(
    config: dict[str, Any], scenario: Callable[[Harness], Any], expected: str
) -> None:
    h = Harness(**config)
    scenario(h)
    assert len(h.denials) == 1, h.denials
    denial = h.denials[0]
    assert isinstance(denial, (OrderDenied, OrderModifyRejected))
    assert denial.reason.startswith(expected), denial.reason
    code = denial.reason.split(":")[0]
    assert code in REASON_CODES
    assert h.engine.denied_by_reason == {code: 1}
    assert h.engine.denied_count == 1


def test_every_required_reason_has_a_scenario() -> None:
    required = {
        "TRADING_HALTED", "REDUCING_WOULD_INCREASE", "INSTRUMENT_UNKNOWN", "PRICE_PRECISION",
        "PRICE_INCREMENT", "TRIGGER_PRICE_PRECISION", "TRIGGER_PRICE_INCREMENT",
        "QUANTITY_PRECISION", "QUANTITY_INCREMENT", "QUANTITY_BELOW_MIN", "QUANTITY_ABOVE_MAX",
        "NOTIONAL_EXCEEDS_MAX_PER_ORDER", "NOTIONAL_BELOW_MIN", "NOTIONAL_ABOVE_MAX",
        "INSUFFICIENT_FREE_BALANCE", "REDUCE_ONLY_WOULD_INCREASE", "SUBMIT_RATE_EXCEEDED",
        "MODIFY_RATE_EXCEEDED", "DUPLICATE_CLIENT_ORDER_ID", "NO_MARKET_PRICE",
    }
    covered = {c[3].split(":")[0] for c in CASES}
    assert required <= covered


def test_denial_is_an_order_denied_for_the_order() -> None:
    h = Harness()
    init = order_init(price="100.123")
    h.send(submit(init))
    (denial,) = h.denials
    assert type(denial) is OrderDenied
    assert denial.client_order_id == init.client_order_id
    assert denial.strategy_id == STRAT and denial.instrument_id == IID
    assert h.approved == []


def test_valid_order_is_forwarded_to_its_venue() -> None:
    h = Harness()
    cmd = submit(order_init())
    h.send(cmd)
    assert h.approved == [cmd] and h.denials == []
    assert h.engine.approved_count == 1
    assert h.engine.counters()["approved"] == 1


def test_market_order_notional_uses_ask_for_buys_and_bid_for_sells() -> None:
    h = Harness(max_notional_per_order={"BTCUSDT.SIM": "150"})
    h.env.cache.add_quote_tick(quote("100.00", "200.00"))
    h.send(submit(order_init(price=None, qty="1.000")))  # 200 at the ask
    h.send(submit(order_init(price=None, qty="1.000", side=OrderSide.SELL)))  # 100 at the bid
    assert len(h.denials) == 1 and "notional 200.00000000 USDT" in h.denials[0].reason
    assert len(h.approved) == 1 and h.approved[0].order.side is OrderSide.SELL


def test_cancels_pass_even_when_halted() -> None:
    h = Harness(trading_state="HALTED")
    o = h.cache_accepted()
    c = cancel(o.client_order_id)
    h.send(c)
    assert h.approved == [c] and h.denials == []


def test_modify_is_denied_when_halted_and_forwarded_when_active() -> None:
    h = Harness()
    o = h.cache_accepted()
    h.engine.set_trading_state(TradingState.HALTED, "maintenance")
    h.send(modify(o.client_order_id, price="100.50"))
    assert type(h.denials[0]) is OrderModifyRejected
    assert h.denials[0].reason.startswith("TRADING_HALTED")
    h.engine.set_trading_state(TradingState.ACTIVE, "done")
    m = modify(o.client_order_id, price="100.50")
    h.send(m)
    assert h.approved == [m]


def test_reducing_allows_orders_that_reduce() -> None:
    h = Harness(portfolio=FakePortfolio("2"), trading_state="REDUCING")
    h.send(submit(order_init(side=OrderSide.SELL, qty="1.000")))
    h.send(submit(order_init(side=OrderSide.SELL, qty="3.000")))  # would flip short
    assert len(h.approved) == 1
    assert h.denials[0].reason.startswith("REDUCING_WOULD_INCREASE")


def test_reduce_only_checks_the_strategys_cached_position() -> None:
    h = Harness()
    buy = order_init(qty="2.000")
    pos = Position(make_instrument(), filled(buy, "2.000", "100.00", "T-1"))
    h.env.cache.add_position(pos)
    h.send(submit(order_init(side=OrderSide.SELL, qty="1.000", reduce_only=True)))
    h.send(submit(order_init(side=OrderSide.BUY, qty="1.000", reduce_only=True)))
    assert len(h.approved) == 1 and h.approved[0].order.side is OrderSide.SELL
    assert h.denials[0].reason.startswith(
        "REDUCE_ONLY_WOULD_INCREASE: BUY 1.000 against position 2"
    )


def test_venue_halt_is_per_venue_and_published() -> None:
    h = Harness()
    events = h.env.record(topics.RISK_EVENTS)
    other = Venue("XCH")
    h.engine.set_trading_state(TradingState.HALTED, "exec worker down", venue=other)
    assert h.engine.trading_state is TradingState.ACTIVE
    assert h.engine.trading_state_for(other) is TradingState.HALTED
    h.send(submit(order_init()))
    assert len(h.approved) == 1
    h.engine.set_trading_state(TradingState.ACTIVE, "exec worker back", venue=other)
    assert h.engine.venue_trading_states == {}
    assert [type(e) for e in events] == [TradingStateChanged, TradingStateChanged]
    assert events[0].venue == other and events[0].state is TradingState.HALTED
    assert events[0].reason == "exec worker down"


def test_global_halt_overrides_venue_reducing() -> None:
    h = Harness()
    h.engine.set_trading_state("REDUCING", "x", venue=SIM)
    h.engine.set_trading_state("HALTED", "y")
    assert h.engine.trading_state_for(SIM) is TradingState.HALTED


def test_bypass_skips_every_check() -> None:
    h = Harness(bypass=True, trading_state="HALTED")
    h.send(submit(order_init(iid=InstrumentId("ETHUSDT.SIM"), price="1.123456")))
    assert len(h.approved) == 1 and h.denials == []


def test_submit_throttle_frees_with_time() -> None:
    h = Harness(max_order_submit_rate="1/1s")
    h.send(submit(order_init()))
    h.send(submit(order_init()))
    h.env.clock.advance_time(SEC)
    h.send(submit(order_init()))
    assert len(h.approved) == 2 and len(h.denials) == 1


def test_denied_orders_do_not_consume_the_throttle() -> None:
    h = Harness(max_order_submit_rate="1/1s")
    h.send(submit(order_init(price="100.123")))
    h.send(submit(order_init()))
    assert len(h.approved) == 1
    assert h.engine.denied_by_reason == {"PRICE_PRECISION": 1}


def test_dispose_unsubscribes() -> None:
    h = Harness()
    h.engine.stop()
    h.engine.dispose()
    h.send(submit(order_init()))
    assert h.approved == [] and h.denials == []


def test_perpetual_sell_needs_settlement_margin_not_the_base_currency() -> None:
    from livenode.model.instruments import PerpetualContract
    from livenode.model.objects import Quantity

    from .helpers import make_instrument

    h = Harness()
    spot = make_instrument()
    perp = PerpetualContract(
        **{f: getattr(spot, f) for f in spot.__struct_fields__ if f != "multiplier"},
        multiplier=Quantity.from_str("1"),
    )
    h.env.cache.add_instrument(perp)
    # 20 BTC sold short is far more than the 10 BTC held, but a perpetual needs USDT margin.
    h.send(submit(order_init(side=OrderSide.SELL, qty="20.000", price="100.00")))
    assert h.denials == [] and len(h.approved) == 1
    # 2,000 USDT of margin fits 100,000 USDT free; 60 at 2,000 (120,000 USDT) does not.
    h.send(submit(order_init(side=OrderSide.SELL, qty="60.000", price="2000.00")))
    assert h.denials and h.denials[-1].reason.startswith("INSUFFICIENT_FREE_BALANCE: need 120120")


def test_a_reduce_only_close_is_not_held_to_the_per_order_notional_cap() -> None:
    from livenode.model.position import Position

    from .helpers import filled, make_instrument

    h = Harness(max_notional_per_order={"BTCUSDT.SIM": "150"})
    opening = order_init(side=OrderSide.BUY, qty="5.000", price="100.00")
    h.env.cache.add_position(Position(make_instrument(), filled(opening, "5.000", "100.00", "T-1")))
    # 500 USDT > 150: an opening order of that size is denied...
    h.send(submit(order_init(side=OrderSide.SELL, qty="5.000", price="100.00")))
    assert h.denials and h.denials[-1].reason.startswith("NOTIONAL_EXCEEDS_MAX_PER_ORDER")
    # ...the close that takes the position off is not.
    close = submit(order_init(side=OrderSide.SELL, qty="5.000", price="100.00", reduce_only=True))
    h.send(close)
    assert h.approved[-1] == close


def test_a_resent_submit_of_a_known_order_is_forwarded_unchecked() -> None:
    # A trader sends a submit again after a restart; the order was approved before
    # (or exec replayed it), so risk must not deny it as a duplicate or re-check it.
    h = Harness(trading_state="HALTED")
    known = h.cache_accepted(coid="RESEND-1")
    again = msgspec.structs.replace(submit(known), resend=True)
    h.send(again)
    assert h.approved == [again] and h.denials == []
    assert h.engine.counters()["resent_forwarded"] == 1


def test_a_resent_submit_of_an_unknown_order_is_checked_like_a_new_one() -> None:
    # The first send died with the old risk worker: the order is new to this one.
    h = Harness()
    fresh = msgspec.structs.replace(submit(order_init(coid="RESEND-2")), resend=True)
    h.send(fresh)
    assert h.approved == [fresh]
    bad = msgspec.structs.replace(
        submit(order_init(coid="RESEND-3", price="100.123")), resend=True
    )
    h.send(bad)
    assert len(h.denials) == 1 and h.denials[0].client_order_id == bad.order.client_order_id
    assert h.engine.counters()["resent_forwarded"] == 0


def test_a_resent_submit_of_an_order_this_worker_denied_is_not_approved_on_second_look() -> None:
    # The denial and the trader's resend (after an exec restart) cross: the order was
    # denied while HALTED; trading resumed before the resend arrived. Approving it now
    # would send an order to the venue that the trader already holds as DENIED.
    h = Harness(trading_state="HALTED")
    first = submit(order_init(coid="CROSSED-1"))
    h.send(first)
    assert len(h.denials) == 1 and h.denials[0].reason.startswith("TRADING_HALTED")
    h.engine.set_trading_state("ACTIVE", "exec is back")
    h.send(msgspec.structs.replace(first, resend=True))
    # Not approved; the sender did not hear the denial, so it gets it again (same
    # reason), and the order closes where it was made.
    assert h.approved == [] and len(h.denials) == 2
    assert h.denials[1].reason == h.denials[0].reason
    assert h.denials[1].client_order_id == first.order.client_order_id
    counters = h.engine.counters()
    assert counters["resends_dropped"] == 1 and counters["resent_forwarded"] == 0


def test_a_duplicate_of_an_approved_order_keeps_it_approved_for_a_resend() -> None:
    h = Harness()
    first = submit(order_init(coid="DUP-1"))
    h.send(first)
    h.send(first)  # a plain duplicate is denied...
    assert h.approved == [first] and h.denials[-1].reason.startswith("DUPLICATE_CLIENT_ORDER_ID")
    again = msgspec.structs.replace(first, resend=True)
    h.send(again)  # ...and the order stays approved: its resend goes through
    assert h.approved == [first, again]


def test_repeated_denials_are_counted_all_but_logged_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 18: a strategy denied on every tick wrote one WARNING per denial (18,775
    lines in one run). Per reason code: the first 10 lines, then one per minute."""
    h = Harness(trading_state="HALTED")
    caplog.set_level(logging.WARNING, logger="livenode.engines.risk")
    for _ in range(500):
        h.send(submit(order_init()))
    assert len(h.denials) == 500
    assert h.engine.counters()["denied.TRADING_HALTED"] == 500
    lines = [r for r in caplog.records if "RiskEngine: denied" in r.getMessage()]
    assert len(lines) == 10, len(lines)
