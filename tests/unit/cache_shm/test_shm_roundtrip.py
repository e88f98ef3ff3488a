"""Write → read round trips of every table with model objects, and registration."""

from __future__ import annotations

import os
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livenode.cache.shm import PositionSnapshot, ShmTables
from livenode.model.data import Bar, BarSpecification, BarType, QuoteTick, TradeTick
from livenode.model.enums import AccountType, AggressorSide, BarAggregation, PositionSide, PriceType
from livenode.model.events import AccountState
from livenode.model.identifiers import AccountId, InstrumentId, StrategyId, TradeId
from livenode.model.objects import AccountBalance, Currency, Money, Price, Quantity

from .conftest import BTC, ETH

RAW = st.integers(min_value=-(2**63 - 1), max_value=2**63 - 1)
UNSIGNED = st.integers(min_value=0, max_value=2**63 - 1)
TS = st.integers(min_value=0, max_value=2**64 - 1)
FIXTURE_OK = settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
BAR_1S = BarType(BTC, BarSpecification(1, BarAggregation.SECOND, PriceType.MID))
STRAT = StrategyId("EMACross-001")
ACCOUNT = AccountId("SIM-001")
USDT = Currency.from_str("USDT")


def test_reads_before_any_write_are_none(attached: ShmTables) -> None:
    assert attached.quotes.read(BTC) is None
    assert attached.trades.read(BTC) is None
    assert attached.quotes.read(InstrumentId("NOPE.SIM")) is None
    assert attached.bars.read(BAR_1S) is None
    assert attached.positions.read(STRAT, BTC) is None
    assert attached.accounts.read(ACCOUNT, USDT) is None
    assert attached.quotes.read_raw(0) is None
    assert attached.quotes.age_ns(BTC) is None


@FIXTURE_OK
@given(RAW, RAW, UNSIGNED, UNSIGNED, TS, TS)
def test_quote_round_trip(
    tables: ShmTables, attached: ShmTables, bid: int, ask: int, bs: int, asz: int, te: int, ti: int
) -> None:
    quote = QuoteTick(ETH, Price(bid, 2), Price(ask, 2), Quantity(bs, 4), Quantity(asz, 4), te, ti)
    tables.quotes.write(quote)
    assert attached.quotes.read(ETH) == quote
    assert attached.quotes.read_raw(attached.instruments.row_of(ETH)) == (bid, ask, bs, asz, te, ti)


@FIXTURE_OK
@given(RAW, UNSIGNED, st.sampled_from(list(AggressorSide)), st.text(min_size=1, max_size=20).filter(
    lambda s: s.isprintable() and " " not in s), TS, TS)
def test_trade_round_trip(
    tables: ShmTables,
    attached: ShmTables,
    px: int,
    sz: int,
    side: AggressorSide,
    tid: str,
    te: int,
    ti: int,
) -> None:
    trade = TradeTick(BTC, Price(px, 2), Quantity(sz, 3), side, TradeId(tid), te, ti)
    tables.trades.write(trade)
    assert attached.trades.read(BTC) == trade


@FIXTURE_OK
@given(st.lists(st.integers(-(10**15), 10**15), min_size=4, max_size=4), UNSIGNED, TS, TS)
def test_bar_round_trip(
    tables: ShmTables, attached: ShmTables, prices: list[int], vol: int, te: int, ti: int
) -> None:
    o, c = prices[0], prices[1]
    hi, lo = max(prices), min(prices)
    bar = Bar(
        BAR_1S, Price(o, 2), Price(hi, 2), Price(lo, 2), Price(c, 2), Quantity(vol, 3), te, ti
    )
    tables.bars.write(bar)
    assert attached.bars.read(BAR_1S) == bar
    assert attached.bars.bar_types() == [BAR_1S]


def test_mid_bar_keeps_its_extra_digit(tables: ShmTables, attached: ShmTables) -> None:
    # A MID bar's prices and volume carry one digit more than the instrument (2, 3).
    mid = BarType(ETH, BarSpecification(1, BarAggregation.SECOND, PriceType.MID))
    bar = Bar(mid, Price(300005, 3), Price(300015, 3), Price(299995, 3), Price(300005, 3),
              Quantity(12345, 4), 1, 2)
    tables.bars.write(bar)
    assert attached.bars.read(mid) == bar


