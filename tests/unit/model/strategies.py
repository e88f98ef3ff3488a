"""Hypothesis strategies for every bus message, derived from the msgspec schema.

Field strategies come from `msgspec.inspect`; value types with rules (ids,
prices, validated messages) have hand-written strategies, so every generated
message is valid by construction.
"""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from livenode.model import (
    AccountBalance,
    AccountId,
    Bar,
    BarSpecification,
    Currency,
    CurrencyPair,
    Identifier,
    InstrumentId,
    Money,
    OrderFilled,
    OrderInitialized,
    OrderType,
    PerpetualContract,
    Price,
    Quantity,
    TimeInForce,
    TraderId,
    Venue,
)
from livenode.model.fixed_point import MAX_PRECISION, RAW_MAX

_token = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="_"),
    min_size=1,
    max_size=10,
)
precisions = st.integers(0, MAX_PRECISION)
currencies = st.builds(
    Currency, st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=5), precisions
)
prices = st.builds(Price, st.integers(-RAW_MAX, RAW_MAX), precisions)
quantities = st.builds(Quantity, st.integers(0, RAW_MAX), precisions)
positive_quantities = st.builds(Quantity, st.integers(1, RAW_MAX), precisions)
money = st.builds(Money, st.integers(-RAW_MAX, RAW_MAX), precisions, currencies)


def identifiers(cls: type[Identifier]) -> st.SearchStrategy[Identifier]:
    """Valid values of an identifier type."""
    if cls is TraderId or cls is AccountId:
        return st.builds(lambda a, b: cls(f"{a}-{b}"), _token, _token)
    if cls is InstrumentId:
        return st.builds(lambda a, b: cls(f"{a}.{b}"), _token, _token)
    if cls is Venue:
        return _token.map(cls)
    # Letters, digits, punctuation and symbols: printable and never whitespace.
    return st.text(
        alphabet=st.characters(whitelist_categories=("L", "N", "P", "S")), min_size=1, max_size=16
    ).map(cls)


@st.composite
def account_balances(draw: st.DrawFn) -> AccountBalance:
    currency = draw(currencies)
    p = currency.precision
    locked = draw(st.integers(-(2**60), 2**60))
    free = draw(st.integers(-(2**60), 2**60))
    return AccountBalance(
        Money(locked + free, p, currency), Money(locked, p, currency), Money(free, p, currency)
    )


@st.composite
def bar_values(draw: st.DrawFn) -> dict[str, Price]:
    p = draw(st.integers(0, 8))
    values = sorted(draw(st.lists(st.integers(-(10**15), 10**15), min_size=4, max_size=4)))
    low, a, b, high = values
    open_, close = (a, b) if draw(st.booleans()) else (b, a)
    return dict(open=Price(open_, p), high=Price(high, p), low=Price(low, p), close=Price(close, p))


def _struct(cls: type[msgspec.Struct], **fixed: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields = {f.name: fixed[f.name] if f.name in fixed else _from_type(f.type) for f in info.fields}
    return st.builds(cls, **fields)


def _from_type(t: mi.Type) -> st.SearchStrategy[Any]:
    if isinstance(t, mi.IntType):
        return st.integers(-(2**63), 2**64 - 1)
    if isinstance(t, mi.FloatType):
        return st.floats(allow_nan=False)
    if isinstance(t, mi.StrType):
        return st.text(max_size=20)
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.EnumType):
        return st.sampled_from(list(t.cls))
    if isinstance(t, mi.UnionType):
        return st.one_of(*[_from_type(x) for x in t.types])
    if isinstance(t, mi.ListType):
        return st.lists(_from_type(t.item_type), max_size=3)
    if isinstance(t, mi.VarTupleType):
        return st.lists(_from_type(t.item_type), max_size=3).map(tuple)
    if isinstance(t, mi.StructType):
        return for_type(t.cls)
    raise NotImplementedError(t)


@st.composite
def _order_initialized(draw: st.DrawFn) -> OrderInitialized:
    order_type = draw(st.sampled_from(list(OrderType)))
    tif = draw(st.sampled_from(list(TimeInForce)))
    has_price = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    has_trigger = order_type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
    expire = st.integers(0, 2**63 - 1)
    return draw(
        _struct(
            OrderInitialized,
            order_type=st.just(order_type),
            quantity=positive_quantities,
            price=prices if has_price else st.none(),
            trigger_price=prices if has_trigger else st.none(),
            time_in_force=st.just(tif),
            expire_time_ns=expire if tif is TimeInForce.GTD else st.none() | expire,
            post_only=st.booleans() if order_type is OrderType.LIMIT else st.just(False),
        )
    )


@st.composite
def _bar(draw: st.DrawFn) -> Bar:
    return Bar(
        bar_type=draw(for_type(mi.type_info(Bar).fields[0].type.cls)),  # type: ignore[attr-defined]
        volume=draw(quantities),
        ts_event=draw(st.integers(0, 2**63 - 1)),
        ts_init=draw(st.integers(0, 2**63 - 1)),
        **draw(bar_values()),
    )


@st.composite
def _instrument(draw: st.DrawFn, cls: type[CurrencyPair | PerpetualContract]) -> Any:
    pp = draw(st.integers(0, 9))
    sp = draw(st.integers(0, 9))
    base = draw(
        _struct(
            cls,
            price_precision=st.just(pp),
            size_precision=st.just(sp),
            price_increment=st.builds(Price, st.integers(1, 10**6), st.just(pp)),
            size_increment=st.builds(Quantity, st.integers(1, 10**6), st.just(sp)),
            multiplier=positive_quantities,
            maker_fee=st.decimals(
                allow_nan=False, allow_infinity=False, places=6, min_value=-1, max_value=1
            ).map(str),
            taker_fee=st.decimals(
                allow_nan=False, allow_infinity=False, places=6, min_value=-1, max_value=1
            ).map(str),
        )
    )
    return base


_CACHE: dict[type, st.SearchStrategy[Any]] = {}


def for_type(cls: type) -> st.SearchStrategy[Any]:
    """A strategy of valid instances of any model struct type."""
    if cls in _CACHE:
        return _CACHE[cls]
    # Built lazily: these reach back into for_type for their nested fields.
    special: dict[type, Any] = {
        Price: lambda: prices,
        Quantity: lambda: quantities,
        Money: lambda: money,
        Currency: lambda: currencies,
        AccountBalance: account_balances,
        BarSpecification: lambda: _struct(BarSpecification, step=st.integers(1, 2**62)),
        OrderInitialized: _order_initialized,
        OrderFilled: lambda: _struct(OrderFilled, last_qty=positive_quantities),
        Bar: _bar,
        CurrencyPair: lambda: _instrument(CurrencyPair),
        PerpetualContract: lambda: _instrument(PerpetualContract),
    }
    strategy: st.SearchStrategy[Any]
    if cls in special:
        strategy = st.deferred(special[cls])
    elif issubclass(cls, Identifier):
        strategy = identifiers(cls)
    else:
        strategy = st.deferred(lambda: _struct(cls))
    _CACHE[cls] = strategy
    return strategy
