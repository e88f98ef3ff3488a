"""Cache orders: indexes by strategy / instrument / venue / side, status sets, the bound."""

from __future__ import annotations

import pytest

from livenode.cache.cache import Cache
from livenode.core.errors import DuplicateCacheEntryError
from livenode.model.enums import OrderSide, OrderStatus
from livenode.model.identifiers import ClientOrderId, InstrumentId, StrategyId, Venue, VenueOrderId
from livenode.model.orders import Order

from .helpers import (
    BTCPERP_OTHER,
    BTCUSDT_SIM,
    EMA,
    ETHUSDT_SIM,
    MM,
    accepted,
    apply,
    canceled,
    denied,
    filled,
    order_init,
    pending_cancel,
    rejected,
    submitted,
)

SIM, OTHER = Venue("SIM"), Venue("OTHER")


class Cfg:
    def __init__(self, max_closed_orders: int) -> None:
        self.max_closed_orders = max_closed_orders


def new_order(**kwargs: object) -> Order:
    return Order(order_init(**kwargs))  # type: ignore[arg-type]


def cids(orders: list[Order]) -> list[str]:
    return [o.client_order_id.value for o in orders]


def test_add_and_get() -> None:
    cache = Cache()
    order = new_order(cid="O-A")
    cache.add_order(order)
    assert cache.order(ClientOrderId("O-A")) is order
    assert cache.order(ClientOrderId("O-NOPE")) is None
    assert cache.order_exists(ClientOrderId("O-A"))
    assert cache.orders() == [order]
    assert cache.orders_total_count() == 1
    # INITIALIZED: neither open, nor closed, nor in flight
    assert cache.orders_open() == [] and cache.orders_closed() == []
    assert cache.orders_inflight() == []


def test_duplicate_client_order_id_is_refused() -> None:
    cache = Cache()
    init = order_init(cid="O-DUP")
    first = Order(init)
    cache.add_order(first)
    with pytest.raises(DuplicateCacheEntryError, match="O-DUP"):
        cache.add_order(Order(init))
    with pytest.raises(ValueError):
        cache.add_order(first)
    assert cache.order(init.client_order_id) is first
    assert cache.orders_total_count() == 1


def test_status_indexes_follow_the_order_lifecycle() -> None:
    cache = Cache()
    init = order_init(cid="O-1")
    order = Order(init)
    cache.add_order(order)

    def where() -> tuple[bool, bool, bool]:
        # Active is exactly "not closed" at every step of the lifecycle.
        assert (order in cache.orders_active()) is not (order in cache.orders_closed())
        return (
            order in cache.orders_inflight(),
            order in cache.orders_open(),
            order in cache.orders_closed(),
        )

    assert where() == (False, False, False)
    assert cache.orders_active() == [order]  # initialized: not yet sent, still live

    apply(order, submitted(init))
    cache.update_order(order)
    assert order.status is OrderStatus.SUBMITTED
    assert where() == (True, False, False)
    assert cache.orders_inflight_count() == 1

    apply(order, accepted(init))
    cache.update_order(order)
    assert where() == (False, True, False)
    assert cache.orders_open_count() == 1
    assert cache.client_order_id(VenueOrderId("V-O-1")) == init.client_order_id

    apply(order, pending_cancel(init))
    cache.update_order(order)
    assert order.is_inflight and order.is_open  # pending cancel: still working, awaiting an answer
    assert where() == (True, True, False)

    apply(order, canceled(init))
    cache.update_order(order)
    assert where() == (False, False, True)
    assert cache.orders_open_count() == 0
    assert cache.orders_closed_count() == 1
    assert cache.orders() == [order]


def test_partial_then_full_fill() -> None:
    cache = Cache()
    init = order_init(qty="2.000")
    order = Order(init)
    cache.add_order(order)
    apply(order, submitted(init), accepted(init), filled(init, "0.500"))
    cache.update_order(order)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert cache.orders_open() == [order]
    apply(order, filled(init, "1.500"))
    cache.update_order(order)
    assert order.status is OrderStatus.FILLED
    assert cache.orders_open() == [] and cache.orders_closed() == [order]


@pytest.mark.parametrize("terminal", ["denied", "rejected"])
def test_orders_closed_without_opening(terminal: str) -> None:
    cache = Cache()
    init = order_init()
    order = Order(init)
    cache.add_order(order)
    if terminal == "denied":
        apply(order, denied(init))
    else:
        apply(order, submitted(init), rejected(init))
    cache.update_order(order)
    assert cache.orders_closed() == [order]
    assert cache.orders_inflight() == [] and cache.orders_open() == []


def _populate(cache: Cache) -> dict[str, Order]:
    """Six orders over two strategies, three instruments, two venues, both sides."""
    specs = {
        "A": dict(instrument_id=BTCUSDT_SIM, strategy_id=EMA, side=OrderSide.BUY),
        "B": dict(instrument_id=ETHUSDT_SIM, strategy_id=EMA, side=OrderSide.SELL),
        "C": dict(instrument_id=BTCUSDT_SIM, strategy_id=MM, side=OrderSide.SELL),
        "D": dict(instrument_id=BTCPERP_OTHER, strategy_id=MM, side=OrderSide.BUY, price="100.0"),
        "E": dict(instrument_id=BTCUSDT_SIM, strategy_id=EMA, side=OrderSide.SELL),
        "F": dict(instrument_id=BTCPERP_OTHER, strategy_id=EMA, side=OrderSide.SELL, price="100.0"),
    }
    orders = {}
    for cid, spec in specs.items():
        init = order_init(cid=cid, **spec)  # type: ignore[arg-type]
        order = Order(init)
        cache.add_order(order)
        orders[cid] = order
        if cid in "ABCD":  # open
            apply(order, submitted(init), accepted(init))
        elif cid == "E":  # closed
            apply(order, submitted(init), accepted(init), filled(init))
        else:  # in flight
            apply(order, submitted(init))
        cache.update_order(order)
    return orders