@FIXTURE_OK
@given(
    st.sampled_from(list(PositionSide)),
    st.integers(0, 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none() | st.floats(allow_nan=False, allow_infinity=False),
    RAW,
    RAW,
    TS,
    TS,
)
def test_position_round_trip(
    tables: ShmTables,
    attached: ShmTables,
    side: PositionSide,
    qty: int,
    avg_open: float,
    avg_close: float | None,
    rpnl: int,
    upnl: int,
    te: int,
    ti: int,
) -> None:
    signed = -qty if side is PositionSide.SHORT else qty
    snap = PositionSnapshot(STRAT, BTC, side, Quantity(qty, 3), signed, avg_open, avg_close,
                            Money(rpnl, 8, USDT), Money(upnl, 8, USDT), te, ti)
    tables.positions.write(snap)
    assert attached.positions.read(STRAT, BTC) == snap
    assert attached.positions.keys() == [(STRAT, BTC)]


@FIXTURE_OK
@given(st.integers(0, 10**15), st.integers(0, 10**15), TS, TS)
def test_account_round_trip(
    tables: ShmTables, attached: ShmTables, locked: int, free: int, te: int, ti: int
) -> None:
    usd = Currency.from_str("USD")
    balances = [
        AccountBalance(Money(locked + free, 8, USDT), Money(locked, 8, USDT), Money(free, 8, USDT)),
        AccountBalance(Money(free, 2, usd), Money(0, 2, usd), Money(free, 2, usd)),
    ]
    state = AccountState(account_id=ACCOUNT, account_type=AccountType.CASH, balances=balances,
                         event_id="e1", ts_event=te, ts_init=ti)
    tables.accounts.write_state(state)
    assert attached.accounts.read(ACCOUNT, USDT) == balances[0]
    assert attached.accounts.read(ACCOUNT, "USD") == balances[1]
    assert attached.accounts.balances(ACCOUNT) == balances


def test_positions_preregistered_for_every_strategy_and_instrument(trader_id: str) -> None:
    s2 = StrategyId("MM-002")
    with ShmTables.create(
        trader_id,
        "pre",
        instruments=[(BTC, 2, 3), (ETH, 2, 4)],
        strategies=[STRAT, s2],
        bar_types=[BAR_1S],
        accounts=[(ACCOUNT, USDT)],
    ) as t:
        assert t.positions.keys() == [(STRAT, BTC), (STRAT, ETH), (s2, BTC), (s2, ETH)]
        assert t.bars.row_of(BAR_1S) == 0
        assert t.accounts.row_of(ACCOUNT, USDT) == 0


def test_registration_by_an_attacher_is_seen_by_everyone(
    tables: ShmTables, attached: ShmTables
) -> None:
    sol = InstrumentId("SOLUSDT.SIM")
    row = attached.instruments.register(sol, 3, 1)
    assert row == 2
    assert tables.instruments.row_of(sol) == 2  # the owner maps it in on the miss
    assert tables.instruments.precisions(2) == (3, 1)
    assert tables.instruments.instrument_ids() == [BTC, ETH, sol]
    assert tables.instruments.register(sol, 3, 1) == 2  # idempotent
    with pytest.raises(ValueError, match=r"registered with precisions .* \(3, 1\), not \(2, 1\)"):
        tables.instruments.register(sol, 2, 1)
    assert len(attached.instruments) == 3


def test_write_checks_precision_against_registry(tables: ShmTables) -> None:
    bad = QuoteTick(BTC, Price(1, 3), Price(2, 3), Quantity(1, 3), Quantity(1, 3), 0, 0)
    with pytest.raises(ValueError, match="precisions do not match the registry"):
        tables.quotes.write(bad)
    with pytest.raises(KeyError, match="not in the shared-memory registry"):
        tables.quotes.write(QuoteTick(InstrumentId("X.SIM"), Price(1, 2), Price(2, 2),
                                      Quantity(1, 3), Quantity(1, 3), 0, 0))


def test_failed_write_leaves_the_row_as_it_was(tables: ShmTables, attached: ShmTables) -> None:
    tables.quotes.write_raw(0, 1, 8, 1, 1, 1, 1)
    with pytest.raises(struct.error):
        tables.quotes.write_raw(0, 2, 9, 1, 1, 1, -1)  # ts must be unsigned
    assert tables.quotes.rows.seq(0) == 2  # still even: never half-written
    assert attached.quotes.read_raw(0) == (1, 8, 1, 1, 1, 1)


def test_trade_id_too_long_is_refused(tables: ShmTables) -> None:
    trade = TradeTick(
        BTC, Price(1, 2), Quantity(1, 3), AggressorSide.BUYER, TradeId("T" * 48), 0, 0
    )
    with pytest.raises(ValueError, match=r"trade id 'T+' is 48 bytes in UTF-8; the field holds 47"):
        tables.trades.write(trade)


def test_age_from_ts_init(tables: ShmTables, attached: ShmTables) -> None:
    now = time.time_ns()
    tables.quotes.write(
        QuoteTick(BTC, Price(1, 2), Price(2, 2), Quantity(1, 3), Quantity(1, 3), now, now - 5_000)
    )
    assert attached.quotes.age_ns(BTC, now_ns=now) == 5_000
    assert attached.quotes.age_ns(BTC) >= 5_000  # type: ignore[operator]


def test_seq_advances_by_two_per_write(tables: ShmTables) -> None:
    for i in range(1, 4):
        tables.quotes.write_raw(1, i, i, 0, 0, 0, 0)
        assert tables.quotes.rows.seq(1) == 2 * i
    status = tables.quotes.status(1)
    assert (status.seq, status.writer_pid, status.writing, status.writer_alive) == (
        6,
        os.getpid(),
        False,
        True,
    )
