"""Cache: instruments, latest market data, prices."""

from __future__ import annotations

import pytest

from livenode.cache.cache import Cache
from livenode.model.enums import PriceType
from livenode.model.identifiers import InstrumentId, Venue
from livenode.model.objects import Price

from .helpers import (
    BTCPERP_OTHER,
    BTCUSDT_SIM,
    ETHUSDT_SIM,
    bar,
    bar_type,
    pair,
    perp,
    quote,
    trade,
)


def test_instruments_by_id_and_venue() -> None:
    cache = Cache()
    btc, eth, other = pair(BTCUSDT_SIM), pair(ETHUSDT_SIM), perp(BTCPERP_OTHER)
    for inst in (btc, eth, other):
        cache.add_instrument(inst)
    assert cache.instrument(BTCUSDT_SIM) is btc
    assert cache.instrument(InstrumentId.from_str("XRPUSDT.SIM")) is None
    assert cache.instruments() == [btc, eth, other]
    assert cache.instruments(Venue("SIM")) == [btc, eth]
    assert cache.instruments(Venue("NOPE")) == []
    assert cache.instrument_ids() == [BTCUSDT_SIM, ETHUSDT_SIM, BTCPERP_OTHER]
    assert cache.instrument_ids(Venue("OTHER")) == [BTCPERP_OTHER]


def test_instrument_update_replaces_in_place() -> None:
    cache = Cache()
    cache.add_instrument(pair(BTCUSDT_SIM, ts=1))
    cache.add_instrument(pair(ETHUSDT_SIM))
    newer = pair(BTCUSDT_SIM, ts=2)
    cache.add_instrument(newer)
    assert cache.instrument(BTCUSDT_SIM) is newer
    assert cache.instrument_ids() == [BTCUSDT_SIM, ETHUSDT_SIM]


def test_latest_quote_trade_bar() -> None:
    cache = Cache()
    assert cache.quote_tick(BTCUSDT_SIM) is None
    assert cache.trade_tick(BTCUSDT_SIM) is None
    assert cache.bar(bar_type()) is None
    q1, q2 = quote("100.00", "100.10", ts=1), quote("101.00", "101.10", ts=2)
    cache.add_quote_tick(q1)
    cache.add_quote_tick(q2)
    cache.add_quote_tick(quote("5.00", "5.01", ETHUSDT_SIM))
    assert cache.quote_tick(BTCUSDT_SIM) is q2
    t = trade("100.05")
    cache.add_trade_tick(t)
    assert cache.trade_tick(BTCUSDT_SIM) is t
    one_sec, five_sec = bar_type(step=1), bar_type(step=5)
    b1, b5 = bar("100.00", one_sec), bar("99.00", five_sec)
    cache.add_bar(b1)
    cache.add_bar(b5)
    assert cache.bar(one_sec) is b1
    assert cache.bar(five_sec) is b5


@pytest.mark.parametrize(
    ("price_type", "expected"),
    [
        (PriceType.BID, "100.00"),
        (PriceType.ASK, "100.11"),
        (PriceType.MID, "100.055"),
        (PriceType.LAST, "99.99"),
    ],
)
def test_price_by_type(price_type: PriceType, expected: str) -> None:
    cache = Cache()
    cache.add_quote_tick(quote("100.00", "100.11"))
    cache.add_trade_tick(trade("99.99"))
    price = cache.price(BTCUSDT_SIM, price_type)
    assert isinstance(price, Price)
    assert price == Price.from_str(expected)


def test_mid_is_exact() -> None:
    cache = Cache()
    cache.add_quote_tick(quote("100.00", "100.02"))
    assert cache.price(BTCUSDT_SIM, PriceType.MID) == Price.from_str("100.01")


def test_price_missing_source_is_none() -> None:
    cache = Cache()
    for pt in PriceType:
        assert cache.price(BTCUSDT_SIM, pt) is None
    cache.add_quote_tick(quote("1.00", "2.00"))
    assert cache.price(BTCUSDT_SIM, PriceType.LAST) is None
    cache2 = Cache()
    cache2.add_trade_tick(trade("3.00"))
    assert cache2.price(BTCUSDT_SIM, PriceType.MID) is None
    assert cache2.price(BTCUSDT_SIM, PriceType.LAST) == Price.from_str("3.00")


def test_instrument_results_are_copies() -> None:
    cache = Cache()
    cache.add_instrument(pair())
    cache.instruments().clear()
    cache.instrument_ids().clear()
    assert len(cache.instruments()) == 1 and len(cache.instrument_ids()) == 1


def test_bad_config_bound() -> None:
    class Cfg:
        max_closed_orders = -1

    with pytest.raises(ValueError, match="max_closed_orders"):
        Cache(Cfg())
