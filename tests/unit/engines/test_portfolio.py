"""Portfolio: net positions, PnL marked from quotes, exposure, balances, initialization."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from livenode.bus import topics
from livenode.config import ExecEngineConfig, PortfolioConfig
from livenode.engines.clients import EXEC_ENGINE_PROCESS
from livenode.engines.execution_engine import ExecutionEngine
from livenode.engines.portfolio import Portfolio, PortfolioFacade
from livenode.model.enums import OrderSide
from livenode.model.identifiers import AccountId, StrategyId, Venue
from livenode.model.objects import Money
from livenode.model.orders import Order

from .helpers import (
    BTC,
    IID,
    SIM,
    STRAT,
    USDT,
    Env,
    RecordingExecClient,
    accepted,
    account_state,
    filled,
    make_env,
    make_instrument,
    order_init,
    quote,
    submitted,
)

OTHER = StrategyId("S-002")


class Harness:
    def __init__(self) -> None:
        self.env: Env = make_env()
        self.env.cache.add_instrument(make_instrument())
        self.exec = ExecutionEngine(
            self.env.msgbus, self.env.cache, self.env.clock, ExecEngineConfig()
        )
        self.exec.register_client(RecordingExecClient())
        self.portfolio = Portfolio(
            self.env.msgbus, self.env.cache, self.env.clock, PortfolioConfig()
        )
        self.portfolio.start()
        self.n = 0

    def fill(self, side: OrderSide, qty: str, px: str, strategy_id: StrategyId = STRAT,
             commission: str = "0") -> None:
        self.n += 1
        init = order_init(side=side, qty=qty, price=px, strategy_id=strategy_id)
        order = Order(init)
        self.env.cache.add_order(order)
        for event in (
            submitted(init),
            accepted(init, vid=f"V-{self.n}"),
            filled(init, qty, px, f"T-{self.n}", commission=commission, vid=f"V-{self.n}"),
        ):
            self.env.msgbus.send(EXEC_ENGINE_PROCESS, event)

    def quote(self, bid: str, ask: str) -> None:
        # What the data engine publishes; the portfolio listens on the quote topic.
        self.env.msgbus.publish(topics.quotes(IID), quote(bid, ask))


@pytest.fixture
def h() -> Harness:
    return Harness()


def usdt(value: str) -> Money:
    return Money.new(value, USDT)


def test_flat_portfolio(h: Harness) -> None:
    p = h.portfolio
    assert p.net_position(IID) == 0 and p.is_flat(IID) and p.is_completely_flat()
    assert p.unrealized_pnl(IID) is None and p.realized_pnl(IID) is None
    assert p.net_exposure(IID) is None


def test_long_is_marked_at_the_bid(h: Harness) -> None:
    h.fill(OrderSide.BUY, "2.000", "100.00")
    p = h.portfolio
    assert p.net_position(IID) == Decimal("2.000") and p.is_net_long(IID)
    assert p.unrealized_pnl(IID) is None  # no quote yet to mark at
    h.quote("103.00", "105.00")
    assert p.unrealized_pnl(IID) == usdt("6")          # (103 - 100) * 2
    assert p.net_exposure(IID) == usdt("206")
    h.quote("99.00", "99.50")
    assert p.unrealized_pnl(IID) == usdt("-2")
    assert p.total_pnl(IID) == usdt("-2")


def test_short_is_marked_at_the_ask(h: Harness) -> None:
    h.fill(OrderSide.SELL, "1.000", "100.00")
    h.quote("95.00", "96.00")
    p = h.portfolio
    assert p.net_position(IID) == Decimal("-1") and p.is_net_short(IID)
    assert p.unrealized_pnl(IID) == usdt("4")          # (100 - 96) * 1
    assert p.net_exposure(IID) == usdt("-96")


def test_realized_pnl_net_of_commissions_and_survives_reopen(h: Harness) -> None:
    h.fill(OrderSide.BUY, "1.000", "100.00", commission="0.10")
    h.fill(OrderSide.SELL, "1.000", "110.00", commission="0.11")
    p = h.portfolio
    assert p.is_flat(IID)
    assert p.realized_pnl(IID) == usdt("9.79")
    h.fill(OrderSide.BUY, "1.000", "100.00")   # reopens the netting position
    h.fill(OrderSide.SELL, "1.000", "105.00")
    assert p.realized_pnl(IID) == usdt("14.79")
    h.quote("1.00", "2.00")
    assert p.unrealized_pnl(IID) == usdt("0") and p.total_pnl(IID) == usdt("14.79")


def test_per_strategy_queries(h: Harness) -> None:
    h.fill(OrderSide.BUY, "3.000", "100.00", strategy_id=STRAT)
    h.fill(OrderSide.SELL, "1.000", "100.00", strategy_id=OTHER)
    h.quote("101.00", "102.00")
    p = h.portfolio
    assert p.net_position(IID) == Decimal("2")
    assert p.net_position(IID, STRAT) == Decimal("3")
    assert p.net_position(IID, OTHER) == Decimal("-1")
    assert p.unrealized_pnl(IID, STRAT) == usdt("3")
    assert p.unrealized_pnl(IID, OTHER) == usdt("-2")
    assert p.unrealized_pnl(IID) == usdt("1")
    assert p.unrealized_pnls(SIM) == {USDT: usdt("1")}
    assert p.unrealized_pnls(Venue("XCH")) == {}


def test_balances_and_initialization(h: Harness) -> None:
    p = h.portfolio
    assert not p.is_initialized and not p.is_initialized_for([SIM])
    h.env.msgbus.send(EXEC_ENGINE_PROCESS, account_state("5000", "2"))
    assert p.is_initialized and p.is_initialized_for([SIM])
    balances = p.balances(SIM)
    assert balances[USDT].free == usdt("5000") and balances[BTC].total == Money.new("2", BTC)
    assert p.balances(Venue("XCH")) == {}


async def test_wait_initialized_wakes_on_account_events(h: Harness) -> None:
    xch = Venue("XCH")
    waiter = asyncio.create_task(h.portfolio.wait_initialized([SIM, xch], 5.0))
    await asyncio.sleep(0)
    h.env.msgbus.send(EXEC_ENGINE_PROCESS, account_state())
    await asyncio.sleep(0)
    assert not waiter.done()
    h.env.msgbus.send(EXEC_ENGINE_PROCESS, account_state(account_id=AccountId("XCH-001")))
    assert await waiter is True


async def test_wait_initialized_times_out(h: Harness) -> None:
    assert await h.portfolio.wait_initialized([SIM], 0.01) is False


def test_starts_from_the_cache() -> None:
    h = Harness()
    h.fill(OrderSide.BUY, "1.000", "100.00")
    h.env.cache.add_quote_tick(quote("110.00", "111.00"))
    fresh = Portfolio(h.env.msgbus, h.env.cache, h.env.clock, PortfolioConfig(),
                      component_id="Portfolio2")
    assert fresh.net_position(IID) == 1 and fresh.unrealized_pnl(IID) == usdt("10")


def test_facade_is_read_only(h: Harness) -> None:
    h.fill(OrderSide.BUY, "1.000", "100.00")
    h.quote("101.00", "102.00")
    facade = h.portfolio.facade
    assert isinstance(facade, PortfolioFacade)
    assert facade.net_position(IID) == 1 and facade.unrealized_pnl(IID) == usdt("1")
    assert facade.is_net_long(IID) and not facade.is_flat(IID)
    for mutator in ("start", "stop", "dispose", "_on_quote", "_on_position_event"):
        assert not hasattr(facade, mutator)
    with pytest.raises(AttributeError):
        facade.extra = 1  # type: ignore[attr-defined]


def test_a_flip_keeps_the_lifetime_total_and_records_the_closed_cycle(h: Harness) -> None:
    """Issue 10 on the portfolio: SELL 2@120 (fee 0.12), BUY 3@100 (fee 0.30), SELL 1@105
    (fee 0.05). The flip's PositionClosed (39.68) and PositionOpened (-0.10) add up."""
    p = h.portfolio
    h.fill(OrderSide.SELL, "2.000", "120.00", commission="0.12")
    h.fill(OrderSide.BUY, "3.000", "100.00", commission="0.30")
    assert p.net_position(IID) == Decimal("1")
    assert p.realized_pnl(IID) == usdt("39.58")  # 39.68 - 0.10
    (closed,) = p.closed_positions()
    assert closed.realized_pnl == usdt("39.68") and closed.peak_qty.as_decimal() == 2
    assert p.closed_positions(IID, OTHER) == []
    h.quote("104.00", "105.00")
    assert p.unrealized_pnl(IID) == usdt("4") and p.total_pnl(IID) == usdt("43.58")
    h.fill(OrderSide.SELL, "1.000", "105.00", commission="0.05")
    assert p.is_flat(IID)
    assert p.realized_pnl(IID) == usdt("44.53")  # 39.68 + 4.85
    assert [c.realized_pnl for c in p.closed_positions(IID)] == [usdt("39.68"), usdt("4.85")]
    assert p.counters()["closed_positions"] == 2
    assert p.facade.closed_positions() == p.closed_positions()


