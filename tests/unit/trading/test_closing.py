"""What a reduce-only close can take on a netting account (`livenode.trading.closing`),
and the stop's flatten that follows it: an EXTERNAL fill (an order placed on the account
from outside) that offsets a strategy's position bounds the close, and a stop that has
nothing left to close is done instead of retrying a close the venue would refuse."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

import pytest

from livenode.core.uuid import new_id
from livenode.engines.clients import EXEC_ENGINE_PROCESS
from livenode.engines.venue_recovery import EXTERNAL_STRATEGY_ID
from livenode.model.commands import SubmitOrder
from livenode.model.enums import LiquiditySide, OmsType, OrderSide, OrderType
from livenode.model.events import OrderFilled
from livenode.model.identifiers import (
    AccountId,
    ClientOrderId,
    PositionId,
    TradeId,
    VenueOrderId,
)
from livenode.model.objects import Money, Price, Quantity
from livenode.trading.closing import close_cap, reduce_only_capacity
from livenode.trading.config import StrategyConfig
from livenode.trading.strategy import Strategy

from .helpers import ACCOUNT, BTC, TRADER_ID, USDT, Harness

D = Decimal


@pytest.mark.parametrize(("position", "account_net", "capacity"), [
    # Nothing offsets the position: the whole of it.
    ("1.0", "1.0", "1.0"),
    ("-0.05358", "-0.05358", "0.05358"),
    # An offset leaves the account's net smaller: at most that (the case:
    # short 0.05358, EXTERNAL bought 0.05, the account is short 0.00358).
    ("-0.05358", "-0.00358", "0.00358"),
    ("1.0", "0.4", "0.4"),
    # Others add to the account on the same side: still only the position.
    ("1.0", "3.0", "1.0"),
    # The account is flat, or net the other way: a reduce-only close would flip it.
    ("1.0", "0", "0"),
    ("-0.05358", "0", "0"),
    ("1.0", "-0.5", "0"),
    ("-0.05358", "0.00642", "0"),
    # No position: nothing to close.
    ("0", "1.0", "0"),
])
def test_the_capacity_is_the_position_at_most_the_accounts_net_on_its_side(
    position: str, account_net: str, capacity: str
) -> None:
    assert reduce_only_capacity(D(position), D(account_net)) == D(capacity)


class Holder(Strategy):
    """Holds whatever the test fills it; the stop flattens."""


def _fill(h: Harness, strategy_id: Any, side: OrderSide, qty: str, *, known: Any = None,
          account: AccountId = ACCOUNT, position_id: PositionId | None = None) -> None:
    """A venue fill: of the order `known` (a strategy's), else of an order the node does
    not know (another session's: the execution engine adopts it as EXTERNAL)."""
    now = h.clock.timestamp_ns()
    coid = known.client_order_id if known is not None else ClientOrderId(f"OUT-{new_id()[:8]}")
    h.msgbus.send(EXEC_ENGINE_PROCESS, OrderFilled(
        trader_id=TRADER_ID, strategy_id=strategy_id, instrument_id=BTC, client_order_id=coid,
        event_id=new_id(), ts_event=now, ts_init=now, venue_order_id=VenueOrderId(f"V-{coid}"),
        account_id=account, trade_id=TradeId(new_id()), position_id=position_id,
        order_side=side, order_type=OrderType.MARKET, last_qty=Quantity.from_str(qty),
        last_px=Price.from_str("100.00"), currency=USDT, commission=Money.new(0, USDT),
        liquidity_side=LiquiditySide.TAKER,
    ))


def _start(h: Harness, *strategies: Strategy) -> None:
    for strategy in strategies:
        h.trader.add_strategy(strategy)
    h.trader.start()


def _open(h: Harness, s: Strategy, side: OrderSide, qty: str, *,
          account: AccountId = ACCOUNT, position_id: PositionId | None = None) -> None:
    """`s` opens `qty` on `side` with a market order, which the venue fills."""
    assert s.order_factory is not None
    h.client.auto_fill_market = False  # the test fills, with the account and position id
    order = s.order_factory.market(BTC, side, Quantity.from_str(qty))
    s.submit_order(order, position_id=position_id)
    _fill(h, s.id, side, qty, known=order, account=account, position_id=position_id)
    h.client.auto_fill_market = True  # the stop's closes fill at once


def _holding(h: Harness, side: OrderSide, qty: str, strategy: Strategy | None = None,
             position_id: PositionId | None = None) -> Strategy:
    """A running strategy holding `qty` on `side`."""
    s = strategy or Holder(StrategyConfig(manage_stop_timeout=30.0))
    _start(h, s)
    _open(h, s, side, qty, position_id=position_id)
    return s


def _closes(h: Harness) -> list[tuple[OrderSide, Quantity]]:
    return [(c.order.side, c.order.quantity) for c in h.client.of_type(SubmitOrder)
            if c.order.reduce_only]


def test_the_cap_adds_every_strategys_position_on_the_account_external_included() -> None:
    h = Harness()
    s = Holder(StrategyConfig(manage_stop_timeout=30.0))
    # Another strategy trading through another account of the venue: not this account's
    # net, so it offsets nothing here.
    other = Holder(StrategyConfig(order_id_tag="B"))
    _start(h, s, other)
    _open(h, s, OrderSide.BUY, "1.000")
    _fill(h, EXTERNAL_STRATEGY_ID, OrderSide.SELL, "0.600")  # adopted as EXTERNAL
    _open(h, other, OrderSide.SELL, "0.200", account=AccountId("SIM-002"))
    assert len(h.cache.positions_open(instrument_id=BTC)) == 3
    (position,) = h.cache.positions_open(strategy_id=s.id)
    cap = close_cap(h.cache, position, OmsType.NETTING)
    assert cap.netted and cap.account_net == D("0.400")
    assert cap.quantity == Quantity.from_str("0.400")
    assert cap.offsets == {"EXTERNAL": D("-0.600")}
    assert cap.describe_offsets() == "EXTERNAL -0.600"
    # A strategy on a hedging account closes its position whole, as before.
    assert close_cap(h.cache, position, OmsType.HEDGING).quantity == position.quantity


async def test_the_stops_close_takes_what_the_external_offset_leaves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness()
    s = _holding(h, OrderSide.BUY, "1.000")
    _fill(h, EXTERNAL_STRATEGY_ID, OrderSide.SELL, "0.600")
    with caplog.at_level(logging.WARNING, logger=f"livenode.trading.{s.id}"):
        assert await asyncio.wait_for(h.trader.stop_async(), timeout=30) is True
    # One close of 0.400, not 1.000: the account is flat, the stop done, not timed out.
    assert _closes(h) == [(OrderSide.SELL, Quantity.from_str("0.400"))]
    (position,) = h.cache.positions_open(strategy_id=s.id)
    assert position.quantity == Quantity.from_str("0.600") and not s.manage_stop_timed_out
    warnings = [r.getMessage() for r in caplog.records]
    assert any("offset on account SIM-001 by EXTERNAL -0.600" in w and "net +0.400" in w
               and "takes 0.400 only" in w for w in warnings), warnings


@pytest.mark.parametrize("external", ["1.000", "1.500"])
async def test_no_close_when_the_account_is_flat_or_net_the_other_way(
    external: str, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness()
    s = _holding(h, OrderSide.BUY, "1.000")
    _fill(h, EXTERNAL_STRATEGY_ID, OrderSide.SELL, external)
    with caplog.at_level(logging.WARNING, logger=f"livenode.trading.{s.id}"):
        assert await asyncio.wait_for(h.trader.stop_async(), timeout=30) is True
    assert _closes(h) == [] and not s.manage_stop_timed_out
    assert h.cache.positions_open(strategy_id=s.id)[0].quantity == Quantity.from_str("1.000")
    (warning,) = [r.getMessage() for r in caplog.records if "is offset on" in r.getMessage()]
    account = "flat" if external == "1.000" else "net -0.500 (the other way)"
    assert f"by EXTERNAL -{external}: the account is {account} in BTCUSDT.SIM" in warning
    assert "no close is sent" in warning
    assert s.close_position(h.cache.positions_open(strategy_id=s.id)[0]) is False


async def test_another_strategys_offset_bounds_the_close_too() -> None:
    h = Harness()
    buyer = Holder(StrategyConfig(order_id_tag="L", manage_stop_timeout=30.0))
    seller = Holder(StrategyConfig(order_id_tag="S", manage_stop=False))
    _start(h, buyer, seller)
    _open(h, buyer, OrderSide.BUY, "1.000")
    _open(h, seller, OrderSide.SELL, "0.250")
    await asyncio.wait_for(buyer.stop_async(), timeout=30)
    assert _closes(h) == [(OrderSide.SELL, Quantity.from_str("0.750"))]


async def test_a_hedging_strategy_and_a_venue_position_id_close_the_whole_position() -> None:
    # Per-position (hedged) accounts: a reduce-only close reduces that position at the
    # venue, not the account's net: closed whole, as before.
    class Hedger(Holder):
        oms_type = OmsType.HEDGING

    h = Harness()
    s = _holding(h, OrderSide.BUY, "1.000", Hedger(StrategyConfig(manage_stop_timeout=30.0)))
    _fill(h, EXTERNAL_STRATEGY_ID, OrderSide.SELL, "0.600")
    assert await asyncio.wait_for(h.trader.stop_async(), timeout=30) is True
    assert _closes(h) == [(OrderSide.SELL, Quantity.from_str("1.000"))]

    h = Harness()
    s = _holding(h, OrderSide.BUY, "1.000", position_id=PositionId("VENUE-P-1"))
    _fill(h, EXTERNAL_STRATEGY_ID, OrderSide.SELL, "0.600")
    (position,) = h.cache.positions_open(strategy_id=s.id)
    assert position.id == PositionId("VENUE-P-1")
    assert close_cap(h.cache, position, OmsType.NETTING).netted is False
    assert s.close_position(position) is True
    assert _closes(h) == [(OrderSide.SELL, Quantity.from_str("1.000"))]


def test_the_cap_rounds_down_to_the_positions_precision() -> None:
    # A finer offset (more digits than the instrument) never makes the close larger
    # than the account's net.
    h = Harness()
    s = _holding(h, OrderSide.BUY, "1.000")
    (position,) = h.cache.positions_open(strategy_id=s.id)
    _fill(h, EXTERNAL_STRATEGY_ID, OrderSide.SELL, "0.6005")
    cap = close_cap(h.cache, position, OmsType.NETTING)
    assert cap.account_net == D("0.3995") and cap.quantity == Quantity.from_str("0.399")
