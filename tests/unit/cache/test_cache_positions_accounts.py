"""Cache positions (netting, reopening) and accounts (by id and by venue)."""

from __future__ import annotations

import msgspec
import pytest

from livenode.cache.cache import Cache
from livenode.cache.facade import CacheFacade
from livenode.core.errors import DuplicateCacheEntryError
from livenode.core.uuid import new_id
from livenode.model.accounts import CashAccount, MarginAccount
from livenode.model.enums import AccountType, OrderSide
from livenode.model.events import AccountState
from livenode.model.identifiers import AccountId, InstrumentId, PositionId, StrategyId, Venue
from livenode.model.objects import AccountBalance, Currency, Money
from livenode.model.position import Position

from .helpers import (
    BTCPERP_OTHER,
    BTCUSDT_SIM,
    EMA,
    ETHUSDT_SIM,
    MM,
    filled,
    order_init,
    pair,
    perp,
)

SIM, OTHER = Venue("SIM"), Venue("OTHER")
INSTRUMENTS = {
    BTCUSDT_SIM: pair(BTCUSDT_SIM),
    ETHUSDT_SIM: pair(ETHUSDT_SIM),
    BTCPERP_OTHER: perp(BTCPERP_OTHER),
}


def open_position(
    instrument_id: InstrumentId = BTCUSDT_SIM,
    strategy_id: StrategyId = EMA,
    side: OrderSide = OrderSide.BUY,
) -> Position:
    price = "100.0" if instrument_id == BTCPERP_OTHER else "100.00"
    init = order_init(instrument_id=instrument_id, strategy_id=strategy_id, side=side, price=price)
    return Position(INSTRUMENTS[instrument_id], filled(init))


def close(position: Position) -> None:
    side = OrderSide.SELL if position.is_long else OrderSide.BUY
    price = "100.0" if position.instrument_id == BTCPERP_OTHER else "101.00"
    init = order_init(
        instrument_id=position.instrument_id,
        strategy_id=position.strategy_id,
        side=side,
        qty=str(position.quantity),
        price=price,
    )
    position.apply(filled(init))


def pids(positions: list[Position]) -> list[str]:
    return [p.id.value for p in positions]


def test_add_get_and_duplicate() -> None:
    cache = Cache()
    pos = open_position()
    cache.add_position(pos)
    assert cache.position(pos.id) is pos
    assert cache.position_exists(pos.id)
    assert cache.position(PositionId("nope")) is None
    with pytest.raises(DuplicateCacheEntryError, match=pos.id.value):
        cache.add_position(pos)


def test_open_closed_indexes_and_reopen() -> None:
    cache = Cache()
    pos = open_position()
    cache.add_position(pos)
    assert cache.positions_open() == [pos] and cache.positions_closed() == []
    assert cache.positions_open_count() == 1
    close(pos)
    cache.update_position(pos)
    assert pos.is_closed
    assert cache.positions_open() == [] and cache.positions_closed() == [pos]
    assert cache.position_for_instrument_and_strategy(BTCUSDT_SIM, EMA) is pos
    # Netting: a new fill reopens the same position id.
    pos.apply(filled(order_init(side=OrderSide.SELL)))
    cache.update_position(pos)
    assert pos.is_open
    assert cache.positions_open() == [pos] and cache.positions_closed() == []
    assert cache.positions() == [pos]


def test_update_unknown_position_adds_it() -> None:
    cache = Cache()
    pos = open_position()
    cache.update_position(pos)
    assert cache.positions_open(strategy_id=EMA) == [pos]


def test_position_queries_by_venue_instrument_strategy() -> None:
    cache = Cache()
    a = open_position(BTCUSDT_SIM, EMA)
    b = open_position(ETHUSDT_SIM, EMA)
    c = open_position(BTCUSDT_SIM, MM, OrderSide.SELL)
    d = open_position(BTCPERP_OTHER, MM)
    for p in (a, b, c, d):
        cache.add_position(p)
    close(b)
    cache.update_position(b)
    assert cache.positions() == [a, b, c, d]
    assert cache.positions(strategy_id=EMA) == [a, b]
    assert cache.positions_open(strategy_id=EMA) == [a]
    assert cache.positions_closed(strategy_id=EMA) == [b]
    assert cache.positions(instrument_id=BTCUSDT_SIM) == [a, c]
    assert cache.positions(venue=SIM) == [a, b, c]
    assert cache.positions_open(venue=OTHER) == [d]
    assert cache.positions(venue=SIM, strategy_id=MM) == [c]
    assert cache.positions(venue=Venue("NOPE")) == []
    assert cache.positions_open_count(venue=SIM) == 2
    assert cache.position_for_instrument_and_strategy(BTCUSDT_SIM, MM) is c
    assert cache.position_for_instrument_and_strategy(ETHUSDT_SIM, MM) is None
    facade = CacheFacade(cache)
    assert facade.positions_open(strategy_id=MM) == [c, d]
    assert facade.position_for_instrument_and_strategy(ETHUSDT_SIM, EMA) is b


def test_open_position_of_pair_preferred_over_closed_one() -> None:
    # Positions with explicit ids (e.g. from a venue) can give one pair two positions.
    cache = Cache()
    old = open_position()
    cache.add_position(old)
    close(old)
    cache.update_position(old)
    fill = filled(order_init())
    fill = msgspec.structs.replace(fill, position_id=PositionId("P-2"))
    new = Position(INSTRUMENTS[BTCUSDT_SIM], fill)
    cache.add_position(new)
    assert cache.position_for_instrument_and_strategy(BTCUSDT_SIM, EMA) is new
    cache.update_position(old)  # a closed position re-indexed does not take over
    assert cache.position_for_instrument_and_strategy(BTCUSDT_SIM, EMA) is new


def _state(account_id: str, account_type: AccountType, total: str) -> AccountState:
    usdt = Currency.from_str("USDT")
    return AccountState(
        account_id=AccountId(account_id),
        account_type=account_type,
        balances=[
            AccountBalance(
                total=Money.new(total, usdt), locked=Money.zero(usdt), free=Money.new(total, usdt)
            )
        ],
        event_id=new_id(),
        ts_event=0,
        ts_init=0,
    )


def test_accounts_by_id_and_venue() -> None:
    cache = Cache()
    sim = CashAccount(_state("SIM-001", AccountType.CASH, "1000"))
    other = MarginAccount(_state("OTHER-001", AccountType.MARGIN, "50"))
    cache.add_account(sim)
    cache.add_account(other)
    assert cache.account(AccountId("SIM-001")) is sim
    assert cache.account(AccountId("NOPE-001")) is None
    assert cache.account_for_venue(SIM) is sim
    assert cache.account_for_venue(OTHER) is other
    assert cache.account_for_venue(Venue("NOPE")) is None
    assert cache.accounts() == [sim, other]
    with pytest.raises(DuplicateCacheEntryError, match="SIM-001"):
        cache.add_account(CashAccount(_state("SIM-001", AccountType.CASH, "1")))
    sim.apply(_state("SIM-001", AccountType.CASH, "900"))
    cache.update_account(sim)
    assert cache.account_for_venue(SIM) is sim
    facade = CacheFacade(cache)
    assert facade.account_for_venue(SIM) is sim and facade.accounts() == [sim, other]


def test_update_unknown_account_adds_it() -> None:
    cache = Cache()
    acc = CashAccount(_state("SIM-002", AccountType.CASH, "10"))
    cache.update_account(acc)
    assert cache.account_for_venue(SIM) is acc
