"""`Strategy.is_flat_and_idle`: flat, and no order of the strategy for the instrument
that could still fill (working, in flight, or submitted but not yet acknowledged);
and the README's DipBuyer, which relies on it, buys once per dip."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any

import pytest

from livenode.model.commands import SubmitOrder
from livenode.model.enums import OrderSide, OrderStatus
from livenode.model.events import OrderAccepted, OrderSubmitted
from livenode.model.identifiers import InstrumentId, VenueOrderId
from livenode.model.objects import Price, Quantity
from livenode.trading.config import StrategyConfig
from livenode.trading.strategy import Strategy

from .helpers import ACCOUNT, BTC, Harness

ROOT = Path(__file__).resolve().parents[3]
ETH = InstrumentId.from_str("ETHUSDT-PERP.SIM")
QTY = Quantity.from_str("1.000")
PX = Price.from_str("100.00")


class Plain(Strategy):
    pass


@pytest.fixture
def h() -> Harness:
    return Harness()


def started(h: Harness, tag: str = "001") -> Strategy:
    s = Plain(StrategyConfig(order_id_tag=tag))
    h.trader.add_strategy(s)
    s.start()
    return s


def market(s: Strategy, side: OrderSide = OrderSide.BUY) -> Any:
    assert s.order_factory is not None
    return s.order_factory.market(BTC, side, QTY)


def test_idle_only_when_no_order_can_still_fill_and_no_position_is_held(h: Harness) -> None:
    s = started(h)
    assert s.is_flat_and_idle(BTC)
    h.client.auto_accept = False  # the venue answers when the test says so
    order = market(s)
    s.submit_order(order)
    assert order.status is OrderStatus.INITIALIZED  # submitted, not acknowledged
    assert s.portfolio is not None and s.portfolio.is_flat(BTC)  # what is_flat cannot see
    assert not s.is_flat_and_idle(BTC)
    assert s.is_flat_and_idle(ETH)  # another instrument is not affected
    h.client.emit(OrderSubmitted, order, account_id=ACCOUNT)
    assert order.status is OrderStatus.SUBMITTED and not s.is_flat_and_idle(BTC)
    h.client.emit(OrderAccepted, order, account_id=ACCOUNT, venue_order_id=VenueOrderId("V-1"))
    assert order.status is OrderStatus.ACCEPTED and not s.is_flat_and_idle(BTC)
    h.client.fill(order, QTY, PX)
    assert order.status is OrderStatus.FILLED and not s.is_flat_and_idle(BTC)  # long now
    h.client.auto_accept = True
    assert s.close_all_positions() == 1
    assert s.is_flat_and_idle(BTC)
    assert s._unacknowledged == {}  # nothing kept for orders that moved on


def test_a_resting_limit_order_is_not_idle_until_it_is_canceled(h: Harness) -> None:
    s = started(h)
    assert s.order_factory is not None
    order = s.order_factory.limit(BTC, OrderSide.BUY, QTY, Price.from_str("99.00"))
    s.submit_order(order)
    assert order.status is OrderStatus.ACCEPTED and not s.is_flat_and_idle(BTC)
    s.cancel_order(order)
    assert order.status is OrderStatus.CANCELED and s.is_flat_and_idle(BTC)


def test_a_rejected_order_leaves_the_strategy_idle(h: Harness) -> None:
    s = started(h)
    h.client.reject_market = True
    order = market(s)
    s.submit_order(order)
    assert order.status is OrderStatus.REJECTED and s.is_flat_and_idle(BTC)


def test_other_strategies_orders_and_positions_do_not_count(h: Harness) -> None:
    mine, other = started(h, "001"), started(h, "002")
    h.client.auto_accept = False
    other.submit_order(market(other))
    assert not other.is_flat_and_idle(BTC) and mine.is_flat_and_idle(BTC)
    h.client.auto_accept = True
    other.submit_order(market(other))  # filled: `other` is long
    assert mine.is_flat_and_idle(BTC)


def test_on_order_filled_already_sees_the_position_the_fill_made(h: Harness) -> None:
    seen: list[bool] = []

    class Asker(Strategy):
        def on_order_filled(self, event: Any) -> None:
            seen.append(self.is_flat_and_idle(BTC))

    s = Asker(StrategyConfig(order_id_tag="009"))
    h.trader.add_strategy(s)
    s.start()
    s.submit_order(market(s))
    assert seen == [False]


def readme_dip_buyer() -> types.ModuleType:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"```python\n(.*?)```", readme, re.S)
    assert match, "README has no ```python block"
    module = types.ModuleType("readme_my_strategies")
    exec(compile(match.group(1), "README.md", "exec"), module.__dict__)
    return module


def test_readme_dip_buyer_buys_once_while_its_order_is_on_its_way(h: Harness) -> None:
    my = readme_dip_buyer()
    s = my.DipBuyer(my.DipBuyerConfig(instrument_id="BTCUSDT.SIM", dip_bps=3.0))
    h.trader.add_strategy(s)
    h.trader.start()
    h.client.auto_accept = False  # a fast replay: quotes arrive before the venue answers
    h.quote("100.00", "100.02")
    for bid in ("99.90", "99.80", "99.70", "99.60"):  # each one a dip below the last high
        h.quote(bid, f"{float(bid) + 0.02:.2f}")
    assert len(h.client.of_type(SubmitOrder)) == 1
    [command] = h.client.of_type(SubmitOrder)
    h.client.emit(OrderSubmitted, command.order, account_id=ACCOUNT)
    h.client.emit(OrderAccepted, command.order, account_id=ACCOUNT,
                  venue_order_id=VenueOrderId("V-1"))
    h.client.fill(command.order, command.order.quantity, Price.from_str("99.62"))
    for bid in ("99.50", "99.40"):  # long now: still no second buy
        h.quote(bid, f"{float(bid) + 0.02:.2f}")
    assert len(h.client.of_type(SubmitOrder)) == 1


def test_an_order_is_forgotten_as_unacknowledged_by_its_own_first_event(h: Harness) -> None:
    # Each event forgets its own order (one lookup), so a strategy whose venue lags
    # does not rescan every unanswered order on each submit.
    s = started(h)
    h.client.auto_accept = False
    orders = [market(s) for _ in range(3)]
    for order in orders:
        s.submit_order(order)
    assert list(s._unacknowledged) == [o.client_order_id for o in orders]
    h.client.emit(OrderSubmitted, orders[1], account_id=ACCOUNT)
    assert list(s._unacknowledged) == [orders[0].client_order_id, orders[2].client_order_id]
    for order in (orders[0], orders[2]):
        h.client.emit(OrderSubmitted, order, account_id=ACCOUNT)
    assert s._unacknowledged == {}  # no later submit or is_flat_and_idle call needed