def test_starts_from_the_cache_with_the_cycles_a_flip_closed() -> None:
    h = Harness()
    h.fill(OrderSide.SELL, "2.000", "120.00", commission="0.12")
    h.fill(OrderSide.BUY, "3.000", "100.00", commission="0.30")
    fresh = Portfolio(h.env.msgbus, h.env.cache, h.env.clock, PortfolioConfig(),
                      component_id="Portfolio2")
    assert fresh.net_position(IID) == 1
    assert fresh.realized_pnl(IID) == usdt("39.58")
    assert [c.realized_pnl for c in fresh.closed_positions()] == [usdt("39.68")]


def test_a_position_event_heard_twice_counts_its_pnl_once(h: Harness) -> None:
    """Issue 17: the same PositionOpened published twice archived the realized PnL of
    the cycle before twice (39.58 -> 39.48). The portfolio uses the duplicate rule of the
    strategies and statistics (`SeenEvents`)."""
    heard: list[object] = []
    h.env.msgbus.subscribe(topics.ALL_POSITION_EVENTS, heard.append)
    h.fill(OrderSide.SELL, "2.000", "120.00", commission="0.12")
    h.fill(OrderSide.BUY, "3.000", "100.00", commission="0.30")
    p = h.portfolio
    assert p.realized_pnl(IID) == usdt("39.58")
    before = p.position_events
    for event in heard[-2:]:  # the flip's PositionClosed and PositionOpened, again
        h.env.msgbus.publish(topics.position_events(event.strategy_id), event)
    assert p.realized_pnl(IID) == usdt("39.58")
    assert p.position_events == before and p.counters()["closed_positions"] == 1


def test_a_position_rebuilt_from_a_snapshot_loads_with_its_pnl() -> None:
    """Issue 17: a position rebuilt from a snapshot (no fills: a restarted worker's
    replay) made the portfolio's load raise IndexError and skip it."""
    from livenode.model.position import Position

    h = Harness()
    heard: list[object] = []
    h.env.msgbus.subscribe(topics.ALL_POSITION_EVENTS, heard.append)
    h.fill(OrderSide.BUY, "2.000", "100.00", commission="0.20")
    (snapshot,) = heard
    env = make_env()
    env.cache.add_instrument(make_instrument())
    env.cache.add_position(Position.from_snapshot(make_instrument(), snapshot))
    env.cache.add_quote_tick(quote("101.00", "102.00"))
    fresh = Portfolio(env.msgbus, env.cache, env.clock, PortfolioConfig())
    assert fresh.net_position(IID) == Decimal("2.000")
    assert fresh.realized_pnl(IID) == usdt("-0.20")
    assert fresh.unrealized_pnl(IID) == usdt("2")
