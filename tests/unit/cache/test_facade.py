"""CacheFacade: every query of the cache, none of its mutators, no internal collections."""

from __future__ import annotations

import inspect

import pytest

from livenode.cache.cache import Cache
from livenode.cache.facade import CacheFacade
from livenode.model.enums import PriceType
from livenode.model.identifiers import Venue
from livenode.model.orders import Order

from .helpers import BTCUSDT_SIM, EMA, accepted, apply, order_init, pair, quote, submitted

MUTATOR_PREFIXES = ("add_", "update_", "reset", "purge", "clear", "remove", "delete", "attach_")


def _public_methods(cls: type) -> set[str]:
    return {n for n, v in inspect.getmembers(cls, callable) if not n.startswith("_")}


def test_facade_has_every_query_and_no_mutator() -> None:
    queries = {n for n in _public_methods(Cache) if not n.startswith(MUTATOR_PREFIXES)}
    facade_methods = _public_methods(CacheFacade)
    assert queries <= facade_methods, queries - facade_methods
    assert not [n for n in facade_methods if n.startswith(MUTATOR_PREFIXES)]


def test_facade_signatures_match_cache() -> None:
    for name in _public_methods(CacheFacade):
        assert inspect.signature(getattr(CacheFacade, name)) == inspect.signature(
            getattr(Cache, name)
        ), name


def test_facade_reads_through_to_the_live_cache() -> None:
    cache = Cache()
    facade = CacheFacade(cache)
    assert facade.instrument(BTCUSDT_SIM) is None
    inst = pair()
    cache.add_instrument(inst)
    cache.add_quote_tick(quote("10.00", "10.02"))
    init = order_init()
    order = Order(init)
    cache.add_order(order)
    apply(order, submitted(init), accepted(init))
    cache.update_order(order)
    assert facade.instrument(BTCUSDT_SIM) is inst
    assert facade.instruments(Venue("SIM")) == [inst]
    assert facade.price(BTCUSDT_SIM, PriceType.MID) == cache.price(BTCUSDT_SIM, PriceType.MID)
    assert facade.orders_open(strategy_id=EMA) == [order]
    assert facade.orders_open_count() == 1
    assert facade.order(init.client_order_id) is order


def test_facade_hands_out_copies_and_hides_the_cache() -> None:
    cache = Cache()
    facade = CacheFacade(cache)
    cache.add_instrument(pair())
    init = order_init()
    cache.add_order(Order(init))
    facade.orders().clear()
    facade.instruments().clear()
    facade.instrument_ids().clear()
    assert cache.orders_total_count() == 1 and len(cache.instruments()) == 1
    for attr in ("cache", "_cache"):
        assert not hasattr(facade, attr)
    with pytest.raises(AttributeError):
        facade.add_order = cache.add_order  # type: ignore[attr-defined]
    assert "CacheFacade" in repr(facade)