@pytest.mark.parametrize(
    ("filters", "all_", "open_", "closed", "inflight"),
    [
        ({}, "ABCDEF", "ABCD", "E", "F"),
        ({"strategy_id": EMA}, "ABEF", "AB", "E", "F"),
        ({"strategy_id": MM}, "CD", "CD", "", ""),
        ({"instrument_id": BTCUSDT_SIM}, "ACE", "AC", "E", ""),
        ({"venue": SIM}, "ABCE", "ABC", "E", ""),
        ({"venue": OTHER}, "DF", "D", "", "F"),
        ({"side": OrderSide.SELL}, "BCEF", "BC", "E", "F"),
        ({"venue": SIM, "strategy_id": EMA, "side": OrderSide.SELL}, "BE", "B", "E", ""),
        ({"instrument_id": BTCUSDT_SIM, "strategy_id": MM}, "C", "C", "", ""),
        ({"instrument_id": BTCUSDT_SIM, "venue": OTHER}, "", "", "", ""),
        ({"strategy_id": StrategyId("Unknown-001")}, "", "", "", ""),
        ({"instrument_id": InstrumentId.from_str("XRP.SIM")}, "", "", "", ""),
        ({"venue": Venue("NOWHERE")}, "", "", "", ""),
    ],
)
def test_order_queries(
    filters: dict[str, object], all_: str, open_: str, closed: str, inflight: str
) -> None:
    cache = Cache()
    _populate(cache)
    assert cids(cache.orders(**filters)) == list(all_)  # type: ignore[arg-type]
    assert cids(cache.orders_open(**filters)) == list(open_)  # type: ignore[arg-type]
    assert cids(cache.orders_closed(**filters)) == list(closed)  # type: ignore[arg-type]
    assert cids(cache.orders_inflight(**filters)) == list(inflight)  # type: ignore[arg-type]
    # Active: every order not closed (open, in flight, or not yet submitted).
    active = [c for c in all_ if c not in closed]
    assert cids(cache.orders_active(**filters)) == active  # type: ignore[arg-type]
    if "venue" not in filters and "side" not in filters:
        assert cache.has_active_orders(**filters) is bool(active)  # type: ignore[arg-type]
    assert cache.orders_open_count(**filters) == len(open_)  # type: ignore[arg-type]


def test_query_order_is_insertion_order_not_status_order() -> None:
    cache = Cache()
    inits = [order_init(cid=c) for c in ("X1", "X2", "X3")]
    orders = [Order(i) for i in inits]
    for o in orders:
        cache.add_order(o)
    for i in (2, 0, 1):  # become open in a different order than added
        apply(orders[i], submitted(inits[i]), accepted(inits[i]))
        cache.update_order(orders[i])
    assert cids(cache.orders_open()) == ["X1", "X2", "X3"]


def test_results_are_fresh_lists() -> None:
    cache = Cache()
    _populate(cache)
    cache.orders().clear()
    cache.orders_open(strategy_id=EMA).clear()
    assert cache.orders_total_count() == 6
    assert len(cache.orders_open(strategy_id=EMA)) == 2


def test_update_unknown_order_adds_it() -> None:
    cache = Cache()
    init = order_init()
    order = Order(init)
    apply(order, submitted(init), accepted(init))
    cache.update_order(order)  # e.g. an order recovered by reconciliation
    assert cache.orders_open() == [order]
    assert cache.orders(strategy_id=EMA) == [order]


def test_closed_orders_are_bounded_oldest_first() -> None:
    cache = Cache(Cfg(max_closed_orders=2))
    orders = []
    for cid in ("C1", "C2", "C3", "C4"):
        init = order_init(cid=cid)
        order = Order(init)
        cache.add_order(order)
        apply(order, submitted(init), accepted(init))
        cache.update_order(order)
        orders.append((init, order))
    # Close them in the order C3, C1, C4, C2: the bound purges by closing time.
    for idx in (2, 0, 3):
        init, order = orders[idx]
        apply(order, canceled(init))
        cache.update_order(order)
    assert cids(cache.orders_closed()) == ["C1", "C4"]
    assert cache.order(ClientOrderId("C3")) is None
    assert cache.purged_orders == 1
    init, order = orders[1]
    apply(order, filled(init))
    cache.update_order(order)
    assert cids(cache.orders_closed()) == ["C2", "C4"]
    assert cids(cache.orders()) == ["C2", "C4"]
    assert cache.purged_orders == 2
    # The purged orders left no trace in any index.
    assert cache.orders(strategy_id=EMA) == cache.orders()
    assert cache.orders(instrument_id=BTCUSDT_SIM) == cache.orders()
    assert cache.orders(venue=SIM) == cache.orders()
    assert cache.client_order_id(VenueOrderId("V-C3")) is None
    assert cache.client_order_id(VenueOrderId("V-C4")) == ClientOrderId("C4")


def test_zero_bound_keeps_no_closed_orders() -> None:
    cache = Cache(Cfg(max_closed_orders=0))
    init = order_init()
    order = Order(init)
    cache.add_order(order)
    apply(order, denied(init))
    cache.update_order(order)
    assert cache.orders_total_count() == 0
    assert cache.orders(strategy_id=EMA) == []


def test_reset_clears_everything() -> None:
    cache = Cache(Cfg(max_closed_orders=5))
    _populate(cache)
    cache.reset()
    assert cache.orders() == [] and cache.orders_open_count() == 0
    assert cache.max_closed_orders == 5
